"""The process's cache of loaded models (service/serving/loading.py): a model loaded once is
shared by every app of the process, and ``forget_loaded_from`` drops what was loaded from
under a folder, and only that, so that a process whose model folders go away (a test's own
copies) does not hold them until it exits."""

from __future__ import annotations

from pathlib import Path

from service.config import Settings
from service.serving import loading
from testkit.model_folders import copy_model


def settings_on(model_dir, reader_dir="off") -> Settings:
    return Settings.from_env({}, RISKSCAN_ENV="testing", SECRET_KEY="test-secret-key-0123456789",
                             MODEL_DIR=str(model_dir), READER_DIR=str(reader_dir),
                             READER_QUANTIZE="none")


def unbatched(stage):
    """The analyzer a stage is, or the one its dynamic batcher wraps."""
    return getattr(stage, "analyzer", stage)


def test_a_model_is_loaded_once_and_forgotten_only_under_its_folder(tmp_path, scan_model_dir):
    mine = copy_model(Path(scan_model_dir), tmp_path / "mine" / "v1")
    other = copy_model(Path(scan_model_dir), tmp_path / "other" / "v1")
    first, error = loading.load_model(settings_on(mine))
    assert error is None
    assert loading.load_model(settings_on(mine))[0] is first  # shared by a second app
    kept = loading.load_model(settings_on(other))[0]

    loading.forget_loaded_from(tmp_path / "mine")

    again = loading.load_model(settings_on(mine))[0]
    assert again is not first and again.version == first.version
    assert loading.load_model(settings_on(other))[0] is kept


def test_a_cascade_whose_reader_lay_under_the_folder_is_forgotten_and_its_screen_kept(
        tmp_path, scan_model_dir, reader_dir):
    fast = copy_model(Path(scan_model_dir), tmp_path / "shared" / "v1")
    reader = copy_model(reader_dir, tmp_path / "mine" / "reader-test")
    first, error = loading.load_model(settings_on(fast, reader))
    assert error is None and first.version.endswith("+reader-test")

    loading.forget_loaded_from(tmp_path / "mine")

    again = loading.load_model(settings_on(fast, reader))[0]
    assert again is not first
    assert unbatched(again.reader) is not unbatched(first.reader)  # the reader read anew
    assert unbatched(again.screen) is unbatched(first.screen)  # the fast model still shared
