"""Parsing has a time limit: ``extract_text`` in worker processes that can be killed.

A thread cannot be stopped, a process can: an upload built to keep a parser busy, to take
all the memory or to crash it is refused (422, 413) instead of stalling the service; see
"Parsing has a time limit" in docs/reliability.md.

The workers are spawned and run this file as a plain script that loads ``extract.py`` by
its path, so that neither Flask nor torch is imported there: nothing at the top of this
file may import from ``service``.
"""

from __future__ import annotations

import atexit
import dataclasses
import multiprocessing
import os
import queue
import threading
from pathlib import Path

#: The scan use-case's default: the largest PDF allowed (MAX_PDF_PAGES) with room for a busy
#: host (its reading time is under "Measured" in docs/reliability.md).
DEFAULT_TIMEOUT_S = 30.0
#: Address space of one worker: several times what the parsers and an upload need
#: (docs/reliability.md).
DEFAULT_MEMORY_MB = 1024
#: How long a new worker may take to start and import its parsers.
_START_TIMEOUT_S = 60.0

_WORKER_RUN_NAME = "__riskscan_extraction_worker__"
_HERE = Path(__file__).resolve()
_EXTRACT_PATH = _HERE.parent / "extract.py"


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, context, memory_mb: int | None):
        import runpy

        self.connection, child = context.Pipe(duplex=True)
        self.process = context.Process(
            target=runpy.run_path, args=(str(_HERE),),
            kwargs={"run_name": _WORKER_RUN_NAME,
                    "init_globals": {"CONNECTION": child, "EXTRACT_PATH": str(_EXTRACT_PATH),
                                     "MEMORY_MB": memory_mb}},
            name="riskscan-extract", daemon=True)
        self.process.start()
        child.close()
        self.ready = False

    def wait_ready(self) -> bool:
        if not self.ready:
            try:
                self.ready = (self.connection.poll(_START_TIMEOUT_S)
                              and self.connection.recv() == ("ready",))
            except (EOFError, OSError):
                self.ready = False
        return self.ready

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.connection.close()


class ExtractionPool:
    """Worker processes for ``extract_text``; thread-safe, one extraction per worker."""

    def __init__(self, workers: int | None = None, *, memory_mb: int | None = DEFAULT_MEMORY_MB,
                 context: str = "spawn"):
        self.size = workers or min(2, os.cpu_count() or 1)
        self.memory_mb = memory_mb
        self._context = multiprocessing.get_context(context)
        self._idle: queue.LifoQueue[_Worker] = queue.LifoQueue()
        self._lock = threading.Lock()
        self._started = 0
        self._closed = False
        self._owners: dict[str, int] = {}  # extractions under way per owner (a user id)
        self._owner_freed = threading.Condition()
        self.killed = 0  # workers killed for running over their time (for tests, metrics)

    # -- workers --------------------------------------------------------------------------

    def _checkout(self, wait_s: float) -> _Worker:
        with self._lock:
            if self._closed:
                raise RuntimeError("the extraction pool is closed")
            if self._idle.empty() and self._started < self.size:
                worker = _Worker(self._context, self.memory_mb)  # counted once started
                self._started += 1
                return worker
        try:
            return self._idle.get(timeout=wait_s)
        except queue.Empty:
            from service.uploads.extract import DocumentError

            raise DocumentError(503, "Every text extractor is busy; try again shortly.") \
                from None

    def _checkin(self, worker: _Worker) -> None:
        self._idle.put(worker)

    def _discard(self, worker: _Worker) -> None:
        """Kill a worker and put a new one in its place (it starts while it waits)."""
        worker.kill()
        with self._lock:
            if self._closed:
                self._started -= 1
                return
            try:
                replacement = _Worker(self._context, self.memory_mb)
            except BaseException:
                self._started -= 1  # none took its place: the next checkout starts one
                raise
        self._idle.put(replacement)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        while True:
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                break
            try:
                worker.connection.send(("stop",))
            except OSError:
                pass
            worker.kill()

    # -- extraction -----------------------------------------------------------------------

    def extract(self, data: bytes, filename: str | None, limits, timeout_s: float, *,
                owner: str | None = None, owner_limit: int = 1, owner_wait_s: float = 0.0):
        """``extract_text(data, filename, limits)``, answered within ``timeout_s``.

        With an ``owner``, at most ``owner_limit`` of its extractions run at once: one user
        cannot take every worker with uploads built to run for the whole time limit. The
        next one waits up to ``owner_wait_s`` for one of the owner's own to finish (a
        script sending a few files at once is served in turn), then is refused (429)
        while everyone else is served.
        """
        if owner is None:
            return self._extract(data, filename, limits, timeout_s)
        with self._owner_freed:
            if not self._owner_freed.wait_for(
                    lambda: self._owners.get(owner, 0) < owner_limit, timeout=owner_wait_s):
                from service.uploads.extract import DocumentError

                raise DocumentError(429, f"You have {owner_limit} document(s) being read "
                                         "already; send the next when it is done.")
            self._owners[owner] = self._owners.get(owner, 0) + 1
        try:
            return self._extract(data, filename, limits, timeout_s)
        finally:
            with self._owner_freed:
                self._owners[owner] -= 1
                if not self._owners[owner]:
                    del self._owners[owner]
                self._owner_freed.notify_all()

    def busy(self, owner: str) -> int:
        """Extractions of ``owner`` under way now."""
        with self._owner_freed:
            return self._owners.get(owner, 0)

    def _extract(self, data: bytes, filename: str | None, limits, timeout_s: float):
        from service.uploads.extract import Document, DocumentError, ExtractionLimits

        limits = limits or ExtractionLimits()
        request = ("extract", data, filename, dataclasses.asdict(limits))
        for attempt in (1, 2):  # a worker found dead before it got the job is replaced once
            worker = self._checkout(wait_s=max(timeout_s, 1.0))
            if not worker.wait_ready():
                self._discard(worker)
                if attempt == 2:
                    raise DocumentError(503, "The text extractor could not be started.")
                continue
            try:
                worker.connection.send(request)
            except OSError:
                self._discard(worker)
                if attempt == 2:
                    raise DocumentError(503, "The text extractor could not be started.") \
                        from None
                continue
            break
        try:
            answered = worker.connection.poll(timeout_s)
            reply = worker.connection.recv() if answered else None
        except (EOFError, OSError):
            reply = ("crashed",)
        if reply is None:
            self._discard(worker)
            self.killed += 1
            raise DocumentError(422, f"Reading the document took longer than {timeout_s:g} s "
                                     "and was stopped; it may be damaged, or built to keep "
                                     "the server busy.")
        if reply[0] == "crashed":
            self._discard(worker)
            raise DocumentError(422, "The document could not be read (its extractor crashed).")
        self._checkin(worker)
        if reply[0] == "ok":
            return Document(text=reply[1], kind=reply[2])
        if reply[0] == "refused":
            raise DocumentError(reply[1], reply[2])
        raise DocumentError(422, "The document could not be read.")

    def worker_modules(self, names: tuple[str, ...]) -> dict[str, bool]:
        """Which of ``names`` a worker has imported (to check it stays light)."""
        worker = self._checkout(wait_s=_START_TIMEOUT_S)
        try:
            if not worker.wait_ready():
                raise RuntimeError("the worker did not start")
            worker.connection.send(("modules", names))
            return worker.connection.recv()[1]
        finally:
            self._checkin(worker)


