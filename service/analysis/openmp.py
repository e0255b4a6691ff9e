"""torch's OpenMP threads sleep when idle instead of spinning: imported, for this side
effect, by the modules that load torch (transformer.py, onnx_model.py) before they do.

libgomp reads ``OMP_WAIT_POLICY`` once, when torch loads it; spinning workers took the
shared cores from everything else (docs/throughput.md#openmps-wait-policy). An explicit
``OMP_WAIT_POLICY`` (or ``GOMP_SPINCOUNT``) in the environment is kept.
"""

import os

if "GOMP_SPINCOUNT" not in os.environ:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
