"""The shadow trial (service/serving/trials.py, /api/v1/admin/models/{version}/shadow).

The models root of tests/test_model_registry.py: ``v1`` serves, ``v2`` is the same test
model at a lower operating point, so that it finds risks v1 leaves out. The report's
figures are checked against both models called directly on the scans' text. The reader
runs on its thread; a test waits for it with ``drain`` (the queue's join), never a sleep.
"""

from __future__ import annotations

import gc
import json
import logging
import threading
import types
import weakref

import pytest
from sqlalchemy import func, select

from service.analysis.labels import NONE
from service.analysis.reading import judged
from service.config import current_settings
from service.db import ModelDeployment, ShadowComparison, ShadowTrial
from service.extensions import db
from service.serving.deployment import sync
from service.serving.trials import QUEUE, shadow_of
from tests.helpers import Accounts, api_key_headers, assert_problem, at_once
from tests.registry import audit_events, own_root

TEXTS = (
    ("The supplier may deliver the servers three weeks late. The team met on Tuesday. "
    "The budget may be cut again next quarter."),
    ("# Status\n\nThe contract with the vendor expires in March and legal has not reviewed "
    "the renewal. Staff turnover in the data team is high. The weather was nice."),
    ("Key risks: the migration could overrun its budget. The regulator may change the "
    "reporting rules. Morale is good. The new office opens in May."),
)
SHADOW = "/api/v1/admin/models/v2/shadow"


@pytest.fixture(scope="module")
def direct(models_root):
    """v1 and v2 loaded on their own, beside the service's: what each gives on a text."""
    from service.analysis.transformer import TransformerAnalyzer

    return {name: TransformerAnalyzer(models_root / name) for name in ("v1", "v2")}


def expected(direct, text: str, *, active: str = "v1", shadow: str = "v2") -> list[dict]:
    """Per judged sentence of ``text``: both models' label and risk score, each reading it
    as the scan path does (with its heading and previous sentence, for a context model)."""
    sentences = judged(text)
    read = {}
    for name in (active, shadow):
        model = direct[name]
        read[name] = [(label, round(score if label != NONE else 1 - score, 4)) for label, score
                      in model.classify([model.input_mode.input(s) for s in sentences])]
    return [{"sentence": s.text, "start": s.start, "end": s.end,
             "active": {"category": a[0], "score": a[1]},
             "shadow": {"category": b[0], "score": b[1]}}
            for s, a, b in zip(sentences, read[active], read[shadow])]


def scan(client, headers, text):
    response = client.post("/api/v1/scans", headers=headers, json={"text": text})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def start(client, headers, **body):
    return client.post(SHADOW, headers=headers, json={"sample_rate": 1, **body})


