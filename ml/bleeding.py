"""Does a risk bleed into the sentence after it? ``python -m ml.bleeding [--model models_cache]
[--reader READER]``

A model that reads each sentence with the one before it (the context, service/analysis/
context.py) can learn "after a risk comes a risk": "Only one engineer understands the billing
integration. The office moved to the third floor." came back as two `resource` risks (issue
#84). Two measures, each the plain sentence scored after its risk and alone:

- **the pairs** (``ml/data/bleeding/pairs.jsonl``): a risk, then a sentence that states none
  and has nothing to do with it, written for this check; the share of plain sentences
  flagged after their risk (the target: at most 1 in 20), and how far their scores move;
- **real documents** (``--documents``, the test documents by default): every sentence the
  labellers read as no risk right after one they read as a risk, flagged in its document
  against flagged alone; and beside them the risks right after a risk (``…: risks after a
  risk``), which a fix must not lose.

With ``--reader``, the pairs are read by the cascade as served too (the reader behind the
fast model, within the reading budget, ml.cascade.cascade_of): a plain sentence is flagged
when it is a finding, each stage answering at its own point.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PAIRS = REPO_ROOT / "ml" / "data" / "bleeding" / "pairs.jsonl"
DOCUMENTS = REPO_ROOT / "ml" / "data" / "documents" / "test.jsonl"


@dataclass(frozen=True)
class Pair:
    risk: str
    plain: str


def read_pairs(path: Path = PAIRS) -> list[Pair]:
    from ml.jsonl import records

    return [Pair(record["risk"], record["plain"]) for _, record in records(path, ValueError)]


def risk_score(analyzer, text: str, sentence: str) -> float | None:
    """The risk score of ``sentence`` as the scan path reads it within ``text``; None where
    the scan path does not judge it there (a line of markup, a fragment)."""
    start = text.rindex(sentence)
    for finding in analyzer.analyze(text, min_score=0.0).findings:
        if finding.start <= start < finding.end:
            return finding.score
    return None


def pair_scores(analyzer, pairs: list[Pair]) -> list[tuple[float, float]]:
    """(after its risk, alone) for each pair's plain sentence."""
    return [(risk_score(analyzer, f"{pair.risk} {pair.plain}", pair.plain),
             risk_score(analyzer, pair.plain, pair.plain)) for pair in pairs]


def found_pairs(analyzer, pairs: list[Pair]) -> dict:
    """How many plain sentences are findings after their risk and alone, as a scan answers
    (the analyzer's own points): for a cascade, whose reader and fast model answer at
    different points, the one count that reads as a user does."""
    after = alone = 0
    for pair in pairs:
        text = f"{pair.risk} {pair.plain}"
        start = text.rindex(pair.plain)
        after += any(f.start <= start < f.end for f in analyzer.analyze(text).findings)
        alone += bool(analyzer.analyze(pair.plain).findings)
    return {"sentences": len(pairs), "flagged_after": after, "flagged_alone": alone}


def followers(analyzer, documents) -> dict[str, list[tuple[float, float]]]:
    """(in its document, alone) for every sentence right after one labelled a risk, in the
    labelled documents ``documents`` (ml.documents): ``plain``, those labelled no risk (they
    should not move), and ``risks``, those labelled a risk too (what a model taught "a risk
    before, so none" would lose: the second risk of a risk paragraph)."""
    from ml.documents import score_documents

    found: dict[str, list[tuple[float, float]]] = {"plain": [], "risks": []}
    for document, scored in zip(documents, score_documents(analyzer, documents), strict=True):
        risky = [any(min(end, s.end) - max(start, s.start) > 0
                     for start, end, _ in document.risks) for s in scored]
        for index in range(1, len(scored)):
            if risky[index - 1]:
                sentence = scored[index]
                alone = risk_score(analyzer, *[document.text[sentence.start:sentence.end]] * 2)
                if alone is not None:
                    found["risks" if risky[index] else "plain"].append((sentence.score, alone))
    return found


def summary(scores: list[tuple[float, float]], point: float) -> dict:
    """How many are flagged after a risk and alone at ``point``, and how far scores move."""
    moved = [after - alone for after, alone in scores]
    return {"sentences": len(scores),
            "flagged_after": sum(after >= point for after, _ in scores),
            "flagged_alone": sum(alone >= point for _, alone in scores),
            "median_moved": round(statistics.median(moved), 4) if moved else None,
            "largest_moved": round(max(moved), 4) if moved else None}


def main(argv: list[str] | None = None) -> int:
    from ml.documents import read_documents
    from service.analysis.transformer import TransformerAnalyzer

    parser = argparse.ArgumentParser(prog="python -m ml.bleeding",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=REPO_ROOT / "models_cache")
    parser.add_argument("--pairs", type=Path, default=PAIRS)
    parser.add_argument("--documents", type=Path, nargs="*", default=[DOCUMENTS])
    parser.add_argument("--reader", type=Path, default=None,
                        help="also read the pairs by the cascade of the model and this reader")
    args = parser.parse_args(argv)
    analyzer = TransformerAnalyzer(args.model)
    point = analyzer.min_score
    report = {"model": analyzer.version, "point": point,
              "pairs": summary(pair_scores(analyzer, read_pairs(args.pairs)), point)}
    if args.reader is not None:
        from ml.cascade import cascade_of

        report["pairs, the cascade as served"] = found_pairs(
            cascade_of(analyzer, args.reader), read_pairs(args.pairs))
    for path in args.documents:
        found = followers(analyzer, read_documents(path))
        report[path.stem] = summary(found["plain"], point)
        report[f"{path.stem}: risks after a risk"] = summary(found["risks"], point)
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
