"""``python -m bench.cold_service``: ``python -m service`` with its warm-up skipped.

bench/warmup.py's baseline: the process is ready as soon as its model is loaded, and the
register's encoder loads in the background beside the first scans, as before the service
warmed up.
"""

from __future__ import annotations

import sys
import threading

from service.__main__ import main
from service.serving import warmup


def _ready_at_once(warmup, model, settings) -> None:
    threading.Thread(target=warmup._warm_encoder, args=(settings,), daemon=True).start()
    warmup.done.set()


if __name__ == "__main__":
    warmup.Warmup.run = _ready_at_once
    sys.exit(main())
