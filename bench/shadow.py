"""What a shadow trial costs the scans: ``python -m bench.shadow --model-dir DIR``.

In one process, on a SQLite database and the models root of bench/activation.py (v1
serves, v2 is the candidate: the same model, so the same cost a retrained one has): a
shadow trial of v2 is started, then one client scans a status report sequentially, in
alternating blocks without the shadow reading (sample rate 0) and with it at the sample
rate (default: the documented one, service/serving/trials.py). The reader's queue is drained
between blocks, so that no block pays for the one before. Reported: the p50 latency of a
scan (the API's answer, ms) without and with, and their ratio (the target is ≤ 1.1×),
with the scans read and skipped. The raw figures go to ``bench/results.json`` under
``"shadow"`` (its other keys are kept).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.activation import admin_app, models_root
from bench.results import record

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TEXT = """# Weekly status: data platform migration

The team finished the schema review and moved the reporting jobs to the new cluster.

## Risks

- The vendor may not deliver the storage upgrade before the cut-over in March.
- If the budget for contractors is cut, the migration slips into the next quarter.
- Two of the three engineers who know the old system leave at the end of the month.
- Legal has not yet approved the data processing agreement with the new provider.

## Next steps

We will run the parallel load test next week. The security review is booked for Friday.
Users in finance reported slow dashboards, which may delay their sign-off.
"""


def measure(model_dir: Path, *, rounds: int, scans: int, sample_rate: float, log) -> dict:
    from service.serving.trials import MAX_LIMIT, shadow_of

    with tempfile.TemporaryDirectory(prefix="bench-shadow-") as workdir:
        workdir = Path(workdir)
        app, client, headers, _ = admin_app(models_root(model_dir, workdir), workdir, "shadow")
        started = client.post("/api/v1/admin/models/v2/shadow", headers=headers,
                              json={"sample_rate": sample_rate, "limit": MAX_LIMIT})
        assert started.status_code == 201, started.get_json()
        reader = shadow_of(app)
        trial = reader.trial
        timings: dict[str, list[float]] = {"without": [], "with": []}
        for _ in range(rounds):
            for name, rate in (("without", 0.0), ("with", sample_rate)):
                reader.drain()
                reader.run(dataclasses.replace(trial, sample_rate=rate))
                for _ in range(scans):
                    began = time.perf_counter()
                    response = client.post("/api/v1/scans", json={"text": TEXT},
                                           headers=headers)
                    timings[name].append((time.perf_counter() - began) * 1000)
                    assert response.status_code == 201, response.get_json()
        reader.drain()
        report = client.get("/api/v1/admin/models/v2/shadow", headers=headers).get_json()
        without, with_shadow = (statistics.median(timings[name]) for name in timings)
        log(f"shadow bench: p50 {without:.1f} ms without, {with_shadow:.1f} ms with a "
            f"shadow at {sample_rate}; {report['scans']}")
        return {"sample_rate": sample_rate, "scans_per_block": scans, "rounds": rounds,
                "p50_without_ms": round(without, 1), "p50_with_ms": round(with_shadow, 1),
                "with_over_without": round(with_shadow / without, 3),
                "read": report["scans"]["read"], "skipped": report["scans"]["skipped"],
                "cpus": os.cpu_count()}


def main() -> int:
    from service.serving.trials import DEFAULT_SAMPLE_RATE

    parser = argparse.ArgumentParser(prog="python -m bench.shadow")
    parser.add_argument("--model-dir", type=Path,
                        default=Path(os.environ.get("MODEL_DIR") or "models_cache"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scans", type=int, default=40, help="scans per block")
    parser.add_argument("--sample-rate", type=float, default=DEFAULT_SAMPLE_RATE)
    args = parser.parse_args()
    figures = measure(args.model_dir, rounds=args.rounds, scans=args.scans,
                      sample_rate=args.sample_rate,
                      log=lambda message: print(message, file=sys.stderr))
    record("shadow", figures)
    print("| sample rate | p50 without (ms) | p50 with (ms) | ratio | read | skipped |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(f"| {figures['sample_rate']} | {figures['p50_without_ms']} | "
          f"{figures['p50_with_ms']} | {figures['with_over_without']}× | {figures['read']} | "
          f"{figures['skipped']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
