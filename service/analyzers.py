"""The app's analyzers: built from the settings at start-up, bound to the Flask app, and
one picked for each scan.

App wiring, beside create_app: it knows Flask and the concrete analyzers (the in-process
model, service/llm/), so that service/analysis/ needs neither, and the scan use-case only
asks current_analyzers().pick(). The model is loaded once; one that cannot be loaded does
not stop the service: /ready reports it, and scans answer 503 with the reason. A loaded model
is warmed up (warm_up) before /ready answers 200.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from flask import Flask, current_app

from service.analysis.base import AnalysisError, Analyzer
from service.config import Settings

log = logging.getLogger("riskscan.analysis")

# Loaded models, shared by every app of the process (tests build many apps on one model).
_models: dict[tuple, Analyzer] = {}
_models_lock = threading.Lock()


@dataclass
class Analyzers:
    """The app's analyzers. ``model`` changes only through ``install`` (a model swap), one
    assignment: a scan holds the analyzer ``pick`` gave it and finishes on it.
    ``deployed`` is the model's version folder, ``generation`` the deployment state the
    process follows (service/deployment.py)."""

    model: Analyzer | None = None
    model_error: str | None = None
    llm: Analyzer | None = None
    llm_error: str | None = None
    deployed: str | None = None
    generation: int = 0
    sync_error: tuple[int, str] | None = None  # (the generation it could not follow, why)
    _swapping: threading.Lock = field(default_factory=threading.Lock, repr=False,
                                      compare=False)

    def pick(self, force_llm: bool) -> Analyzer:
        """The analyzer for a scan; AnalysisError(503) when none can take it.

        The in-process model answers by default; ``force_llm`` asks for the LLM; when the
        model could not be loaded, a configured LLM takes every scan.
        """
        if force_llm or self.model is None:
            if self.llm is not None:
                return self.llm
            if force_llm:  # which settings are missing: no path, no exception text
                raise AnalysisError(f"force_llm was asked for, but {self.llm_error}")
            # Why the model is missing names paths and exceptions: that is in the log and in
            # /ready for admins, not in an answer to any user.
            raise AnalysisError("The risk model is not loaded, and no LLM is configured to "
                                "stand in; an admin can see why in /ready.")
        return self.model

    def readiness(self) -> dict:
        """Ready when some analyzer can take a scan; says which ones can."""
        model = {"available": self.model is not None}
        if self.model is not None:
            model["version"] = self.model.version
        else:
            model["error"] = self.model_error
        llm = {"available": self.llm is not None}
        if self.llm is not None:
            llm["model"] = self.llm.version
        else:
            llm["error"] = self.llm_error
        return {"ok": self.model is not None or self.llm is not None, "model": model, "llm": llm}


def load_model(settings: Settings) -> tuple[Analyzer | None, str | None]:
    """(analyzer, None), or (None, why not): the fast model, or the cascade of the fast model
    and its reader when one is configured (READER_DIR; service/analysis/cascade.py)."""
    path = settings.model_path
    if path is None:
        return None, "the in-process model is switched off (MODEL_DIR=off)"
    key = (str(path.resolve()), _current_version(path, "current"), str(settings.reader_path),
           _current_version(settings.reader_path, "reader"), settings.READER_DIR,
           settings.READER_QUANTIZE, settings.READER_SCREEN, settings.MODEL_DEVICE,
           settings.MODEL_BATCH_SIZE, settings.MODEL_QUANTIZE, settings.MODEL_RUNTIME,
           settings.MODEL_DYNAMIC_BATCHING, settings.MODEL_MAX_BATCH, settings.MODEL_MAX_WAIT_MS)
    with _models_lock:
        if key not in _models:
            try:
                _models[key] = _build_model(settings)
            except AnalysisError as error:
                log.warning("model not loaded: %s", error.detail)
                return None, error.detail
            except Exception as error:
                log.exception("model not loaded")
                return None, f"the model could not be loaded ({type(error).__name__}: {error})"
            model = _models[key]
            log.info("model %s loaded on %s (runtime=%s, quantize=%s, dynamic batching=%s)",
                     model.version, model.device, model.runtime, model.quantize,
                     settings.MODEL_DYNAMIC_BATCHING)
        model = _models[key]
    announce(model)
    return model, None


def announce(model: Analyzer) -> None:
    """Name the serving model in /metrics (riskscan_model_info)."""
    from service.metrics import MODEL

    MODEL.info({"version": model.version, "device": str(model.device), "runtime": model.runtime,
                "quantize": model.quantize})


def _build_model(settings: Settings) -> Analyzer:
    """The fast model, each stage behind its own dynamic batcher when batching is on, and the
    reader after it when one is configured."""
    fast = _stage(settings.model_path, settings, quantize=settings.MODEL_QUANTIZE)
    return _with_reader(fast, settings)


def build_version(settings: Settings, model_dir, reader_dir=None) -> Analyzer:
    """The model of the folder ``model_dir`` as the scan path runs it: behind its batcher,
    with the reader of ``reader_dir`` after it when one is given (the cascade), checked
    (service/analysis/check.py: AnalysisError with the reason) and warm."""
    from service.analysis.check import check, check_cascade

    with _models_lock:
        fast = _stage(model_dir, settings, quantize=settings.MODEL_QUANTIZE)
        model = fast if reader_dir is None else _cascade(fast, reader_dir, settings)
    try:
        if reader_dir is None:
            check(fast, model_dir)
        else:
            check_cascade(model, model_dir, reader_dir)
        warmup = _warmup_of(model)
        warmup.run(model, settings)
        if warmup.error is not None:
            raise AnalysisError(f"its warm-up failed ({warmup.error})", status=422)
    except Exception:
        _forget(model, keep=None)  # refused: nothing of it stays resident
        raise
    return model


def install(app: Flask, model: Analyzer, deployed: str, generation: int) -> bool:
    """Make ``model`` the app's model in one assignment, unless a newer generation is in
    place already. The old model leaves the process's cache here, and memory when its last
    scan (which holds it) ends."""
    analyzers: Analyzers = app.extensions["riskscan.analyzers"]
    with analyzers._swapping:
        if generation <= analyzers.generation:
            return False
        old = analyzers.model
        analyzers.model, analyzers.model_error = model, None
        analyzers.deployed, analyzers.generation = deployed, generation
        app.extensions["riskscan.warmup"] = _warmup_of(model)
    if old is not None and old is not model:
        _forget(old, keep=model)
    announce(model)
    log.info("model %s serves now (deployment generation %d)", model.version, generation)
    return True


def drop(model, *, keep) -> None:
    """Let a model nobody serves any more (a shadow trial's candidate) leave memory: out of
    the process's cache here, but the parts the serving model ``keep`` shares; gone when
    its last reader lets go."""
    _forget(model, keep=keep)


def _parts(model) -> list:
    """A model and what it is built of: its stages, and the analyzers batchers wrap."""
    if model is None:
        return []
    parts = [model, *getattr(model, "stages", ())]
    return parts + [part.analyzer for part in parts if hasattr(part, "analyzer")]


def _forget(old, *, keep) -> None:
    """Drop ``old`` and its parts from the process's cache of loaded models, but those that
    ``keep`` shares (the reader): the cache must not keep a model nobody serves."""
    gone = {id(part) for part in _parts(old)} - {id(part) for part in _parts(keep)}
    with _models_lock:
        for key in [key for key, value in _models.items() if id(value) in gone]:
            del _models[key]


def _with_reader(fast: Analyzer, settings: Settings) -> Analyzer:
    """``fast`` alone, or the cascade of it and the configured reader."""
    from service.analysis.cascade import READER_FILE
    from service.analysis.transformer import resolve_model_dir

    reader_root = settings.reader_path
    if reader_root is None or (settings.READER_DIR.lower() == "auto" and (
            (reader_root / "config.json").is_file() or not (reader_root / READER_FILE).is_file())):
        return fast  # no reader: the fast model alone, as before the cascade
    return _cascade(fast, resolve_model_dir(reader_root, READER_FILE), settings)


def _cascade(fast: Analyzer, reader_dir, settings: Settings) -> Analyzer:
    """The cascade of ``fast`` and the reader in ``reader_dir``, at READER_SCREEN or the
    screen threshold chosen for the reader."""
    from service.analysis.cascade import Cascade, read_screen

    threshold = (settings.READER_SCREEN if settings.READER_SCREEN is not None
                 else read_screen(reader_dir))
    quantize = settings.READER_QUANTIZE
    if quantize == "auto":  # the precision ml.cascade checked for this reader
        from service.analysis.onnx_model import INT8_FILE

        quantize = "int8" if (reader_dir / INT8_FILE).is_file() else "none"
    reader = _stage(reader_dir, settings, quantize=quantize)
    return Cascade(fast, reader, threshold=threshold)


def _stage(path, settings: Settings, *, quantize: str) -> Analyzer:
    """One model, loaded once per process for its settings, behind a dynamic batcher when
    MODEL_DYNAMIC_BATCHING is on."""
    from service.analysis.transformer import TransformerAnalyzer

    device = None if settings.MODEL_DEVICE == "auto" else settings.MODEL_DEVICE
    if device == "cuda" or (device is None and _encoder_device(settings) == "cuda"):
        quantize = "none"  # CUDA runs fp16 (TransformerAnalyzer)
    key = (str(path.resolve()), _current_version(path, "current"), device,
           settings.MODEL_BATCH_SIZE, quantize, settings.MODEL_RUNTIME)
    if key not in _models:
        _models[key] = TransformerAnalyzer(path, device=device,
                                           batch_size=settings.MODEL_BATCH_SIZE,
                                           quantize=quantize, runtime=settings.MODEL_RUNTIME)
    analyzer = _models[key]
    if not settings.MODEL_DYNAMIC_BATCHING:
        return analyzer
    from service.analysis.batching import DynamicBatcher

    return DynamicBatcher(analyzer, max_batch=settings.MODEL_MAX_BATCH,
                          max_wait_ms=settings.MODEL_MAX_WAIT_MS)


def load_llm(settings: Settings) -> tuple[Analyzer | None, str | None]:
    """(analyzer, None) when LLM_BASE_URL and LLM_MODEL are set, else (None, why not)."""
    from service.llm.analyzer import LLMAnalyzer
    from service.llm.errors import LLMNotConfiguredError

    try:
        return LLMAnalyzer.from_config(
            dataclasses.asdict(settings),
            max_response_bytes=settings.LLM_MAX_RESPONSE_KB * 1024,
            chunk_chars=settings.LLM_CHUNK_CHARS,
            scan_timeout_s=settings.LLM_SCAN_TIMEOUT_S,
        ), None
    except LLMNotConfiguredError as error:
        return None, error.detail


def _current_version(path, pointer: str) -> str:
    """What a models root's ``current`` (or ``reader``) file names now, so that retraining
    loads the new model."""
    if path is None:
        return ""
    named = path / pointer
    return named.read_text(encoding="utf-8").strip() if named.is_file() else ""


def init_app(app: Flask, settings: Settings) -> None:
    model, model_error = load_model(settings)
    llm, llm_error = load_llm(settings)
    analyzers = Analyzers(model=model, model_error=model_error, llm=llm, llm_error=llm_error)
    app.extensions["riskscan.analyzers"] = analyzers
    warmup = app.extensions["riskscan.warmup"] = _warmup_of(model)
    readiness = app.extensions.setdefault("riskscan.readiness", {})
    readiness["analyzers"] = analyzers.readiness
    readiness["warmup"] = lambda: app.extensions["riskscan.warmup"].readiness()
    if not warmup.done.is_set():  # /health answers while it runs; /ready says 503
        threading.Thread(target=warm_up, args=(app,), name="riskscan-warmup",
                         daemon=True).start()
    app.register_error_handler(AnalysisError, analysis_problem)


def analysis_problem(error: AnalysisError):
    """An analyzer that could not do its job, as problem+json (503 says when to retry)."""
    from service.errors import problem

    headers = {"Retry-After": "30"} if error.status == 503 else None
    return problem(error.status, error.detail, title=error.title, headers=headers)


def current_analyzers() -> Analyzers:
    return current_app.extensions["riskscan.analyzers"]


_encoders: dict[str, object] = {}
_encoders_lock = threading.Lock()


def _encoder_device(settings: Settings) -> str:
    if settings.MODEL_DEVICE != "auto":
        return settings.MODEL_DEVICE
    from service.analysis.transformer import select_device

    return select_device().type


def _encoder(device: str):
    with _encoders_lock:
        if device not in _encoders:
            from service.analysis.embedding import SentenceEncoder

            _encoders[device] = SentenceEncoder(device=device)
            log.info("sentence encoder %s loaded on %s (%s)", _encoders[device].name, device,
                     _encoders[device].runtime)
        return _encoders[device]


def current_encoder():
    """The sentence encoder of the risk register (service/analysis/embedding.py), shared by
    every app of the process: warmed up with the in-process model (warm_up), otherwise
    loaded by the first scan into a project."""
    return _encoder(_encoder_device(current_app.config["SETTINGS"]))


# --- warm-up: ready means warm ------------------------------------------------------------

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
    A warm-up that failed keeps the process out of traffic: the model or a reader that
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
                readers = aside.submit(_warm_readers, settings)  # processes of their own
                self.sentences = _warm_model(model)
                _warm_encoder(settings)
                readers.result()
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


def _warmup_of(model: Analyzer | None) -> Warmup:
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
    use, the register's encoder, the readers' processes). init_app runs this in the
    background, so /health answers at once and /ready is 503 until it is done; a model
    swap calls it before the new model takes traffic; a Celery worker before its first task.
    """
    analyzers = app.extensions["riskscan.analyzers"]
    warmup = _warmup_of(analyzers.model)
    app.extensions["riskscan.warmup"] = warmup
    if analyzers.model is not None:
        warmup.run(analyzers.model, app.config["SETTINGS"])
    return warmup


def _warm_model(model) -> int:
    """Scan WARMUP_TEXT as a scan does, then classify with each model (the cascade's two
    stages each) one batch of each shape the batches of a scan take: for each padded length
    down from the model's longest by MIN_FILL (plan_batches' cut), as many sentences as a
    batch holds; and a lone sentence. Returns the sentences the models classified.
    """
    from service.analysis.reading import findings_of
    from service.analysis.transformer import MAX_BATCH_TOKENS, MIN_FILL

    classified = 0

    def counted(analyzer):
        def classify(sentences, **options):
            nonlocal classified
            labelled = analyzer.classify(sentences, **options)
            classified += len(labelled)
            return labelled
        return classify

    findings_of(WARMUP_TEXT, counted(model), context=model.context)  # what analyze does
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

    encoder = _encoder(_encoder_device(settings))
    encoder.embed([sentence.text for sentence in split_sentences(WARMUP_TEXT)])


def _warm_readers(settings: Settings) -> None:
    """Start every document reader process (each imports its parsers) with a plain text."""
    from service.uploads.isolation import default_pool, extract_text_bounded

    workers = default_pool().size
    with ThreadPoolExecutor(workers, thread_name_prefix="riskscan-warmup") as pool:
        list(pool.map(lambda _: extract_text_bounded(
            WARMUP_TEXT.encode(), "warm-up.md", timeout_s=settings.EXTRACTION_TIMEOUT_S),
            range(workers)))
