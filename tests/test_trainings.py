"""Trainings from corrections (service/serving/trainings.py, /api/v1/admin/models/trainings),
on SQLite and MariaDB, on both job engines.

A models root of the test's own holds the test model as ``base`` with its full weights (a
training starts from them); the training replays a tiny data folder for one epoch, without
the standard documents (TRAINING_DOCUMENTS off), so that a run takes seconds. A test waits
for the job on an Event set when ``trainings.run`` returns, never a sleep.
"""

from __future__ import annotations

import json
import os
import shutil
import threading

import pytest
from sqlalchemy import select

from service.db import ModelDeployment, ModelTraining
from service.extensions import db
from service.serving import trainings
from service.serving.registry import VERSION
from tests.corrections import TRAINING_TEXT, Inert, correct_and_add, decide_all
from tests.helpers import Accounts, api_key_headers, assert_problem, at_once

TRAININGS = "/api/v1/admin/models/trainings"
TIMEOUT_S = 300


def _link(source, folder):
    folder.mkdir()
    for file in source.iterdir():
        if file.is_file():
            try:
                os.link(file, folder / file.name)
            except OSError:
                shutil.copy2(file, folder / file.name)
    return folder


@pytest.fixture
def root(tmp_path, request):
    """``base``: the test model with its weights (or the fixture a test names indirectly);
    ``current`` names it."""
    from pathlib import Path

    model = request.getfixturevalue(getattr(request, "param", "scan_model_dir"))
    models = tmp_path / "models"
    models.mkdir()
    _link(Path(model), models / "base")
    (models / "current").write_text("base\n")
    return models


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory, scan_model_dir):
    """A few sentences of the test model's splits: what a test training replays."""
    from pathlib import Path

    recipe = json.loads((Path(scan_model_dir) / "training_config.json").read_text())
    source = Path(recipe["data_dir"])
    data = tmp_path_factory.mktemp("tiny-data")
    for name, lines in (("train", 96), ("validation", 32), ("test", 32)):
        kept = (source / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()[:lines]
        (data / f"{name}.jsonl").write_text("\n".join(kept) + "\n", encoding="utf-8")
    return data


@pytest.fixture(params=["pool", "celery"])
def engine(request):
    return request.param


@pytest.fixture
def trained(make_app, root, tiny_data, engine, request, monkeypatch):
    """Makes an app on ``root`` and the engine; ``finished`` is set when a training ends."""
    finished = threading.Event()
    real_run = trainings.run

    def run(training_id):
        try:
            return real_run(training_id)
        finally:
            finished.set()

    monkeypatch.setattr(trainings, "run", run)

    def make(**overrides):
        if engine == "celery":
            from service.jobs import worker

            ledger = request.getfixturevalue("celery_worker")
            overrides.setdefault("CELERY_BROKER_URL", ledger.broker_url)
        app = make_app(MODEL_DIR=str(root), TRAINING_MIN_CORRECTIONS=2, TRAINING_REPLAY=48,
                       TRAINING_EPOCHS=1, TRAINING_DOCUMENTS=False,
                       TRAINING_DATA_DIR=str(tiny_data), MODEL_SYNC_S=0, **overrides)
        if engine == "celery":
            monkeypatch.setattr(worker, "_app", app)
        client = app.test_client()
        admin, headers = Accounts(app, client).user(role="admin")
        return app, client, headers, admin

    make.finished = finished
    return make


def versions_in(root) -> set[str]:
    return {path.name for path in root.iterdir() if path.is_dir() and VERSION.fullmatch(path.name)}


# A real fine-tune takes 20 to 90 s: each path runs once, the job engines on one backend each
# (the database's part, one training at a time, is test_two_requests_at_once_give_one_training's
# on both).
ONE_BACKEND = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)


@pytest.mark.parametrize(("backend", "engine"), [
    ("sqlite", "pool"), pytest.param("mysql", "celery", marks=pytest.mark.mysql)],
    indirect=True)
