"""``python -m service``: migrate the database, then serve on waitress until SIGTERM
(service/server.py: a graceful stop, exit status 0). The process ends through
``server.leave``, never the interpreter's finalization, which a thread still in the model's
C++ code (the warm-up, a scan) turned into an abort (exit 134)."""

from __future__ import annotations

import ctypes
import os
import sys
import traceback

from service.config import ConfigError, Settings

# glibc mallopt(3) parameters (malloc.h).
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8
#: Arenas for all threads together. glibc gives every thread that allocates under contention
#: an arena of its own (up to 8 per core), each keeping the memory it once held; the model
#: runs one classify at a time, so two arenas cost no throughput (docs/throughput.md).
MALLOC_ARENAS = 2
#: Blocks from this size up are mmap'd and given back when freed. glibc's default (128 KiB)
#: grows to the largest block freed so far, up to 32 MiB: after the first batches, the
#: activations of a forward pass (0.5 to 6 MiB each) came from the heap and fragmented it.
#: A fixed threshold also stops that growing; 512 KiB was measured against 256 KiB and
#: 1 MiB under load (docs/throughput.md).
MALLOC_MMAP_THRESHOLD = 512 * 1024


def limit_malloc() -> None:
    """Set MALLOC_ARENAS and MALLOC_MMAP_THRESHOLD through mallopt(3), before any thread is
    started; glibc only (elsewhere a no-op). MALLOC_ARENA_MAX and MALLOC_MMAP_THRESHOLD_ in
    the environment, read by glibc itself, win over these."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return
    if "MALLOC_ARENA_MAX" not in os.environ:
        mallopt(_M_ARENA_MAX, MALLOC_ARENAS)
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD)


def main() -> int:
    limit_malloc()
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"riskscan: configuration error: {exc}", file=sys.stderr)
        return 2

    from flask_migrate import upgrade

    from service import create_app
    from service.server import serve, stop_on_signals

    stop_on_signals()
    try:
        app = create_app(settings)
        if settings.AUTO_MIGRATE:
            with app.app_context():
                upgrade()
        from service.jobs.queue import resume

        resume(app)  # the jobs an earlier process left under way (no broker configured)
        from service.serving import start_background

        start_background(app, settings)  # the reader's training, where it trains itself
        serve(app, settings)
    except SystemExit as stop:  # SIGTERM or SIGINT while starting (server.stop_on_signals)
        return stop.code if isinstance(stop.code, int) else 0
    except Exception:  # noqa: BLE001 - a failed start (a migration): its traceback, then 1
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    from service.server import leave

    leave(main())
