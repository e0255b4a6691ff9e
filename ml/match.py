"""How well the risk register tells the same risk from a different one, and at what threshold.

    python -m ml.match                      # the register's encoder, dev and test
    python -m ml.match --encoder models_cache/<version>   # any encoder folder, to compare

Reads ``ml/data/register/pairs.jsonl`` (labelled same-risk / different-risk pairs, each
with the categories of its two sentences; ``ml/data/README.md``) and decides each pair as
the register would (service/projects/register/entries.py): the same risk when the two categories
are equal and the cosine of their embeddings reaches the threshold. Chooses the threshold
on ``dev`` for the best F1 of "same" and reports precision and recall of matching on
``test`` at it. A wrong match hides a risk inside another entry; a missed one shows a risk
twice: F1 weighs the two alike.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ml.jsonl import records
from service.analysis.embedding import SentenceEncoder

PAIRS = Path(__file__).resolve().parent / "data" / "register" / "pairs.jsonl"


def similarities(encoder: SentenceEncoder, pairs: list[dict]) -> np.ndarray:
    a = encoder.embed([pair["a"] for pair in pairs])
    b = encoder.embed([pair["b"] for pair in pairs])
    return (a * b).sum(axis=1)


def scores(pairs: list[dict], cosine: np.ndarray, threshold: float) -> dict:
    same = np.array([pair["relation"] == "same" for pair in pairs])
    category = np.array([pair["category_a"] == pair["category_b"] for pair in pairs])
    matched = category & (cosine >= threshold)
    hits = int((matched & same).sum())
    precision = hits / int(matched.sum()) if matched.any() else 1.0
    recall = hits / int(same.sum()) if same.any() else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"threshold": round(threshold, 2), "precision": round(precision, 3),
            "recall": round(recall, 3), "f1": round(f1, 3), "pairs": len(pairs),
            "same": int(same.sum())}


def choose(pairs: list[dict], cosine: np.ndarray) -> dict:
    """The threshold (0.30 … 0.95, by 0.01) with the best F1 on ``pairs``; the higher one on
    a tie (a wrong match costs a user more than a duplicate)."""
    best = None
    for threshold in np.arange(0.30, 0.951, 0.01):
        result = scores(pairs, cosine, float(threshold))
        if best is None or result["f1"] >= best["f1"]:
            best = result
    return best


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=Path, default=PAIRS)
    parser.add_argument("--encoder", type=Path, default=None,
                        help="an encoder folder (default: the register's, all-MiniLM-L6-v2)")
    parser.add_argument("--runtime", default=None, choices=("onnx-int8", "onnx", "torch"),
                        help="how the encoder runs (default: as the service on the CPU)")
    parser.add_argument("--threshold", type=float, default=None,
                        help="measure at this threshold instead of choosing one on dev")
    args = parser.parse_args(argv)
    pairs = [pair for _, pair in records(args.pairs, ValueError)]
    encoder = SentenceEncoder(args.encoder, runtime=args.runtime)
    split = {name: [pair for pair in pairs if pair["split"] == name] for name in ("dev", "test")}
    cosine = {name: similarities(encoder, rows) for name, rows in split.items()}
    dev = (scores(split["dev"], cosine["dev"], args.threshold) if args.threshold is not None
           else choose(split["dev"], cosine["dev"]))
    report = {"encoder": encoder.name, "runtime": encoder.runtime, "dev": dev,
              "test": scores(split["test"], cosine["test"], dev["threshold"])}
    kinds = sorted({pair["kind"] for pair in split["test"]})
    report["test_by_kind"] = {}
    for kind in kinds:
        rows = [i for i, pair in enumerate(split["test"]) if pair["kind"] == kind]
        decided = cosine["test"][rows] >= dev["threshold"]
        same_category = np.array([split["test"][i]["category_a"] == split["test"][i]["category_b"]
                                  for i in rows])
        report["test_by_kind"][kind] = {"pairs": len(rows),
                                        "matched": int((decided & same_category).sum())}
    print(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
