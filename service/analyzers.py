"""The app's analyzers: built from the settings at start-up, bound to the Flask app, and
one picked for each scan.

App wiring, beside create_app: it knows Flask and the concrete analyzers (the in-process
model, service/llm/), so that service/analysis/ needs neither, and the scan use-case only
asks current_analyzers().pick(). The model is loaded once; one that cannot be loaded does
not stop the service: /ready reports it, and scans answer 503 with the reason.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from dataclasses import dataclass

from flask import Flask, current_app

from service.analysis.base import AnalysisError, Analyzer
from service.config import Settings

log = logging.getLogger("riskscan.analysis")

# Loaded models, shared by every app of the process (tests build many apps on one model).
_models: dict[tuple, Analyzer] = {}
_models_lock = threading.Lock()


@dataclass
class Analyzers:
    model: Analyzer | None = None
    model_error: str | None = None
    llm: Analyzer | None = None
    llm_error: str | None = None

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
    from service.metrics import MODEL

    MODEL.info({"version": model.version, "device": str(model.device), "runtime": model.runtime,
                "quantize": model.quantize})
    return model, None


def _build_model(settings: Settings) -> Analyzer:
    """The fast model, each stage behind its own dynamic batcher when batching is on, and the
    reader after it when one is configured."""
    from service.analysis.cascade import READER_FILE, Cascade, read_screen
    from service.analysis.transformer import resolve_model_dir

    fast = _stage(settings.model_path, settings, quantize=settings.MODEL_QUANTIZE)
    reader_root = settings.reader_path
    if reader_root is None or (settings.READER_DIR.lower() == "auto" and (
            (reader_root / "config.json").is_file() or not (reader_root / READER_FILE).is_file())):
        return fast  # no reader: the fast model alone, as before the cascade
    reader_dir = resolve_model_dir(reader_root, READER_FILE)
    threshold = (settings.READER_SCREEN if settings.READER_SCREEN is not None
                 else read_screen(reader_dir))
    reader = _stage(reader_dir, settings, quantize=settings.READER_QUANTIZE)
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
    app.extensions.setdefault("riskscan.readiness", {})["analyzers"] = analyzers.readiness
    if model is not None:  # a service that runs the model is one that keeps registers
        warm_encoder(settings)
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
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _encoder(device: str):
    with _encoders_lock:
        if device not in _encoders:
            from service.analysis.embedding import SentenceEncoder

            _encoders[device] = SentenceEncoder(device=device)
            log.info("sentence encoder %s loaded on %s (%s)", _encoders[device].name, device,
                     _encoders[device].runtime)
        return _encoders[device]


def warm_encoder(settings: Settings) -> threading.Thread | None:
    """Load the register's encoder in the background (its ONNX export takes seconds), so
    that a service's first scan into a project does not wait for it; once per process."""
    device = _encoder_device(settings)
    if device in _encoders:
        return None

    def load():
        try:
            _encoder(device)
        except Exception:  # the first scan into a project tries again, and says why
            log.exception("sentence encoder not loaded in the background")

    thread = threading.Thread(target=load, name="riskscan-encoder-warmup", daemon=True)
    thread.start()
    return thread


def current_encoder():
    """The sentence encoder of the risk register (service/analysis/embedding.py), shared by
    every app of the process: warmed at start-up when the in-process model is loaded,
    otherwise loaded by the first scan into a project."""
    return _encoder(_encoder_device(current_app.config["SETTINGS"]))