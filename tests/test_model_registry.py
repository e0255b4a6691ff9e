"""The model registry, activation and rollback without a restart (service/serving/registry.py,
service/serving/deployment.py, /api/v1/admin/models…).

A models root of the test's own holds the test model under two versions (``v1``, and ``v2``
with another operating point: the same weights that answer differently on purpose), each
with the check.json of its built-in scan, and broken ones: a corrupt model.onnx, a check.json
its model does not match, a folder without a config, a link to a folder outside the root and
a folder with a file that links outside. Every process follows the database's active
version: here two apps on one database stand for two processes (``sync``); the test at the
end runs two API processes and a Celery worker.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import threading
import weakref

import pytest

from service.analysis.model_folder import CHECK_JSON
from service.config import current_settings
from service.db import ModelDeployment
from service.extensions import db
from service.serving import loading, registry, warmup
from service.serving.deployment import HISTORY, sync
from tests.helpers import Accounts, api_key_headers, assert_problem, at_once
from tests.registry import (
    TEXT,
    V2_MIN_SCORE,
    InFlight,
    audit_events,
    build_models_root,
    calibrated_source,
    deployment_rows,
    fingerprint,
    own_root,
    scan,
    version_folder,
)


def test_building_the_registry_leaves_its_source_model_as_it_was(tmp_path, scan_model_dir):
    """Running the suite against a real model (RISKSCAN_TEST_MODEL_DIR) must not touch it:
    the versions made from it get other calibrations and checks, and once rewrote the
    source's calibration through a hard link (the deployed model then served min_score
    0.2)."""
    source = calibrated_source(tmp_path / "source", scan_model_dir)
    before = fingerprint(source)

    root = build_models_root(tmp_path / "models", source, tmp_path / "outside")

    assert fingerprint(source) == before
    assert json.loads((root / "v2" / "calibration.json").read_text())["min_score"] == \
        V2_MIN_SCORE


@pytest.fixture
def deployed_alone(make_app, models_root, tmp_path):
    """As ``deployed``, on a models root of the test's own (v1 and v2): its loaded models
    are in the process's cache under a path of its own, shared with no other test's app,
    so that a test may watch one leave memory."""
    root = tmp_path / "models"
    root.mkdir()
    for name in ("v1", "v2"):
        shutil.copy2(models_root / name / CHECK_JSON,
                     version_folder(root, name, models_root / name) / CHECK_JSON)
    (root / "current").write_text("v1\n")
    app = make_app(MODEL_DIR=str(root))
    client = app.test_client()
    admin, headers = Accounts(app, client).user(role="admin")
    return app, client, headers, admin


def test_the_registry_lists_every_version_with_its_figures_and_state(deployed):
    app, client, headers, _ = deployed
    response = client.get("/api/v1/admin/models", headers=headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    listed = {model["version"]: model for model in body["items"]}
    assert set(listed) == {"v1", "v2", "corrupt", "miswritten", "empty", "escape", "leaky"}
    assert body["active"] == "v1"
    assert {name: (m["state"], m["reason"]) for name, m in listed.items()} == {
        "v1": ("active", None), "v2": ("available", None),
        # The files show a graph that is not ONNX at once; only loading shows a check.json
        # the model does not match: available until an activation tries it.
        "corrupt": ("broken", "model.onnx is not an ONNX model (cut short or corrupt)"),
        "miswritten": ("available", None),
        "empty": ("broken", "no config.json"),
        "escape": ("broken", "the folder links outside the models root"),
        "leaky": ("broken", "config.json links outside the models root"),
    }
    v1 = listed["v1"]
    metrics = json.loads((current_settings(app).model_path / "v1" / "metrics.json").read_text())
    assert v1["figures"]["sentence_macro_f1"] == {
        "validation": metrics["validation"]["macro_f1"], "test": metrics["test"]["macro_f1"]}
    assert v1["encoder"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert v1["runtime"] == "onnx fp32 on cpu"
    assert v1["size_bytes"] > 10_000_000
    assert listed["v2"]["figures"]["min_score"] == V2_MIN_SCORE
    # Nothing of a folder that links outside is read: no size, no figures.
    assert listed["escape"]["size_bytes"] is None
    assert listed["escape"]["figures"]["sentence_macro_f1"] == {"validation": None,
                                                                "test": None}


def test_a_card_is_read_from_its_folder_and_never_from_outside(deployed):
    _, client, headers, _ = deployed
    card = client.get("/api/v1/admin/models/v1", headers=headers).get_json()
    assert card["version"] == "v1" and card["state"] == "active"
    assert card["card"].startswith("# Riskscan risk classifier")
    assert card["metrics"]["validation"]["n"] > 0
    escape = client.get("/api/v1/admin/models/escape", headers=headers).get_json()
    assert (escape["state"], escape["card"], escape["metrics"]) == ("broken", None, None)

    for name in ("nope", ".hidden", "current", "v1.", "..", "...", "~root", "v1%00",
                 "%2e%2e", "..%2fescape", "a" * 300):
        response = client.get(f"/api/v1/admin/models/{name}", headers=headers)
        body = assert_problem(response, 404)
        assert body["title"] == "Not Found", (name, body)


def test_activation_swaps_the_model_audits_it_and_names_it_everywhere(deployed):
    app, client, headers, admin = deployed
    assert scan(client, headers)["model_version"] == "v1"

    response = client.post("/api/v1/admin/models/v2/activate", headers=headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["active_version"], body["previous_versions"], body["generation"],
            body["changed_by"]) == ("v2", ["v1"], 1, admin["id"])
    assert body["load_seconds"] > 0

    after = scan(client, headers)
    assert after["model_version"] == "v2"
    assert audit_events(app, "model_activated", "model_rolled_back") == [
        ("model_activated", admin["id"], {"from": "v1", "to": "v2", "generation": 1})]
    listed = client.get("/api/v1/admin/models", headers=headers).get_json()
    assert listed["active"] == "v2"
    ready = client.get("/ready", headers=headers).get_json()
    assert ready["checks"]["analyzers"]["model"]["version"] == "v2"
    assert ready["checks"]["deployment"] == {"ok": True, "following": True, "active": "v2",
                                             "serving": "v2", "generation": 1}
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'riskscan_model_info{device="cpu",quantize="none",runtime="onnx",version="v2"} 1.0' \
        in metrics
    assert 'riskscan_scans_total{source="model",version="v2"}' in metrics
    assert 'riskscan_inference_seconds_count{source="model",version="v2"}' in metrics

    again = client.post("/api/v1/admin/models/v2/activate", headers=headers)
    assert assert_problem(again, 409)["detail"] == "Model v2 is the active version already."


@pytest.mark.parametrize(("version", "reason"), [
    ("corrupt", "model.onnx is not an ONNX model (cut short or corrupt)"),
    ("miswritten", "the built-in scan does not find what check.json records: characters"),
    ("empty", "no config.json"),
    ("escape", "the folder links outside the models root"),
    ("leaky", "config.json links outside the models root"),
])
def test_a_broken_candidate_is_refused_and_the_old_model_serves_on(deployed, version, reason):
    app, client, headers, _ = deployed
    response = client.post(f"/api/v1/admin/models/{version}/activate", headers=headers)
    body = assert_problem(response, 422)
    assert body["title"] == "Model refused"
    assert body["detail"].startswith(f"Model {version} cannot serve: {reason}"), body
    assert scan(client, headers)["model_version"] == "v1"
    assert deployment_rows(app) == 0
    assert audit_events(app, "model_activated") == []
    listed = {m["version"]: m for m in
              client.get("/api/v1/admin/models", headers=headers).get_json()["items"]}
    assert listed[version]["state"] == "broken"
    assert reason in listed[version]["reason"]
    assert listed["v1"]["state"] == "active"


def test_unknown_and_malformed_versions_are_404_and_change_nothing(deployed):
    app, client, headers, _ = deployed
    for name in ("nope", ".hidden", "current", "%2e%2e", "v1%2f..", "a" * 300):
        response = client.post(f"/api/v1/admin/models/{name}/activate", headers=headers)
        assert_problem(response, 404)
    assert deployment_rows(app) == 0
    assert scan(client, headers)["model_version"] == "v1"


def test_rollback_returns_to_the_version_before_and_then_has_none(deployed):
    app, client, headers, admin = deployed
    refused = client.post("/api/v1/admin/models/rollback", headers=headers)
    assert assert_problem(refused, 409)["detail"] == \
        "There is no earlier version to roll back to."
    assert client.post("/api/v1/admin/models/v2/activate", headers=headers).status_code == 200

    response = client.post("/api/v1/admin/models/rollback", headers=headers)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["active_version"], body["previous_versions"], body["generation"]) == \
        ("v1", [], 2)
    assert scan(client, headers)["model_version"] == "v1"
    assert audit_events(app, "model_activated", "model_rolled_back")[-1] == (
        "model_rolled_back", admin["id"], {"from": "v2", "to": "v1", "generation": 2})
    assert_problem(client.post("/api/v1/admin/models/rollback", headers=headers), 409)


def test_scans_in_flight_finish_on_their_model_and_the_old_one_is_freed_after(
        deployed_alone):
    """Activate under load: three scans are inside v1 when v2 is activated; each finishes
    on v1 and says so, the scans after it name v2, and v1 leaves memory with its last scan."""
    app, client, headers, _ = deployed_alone
    old = app.extensions["riskscan.analyzers"].model
    inner = weakref.ref(old.analyzer)  # the TransformerAnalyzer behind the batcher
    held = InFlight(old, scans=3)
    del old
    answers = []

    def send():
        answers.append(app.test_client().post("/api/v1/scans", headers=headers,
                                              json={"text": TEXT}))

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    held.arrived.wait(600)  # all three are inside v1's classify
    activated = client.post("/api/v1/admin/models/v2/activate", headers=headers)
    assert activated.status_code == 200, activated.get_json()
    during = scan(client, headers)  # a new scan while the three are still in v1
    gc.collect()
    assert inner() is not None, "v1 was freed while its scans ran"
    held.release.set()
    for thread in threads:
        thread.join(600)

    assert [a.status_code for a in answers] == [201, 201, 201]
    assert {a.get_json()["model_version"] for a in answers} == {"v1"}
    assert during["model_version"] == "v2"
    del held
    gc.collect()
    assert inner() is None, "v1 stays in memory after its last scan"


CHANGED = "The active model changed while this one was loading; list the models and ask again."


def test_two_activations_at_once_one_wins_the_other_is_told(deployed, monkeypatch):
    """The first request is held while its candidate loads (no lock held), the second
    activates meanwhile: the first, released, finds the row moved on and changes nothing."""
    app, client, headers, admin = deployed
    inside, release = threading.Event(), threading.Event()
    load = registry.load

    def held(settings, version):
        if not inside.is_set():
            inside.set()
            assert release.wait(600), "the test never released the first activation"
        return load(settings, version)

    monkeypatch.setattr(registry, "load", held)
    first = []
    thread = threading.Thread(target=lambda: first.append(app.test_client().post(
        "/api/v1/admin/models/v2/activate", headers=headers)))
    thread.start()
    assert inside.wait(600), "the first activation never loaded its candidate"

    second = client.post("/api/v1/admin/models/v2/activate", headers=headers)
    release.set()
    thread.join(600)

    assert second.status_code == 200, second.get_json()
    assert assert_problem(first[0], 409)["detail"] == CHANGED
    assert audit_events(app, "model_activated") == [
        ("model_activated", admin["id"], {"from": "v1", "to": "v2", "generation": 1})]
    row = current_row(app)
    assert (row.active_version, row.previous_versions, row.generation) == ("v2", ["v1"], 1)
    assert scan(client, headers)["model_version"] == "v2"


def current_row(app) -> ModelDeployment:
    with app.app_context():
        row = db.session.get(ModelDeployment, ModelDeployment.ROW)
        db.session.expunge(row)
        return row


def test_two_rollbacks_at_once_one_wins_the_other_is_told(deployed, monkeypatch):
    """Both requests have read the row when they load the version before (a barrier);
    one writes it first, and the other changes nothing: one step back, not two."""
    app, client, headers, admin = deployed
    assert client.post("/api/v1/admin/models/v2/activate", headers=headers).status_code == 200
    both = threading.Barrier(2)
    load = registry.load

    def loading(settings, version):
        both.wait(600)
        return load(settings, version)

    monkeypatch.setattr(registry, "load", loading)
    responses = at_once(app, "POST", "/api/v1/admin/models/rollback", parallel=2,
                        headers=headers)

    assert sorted(r.status_code for r in responses) == [200, 409]
    refused = next(r for r in responses if r.status_code == 409)
    assert assert_problem(refused, 409)["detail"] == CHANGED
    assert audit_events(app, "model_rolled_back") == [
        ("model_rolled_back", admin["id"], {"from": "v2", "to": "v1", "generation": 2})]
    row = current_row(app)
    assert (row.active_version, row.previous_versions, row.generation) == ("v1", [], 2)
    assert scan(client, headers)["model_version"] == "v1"


def test_rollback_skips_a_version_whose_folder_is_gone(make_app, models_root, tmp_path):
    """v1, then v2, then v3; v2's folder is deleted. Rollback reached for v2 and answered
    its 404 forever: it passes over v2, says so, and serves v1."""
    root = own_root(tmp_path / "models", models_root, ("v1", "v2", "v3"))
    app = make_app(MODEL_DIR=str(root))
    client = app.test_client()
    admin, headers = Accounts(app, client).user(role="admin")
    for version in ("v2", "v3"):
        activated = client.post(f"/api/v1/admin/models/{version}/activate", headers=headers)
        assert activated.status_code == 200, activated.get_json()
    shutil.rmtree(root / "v2")

    response = client.post("/api/v1/admin/models/rollback", headers=headers)

    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["active_version"], body["previous_versions"], body["generation"]) == (
        "v1", [], 3)
    assert body["skipped"] == [{"version": "v2", "reason": "not in the models root"}]
    assert scan(client, headers)["model_version"] == "v1"
    assert audit_events(app, "model_rolled_back") == [
        ("model_rolled_back", admin["id"],
         {"from": "v3", "to": "v1", "generation": 3, "skipped": ["v2"]})]
    assert assert_problem(client.post("/api/v1/admin/models/rollback", headers=headers),
                          409)["detail"] == "There is no earlier version to roll back to."


def test_the_history_keeps_the_last_ten_and_rollback_says_when_none_can_serve(deployed):
    """A row whose history is full: an activation drops the oldest. Back on v1, every
    version left is gone or refused: a 409 names each with why, and nothing changes."""
    app, client, headers, _ = deployed
    older = [f"gone-{n}" for n in range(HISTORY - 1)] + ["miswritten"]
    with app.app_context():
        db.session.add(ModelDeployment(id=ModelDeployment.ROW, active_version="v1",
                                       previous_versions=older, generation=0))
        db.session.commit()

    activated = client.post("/api/v1/admin/models/v2/activate", headers=headers)
    assert activated.status_code == 200, activated.get_json()
    assert activated.get_json()["previous_versions"] == [*older[1:], "v1"]
    rolled = client.post("/api/v1/admin/models/rollback", headers=headers)
    assert rolled.status_code == 200, rolled.get_json()
    assert (rolled.get_json()["active_version"], rolled.get_json()["previous_versions"],
            rolled.get_json()["skipped"]) == ("v1", older[1:], [])

    refused = assert_problem(client.post("/api/v1/admin/models/rollback", headers=headers),
                             409)
    reasons = ["miswritten: the built-in scan does not find what check.json records",
               *(f"gone-{n}: not in the models root" for n in reversed(range(1, HISTORY - 1)))]
    detail = refused["detail"]
    assert detail.startswith("No earlier version can serve, so nothing changed: ")
    where = [detail.find(reason) for reason in reasons]  # each named, newest first
    assert -1 not in where and where == sorted(where), detail
    assert "gone-0" not in detail
    row = current_row(app)
    assert (row.active_version, row.previous_versions, row.generation) == ("v1", older[1:], 2)
    assert scan(client, headers)["model_version"] == "v1"
    assert [event[2]["to"] for event in audit_events(
        app, "model_activated", "model_rolled_back")] == ["v2", "v1"]


def test_another_process_follows_the_database_and_not_its_own_settings(deployed, make_app):
    """Two apps on one database stand for two processes: the second serves v1 until it
    syncs, then v2; after a rollback, v1 again."""
    app, client, headers, _ = deployed
    other = make_app(MODEL_DIR=str(current_settings(app).model_path))
    other_client = other.test_client()
    assert sync(other) is False  # nothing activated yet
    assert client.post("/api/v1/admin/models/v2/activate", headers=headers).status_code == 200
    assert scan(other_client, headers)["model_version"] == "v1"
    ready = other_client.get("/ready", headers=headers).get_json()["checks"]["deployment"]
    assert (ready["following"], ready["active"], ready["serving"]) == (False, "v2", "v1")

    assert sync(other) is True
    assert scan(other_client, headers)["model_version"] == "v2"
    assert sync(other) is False  # nothing new
    assert client.post("/api/v1/admin/models/rollback", headers=headers).status_code == 200
    assert sync(other) is True
    assert scan(other_client, headers)["model_version"] == "v1"


def test_a_process_that_cannot_load_the_active_version_keeps_its_model_and_says_why(
        deployed, make_app, models_root, tmp_path):
    """The active version's folder is gone on this machine: the process serves on and
    /ready names the reason."""
    _, client, headers, _ = deployed
    lonely = tmp_path / "models"
    lonely.mkdir()
    version_folder(lonely, "v1", models_root / "v1")
    (lonely / "current").write_text("v1")
    other = make_app(MODEL_DIR=str(lonely))
    assert client.post("/api/v1/admin/models/v2/activate", headers=headers).status_code == 200
    assert sync(other) is False
    other_client = other.test_client()
    assert scan(other_client, headers)["model_version"] == "v1"
    check = other_client.get("/ready", headers=headers).get_json()["checks"]["deployment"]
    assert check["error"] == "No model version 'v2' in the registry."
    assert (check["ok"], check["following"], check["serving"]) == (True, False, "v1")


def test_api_keys_read_with_admin_read_and_activate_only_with_admin_write(deployed):
    app, client, headers, _ = deployed

    reader = api_key_headers(client, headers, "admin:read")
    assert client.get("/api/v1/admin/models", headers=reader).status_code == 200
    assert client.get("/api/v1/admin/models/v1", headers=reader).status_code == 200
    for path in ("/api/v1/admin/models/v2/activate", "/api/v1/admin/models/rollback"):
        body = assert_problem(client.post(path, headers=reader), 403)
        assert body["detail"] == "This API key lacks the scope admin:write."
    assert deployment_rows(app) == 0 and audit_events(app, "model_activated") == []
    writer = api_key_headers(client, headers, "admin:write")
    assert client.post("/api/v1/admin/models/v2/activate", headers=writer).status_code == 200

    _, user_headers = Accounts(app, client).user()
    for method, path in (("GET", "/api/v1/admin/models"), ("GET", "/api/v1/admin/models/v1"),
                         ("POST", "/api/v1/admin/models/v1/activate"),
                         ("POST", "/api/v1/admin/models/rollback")):
        assert_problem(client.open(path, method=method, headers=user_headers), 403)
    assert scan(client, headers)["model_version"] == "v2"


def test_a_candidate_whose_warm_up_fails_is_refused_and_the_old_model_serves_on(
        deployed, monkeypatch):
    """v2 passes its check, then fails on the warm-up's widest batches (as a model out of
    memory would): refused with the reason, nothing of it resident, v1 serves on and the
    process stays ready."""
    from service.analysis.transformer import TransformerAnalyzer

    app, client, headers, _ = deployed
    monkeypatch.setattr(warmup, "_warmups", weakref.WeakKeyDictionary())  # afresh
    classify = TransformerAnalyzer.classify

    def wide_batches_fail(self, sentences, **options):
        if self.version == "v2" and any(isinstance(s, str) and set(s.split()) == {"delay"}
                                        for s in sentences):
            raise RuntimeError("out of memory on a batch of the warm-up")
        return classify(self, sentences, **options)

    monkeypatch.setattr(TransformerAnalyzer, "classify", wide_batches_fail)
    before = set(map(id, loading._models.values()))

    body = assert_problem(client.post("/api/v1/admin/models/v2/activate", headers=headers),
                          422)

    reason = "its warm-up failed (RuntimeError: out of memory on a batch of the warm-up)"
    assert (body["title"], body["detail"]) == ("Model refused", f"Model v2 cannot serve: {reason}")
    assert set(map(id, loading._models.values())) <= before
    assert scan(client, headers)["model_version"] == "v1"
    assert deployment_rows(app) == 0 and audit_events(app, "model_activated") == []
    listed = {m["version"]: m for m in
              client.get("/api/v1/admin/models", headers=headers).get_json()["items"]}
    assert (listed["v2"]["state"], listed["v2"]["reason"]) == ("broken", reason)
    ready = client.get("/ready")
    assert ready.status_code == 200, ready.get_json()
    assert ready.get_json()["checks"]["warmup"] == {"ok": True, "done": True}


def test_ready_after_a_swap_reports_the_new_models_warm_up_in_every_process(
        deployed, make_app, monkeypatch):
    """After an activation, in the process asked and in one that follows it: /ready is 200,
    and its checks are the new model's (its version, its own warm-up), not the old one's."""
    app, client, headers, _ = deployed
    other = make_app(MODEL_DIR=str(current_settings(app).model_path))
    old = app.extensions["riskscan.warmup"]
    monkeypatch.setattr(warmup, "_warmups", weakref.WeakKeyDictionary())  # afresh

    assert client.post("/api/v1/admin/models/v2/activate", headers=headers).status_code == 200
    assert sync(other) is True

    for process in (app, other):
        process_client = process.test_client()
        anonymous = process_client.get("/ready")
        assert anonymous.status_code == 200, anonymous.get_json()
        assert anonymous.get_json()["checks"]["warmup"] == {"ok": True, "done": True}
        checks = process_client.get("/ready", headers=headers).get_json()["checks"]
        model = process.extensions["riskscan.analyzers"].model
        warmed = warmup._warmups[model]
        assert warmed is not old and checks["warmup"] == warmed.readiness()
        assert checks["warmup"]["ok"] and checks["warmup"]["sentences"] > 0
        assert checks["analyzers"]["model"]["version"] == "v2"
        assert (checks["deployment"]["following"], checks["deployment"]["serving"]) == (
            True, "v2")


def test_a_refused_model_leaves_nothing_resident(deployed):
    """A candidate that fails its check is dropped from the process's cache of models."""
    _, client, headers, _ = deployed
    before = set(map(id, loading._models.values()))
    assert_problem(client.post("/api/v1/admin/models/miswritten/activate", headers=headers), 422)
    assert set(map(id, loading._models.values())) <= before


