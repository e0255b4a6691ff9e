"""The owner of a model version's folder (service/analysis/model_folder.py): a version is
published whole or not at all, the root's pointers name one folder, files are read within
bounds and written whole, and a card's section is said once however often a step runs."""

from __future__ import annotations

import json

import pytest

from service.analysis import model_folder
from service.analysis.model_folder import (
    CALIBRATION_JSON,
    CURRENT,
    READ_LIMIT,
    READER,
    SCREEN_JSON,
    ModelFolder,
    point,
    pointed,
    staged,
)


def test_a_staged_version_appears_whole_under_its_name(tmp_path):
    target = tmp_path / "models" / "v1"
    with staged(target) as staging:
        ModelFolder(staging).write_json("metrics.json", {"f1": 0.5})
        assert not target.exists()  # nothing under the name until the block ends
    assert ModelFolder(target).metrics() == {"f1": 0.5}
    assert [p.name for p in target.parent.iterdir()] == ["v1"]
    assert target.stat().st_mode & 0o777 == 0o755
    assert (target / "metrics.json").stat().st_mode & 0o777 == 0o644


def test_a_failed_version_leaves_nothing_behind(tmp_path):
    target = tmp_path / "v1"
    with pytest.raises(RuntimeError), staged(target) as staging:
        (staging / "model.safetensors").write_bytes(b"half")
        raise RuntimeError("the evaluation failed")
    assert list(tmp_path.iterdir()) == []


def test_a_version_is_never_staged_over_one_that_exists(tmp_path):
    (tmp_path / "v1").mkdir()
    with pytest.raises(FileExistsError), staged(tmp_path / "v1"):
        pass
    assert list(tmp_path.iterdir()) == [tmp_path / "v1"]


def test_a_pointer_names_the_version_it_was_pointed_at(tmp_path):
    assert pointed(tmp_path, CURRENT) is None
    point(tmp_path, "v1", CURRENT)
    point(tmp_path, "r1", READER)
    point(tmp_path, "v2", CURRENT)
    assert (pointed(tmp_path, CURRENT), pointed(tmp_path, READER)) == ("v2", "r1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current", "reader"]  # no leftovers


@pytest.mark.parametrize("held", ["", "../elsewhere", "a/b", "..", "."])
def test_a_pointer_that_names_no_folder_is_refused(tmp_path, held):
    (tmp_path / CURRENT).write_text(held + "\n")
    with pytest.raises(ValueError, match="version folder name"):
        pointed(tmp_path, CURRENT)


def test_a_pointer_that_is_a_folder_or_links_to_one_is_refused_by_name(tmp_path):
    """A hand-made ``current -> v1`` link once cost a reader's 85-minute training its last
    step: it is refused, saying what a pointer is, before anything trains."""
    (tmp_path / "v1").mkdir()
    (tmp_path / CURRENT).symlink_to(tmp_path / "v1")
    with pytest.raises(ValueError, match="should be a file that holds a version folder name"):
        pointed(tmp_path, CURRENT)
    from service.analysis.transformer import ModelNotFoundError, resolve_model_dir

    with pytest.raises(ModelNotFoundError, match="not a folder"):
        resolve_model_dir(tmp_path)


def test_only_the_two_pointers_are_written(tmp_path):
    with pytest.raises(ValueError):
        point(tmp_path, "v1", "metrics.json")


def test_the_role_and_fitted_model_come_from_the_screen(tmp_path):
    folder = ModelFolder(tmp_path)
    assert (folder.role, folder.fitted_to()) == ("fast", None)
    folder.write_json(SCREEN_JSON, {"screen": 0.4, "fast_model": "v1"})
    assert (folder.role, folder.fitted_to()) == ("reader", "v1")


def test_calibration_is_read_typed_and_a_broken_one_refused(tmp_path):
    folder = ModelFolder(tmp_path)
    assert folder.calibration() is None
    folder.write_json(CALIBRATION_JSON, {"temperature": 1.5, "min_score": 0.6,
                                         "score_map": {"slope": 2, "intercept": -1}})
    assert folder.calibration() == model_folder.Calibration(1.5, 0.6, (2.0, -1.0, 0.0))
    folder.write_json(CALIBRATION_JSON, {"temperature": 1.5})
    with pytest.raises(ValueError):
        folder.calibration()


def test_a_file_over_the_read_limit_is_not_read(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"x": "a" * READ_LIMIT}))
    folder = ModelFolder(tmp_path)
    assert folder.metrics() == {}
    (tmp_path / "README.md").write_text("a" * (READ_LIMIT + 1))
    assert folder.card() is None


def test_a_card_section_is_replaced_when_a_step_runs_again(tmp_path):
    folder = ModelFolder(tmp_path)
    folder.write_card("# v1\n\nThe card.\n\n## In the cascade\n\nOld.\n\n## Later\n\nKept.\n")
    folder.write_card_section("In the cascade", "New.")
    folder.write_card_section("The score map", "First.")
    folder.write_card_section("The score map", "Second.")
    assert folder.card() == ("# v1\n\nThe card.\n\n## Later\n\nKept.\n\n## In the cascade\n\n"
                             "New.\n\n## The score map\n\nSecond.\n")
