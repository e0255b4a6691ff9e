"""The reader in the model lifecycle: a deployed version is ``F`` (a fast model alone) or
``F+R`` (the cascade of F and the reader R), listed, activated, rolled back and followed by
every process like a fast model alone (service/serving/registry.py, service/serving/deployment.py).

A models root of the test's own holds the test model as two fast versions (``v1``; ``v2`` at
another operating point), and as readers: the same weights read at another temperature and
operating point with a screen.json, as tests/test_cascade.py builds one (``r1`` fitted to
v1, ``r2`` fitted to v2), and broken ones: a screen.json that does not parse, a screen
threshold out of range, a corrupt graph, a graph that passes the file check but does not
load, and a fast model whose graph is cut short.
"""

from __future__ import annotations

import json
import threading

import pytest

from service.config import current_settings
from service.serving.deployment import sync
from tests.helpers import Accounts, assert_problem, at_once
from tests.registry import (
    READER_CALIBRATION,
    SCREEN,
    InFlight,
    audit_events,
    build_reader_root,
    calibrated_source,
    deployment_rows,
    fingerprint,
    scan,
)


def test_building_the_reader_registry_leaves_its_source_model_as_it_was(tmp_path,
                                                                         scan_model_dir):
    """Its versions get calibrations, screens and checks of their own, and a reader's
    broken graph: none of it may reach the model they are made from (a real model, where
    RISKSCAN_TEST_MODEL_DIR names one)."""
    source = calibrated_source(tmp_path / "source", scan_model_dir)
    before = fingerprint(source)

    root = build_reader_root(tmp_path / "models", source)

    assert fingerprint(source) == before
    assert json.loads((root / "r1" / "calibration.json").read_text()) == READER_CALIBRATION


@pytest.fixture
def served(make_app, reader_root):
    """An app serving v1 from the reader root (readers at full precision, so that each is
    checked against its check.json; no reading budget, so that the reader answers all the
    screen passes), with an admin."""
    app = make_app(MODEL_DIR=str(reader_root), READER_QUANTIZE="none", READER_BUDGET=None)
    client = app.test_client()
    admin, headers = Accounts(app, client).user(role="admin")
    return app, client, headers, admin


