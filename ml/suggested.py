"""The register's suggested restatements on real restatements: ``python -m ml.suggested``.

A new entry is offered at most ``MOST`` existing entries it may restate, of any category,
best first, each scoring at least ``floor`` (service/projects/register/suggestions.py).
Measured on ``ml/data/register/restated.jsonl`` (real risk sentences of consecutive reports
of 35 projects), each project replayed as its register would hold it: for each later
statement, the entries are the project's statements dated before it, those a ``same`` pair
joins being one entry (its threads, ml/restated.py).

An entry's score is how alike it is (the cosine of its closest wording, as the matcher
compares) plus ``same`` when its category is the new entry's, plus ``recent`` when it was
stated in the project's report just before the new entry's: a project's next report mostly
restates its last one, and the model's category, though wrong at times, is right more often
than not. Both weights are chosen on ``dev`` with the floor:

- ``recall@3``: of the statements that restate an earlier one, the share whose earlier
  entry is among the top three at or above the floor: what the PM is offered;
- ``offered to new risks``: the mean number of suggestions (0–3) a statement that restates
  nothing earlier is offered: the clicks a wrong suggestion costs.

For each pair of weights the floor is the highest whose dev recall@3 reaches ``--recall``,
as the issue asks (a missed suggestion costs a duplicate, a wrong one a click). The weights
kept are those that offer dev's new risks least, the smallest weights among those within
``TIE`` of it (dev's 71 new risks: 0.05 is about three clicks). ``test`` is measured at the
weights and floor chosen; the plain cosine's figures are printed beside it.

``--recall`` is 0.9, the target of 0.8 with room: choosing two weights and a floor on dev's
49 restatements fits dev more than a floor alone does. ``--folds 5`` measures the whole
choice on projects it did not see (every project held out once, its weights and floor chosen
on the others): at 0.85 held-out recall@3 fell to 0.67–0.81 over three shuffles, at 0.9 it
held at 0.83–0.87 (docs/experiments/2026-12-01-suggestions-ranked-by-report-and-category.md).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from collections import defaultdict
from pathlib import Path

import numpy as np

from ml.jsonl import records
from ml.restated import RESTATED, statement, threads
from service.analysis.embedding import SentenceEncoder

MOST = 3
FLOORS = [round(f, 2) for f in np.arange(0.0, 1.31, 0.01)]
SAME = (0.0, 0.05, 0.1, 0.2)
RECENT = (0.0, 0.05, 0.1, 0.2)
TIE = 0.05


def cases(pairs: list[dict], vectors: dict[str, np.ndarray]) -> list[dict]:
    """Per statement of a project that has earlier ones: each earlier entry's (alike: its
    closest wording's cosine, same: 1 when a wording's category is the statement's, recent:
    1 when a wording is of the project's report just before), and which entry it restates
    (None: a new risk)."""
    members = threads(pairs)
    by_group: dict[str, set[tuple]] = defaultdict(set)
    category: dict[tuple, str] = {}
    for pair in pairs:
        for side in ("a", "b"):
            by_group[pair["group"]].add(statement(pair, side))
            category[statement(pair, side)] = pair[f"category_{side}"]
    found = []
    for statements in by_group.values():
        for later in statements:
            earlier = [s for s in statements if s[2] < later[2]]
            if not earlier:
                continue
            last = max(s[2] for s in earlier)
            entries: dict[frozenset, tuple[float, float, float]] = {}
            for wording in earlier:
                entry = frozenset(s for s in members[wording] if s[2] < later[2])
                here = (float(vectors[wording[0]] @ vectors[later[0]]),
                        float(category[wording] == category[later]), float(wording[2] == last))
                entries[entry] = tuple(np.maximum(entries.get(entry, (-1.0, 0.0, 0.0)), here))
            restated = next((entry for entry in entries if members[later] & entry), None)
            found.append({"entries": entries, "restated": restated})
    return found


def scored(found: list[dict], same: float, recent: float) -> list[dict]:
    """The cases with each entry's score at these weights."""
    return [{"scores": {entry: alike + same * is_same + recent * is_recent
                        for entry, (alike, is_same, is_recent) in case["entries"].items()},
             "restated": case["restated"]} for case in found]


def counted(found: list[dict], floor: float) -> tuple[int, int, int, int]:
    """(restatements whose entry is offered, restatements, suggestions to new risks, new
    risks) at ``floor``."""
    hits = restating = offered = new = 0
    for case in found:
        ranked = sorted(case["scores"].items(), key=lambda item: -item[1])
        top = [entry for entry, score in ranked[:MOST] if score >= floor]
        if case["restated"] is not None:
            restating += 1
            hits += case["restated"] in top
        else:
            new += 1
            offered += len(top)
    return hits, restating, offered, new


