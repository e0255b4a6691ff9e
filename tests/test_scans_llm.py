"""force_llm through the API, against a real OpenAI-compatible server on loopback."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from service.db import LLMCallLog, Scan
from service.extensions import db
from testkit.llm_server import FakeLLMServer
from tests.helpers import assert_problem

KEY = "sk-live-abcdef0123456789"
MODEL = "llama-3.1-8b-instruct"
TEXT = (
    "Weekly status.\n"
    "UAT may slip two weeks if the test environment is not ready. "
    "The new logo was approved. "
    "Admin passwords are shared over chat."
)
RISKS = {
    "UAT may slip two weeks if the test environment is not ready.": "schedule",
    "Admin passwords are shared over chat.": "security",
}


@pytest.fixture
def llm():
    with FakeLLMServer(risks=RISKS) as server:
        yield server


@pytest.fixture
def llm_app(make_app, llm):
    """An app with no in-process model and the LLM configured."""
    return make_app(LLM_BASE_URL=llm.base_url, LLM_MODEL=MODEL, LLM_API_KEY=KEY,
                    LLM_TIMEOUT_S=1.0)


@pytest.fixture
def llm_client(llm_app):
    return llm_app.test_client()


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def call_log(app) -> list[LLMCallLog]:
    with app.app_context():
        rows = db.session.scalars(select(LLMCallLog).order_by(LLMCallLog.id)).all()
        db.session.expunge_all()
        return rows


def test_force_llm_scan_is_stored_with_source_llm_and_model_name(llm_app, llm_client,
                                                                 accounts, llm):
    _, headers = accounts.user()
    response = llm_client.post("/api/v1/scans", json={"text": TEXT, "force_llm": True},
                               headers=headers)
    assert response.status_code == 201, response.get_json()
    scan = response.get_json()
    assert scan["source"] == "llm"
    assert scan["model_version"] == MODEL
    assert [(f["risk"], f["category"]) for f in scan["data"]] == list(RISKS.items())
    for finding in scan["data"]:
        assert TEXT[finding["start"]:finding["end"]] == finding["risk"]
    assert scan["counts"] == {"schedule": 1, "security": 1}

    sent = llm.requests[-1]
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert sent.body["model"] == MODEL
    assert sent.body["response_format"] == {"type": "json_object"}

    stored = llm_client.get(f"/api/v1/scans/{scan['scan_id']}", headers=headers).get_json()
    assert stored["source"] == "llm" and len(stored["data"]) == 2
    [logged] = call_log(llm_app)
    assert logged.scan_id == scan["scan_id"] and logged.status == "ok"
    assert logged.model == MODEL and logged.prompt_tokens is not None


def test_invented_sentences_and_unknown_categories_are_dropped_and_counted(
        make_app, accounts):
    with FakeLLMServer(risks=RISKS) as server:
        # The server only lists sentences it finds in the text; make it invent one too.
        server.extra_items = [{"risk": "The moon may fall on the data centre.",
                               "category": "technical", "context": ""},
                              {"risk": "The new logo was approved.", "category": "branding",
                               "context": ""}]
        app = make_app(LLM_BASE_URL=server.base_url, LLM_MODEL=MODEL)
        _, headers = accounts.user()
        response = app.test_client().post("/api/v1/scans", json={"text": TEXT,
                                                                 "force_llm": True},
                                          headers=headers)
    body = response.get_json()
    assert response.status_code == 201, body
    assert body["dropped"] == 2
    assert {f["risk"] for f in body["data"]} == set(RISKS)


@pytest.mark.parametrize("behaviour, status", [
    ("hang", 504),
    ("error_500", 502),
    ("error_401", 502),
    ("redirect", 502),
    ("prose", 502),
    ("oversized", 502),
])
def test_llm_failures_answer_problem_and_store_no_scan(llm_app, llm_client, accounts, llm,
                                                       behaviour, status):
    llm.behaviour = behaviour
    _, headers = accounts.user()
    response = llm_client.post("/api/v1/scans", json={"text": TEXT, "force_llm": True},
                               headers=headers)
    body = assert_problem(response, status)
    assert KEY not in response.get_data(as_text=True)
    assert count(llm_app, Scan) == 0
    calls = call_log(llm_app)
    assert calls and all(call.scan_id is None and call.status != "ok" for call in calls)
    for call in calls:  # the call log keeps no secret and no document text
        assert KEY not in (call.error or "")
        assert "passwords are shared" not in (call.error or "")
    if behaviour == "prose":  # one repair retry, then 502
        assert len(calls) == 2
    assert body["detail"]


def test_unreachable_llm_is_503_with_retry_after(make_app, accounts):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = make_app(LLM_BASE_URL=f"http://127.0.0.1:{port}/v1", LLM_MODEL=MODEL)
    _, headers = accounts.user()
    response = app.test_client().post("/api/v1/scans", json={"text": TEXT, "force_llm": True},
                                      headers=headers)
    assert_problem(response, 503)
    assert response.headers["Retry-After"]
    assert count(app, Scan) == 0


def test_force_llm_without_llm_configured_is_503_saying_so(client, accounts):
    _, headers = accounts.user()
    response = client.post("/api/v1/scans", json={"text": TEXT, "force_llm": True},
                           headers=headers)
    body = assert_problem(response, 503)
    assert "LLM_BASE_URL" in body["detail"]


def test_without_a_model_scans_go_to_the_llm_and_ready_says_which(llm_app, llm_client,
                                                                  accounts):
    _, headers = accounts.user()
    response = llm_client.post("/api/v1/scans", json={"text": TEXT}, headers=headers)
    assert response.status_code == 201
    assert response.get_json()["source"] == "llm"
    ready = llm_client.get("/ready").get_json()
    assert ready["checks"]["analyzers"]["model"]["available"] is False
    assert ready["checks"]["analyzers"]["llm"] == {"available": True}
    _, admin_headers = accounts.user(role="admin")
    ready = llm_client.get("/ready", headers=admin_headers).get_json()
    assert ready["checks"]["analyzers"]["llm"] == {"available": True, "model": MODEL}


def test_admins_list_llm_calls_users_do_not(llm_app, llm_client, accounts, llm):
    _, user_headers = accounts.user()
    _, admin_headers = accounts.user(role="admin")
    llm_client.post("/api/v1/scans", json={"text": TEXT, "force_llm": True},
                    headers=user_headers)
    llm.behaviour = "error_500"
    llm_client.post("/api/v1/scans", json={"text": TEXT, "force_llm": True},
                    headers=user_headers)

    assert_problem(llm_client.get("/api/v1/admin/llm-calls", headers=user_headers), 403)
    assert_problem(llm_client.get("/api/v1/admin/llm-calls"), 401)
    page = llm_client.get("/api/v1/admin/llm-calls", headers=admin_headers).get_json()
    assert page["total"] == 2
    assert [item["status"] for item in page["items"]] == ["http_error", "ok"]
    assert page["items"][0]["http_status"] == 500
    assert KEY not in json.dumps(page)
    only_ok = llm_client.get("/api/v1/admin/llm-calls?status=ok",
                             headers=admin_headers).get_json()
    assert only_ok["total"] == 1
    assert_problem(llm_client.get("/api/v1/admin/llm-calls?per_page=1000",
                                  headers=admin_headers), 422)