def listing(client, headers) -> dict:
    response = client.get("/api/v1/admin/models", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def activate(client, headers, path_version, body=None):
    return client.post(f"/api/v1/admin/models/{path_version}/activate", headers=headers,
                       json=body)


def test_the_registry_lists_roles_the_fast_model_each_reader_fits_and_broken_files_at_once(
        served):
    _, client, headers, _ = served
    listed = {m["version"]: (m["role"], m["fitted_to"], m["state"], m["reason"])
              for m in listing(client, headers)["items"]}
    assert listed == {
        "v1": ("fast", None, "active", None),
        "v2": ("fast", None, "available", None),
        "r1": ("reader", "v1", "available", None),
        "r2": ("reader", "v2", "available", None),
        "unscreened": ("reader", None, "broken", "screen.json is unreadable"),
        "overscreen": ("reader", "v1", "broken",
                       "screen.json has no screen threshold within 0..1"),
        "rcorrupt": ("reader", "v1", "broken",
                     "model.onnx is not an ONNX model (cut short or corrupt)"),
        "cut": ("fast", None, "broken", "model.onnx is not an ONNX model (cut short or corrupt)"),
        # Its files look whole: only loading shows it (see the refusal test).
        "runloadable": ("reader", "v1", "available", None),
    }


@pytest.mark.parametrize("path_version", ["v1%2Br1", "v1+r1"])
def test_activating_a_cascade_serves_it_audits_it_and_names_it_everywhere(
        served, path_version):
    from service.analysis.transformer import TransformerAnalyzer
    from testkit.documents import MIXED_TEXT as CASCADE_TEXT

    app, client, headers, admin = served
    response = activate(client, headers, path_version)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["active_version"], body["previous_versions"], body["generation"]) == \
        ("v1+r1", ["v1"], 1)

    answer = client.post("/api/v1/scans", headers=headers,
                         json={"text": CASCADE_TEXT, "min_score": 0.0}).get_json()
    assert answer["model_version"] == "v1+r1"
    # The reader's answer on what v1 passes at the screen, and nothing on the rest.
    root = current_settings(app).model_path
    screened = {f.risk: f.score for f in TransformerAnalyzer(root / "v1").analyze(
        CASCADE_TEXT, min_score=0.0).findings}
    read = {f.risk: f.score for f in TransformerAnalyzer(root / "r1").analyze(
        CASCADE_TEXT, min_score=0.0).findings}
    passed = {risk for risk, score in screened.items() if score >= SCREEN}
    assert 0 < len(passed) < len(screened)
    assert {f["risk"]: round(f["score"], 3) for f in answer["data"]} == {
        risk: round(read[risk], 3) for risk in passed}

    assert audit_events(app, "model_activated") == [
        ("model_activated", admin["id"], {"from": "v1", "to": "v1+r1", "generation": 1})]
    listed = listing(client, headers)
    states = {m["version"]: m["state"] for m in listed["items"]}
    assert (listed["active"], states["v1"], states["r1"], states["v2"]) == \
        ("v1+r1", "active", "active", "available")
    ready = client.get("/ready", headers=headers).get_json()["checks"]
    assert ready["analyzers"]["model"]["version"] == "v1+r1"
    assert ready["deployment"] == {"ok": True, "following": True, "active": "v1+r1",
                                   "serving": "v1+r1", "generation": 1}
    metrics = client.get("/metrics").get_data(as_text=True)
    assert ('riskscan_model_info{device="cpu",quantize="none+none",runtime="onnx+onnx",'
            'version="v1+r1"} 1.0') in metrics
    assert 'riskscan_scans_total{source="model",version="v1+r1"}' in metrics
    again = activate(client, headers, "v1%2Br1")
    assert assert_problem(again, 409)["detail"] == "Model v1+r1 is the active version already."


def test_a_body_names_the_reader_and_without_one_the_version_serves_alone(served):
    """{"reader": R} on F serves F+R; activating F with no body, or a null reader, serves
    F alone: the reader goes with it (the way to switch a reader off)."""
    app, client, headers, _ = served
    assert activate(client, headers, "v2", {"reader": "r2"}).get_json()["active_version"] \
        == "v2+r2"
    assert scan(client, headers)["model_version"] == "v2+r2"
    assert activate(client, headers, "v2").get_json()["active_version"] == "v2"
    assert scan(client, headers)["model_version"] == "v2"
    assert activate(client, headers, "v1", {"reader": "r1"}).status_code == 200
    alone = activate(client, headers, "v1", {"reader": None})
    assert alone.status_code == 200, alone.get_json()
    assert (alone.get_json()["active_version"], alone.get_json()["previous_versions"]) == \
        ("v1", ["v1", "v2+r2", "v2", "v1+r1"])
    assert scan(client, headers)["model_version"] == "v1"
    assert [details["to"] for _, _, details in audit_events(app, "model_activated")] == \
        ["v2+r2", "v2", "v1+r1", "v1"]


@pytest.mark.parametrize(("path_version", "body", "version", "reason"), [
    ("r1", None, "r1", ("r1 is a reader: it decides only on what a fast model passes on; "
                        "activate it behind one, as v1+r1")),
    ("r1%2Bv1", None, "r1+v1", "r1 is a reader"),
    ("v1%2Bv2", None, "v1+v2", "v2 is not a reader: it has no screen.json"),
    ("v1", {"reader": "v2"}, "v1+v2", "v2 is not a reader: it has no screen.json"),
    ("v1%2Br2", None, "v1+r2", "the screen of r2 was fitted to v2, not v1: fit it again"),
    ("v1%2Bunscreened", None, "v1+unscreened", "unscreened: screen.json is unreadable"),
    ("v1%2Boverscreen", None, "v1+overscreen",
     "overscreen: screen.json has no screen threshold within 0..1"),
    ("v1%2Brcorrupt", None, "v1+rcorrupt",
     "rcorrupt: model.onnx is not an ONNX model (cut short or corrupt)"),
    ("v1%2Brunloadable", None, "v1+runloadable",
     "cannot load the model in"),
    ("cut%2Br1", None, "cut+r1", "cut: model.onnx is not an ONNX model"),
])
def test_a_reader_that_cannot_serve_there_is_refused_and_the_old_model_serves_on(
        served, path_version, body, version, reason):
    app, client, headers, _ = served
    before = {m["version"]: m["state"] for m in listing(client, headers)["items"]}

    response = activate(client, headers, path_version, body)

    problem = assert_problem(response, 422)
    assert problem["title"] == "Model refused"
    assert problem["detail"].startswith(f"Model {version} cannot serve: {reason}"), problem
    assert scan(client, headers)["model_version"] == "v1"
    assert deployment_rows(app) == 0
    assert audit_events(app, "model_activated") == []
    # A refused combination changes no folder's state.
    assert {m["version"]: m["state"] for m in listing(client, headers)["items"]} == before


