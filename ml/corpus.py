"""The corpus of real project writing: whole documents, their writer groups and their labels.

    python -m ml.corpus show FILE [--id ID]     the sentences an annotator labels, numbered
    python -m ml.corpus sample [--seed 73] [--collection C]  a second annotator's documents
    python -m ml.corpus check                   every document licensed, placed and labelled
    python -m ml.corpus agreement [--collection C]  the annotators' agreement (κ) per genre
    python -m ml.corpus rows                    the labelled sentences, as ml/data/sources/ rows

``ml/data/corpus/documents/<collection>.jsonl`` holds one document a line, whole:
``{id, genre, group, origin, licence, title, text}``. ``origin`` is where it is on record
(``owner/repo@commit:path``, or a URL); ``group`` its writers (a project, team, working group
or agency office), the unit that the test sets are kept apart by; ``licence`` an SPDX id whose
text is ``ml/data/licenses/<collection>.<licence>.txt``.

``labels/<collection>.<annotator>.jsonl`` holds one annotator's reading of each document:
``{id, sentences, risks: {"<index>": label}}``. ``index`` counts the sentences of
``service.analysis.reading.sentences_of(text)``, the service's own reading, so what is labelled
is what a scan judges; ``sentences`` is how many it read, so a change of segmentation is caught
rather than shifting labels. Every judged sentence not in ``risks`` is ``none``. Annotator
``a`` reads every document; ``b`` a sample (``sample``), blind to ``a``; ``adjudicated`` holds
the third reading of each disagreement, which wins.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ml.jsonl import records
from service.analysis.labels import LABELS, NONE

DATA_DIR = Path(__file__).resolve().parent / "data"
CORPUS_DIR = DATA_DIR / "corpus"
LICENCES_DIR = DATA_DIR / "licenses"
TEST_DOCUMENTS = tuple(DATA_DIR / "documents" / f"{name}.jsonl"
                       for name in ("dev", "test", "new-writers"))

#: The genres a document is filed under (the issue's list; `status-report` covers weekly and
#: monthly progress, `annual-report` quarterly and annual ones).
GENRES: tuple[str, ...] = (
    "status-report", "minutes", "annual-report", "retrospective", "incident-report",
    "design-proposal", "decision-record", "release-review", "plan-charter", "grant-report",
    "assessment-audit",
)

#: Never read, collected or trained on (DEVELOPERS.md): kept for the team's hidden evaluation.
RESERVED = tuple((re.compile(pattern, re.IGNORECASE), what) for pattern, what in (
    (r"^apache/|^https?://([\w.-]+\.)?apache\.org/", "Apache Software Foundation reports"),
    (r"podling|incubator[\w./-]*report", "Apache podling reports"),
    # Its minutes to 2022 are already in ml/data/sources/ (shared/data); the corpus takes
    # none, so that no minutes from 2023 on can slip in by a path of another layout.
    (r"^AcademySoftwareFoundation/tac\b", "ASWF TAC minutes (from 2023 on reserved)"),
    # The operating-system teams' status entries kept out of the repo (issue #84) are its
    # quarterly reports; the corpus takes nothing of FreeBSD's, so that no entry slips in
    # through a mirror or a docs tree of another layout.
    (r"^freebsd/|^https?://([\w.-]+\.)?freebsd\.org/|freebsd[\w./-]*status",
     "FreeBSD quarterly status reports"),
))

REPOSITORY = re.compile(r"^([\w.-]+/[\w.-]+)@")
ORIGIN = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{7,40}:\S.*$|^https?://\S+$")
ANNOTATORS = ("a", "b")


class CorpusError(ValueError):
    """The corpus cannot be used as it is; the message names each problem."""


@dataclass(frozen=True)
class CorpusDocument:
    id: str
    genre: str
    group: str
    origin: str
    licence: str
    title: str
    text: str
    collection: str

    @property
    def repository(self) -> str | None:
        """``owner/repo`` of a GitHub origin, None for a URL."""
        found = REPOSITORY.match(self.origin)
        return found.group(1) if found else None


# Reading
def read_documents(corpus_dir: Path = CORPUS_DIR) -> list[CorpusDocument]:
    documents = []
    for path in sorted((corpus_dir / "documents").glob("*.jsonl")):
        for where, record in records(path, CorpusError):
            if not isinstance(record, dict):
                raise CorpusError(f"{where}: not a JSON object")
            missing = [key for key in ("id", "genre", "group", "origin", "licence", "title",
                                       "text") if not isinstance(record.get(key), str)]
            if missing:
                raise CorpusError(f"{where}: needs strings {', '.join(missing)}")
            documents.append(CorpusDocument(
                **{key: record[key] for key in ("id", "genre", "group", "origin", "licence",
                                                "title", "text")}, collection=path.stem))
    return documents


@dataclass(frozen=True)
class Reading:
    """One annotator's reading of one document: how many sentences it saw, and its risks."""

    sentences: int | None
    risks: dict[int, str]


