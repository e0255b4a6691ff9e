"""The CPU's threads. torch's OpenMP threads sleep when idle instead of spinning: imported,
for this side effect, by the modules that may load torch (transformer.py, onnx_model.py,
embedding.py) before they do.

libgomp reads ``OMP_WAIT_POLICY`` once, when torch loads it; spinning workers took the
shared cores from everything else (docs/throughput.md#openmps-wait-policy). An explicit
``OMP_WAIT_POLICY`` (or ``GOMP_SPINCOUNT``) in the environment is kept.
"""

import os

if "GOMP_SPINCOUNT" not in os.environ:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def intra_op_threads() -> int:
    """Threads for one ONNX Runtime session's operators: ``OMP_NUM_THREADS`` when set, as
    torch reads it, else 0: ONNX Runtime's default of one per physical core (torch's too)."""
    try:
        return max(int(os.environ.get("OMP_NUM_THREADS", "")), 0)
    except ValueError:
        return 0
