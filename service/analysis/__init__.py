"""Analysis: segmentation, the in-process classifier, the LLM, document extraction.

OpenMP's wait policy is set here, before anything of this package can import torch (the
classifier, and spaCy, whose thinc imports torch when it is installed): libgomp reads
``OMP_WAIT_POLICY`` once, when torch loads it. Left unset, each of torch's OpenMP worker
threads spins for about 3 ms (300,000 polls) after every parallel region, that is after
nearly every operator of a forward pass, whenever libgomp manages no more threads than there
are cores. That is the case when a single thread runs the model, as the dynamic batcher's
worker does: its spinning partner took the core that the waitress threads, the clients and
the neighbours needed, and on the 2 shared cores of the reference machine the batcher ran 3×
slower than per-request batching even at one client (docs/throughput.md). With many
request threads each owning an OpenMP team, libgomp counts more threads than cores and
already throttles the spin to 100 polls, which is why per-request batching escaped.
``PASSIVE``: idle workers sleep at once. An explicit ``OMP_WAIT_POLICY`` (or
``GOMP_SPINCOUNT``) in the environment is kept.
"""

import os

if "GOMP_SPINCOUNT" not in os.environ:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
