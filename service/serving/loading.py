"""Loading a model: the fast model, or the cascade of it and its reader, built once per
process for its settings, checked and warmed before it may serve; and the LLM.

Loaded models are shared by every app of the process (tests build many apps on one model);
``forget`` lets one leave that cache when nobody serves it any more.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from pathlib import Path

from service.analysis.base import AnalysisError, Analyzer
from service.analysis.model_folder import (
    CURRENT,
    INT8_ONNX,
    READER,
    ModelFolder,
    is_version,
    pointed,
)
from service.config import Settings
from service.serving.encoder import encoder_device
from service.serving.warmup import warmup_of

log = logging.getLogger("riskscan.analysis")

# Loaded models, shared by every app of the process (tests build many apps on one model).
_models: dict[tuple, Analyzer] = {}
_models_lock = threading.Lock()


def load_model(settings: Settings) -> tuple[Analyzer | None, str | None]:
    """(analyzer, None), or (None, why not): the fast model, or the cascade of the fast model
    and its reader when one is configured (READER_DIR; service/analysis/cascade_model.py)."""
    path = settings.model_path
    if path is None:
        return None, "the in-process model is switched off (MODEL_DIR=off)"
    key = (str(path.resolve()), _current_version(path, CURRENT), str(settings.reader_path),
           _current_version(settings.reader_path, READER), settings.READER_DIR,
           settings.READER_QUANTIZE, settings.READER_SCREEN, settings.READER_BUDGET,
           settings.MODEL_DEVICE, settings.MODEL_BATCH_SIZE, settings.MODEL_QUANTIZE,
           settings.MODEL_RUNTIME,
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
        warmup = warmup_of(model)
        warmup.run(model, settings)
        if warmup.error is not None:
            raise AnalysisError(f"its warm-up failed ({warmup.error})", status=422)
    except Exception:
        forget(model, keep=None)  # refused: nothing of it stays resident
        raise
    return model


def _parts(model) -> list:
    """A model and what it is built of: its stages, and the analyzers batchers wrap."""
    if model is None:
        return []
    parts = [model, *getattr(model, "stages", ())]
    return parts + [part.analyzer for part in parts if hasattr(part, "analyzer")]


def forget(old, *, keep) -> None:
    """Drop ``old`` and its parts from the process's cache of loaded models, but those that
    ``keep`` shares (the reader): the cache must not keep a model nobody serves."""
    gone = {id(part) for part in _parts(old)} - {id(part) for part in _parts(keep)}
    with _models_lock:
        for key in [key for key, value in _models.items() if id(value) in gone]:
            del _models[key]


def forget_loaded_from(folder) -> None:
    """Drop from the cache every model loaded from under ``folder`` (its models root, model
    or reader folder). A process that loads models out of folders that then go away, as the
    tests' own copies do, would otherwise hold each of them until it exits."""
    folder = Path(folder).resolve()

    def loaded_from_under(key: tuple) -> bool:  # a key names the folders its model came from
        return any(isinstance(part, str) and Path(part).is_absolute()
                   and Path(part).is_relative_to(folder) for part in key)

    with _models_lock:
        for key in [key for key in _models if loaded_from_under(key)]:
            del _models[key]


def _with_reader(fast: Analyzer, settings: Settings) -> Analyzer:
    """``fast`` alone, or the cascade of it and the configured reader."""
    from service.analysis.transformer import resolve_model_dir

    reader_root = settings.reader_path
    if reader_root is None or (settings.READER_DIR.lower() == "auto" and (
            is_version(reader_root) or not (reader_root / READER).is_file())):
        return fast  # no reader: the fast model alone, as before the cascade
    return _cascade(fast, resolve_model_dir(reader_root, READER), settings)


def _cascade(fast: Analyzer, reader_dir, settings: Settings) -> Analyzer:
    """The cascade of ``fast`` and the reader in ``reader_dir``, at READER_SCREEN or the
    screen threshold chosen for the reader, within READER_BUDGET."""
    from service.analysis.cascade_model import Cascade, read_screen, read_shapes

    # READER_SCREEN, where set, is the one threshold for every document.
    threshold, shapes = ((settings.READER_SCREEN, {}) if settings.READER_SCREEN is not None
                         else (read_screen(reader_dir), read_shapes(reader_dir)))
    quantize = settings.READER_QUANTIZE
    if quantize == "auto":  # the precision ml.cascade checked for this reader
        quantize = "int8" if ModelFolder(reader_dir).has(INT8_ONNX) else "none"
    reader = _stage(reader_dir, settings, quantize=quantize)
    return Cascade(fast, reader, threshold=threshold, shapes=shapes,
                   budget=settings.READER_BUDGET)


def _stage(path, settings: Settings, *, quantize: str) -> Analyzer:
    """One model, loaded once per process for its settings, behind a dynamic batcher when
    MODEL_DYNAMIC_BATCHING is on."""
    from service.analysis.transformer import TransformerAnalyzer

    device = None if settings.MODEL_DEVICE == "auto" else settings.MODEL_DEVICE
    if device == "cuda" or (device is None and encoder_device(settings) == "cuda"):
        quantize = "none"  # CUDA runs fp16 (TransformerAnalyzer)
    key = (str(path.resolve()), _current_version(path, CURRENT), device,
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
    from service.llm.failures import LLMNotConfiguredError

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
    try:
        return pointed(path, pointer) or ""
    except (OSError, ValueError):
        return ""
