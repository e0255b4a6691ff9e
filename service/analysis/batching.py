"""Dynamic batching: concurrent scans share forward passes (MODEL_DYNAMIC_BATCHING=true).

``DynamicBatcher(analyzer, max_batch, max_wait_ms)`` has the analyzer's interface
(``classify``, ``analyze``, ``source``, ``version``…). Each ``classify`` call puts its
sentences on a queue and waits; one worker thread takes what is queued, as Triton's dynamic
batcher does: it starts a batch with the oldest request, adds whole requests while the batch
holds at most ``max_batch`` sentences, waiting up to ``max_wait_ms`` for more to arrive, then
classifies them all in one call of the wrapped analyzer (length-sorted batches across
requests) and hands each caller its own answers, in its own order.

A request larger than ``max_batch`` goes alone. With ``max_wait_ms=0`` nothing waits: the
batch is whatever queued while the previous one ran, so a lone client pays only the hand-off.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future

from service.analysis.base import Finding

log = logging.getLogger("riskscan.analysis")


class DynamicBatcher:
    """Wraps a TransformerAnalyzer (see the module docstring)."""

    def __init__(self, analyzer, *, max_batch: int = 64, max_wait_ms: float = 0.0):
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError("max_batch must be ≥ 1 and max_wait_ms ≥ 0")
        self.analyzer = analyzer
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self._queue: deque[tuple[list[str], Future]] = deque()
        self._ready = threading.Condition()
        self._closed = False
        self.batches = 0  # forward-pass groups run, for the tests and the benchmark
        self._worker = threading.Thread(target=self._run, name="riskscan-batcher", daemon=True)
        self._worker.start()

    def __getattr__(self, name):  # source, version, device, labels… of the wrapped analyzer
        if name == "analyzer":
            raise AttributeError(name)
        return getattr(self.analyzer, name)

    def classify(self, sentences: Sequence[str], *, progress: bool = False
                 ) -> list[tuple[str, float]]:
        """What the wrapped analyzer's classify answers, computed alongside other requests."""
        if not sentences:
            return []
        future: Future = Future()
        with self._ready:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            self._queue.append((list(sentences), future))
            self._ready.notify()
        return future.result()

    def analyze(self, text: str) -> list[Finding]:
        from service.analysis.transformer import findings_of

        return findings_of(text, self.classify)

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify()
        self._worker.join(timeout=5)

    def _take(self) -> list[tuple[list[str], Future]] | None:
        """The next group of requests, or None when closed and drained."""
        with self._ready:
            while not self._queue:
                if self._closed:
                    return None
                self._ready.wait()
            group = [self._queue.popleft()]
            size = len(group[0][0])
            deadline = time.monotonic() + self.max_wait
            while size < self.max_batch:
                if self._queue:
                    if size + len(self._queue[0][0]) > self.max_batch:
                        break
                    request = self._queue.popleft()
                    group.append(request)
                    size += len(request[0])
                    continue
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    break
                self._ready.wait(left)
            return group

    def _run(self) -> None:
        while (group := self._take()) is not None:
            sentences = [sentence for request, _ in group for sentence in request]
            try:
                results = self.analyzer.classify(sentences)
            except BaseException as error:  # noqa: BLE001 - every caller gets the error
                for _, future in group:
                    future.set_exception(error)
                continue
            self.batches += 1
            start = 0
            for request, future in group:
                future.set_result(results[start:start + len(request)])
                start += len(request)