def test_corrections_become_a_shadowed_candidate_never_active(trained, root):
    app, client, headers, _ = trained()
    correct_and_add(client, headers)

    response = client.post(TRAININGS, headers=headers, json={})
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    assert body["status"] == "queued" and body["base"] == "base"
    assert response.headers["Location"].endswith(f"{TRAININGS}/{body['training_id']}")
    assert trained.finished.wait(TIMEOUT_S)

    done = client.get(response.headers["Location"], headers=headers).get_json()
    assert done["status"] == "done", done
    assert done["error"] is None and done["finished_at"]
    candidate = done["version"]
    assert candidate.startswith("base-ft-") and versions_in(root) == {"base", candidate}
    assert (root / candidate / "model.onnx").is_file()
    card = (root / candidate / "README.md").read_text()
    assert "Beside its base" in card and "`base`" in card
    recipe = json.loads((root / candidate / "training_config.json").read_text())
    assert recipe["corrections_counts"]["rows"] == 2  # the correction and the added risk
    assert recipe["encoder"]["name"] == "base"  # from the base's weights, not the encoder
    assert done["figures"]["candidate"]["sentence_macro_f1"]["validation"] is not None
    assert done["figures"]["base"]["sentence_macro_f1"]["validation"] is not None
    assert done["shadow"] == "running"

    listed = client.get("/api/v1/admin/models", headers=headers).get_json()
    assert listed["active"] == "base"
    assert {m["version"]: m["state"] for m in listed["items"]}[candidate] == "shadow"
    with app.app_context():
        row = db.session.get(ModelDeployment, ModelDeployment.ROW)
        assert (row.active_version, row.shadow_version) == ("base", candidate)
    page = client.get(TRAININGS, headers=headers).get_json()
    assert [item["training_id"] for item in page["items"]] == [body["training_id"]]
    assert page["total"] == 1

    # Activated (naming what the gate found it lost, if anything), its trial has ended:
    # the training's row says so, not "started" for ever (issue #75, item 5).
    url = f"/api/v1/admin/models/{candidate}/activate"
    refused = client.post(url, headers=headers, json={})
    override = (refused.get_json().get("errors") or {}).get("override", [])
    activated = (refused if refused.status_code == 200 else
                 client.post(url, headers=headers, json={"override": override}))
    assert activated.status_code == 200, activated.get_json()
    for answer in (client.get(response.headers["Location"], headers=headers).get_json(),
                   client.get(TRAININGS, headers=headers).get_json()["items"][0]):
        assert answer["shadow"] == "ended: activated"


@ONE_BACKEND
@pytest.mark.parametrize("engine", ["pool"], indirect=True)
def test_a_failed_training_leaves_no_version_and_says_why(trained, root):
    _, client, headers, _ = trained()
    broken = _link(root / "base", root / "broken")
    (broken / "model.safetensors").unlink()
    (broken / "model.safetensors").write_bytes(b"not weights" * 100)
    correct_and_add(client, headers)

    response = client.post(TRAININGS, headers=headers, json={"base": "broken"})
    assert response.status_code == 202, response.get_json()
    assert trained.finished.wait(TIMEOUT_S)
    failed = client.get(response.headers["Location"], headers=headers).get_json()
    assert failed["status"] == "failed" and failed["version"] is None
    assert failed["error"], failed
    assert versions_in(root) == {"base", "broken"}
    assert not [p for p in root.iterdir() if p.name.startswith(".")], list(root.iterdir())
    # It is over: another may start.
    trained.finished.clear()
    again = client.post(TRAININGS, headers=headers, json={"base": "broken"})
    assert again.status_code == 202
    assert trained.finished.wait(TIMEOUT_S)


def add_reader(root, name="rdr"):
    """The test model as a reader beside ``base`` (own calibration and screen, fitted to
    ``base``), and the root's ``reader`` file naming it: the deployment ``base+rdr``."""
    reader = _link(root / "base", root / name)
    metrics = json.loads((reader / "metrics.json").read_text())
    metrics["validation"]["macro_f1"] = 0.123  # its own figure, to tell the two apart
    for own in ("calibration.json", "README.md", "metrics.json"):  # links: a write would
        (reader / own).unlink(missing_ok=True)                     # change base's
    (reader / "metrics.json").write_text(json.dumps(metrics))
    (reader / "calibration.json").write_text(json.dumps({"temperature": 2.0, "min_score": 0.6}))
    (reader / "screen.json").write_text(json.dumps({"screen": 0.5, "fast_model": "base"}))
    (reader / "README.md").write_text(f"# {name}\n")
    (root / "reader").write_text(f"{name}\n")
    return reader


