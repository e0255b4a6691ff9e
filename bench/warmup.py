"""The first burst after a start: ``python -m bench.warmup --model-dir DIR`` (``make bench``).

From a cold start, as a load balancer sees one: ``python -m service`` is started, and the
clock waits for ``/ready`` (so the seconds to /ready are measured too). 16 users are
registered, then each sends one scan of 2–6 sentences of ml/data/test.jsonl at the same
moment (**the first burst**), then all 16 scan back to back for 30 s (**warm**). Reported:
p50 and p99 of each; the target is the first burst's p99 at most 1.5× the warm p99.

The baseline is the same service with its warm-up skipped (bench/cold_service.py: ready as
soon as the model is loaded, the register's encoder loading beside the first scans), started
and measured the same way in the same run, one service at a time. The clients share the
cores with the service. Prints a table; the raw figures go to ``bench/results.json`` under
``"warmup"`` (its other keys are kept). About 3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench import http
from bench.classify import sentences

USERS = 16
WARM_SECONDS = 30.0
TARGET = 1.5  # the first burst's p99 against the warm p99, at most
SERVICES = {"warm-up skipped (baseline)": "bench.cold_service", "warm-up": "service"}


def scans(count: int, seed: int = 42) -> list[str]:
    """``count`` texts of 2 to 6 sentences of the test split."""
    pool = sentences()
    rng = random.Random(seed)
    return [" ".join(rng.sample(pool, rng.randint(2, 6))) for _ in range(count)]


def burst(url: str, tokens: list[str], texts: list[str]) -> list[float]:
    """Latencies of one scan per user, all sent at once (a barrier releases them)."""
    latencies: list[float] = [0.0] * len(tokens)
    failures: list[str] = []
    start_line = threading.Barrier(len(tokens))

    def client(index: int) -> None:
        start_line.wait()
        started = time.perf_counter()
        response = requests.post(f"{url}/api/v1/scans", json={"text": texts[index]},
                                 headers={"Authorization": f"Bearer {tokens[index]}"},
                                 timeout=120)
        latencies[index] = time.perf_counter() - started
        if response.status_code != 201:
            failures.append(f"{response.status_code}: {response.text[:200]}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(tokens))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"first burst failed: {failures[:3]}")
    return latencies


def measure(model_dir: str, module: str, workdir: Path, log) -> dict:
    server = http.service(model_dir, workdir, module=module)
    try:
        log(f"warm-up bench: {module} ready in {server.ready_s:.1f} s")
        tokens = [http.token(server.url, f"bench-burst-{i}@example.com") for i in range(USERS)]
        texts = scans(USERS + 200)
        first = burst(server.url, tokens, texts[:USERS])
        headers = [{"Authorization": f"Bearer {token}"} for token in tokens]

        def request(session, i):
            user = i // 100_000  # bench.http.load numbers each client's requests so
            return session.post(f"{server.url}/api/v1/scans", headers=headers[user],
                                json={"text": texts[USERS + i % 200]}, timeout=120)

        count, _, warm = http.load(USERS, WARM_SECONDS, request)
        return {
            "ready_s": server.ready_s,
            "first_burst": {"p50_s": http.percentile(first, 50),
                            "p99_s": http.percentile(first, 99), "scans": len(first)},
            "warm": {"p50_s": http.percentile(warm, 50), "p99_s": http.percentile(warm, 99),
                     "scans": count},
        }
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.warmup")
    parser.add_argument("--model-dir", default=os.environ.get("MODEL_DIR") or "models_cache")
    parser.add_argument("--output", default="bench/results.json")
    args = parser.parse_args()
    from service.analysis.transformer import resolve_model_dir

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    model_dir = str(resolve_model_dir(args.model_dir).resolve())
    results = {}
    with tempfile.TemporaryDirectory(prefix="riskscan-bench-warmup-") as tmp:
        for name, module in SERVICES.items():
            results[name] = measure(model_dir, module, Path(tmp) / module, log)
            log(f"  {name}: {json.dumps(results[name])}")

    output = Path(args.output)
    kept = json.loads(output.read_text()) if output.is_file() else {}
    output.write_text(json.dumps({**kept, "warmup": results}, indent=2) + "\n")
    print(f"{USERS} users, scans of 2–6 sentences, model {Path(model_dir).name}, "
          f"{os.cpu_count()} cores.\n")
    print("| service | to /ready | first burst p50 / p99 | warm p50 / p99 (scans) | "
          f"first p99 / warm p99 (target ≤ {TARGET}×) |\n|---|---|---|---|---|")
    for name, figures in results.items():
        first, warm = figures["first_burst"], figures["warm"]
        print(f"| {name} | {figures['ready_s']:.1f} s | {first['p50_s'] * 1000:.0f} / "
              f"{first['p99_s'] * 1000:.0f} ms | {warm['p50_s'] * 1000:.0f} / "
              f"{warm['p99_s'] * 1000:.0f} ms ({warm['scans']}) | "
              f"{first['p99_s'] / warm['p99_s']:.2f}× |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