def shares(hits: int, restating: int, offered: int, new: int) -> dict:
    return {"recall@3": round(hits / max(restating, 1), 3), "restatements": restating,
            "offered to new risks": round(offered / max(new, 1), 2), "new risks": new}


def measure(found: list[dict], floor: float) -> dict:
    return {"floor": floor, **shares(*counted(found, floor))}


def floor_for(found: list[dict], recall: float) -> float:
    """The highest floor whose recall@3 reaches ``recall`` (no floor, -1, if none does)."""
    return max((f for f in FLOORS if measure(found, f)["recall@3"] >= recall), default=-1.0)


def choose(found: list[dict], recall: float) -> dict:
    """The weights and floor that offer ``found``'s new risks least at ``recall``: among
    those within ``TIE`` of the least, the smallest weights (the plain cosine first)."""
    options = []
    for same, recent in itertools.product(SAME, RECENT):
        weighed = scored(found, same, recent)
        floor = floor_for(weighed, recall)
        options.append({"same": same, "recent": recent, "floor": floor,
                        **measure(weighed, floor)})
    least = min(option["offered to new risks"] for option in options)
    return min((o for o in options if o["offered to new risks"] <= least + TIE),
               key=lambda o: (o["same"] + o["recent"], o["offered to new risks"]))


def cross_validated(pairs: list[dict], vectors: dict[str, np.ndarray], recall: float,
                    folds: int, seed: int) -> dict:
    """The choice measured on projects it did not see: the projects (every split) shuffled
    and dealt into ``folds``, each fold's weights and floor chosen on the others, its
    restatements and new risks counted at them; the cosine alone beside it, its floor
    chosen the same way."""
    groups = sorted({pair["group"] for pair in pairs})
    random.Random(seed).shuffle(groups)
    found = {group: cases([p for p in pairs if p["group"] == group], vectors)
             for group in groups}
    totals = {"weighed": np.zeros(4, dtype=int), "cosine alone": np.zeros(4, dtype=int)}
    for fold in range(folds):
        held = [case for group in groups[fold::folds] for case in found[group]]
        seen = [case for index, group in enumerate(groups) if index % folds != fold
                for case in found[group]]
        chosen = choose(seen, recall)
        plain = floor_for(scored(seen, 0.0, 0.0), recall)
        for name, (same, recent, floor) in (
                ("weighed", (chosen["same"], chosen["recent"], chosen["floor"])),
                ("cosine alone", (0.0, 0.0, plain))):
            totals[name] += counted(scored(held, same, recent), floor)
    return {name: shares(*(int(count) for count in total)) for name, total in totals.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.suggested",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=Path, default=RESTATED)
    parser.add_argument("--recall", type=float, default=0.9,
                        help="the dev recall@3 the floor must keep")
    parser.add_argument("--folds", type=int, default=0,
                        help="also measure the choice on held-out projects, in this many folds")
    parser.add_argument("--shuffles", type=int, default=3,
                        help="with --folds: how many ways to deal the projects")
    args = parser.parse_args(argv)
    pairs = [pair for _, pair in records(args.pairs, ValueError)]
    encoder = SentenceEncoder()
    texts = sorted({pair[side] for pair in pairs for side in ("a", "b")})
    vectors = dict(zip(texts, encoder.embed(texts), strict=True))
    splits = {name: cases([p for p in pairs if p["split"] == name], vectors)
              for name in ("dev", "test")}
    chosen = choose(splits["dev"], args.recall)
    same, recent, floor = chosen["same"], chosen["recent"], chosen["floor"]
    weighed = {name: scored(found, same, recent) for name, found in splits.items()}
    cosine = {name: scored(found, 0.0, 0.0) for name, found in splits.items()}
    plain = floor_for(cosine["dev"], args.recall)
    result = {"floor": floor, "same": same, "recent": recent, "most": MOST,
              "dev": {"no floor": measure(weighed["dev"], -1.0),
                      "at floor": measure(weighed["dev"], floor)},
              "test": {"no floor": measure(weighed["test"], -1.0),
                       "at floor": measure(weighed["test"], floor)},
              "cosine alone": {"floor": plain, "dev": measure(cosine["dev"], plain),
                               "test": measure(cosine["test"], plain)},
              "curve": {name: [measure(found, f) for f in FLOORS]
                        for name, found in weighed.items()}}
    if args.folds:
        result["cross-validated"] = [
            {"shuffle": seed, **cross_validated(pairs, vectors, args.recall, args.folds, seed)}
            for seed in range(1, args.shuffles + 1)]
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