@ONE_BACKEND
@pytest.mark.parametrize("engine", ["pool"], indirect=True)
def test_a_cascade_trains_its_reader_too_fitted_behind_the_new_fast_model(trained, root):
    add_reader(root)
    app, client, headers, _ = trained(READER_DIR=str(root))
    assert client.get("/api/v1/admin/models", headers=headers).get_json()["active"] == "base+rdr"
    correct_and_add(client, headers)

    response = client.post(TRAININGS, headers=headers, json={})
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["base"] == "base+rdr"
    assert trained.finished.wait(TIMEOUT_S)

    done = client.get(response.headers["Location"], headers=headers).get_json()
    assert done["status"] == "done", done
    fast, reader = done["version"].split("+")
    assert fast.startswith("base-ft-") and reader.startswith("rdr-ft-")
    assert versions_in(root) == {"base", "rdr", fast, reader}
    assert not [p for p in root.iterdir() if p.name.startswith(".")], list(root.iterdir())
    # The new reader learnt the same corrections from its own weights, and its screen was
    # chosen on the new fast model's scores: it serves behind that one only.
    recipe = json.loads((root / reader / "training_config.json").read_text())
    assert recipe["encoder"]["name"] == "rdr" and recipe["corrections_counts"]["rows"] == 2
    screen = json.loads((root / reader / "screen.json").read_text())
    assert screen["fast_model"] == fast and 0 < screen["screen"] < 1
    assert "## In the cascade" in (root / reader / "README.md").read_text()
    assert done["figures"]["reader"]["candidate"]["sentence_macro_f1"]["validation"] is not None
    assert done["figures"]["reader"]["base"]["sentence_macro_f1"]["validation"] == 0.123
    # The pair reads live scans beside the serving pair, which stays active.
    assert done["shadow"] == "running"
    with app.app_context():
        row = db.session.get(ModelDeployment, ModelDeployment.ROW)
        assert (row.active_version, row.shadow_version) == ("base+rdr", done["version"])


@pytest.fixture
def inert(make_app, root, tiny_data):
    app = make_app(MODEL_DIR=str(root), TRAINING_MIN_CORRECTIONS=2, MODEL_SYNC_S=0)
    app.extensions["riskscan.jobs"] = engine = Inert()
    client = app.test_client()
    _, headers = Accounts(app, client).user(role="admin")
    return app, client, headers, engine


def test_two_requests_at_once_give_one_training(inert):
    app, client, headers, engine = inert
    correct_and_add(client, headers)
    responses = at_once(app, "POST", TRAININGS, parallel=2, headers=headers, json={})
    assert sorted(r.status_code for r in responses) == [202, 409]
    assert_problem(next(r for r in responses if r.status_code == 409), 409)
    assert len(engine.trained) == 1
    with app.app_context():
        assert len(db.session.scalars(select(ModelTraining)).all()) == 1
    # still running: a third is refused too
    assert_problem(client.post(TRAININGS, headers=headers, json={}), 409)


def test_refusals(inert, make_app, root):
    _, client, headers, engine = inert
    assert_problem(client.post(TRAININGS, headers=headers, json={}), 422, "corrections")
    correct_and_add(client, headers)
    assert_problem(client.post(TRAININGS, headers=headers, json={"base": "nope"}), 404)
    assert_problem(client.post(TRAININGS, headers=headers, json={"base": "../x"}), 422, "base")
    assert_problem(client.post(TRAININGS, headers=headers, json={"basis": "base"}), 422)
    add_reader(root)  # refused as a base alone, or in a fast model's place
    assert_problem(client.post(TRAININGS, headers=headers, json={"base": "rdr"}), 422, "base")
    assert_problem(client.post(TRAININGS, headers=headers, json={"base": "base+base"}), 422,
                   "base")
    assert_problem(client.post(TRAININGS, headers=headers, json={"base": "rdr+base"}), 422,
                   "base")
    assert_problem(client.post(TRAININGS, headers=headers, json={"base": "base+nope"}), 404)
    assert_problem(client.post(TRAININGS, headers=headers, json={"base": "base+rdr+x"}), 404)
    # Oversized: a name past a version's 63 characters, alone or as a pair's half; a body
    # past the request limit is not read at all.
    for oversized in ("b" * 1_000, f"base+{'r' * 64}", f"{'b' * 64}+rdr"):
        assert_problem(client.post(TRAININGS, headers=headers, json={"base": oversized}), 404)
    assert_problem(client.post(TRAININGS, headers=headers, json={"base": "b" * 10_000_000}), 413)
    assert_problem(client.get(f"{TRAININGS}/not-an-id", headers=headers), 404)
    assert engine.trained == []

    unmodelled = make_app(MODEL_DIR="")
    other = unmodelled.test_client()
    _, admin_headers = Accounts(unmodelled, other).user(role="admin")
    assert_problem(other.post(TRAININGS, headers=admin_headers, json={}), 503)


