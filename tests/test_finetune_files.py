"""The request and result files between the service and ``python -m ml.finetune``
(service/analysis/finetune_files.py): what one side writes the other reads back equal, and a
file that is not exactly one is refused, saying which key and why, never half-read."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.analysis.finetune_files import FinetuneFileError, FinetuneRequest, FinetuneResult


def a_request(tmp_path: Path, **changes) -> FinetuneRequest:
    fields = {"base": tmp_path / "models" / "base", "reader": None, "versions": ("base-ft-1",),
              "replay": 48, "epochs": 1, "documents": False, "data_dir": None,
              "rows": tmp_path / "rows.jsonl"}
    return FinetuneRequest(**{**fields, **changes})


def test_what_is_written_is_read_back_equal_and_its_owners_alone(tmp_path):
    plain = a_request(tmp_path)
    pair = a_request(tmp_path, reader=tmp_path / "models" / "rdr",
                     versions=("base-ft-1", "rdr-ft-1"), data_dir=tmp_path / "data",
                     documents=True)
    for request in (plain, pair):
        request.write(tmp_path / "request.json")
        assert FinetuneRequest.read(tmp_path / "request.json") == request
    assert (tmp_path / "request.json").stat().st_mode & 0o777 == 0o600
    for result in (FinetuneResult.made(["base-ft-1", "rdr-ft-1"]),
                   FinetuneResult.failed("OSError: no space left on device")):
        result.write(tmp_path / "result.json")
        assert FinetuneResult.read(tmp_path / "result.json") == result
    assert not [path for path in tmp_path.iterdir() if path.name.endswith(".partial")]


def _written(tmp_path: Path, data) -> Path:
    path = tmp_path / "file.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def _request_data(tmp_path: Path) -> dict:
    a_request(tmp_path).write(tmp_path / "good.json")
    return json.loads((tmp_path / "good.json").read_text())


@pytest.mark.parametrize(("change", "said"), [
    ({"epoch": 1}, "unknown keys epoch"),
    ({"rows": None}, "rows must be a non-empty string"),
    ({"replay": "48"}, "replay must be a whole number"),
    ({"replay": -1}, "replay must be a whole number"),
    ({"epochs": True}, "epochs must be a whole number"),
    ({"epochs": 0}, "epochs must be 1 or more"),
    ({"documents": 1}, "documents must be true or false"),
    ({"versions": "base-ft-1"}, "versions must be a list"),
    ({"versions": [""]}, "versions must be a list of non-empty strings"),
    ({"versions": ["a", "b"]}, "versions must name 1 folder"),
    ({"reader": "/m/rdr"}, "versions must name 2 folder"),
    ({"base": ""}, "base must be a non-empty string"),
    ({"data_dir": 3}, "data_dir must be a non-empty string"),
])
def test_a_request_of_the_wrong_shape_is_refused_saying_why(tmp_path, change, said):
    data = {**_request_data(tmp_path), **change}
    with pytest.raises(FinetuneFileError, match=said):
        FinetuneRequest.read(_written(tmp_path, data))


def test_a_request_missing_a_key_or_not_one_is_refused(tmp_path):
    data = _request_data(tmp_path)
    del data["documents"]
    with pytest.raises(FinetuneFileError, match="missing keys documents"):
        FinetuneRequest.read(_written(tmp_path, data))
    for text, said in (("{not json", "not JSON"), ("[]", "not a JSON object"),
                       (json.dumps({"ok": False, "versions": [], "error": "x"}),
                        "not a FinetuneRequest")):
        with pytest.raises(FinetuneFileError, match=said):
            FinetuneRequest.read(_written(tmp_path, text))
    with pytest.raises(FinetuneFileError, match="unreadable"):
        FinetuneRequest.read(tmp_path / "absent.json")


@pytest.mark.parametrize(("data", "said"), [
    ({"ok": True, "versions": [], "error": None}, "names the versions made"),
    ({"ok": True, "versions": ["v"], "error": "but"}, "names the versions made and no error"),
    ({"ok": False, "versions": [], "error": None}, "says why"),
    ({"ok": False, "versions": [], "error": ""}, "error must be a non-empty string"),
    ({"ok": False, "versions": ["v"], "error": "x"}, "names no versions"),
    ({"ok": "yes", "versions": ["v"], "error": None}, "ok must be true or false"),
    ({"ok": True, "versions": ["v"]}, "missing keys error"),
    ({"ok": True, "versions": ["v"], "error": None, "why": ""}, "unknown keys why"),
])
def test_a_result_of_the_wrong_shape_is_refused_saying_why(tmp_path, data, said):
    with pytest.raises(FinetuneFileError, match=said):
        FinetuneResult.read(_written(tmp_path, data))


def test_one_made_in_code_is_checked_too(tmp_path):
    with pytest.raises(ValueError, match="versions must name 2"):
        a_request(tmp_path, reader=tmp_path / "rdr")
    with pytest.raises(ValueError, match="says why"):
        FinetuneResult(ok=False, versions=(), error=None)
