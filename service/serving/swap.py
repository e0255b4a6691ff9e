"""The swap: a new model made the app's in one assignment, the old one freed with its last
scan; and a model nobody serves (a trial's candidate) let go."""

from __future__ import annotations

import logging

from flask import Flask

from service.analysis.base import Analyzer
from service.serving.holder import Analyzers
from service.serving.loading import announce, forget
from service.serving.warmup import warmup_of

log = logging.getLogger("riskscan.analysis")


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
        app.extensions["riskscan.warmup"] = warmup_of(model)
    if old is not None and old is not model:
        forget(old, keep=model)
    announce(model)
    log.info("model %s serves now (deployment generation %d)", model.version, generation)
    return True


def drop(model, *, keep) -> None:
    """Let a model nobody serves any more (a shadow trial's candidate) leave memory: out of
    the process's cache here, but the parts the serving model ``keep`` shares; gone when
    its last reader lets go."""
    forget(model, keep=keep)