def report(client, headers):
    response = client.get(SHADOW, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def trials(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(ShadowTrial))


def row_of(app) -> ModelDeployment | None:
    with app.app_context():
        return db.session.get(ModelDeployment, ModelDeployment.ROW)


def test_the_report_is_what_both_models_give_on_the_scans_text(deployed, direct):
    app, client, headers, admin = deployed
    started = start(client, headers, sample_rate=1, limit=50)
    assert started.status_code == 201, started.get_json()
    body = started.get_json()
    assert (body["version"], body["running"], body["sample_rate"], body["limit"],
            body["scans"], body["sentences"], body["agreement"], body["started_by"]) == (
        "v2", True, 1.0, 50, {"read": 0, "skipped": 0}, 0, None, admin["id"])
    listed = {m["version"]: m["state"] for m in
              client.get("/api/v1/admin/models", headers=headers).get_json()["items"]}
    assert (listed["v1"], listed["v2"]) == ("active", "shadow")

    scans = [scan(client, headers, text) for text in TEXTS]
    shadow_of(app).drain()

    rows = [expected(direct, text) for text in TEXTS]
    differ = [{"scan_id": s["scan_id"], **item} for s, items in zip(scans, rows)
              for item in items if item["active"]["category"] != item["shadow"]["category"]]
    one_sided = [item for item in differ
                 if NONE in (item["active"]["category"], item["shadow"]["category"])]
    assert one_sided, "v1 and v2 differ on nothing: the test proves nothing"
    sentences = sum(len(items) for items in rows)
    body = report(client, headers)
    assert body["scans"] == {"read": 3, "skipped": 0}
    assert (body["sentences"], body["agreed"]) == (sentences, sentences - len(differ))
    assert body["agreement"] == round((sentences - len(differ)) / sentences, 4)
    assert body["category_differs"] == len(differ) - len(one_sided)
    newest_first = sorted(one_sided, key=lambda item: [s["scan_id"] for s in scans]
                          .index(item["scan_id"]), reverse=True)
    assert body["one_sided"] == {"total": len(one_sided), "items": newest_first}
    # The stored findings are the active model's, untouched by the shadow.
    for answered, items in zip(scans, rows):
        stored = client.get(f"/api/v1/scans/{answered['scan_id']}", headers=headers).get_json()
        assert [f["risk"] for f in stored["data"]] == [
            item["sentence"] for item in items if item["active"]["category"] != NONE]
        assert stored["data"] == answered["data"] and stored["model_version"] == "v1"
    assert audit_events(app, "model_shadow_started") == [
        ("model_shadow_started", admin["id"], {"version": "v2", "sample_rate": 1.0,
                                               "limit": 50})]


def test_the_report_says_how_each_model_agrees_with_users_corrections(deployed,
                                                                       direct):
    """v2 serves and v1 is the candidate: v1 leaves out findings of v2's, so that a user's
    correction can side with either."""
    app, client, headers, _ = deployed
    assert client.post("/api/v1/admin/models/v2/activate", headers=headers).status_code == 200
    assert client.post("/api/v1/admin/models/v1/shadow", headers=headers,
                       json={"sample_rate": 1}).status_code == 201
    answered = scan(client, headers, TEXTS[2])
    shadow_of(app).drain()
    read = {item["sentence"]: item for item in
            expected(direct, TEXTS[2], active="v2", shadow="v1")}
    findings = {f["risk"]: f for f in answered["data"]}
    left_out = [f for risk, f in findings.items() if read[risk]["shadow"]["category"] == NONE]
    kept = [f for risk, f in findings.items() if read[risk]["shadow"]["category"] != NONE]
    assert left_out and kept, "the two models differ on no finding: the test proves nothing"
    corrections = {left_out[0]["id"]: "none",  # the candidate was right
                   kept[0]["id"]: kept[0]["category"]}  # both were
    for finding_id, category in corrections.items():
        response = client.patch(f"/api/v1/scans/{answered['scan_id']}/findings/{finding_id}",
                                headers=headers, json={"category": category})
        assert response.status_code == 200, response.get_json()
    by_id = {f["id"]: read[f["risk"]] for f in answered["data"]}
    body = client.get("/api/v1/admin/models/v1/shadow", headers=headers).get_json()
    assert body["corrections"] == {
        "findings": 2,
        "active_agrees": sum(by_id[i]["active"]["category"] == c for i, c in corrections.items()),
        "shadow_agrees": sum(by_id[i]["shadow"]["category"] == c for i, c in corrections.items())}
    assert (body["corrections"]["active_agrees"], body["corrections"]["shadow_agrees"]) == (1, 2)


def test_a_risk_a_person_added_is_a_miss_of_the_active_model(deployed, direct):
    """The active model said none of the sentence a person added as a risk: a correction
    only the candidate agrees with when it found it."""
    app, client, headers, _ = deployed
    assert start(client, headers).status_code == 201
    scans = [scan(client, headers, text) for text in TEXTS]
    shadow_of(app).drain()
    answered, item = next((answered, item) for answered, text in zip(scans, TEXTS)
                          for item in expected(direct, text)
                          if item["active"]["category"] == NONE != item["shadow"]["category"])
    category = item["shadow"]["category"]
    added = client.post(f"/api/v1/scans/{answered['scan_id']}/findings", headers=headers,
                        json={"start": item["start"], "end": item["end"], "category": category})
    assert added.status_code == 201, added.get_json()
    assert report(client, headers)["corrections"] == {"findings": 1, "active_agrees": 0,
                                                      "shadow_agrees": 1}


def test_the_candidate_leaves_memory_when_its_trial_ends(make_app, models_root,
                                                         tmp_path):
    """On a models root of the test's own, so that no other test's app shares the loaded
    candidate: once its trial ends, nothing holds it."""
    root = own_root(tmp_path / "models", models_root, ("v1", "v2"))
    app = make_app(MODEL_DIR=str(root))
    client = app.test_client()
    _, headers = Accounts(app, client).user(role="admin")
    assert start(client, headers).status_code == 201
    candidate = shadow_of(app).trial.model
    inner = weakref.ref(getattr(candidate, "analyzer", candidate))
    del candidate
    scan(client, headers, TEXTS[0])
    shadow_of(app).drain()
    assert client.delete(SHADOW, headers=headers).status_code == 204
    gc.collect()
    assert inner() is None, "the candidate stays in memory after its trial ended"


def test_the_limit_ends_the_trial(deployed):
    app, client, headers, _ = deployed
    assert start(client, headers, limit=2).status_code == 201
    for text in TEXTS:
        scan(client, headers, text)
        shadow_of(app).drain()
    body = report(client, headers)
    assert (body["running"], body["ended_why"], body["scans"]) == (
        False, "limit", {"read": 2, "skipped": 0})
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ShadowComparison)) == 2
    assert audit_events(app, "model_shadow_ended") == [
        ("model_shadow_ended", None, {"version": "v2", "why": "limit", "read": 2})]
    row = row_of(app)
    assert (row.shadow_version, row.shadow_sample_rate, row.shadow_limit) == (None, None, None)
    assert shadow_of(app).trial is None
    listed = {m["version"]: m["state"] for m in
              client.get("/api/v1/admin/models", headers=headers).get_json()["items"]}
    assert listed["v2"] == "available"


