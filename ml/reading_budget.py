"""The cascade's reading budget, measured (issue #83): how the cascade reads when the reader
reads at most a share of each document's sentences (READER_BUDGET) and the fast model answers
the rest of what the screen passed.

    python -m ml.reading_budget FAST_DIR READER_DIR [--budgets 0.5,0.3,0.2] [--json OUT]

One scoring records each document's screen answers and the reader's answers on what the
screen passed; every budget is replayed from that record, so each budget's figures are the
served cascade's own (tests/test_reading_budget.py holds the replay to Cascade.classify).
Two orders are replayed: ``uncertain``, what the service serves (cascade_model.priority:
the sentences the fast model scores nearest its operating point first), and ``top`` (the
highest-screened first); and, for each, past the budget the fast model's answer (as
served) or ``none``. Printed per budget: precision and recall at the served operating
points on each set, and the sentences the reader read per genre of the 42.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ml.documents import Document, Scored, metrics_at, read_documents
from ml.recipe import NEW_WRITERS_DOCUMENTS
from ml.scorecard import DOCUMENTS, SETS
from service.analysis.cascade_model import priority, within_budget
from service.analysis.labels import NONE
from service.analysis.reading import findings_of
from service.analysis.scores import apply_min_score

BUDGETS = (0.5, 0.4, 0.3, 0.25, 0.2, 0.15, 0.1)
#: The orders a budget may read the passed sentences in: by Cascade.priority (as served),
#: or the highest-screened first.
ORDERS = ("uncertain", "top")


@dataclass
class Record:
    """One document as the cascade read it: the screen's (category, risk score) of each
    judged sentence, those it passed, and the reader's (category, risk score) of each of
    those."""

    screen: list[tuple[str, float]] = field(default_factory=list)
    passed: list[int] = field(default_factory=list)
    answers: dict[int, tuple[str, float]] = field(default_factory=dict)

    def kept(self, cascade, budget: float | None, order: str = ORDERS[0]) -> list[int]:
        """What the reader reads under ``budget``, taking the passed sentences in ``order``;
        all it passed when there is no budget."""
        point = cascade.screen.min_score
        return within_budget([priority(risk, point) if order == "uncertain" else risk
                              for _, risk in self.screen], self.passed, budget)


def record(cascade, text: str) -> Record:
    """Read ``text`` through ``cascade`` as a scan would, and keep what each stage said (the
    screen as Cascade.screen_of reads it, its thresholds included; the reader at 0)."""
    kept = Record()

    def classify(sentences, *, min_score=None, progress=False):
        kept.screen, kept.passed = cascade.screen_of(sentences)
        if kept.passed:
            read = cascade.reader.classify([sentences[index] for index in kept.passed],
                                           min_score=0.0)
            kept.answers = dict(zip(kept.passed, read))
        return [(NONE, 1.0)] * len(sentences)

    findings_of(text, classify, min_score=0.0)
    return kept


def replay(cascade, text: str, read: Record, budget: float | None, *,
           order: str = ORDERS[0], past: bool = True) -> list[Scored]:
    """The findings of ``text`` as served (each stage at its operating point) had the reader
    read what ``budget`` keeps in ``order``; past the budget, the fast model's answer
    (``past``) or none."""
    kept = set(read.kept(cascade, budget, order))

    def classify(sentences, *, min_score=None, progress=False):
        answers = [(NONE, 1.0)] * len(sentences)
        for index in read.passed:
            if index in kept:
                answers[index] = apply_min_score([read.answers[index]], cascade.min_score)[0]
            elif past:
                answers[index] = apply_min_score([read.screen[index]],
                                                 cascade.screen.min_score)[0]
        return answers

    return [Scored(f.start, f.end, f.category, f.score)
            for f in findings_of(text, classify)]


def measure(cascade, sets: dict[str, list[Document]], budgets=BUDGETS) -> dict:
    """Each budget's precision and recall on every set, each order and with or without the
    fast model past the budget, and the sentences (judged, passed, read) of each genre of
    the 42."""
    documents = {id(document): document for members in sets.values() for document in members}
    records = {key: record(cascade, document.text) for key, document in documents.items()}
    ways = [(order, past) for order in ORDERS for past in (True, False)]
    figures = {}
    for budget in (None, *budgets):
        row: dict = {}
        for order, past in ways[:1] if budget is None else ways:
            scored = {key: replay(cascade, documents[key].text, records[key], budget,
                                  order=order, past=past) for key in documents}
            way = row.setdefault(f"{order}, past it: {'fast' if past else 'none'}", {})
            for name, members in sets.items():
                rates = metrics_at(members, [scored[id(d)] for d in members], 0.0)["all"]
                way[name] = {"precision": rates["precision"], "recall": rates["recall"]}
        sentences: dict[str, list[int]] = {}
        for document in sets.get("42", []):
            read = records[id(document)]
            counts = sentences.setdefault(document.genre, [0, 0, 0])
            counts[0] += len(read.screen)
            counts[1] += len(read.passed)
            counts[2] += len(read.kept(cascade, budget))
        row["42 by genre: judged, passed, read"] = sentences
        figures["none" if budget is None else str(budget)] = row
    return {"points": {"reader": cascade.min_score, "fast": cascade.screen.min_score},
            "budgets": figures}


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

    # Budgets are replayed from what the screen passed, none applied while recording.
    cascade = cascade_of(TransformerAnalyzer(args.fast), args.reader, budget=None)
    budgets = tuple(float(value) for value in args.budgets.split(","))
    figures = measure(cascade, evaluation_sets(args.limit), budgets)
    for budget, row in figures["budgets"].items():
        print(budget, json.dumps(row))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
