"""Two annotators' labels of the register's restated pairs: their agreement, what is left to
adjudicate, and the set with the adjudicated labels.

    python -m ml.data.restated_agreement A.jsonl B.jsonl --candidates C.jsonl \\
        --out adjudication.jsonl
    python -m ml.data.restated_agreement A.jsonl B.jsonl --resolved R.jsonl \\
        --write ml/data/register/restated.jsonl

A labels file holds ``{"id", "relation"}`` a line, ``relation`` ``same`` or ``different``
(anything else, ``unsure`` say, counts as a disagreement). The candidates file is the one the
annotators labelled (``{"id", "group", "first", "second"}``, ml/data/README.md). The
adjudication list gives each disagreement with the two labels in random order and not who gave
which, so that its reader decides blind, as the earlier collections were adjudicated. A
resolved file holds ``{"id", "relation"}`` for each disagreement, ``same``, ``different`` or
``drop`` (a toss-up); ``--write`` then rewrites the set: agreed labels kept, disagreements
resolved, toss-ups removed, each pair's ``kind`` recomputed from its relation.
"""

from __future__ import annotations

import argparse
import difflib
import json
import random
from pathlib import Path

from ml.jsonl import records

RELATIONS = ("same", "different")


class AgreementError(ValueError):
    """A labels file that cannot be used: unreadable, or ids the two files do not share."""


def labels(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for where, row in records(path, AgreementError):
        if not isinstance(row, dict) or not isinstance(row.get("id"), str):
            raise AgreementError(f"{where}: expected {{\"id\", \"relation\"}}")
        if row["id"] in found:
            raise AgreementError(f"{where}: {row['id']} labelled twice")
        found[row["id"]] = str(row.get("relation"))
    return found


def kappa(first: list[str], second: list[str]) -> float:
    """Cohen's kappa of two label lists (1.0 when both give one label throughout)."""
    n = len(first)
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    expected = sum((first.count(value) / n) * (second.count(value) / n)
                   for value in set(first) | set(second))
    return 1.0 if expected == 1 else (observed - expected) / (1 - expected)


def agreement(a: dict[str, str], b: dict[str, str]) -> dict:
    if set(a) != set(b):
        missing = sorted(set(a) ^ set(b))
        raise AgreementError(f"the two files label different pairs: {missing[:5]} …")
    ids = sorted(a)
    first, second = [a[i] for i in ids], [b[i] for i in ids]
    agreed = sum(x == y for x, y in zip(first, second, strict=True))
    return {"pairs": len(ids), "agreed": agreed, "agreement": round(agreed / len(ids), 3),
            "kappa": round(kappa(first, second), 3),
            "disagreements": [i for i in ids if a[i] != b[i] or a[i] not in RELATIONS]}


def adjudication(a: dict[str, str], b: dict[str, str], disagreements: list[str],
                 candidates: dict[str, dict], seed: int = 51) -> list[dict]:
    """Each disagreement with its two labels shuffled, without the annotators' names."""
    rng = random.Random(seed)
    rows = []
    for pair in disagreements:
        shown = [a[pair], b[pair]]
        rng.shuffle(shown)
        rows.append({**candidates.get(pair, {"id": pair}), "labels": shown})
    return rows


def kind(pair: dict) -> str:
    """A pair's kind from its relation: a restatement nearly word for word, or in other
    words; a different risk of the same category, or of another."""
    if pair["relation"] == "same":
        ratio = difflib.SequenceMatcher(None, pair["a"].lower(), pair["b"].lower()).ratio()
        return "near-verbatim" if ratio >= 0.8 else "restated"
    return "other-risk" if pair["category_a"] == pair["category_b"] else "other-category"


def merged(pairs: list[dict], a: dict[str, str], b: dict[str, str],
           resolved: dict[str, str]) -> list[dict]:
    out = []
    for pair in pairs:
        label = a[pair["id"]] if a[pair["id"]] == b[pair["id"]] else resolved.get(pair["id"])
        if label is None:
            raise AgreementError(f"{pair['id']}: the annotators disagree and it is not resolved")
        if label == "drop":
            continue
        if label not in RELATIONS:
            raise AgreementError(f"{pair['id']}: relation {label!r}, expected same or different")
        pair = {**pair, "relation": label}
        out.append({**pair, "kind": kind(pair)})
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first", type=Path, help="annotator A's labels")
    parser.add_argument("second", type=Path, help="annotator B's labels")
    parser.add_argument("--candidates", type=Path, default=None,
                        help="the pairs as the annotators saw them, to show in the list")
    parser.add_argument("--out", type=Path, default=None, help="write the adjudication list")
    parser.add_argument("--resolved", type=Path, default=None,
                        help="the adjudicated relation of each disagreement")
    parser.add_argument("--write", type=Path, default=None,
                        help="rewrite this set (restated.jsonl) with the merged labels")
    args = parser.parse_args(argv)
    a, b = labels(args.first), labels(args.second)
    report = agreement(a, b)
    if args.out is not None:
        candidates = ({row["id"]: row for _, row in records(args.candidates, AgreementError)}
                      if args.candidates is not None else {})
        rows = adjudication(a, b, report["disagreements"], candidates)
        args.out.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows),
                            encoding="utf-8")
    if args.write is not None:
        resolved = labels(args.resolved) if args.resolved is not None else {}
        pairs = [pair for _, pair in records(args.write, AgreementError)]
        rows = merged(pairs, a, b, resolved)
        args.write.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows),
                              encoding="utf-8")
        report["written"] = len(rows)
    report["disagreements"] = len(report["disagreements"])
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
