"""The operating point: a scan's ``min_score``, ``MODEL_MIN_SCORE``, a model's own
``calibration.json``, and the heading rule, through the API on the real test model."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from service.analysis.base import AnalysisError
from service.analysis.model_folder import CALIBRATION_JSON
from service.analysis.transformer import TransformerAnalyzer
from tests.helpers import Accounts, assert_problem
from tests.scanning import TEXT, created, post_file, post_text

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


def test_a_null_min_score_is_the_default_operating_point(scan_client, headers):
    default = created(post_text(scan_client, headers, REPORT))
    null = created(post_text(scan_client, headers, REPORT, min_score=None))
    assert spans(null) == spans(default)
    assert spans(null) != spans(created(post_text(scan_client, headers, REPORT, min_score=0.0)))


@pytest.mark.parametrize("value", [-0.1, 1.5, "high", True, float("inf")])
def test_a_bad_min_score_is_422(scan_client, headers, value):
    if value == float("inf"):
        response = post_file(scan_client, headers, b"Costs may rise.", "a.txt", min_score="inf")
    else:
        response = post_text(scan_client, headers, "Costs may rise.", min_score=value)
    assert_problem(response, 422, "min_score")
    assert _scans(scan_client, headers) == 0


def test_a_nan_min_score_is_422(scan_client, headers):
    """NaN is not JSON, but Python's parser reads it: it must not pass as a number."""
    response = scan_client.post("/api/v1/scans", headers=headers,
                                data='{"text": "Costs may rise.", "min_score": NaN}',
                                content_type="application/json")
    assert_problem(response, 422, "min_score")
    assert _scans(scan_client, headers) == 0


def _scans(client, headers) -> int:
    return client.get("/api/v1/scans", headers=headers).get_json()["total"]


@pytest.mark.parametrize("value", ["-1", "1.01", "nan", "lots"])
def test_a_bad_min_score_in_a_form_is_422(scan_client, headers, value):
    response = post_file(scan_client, headers, b"Costs may rise.", "a.txt", min_score=value)
    assert_problem(response, 422, "min_score")


def test_model_min_score_sets_the_default(make_app, scan_model_dir, scan_client, headers):
    app = make_app(MODEL_DIR=str(scan_model_dir), MODEL_MIN_SCORE=0.0)
    client = app.test_client()
    zero_headers = Accounts(app, client).user()[1]
    everything = created(post_text(client, zero_headers, REPORT))
    assert spans(everything) == spans(created(post_text(client, zero_headers, REPORT,
                                                        min_score=0.0)))
    # The model's own operating point, on an app without the setting, finds fewer.
    assert spans(everything) > spans(created(post_text(scan_client, headers, REPORT)))


def _folder_with(tmp_path, model_dir, calibration: str):
    folder = tmp_path / "calibrated"
    folder.mkdir(parents=True)
    for item in Path(model_dir).iterdir():  # a str where RISKSCAN_TEST_MODEL_DIR names it
        (folder / item.name).symlink_to(item)
    (folder / CALIBRATION_JSON).unlink(missing_ok=True)
    (folder / CALIBRATION_JSON).write_text(calibration)
    return folder


def test_a_models_calibration_sets_its_temperature_and_operating_point(tmp_path, scan_model_dir):
    folder = _folder_with(tmp_path, scan_model_dir,
                          json.dumps({"temperature": 2.5, "min_score": 0.7}))
    analyzer = TransformerAnalyzer(folder)
    assert (analyzer.temperature, analyzer.min_score) == (2.5, 0.7)
    labelled = analyzer.classify(TEXT.split(". "))
    assert all(score >= 0.7 for label, score in labelled if label != "none")
    plain = TransformerAnalyzer(scan_model_dir)
    assert plain.temperature < 2.5
    # A sentence the model finds plain: P(none), its most likely label, falls as the
    # temperature rises, so its risk score (1 - P(none)) rises, to softmax(logits / 2.5)'s.
    sentence = ["The team met on Tuesday."]
    logits = plain.logits(sentence)[0]
    assert logits.argmax().item() == plain.labels.index("none")
    [(_, hot)] = analyzer.classify(sentence, min_score=0.0)
    [(_, cold)] = plain.classify(sentence, min_score=0.0)
    assert hot > cold
    expected = 1 - torch.softmax(logits / 2.5, dim=-1)[plain.labels.index("none")].item()
    assert hot == pytest.approx(expected, rel=1e-5)


def test_a_score_map_changes_what_a_score_says_never_which_sentence_ranks_first(
        tmp_path, scan_model_dir):
    """calibration.json's score map (ml.calibrate fits it on held-out writers) is applied to
    every risk score: σ(slope · logit(s) + intercept), and the order of sentences stays."""
    tempered = _folder_with(tmp_path / "a", scan_model_dir,
                            json.dumps({"temperature": 1.5, "min_score": 0.0}))
    mapped = _folder_with(tmp_path / "b", scan_model_dir, json.dumps(
        {"temperature": 1.5, "min_score": 0.0,
         "score_map": {"slope": 0.5, "intercept": -1.0}}))
    sentences = TEXT.split(". ")
    before = [score for _, score in TransformerAnalyzer(tempered).classify(sentences)]
    after = [score for _, score in TransformerAnalyzer(mapped).classify(sentences)]
    for old, new in zip(before, after):
        log_odds = math.log(old / (1 - old))
        assert new == pytest.approx(1 / (1 + math.exp(-(0.5 * log_odds - 1.0))), rel=1e-4)
    assert sorted(range(len(before)), key=before.__getitem__) == \
        sorted(range(len(after)), key=after.__getitem__)
    assert before != after


def test_below_the_score_maps_floor_a_score_falls_in_a_line_to_zero():
    """The map is fitted on findings and near misses (from its floor up); below, plain lines
    keep plain scores: a straight line from 0 to where the logistic starts."""
    from service.analysis.scores import mapped

    score_map = (0.2, 0.1, 0.5)
    start = 1 / (1 + math.exp(-0.1))  # the logistic at the floor: log-odds 0
    scores = mapped(np.array([0.0, 0.001, 0.25, 0.5, 0.9, 0.999], dtype=np.float32), score_map)
    assert scores[0] == 0 and scores[1] == pytest.approx(0.001 * start / 0.5, rel=1e-4)
    assert scores[2] == pytest.approx(start / 2, rel=1e-4)
    assert scores[3] == pytest.approx(start, rel=1e-4)
    assert list(scores) == sorted(scores)  # monotone across the floor
    assert scores[5] < 0.999  # a flat slope takes the over-sure top down


@pytest.mark.parametrize("score_map", [{"slope": 0, "intercept": 0},
                                       {"slope": -1, "intercept": 0},
                                       {"slope": "NaN", "intercept": 0}, {"slope": 1},
                                       {"slope": 1, "intercept": 0, "floor": 1.0}])
def test_a_score_map_that_would_reorder_or_is_incomplete_is_refused(tmp_path, scan_model_dir,
                                                                    score_map):
    folder = _folder_with(tmp_path, scan_model_dir, json.dumps(
        {"temperature": 1.0, "min_score": 0.5, "score_map": score_map}))
    with pytest.raises(AnalysisError, match="calibration.json"):
        TransformerAnalyzer(folder)


def test_an_unreadable_calibration_is_a_model_that_does_not_load(tmp_path, scan_model_dir):
    folder = _folder_with(tmp_path, scan_model_dir, "{not json")
    with pytest.raises(AnalysisError, match="calibration.json"):
        TransformerAnalyzer(folder)