@pytest.mark.parametrize("path_version", [
    "v1%2B", "%2Br1", "v1%2Br1%2Br2", "v1%2B%2Br1", "..%2Fx%2By", "..%2Bv1", "v1%2B..",
    "v1%2B.hidden", "v1%2Bcurrent", "v1%2Bnope", "nope%2Br1", "v1%00%2Br1", "v1%20%2Br1",
    "a" * 63 + "%2B" + "b" * 64, "a" * 300 + "%2Br1", "%2B" * 200,
])
def test_malformed_and_unknown_cascades_are_404_and_change_nothing(served, path_version):
    app, client, headers, _ = served
    assert_problem(activate(client, headers, path_version), 404)
    assert deployment_rows(app) == 0 and audit_events(app, "model_activated") == []
    assert scan(client, headers)["model_version"] == "v1"


@pytest.mark.parametrize(("body", "status", "fields", "detail"), [
    ({"reader": "../x"}, 422, ("reader",), "The request has invalid fields."),
    ({"reader": "r1+r2"}, 422, ("reader",), "The request has invalid fields."),
    ({"reader": "r" * 100_000}, 422, ("reader",), "The request has invalid fields."),
    ({"reader": 5}, 422, ("reader",), "The request has invalid fields."),
    ({"reader": "r1", "fast": "v2"}, 422, ("fast",), "The request has invalid fields."),
    (["r1"], 422, ("_schema",), "The request has invalid fields."),
    ({"reader": "nope"}, 404, (), "No model version 'nope' in the registry."),
    ("{", 400, ("_schema",), "The request body is not valid JSON."),
])
def test_a_malformed_body_is_refused_and_changes_nothing(served, body, status, fields, detail):
    app, client, headers, _ = served
    if isinstance(body, str):
        response = client.post("/api/v1/admin/models/v1/activate", data=body,
                               headers={**headers, "Content-Type": "application/json"})
    else:
        response = activate(client, headers, "v1", body)
    assert assert_problem(response, status, *fields)["detail"] == detail
    assert deployment_rows(app) == 0 and audit_events(app, "model_activated") == []


def test_a_reader_named_twice_is_refused(served):
    app, client, headers, _ = served
    response = activate(client, headers, "v1%2Br1", {"reader": "r1"})
    assert assert_problem(response, 422)["detail"] == (
        "'v1+r1' names its reader already: name it once, in the version or in the body's "
        "reader.")
    assert deployment_rows(app) == 0


def test_only_admins_activate_a_cascade_and_two_at_once_make_one_change(served):
    app, client, headers, _ = served
    _, user_headers = Accounts(app, client).user()
    for path, body in (("v1%2Br1", None), ("v2", {"reader": "r2"})):
        assert_problem(activate(client, user_headers, path, body), 403)
    assert deployment_rows(app) == 0

    responses = at_once(app, "POST", "/api/v1/admin/models/v1%2Br1/activate", parallel=2,
                        headers=headers)
    assert sorted(r.status_code for r in responses) == [200, 409]
    assert len(audit_events(app, "model_activated")) == 1
    assert scan(client, headers)["model_version"] == "v1+r1"


