"""A model version's folder copied for a test or a benchmark, never linked as a whole: its
weights are hard-linked (large, and never written in place; copied across devices), every
other file is copied, because tests and benchmarks write calibration.json, check.json and
screen.json into a version, and writing through a link rewrote the source's, a real model's
where RISKSCAN_TEST_MODEL_DIR names one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

WEIGHTS = frozenset({"model.onnx", "model.int8.onnx", "model.safetensors"})


def copy_version(root: Path, name: str, source: Path, *, skip=()) -> Path:
    """``root``/``name``: the files of ``source`` but those named in ``skip``."""
    folder = root / name
    folder.mkdir(parents=True)
    for file in source.iterdir():
        if not file.is_file() or file.name in skip:
            continue
        if file.name in WEIGHTS:
            try:
                os.link(file, folder / file.name)
                continue
            except OSError:
                pass
        shutil.copy2(file, folder / file.name)
    return folder


def copy_model(source: Path, folder: Path, *, skip=()) -> Path:
    """``folder`` (made here): a copy of every file of ``source`` but those named in
    ``skip``, weights included. Nothing is linked, so no write into ``folder``, however it
    is made (in place, or by unlinking first), can reach ``source``: for a test's own
    copy of a session's model."""
    folder.mkdir(parents=True)
    for file in source.iterdir():
        if file.is_file() and file.name not in skip:
            shutil.copy2(file, folder / file.name)
    return folder
