"""Warm-up: ready means warm. The scan path runs on built-in text before a model takes
traffic, so the first users do not pay for what only a first call does."""

from __future__ import annotations

import logging
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor

from flask import Flask

from service.analysis.base import Analyzer
from service.config import Settings, current_settings
from service.serving.encoder import encoder_device, encoder_on

log = logging.getLogger("riskscan.analysis")


#: What the warm-up scans: a short status report with a heading, a list, risks and plain
#: sentences, so that segmentation, the context of a context model and the classifier all run.
WARMUP_TEXT = """# Status report

The team met on Tuesday and reviewed the plan for the next release.

## Risks and issues

- The supplier may deliver the servers three weeks late, which would delay the go-live.
- If the budget is cut again, the migration cannot be finished this year.

Testing starts next week. The new hire lacks access to the test environment, so UAT may slip.
"""
#: A word of one token in the encoders' vocabularies: sentences of it have a known length.
_WORD = "delay"


class Warmup:
    """One model's warm-up: whether it ran (``done``, an Event the tests wait on), how many
    sentences the model classified in it, how long it took and why it failed.

    ``readiness`` is /ready's ``warmup`` check: ok once the warm-up finished without error.
    A warm-up that failed keeps the process out of traffic: the model or a text extractor that
    cannot handle built-in text cannot handle a user's either (the log says why).
    """

    def __init__(self):
        self.done = threading.Event()
        self.sentences = 0
        self.seconds: float | None = None
        self.error: str | None = None
        self._started = False
        self._lock = threading.Lock()

    def readiness(self) -> dict:
        check = {"ok": self.done.is_set() and self.error is None, "done": self.done.is_set(),
                 "sentences": self.sentences}
        if self.seconds is not None:
            check["seconds"] = round(self.seconds, 2)
        if self.error is not None:
            check["error"] = self.error
        return check

    def run(self, model: Analyzer, settings: Settings) -> None:
        """Warm ``model`` and the parts around it, once; a second caller waits for the first."""
        with self._lock:
            first, self._started = not self._started, True
        if not first:
            self.done.wait()
            return
        began = time.perf_counter()
        try:
            with ThreadPoolExecutor(1, thread_name_prefix="riskscan-warmup") as aside:
                extractors = aside.submit(_warm_extractors, settings)  # processes of their own
                self.sentences = _warm_model(model)
                _warm_encoder(settings)
                extractors.result()
        except Exception as error:  # /ready reports it to admins, the log in full
            self.error = f"{type(error).__name__}: {error}"
            log.exception("warm-up failed: not ready")
        finally:
            self.seconds = time.perf_counter() - began
            self.done.set()
        if self.error is None:
            log.info("warm-up done in %.1f s (%d sentences classified): ready",
                     self.seconds, self.sentences)


# One warm-up per loaded model, shared by every app on it (tests build many apps on one
# model); a model swap brings a new model, and with it a new warm-up.
_warmups: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_warmups_lock = threading.Lock()


def warmup_of(model: Analyzer | None) -> Warmup:
    """The warm-up of ``model``; with no model (an LLM is remote), one that is done."""
    if model is None:
        warmup = Warmup()
        warmup.done.set()
        return warmup
    with _warmups_lock:
        return _warmups.setdefault(model, Warmup())


def warm_up(app: Flask) -> Warmup:
    """Run the scan path on built-in text with the app's model, and return when it is warm.

    The first scans of a cold process waited seconds for what only the first call does
    (ONNX Runtime's memory for each batch shape, the tokenizer's and segmenter's first
    use, the register's encoder, the text extractors' processes). init_app runs this in the
    background, so /health answers at once and /ready is 503 until it is done; a model
    swap calls it before the new model takes traffic; a Celery worker before its first task.
    """
    analyzers = app.extensions["riskscan.analyzers"]
    warmup = warmup_of(analyzers.model)
    app.extensions["riskscan.warmup"] = warmup
    if analyzers.model is not None:
        warmup.run(analyzers.model, current_settings(app))
    return warmup


def _warm_model(model) -> int:
    """Scan WARMUP_TEXT as a scan does, then classify with each model (the cascade's two
    stages each) one batch of each shape the batches of a scan take: for each padded length
    down from the model's longest by MIN_FILL (plan_batches' cut), as many sentences as a
    batch holds; and a lone sentence.
    Returns the sentences the models classified.
    """
    from service.analysis.inputs import MAX_BATCH_TOKENS, MIN_FILL
    from service.analysis.reading import findings_of

    classified = 0

    def counted(analyzer):
        def classify(sentences, **options):
            nonlocal classified
            labelled = analyzer.classify(sentences, **options)
            classified += len(labelled)
            return labelled
        return classify

    findings_of(WARMUP_TEXT, counted(model))  # what analyze does
    for stage in getattr(model, "stages", (model,)):
        classify = counted(stage)
        inner = getattr(stage, "analyzer", stage)  # the dynamic batcher's wrapped analyzer
        width = inner.max_length
        while width >= 4:
            rows = min(inner.batch_size, MAX_BATCH_TOKENS // width)
            classify([" ".join([_WORD] * (width - 2))] * rows)
            width = int(width * MIN_FILL)
        classify([WARMUP_TEXT.splitlines()[2]])
    return classified


def _warm_encoder(settings: Settings) -> None:
    """Load the register's encoder (its ONNX export takes seconds) and embed with it."""
    from service.analysis.segment import split_sentences

    encoder = encoder_on(encoder_device(settings))
    encoder.embed([sentence.text for sentence in split_sentences(WARMUP_TEXT)])


def _warm_extractors(settings: Settings) -> None:
    """Start every text extractor process (each imports its parsers) with a plain text."""
    from service.uploads.isolation import default_pool, extract_text_bounded

    workers = default_pool().size
    with ThreadPoolExecutor(workers, thread_name_prefix="riskscan-warmup") as pool:
        list(pool.map(lambda _: extract_text_bounded(
            WARMUP_TEXT.encode(), "warm-up.md", timeout_s=settings.EXTRACTION_TIMEOUT_S),
            range(workers)))