def test_authorization(inert):
    app, client, headers, engine = inert
    _, user_headers = Accounts(app, client).user()
    assert_problem(client.post(TRAININGS, headers=user_headers, json={}), 403)
    assert_problem(client.get(TRAININGS, headers=user_headers), 403)
    reader = api_key_headers(client, headers, "admin:read")
    assert_problem(client.post(TRAININGS, headers=reader, json={}), 403)
    assert client.get(TRAININGS, headers=reader).status_code == 200
    writer = api_key_headers(client, headers, "admin:write")
    correct_and_add(client, headers)
    assert client.post(TRAININGS, headers=writer, json={}).status_code == 202
    assert len(engine.trained) == 1


def test_trainings_is_not_a_version(inert):
    _, client, headers, _ = inert
    assert client.get("/api/v1/admin/models/trainings", headers=headers).get_json()["total"] == 0
    response = client.post("/api/v1/admin/models/trainings/activate", headers=headers)
    assert response.status_code in (404, 405)


@ONE_BACKEND
@pytest.mark.parametrize("engine", ["pool"], indirect=True)
def test_one_accounts_flood_reaches_a_training_only_as_a_reviewer_accepts_it(trained, root):
    """The poisoning, end to end: a self-registered account corrects every finding to none;
    nothing of it trains until a reviewer has read it, and then only what was accepted, the
    card naming who taught the candidate what."""
    app, client, headers, admin = trained()
    mallory, mallory_headers = Accounts(app, client).user()
    scan = client.post("/api/v1/scans", headers=mallory_headers, json={"text": TRAINING_TEXT}).get_json()
    for finding in scan["data"]:
        moved = client.patch(f"/api/v1/scans/{scan['scan_id']}/findings/{finding['id']}",
                             headers=mallory_headers, json={"category": "none"})
        assert moved.status_code == 200
    refused = client.post(TRAININGS, headers=headers, json={})
    assert_problem(refused, 422, "corrections")

    # The admin rejects the flood, and makes two corrections of their own (accepted at once).
    rejected = decide_all(client, headers, mallory["id"], "reject").get_json()
    assert rejected["changed"] == len(scan["data"]) and rejected["pending"] == 0
    correct_and_add(client, headers)
    response = client.post(TRAININGS, headers=headers, json={})
    assert response.status_code == 202, response.get_json()
    taught = response.get_json()["contributors"]
    assert list(taught) == [admin["email"]] and sum(taught[admin["email"]].values()) == 2
    assert trained.finished.wait(TIMEOUT_S)

    done = client.get(response.headers["Location"], headers=headers).get_json()
    assert done["status"] == "done", done
    recipe = json.loads((root / done["version"] / "training_config.json").read_text())
    assert recipe["corrections_counts"]["lines"] == 2  # the admin's two, none of Mallory's
    assert isinstance(done["figures"]["regressions"], dict)
    # People's sentences were never left in the models root.
    assert not [p for p in root.iterdir() if p.name.startswith(".")], list(root.iterdir())


def test_a_trainings_staging_is_its_owners_and_a_dead_ones_is_swept(tmp_path):
    import subprocess
    import sys

    from ml import finetune

    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"text": "A risk.", "label": "legal", "context": "c"}) + "\n")
    plain = tmp_path / "plain.jsonl"
    finetune.split_corrections(rows, plain)
    assert plain.stat().st_mode & 0o777 == 0o600
    # A process that is gone (it ran and ended) left its staging folder: swept; a live one's
    # (this test's own pid) stays.
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    dead = tmp_path / f".v1.{ended.stdout.strip()}{finetune.STAGING}"
    live = tmp_path / f".v2.{os.getpid()}{finetune.STAGING}"
    for folder in (dead, live):
        folder.mkdir()
        (folder / "feedback.jsonl").write_text("people's sentences\n")
    assert finetune.sweep(tmp_path) == [dead]
    assert not dead.exists() and live.exists()