Labels = dict[str, dict[str, Reading]]  # {annotator: {document id: reading}}


def read_labels(corpus_dir: Path = CORPUS_DIR) -> Labels:
    """Every labels file's readings, by annotator (the file name's last part)."""
    labels: Labels = defaultdict(dict)
    for path in sorted((corpus_dir / "labels").glob("*.jsonl")):
        annotator = path.stem.rsplit(".", 1)[-1]
        for where, record in records(path, CorpusError):
            if not isinstance(record, dict) or not isinstance(record.get("id"), str) \
                    or not isinstance(record.get("risks"), dict):
                raise CorpusError(f"{where}: needs an \"id\" and a \"risks\" object")
            try:
                risks = {int(index): label for index, label in record["risks"].items()}
            except ValueError as error:
                raise CorpusError(f"{where}: a sentence index is not a number") from error
            count = record.get("sentences")
            labels[annotator][record["id"]] = Reading(
                count if isinstance(count, int) else None, risks)
    return labels


def judged_sentences(text: str, *, with_count: bool = False):
    """(index, sentence) of the sentences a scan judges, indexed in sentences_of(text); with
    ``with_count``, also how many sentences (headings too) it read."""
    from service.analysis.reading import sentences_of  # spaCy: only when reading a text
    read = sentences_of(text)
    judged = [(index, sentence) for index, sentence in enumerate(read)
              if not sentence.is_heading]
    return (judged, len(read)) if with_count else judged


# What a document may not be
def test_set_repositories(paths: Iterable[Path] = TEST_DOCUMENTS) -> set[str]:
    """Every ``owner/repo`` that holds a document of a test set: the corpus takes nothing
    from them, stricter than their writer groups alone."""
    repositories = set()
    for path in paths:
        for _, record in records(path, CorpusError):
            source = record.get("source", "") if isinstance(record, dict) else ""
            if "@" in source:
                repositories.add(source.split("@", 1)[0].lower())
    return repositories


def test_set_groups(paths: Iterable[Path] = TEST_DOCUMENTS) -> set[str]:
    return {record["group"].lower() for path in paths
            for _, record in records(path, CorpusError)
            if isinstance(record, dict) and isinstance(record.get("group"), str)}


def refusal(document: CorpusDocument, repositories: set[str], groups: set[str]) -> str | None:
    """Why ``document`` may not be in the corpus, or None."""
    for pattern, what in RESERVED:
        if pattern.search(document.origin):
            return f"reserved for evaluation ({what})"
    if document.repository and document.repository.lower() in repositories:
        return f"{document.repository} holds test documents"
    if document.group.lower() in groups:
        return f"writer group {document.group} is a test set's"
    return None


# Checks
def problems(corpus_dir: Path = CORPUS_DIR, *, licences_dir: Path = LICENCES_DIR,
             test_paths: Iterable[Path] = TEST_DOCUMENTS, segment: bool = True,
             collection: str | None = None) -> list[str]:
    """Everything wrong with the corpus, one line each: empty when it can be trained on.
    ``collection``: only its documents' labels are read against the text (the slow part)."""
    found: list[str] = []
    documents = read_documents(corpus_dir)
    test_paths = list(test_paths)
    repositories, groups = test_set_repositories(test_paths), test_set_groups(test_paths)
    test_texts = {_text_key(record["text"]) for path in test_paths
                  for _, record in records(path, CorpusError) if isinstance(record, dict)}
    ids: Counter[str] = Counter(document.id for document in documents)
    found += [f"{doc_id}: in the corpus {count} times" for doc_id, count in ids.items()
              if count > 1]
    texts: dict[str, str] = {}
    for document in documents:
        where = f"{document.collection}/{document.id}"
        if document.genre not in GENRES:
            found.append(f"{where}: genre {document.genre!r} is not one of {', '.join(GENRES)}")
        if not ORIGIN.match(document.origin):
            found.append(f"{where}: origin {document.origin!r} is neither "
                         "owner/repo@commit:path nor a URL")
        licence_text = licences_dir / f"{document.collection}.{document.licence}.txt"
        if not licence_text.is_file():
            found.append(f"{where}: no licence text {licence_text.name}")
        if why := refusal(document, repositories, groups):
            found.append(f"{where}: {why}")
        key = _text_key(document.text)
        if key in test_texts:
            found.append(f"{where}: its text is a test document's")
        if key in texts:
            found.append(f"{where}: its text is {texts[key]}'s too")
        texts.setdefault(key, where)
    labels = read_labels(corpus_dir)
    if collection is not None:
        mine = {document.id for document in documents if document.collection == collection}
        documents = [document for document in documents if document.id in mine]
        labels = {annotator: {doc_id: reading for doc_id, reading in readings.items()
                              if doc_id in mine or doc_id.startswith(f"{collection}/")}
                  for annotator, readings in labels.items()}
    found += _label_problems(documents, labels, segment=segment)
    return found