_default_pool: ExtractionPool | None = None
_default_lock = threading.Lock()


def default_pool() -> ExtractionPool:
    global _default_pool
    with _default_lock:
        if _default_pool is None:
            _default_pool = ExtractionPool()
            atexit.register(_default_pool.close)
        return _default_pool


def extract_text_bounded(data: bytes, filename: str | None = None, limits=None,
                         timeout_s: float = DEFAULT_TIMEOUT_S, *, owner: str | None = None,
                         owner_limit: int = 1, owner_wait_s: float = 0.0):
    """``extract_text`` in a worker process; DocumentError(422) when it takes over ``timeout_s``.

    Raises the same DocumentErrors as ``extract_text`` (4xx); an extractor that crashed or
    ran out of its memory is a refusal too, never an exception of another kind. An
    ``owner`` past its ``owner_limit`` of reads under way for ``owner_wait_s`` gets
    DocumentError(429).
    """
    return default_pool().extract(data, filename, limits, timeout_s, owner=owner,
                                  owner_limit=owner_limit, owner_wait_s=owner_wait_s)


# --------------------------------------------------------------------------- the worker


def _serve(connection, extract_path: str, memory_mb: int | None) -> None:
    """The worker's loop: one extraction per message, until the pipe closes."""
    import importlib.util
    import sys

    if memory_mb:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    spec = importlib.util.spec_from_file_location("riskscan_extract", extract_path)
    extract = importlib.util.module_from_spec(spec)
    sys.modules["riskscan_extract"] = extract
    spec.loader.exec_module(extract)
    # Import the parsers now, so that their import time never counts against a timeout.
    import bs4  # noqa: F401
    import docx  # noqa: F401
    import pypdf  # noqa: F401

    connection.send(("ready",))
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if message[0] == "stop":
            return
        if message[0] == "modules":
            connection.send(("modules", {name: name in sys.modules for name in message[1]}))
            continue
        _, data, filename, limits = message
        try:
            document = extract.extract_text(data, filename, extract.ExtractionLimits(**limits))
            reply = ("ok", document.text, document.kind)
        except extract.DocumentError as error:
            reply = ("refused", error.status, error.detail)
        except MemoryError:
            reply = ("refused", 413, ("The document needs more memory to read than an "
                                      "extractor may use (a decompression bomb?)."))
        except RecursionError:
            reply = ("refused", 422, "The document could not be read (nested too deeply).")
        # A parser's own bug is a refusal, not a crash of the worker.
        except Exception as exc:  # noqa: BLE001
            reply = ("refused", 422, f"The document could not be read ({type(exc).__name__}).")
        del data
        try:
            connection.send(reply)
        except MemoryError:
            connection.send(("refused", 413, "The document's text is too large to return."))


if __name__ == _WORKER_RUN_NAME:
    _serve(CONNECTION, EXTRACT_PATH, MEMORY_MB)  # noqa: F821 (given by runpy's init_globals)