def test_one_trial_at_a_time_and_never_of_the_active_version(deployed):
    app, client, headers, _ = deployed
    assert assert_problem(client.post("/api/v1/admin/models/v1/shadow", headers=headers,
                                      json={}), 409)["detail"] == (
        "Model v1 is the active version; a shadow trial reads a candidate beside it.")
    assert trials(app) == 0
    assert start(client, headers).status_code == 201
    again = assert_problem(start(client, headers), 409)
    assert again["detail"] == "The shadow trial of v2 runs; end it before another starts."
    assert trials(app) == 1
    assert len(audit_events(app, "model_shadow_started")) == 1


def test_two_starts_at_once_one_wins(deployed):
    app, _, headers, _ = deployed
    responses = at_once(app, "POST", SHADOW, parallel=2, headers=headers,
                        json={"sample_rate": 0.5})
    assert sorted(r.status_code for r in responses) == [201, 409]
    refused = next(r for r in responses if r.status_code == 409)
    assert assert_problem(refused, 409)["detail"] == (
        "The shadow trial of v2 runs; end it before another starts.")
    assert trials(app) == 1 and len(audit_events(app, "model_shadow_started")) == 1


def test_delete_ends_it_and_its_report_stays_until_the_next_trial(deployed):
    app, client, headers, admin = deployed
    none = client.delete(SHADOW, headers=headers)
    assert assert_problem(none, 404)["detail"] == \
        "No shadow trial runs; model v2 has none to end."
    assert assert_problem(client.get(SHADOW, headers=headers), 404)["detail"] == \
        "Model v2 has had no shadow trial."
    assert start(client, headers).status_code == 201
    scan(client, headers, TEXTS[0])
    shadow_of(app).drain()
    other = client.delete("/api/v1/admin/models/v1/shadow", headers=headers)
    assert assert_problem(other, 409)["detail"] == \
        "The shadow trial that runs is of v2, not of v1."

    ended = client.delete(SHADOW, headers=headers)
    assert ended.status_code == 204 and ended.data == b""
    assert shadow_of(app).trial is None
    body = report(client, headers)
    assert (body["running"], body["ended_why"], body["scans"]["read"]) == (False, "deleted", 1)
    assert audit_events(app, "model_shadow_ended") == [
        ("model_shadow_ended", admin["id"], {"version": "v2", "why": "deleted", "read": 1})]
    assert_problem(client.delete(SHADOW, headers=headers), 404)
    scan(client, headers, TEXTS[0])  # nothing reads it now
    shadow_of(app).drain()
    assert report(client, headers)["scans"]["read"] == 1

    assert start(client, headers).status_code == 201  # the next trial: a new report
    assert report(client, headers)["scans"] == {"read": 0, "skipped": 0}


