"""Candidate pairs for the register's pair model (issue #77), from real series of reports.

    python -m ml.pairs candidates --out ml/data/pairs/candidates.jsonl
    python -m ml.pairs sample [--labels-b N]    the ids a second annotator reads
    python -m ml.pairs agreement                Cohen's κ of the two annotators' labels

Why: a pair model learns which differences between two statements matter only from pairs a
register really meets, and ml/data/register/restated.jsonl (310) is too small to train on; it
stays the test. The corpus (ml/corpus.py) holds whole documents by writer group: ordered in
time, each later risk sentence meets its group's earlier risk sentences nearest in MiniLM's
embedding (the register's shortlist), so the candidates hold restatements and the different
risks next to them. They carry no label: annotators decide (labelling-guide.md, "Pairs").
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np

from ml.corpus import (
    CORPUS_DIR,
    RESERVED,
    CorpusDocument,
    CorpusError,
    cohen_kappa,
    final_labels,
    judged_sentences,
    read_documents,
    read_labels,
)
from ml.jsonl import records

DATA_DIR = Path(__file__).resolve().parent / "data"
PAIRS_DIR = DATA_DIR / "pairs"
CANDIDATES = PAIRS_DIR / "candidates.jsonl"
SECOND_READER = PAIRS_DIR / "second-reader-sample.txt"
RESTATED = DATA_DIR / "register" / "restated.jsonl"
TOP, FLOOR = 3, 0.30  # the earlier statements each later one meets, and the least cosine
# Cosine bands' lower edges: the sample draws from each alike. From 0.62 (the register's
# REGISTER_MATCH_THRESHOLD) today's rule joins a pair of one category.
BANDS = (0.30, 0.40, 0.50, 0.62)
SIZE, CAP, SEED = 2600, 80, 77
SHARES = {"train": 0.70, "dev": 0.15, "test": 0.15}
RELATIONS = ("same", "different")
FIRST_LINES, OPENING = 5, 2000  # a document's date is read in its title or these lines


class PairsError(ValueError):
    """The pairs cannot be made or read as asked; the message names what and where."""


# A document's date
_MONTH = (r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
          r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAY = r"(\d{1,2})(?:st|nd|rd|th)?"
_FULL = (  # (pattern, the order of its year, month and day groups)
    (re.compile(r"(?<![\d/.-])(\d{4})([-/.])(\d{2})\2(\d{2})(?![\d/.-]?\d)"), (0, 2, 3)),
    (re.compile(rf"(?<!\w){_DAY}\.?\s+{_MONTH}\.?,?\s+(\d{{4}})(?!\d)", re.IGNORECASE), (2, 1, 0)),
    (re.compile(rf"(?<!\w){_MONTH}\.?\s+{_DAY},?\s+(\d{{4}})(?!\d)", re.IGNORECASE), (2, 0, 1)),
)
_MONTH_YEAR = re.compile(rf"(?<!\w){_MONTH}\.?,?\s+(\d{{4}})(?!\d)", re.IGNORECASE)
_QUARTER = re.compile(r"(?<!\w)(?:(\d{4})[-\s]?Q([1-4])|Q([1-4])[-\s]?(\d{4}))(?!\w)",
                      re.IGNORECASE)
_IN_NAME = re.compile(r"(?<!\d)(\d{4})([-_.]?)(\d{2})\2(\d{2})(?!\d)")


def _day(year, month, day) -> date | None:
    month = int(month) if str(month).isdigit() else _MONTHS.index(month[:3].lower()) + 1
    try:
        found = date(int(year), month, int(day))
    except ValueError:
        return None
    return found if date(1970, 1, 1) <= found <= date(2099, 12, 31) else None


def _one(found: Iterable[date | None]) -> date | None:
    days = {day for day in found if day is not None}
    return days.pop() if len(days) == 1 else None  # two dates (a range) say none


def date_in_line(line: str) -> date | None:
    """The date a line states, if one: a day written so that it cannot be misread
    (``2024-03-05``, ``5 March 2024``, ``March 5, 2024``; never ``05/03/2024``), else a
    month (``March 2024``: its first day), else a quarter (``2024-Q2``: its first day)."""
    line = line[:OPENING]
    days = [_day(*(groups[i] for i in order)) for pattern, order in _FULL
            for groups in pattern.findall(line)]
    if days:
        return _one(days)
    months = [_day(year, month, 1) for month, year in _MONTH_YEAR.findall(line)]
    if months:
        return _one(months)
    return _one(_day(y1 or y2, 3 * int(q1 or q2) - 2, 1)
                for y1, q1, q2, y2 in _QUARTER.findall(line))


def document_date(title: str, text: str, origin: str = "") -> date | None:
    """The day a document speaks for: the one its title states, else the first of its first
    lines that states one, else its file name's (``2020-10-06-…``, ``20201006_minutes``);
    None when none does (it then keeps its place in its origin's order)."""
    lines = [line for line in text[:OPENING].splitlines() if line.strip()][:FIRST_LINES]
    for line in [title, *lines]:
        if (day := date_in_line(line)) is not None:
            return day
    name = re.split(r"[/:]", origin)[-1]
    return _one(_day(year, month, day) for year, _, month, day in _IN_NAME.findall(name))


def _natural(origin: str) -> tuple:
    """An origin's sort key, numbers read as numbers (``adr-9`` before ``adr-13``); the
    commit is left out, so two commits of one repository keep their paths' order."""
    where = re.sub(r"@[0-9a-f]{7,40}:", ":", origin.lower())
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part)
                 for part in re.split(r"(\d+)", where))


