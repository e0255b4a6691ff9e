"""The model's life in the service, read top to bottom in ``init_app``: build the model the
settings name (or the LLM), warm it before /ready says yes, follow the version the
deployment row names (activation, rollback: every process), and trial a candidate on
sampled scans (shadow trials). Admins drive it through ``routes`` (/api/v1/admin/models).

A scan asks ``current_analyzers().pick()`` for its model and, once stored, hands itself to
``scanned``: the scan path knows nothing of trials.
"""

from __future__ import annotations

import threading

from flask import Flask

from service.analysis.base import AnalysisError
from service.analysis.segment import import_spacy
from service.config import Settings
from service.serving import deployment, reader_training, registry, trials
from service.serving.holder import Analyzers, analysis_problem, current_analyzers
from service.serving.loading import load_llm, load_model
from service.serving.warmup import warm_up, warmup_of

__all__ = ["current_analyzers", "init_app", "load_for_command", "scanned"]


#: What a flask command's app says of its model until the command asks for one.
NOT_LOADED = "not loaded: a flask command that needs no model builds none"


def init_app(app: Flask, settings: Settings, *, serve: bool = True) -> None:
    """``serve``: this process takes traffic (``python -m service``, a Celery worker, the
    tests). A flask command's app (``serve=False``) builds no model and starts no thread:
    init-db or create-admin needs neither, and a warm-up still running in the model's C++
    code when the command's interpreter exited aborted it (exit 134). A command that scans
    asks for the model itself (``load_for_command``)."""
    app.register_error_handler(AnalysisError, analysis_problem)
    if not serve:
        app.extensions["riskscan.analyzers"] = Analyzers(model_error=NOT_LOADED,
                                                         llm_error=NOT_LOADED)
        app.extensions["riskscan.warmup"] = warmup_of(None)
        app.extensions[_DEFERRED] = settings
        return

    # Build: the fast model (or the cascade) and the LLM, each or its reason for absence.
    analyzers = _build(app, settings)

    # Warm: /health answers at once, /ready says 503 until the scan path ran on built-in text.
    warmup = app.extensions["riskscan.warmup"] = warmup_of(analyzers.model)
    readiness = app.extensions.setdefault("riskscan.readiness", {})
    readiness["analyzers"] = analyzers.readiness
    readiness["warmup"] = lambda: app.extensions["riskscan.warmup"].readiness()
    if not warmup.done.is_set():
        threading.Thread(target=warm_up, args=(app,), name="riskscan-warmup",
                         daemon=True).start()

    # Follow: which version every process serves is the database's (and trials with it).
    deployment.init_app(app, settings)
    # The reader's background training: never a reason to be unready (the fast model serves
    # meanwhile); an admin's /ready says what it does and how far it is. It is started by
    # `python -m service` alone (start_background), never by an app a test or a command builds.
    readiness["reader_training"] = lambda: {"ok": True, **reader_training.status(settings)}


def start_background(app: Flask, settings: Settings) -> None:
    """What a serving process starts beside its requests: the reader's training, where the
    deployment trains it (reader_training.why_not)."""
    if settings.model_path is not None:
        reader_training.start(app, settings)


def load_for_command(app: Flask) -> Analyzers:
    """The model and the LLM of a flask command's app that scans (``flask seed``), built now
    in the foreground: no warm-up thread, no follower (the command ends before either would
    matter). A no-op for an app that serves, which has them already."""
    settings = app.extensions.pop(_DEFERRED, None)
    if settings is None:
        return app.extensions["riskscan.analyzers"]
    analyzers = _build(app, settings)
    if analyzers.model is not None:
        analyzers.deployed = registry.configured_version(settings, analyzers.model)
    return analyzers


_DEFERRED = "riskscan.serving_deferred"  # a command's settings, until it asks for the model


def _build(app: Flask, settings: Settings) -> Analyzers:
    model, model_error = load_model(settings)
    llm, llm_error = load_llm(settings)
    analyzers = Analyzers(model=model, model_error=model_error, llm=llm, llm_error=llm_error)
    app.extensions["riskscan.analyzers"] = analyzers
    # spaCy imports with torch unimportable (segment.import_spacy): here, before the app's
    # threads, so that none asking for torch (the register's encoder) finds it missing.
    import_spacy()
    return analyzers


def scanned(app: Flask, scan, text: str, min_score: float | None, model, findings) -> None:
    """A stored scan, offered to the shadow trial running (if any) for its candidate to read
    in the background; an LLM's scan is not the model's to compare."""
    if model.source == "model":
        trials.offer(app, scan, text, min_score, model, findings)