def test_activating_the_candidate_ends_its_trial(deployed):
    app, client, headers, admin = deployed
    assert start(client, headers).status_code == 201
    scan(client, headers, TEXTS[0])
    shadow_of(app).drain()
    activated = client.post("/api/v1/admin/models/v2/activate", headers=headers)
    assert activated.status_code == 200, activated.get_json()
    assert shadow_of(app).trial is None
    assert scan(client, headers, TEXTS[0])["model_version"] == "v2"
    body = report(client, headers)
    assert (body["running"], body["ended_why"], body["scans"]["read"]) == (
        False, "activated", 1)
    assert audit_events(app, "model_shadow_ended") == [
        ("model_shadow_ended", admin["id"], {"version": "v2", "why": "activated", "read": 1})]
    assert row_of(app).shadow_version is None


def test_another_process_follows_the_trial_and_reads_too(deployed, make_app):
    """Two apps on one database stand for two processes: the second loads the candidate
    when it syncs, reads its own scans into the same report, and lets it go at the end."""
    app, client, headers, _ = deployed
    other = make_app(MODEL_DIR=str(current_settings(app).model_path))
    other_client = other.test_client()
    assert start(client, headers, limit=3).status_code == 201
    scan(other_client, headers, TEXTS[0])  # before it syncs: not read
    assert shadow_of(other).trial is None
    sync(other)
    assert shadow_of(other).trial.version == "v2"
    scan(other_client, headers, TEXTS[1])
    scan(client, headers, TEXTS[2])
    shadow_of(other).drain()
    shadow_of(app).drain()
    assert report(client, headers)["scans"] == {"read": 2, "skipped": 0}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ShadowComparison)) == 2

    assert client.delete(SHADOW, headers=headers).status_code == 204
    sync(other)
    assert shadow_of(other).trial is None


def test_two_processes_at_the_limit_store_one_reading(deployed, make_app,
                                                      monkeypatch):
    """Limit 1, and each of two processes has a scan inside its candidate: released
    together, one reading is stored and the trial ends once."""
    app, client, headers, _ = deployed
    other = make_app(MODEL_DIR=str(current_settings(app).model_path))
    assert start(client, headers, limit=1).status_code == 201
    sync(other)
    arrived = threading.Barrier(3)  # both readers inside the candidate, and the test
    for model in {id(m): m for m in (shadow_of(app).trial.model,
                                     shadow_of(other).trial.model)}.values():
        def held(sentences, _classify=model.classify, **options):
            arrived.wait(600)
            return _classify(sentences, **options)

        monkeypatch.setattr(model, "classify", held)
    scan(client, headers, TEXTS[0])
    scan(other.test_client(), headers, TEXTS[1])
    arrived.wait(600)
    shadow_of(app).drain()
    shadow_of(other).drain()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ShadowComparison)) == 1
    body = report(client, headers)
    assert (body["scans"]["read"], body["running"], body["ended_why"]) == (1, False, "limit")
    assert len(audit_events(app, "model_shadow_ended")) == 1