def _label_problems(documents: list[CorpusDocument], labels: Labels, *, segment: bool
                    ) -> list[str]:
    found = []
    by_id = {document.id: document for document in documents}
    first = labels.get("a", {})
    found += [f"{document.id}: not labelled by annotator a" for document in documents
              if document.id not in first]
    for annotator, readings in labels.items():
        for doc_id, reading in readings.items():
            document = by_id.get(doc_id)
            if document is None:
                found.append(f"labels {annotator}: {doc_id} is no corpus document")
                continue
            bad = sorted({label for label in reading.risks.values() if label not in LABELS})
            if bad:
                found.append(f"labels {annotator}: {doc_id}: {bad} are not the taxonomy's")
            if not segment:
                continue
            read = judged_sentences(document.text, with_count=True)
            judged, count = dict(read[0]), read[1]
            if reading.sentences is not None and reading.sentences != count:
                found.append(f"labels {annotator}: {doc_id}: labelled on {reading.sentences} "
                             f"sentences, the reader reads {count} now")
            stray = sorted(index for index in reading.risks if index not in judged)
            if stray:
                found.append(f"labels {annotator}: {doc_id}: sentences {stray[:5]} are not "
                             "judged (headings, or past the end)")
    return found


def _text_key(text: str) -> str:
    return re.sub(r"\W+", " ", text).strip().lower()[:2000]


# The rows the model learns from
def final_labels(labels: Labels) -> dict[str, dict[int, str]]:
    """Annotator a's reading of each document, with the adjudicated disagreements applied."""
    final = {doc_id: dict(reading.risks) for doc_id, reading in labels.get("a", {}).items()}
    for doc_id, decided in labels.get("adjudicated", {}).items():
        if doc_id not in final:
            continue
        for index, label in decided.risks.items():
            if label == NONE:
                final[doc_id].pop(index, None)
            else:
                final[doc_id][index] = label
    return final


def rows(documents: list[CorpusDocument], labels: dict[str, dict[int, str]]
         ) -> Iterator[dict[str, str]]:
    """Each judged sentence of each labelled document as a sources/ row: its label, section
    heading, previous sentence, origin, writer group and genre."""
    for document in documents:
        risks = labels.get(document.id)
        if risks is None:
            continue
        for index, sentence in judged_sentences(document.text):
            yield {"text": sentence.text, "label": risks.get(index, NONE),
                   "source": f"corpus/{document.genre}/{document.id}",
                   "heading": sentence.heading, "previous": sentence.previous,
                   "origin": document.origin, "group": document.group,
                   "genre": document.genre}


def write_rows(corpus_dir: Path, out: Path) -> int:
    """The corpus's rows as a sources/ file (what build_splits reads); how many."""
    made = list(rows(read_documents(corpus_dir), final_labels(read_labels(corpus_dir))))
    with Path(out).open("w", encoding="utf-8") as file:
        file.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in made)
    return len(made)


def writer_groups(documents: list[CorpusDocument], fraction: float, seed: int) -> set[str]:
    """``fraction`` of the documents' writer groups, drawn with ``seed`` (a learning curve's
    point: fewer writers, not fewer documents of each)."""
    groups = sorted({document.group for document in documents})
    return set(random.Random(seed).sample(groups, round(fraction * len(groups))))


def training_split(corpus_dir: Path = CORPUS_DIR, *, held_out: Iterable[str] = (),
                   fraction: float = 1.0, seed: int = 13, collections: str = "all"):
    """The corpus's labelled sentences as a training split (ml.splits.LabelledSplit), each
    with the context a context model reads; a sentence also in ``held_out`` (the validation
    and test splits) is left out, so that no measured sentence is trained on. ``fraction``
    below 1: that share of the writer groups alone; ``collections``: these (a,b), or all."""
    from ml.splits import LabelledSplit
    from service.analysis.context import context_text

    held, named = set(held_out), None if collections == "all" else collections.split(",")
    documents = _of(read_documents(corpus_dir), named)
    if fraction < 1:
        kept = writer_groups(documents, fraction, seed)
        documents = [document for document in documents if document.group in kept]
    texts, labels, contexts = [], [], []
    for row in rows(documents, final_labels(read_labels(corpus_dir))):
        if row["text"] in held:
            continue
        texts.append(row["text"])
        labels.append(row["label"])
        contexts.append(context_text(row["heading"], row["previous"]))
    return LabelledSplit(texts, labels, contexts)