def test_scans_during_a_swap_to_the_cascade_all_succeed_each_naming_its_model(served):
    """Activate under load: three scans are inside v1 when v1+r1 is activated; each ends on
    v1 and says so, a scan meanwhile names v1+r1, and so do those after."""
    app, client, headers, _ = served
    held = InFlight(app.extensions["riskscan.analyzers"].model, scans=3)
    answers = []

    def send():
        answers.append(app.test_client().post("/api/v1/scans", headers=headers,
                                              json={"text": "The vendor may be late."}))

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    held.arrived.wait(600)
    try:
        activated = activate(client, headers, "v1%2Br1")
        assert activated.status_code == 200, activated.get_json()
        during = scan(client, headers)
    finally:  # a failed activation must not leave the scans waiting
        held.release.set()
        for thread in threads:
            thread.join(600)

    assert [a.status_code for a in answers] == [201, 201, 201]
    assert [a.get_json()["model_version"] for a in answers] == ["v1", "v1", "v1"]
    assert during["model_version"] == "v1+r1"
    assert scan(client, headers)["model_version"] == "v1+r1"


def test_rollback_returns_to_each_combination_before(served):
    app, client, headers, _ = served
    assert activate(client, headers, "v1%2Br1").status_code == 200
    assert activate(client, headers, "v2").status_code == 200

    back = client.post("/api/v1/admin/models/rollback", headers=headers)
    assert back.status_code == 200, back.get_json()
    assert (back.get_json()["active_version"], back.get_json()["previous_versions"]) == \
        ("v1+r1", ["v1"])
    assert scan(client, headers)["model_version"] == "v1+r1"
    again = client.post("/api/v1/admin/models/rollback", headers=headers)
    assert again.get_json()["active_version"] == "v1"
    assert scan(client, headers)["model_version"] == "v1"
    assert [details for event, _, details in audit_events(app, "model_rolled_back")] == [
        {"from": "v2", "to": "v1+r1", "generation": 3},
        {"from": "v1+r1", "to": "v1", "generation": 4}]


def test_another_process_follows_to_the_cascade_and_back(served, make_app):
    app, client, headers, _ = served
    other = make_app(MODEL_DIR=str(current_settings(app).model_path), READER_QUANTIZE="none")
    other_client = other.test_client()
    assert activate(client, headers, "v1%2Br1").status_code == 200
    assert scan(other_client, headers)["model_version"] == "v1"

    assert sync(other) is True
    assert scan(other_client, headers)["model_version"] == "v1+r1"
    check = other_client.get("/ready", headers=headers).get_json()["checks"]["deployment"]
    assert (check["following"], check["serving"]) == (True, "v1+r1")
    assert client.post("/api/v1/admin/models/rollback", headers=headers).status_code == 200
    assert sync(other) is True
    assert scan(other_client, headers)["model_version"] == "v1"


def test_the_configured_reader_serves_at_start_until_the_deployment_row_says_otherwise(
        make_app, reader_root):
    app = make_app(MODEL_DIR=str(reader_root), READER_DIR=str(reader_root / "r1"),
                   READER_QUANTIZE="none")
    client = app.test_client()
    _, headers = Accounts(app, client).user(role="admin")
    assert scan(client, headers)["model_version"] == "v1+r1"
    listed = listing(client, headers)
    assert listed["active"] == "v1+r1"
    check = client.get("/ready", headers=headers).get_json()["checks"]["deployment"]
    assert (check["active"], check["serving"]) == ("v1+r1", "v1+r1")
    assert assert_problem(activate(client, headers, "v1%2Br1"), 409)["detail"] == \
        "Model v1+r1 is the active version already."

    assert activate(client, headers, "v2").status_code == 200
    assert audit_events(app, "model_activated")[0][2] == {"from": "v1+r1", "to": "v2",
                                                          "generation": 1}
    restarted = make_app(MODEL_DIR=str(reader_root), READER_DIR=str(reader_root / "r1"),
                         READER_QUANTIZE="none")
    assert sync(restarted) is True
    assert scan(restarted.test_client(), headers)["model_version"] == "v2"