def test_a_full_queue_skips_the_scan_instead_of_making_it_wait(deployed, monkeypatch):
    """The reader is held inside the candidate: QUEUE more scans wait, the next is skipped
    and counted, and every scan is answered meanwhile."""
    app, client, headers, _ = deployed
    assert start(client, headers).status_code == 201
    candidate = shadow_of(app).trial.model
    inside, release = threading.Event(), threading.Event()
    classify = candidate.classify

    def held(sentences, **options):
        inside.set()
        assert release.wait(600), "the test never released the reader"
        return classify(sentences, **options)

    monkeypatch.setattr(candidate, "classify", held)
    scan(client, headers, TEXTS[0])
    assert inside.wait(600), "the reader never took the scan"
    for _ in range(QUEUE + 1):
        scan(client, headers, TEXTS[0])  # answered (201) while the reader is held
    release.set()
    shadow_of(app).drain()
    assert report(client, headers)["scans"] == {"read": QUEUE + 1, "skipped": 1}


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"sample_rate": 0}, "sample_rate",
     "Must be greater than 0 and less than or equal to 1."),
    ({"sample_rate": -1}, "sample_rate",
     "Must be greater than 0 and less than or equal to 1."),
    ({"sample_rate": 2}, "sample_rate",
     "Must be greater than 0 and less than or equal to 1."),
    ({"sample_rate": "x"}, "sample_rate", "Not a valid number."),
    ({"sample_rate": None}, "sample_rate", "Field may not be null."),
    ({"limit": 10 ** 12}, "limit",
     "Must be greater than or equal to 1 and less than or equal to 5000."),
    ({"limit": 0}, "limit",
     "Must be greater than or equal to 1 and less than or equal to 5000."),
    ({"limit": 2.5}, "limit", "Not a valid integer."),
    ({"limit": "10"}, "limit", "Not a valid integer."),
    ({"rate": 0.2}, "rate", "Unknown field."),
])
def test_a_bad_body_is_a_422_naming_the_field_and_starts_nothing(deployed, body, field,
                                                                  message):
    app, client, headers, _ = deployed
    response = client.post(SHADOW, headers=headers, json=body)
    assert assert_problem(response, 422, field)["errors"][field] == [message]
    assert trials(app) == 0 and audit_events(app, "model_shadow_started") == []
    assert row_of(app) is None


def test_malformed_bodies_and_versions_start_nothing(deployed):
    app, client, headers, _ = deployed
    nan = client.post(SHADOW, headers=headers, data='{"sample_rate": NaN}',
                      content_type="application/json")
    assert assert_problem(nan, 422, "sample_rate")["errors"]["sample_rate"] == [
        "Special numeric values (nan or infinity) are not permitted."]
    missing = assert_problem(client.post(SHADOW, headers=headers), 415)
    assert missing["detail"] == "This endpoint takes application/json."
    deep = client.post(SHADOW, headers=headers, data="[" * 5000 + "]" * 5000,
                       content_type="application/json")
    assert assert_problem(deep, 400)["detail"] == "The request body is not valid JSON."
    listed = client.post(SHADOW, headers=headers, json=[0.2])
    assert assert_problem(listed, 422, "_schema")["errors"]["_schema"] == ["Invalid input type."]
    for name in ("nope", ".hidden", "current", "%2e%2e", "..%2fescape", "v1%2f..", "a" * 300):
        for method in ("POST", "GET", "DELETE"):
            response = client.open(f"/api/v1/admin/models/{name}/shadow", method=method,
                                   headers=headers, json={})
            assert assert_problem(response, 404)["title"] == "Not Found", (name, method)
    refused = assert_problem(client.post("/api/v1/admin/models/miswritten/shadow",
                                         headers=headers, json={}), 422)
    assert refused["detail"].startswith("Model miswritten cannot serve: the built-in scan")
    assert trials(app) == 0 and audit_events(app, "model_shadow_started") == []


