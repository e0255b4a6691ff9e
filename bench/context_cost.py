"""What reading context costs a scan: ``python -m bench.context_cost --model-dir DIR``.

Scans the real development documents (``ml/data/documents/dev.jsonl``) through
``TransformerAnalyzer.analyze``, the scan path, with the model reading each sentence with its
context and, on the same weights, reading it alone; the two alternate round by round (these
machines are shared and noisy) and the ratio of their medians is printed, with the tokens
per judged sentence that make the difference.
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


def tokens_per_sentence(analyzer, texts: list[str]) -> float:
    """Mean tokens per judged sentence, as the analyzer reads them."""
    from service.analysis.reading import judged

    lengths = []
    for text in texts:
        encoded = analyzer.input_mode.encode(analyzer.tokenizer, judged(text), analyzer.max_length)
        lengths.extend(len(ids) for ids in encoded["input_ids"])
    return statistics.fmean(lengths)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.context_cost",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True,
                        help="a model folder trained with context (or models_cache)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)

    from service.analysis.model_spec import IN_CONTEXT, SENTENCE, ModelSpec
    from service.analysis.transformer import TransformerAnalyzer

    analyzer = TransformerAnalyzer(args.model_dir)
    trained = analyzer.spec
    if trained.input_mode is not IN_CONTEXT:
        print(f"{analyzer.version} was trained without context: nothing to compare",
              file=sys.stderr)
        return 1
    texts = [document.text for document in read_documents(DOCUMENTS)]
    seconds: dict[bool, list[float]] = {True: [], False: []}
    tokens = {}
    readings = {True: trained, False: ModelSpec(SENTENCE, trained.max_length)}
    for reads_context in (True, False):
        analyzer.spec = readings[reads_context]
        tokens[reads_context] = tokens_per_sentence(analyzer, texts)
        analyzer.analyze(texts[0])  # warm-up
    for round_number in range(args.rounds):
        order = (True, False) if round_number % 2 == 0 else (False, True)
        for reads_context in order:
            analyzer.spec = readings[reads_context]
            started = time.perf_counter()
            for text in texts:
                analyzer.analyze(text)
            seconds[reads_context].append(time.perf_counter() - started)
    analyzer.spec = trained
    with_context, alone = (statistics.median(seconds[flag]) for flag in (True, False))
    print(f"{analyzer.version}, {len(texts)} documents, {args.rounds} rounds each")
    print(f"tokens per judged sentence: {tokens[True]:.1f} with context, "
          f"{tokens[False]:.1f} alone ({tokens[True] / tokens[False]:.2f}x)")
    print(f"documents/s: {len(texts) / with_context:.2f} with context, "
          f"{len(texts) / alone:.2f} alone: throughput {alone / with_context:.2f}x of alone")
    return 0


if __name__ == "__main__":
    sys.exit(main())
