"""The risk register's sentence encoder (service/analysis/embedding.py): one per device,
shared by every app of the process, warmed with the model or loaded by the first scan into
a project."""

from __future__ import annotations

import logging
import threading

from service.config import Settings, current_settings

log = logging.getLogger("riskscan.analysis")

_encoders: dict[str, object] = {}
_encoders_lock = threading.Lock()


def encoder_device(settings: Settings) -> str:
    if settings.MODEL_DEVICE != "auto":
        return settings.MODEL_DEVICE
    from service.analysis.devices import select_device

    return select_device().type


def encoder_on(device: str):
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
    return encoder_on(encoder_device(current_settings()))