def test_only_admins_and_keys_with_the_admin_scopes(deployed):
    app, client, headers, _ = deployed

    reader = api_key_headers(client, headers, "admin:read")
    for method in ("POST", "DELETE"):
        refused = client.open(SHADOW, method=method, headers=reader, json={})
        assert assert_problem(refused, 403)["detail"] == \
            "This API key lacks the scope admin:write."
    assert trials(app) == 0
    writer = api_key_headers(client, headers, "admin:write")
    assert client.post(SHADOW, headers=writer, json={}).status_code == 201
    assert client.get(SHADOW, headers=reader).get_json()["sample_rate"] == 0.2
    _, user_headers = Accounts(app, client).user()
    for method in ("POST", "GET", "DELETE"):
        assert_problem(client.open(SHADOW, method=method, headers=user_headers, json={}), 403)
    assert shadow_of(app).trial is not None  # still running
    assert client.delete(SHADOW, headers=writer).status_code == 204
    assert report(client, headers)["ended_why"] == "deleted"


def readings(app) -> dict[str, list]:
    """Each stored reading's scan id, with its disagreements (what it keeps of the text)."""
    with app.app_context():
        return {reading.scan_id: reading.disagreements
                for reading in db.session.scalars(select(ShadowComparison))}


def test_deleting_a_scan_or_its_user_deletes_what_the_trial_read_of_it(deployed):
    """The readings kept a scan's sentences verbatim after the scan, and the account, were
    deleted, and the report showed them with the scan's id."""
    app, client, headers, _ = deployed
    assert start(client, headers).status_code == 201
    user, user_headers = Accounts(app, client).user()
    deleted = scan(client, user_headers, TEXTS[1])["scan_id"]
    with_account = scan(client, user_headers, TEXTS[2])["scan_id"]
    kept = scan(client, headers, ("Key developers might leave the project in March. Lunch "
                                  "was served at noon. The team met on Tuesday."))["scan_id"]
    shadow_of(app).drain()
    stored = readings(app)
    assert set(stored) == {deleted, with_account, kept}
    assert all(stored.values()), \
        "the candidate differs on nothing of a scan: the test proves nothing"
    said = {scan_id: [item["sentence"] for item in items] for scan_id, items in stored.items()}

    assert client.delete(f"/api/v1/scans/{deleted}", headers=user_headers).status_code == 204
    assert set(readings(app)) == {with_account, kept}
    assert client.delete(f"/api/v1/users/{user['id']}", headers=headers).status_code == 204
    assert set(readings(app)) == {kept}

    shown = json.dumps(report(client, headers))
    for gone in (deleted, with_account):
        assert gone not in shown
        assert not [sentence for sentence in said[gone] if sentence in shown]
    body = report(client, headers)
    assert [item["sentence"] for item in body["one_sided"]["items"]] == [
        item["sentence"] for item in stored[kept]
        if NONE in (item["active"]["category"], item["shadow"]["category"])]
    assert {item["scan_id"] for item in body["one_sided"]["items"]} == {kept}
    assert body["scans"]["read"] == 3  # the trial did read three


def test_a_scan_deleted_while_the_candidate_reads_it_leaves_no_reading(
        deployed, monkeypatch, caplog):
    """The reader is inside the candidate when the user deletes the scan: what it read is
    not stored, the scan is not counted, and nothing fails."""
    app, client, headers, _ = deployed
    assert start(client, headers).status_code == 201
    candidate = shadow_of(app).trial.model
    inside, release = threading.Event(), threading.Event()
    classify = candidate.classify

    def held(sentences, **options):
        inside.set()
        assert release.wait(600), "the test never released the reader"
        return classify(sentences, **options)

    monkeypatch.setattr(candidate, "classify", held)
    scan_id = scan(client, headers, TEXTS[0])["scan_id"]
    assert inside.wait(600), "the reader never took the scan"
    assert client.delete(f"/api/v1/scans/{scan_id}", headers=headers).status_code == 204
    with caplog.at_level(logging.WARNING, logger="riskscan.shadow"):
        release.set()
        shadow_of(app).drain()

    assert readings(app) == {}
    body = report(client, headers)
    assert (body["scans"], body["sentences"], body["running"]) == (
        {"read": 0, "skipped": 0}, 0, True)
    assert [r.getMessage() for r in caplog.records if r.name == "riskscan.shadow"] == []


