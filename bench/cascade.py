"""The cascade's cost: documents/s of the fast model alone against the fast model and its
reader, alternating in one process, on real reports; and the p50 latency of a 40-sentence one.

    python -m bench.cascade [--model-dir models_cache] [--reader models_cache/<version>]

Both analyzers are built by the service's own loader (service/serving/) from the same
settings but READER_DIR, so that what is measured is what is served (the reader in int8 on
the CPU). The documents are the quarterly project reports and status updates of
``ml/data/documents/test.jsonl`` (the genres the cascade is for); the share of their
sentences the screen passes on is reported beside the ratio. The issue's target: the
cascade at ≥ 0.5× the fast model's documents/s on 2 cores. Without a reader it says so and
exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DOCUMENTS = Path(__file__).resolve().parent.parent / "ml" / "data" / "documents" / "test.jsonl"
GENRES = ("project-report", "status-update")
REPORT_SENTENCES = 40


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def reports(limit: int) -> list[str]:
    """The texts of the first ``limit`` test documents of GENRES."""
    texts = []
    for line in DOCUMENTS.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record.get("genre") in GENRES:
            texts.append(record["text"])
    return texts[:limit]


def report_of(texts: list[str], sentences: int = REPORT_SENTENCES) -> str:
    """A report of ``sentences`` sentences: the first text that has as many, cut after them."""
    from service.analysis.segment import split_sentences

    for text in texts:
        found = split_sentences(text)
        if len(found) >= sentences:
            return text[:found[sentences - 1].end]
    raise SystemExit(f"no test document of {GENRES} has {sentences} sentences")


def analyzer(model_dir: str, reader: str):
    from service.config import Settings
    from service.serving.loading import load_model

    settings = Settings.from_env({}, MODEL_DIR=model_dir, READER_DIR=reader,
                                 RISKSCAN_ENV="development")
    model, error = load_model(settings)
    if model is None:
        raise SystemExit(f"no model: {error}")
    return model


def run(model_dir: str, reader: str, *, documents: int = 24, rounds: int = 3,
        latency_runs: int = 15) -> dict:
    texts = reports(documents)
    fast, cascade = analyzer(model_dir, "off"), analyzer(model_dir, reader)
    log(f"cascade: {fast.version} alone against {cascade.version}, {len(texts)} reports of "
        f"{', '.join(GENRES)}, {rounds} alternating rounds")
    for text in texts[:2]:  # the first forward passes of each shape are slower
        fast.analyze(text)
        cascade.analyze(text)
    cascade.passed = cascade.screened = 0
    rates: dict[str, list[float]] = {"fast": [], "cascade": []}
    for _ in range(rounds):
        for name, model in (("fast", fast), ("cascade", cascade)):
            started = time.perf_counter()
            for text in texts:
                model.analyze(text)
            rates[name].append(len(texts) / (time.perf_counter() - started))
    passed = cascade.passed / cascade.screened if cascade.screened else None
    report = report_of(texts)
    latency: dict[str, list[float]] = {"fast": [], "cascade": []}
    for _ in range(latency_runs):
        for name, model in (("fast", fast), ("cascade", cascade)):
            started = time.perf_counter()
            model.analyze(report)
            latency[name].append((time.perf_counter() - started) * 1000)
    fast_rate, cascade_rate = (statistics.median(rates[name]) for name in ("fast", "cascade"))
    return {"fast_version": fast.version, "cascade_version": cascade.version,
            "screen": cascade.threshold, "documents": len(texts),
            "documents_per_s": {"fast": round(fast_rate, 2), "cascade": round(cascade_rate, 2)},
            "ratio": round(cascade_rate / fast_rate, 3),
            "passed_share": None if passed is None else round(passed, 4),
            f"p50_ms_{REPORT_SENTENCES}_sentences": {
                name: round(statistics.median(values), 1) for name, values in latency.items()}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cascade",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", default=os.environ.get("MODEL_DIR") or "models_cache")
    parser.add_argument("--reader", default=os.environ.get("READER_DIR") or "auto",
                        help="the reader (default: the one models_cache/reader names)")
    parser.add_argument("--documents", type=int, default=24)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    from service.analysis.cascade import Cascade

    if not isinstance(analyzer(args.model_dir, args.reader), Cascade):
        log("cascade: no reader (make reader trains one); nothing to measure")
        return 0
    result = run(args.model_dir, args.reader, documents=args.documents, rounds=args.rounds)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
