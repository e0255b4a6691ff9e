"""What a reader of fewer layers would cost (issue #83 item 3): the cascade in process, by
genre of the test documents, with the reader cut to its first N encoder layers, against the
fast model alone, in one process.

    python -m bench.reader_layers --model-dir ROOT --reader DIR [--layers 12,6,4]
                                  [--rounds 2] [--per-genre 3]

A cut reader reads badly (its last layers and its head no longer fit), but it costs what a
reader of N layers trained or distilled to that depth would: the same graph, int8 as served,
and the screen unchanged, so the same sentences pass. So this answers, before any training,
how deep a smaller reader may be for the cascade to cost at most half the fast model's time
on every genre. Beside the cut ones (int8 in every weight product; N = the reader's own
depth is the whole reader so), the reader as served, its checked int8 graph (which keeps
the weight products in fp32 that int8 would change its labels in). The figure is the ratio
of documents/s, cascade against fast model, per genre (median of the rounds, the variants
taking turns), and each variant's added time as a share of the served reader's (``added``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from bench.cascade import genres, log, served
from service.analysis.model_folder import (
    CALIBRATION_JSON,
    LABELS_JSON,
    METRICS_JSON,
    SCREEN_JSON,
    TOKENIZER_CONFIG_JSON,
    TOKENIZER_JSON,
    TRAINING_JSON,
)

SERVED = "as served"  # the reader's own folder and int8 graph
KEPT = (TOKENIZER_JSON, TOKENIZER_CONFIG_JSON, LABELS_JSON, CALIBRATION_JSON, TRAINING_JSON,
        SCREEN_JSON, METRICS_JSON)


def cut(reader: Path, layers: int, into: Path) -> Path:
    """A copy of ``reader`` with its first ``layers`` encoder layers, its fp32 and int8
    graphs written as the reader's own are."""
    from service.analysis.onnx_model import save_int8  # isort: skip
    from transformers import AutoModelForSequenceClassification

    from ml.export import write_onnx

    model = AutoModelForSequenceClassification.from_pretrained(
        reader, local_files_only=True, num_hidden_layers=layers)
    model.save_pretrained(into)
    for name in KEPT:
        if (reader / name).is_file():
            shutil.copy2(reader / name, into / name)
    write_onnx(into)
    save_int8(into, fp32_layers=0)
    return into


def timed(model, texts: list[str]) -> float:
    started = time.perf_counter()
    for text in texts:
        model.analyze(text)
    return time.perf_counter() - started


def run(model_dir: str, reader: Path, layers: list[int], *, rounds: int,
        per_genre: int | None) -> dict:
    grouped = genres(per_genre)
    with tempfile.TemporaryDirectory(prefix="riskscan-layers-") as tmp:
        folders = {SERVED: str(reader), **{str(n): str(cut(reader, n, Path(tmp) / f"L{n}"))
                                           for n in layers}}
        models = {"fast": served(model_dir, "off"),
                  **{name: served(model_dir, folder) for name, folder in folders.items()}}
        products = {name: _products(model) for name, model in models.items() if name != "fast"}
        for model in models.values():  # warmed up: the first call loads the kernels
            model.analyze(next(iter(grouped.values()))[0])
        seconds = {name: {genre: [] for genre in grouped} for name in models}
        for round_ in range(rounds):
            order = list(models) if round_ % 2 == 0 else list(models)[::-1]
            for genre, texts in grouped.items():
                for name in order:
                    seconds[name][genre].append(timed(models[name], texts))
            log(f"round {round_ + 1}/{rounds} done")
    median = {name: {genre: statistics.median(values) for genre, values in by_genre.items()}
              for name, by_genre in seconds.items()}
    fast = median.pop("fast")
    full = sum(median[SERVED][g] - fast[g] for g in grouped)
    return {"ratios": {name: {g: round(fast[g] / mine[g], 3) for g in grouped}
                       for name, mine in median.items()},
            "added": {name: round(sum(mine[g] - fast[g] for g in grouped) / full, 3)
                      for name, mine in median.items()},
            "weight_products": products,
            "documents": {g: len(t) for g, t in grouped.items()}}


def _products(model) -> dict[str, int]:
    """The reader's weight products in int8 and kept in fp32 (OnnxModel's counts)."""
    reader = getattr(model.reader, "analyzer", model.reader)  # behind its batcher
    return {"int8": reader.model.int8_matmuls, "fp32": reader.model.fp32_matmuls}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.reader_layers",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", required=True, help="the models root (its fast model)")
    parser.add_argument("--reader", required=True, help="the reader's folder, fitted to it")
    parser.add_argument("--layers", default="12,6,4")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--per-genre", type=int, default=3)
    args = parser.parse_args(argv)
    result = run(args.model_dir, Path(args.reader), [int(n) for n in args.layers.split(",")],
                 rounds=args.rounds, per_genre=args.per_genre)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
