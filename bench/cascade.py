"""The cascade's cost as a user meets it: documents/s through the HTTP API of a service with
the reader against one without, per genre of the test documents.

    python -m bench.cascade [--model-dir models_cache] [--reader auto] [--rounds 3]

Two ``python -m service`` processes (bench/http.py) serve the same fast model, one with
READER_DIR set and one with it off; each genre's documents are sent to them one after
another as ``POST /api/v1/scans``, the services taking turns round by round, so that the
route, the storage and waitress are in what is measured and a neighbour's load falls on
both alike. The shares of sentences the screen passes to the reader and the reader reads
are read per genre from the cascade service's own ``riskscan_cascade_sentences_total`` (its
/metrics). Where the cascade reads within a reading budget (READER_BUDGET), another service
serves it without one, and where the reader's screen has a threshold per document shape,
another at its one threshold (READER_SCREEN), measured in the same rounds.

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
COUNTER = re.compile(r'^riskscan_cascade_sentences_total\{stage="(\w+)"\} (\S+)$',
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


def cascade_counts(url: str) -> tuple[float, float, float]:
    """(screened, passed, read) sentences so far, from the service's /metrics."""
    found = dict(COUNTER.findall(requests.get(f"{url}/metrics", timeout=30).text))
    return tuple(float(found.get(stage, 0)) for stage in ("screened", "passed", "read"))


def served(model_dir: str, reader: str, budget: str | None = None):
    """The model the service would serve with ``READER_DIR=reader`` (``off``: the fast one)
    and ``READER_BUDGET=budget`` (None: its default)."""
    from service.config import Settings
    from service.serving.loading import load_model

    settings = Settings.from_env({} if budget is None else {"READER_BUDGET": budget},
                                 MODEL_DIR=model_dir, READER_DIR=reader,
                                 RISKSCAN_ENV="development")
    model, error = load_model(settings)
    if model is None:
        raise SystemExit(f"no model: {error}")
    return model


def screen_of(model_dir: str, reader: str, budget: str | None = None
              ) -> tuple[float, dict[str, float], float | None] | None:
    """The served cascade's screen and budget, (threshold, {shape: threshold}, budget); None
    without a reader."""
    from service.analysis.cascade_model import Cascade

    model = served(model_dir, reader, budget)
    return (model.threshold, model.shapes, model.budget) if isinstance(model, Cascade) else None


#: The names of the cascade served at its one threshold, beside its shapes, and without its
#: reading budget.
ONE_THRESHOLD, NO_BUDGET = "one threshold", "no budget"


def variants(reader: str, screen: tuple) -> dict[str, dict[str, str]]:
    """The settings each service starts with, beside the model: the fast model alone, the
    cascade as served and, where it reads within a budget, the cascade without one
    (READER_BUDGET=off); where the reader's screen has a threshold per document shape, the
    cascade at its one threshold (READER_SCREEN). So each one's gain is read in the same run."""
    threshold, shapes, budget = screen
    cascade = {"READER_DIR": reader, "READER_BUDGET": "off" if budget is None else str(budget)}
    started = {"fast": {"READER_DIR": "off"}, "cascade": cascade}
    if budget is not None:
        started[NO_BUDGET] = {**cascade, "READER_BUDGET": "off"}
    if shapes:
        started[ONE_THRESHOLD] = {**cascade, "READER_SCREEN": str(threshold)}
    return started


def run(model_dir: str, reader: str, *, rounds: int = 3, per_genre: int | None = None,
        screen: tuple = (0.0, {}, None)) -> dict:
    from bench.http import memory_mb, service, token

    grouped = genres(per_genre)
    started = variants(reader, screen)
    log(f"cascade through the API: {sum(map(len, grouped.values()))} documents in "
        f"{len(grouped)} genres, {rounds} rounds, reader {reader} against none"
        + "".join(f" (and {name})" for name in (NO_BUDGET, ONE_THRESHOLD) if name in started))
    results: dict = {"screen": {"threshold": screen[0], "shapes": screen[1]},
                     "budget": screen[2], "genres": {}}
    with tempfile.TemporaryDirectory(prefix="riskscan-bench-cascade-") as tmp:
        servers = {}
        try:
            for index, (name, settings) in enumerate(started.items()):
                servers[name] = service(model_dir, Path(tmp) / str(index), **settings)
            headers = {name: {"Authorization": f"Bearer {token(server.url, 'b@example.com')}"}
                       for name, server in servers.items()}

            def scan_all(name: str, texts: list[str]) -> float:
                session, url = requests.Session(), servers[name].url
                began = time.perf_counter()
                for text in texts:
                    session.post(f"{url}/api/v1/scans", headers=headers[name], timeout=600,
                                 json={"text": text}).raise_for_status()
                return len(texts) / (time.perf_counter() - began)

            first = next(iter(grouped.values()))[:2]
            for name in servers:  # the first forward passes of each shape are slower
                scan_all(name, first)
            cascades = [name for name in servers if name != "fast"]
            for genre, texts in grouped.items():
                rates: dict[str, list[float]] = {name: [] for name in servers}
                before = {name: cascade_counts(servers[name].url) for name in cascades}
                for round_ in range(rounds):  # each round in another order
                    names = list(servers)
                    for name in names[round_ % len(names):] + names[:round_ % len(names)]:
                        rates[name].append(scan_all(name, texts))
                median = {name: statistics.median(rates[name]) for name in servers}
                measured = {"documents": len(texts), "documents_per_s": {
                    name: round(rate, 3) for name, rate in median.items()}}
                for name in cascades:
                    screened, passed, read = (after - was for after, was in
                                              zip(cascade_counts(servers[name].url), before[name]))
                    suffix = "" if name == "cascade" else "_" + name.replace(" ", "_")
                    measured["ratio" + suffix] = round(median[name] / median["fast"], 3)
                    for share, count in (("passed_share", passed), ("read_share", read)):
                        measured[share + suffix] = round(count / screened, 4) if screened else None
                results["genres"][genre] = measured
                log(f"  {genre}: {measured}")
            results["memory_mb"] = {name: memory_mb(server.process.pid)
                                    for name, server in servers.items()}
        finally:
            for server in servers.values():
                server.stop()
    results.update(summary(results["genres"], "ratio"))
    for name in (NO_BUDGET, ONE_THRESHOLD):
        if name in started:
            results[name] = summary(results["genres"], "ratio_" + name.replace(" ", "_"))
    return results


def summary(measured: dict, key: str) -> dict:
    """The lowest genre's ratio and the mean of all genres' ``key``."""
    ratios = {genre: figures[key] for genre, figures in measured.items()}
    lowest = min(ratios, key=ratios.get)
    return {"lowest": {"genre": lowest, "ratio": ratios[lowest]},
            "mean_ratio": round(statistics.mean(ratios.values()), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cascade",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", default=os.environ.get("MODEL_DIR") or "models_cache")
    parser.add_argument("--reader", default=os.environ.get("READER_DIR") or "auto",
                        help="the reader (default: the one models_cache/reader names)")
    parser.add_argument("--budget", default=os.environ.get("READER_BUDGET"),
                        help="the cascade's READER_BUDGET (default: the service's)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-genre", type=int, default=None,
                        help="at most this many documents of each genre (default: all)")
    args = parser.parse_args(argv)
    screen = screen_of(args.model_dir, args.reader, args.budget)
    if screen is None:
        log("cascade: no reader (make reader trains one); nothing to measure")
        return 0
    result = run(args.model_dir, args.reader, rounds=args.rounds, per_genre=args.per_genre,
                 screen=screen)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
