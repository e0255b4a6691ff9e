"""The operating point: a scan's ``min_score``, ``MODEL_MIN_SCORE``, a model's own
``calibration.json``, and the heading rule, through the API on the real test model."""

from __future__ import annotations

import json

import pytest

from service.analysis.base import AnalysisError
from service.analysis.transformer import CALIBRATION_FILE, TransformerAnalyzer
from tests.helpers import Accounts, assert_problem
from tests.scanning import TEXT, post_file, post_text

REPORT = ("Risks and issues\n"
          "Open items:\n" + TEXT)


def spans(scan: dict) -> set[tuple[int, int]]:
    return {(f["start"], f["end"]) for f in scan["data"]}


@pytest.fixture
def headers(scan_app, scan_client):
    return Accounts(scan_app, scan_client).user()[1]


def test_a_higher_min_score_finds_a_subset_scored_at_least_that(scan_client, headers):
    everything = post_text(scan_client, headers, REPORT, min_score=0.0).get_json()
    default = post_text(scan_client, headers, REPORT).get_json()
    strict = post_text(scan_client, headers, REPORT, min_score=0.9).get_json()
    assert spans(strict) <= spans(default) <= spans(everything)
    assert len(spans(everything)) > len(spans(strict))
    assert all(f["score"] >= 0.9 for f in strict["data"])
    # Every sentence but the heading and the label is judged at 0.
    assert {f["risk"] for f in everything["data"]}.isdisjoint({"Risks and issues",
                                                               "Open items:"})


def test_min_score_in_a_form_works_like_json(scan_client, headers):
    form = post_file(scan_client, headers, REPORT.encode(), "report.txt", min_score="0.9")
    assert form.status_code == 201
    json_scan = post_text(scan_client, headers, REPORT, min_score=0.9).get_json()
    assert spans(form.get_json()) == spans(json_scan)


@pytest.mark.parametrize("value", [-0.1, 1.5, "high", None, True, float("inf")])
def test_a_bad_min_score_is_422(scan_client, headers, value):
    if value is None:
        response = scan_client.post("/api/v1/scans", headers=headers,
                                    data='{"text": "Costs may rise.", "min_score": NaN}',
                                    content_type="application/json")
        assert response.status_code in (400, 422)
        return
    if value == float("inf"):
        response = post_file(scan_client, headers, b"Costs may rise.", "a.txt", min_score="inf")
    else:
        response = post_text(scan_client, headers, "Costs may rise.", min_score=value)
    assert_problem(response, 422, "min_score")


@pytest.mark.parametrize("value", ["-1", "1.01", "nan", "lots"])
def test_a_bad_min_score_in_a_form_is_422(scan_client, headers, value):
    response = post_file(scan_client, headers, b"Costs may rise.", "a.txt", min_score=value)
    assert_problem(response, 422, "min_score")


def test_model_min_score_sets_the_default(make_app, scan_model_dir):
    app = make_app(MODEL_DIR=str(scan_model_dir), MODEL_MIN_SCORE=0.0)
    client = app.test_client()
    headers = Accounts(app, client).user()[1]
    everything = post_text(client, headers, REPORT).get_json()
    assert len(everything["data"]) == len(post_text(client, headers, REPORT, min_score=0.0)
                                          .get_json()["data"])


def _folder_with(tmp_path, model_dir, calibration: str):
    folder = tmp_path / "calibrated"
    folder.mkdir()
    for item in model_dir.iterdir():
        (folder / item.name).symlink_to(item)
    (folder / CALIBRATION_FILE).unlink(missing_ok=True)
    (folder / CALIBRATION_FILE).write_text(calibration)
    return folder


def test_a_models_calibration_sets_its_temperature_and_operating_point(tmp_path, scan_model_dir):
    folder = _folder_with(tmp_path, scan_model_dir,
                          json.dumps({"temperature": 2.5, "min_score": 0.7}))
    analyzer = TransformerAnalyzer(folder)
    assert (analyzer.temperature, analyzer.min_score) == (2.5, 0.7)
    labelled = analyzer.classify(TEXT.split(". "))
    assert all(score >= 0.7 for label, score in labelled if label != "none")
    plain = TransformerAnalyzer(scan_model_dir)
    hot = [score for label, score in analyzer.classify(["The vendor may go bankrupt."],
                                                       min_score=0.0)]
    cold = [score for label, score in plain.classify(["The vendor may go bankrupt."],
                                                     min_score=0.0)]
    assert hot != cold  # the temperature changed the risk score


def test_an_unreadable_calibration_is_a_model_that_does_not_load(tmp_path, scan_model_dir):
    folder = _folder_with(tmp_path, scan_model_dir, "{not json")
    with pytest.raises(AnalysisError, match="calibration.json"):
        TransformerAnalyzer(folder)