# Agreement
def cohen_kappa(first: list[str], second: list[str]) -> float:
    n = len(first)
    if n == 0:
        return float("nan")
    observed = sum(a == b for a, b in zip(first, second)) / n
    counts_a, counts_b = Counter(first), Counter(second)
    expected = sum(counts_a[label] * counts_b[label] for label in counts_a) / (n * n)
    return 1.0 if expected == 1 else (observed - expected) / (1 - expected)


def agreement(documents: list[CorpusDocument], labels: Labels) -> dict[str, dict[str, float]]:
    """Per genre (and ``all``): sentences both read, raw agreement, κ on the eleven labels
    and κ on risk against none."""
    first, second = labels.get("a", {}), labels.get("b", {})
    pairs: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for document in documents:
        if document.id not in first or document.id not in second:
            continue
        for index, _ in judged_sentences(document.text):
            pair = (first[document.id].risks.get(index, NONE),
                    second[document.id].risks.get(index, NONE))
            pairs[document.genre].append(pair)
            pairs["all"].append(pair)
    table = {}
    for genre, both in sorted(pairs.items()):
        a, b = [x for x, _ in both], [y for _, y in both]
        table[genre] = {
            "sentences": len(both),
            "agreement": sum(x == y for x, y in both) / len(both),
            "kappa": cohen_kappa(a, b),
            "kappa_risk": cohen_kappa([x != NONE for x in a], [y != NONE for y in b]),
        }
    return table


def second_reading_sample(documents: list[CorpusDocument], *, share: float = 0.1,
                          seed: int = 73) -> list[str]:
    """The ids a second annotator reads: ``share`` of each genre at random (at least one)."""
    rng = random.Random(seed)
    by_genre: dict[str, list[str]] = defaultdict(list)
    for document in documents:
        by_genre[document.genre].append(document.id)
    chosen = []
    for genre in sorted(by_genre):
        ids = sorted(by_genre[genre])
        chosen += rng.sample(ids, max(1, round(share * len(ids))))
    return chosen


# The command
def show(documents: list[CorpusDocument], ids: set[str] | None) -> Iterator[str]:
    """The numbered sentences an annotator labels, section headings as ``##`` lines."""
    for document in documents:
        if ids is not None and document.id not in ids:
            continue
        judged, count = judged_sentences(document.text, with_count=True)
        yield (f"=== {document.id} ({document.genre}; {document.group}; sentences={count}): "
               f"{document.title}")
        heading = None
        for index, sentence in judged:
            if sentence.heading != heading:
                heading = sentence.heading
                yield f"## {heading}"
            yield f"{index}\t{sentence.text}"


def _of(documents: list[CorpusDocument], collections: list[str] | None) -> list:
    return [d for d in documents if not collections or d.collection in collections]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.corpus",
                                     description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    shown = commands.add_parser("show", help="the numbered sentences an annotator labels")
    shown.add_argument("file", type=Path, nargs="?", help="a documents file (default: all)")
    shown.add_argument("--id", action="append", help="only this document (repeatable)")
    sampled = commands.add_parser("sample", help="the ids a second annotator reads")
    sampled.add_argument("--share", type=float, default=0.1)
    sampled.add_argument("--seed", type=int, default=73)  # 84: the second corpus's draw
    sampled.add_argument("--collection", action="append")  # these alone (repeatable)
    checked = commands.add_parser("check", help="every document licensed, placed and labelled")
    checked.add_argument("--collection", help="read only this collection's labels")
    commands.add_parser("agreement", help="Cohen's κ per genre").add_argument(
        "--collection", action="append")
    made = commands.add_parser("rows", help="write the rows as a sources/ file would hold them")
    made.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "show":
            documents = _of(read_documents(), [args.file.stem] if args.file else None)
            for line in show(documents, set(args.id) if args.id else None):
                print(line)
        elif args.command == "sample":
            print(*second_reading_sample(_of(read_documents(), args.collection),
                                         share=args.share, seed=args.seed), sep="\n")
        elif args.command == "check":
            found = problems(collection=args.collection)
            for problem in found:
                print(problem)
            read = read_documents()
            print(f"{len(read)} documents, {len({d.group for d in read})} writer groups, "
                  f"{len({d.genre for d in read})} genres: {len(found)} problem(s)",
                  file=sys.stderr)
            return 1 if found else 0
        elif args.command == "agreement":
            print(json.dumps(agreement(_of(read_documents(), args.collection),
                                       read_labels()), indent=1))
        elif args.command == "rows":
            print(f"wrote {write_rows(CORPUS_DIR, args.out)} rows to {args.out}",
                  file=sys.stderr)
    except CorpusError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