def in_time(documents: Sequence[CorpusDocument]) -> list[tuple[CorpusDocument, date | None]]:
    """A group's documents, earliest first: in their origins' order, with the dated ones
    sorted by date among the places dated documents hold, so an undated document keeps its
    place and its neighbours' order."""
    placed = sorted(documents, key=lambda document: _natural(document.origin))
    dates = [document_date(document.title, document.text, document.origin)
             for document in placed]
    dated = sorted((day, place) for place, day in enumerate(dates) if day is not None)
    slots = iter(place for place, day in enumerate(dates) if day is not None)
    order = {next(slots): place for _, place in dated}
    return [(placed[order.get(place, place)], dates[order.get(place, place)])
            for place in range(len(placed))]


# The statements and their candidates
@dataclass(frozen=True)
class Statement:
    """A risk sentence of a document: the document's place in its group's time, its index
    among the sentences a scan judges, and its final label."""

    document: CorpusDocument
    day: date | None
    place: int
    index: int
    text: str
    category: str


def refuse_reserved(documents: Iterable[CorpusDocument]) -> None:
    """The corpus check keeps reserved sources out; pairs check again, on each origin."""
    for document in documents:
        for pattern, what in RESERVED:
            if pattern.search(document.origin):
                raise PairsError(f"{document.collection}/{document.id}: {document.origin} is "
                                 f"reserved for evaluation ({what})")


def statements(documents: Sequence[CorpusDocument], labels: dict[str, dict[int, str]]
               ) -> dict[str, list[Statement]]:
    """Each group's risk sentences (of groups with two documents or more), in time."""
    refuse_reserved(documents)
    by_group: dict[str, list[CorpusDocument]] = defaultdict(list)
    for document in documents:
        by_group[document.group].append(document)
    found: dict[str, list[Statement]] = {}
    for group in sorted(by_group):
        if len(by_group[group]) < 2:
            continue
        found[group] = [Statement(document, day, place, index, sentence.text, risks[index])
                        for place, (document, day) in enumerate(in_time(by_group[group]))
                        if (risks := labels.get(document.id))
                        for index, sentence in judged_sentences(document.text)
                        if index in risks]
    return found


def _flat(text: str) -> str:
    """A sentence as restated.jsonl holds it: whitespace collapsed (hard-wrapped lines joined)."""
    return " ".join(text.split())


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def pair_id(a: Statement, b: Statement) -> str:
    """A pair's id: its two documents and sentences, so a pair keeps it however others change."""
    key = f"{a.document.id}\x1f{_flat(a.text)}\x1f{b.document.id}\x1f{_flat(b.text)}"
    return "pc-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]


