"""The score map refitted on a deployment's reviewed findings (ml/deployment_map.py, issue #60
item 5): which corrections are its data (service/serving/corrections.py, ``shown``), how a
training hands them over (ml/finetune.py), and the refit on a copy of the test model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from ml import deployment_map
from tests.corrections import add, base_models_root, correct, decide_ids, scan
from tests.helpers import Accounts

MAP = (1.0, 0.0, 0.5)


def test_the_operating_point_is_carried_over_in_the_tempered_scale():
    for score_map in (None, MAP, (0.3, -1.2, 0.5), (2.0, 0.4, 0.0)):
        for tempered in (0.1, 0.49, 0.5, 0.62, 0.97):
            shown = deployment_map.through(tempered, score_map)
            assert deployment_map.inverse(shown, score_map) == pytest.approx(tempered, abs=1e-6)


def test_a_shift_moves_the_scores_to_the_deployments_precision():
    rng = np.random.default_rng(0)
    scores = rng.uniform(0.6, 0.99, 60).tolist()
    risks = [int(i % 4 == 0) for i in range(60)]  # a quarter are risks
    score_map, why_not = deployment_map.fit(scores, risks, shift_of=MAP)
    assert why_not == "" and score_map[0] == MAP[0] and score_map[1] < MAP[1]
    mean = np.mean([deployment_map.through(s, score_map) for s in scores])
    assert mean == pytest.approx(0.25, abs=0.01)
    # Too few, or nothing dismissed: kept.
    assert deployment_map.fit(scores[:19], risks[:19], shift_of=MAP)[0] is None
    assert deployment_map.fit(scores, [1] * 60, shift_of=MAP)[0] is None


@pytest.fixture
def model(tmp_path, scan_model_dir) -> Path:
    """A copy of the test model (never its folder) with a score map and a check.json."""
    from service.analysis.check import write_check
    from service.analysis.transformer import TransformerAnalyzer

    folder = tmp_path / "candidate"
    shutil.copytree(scan_model_dir, folder)
    (folder / "calibration.json").write_text(json.dumps({
        "temperature": 1.0, "min_score": 0.6,
        "score_map": dict(zip(("slope", "intercept", "floor"), MAP))}))
    write_check(folder, TransformerAnalyzer(folder))
    return folder


def findings_of(model: Path, count: int, share: float) -> list[dict]:
    """``count`` validation sentences the model scores from the map's floor, a ``share`` of
    them confirmed: what a deployment's reviewers said of its findings."""
    from service.analysis.transformer import TransformerAnalyzer

    analyzer = TransformerAnalyzer(model)
    lines = [json.loads(line) for line in (Path(__file__).parent.parent / "ml" / "data" /
                                           "validation.jsonl").read_text().splitlines()[1::2]]
    texts = [row["text"] for row in lines if row["label"] != "none"][:400]
    scores = deployment_map.tempered(analyzer, [{"text": t, "context": ""} for t in texts], 1.0)
    high = [t for t, s in zip(texts, scores) if s >= 0.5][:count]
    assert len(high) == count, "the test model scores too few risks from 0.5"
    confirmed = round(count * share)
    return [{"text": t, "context": "", "risk": int(i < confirmed)} for i, t in enumerate(high)]


def test_a_refit_writes_the_deployments_map_and_keeps_the_findings(model):
    from service.analysis.check import check
    from service.analysis.transformer import TransformerAnalyzer

    findings = findings_of(model, 30, 0.2)
    before = TransformerAnalyzer(model)
    summary = deployment_map.refit(model, findings)
    assert summary["refitted"] and summary["deployment_findings"] == 30
    calibration = json.loads((model / "calibration.json").read_text())
    assert calibration["score_map"]["deployment_findings"] == 30
    assert calibration["score_map_before_deployment"]["intercept"] == MAP[1]
    after = TransformerAnalyzer(model)
    # Toward the deployment's precision (a fifth): its findings now read about 0.2.
    inputs = [f["text"] for f in findings]
    shown = [score for _, score in after.classify(inputs, min_score=0.0)]
    was = [score for _, score in before.classify(inputs, min_score=0.0)]
    assert np.mean(shown) == pytest.approx(0.2, abs=0.03)
    assert np.mean(shown) < np.mean(was) - 0.2
    # The same findings at the operating point; check.json records their new scores.
    text = " ".join(inputs[:12])
    assert ([(f.start, f.end) for f in after.analyze(text).findings]
            == [(f.start, f.end) for f in before.analyze(text).findings])
    assert check(after, model) == "findings"
    metrics = json.loads((model / "metrics.json").read_text())
    assert metrics["deployment_score_map"]["confirmed"] == 6
    assert "## The score map and this deployment" in (model / "README.md").read_text()


