"""Analysis: segmentation, the in-process classifier, the LLM.

OpenMP's wait policy is set here, before anything of this package can import torch (the
classifier, and spaCy's thinc): libgomp reads ``OMP_WAIT_POLICY`` once, and its idle workers
left spinning took the shared cores from the rest of the service ("OpenMP does not spin" in
docs/throughput.md). An explicit ``OMP_WAIT_POLICY`` (or ``GOMP_SPINCOUNT``) is kept.
"""

import os

if "GOMP_SPINCOUNT" not in os.environ:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
