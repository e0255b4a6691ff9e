"""A reader folder as `make reader` leaves one, made of the test model (``reader_dir``), and a
models root holding copies of both (``cascade_root``): the cascade's tests and the cascade's
bench test read through them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.analysis.model_folder import CALIBRATION_JSON, CARD, SCREEN_JSON
from testkit.model_folders import copy_model

READER_TEMPERATURE, READER_POINT = 2.0, 0.6
#: The real reader's screen: the test model scores the plain sentences of MIXED_TEXT 0.25
#: and 0.42, its risks 0.95 and more.
SCREEN = 0.5


@pytest.fixture(scope="session")
def reader_dir(scan_model_dir, tmp_path_factory) -> Path:
    """The test model's files, read at another temperature and operating point, with a
    screen threshold: a reader that scores differently from the screen, so that whose
    score a finding carries is visible."""
    # A copy, never links: no test's write reaches the session's model.
    folder = copy_model(Path(scan_model_dir), tmp_path_factory.mktemp("readers") / "reader-test",
                        skip={CALIBRATION_JSON, SCREEN_JSON, CARD})
    (folder / CALIBRATION_JSON).write_text(json.dumps(
        {"temperature": READER_TEMPERATURE, "min_score": READER_POINT}))
    (folder / SCREEN_JSON).write_text(json.dumps({"screen": SCREEN}))
    return folder


@pytest.fixture
def cascade_root(scan_model_dir, reader_dir, tmp_path) -> Path:
    """A models root whose `current` names the test model; `reader` is added by the tests."""
    root = tmp_path / "models"
    for folder in (Path(scan_model_dir), reader_dir):
        copy_model(folder, root / folder.name)
    (root / "current").write_text(Path(scan_model_dir).name + "\n")
    return root
