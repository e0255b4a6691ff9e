"""A model folder's score map (calibration.json, service/analysis/scores.py) reaches the scores
a client reads: POST /api/v1/scans and the stored scan, on a copy of the real test model.

The map says what a score means for writers the model never met; the operating point is
read on the mapped scale. Tests of the analyzer alone (tests/test_min_score.py) do not show
that the API serves the mapped scores, nor that a stored scan keeps them.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from service.analysis.model_folder import CALIBRATION_JSON
from service.analysis.transformer import read_calibration
from tests.helpers import Accounts
from tests.scanning import TEXT, created, post_text

SLOPE, INTERCEPT = 0.5, -2.0


def by_span(scan: dict) -> dict:
    return {(f["start"], f["end"]): f for f in scan["data"]}


@pytest.fixture
def mapped_app(make_app, scan_model_dir, tmp_path):
    """An app on a copy of the test model (never the session's folder: the test writes its
    calibration) read at the test model's own temperature, through a score map."""
    source = Path(scan_model_dir)
    folder = shutil.copytree(source, tmp_path / "mapped",
                             ignore=shutil.ignore_patterns("model.safetensors"))
    temperature, _, _ = read_calibration(source)
    (folder / CALIBRATION_JSON).unlink(missing_ok=True)
    (folder / CALIBRATION_JSON).write_text(json.dumps(
        {"temperature": temperature, "min_score": 0.5,
         "score_map": {"slope": SLOPE, "intercept": INTERCEPT}}))
    return make_app(MODEL_DIR=str(folder))


def test_a_scan_answers_and_stores_the_score_maps_scores(scan_app, scan_client, mapped_app):
    """Every sentence (min_score 0) scored by the model as it is and through the map: the
    same findings, each scored σ(slope · logit(s) + intercept), as answered and as stored."""
    plain = created(post_text(scan_client, Accounts(scan_app, scan_client).user()[1], TEXT,
                              min_score=0.0))
    client = mapped_app.test_client()
    headers = Accounts(mapped_app, client).user()[1]
    answered = created(post_text(client, headers, TEXT, min_score=0.0))
    stored = client.get(f"/api/v1/scans/{answered['scan_id']}", headers=headers).get_json()

    before, after = by_span(plain), by_span(answered)
    assert before and before.keys() == after.keys()
    for span, finding in before.items():
        score = finding["score"]
        expected = 1 / (1 + math.exp(-(SLOPE * math.log(score / (1 - score)) + INTERCEPT)))
        assert after[span]["score"] == pytest.approx(expected, abs=1e-3), finding["risk"]
        assert after[span]["category"] == finding["category"]
    assert [f["score"] for f in stored["data"]] == [f["score"] for f in answered["data"]]
    assert any(abs(after[span]["score"] - f["score"]) > 0.05 for span, f in before.items())


def test_a_scans_default_operating_point_is_read_on_the_mapped_scores(scan_app, scan_client,
                                                                      mapped_app):
    """The model's min_score (0.5) applies to what the map says: the findings of a scan
    that names none are the sentences whose mapped score reaches 0.5, not those whose
    score before the map did (the map, σ(0.5 · logit(s) − 2), moves 0.5 up to 0.98: the
    suite's model scores most risks of TEXT between the two)."""
    raw = by_span(created(post_text(scan_client, Accounts(scan_app, scan_client).user()[1],
                                    TEXT, min_score=0.0)))
    client = mapped_app.test_client()
    headers = Accounts(mapped_app, client).user()[1]
    every = by_span(created(post_text(client, headers, TEXT, min_score=0.0)))
    default = by_span(created(post_text(client, headers, TEXT)))

    assert default.keys() == {span for span, f in every.items() if f["score"] >= 0.5}
    assert default.keys() != {span for span, f in raw.items() if f["score"] >= 0.5}
