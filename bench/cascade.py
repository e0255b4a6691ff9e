"""The cascade's cost as a user meets it: documents/s through the HTTP API of a service with
the reader against one without, per genre of the test documents.

    python -m bench.cascade [--model-dir models_cache] [--reader auto] [--rounds 3]

Two ``python -m service`` processes (bench/http.py) serve the same fast model, one with
READER_DIR set and one with it off; each genre's documents are sent to them one after
another as ``POST /api/v1/scans``, the services taking turns round by round, so that the
route, the storage and waitress are in what is measured and a neighbour's load falls on
both alike. The share of sentences the screen passes to the reader is read per genre from
the cascade service's own ``riskscan_cascade_sentences_total`` (its /metrics).

The genres are the test documents' (``ml/data/documents/test.jsonl``): the 42's six, the 46
other foundations' quarterly reports and the 47 status updates. The figure reported is the
lowest genre's ratio, beside the mean: a short-lined genre passes more of its sentences to
the reader than a long-sentenced one, and a user's documents are of one genre at a time.
Without a reader it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DOCUMENTS = Path(__file__).resolve().parent.parent / "ml" / "data" / "documents" / "test.jsonl"
COUNTER = re.compile(r'^riskscan_cascade_sentences_total\{stage="(passed|screened)"\} (\S+)$',
                     re.MULTILINE)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def genres(limit: int | None = None) -> dict[str, list[str]]:
    """The test documents' texts by genre: the 42's by their own genre, then the 46 other
    foundations' and the 47 status updates' (ml.scorecard.SETS says which is which)."""
    from ml.documents import read_documents
    from ml.scorecard import SETS

    grouped: dict[str, list[str]] = {}
    for document in read_documents(DOCUMENTS):
        if SETS["42"](document):
            name = f"42: {document.genre}"
        else:
            name = next(name for name in ("46 other foundations", "47 status updates")
                        if SETS[name](document))
        grouped.setdefault(name, []).append(document.text)
    return {name: texts[:limit] for name, texts in grouped.items()}


def cascade_counts(url: str) -> tuple[float, float]:
    """(screened, passed) sentences so far, from the service's /metrics."""
    found = dict(COUNTER.findall(requests.get(f"{url}/metrics", timeout=30).text))
    return float(found.get("screened", 0)), float(found.get("passed", 0))


def has_reader(model_dir: str, reader: str) -> bool:
    from service.config import Settings
    from service.serving.loading import load_model

    settings = Settings.from_env({}, MODEL_DIR=model_dir, READER_DIR=reader,
                                 RISKSCAN_ENV="development")
    model, error = load_model(settings)
    if model is None:
        raise SystemExit(f"no model: {error}")
    from service.analysis.cascade_model import Cascade

    return isinstance(model, Cascade)


def run(model_dir: str, reader: str, *, rounds: int = 3, per_genre: int | None = None) -> dict:
    from bench.http import memory_mb, service, token

    grouped = genres(per_genre)
    log(f"cascade through the API: {sum(map(len, grouped.values()))} documents in "
        f"{len(grouped)} genres, {rounds} rounds, reader {reader} against none")
    results: dict = {"genres": {}}
    with tempfile.TemporaryDirectory(prefix="riskscan-bench-cascade-") as tmp:
        servers = {}
        try:
            for name, reader_dir in (("fast", "off"), ("cascade", reader)):
                servers[name] = service(model_dir, Path(tmp) / name, READER_DIR=reader_dir)
            headers = {name: {"Authorization": f"Bearer {token(server.url, 'b@example.com')}"}
                       for name, server in servers.items()}

            def scan_all(name: str, texts: list[str]) -> float:
                session, url = requests.Session(), servers[name].url
                started = time.perf_counter()
                for text in texts:
                    session.post(f"{url}/api/v1/scans", headers=headers[name], timeout=600,
                                 json={"text": text}).raise_for_status()
                return len(texts) / (time.perf_counter() - started)

            first = next(iter(grouped.values()))[:2]
            for name in servers:  # the first forward passes of each shape are slower
                scan_all(name, first)
            for genre, texts in grouped.items():
                rates: dict[str, list[float]] = {"fast": [], "cascade": []}
                before = cascade_counts(servers["cascade"].url)
                for round_ in range(rounds):
                    for name in ("fast", "cascade")[::-1 if round_ % 2 else 1]:
                        rates[name].append(scan_all(name, texts))
                screened, passed = (after - was for after, was in
                                    zip(cascade_counts(servers["cascade"].url), before))
                fast, cascade = (statistics.median(rates[name]) for name in rates)
                results["genres"][genre] = {
                    "documents": len(texts), "documents_per_s": {
                        "fast": round(fast, 3), "cascade": round(cascade, 3)},
                    "ratio": round(cascade / fast, 3),
                    "passed_share": round(passed / screened, 4) if screened else None}
                log(f"  {genre}: {results['genres'][genre]}")
            results["memory_mb"] = {name: memory_mb(server.process.pid)
                                    for name, server in servers.items()}
        finally:
            for server in servers.values():
                server.stop()
    ratios = {genre: measured["ratio"] for genre, measured in results["genres"].items()}
    lowest = min(ratios, key=ratios.get)
    results.update(lowest={"genre": lowest, "ratio": ratios[lowest]},
                   mean_ratio=round(statistics.mean(ratios.values()), 3))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cascade",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", default=os.environ.get("MODEL_DIR") or "models_cache")
    parser.add_argument("--reader", default=os.environ.get("READER_DIR") or "auto",
                        help="the reader (default: the one models_cache/reader names)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-genre", type=int, default=None,
                        help="at most this many documents of each genre (default: all)")
    args = parser.parse_args(argv)
    if not has_reader(args.model_dir, args.reader):
        log("cascade: no reader (make reader trains one); nothing to measure")
        return 0
    result = run(args.model_dir, args.reader, rounds=args.rounds, per_genre=args.per_genre)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