def test_a_sample_rate_below_1_reads_the_scans_whose_draw_is_under_it(deployed,
                                                                       monkeypatch):
    """The draw for each scan decides (patched: 0.49 and 0 are under 0.5, 0.5 and 0.99 are
    not): the candidate reads exactly those scans."""
    app, client, headers, _ = deployed
    assert start(client, headers, sample_rate=0.5).status_code == 201
    draws = iter((0.49, 0.5, 0.99, 0.0))
    monkeypatch.setattr("service.serving.trials.random", types.SimpleNamespace(
        random=lambda: next(draws)))

    scans = [scan(client, headers, TEXTS[0])["scan_id"] for _ in range(4)]
    shadow_of(app).drain()

    assert set(readings(app)) == {scans[0], scans[3]}
    assert report(client, headers)["scans"] == {"read": 2, "skipped": 0}
    assert next(draws, None) is None  # one draw a scan, no more


def test_rolling_back_onto_the_candidate_ends_its_trial(deployed):
    """v2 serves, v1 (the version before) is on trial: a rollback makes the candidate the
    active model, which ends its trial as an activation does."""
    app, client, headers, admin = deployed
    assert client.post("/api/v1/admin/models/v2/activate", headers=headers).status_code == 200
    assert client.post("/api/v1/admin/models/v1/shadow", headers=headers,
                       json={"sample_rate": 1}).status_code == 201
    scan(client, headers, TEXTS[0])
    shadow_of(app).drain()

    rolled = client.post("/api/v1/admin/models/rollback", headers=headers)

    assert rolled.status_code == 200, rolled.get_json()
    assert rolled.get_json()["active_version"] == "v1"
    assert shadow_of(app).trial is None
    body = client.get("/api/v1/admin/models/v1/shadow", headers=headers).get_json()
    assert (body["running"], body["ended_why"], body["scans"]["read"]) == (
        False, "activated", 1)
    assert audit_events(app, "model_shadow_ended") == [
        ("model_shadow_ended", admin["id"], {"version": "v1", "why": "activated", "read": 1})]
    assert row_of(app).shadow_version is None
    assert scan(client, headers, TEXTS[1])["model_version"] == "v1"
    shadow_of(app).drain()
    assert len(readings(app)) == 1  # nothing reads beside v1 now
    listed = {m["version"]: m["state"] for m in
              client.get("/api/v1/admin/models", headers=headers).get_json()["items"]}
    assert (listed["v1"], listed["v2"]) == ("active", "available")


def test_activating_a_third_version_leaves_the_trial_running_beside_it(
        make_app, models_root, tmp_path):
    """v2 is on trial beside v1 when v3 is activated: the trial goes on, and its readings
    from then on compare v2 with v3, the model that answered."""
    root = own_root(tmp_path / "models", models_root, ("v1", "v2", "v3"))
    app = make_app(MODEL_DIR=str(root))
    client = app.test_client()
    _, headers = Accounts(app, client).user(role="admin")
    assert start(client, headers).status_code == 201
    before = scan(client, headers, TEXTS[0])["scan_id"]
    shadow_of(app).drain()

    activated = client.post("/api/v1/admin/models/v3/activate", headers=headers)

    assert activated.status_code == 200, activated.get_json()
    after = scan(client, headers, TEXTS[0])
    assert after["model_version"] == "v3"
    shadow_of(app).drain()
    assert shadow_of(app).trial.version == "v2"
    body = report(client, headers)
    assert (body["running"], body["ended_why"], body["scans"]["read"]) == (True, None, 2)
    with app.app_context():
        assert dict(db.session.execute(select(ShadowComparison.scan_id,
                                              ShadowComparison.active_version)).all()) == {
            before: "v1", after["scan_id"]: "v3"}
    assert row_of(app).shadow_version == "v2"
    listed = {m["version"]: m["state"] for m in
              client.get("/api/v1/admin/models", headers=headers).get_json()["items"]}
    assert listed == {"v1": "available", "v2": "shadow", "v3": "active"}