def test_too_few_reviewed_findings_keep_the_map(model):
    findings = findings_of(model, deployment_map.MIN_DEPLOYMENT_FINDINGS - 1, 0.2)
    before = (model / "calibration.json").read_text()
    summary = deployment_map.refit(model, findings)
    assert not summary["refitted"] and "fewer than" in summary["kept"]
    assert (model / "calibration.json").read_text() == before
    assert "Kept as it was" in (model / "README.md").read_text()


def test_finetune_hands_the_reviewed_findings_over_without_them_in_the_rows(tmp_path):
    from ml import finetune

    source = tmp_path / "rows.jsonl"
    source.write_text("\n".join(json.dumps(row) for row in (
        {"text": "The vendor may be late.", "label": "vendor", "context": "Risks",
         "source": "feedback/a", "shown": True},
        {"text": "Lunch was at noon.", "label": "none", "source": "feedback/a", "shown": True},
        {"text": "Nobody knows the backups.", "label": "resource", "source": "feedback/b",
         "shown": False})) + "\n")
    told: list[dict] = []
    finetune.split_corrections(source, tmp_path / "plain.jsonl", told)
    plain = [json.loads(line) for line in (tmp_path / "plain.jsonl").read_text().splitlines()]
    assert all(set(row) == {"text", "label", "source"} for row in plain)
    assert deployment_map.reviewed(told) == [
        {"text": "The vendor may be late.", "context": "Risks", "risk": 1},
        {"text": "Lunch was at noon.", "context": "", "risk": 0}]


@pytest.fixture
def app(make_app, tmp_path, scan_model_dir):
    return make_app(MODEL_DIR=str(base_models_root(tmp_path, Path(scan_model_dir))))


def test_only_accepted_corrections_of_a_models_findings_refit_the_map(app):
    from service.serving import corrections

    client = app.test_client()
    accounts = Accounts(app, client)
    _, headers = accounts.user()
    _, reviewer = accounts.user(role="reviewer")
    scanned = scan(client, headers)
    assert len(scanned["data"]) >= 2, "the test model finds fewer than two risks"
    dismissed, confirmed, *rest = scanned["data"]
    correct(client, headers, scanned, dismissed, "none")
    correct(client, headers, scanned, confirmed, confirmed["category"])  # kept: confirmed
    for other in rest:
        correct(client, headers, scanned, other, "none")
    add(client, headers, scanned)

    def shown():
        with app.app_context():
            return {row["text"]: (row["label"], row["shown"])
                    for row in corrections.training_rows(context=True, shown=True)}

    assert shown() == {}  # pending: nothing
    ids = [dismissed["id"], confirmed["id"]]
    rejected = [other["id"] for other in rest]
    decide_ids(client, reviewer, rejected, "reject")
    with app.app_context():
        from service.db import ScanFinding
        from service.extensions import db

        added = db.session.query(ScanFinding).filter_by(added_by_user=True).one()
        ids.append(added.id)
        added_risk = added.risk
    decided = decide_ids(client, reviewer, ids, "accept")
    assert decided.status_code == 200, decided.get_json()
    rows = shown()
    assert rows[dismissed["risk"]] == ("none", True)
    assert rows[confirmed["risk"]] == (confirmed["category"], True)
    assert rows[added_risk][1] is False  # added by hand: no model score, not in the fit
    assert not {other["risk"] for other in rest} & set(rows)  # rejected: never
    with app.app_context():
        reviewed = deployment_map.reviewed(corrections.training_rows(context=True, shown=True))
    assert sorted(f["risk"] for f in reviewed) == [0, 1]
    # What the export writes has no such field: ml/correction_rows.py would refuse it.
    with app.app_context():
        assert all("shown" not in row for row in corrections.training_rows())