def candidates(by_group: dict[str, list[Statement]], embed: Callable[[list[str]], np.ndarray],
               *, top: int = TOP, floor: float = FLOOR) -> list[dict]:
    """For each risk sentence of a later document, the ``top`` risk sentences of its group's
    earlier documents nearest to it (cosine ≥ ``floor``), whatever their categories: the
    entries a register would have to decide it against. An exact repeat (same words) is no
    question and is left out; an earlier wording stated twice counts once (its latest)."""
    texts = sorted({statement.text for group in by_group.values() for statement in group})
    rows = {text: row for row, text in enumerate(texts)}
    vectors = embed(texts) if texts else np.zeros((0, 1), dtype=np.float32)
    made, seen = [], set()
    for group, said in by_group.items():
        matrix = vectors[[rows[statement.text] for statement in said]] if said else None
        for j, b in enumerate(said):
            latest: dict[str, int] = {}
            for i, a in enumerate(said):
                if a.place < b.place and _words(a.text) != _words(b.text):
                    latest[_words(a.text)] = i  # in time order: the last is the latest
            earlier = sorted(latest.values())
            if not earlier:
                continue
            cosines = matrix[earlier] @ matrix[j]
            for k in np.argsort(-cosines, kind="stable")[:top]:
                a, cosine = said[earlier[k]], float(cosines[k])
                key = (group, _words(a.text), _words(b.text))
                if cosine < floor or key in seen:
                    continue
                seen.add(key)
                made.append(_record(group, a, b, cosine))
    return made


def _record(group: str, a: Statement, b: Statement, cosine: float) -> dict:
    """restated.jsonl's field names, where they say the same thing; no label."""
    return {"id": pair_id(a, b), "split": None, "group": group, "genre": b.document.genre,
            "collection": b.document.collection, "doc_a": a.document.id,
            "doc_b": b.document.id, "a": _flat(a.text), "b": _flat(b.text),
            "category_a": a.category,
            "category_b": b.category, "cosine": round(cosine, 4),
            "source_a": a.document.origin, "source_b": b.document.origin,
            "date_a": a.day.isoformat() if a.day else None,
            "date_b": b.day.isoformat() if b.day else None,
            "sentence_a": a.index, "sentence_b": b.index}


# The sample and its splits
def band(cosine: float) -> str:
    lower = max(edge for edge in BANDS if cosine >= edge) if cosine >= BANDS[0] else 0.0
    upper = next((edge for edge in BANDS if edge > lower), 1.0)
    return f"{lower:.2f}-{upper:.2f}"


def sample(pairs: list[dict], *, size: int = SIZE, cap: int = CAP, seed: int = SEED
           ) -> list[dict]:
    """About ``size`` pairs, drawn from the cosine bands in turn (easy and hard pairs alike,
    until a band runs out), at most ``cap`` from a group so no project dominates."""
    rng = random.Random(seed)
    by_band: dict[str, list[dict]] = defaultdict(list)
    for pair in sorted(pairs, key=lambda pair: pair["id"]):
        by_band[band(pair["cosine"])].append(pair)
    queues = [rng.sample(by_band[name], len(by_band[name]))  # the sparse, close ones first
              for name in sorted(by_band, reverse=True)]
    taken: list[dict] = []
    per_group: Counter[str] = Counter()
    while len(taken) < size and any(queues):
        for queue in queues:
            while queue:
                pair = queue.pop()
                if per_group[pair["group"]] < cap:
                    per_group[pair["group"]] += 1
                    taken.append(pair)
                    break
            if len(taken) >= size:
                break
    return taken


def restated_test_groups(path: Path = RESTATED) -> set[str]:
    """The groups of restated.jsonl's test split: their pairs may only be test pairs."""
    if not Path(path).is_file():
        return set()
    return {record["group"].lower() for _, record in records(path, PairsError)
            if isinstance(record, dict) and record.get("split") == "test"
            and isinstance(record.get("group"), str)}


