"""Hostile text, timed: ``python -m bench.text_limits``.

The timings behind tests/test_text_limits.py, which checks only what does not depend on a
machine's speed (the sentences handed to the model, the 504, nothing stored):

1. **A run of punctuation** ("=", "(", "_", "=(_"; 20,000 characters) through
   POST /api/v1/scans costs no more than ordinary prose of the same length, which the model
   classifies sentence by sentence (a run of "=" once kept a core busy for minutes inside
   spaCy). In process, through Flask's test client, on the real model (``--model-dir``,
   ``MODEL_DIR``, default models_cache); each figure is the best of ``--repeats``.
2. **A slow LLM** (the loopback fake, 0.4 s an answer, 500-character chunks) stops at the
   scan's deadline (LLM_SCAN_TIMEOUT_S = 1 s): the 504 comes within 3 × the deadline, not
   after chunks × LLM_TIMEOUT_S (5 s).

Only ratios in this one process count on a shared machine. Prints a table; the raw figures
go to ``bench/results.json`` under ``"text_limits"`` (its other keys are kept).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

LENGTH = 20_000
UNITS = ("=", "(", "_", "=(_")
RUN_TARGET = 1.0  # a run / prose of its length, at most
DEADLINE_S = 1.0
DEADLINE_TARGET = 3.0  # the 504's seconds / the deadline, at most


def best_scan_s(client, headers, text: str, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.post("/api/v1/scans", json={"text": text}, headers=headers)
        best = min(best, time.perf_counter() - started)
        assert response.status_code == 201, response.get_json()
    return best


def punctuation_runs(app, repeats: int) -> dict[str, float]:
    """Best seconds of a scan of prose and of each run, all LENGTH characters."""
    from bench.register import login
    from testkit.documents import PLAIN_SENTENCES, RISKY_SENTENCES

    client = app.test_client()
    headers = login(client, "bench-text@example.com")
    prose = " ".join(RISKY_SENTENCES + PLAIN_SENTENCES)
    prose = (prose * (LENGTH // len(prose) + 1))[:LENGTH]
    best_scan_s(client, headers, prose[:2000], 1)  # warm up
    seconds = {"prose": best_scan_s(client, headers, prose, repeats)}
    for unit in UNITS:
        seconds[unit] = best_scan_s(client, headers, (unit * LENGTH)[:LENGTH], repeats)
    return seconds


def slow_llm_deadline(workdir: Path, model_dir: str) -> float:
    """Seconds until the 504 of an LLM scan whose every call takes 0.4 s."""
    from flask_migrate import upgrade

    from bench.register import login, settings_env
    from service import create_app
    from service.config import Settings
    from testkit.llm_server import FakeLLMServer

    text = "\n\n".join(f"Supplier {i} may deliver the parts {i + 2} weeks late. " * 4
                       for i in range(12))
    with FakeLLMServer(risks={}) as llm:
        llm.behaviour, llm.slow_s = "slow", 0.4
        env = {**settings_env(workdir, model_dir), "DATABASE_URL":
               f"sqlite:///{workdir / 'llm.db'}", "MODEL_DIR": "off",
               "LLM_BASE_URL": llm.base_url, "LLM_MODEL": "m", "LLM_TIMEOUT_S": "5",
               "LLM_SCAN_TIMEOUT_S": str(DEADLINE_S), "LLM_CHUNK_CHARS": "500"}
        app = create_app(Settings.from_env(env))
        with app.app_context():
            upgrade()
        client = app.test_client()
        headers = login(client, "bench-llm@example.com")
        started = time.perf_counter()
        response = client.post("/api/v1/scans", json={"text": text, "force_llm": True},
                               headers=headers)
        elapsed = time.perf_counter() - started
    assert response.status_code == 504, response.get_json()
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.text_limits",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--model-dir", default=os.environ.get("MODEL_DIR") or "models_cache")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default="bench/results.json",
                        help="JSON file; its key 'text_limits' is replaced, the others kept")
    args = parser.parse_args(argv)

    from flask_migrate import upgrade

    from bench.register import settings_env
    from service import create_app
    from service.analysis.transformer import resolve_model_dir
    from service.config import Settings

    model_dir = str(resolve_model_dir(args.model_dir).resolve())
    with tempfile.TemporaryDirectory(prefix="riskscan-bench-text-") as tmp:
        workdir = Path(tmp)
        app = create_app(Settings.from_env(settings_env(workdir, model_dir)))
        with app.app_context():
            upgrade()
        runs = punctuation_runs(app, args.repeats)
        deadline_s = slow_llm_deadline(workdir, model_dir)

    output = Path(args.output)
    stored = {}
    with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
        stored = json.loads(output.read_text(encoding="utf-8"))
    stored["text_limits"] = {"length": LENGTH, "scan_s": runs, "llm_504_s": deadline_s,
                             "llm_scan_timeout_s": DEADLINE_S}
    output.write_text(json.dumps(stored, indent=2) + "\n", encoding="utf-8")

    def verdict(ok: bool) -> str:
        return "meets" if ok else "MISSES"

    print(f"Best of {args.repeats} scans of {LENGTH:,} characters each, model "
          f"{Path(model_dir).name}.\n")
    print("| what | measured | target | ratio | verdict |\n|---|---|---|---|---|")
    for unit in UNITS:
        ratio = runs[unit] / runs["prose"]
        print(f"| POST /api/v1/scans, a run of {unit!r} vs prose of its length | "
              f"{runs[unit] * 1000:.0f} vs {runs['prose'] * 1000:.0f} ms | ≤ {RUN_TARGET}× | "
              f"{ratio:.2f}× | {verdict(ratio <= RUN_TARGET)} |")
    ratio = deadline_s / DEADLINE_S
    print(f"| force_llm scan, LLM answering in 0.4 s: 504 vs LLM_SCAN_TIMEOUT_S | "
          f"{deadline_s:.2f} vs {DEADLINE_S:.0f} s | ≤ {DEADLINE_TARGET}× | {ratio:.2f}× | "
          f"{verdict(ratio <= DEADLINE_TARGET)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
