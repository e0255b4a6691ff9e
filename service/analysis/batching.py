"""Dynamic batching: concurrent scans share forward passes (MODEL_DYNAMIC_BATCHING=true).

One forward pass over several scans' sentences computes less padding and fewer passes than
one per scan. There is no batching thread: whichever request thread finds no group running
classifies the next group, so a lone client runs the per-request path on its own thread
(docs/throughput.md#the-dynamic-batcher-has-no-thread-of-its-own).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence

from service.analysis.base import Analysis

log = logging.getLogger("riskscan.analysis")


class _Request:
    __slots__ = ("done", "error", "results", "sentences")

    def __init__(self, sentences: list[str]):
        self.sentences = sentences
        self.results: list[tuple[str, float]] | None = None
        self.error: BaseException | None = None
        self.done = False


class DynamicBatcher:
    """Wraps a TransformerAnalyzer: ``classify`` and ``analyze`` answer as the analyzer's do,
    computed alongside other requests.

    Requests are grouped as Triton's dynamic batcher groups them: a group starts with the
    oldest request and takes whole requests while it holds at most ``max_batch`` sentences,
    waiting up to ``max_wait_ms`` for more (0, the default: a group is whatever queued while
    the previous one ran); a request larger than ``max_batch`` goes alone. The leader
    classifies the group in one call of the wrapped analyzer and hands each caller its own
    answers, in its own order; the others wait.

    What the service reads of a model analyzer is offered explicitly, from the wrapped one:
    ``source``, ``version``, ``device``, ``runtime``, ``quantize``, ``min_score``,
    ``context``.
    """

    def __init__(self, analyzer, *, max_batch: int = 256, max_wait_ms: float = 0.0):
        if max_batch < 1 or max_wait_ms < 0:
            raise ValueError("max_batch must be ≥ 1 and max_wait_ms ≥ 0")
        self.analyzer = analyzer
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self._queue: deque[_Request] = deque()
        self._changed = threading.Condition()
        self._leading = False  # a thread is taking or classifying a group
        self._closed = False
        self.batches = 0  # groups classified, for the tests and the benchmark

    # -- the wrapped analyzer's description (the Analyzer protocol, the log, /ready) ------

    @property
    def source(self) -> str:
        return self.analyzer.source

    @property
    def version(self) -> str:
        return self.analyzer.version

    @property
    def device(self):
        return self.analyzer.device

    @property
    def runtime(self) -> str:
        return self.analyzer.runtime

    @property
    def quantize(self) -> str:
        return self.analyzer.quantize

    @property
    def min_score(self) -> float:
        """The operating point a request without its own ``min_score`` is labelled at."""
        return self.analyzer.min_score

    @property
    def input_mode(self):
        """How the model reads a sentence (model_spec.InputMode)."""
        return self.analyzer.input_mode

    # -- classification --------------------------------------------------------------------

    def classify(self, sentences: Sequence[str], *, min_score: float | None = None,
                 progress: bool = False) -> list[tuple[str, float]]:
        """What the wrapped analyzer's classify answers, computed alongside other requests
        (each at its own ``min_score``: the group is scored once, thresholds come after)."""
        if not sentences:
            return []
        request = _Request(list(sentences))
        with self._changed:
            if self._closed:
                raise RuntimeError("the batcher is closed")
            self._queue.append(request)
            self._changed.notify_all()  # a leader waiting out max_wait_ms may take it
        while True:
            with self._changed:
                while not request.done and self._leading:
                    self._changed.wait()
                if request.done:
                    break
                self._leading = True
                group = self._take()
            self._run(group)
        if request.error is not None:
            # A copy for each request: one exception raised in several threads would pile
            # every thread's frames onto one traceback.
            raise copy.copy(request.error) from request.error
        from service.analysis.scores import apply_min_score

        return apply_min_score(request.results,  # type: ignore[arg-type]
                               self.min_score if min_score is None else min_score)

    def analyze(self, text: str, *, min_score: float | None = None) -> Analysis:
        from service.analysis.reading import findings_of

        return Analysis(findings_of(text, self.classify, min_score=min_score))

    def close(self) -> None:
        """Refuse new requests; those queued are still answered."""
        with self._changed:
            self._closed = True

    def _take(self) -> list[_Request]:
        """The next group, oldest request first (called by the leader, lock held)."""
        group = [self._queue.popleft()]
        size = len(group[0].sentences)
        deadline = time.monotonic() + self.max_wait
        while size < self.max_batch:
            if self._queue:
                if size + len(self._queue[0].sentences) > self.max_batch:
                    break
                request = self._queue.popleft()
                group.append(request)
                size += len(request.sentences)
                continue
            left = deadline - time.monotonic()
            if left <= 0 or self._closed:
                break
            self._changed.wait(left)
        return group

    def _run(self, group: list[_Request]) -> None:
        """Classify a group outside the lock, answer its requests, give up the lead."""
        sentences = [sentence for request in group for sentence in request.sentences]
        try:
            results = self.analyzer.classify(sentences, min_score=0.0)  # every risk score
        except BaseException as error:  # noqa: BLE001 - every request of the group gets it
            for request in group:
                request.error = error
        else:
            start = 0
            for request in group:
                request.results = results[start:start + len(request.sentences)]
                start += len(request.sentences)
        finally:
            with self._changed:
                self.batches += 1
                for request in group:
                    request.done = True
                self._leading = False
                self._changed.notify_all()