def split_groups(groups: Iterable[str], *, seed: int = SEED, test_only: set[str] = frozenset()
                 ) -> dict[str, str]:
    """Each group's split, by group (70/15/15 of the groups, drawn with ``seed``); a group of
    ``test_only`` is always a test group."""
    groups = sorted(set(groups))
    forced = [group for group in groups if group.lower() in test_only]
    rest = random.Random(seed).sample([g for g in groups if g not in forced],
                                      len(groups) - len(forced))
    dev = round(SHARES["dev"] * len(groups))
    test = max(0, round(SHARES["test"] * len(groups)) - len(forced))
    split = {group: "test" for group in forced}
    split |= {group: "dev" for group in rest[:dev]}
    split |= {group: "test" for group in rest[dev:dev + test]}
    return split | {group: "train" for group in rest[dev + test:]}


def build(corpus_dir: Path = CORPUS_DIR, *, embed=None, size: int = SIZE, cap: int = CAP,
          seed: int = SEED, restated: Path = RESTATED) -> list[dict]:
    """The candidate pairs of the corpus in ``corpus_dir``, sampled and split by group."""
    documents = read_documents(corpus_dir)
    by_group = statements(documents, final_labels(read_labels(corpus_dir)))
    if embed is None:
        from service.analysis.embedding import SentenceEncoder
        embed = SentenceEncoder().embed
    chosen = sample(candidates(by_group, embed), size=size, cap=cap, seed=seed)
    split = split_groups({pair["group"] for pair in chosen}, seed=seed,
                         test_only=restated_test_groups(restated))
    order = {statement.document.id: statement.place for said in by_group.values()
             for statement in said}
    chosen.sort(key=lambda p: (p["group"], order[p["doc_b"]], p["sentence_b"],
                               order[p["doc_a"]], p["sentence_a"]))
    return [pair | {"split": split[pair["group"]]} for pair in chosen]


def summary(pairs: list[dict]) -> dict:
    """What the lead reports: pairs and groups, per split and collection, cosine bands."""
    def count(key) -> dict:
        pairs_of = Counter(key(pair) for pair in pairs)
        groups_of = Counter(name for name, _ in {(key(p), p["group"]) for p in pairs})
        return {name: {"pairs": pairs_of[name], "groups": groups_of[name]}
                for name in sorted(pairs_of)}
    cosines = np.array([pair["cosine"] for pair in pairs] or [0.0])
    return {"pairs": len(pairs), "groups": len({pair["group"] for pair in pairs}),
            "split": count(lambda pair: pair["split"]),
            "collection": count(lambda pair: pair["collection"]),
            "genre": dict(Counter(pair["genre"] for pair in pairs).most_common()),
            "cosine_band": dict(sorted(Counter(band(p["cosine"]) for p in pairs).items())),
            "cosine_quantiles": {f"q{q}": round(float(np.quantile(cosines, q / 100)), 3)
                                 for q in (0, 10, 25, 50, 75, 90, 100)},
            "same_category": sum(p["category_a"] == p["category_b"] for p in pairs),
            "most_from_one_group": max(Counter(p["group"] for p in pairs).values(),
                                       default=0)}