@pytest.mark.slow
@pytest.mark.mysql
def test_two_api_processes_and_a_worker_follow_an_activation_and_a_rollback(
        models_root, tmp_path):
    """Every process of a deployment, for real: two ``python -m service`` processes and a
    Celery worker (Redis broker) on one MariaDB database follow the row within
    MODEL_SYNC_S=1: an activation through the first API process reaches the second and the
    worker's scans, a rollback through the second reaches the first."""
    import subprocess
    import sys
    import uuid

    import requests
    from sqlalchemy import create_engine, text

    from reliability.cluster import REDIS_SERVER, CeleryWorker, RedisServer
    from reliability.servers import REPO_ROOT, ServiceProcess, create_database, drop_database
    from reliability.servers import wait_until as until
    from tests.helpers import PASSWORD, mysql_server_url, ready
    from tests.real_parts import require_or_skip

    if REDIS_SERVER is None:
        require_or_skip("redis-server is not installed (.ci/run installs it)")
    database = create_database(mysql_server_url("the processes share a MariaDB database"),
                               "models")
    redis_server = RedisServer(tmp_path / "redis").start()
    settings = {"RISKSCAN_ENV": "production", "SECRET_KEY": "models-" + uuid.uuid4().hex,
                "DATABASE_URL": database, "UPLOAD_DIR": str(tmp_path / "uploads"),
                "MODEL_DIR": str(models_root), "MODEL_DEVICE": "cpu", "MODEL_SYNC_S": "1",
                "AUTO_MIGRATE": "false", "CELERY_BROKER_URL": redis_server.url(1),
                "LOG_LEVEL": "INFO", "LOG_FORMAT": "text"}
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                   "HOME": os.environ.get("HOME", "/tmp"),
                   "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **settings}
    worker = CeleryWorker("models", environment, tmp_path / "worker.log")
    apis = [ServiceProcess(settings, tmp_path / f"api{index}.log") for index in (1, 2)]
    try:
        migrate = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "service", "init-db"], cwd=REPO_ROOT,
            env={**environment, "MODEL_DIR": "off"}, capture_output=True, text=True,
            timeout=300, check=False)
        assert migrate.returncode == 0, migrate.stderr[-3000:]
        worker.start()
        for api in apis:
            api.start(timeout_s=600)
        for api in apis:
            assert until(lambda api=api: ready(api.base_url), 600), api.log_tail()
        worker.wait_ready(600)
        first, second = (api.base_url for api in apis)
        email = "ops@example.com"
        assert requests.post(f"{first}/api/v1/auth/register", timeout=60, json={
            "email": email, "password": PASSWORD}).status_code == 201
        engine = create_engine(database)
        with engine.begin() as connection:
            connection.execute(text("UPDATE users SET role = 'admin'"))
        engine.dispose()
        token = requests.post(f"{first}/api/v1/auth/login", timeout=60, json={
            "email": email, "password": PASSWORD}).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        def serving(base):
            return requests.get(f"{base}/ready", headers=headers, timeout=30).json()[
                "checks"]["deployment"]["serving"]

        def scanned(base):
            response = requests.post(f"{base}/api/v1/scans", headers=headers, timeout=300,
                                     json={"text": TEXT})
            assert response.status_code == 201, response.text
            return response.json()["model_version"]

        def job_scanned(base):
            job = requests.post(f"{base}/api/v1/jobs", headers=headers, timeout=60,
                                files=[("files", ("report.txt", TEXT.encode()))])
            assert job.status_code == 202, job.text
            url = f"{base}/api/v1/jobs/{job.json()['job_id']}"
            assert until(lambda: requests.get(url, headers=headers, timeout=30).json()[
                "finished_at"] is not None, 600), "the worker never finished the job"
            scan_id = requests.get(url, headers=headers, timeout=30).json()[
                "documents"][0]["scan_id"]
            return requests.get(f"{base}/api/v1/scans/{scan_id}", headers=headers,
                                timeout=30).json()["model_version"]

        assert (scanned(first), scanned(second), job_scanned(second)) == ("v1", "v1", "v1")
        activated = requests.post(f"{first}/api/v1/admin/models/v2/activate",
                                  headers=headers, timeout=600)
        assert activated.status_code == 200, activated.text
        assert scanned(first) == "v2"  # the process that was asked, at once
        assert until(lambda: serving(second) == "v2", 600), apis[1].log_tail()
        assert scanned(second) == "v2"
        # The worker's pool process says so in its log when it swaps.
        assert until(lambda: "model v2 serves now" in worker.log_tail(400), 600), \
            worker.log_tail()
        assert job_scanned(first) == "v2"

        rolled = requests.post(f"{second}/api/v1/admin/models/rollback", headers=headers,
                               timeout=600)
        assert rolled.status_code == 200, rolled.text
        assert until(lambda: serving(first) == "v1", 600), apis[0].log_tail()
        assert (scanned(first), scanned(second)) == ("v1", "v1")
    finally:
        for api in apis:
            api.stop()
        worker.stop()
        redis_server.stop()
        drop_database(database)
