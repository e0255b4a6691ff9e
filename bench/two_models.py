"""Two model folders' documents/s through the scan path's analyzer, in one process:
``python -m bench.two_models models_cache/A models_cache/B [--documents 40] [--rounds 5]``.

Why: a retraining that keeps the architecture (a new corpus, new targets) should keep the
throughput too (issue #73's target: "within the noise of today's"); the way to show it on
these shared machines is a ratio of alternating rounds, not two figures from two runs. Each
round reads the first ``--documents`` test documents (ml/data/documents/test.jsonl) with
each model in turn, the order flipped every round; the median of B's seconds over A's is A's
documents/s over B's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

# service.analysis first: it sets OMP_WAIT_POLICY before torch loads OpenMP (see there).
from service.analysis.transformer import TransformerAnalyzer  # isort: skip

from bench.results import record

DOCUMENTS = Path(__file__).resolve().parent.parent / "ml" / "data" / "documents" / "test.jsonl"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m bench.two_models",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path)
    parser.add_argument("b", type=Path)
    parser.add_argument("--documents", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    lines = DOCUMENTS.read_text(encoding="utf-8").splitlines()[:args.documents]
    texts = [json.loads(line)["text"] for line in lines]
    models = {"a": TransformerAnalyzer(args.a), "b": TransformerAnalyzer(args.b)}
    for model in models.values():
        model.analyze(texts[0])  # warm: the first call builds what later ones reuse
    ratios, rates = [], {"a": [], "b": []}
    for round_ in range(args.rounds):
        seconds = {}
        for name in (("a", "b") if round_ % 2 == 0 else ("b", "a")):
            start = time.perf_counter()
            for text in texts:
                models[name].analyze(text)
            seconds[name] = time.perf_counter() - start
            rates[name].append(len(texts) / seconds[name])
        ratios.append(seconds["b"] / seconds["a"])
    figures = {"a": args.a.name, "b": args.b.name, "documents": len(texts),
               "documents_per_s": {args.a.name: round(statistics.median(rates["a"]), 2),
                                   args.b.name: round(statistics.median(rates["b"]), 2)},
               "a_over_b": round(statistics.median(ratios), 3),
               "rounds": [round(ratio, 3) for ratio in ratios]}
    print(f"{args.a.name} reads {figures['a_over_b']}× the documents/s of {args.b.name} "
          f"(median of {args.rounds} rounds: {', '.join(map(str, figures['rounds']))}); "
          f"documents/s {figures['documents_per_s']}")
    record("two_models", figures)
    return figures


if __name__ == "__main__":
    main()