def write(pairs: Iterable[dict], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as file:
        file.writelines(json.dumps(pair, ensure_ascii=False) + "\n" for pair in pairs)


def read_pairs(path: Path = CANDIDATES) -> list[dict]:
    return [pair for _, pair in records(path, PairsError)]


# A second annotator, and agreement
def second_annotator_sample(pairs: list[dict], *, share: float = 0.12, count: int | None = None,
                         seed: int = SEED) -> list[str]:
    """The ids a second annotator reads: ``share`` (or ``count`` in all) of each collection
    and cosine band at random, at least one of each; in the candidates' order."""
    share = count / max(len(pairs), 1) if count is not None else share
    strata: dict[tuple[str, str], list[str]] = defaultdict(list)
    for pair in pairs:
        strata[(pair["collection"], band(pair["cosine"]))].append(pair["id"])
    rng, chosen = random.Random(seed), set()
    for stratum in sorted(strata):
        ids = sorted(strata[stratum])
        chosen |= set(rng.sample(ids, min(len(ids), max(1, round(share * len(ids))))))
    return [pair["id"] for pair in pairs if pair["id"] in chosen]


def read_relations(path: Path, known: set[str]) -> dict[str, str]:
    """An annotator's ``{id, label}`` lines: each label ``same`` or ``different``, each id a
    candidate's, once; anything else is refused, naming its line."""
    found: dict[str, str] = {}
    for where, record in records(path, PairsError, max_chars=10_000):
        if not isinstance(record, dict) or record.get("label") not in RELATIONS:
            raise PairsError(f"{where}: needs an \"id\" and a \"label\" of {RELATIONS}")
        if record.get("id") not in known:
            raise PairsError(f"{where}: {str(record.get('id'))[:80]!r} is no candidate pair")
        if record["id"] in found:
            raise PairsError(f"{where}: {record['id']} labelled twice")
        found[record["id"]] = record["label"]
    return found


def agreement(pairs: list[dict], first: dict[str, str], second: dict[str, str]) -> dict:
    """Pairs both read, raw agreement and Cohen's κ, overall (``all``) and per genre."""
    both: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for pair in pairs:
        if pair["id"] in first and pair["id"] in second:
            labels = (first[pair["id"]], second[pair["id"]])
            both["all"].append(labels)
            both[pair["genre"]].append(labels)
    return {genre: {"pairs": len(read),
                    "agreement": round(sum(x == y for x, y in read) / len(read), 3),
                    "kappa": round(cohen_kappa([x for x, _ in read], [y for _, y in read]), 3)}
            for genre, read in sorted(both.items())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.pairs",
                                     description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    made = commands.add_parser("candidates", help="the candidate pairs, sampled and split")
    made.add_argument("--out", type=Path, default=CANDIDATES)
    made.add_argument("--corpus", type=Path, default=CORPUS_DIR)
    made.add_argument("--restated", type=Path, default=RESTATED)
    made.add_argument("--size", type=int, default=SIZE)
    made.add_argument("--cap", type=int, default=CAP, help="at most this many from a group")
    made.add_argument("--seed", type=int, default=SEED)
    drawn = commands.add_parser("sample", help="the ids a second annotator reads")
    drawn.add_argument("--pairs", type=Path, default=CANDIDATES)
    drawn.add_argument("--labels-b", type=int, metavar="N", default=None,
                       help="N pairs in all (default: 12%% of the candidates)")
    drawn.add_argument("--out", type=Path, default=SECOND_READER)
    agreed = commands.add_parser("agreement", help="Cohen's κ overall and per genre")
    agreed.add_argument("--pairs", type=Path, default=CANDIDATES)
    agreed.add_argument("--a", type=Path, default=PAIRS_DIR / "labels.a.jsonl")
    agreed.add_argument("--b", type=Path, default=PAIRS_DIR / "labels.b.jsonl")
    args = parser.parse_args(argv)
    try:
        if args.command == "candidates":
            pairs = build(args.corpus, size=args.size, cap=args.cap, seed=args.seed,
                          restated=args.restated)
            write(pairs, args.out)
            print(json.dumps(summary(pairs), indent=1))
        elif args.command == "sample":
            ids = second_annotator_sample(read_pairs(args.pairs), count=args.labels_b)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text("".join(f"{pair_id}\n" for pair_id in ids), encoding="utf-8")
            print(f"wrote {len(ids)} ids to {args.out}", file=sys.stderr)
        else:
            pairs = read_pairs(args.pairs)
            known = {pair["id"] for pair in pairs}
            print(json.dumps(agreement(pairs, read_relations(args.a, known),
                                       read_relations(args.b, known)), indent=1))
    except (PairsError, CorpusError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
