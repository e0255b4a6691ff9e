"""How much a window model's scores move with where its windows start.

    python -m ml.window_shift --model models_cache/<window model> [--documents FILE]

A window model judges each sentence once, in the window whose core holds it
(service/analysis/windows.py), so a sentence at a core's edge reads two neighbours on one
side where one in the middle reads a dozen. Each document is scanned as it is and again
after ``k`` neutral sentences put in front (every window then starts elsewhere); printed as
JSON: per ``k``, the mean, 95th percentile and largest change of a sentence's risk score,
and the share of sentences whose finding (at the model's operating point) comes or goes.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ml.documents import read_documents

DOCUMENTS = Path(__file__).resolve().parent / "data" / "documents" / "dev.jsonl"
NEUTRAL = "The team met on Monday to review the agenda."
PREPENDED = (1, 2, 3, 5, 8)


def risk_scores(analyzer, text: str) -> list[float]:
    """Each judged sentence's risk score, in order (at min_score 0: every one scored)."""
    from service.analysis.reading import placed

    return [score for _, score in analyzer.classify(placed(text), min_score=0.0)]


def shifts(analyzer, texts: list[str], prepended: int) -> dict:
    """The change of each sentence's risk score when ``prepended`` neutral sentences come
    first, over ``texts``."""
    import numpy as np

    moved, flipped = [], 0
    point = analyzer.min_score
    for text in texts:
        before = risk_scores(analyzer, text)
        after = risk_scores(analyzer, " ".join([NEUTRAL] * prepended) + "\n\n" + text)
        after = after[len(after) - len(before):]
        moved += [abs(a - b) for a, b in zip(after, before)]
        flipped += sum((a >= point) != (b >= point) for a, b in zip(after, before))
    values = np.array(moved)
    return {"sentences": len(moved), "mean": round(float(values.mean()), 4),
            "p95": round(float(np.percentile(values, 95)), 4),
            "max": round(float(values.max()), 4),
            "findings_changed": round(flipped / len(moved), 4)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml.window_shift",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--documents", type=Path, default=DOCUMENTS)
    args = parser.parse_args(argv)
    from service.analysis.transformer import TransformerAnalyzer

    analyzer = TransformerAnalyzer(args.model)
    if analyzer.reads != "window":
        print(f"{analyzer.version} reads {analyzer.reads}: its windows do not exist",
              file=sys.stderr)
        return 1
    texts = [document.text for document in read_documents(args.documents)]
    print(json.dumps({"model": analyzer.version, "min_score": analyzer.min_score,
                      "documents": len(texts),
                      **{str(k): shifts(analyzer, texts, k) for k in PREPENDED}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
