"""A reading budget for the cascade, measured before it is built (issue #83): how the
cascade reads when at most a share of each document's sentences go to the reader.

    python -m ml.reading_budget FAST_DIR READER_DIR [--budgets 0.5,0.3,0.2] [--json OUT]

The screen passes what it passes; a budget keeps the highest-screened of those, at most
``ceil(budget × n)`` of a document's n judged sentences, and leaves the rest ``none``. The
RFCs, whose screen passes the most, would cost at most a known share of the fast model's
time, and the genres it passes few of would not change. One scoring records each document's
screen risks and the reader's answers on what passed; every budget is replayed from that
record, so each budget's figures are the served cascade's own (with no budget, exactly its
answer: tests/test_reading_budget.py). Printed per budget: precision and recall at the
cascade's point on each set, and the sentences the reader read per genre of the 42.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ml.documents import Document, Scored, metrics_at, read_documents
from ml.recipe import NEW_WRITERS_DOCUMENTS
from ml.scorecard import DOCUMENTS, SETS
from service.analysis.labels import NONE
from service.analysis.reading import findings_of

BUDGETS = (0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1)


@dataclass
class Record:
    """One document as the cascade read it: each judged sentence's screen risk, those the
    screen passed, and the reader's (label, score) of each of those."""

    risks: list[float] = field(default_factory=list)
    passed: list[int] = field(default_factory=list)
    answers: dict[int, tuple[str, float]] = field(default_factory=dict)

    def kept(self, budget: float | None) -> set[int]:
        """What the reader reads under ``budget``: the highest-screened passed sentences, at
        most ceil(budget × the judged sentences); all it passed when there is no budget."""
        if budget is None:
            return set(self.passed)
        ranked = sorted(self.passed, key=lambda index: -self.risks[index])
        return set(ranked[:math.ceil(budget * len(self.risks))])


def record(cascade, text: str) -> Record:
    """Read ``text`` through ``cascade`` as a scan at min_score 0 would, and keep what each
    stage said (the screen as Cascade.screen_of reads it, its thresholds included)."""
    kept = Record()

    def classify(sentences, *, min_score=None, progress=False):
        kept.risks, kept.passed = cascade.screen_of(sentences)
        if kept.passed:
            read = cascade.reader.classify([sentences[index] for index in kept.passed],
                                           min_score=0.0)
            kept.answers = dict(zip(kept.passed, read))
        return [(NONE, 1.0)] * len(sentences)

    findings_of(text, classify, min_score=0.0)
    return kept


def replay(text: str, read: Record, budget: float | None) -> list[Scored]:
    """The findings at min_score 0 of ``text`` had the reader read what ``budget`` keeps."""
    kept = read.kept(budget)

    def classify(sentences, *, min_score=None, progress=False):
        return [read.answers[index] if index in kept else (NONE, 1.0)
                for index in range(len(sentences))]

    return [Scored(f.start, f.end, f.category, f.score)
            for f in findings_of(text, classify, min_score=0.0)]


def measure(cascade, sets: dict[str, list[Document]], budgets=BUDGETS) -> dict:
    """Each budget's precision and recall at the cascade's point on every set, and the
    sentences (judged, passed, read) of each genre of the 42."""
    documents = {id(document): document for members in sets.values() for document in members}
    records = {key: record(cascade, document.text) for key, document in documents.items()}
    figures = {}
    for budget in (None, *budgets):
        scored = {key: replay(documents[key].text, records[key], budget) for key in documents}
        row: dict = {}
        for name, members in sets.items():
            rates = metrics_at(members, [scored[id(d)] for d in members],
                               cascade.min_score)["all"]
            row[name] = {"precision": rates["precision"], "recall": rates["recall"]}
        sentences: dict[str, list[int]] = {}
        for document in sets.get("42", []):
            read = records[id(document)]
            counts = sentences.setdefault(document.genre, [0, 0, 0])
            counts[0] += len(read.risks)
            counts[1] += len(read.passed)
            counts[2] += len(read.kept(budget))
        row["42 by genre: judged, passed, read"] = sentences
        figures["none" if budget is None else str(budget)] = row
    return {"point": cascade.min_score, "budgets": figures}


def evaluation_sets(limit: int | None = None) -> dict[str, list[Document]]:
    """The scorecard's sets of the test documents, the new writers and the development
    documents (``limit``: the first few of each, a quick look)."""
    test = read_documents(DOCUMENTS / "test.jsonl")
    sets = {name: [d for d in test if member(d)] for name, member in SETS.items()}
    sets["new writers"] = read_documents(NEW_WRITERS_DOCUMENTS)
    sets["dev"] = read_documents(DOCUMENTS / "dev.jsonl")
    return {name: members[:limit] for name, members in sets.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.reading_budget",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("fast", type=Path, help="the fast model's folder")
    parser.add_argument("reader", type=Path, help="the reader's folder (with its screen.json)")
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)),
                        help="shares of a document's sentences, comma-separated")
    parser.add_argument("--limit", type=int, help="only the first documents of each set")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    from ml.cascade import cascade_of
    from service.analysis.transformer import TransformerAnalyzer

    cascade = cascade_of(TransformerAnalyzer(args.fast), args.reader)
    budgets = tuple(float(value) for value in args.budgets.split(","))
    figures = measure(cascade, evaluation_sets(args.limit), budgets)
    for budget, row in figures["budgets"].items():
        print(budget, json.dumps(row))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
