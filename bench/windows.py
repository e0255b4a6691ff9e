"""What reading the document in windows costs a scan against reading each sentence with its
context: ``python -m bench.windows --model-dir WINDOW_MODEL --baseline CONTEXT_MODEL``.

Scans the real development documents (``ml/data/documents/dev.jsonl``) through
``TransformerAnalyzer.analyze``, the scan path, with each model in ONNX Runtime as served;
the two alternate round by round (these machines are shared and noisy) and the ratio of
their medians is printed, with the tokens each model reads per judged sentence (encoder
positions, padding left out) that make the difference. The goal: the window model at
1.3× the baseline's documents/s or more (issue #60).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from ml.documents import read_documents

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = REPO_ROOT / "ml" / "data" / "documents" / "dev.jsonl"


def tokens_read(analyzer, texts: list[str]) -> int:
    """The encoder positions a scan of ``texts`` fills, padding left out."""
    counted = []
    forward = analyzer._forward

    def counting(batch):
        counted.append(int(batch["attention_mask"].sum()))
        return forward(batch)

    analyzer._forward = counting
    try:
        for text in texts:
            analyzer.analyze(text)
    finally:
        del analyzer._forward
    return sum(counted)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.windows",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True, help="a window model's folder")
    parser.add_argument("--baseline", type=Path, required=True,
                        help="a model folder that reads a sentence with its context")
    parser.add_argument("--documents", type=Path, default=DOCUMENTS)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)

    from service.analysis.reading import judged
    from service.analysis.transformer import TransformerAnalyzer

    models = {"window": TransformerAnalyzer(args.model_dir),
              "baseline": TransformerAnalyzer(args.baseline)}
    if models["window"].reads != "window":
        print(f"{models['window'].version} reads {models['window'].reads}, not windows",
              file=sys.stderr)
        return 1
    texts = [document.text for document in read_documents(args.documents)]
    sentences = sum(len(judged(text)) for text in texts)
    tokens = {name: tokens_read(model, texts) / sentences for name, model in models.items()}
    seconds: dict[str, list[float]] = {name: [] for name in models}
    for round_number in range(args.rounds):
        order = list(models) if round_number % 2 == 0 else list(reversed(models))
        for name in order:
            started = time.perf_counter()
            for text in texts:
                models[name].analyze(text)
            seconds[name].append(time.perf_counter() - started)
    median = {name: statistics.median(values) for name, values in seconds.items()}
    print(f"{models['window'].version} against {models['baseline'].version}: {len(texts)} "
          f"documents, {sentences} judged sentences, {args.rounds} rounds each")
    print(f"tokens per judged sentence: {tokens['window']:.1f} in windows, "
          f"{tokens['baseline']:.1f} with context ({tokens['window'] / tokens['baseline']:.2f}x)")
    print(f"documents/s: {len(texts) / median['window']:.2f} in windows, "
          f"{len(texts) / median['baseline']:.2f} with context: "
          f"{median['baseline'] / median['window']:.2f}x the baseline")
    return 0


if __name__ == "__main__":
    sys.exit(main())
