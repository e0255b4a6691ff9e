"""Liveness and readiness, and the request log: one JSON line per request, with a request id
the client can quote, and never a password or a token."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from service import create_app
from service.config import Settings
from service.extensions import db
from tests.helpers import PASSWORD, Accounts, assert_problem

HEX_ID = re.compile(r"[0-9a-f]{32}")


# --- health and readiness ----------------------------------------------------------------


def test_health_is_200_without_a_token(client):
    response = client.get("/health")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_ready_is_200_when_the_database_and_every_check_pass(app, client):
    app.extensions["riskscan.readiness"] = {"probe": lambda: {"ok": True}}

    response = client.get("/ready")

    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["probe"] == {"ok": True}


def test_ready_is_503_when_another_check_fails(app, client):
    app.extensions["riskscan.readiness"] = {"probe": lambda: {"ok": False, "why": "cold"}}

    response = client.get("/ready")

    body = assert_problem(response, 503)
    assert "probe" in body["detail"] and "database" not in body["detail"]
    assert body["checks"]["database"]["ok"] is True
    # Anonymous callers see states, not reasons.
    assert body["checks"]["probe"] == {"ok": False}
    assert int(response.headers["Retry-After"]) > 0


def test_ready_shows_an_admin_the_reasons(app, client, accounts):
    app.extensions["riskscan.readiness"] = {"probe": lambda: {"ok": False, "why": "cold"}}
    _, user_headers = accounts.user()
    _, admin_headers = accounts.user(role="admin")
    assert client.get("/ready", headers=user_headers).get_json()["checks"]["probe"] == \
        {"ok": False}
    assert client.get("/ready", headers=admin_headers).get_json()["checks"]["probe"] == \
        {"ok": False, "why": "cold"}
    # A bad token is no admin: the anonymous answer, not a 401.
    forged = client.get("/ready", headers={"Authorization": "Bearer forged"})
    assert forged.status_code == 503 and forged.get_json()["checks"]["probe"] == {"ok": False}


def test_ready_shows_an_admin_who_must_still_choose_a_password_only_the_states(
        app, client, accounts):
    """Issue #75, item 8: a session on a one-time password opens nothing but its change,
    so /ready tells it what it tells anyone."""
    app.extensions["riskscan.readiness"] = {"probe": lambda: {"ok": False, "why": "cold"}}
    _, admin_headers = accounts.user(role="admin")
    made = client.post("/api/v1/users", headers=admin_headers,
                       json={"email": "new-admin@example.com", "role": "admin"}).get_json()
    tokens = client.post("/api/v1/auth/login", json={
        "email": "new-admin@example.com", "password": made["one_time_password"]}).get_json()

    first = client.get("/ready", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert first.status_code == 503 and first.get_json()["checks"]["probe"] == {"ok": False}


@pytest.fixture(params=["sqlite-directory", "mysql-closed-port"])
def unreachable_app(request, tmp_path):
    """An app whose database cannot be reached (no server needed for either)."""
    if request.param == "sqlite-directory":
        url = f"sqlite:///{tmp_path}"  # a directory: SQLite cannot open it
    else:
        url = "mysql+pymysql://riskscan:pw@127.0.0.1:1/riskscan"  # nothing listens on port 1
    app = create_app(Settings.from_env(
        {}, RISKSCAN_ENV="testing", SECRET_KEY="test-secret-key-0123456789", MODEL_DIR="off",
        DATABASE_URL=url, LOG_FORMAT="text", LOG_LEVEL="CRITICAL"))
    app.extensions["riskscan.readiness"] = {}  # only the database is in question here
    yield app
    with app.app_context():
        db.engine.dispose()


def test_ready_is_503_when_the_database_is_unreachable(unreachable_app):
    client = unreachable_app.test_client()

    response = client.get("/ready")

    body = assert_problem(response, 503)
    assert "database" in body["detail"]
    assert body["checks"]["database"]["ok"] is False
    assert int(response.headers["Retry-After"]) > 0
    # The process is alive all the same.
    assert client.get("/health").status_code == 200


@pytest.mark.parametrize(("path", "payload"), [
    ("/api/v1/auth/login", {"email": "a@example.com", "password": PASSWORD}),
    ("/api/v1/auth/register", {"email": "a@example.com", "password": PASSWORD}),
])
def test_an_api_call_without_a_database_is_a_503_problem_with_retry_after(unreachable_app,
                                                                         path, payload):
    client = unreachable_app.test_client()

    response = client.post(path, json=payload)

    body = assert_problem(response, 503)
    assert "database" in body["detail"]
    assert int(response.headers["Retry-After"]) > 0
    assert client.post(path, json=payload).status_code == 503  # and it keeps answering


def test_a_connection_lost_after_the_response_is_made_does_not_turn_it_into_a_500(
        app, client, accounts, monkeypatch):
    """The database died between the view's answer and the end of the request (as in a
    restart, reliability/faults.py): the rollback that ends the request's session fails.
    The client still gets the answer, and the next request is served on a new connection.
    It used to escape Flask's teardown, and waitress answered a bare 500."""
    _, headers = accounts.user()
    with app.app_context():
        dialect = db.engine.dialect
    lost = dialect.loaded_dbapi.OperationalError(2013, "Lost connection to server during query")
    failures = []

    def rollback_on_a_dead_connection(dbapi_connection):
        failures.append(dbapi_connection)
        raise lost

    monkeypatch.setattr(dialect, "do_rollback", rollback_on_a_dead_connection)
    response = client.get("/api/v1/scans", headers=headers)
    monkeypatch.undo()

    assert failures, "the request did not end with a rollback: the test proves nothing"
    assert response.status_code == 200 and response.get_json()["items"] == []
    assert client.get("/api/v1/scans", headers=headers).status_code == 200


# --- request ids -------------------------------------------------------------------------


def test_a_clients_request_id_is_returned(client):
    response = client.get("/health", headers={"X-Request-ID": "client-id.42:a_b"})

    assert response.headers["X-Request-ID"] == "client-id.42:a_b"


@pytest.mark.parametrize("incoming", [None, "", "x" * 129, "has space", "semi;colon",
                                      "new\\nline", "ünïcode"])
def test_a_missing_or_unsafe_request_id_is_replaced_by_a_generated_one(client, incoming):
    headers = {} if incoming is None else {"X-Request-ID": incoming}

    first = client.get("/api/v1/nothing-here", headers=headers)
    second = client.get("/api/v1/nothing-here", headers=headers)

    generated = first.headers["X-Request-ID"]
    assert HEX_ID.fullmatch(generated)
    assert first.get_json()["request_id"] == generated
    assert second.headers["X-Request-ID"] != generated


def test_a_128_character_request_id_is_kept(client):
    incoming = "r" * 128

    assert client.get("/health", headers={"X-Request-ID": incoming}) \
        .headers["X-Request-ID"] == incoming


# --- the request log ---------------------------------------------------------------------


@pytest.fixture
def logged(make_app):
    """An app logging JSON at DEBUG, and a function returning what it has logged so far."""
    app = make_app(LOG_FORMAT="json", LOG_LEVEL="DEBUG")
    handlers = logging.getLogger("riskscan").handlers
    assert len(handlers) == 1
    stream = io.StringIO()
    handlers[0].setStream(stream)

    def output() -> str:
        return stream.getvalue()

    yield app, output
    handlers[0].setStream(io.StringIO())


def access_lines(output: str) -> list[dict]:
    lines = [json.loads(line) for line in output.splitlines()]  # every line is JSON
    return [line for line in lines if line["logger"] == "riskscan.access"]


def test_one_json_line_per_request_with_the_fields_operators_need(logged):
    app, output = logged
    client = app.test_client()
    user, headers = Accounts(app, client).user()  # register, login
    output_before = len(access_lines(output()))

    client.get("/health", headers={"X-Request-ID": "health-check-1"})
    me = client.get("/api/v1/auth/me", headers=headers)
    missing = client.get("/api/v1/nothing-here")
    bad = client.post("/api/v1/auth/register", json={"email": "nope"})

    lines = access_lines(output())
    assert output_before == 2
    assert [(line["method"], line["path"], line["status"]) for line in lines[2:]] == [
        ("GET", "/health", 200),
        ("GET", "/api/v1/auth/me", 200),
        ("GET", "/api/v1/nothing-here", 404),
        ("POST", "/api/v1/auth/register", 422),
    ]
    health, me_line, missing_line, bad_line = lines[2:]
    assert health["request_id"] == "health-check-1"
    assert me_line["request_id"] == me.headers["X-Request-ID"]
    assert missing_line["request_id"] == missing.headers["X-Request-ID"]
    assert bad_line["request_id"] == bad.headers["X-Request-ID"]
    assert me_line["user_id"] == user["id"]
    assert health["user_id"] is None and missing_line["user_id"] is None
    for line in lines:
        assert isinstance(line["duration_ms"], (int, float)) and line["duration_ms"] >= 0
        assert line["level"] == "INFO" and line["time"]


def test_the_log_never_holds_passwords_or_tokens(logged):
    app, output = logged
    client = app.test_client()
    accounts = Accounts(app, client)
    other_password = "another secret passphrase"
    user = accounts.register("logged@example.com")
    json_tokens = accounts.login(user["email"])
    form_tokens = client.post("/api/v1/auth/login", data={
        "username": user["email"], "password": PASSWORD}).get_json()
    client.post("/api/v1/auth/login", json={"email": user["email"], "password": "wrong-guess-99"})
    client.post("/api/v1/auth/register", json={"email": "bad", "password": "tiny-pw"})
    rotated = client.post("/api/v1/auth/refresh",
                          json={"refresh_token": json_tokens["refresh_token"]}).get_json()
    headers = {"Authorization": f"Bearer {rotated['access_token']}"}
    client.get("/api/v1/auth/me", headers=headers)
    client.patch(f"/api/v1/users/{user['id']}", headers=headers,
                 json={"password": other_password, "current_password": PASSWORD})
    client.post("/api/v1/auth/logout", json={"refresh_token": form_tokens["refresh_token"]},
                headers={"Authorization": f"Bearer {form_tokens['access_token']}"})
    # A refresh token presented twice: the reuse path logs too.
    client.post("/api/v1/auth/refresh", json={"refresh_token": json_tokens["refresh_token"]})

    logged_text = output()

    assert len(access_lines(logged_text)) == 10
    secrets = [PASSWORD, other_password, "wrong-guess-99", "tiny-pw",
               json_tokens["access_token"], json_tokens["refresh_token"],
               form_tokens["access_token"], form_tokens["refresh_token"],
               rotated["access_token"], rotated["refresh_token"], "$argon2"]
    for secret in secrets:
        assert secret not in logged_text, secret
    # Not even a piece of a token (the signature part of an access token).
    assert rotated["access_token"].rsplit(".", 1)[-1] not in logged_text


def test_an_unexpected_error_is_logged_with_the_error_id_the_client_gets(logged):
    app, output = logged

    @app.route("/api/v1/test/explode")
    def explode():
        raise RuntimeError("kaboom")

    response = app.test_client().get("/api/v1/test/explode")

    error_id = response.get_json()["error_id"]
    lines = [json.loads(line) for line in output().splitlines()]
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert len(errors) == 1 and error_id in errors[0]["message"]
    assert "RuntimeError: kaboom" in errors[0]["exception"]
    assert access_lines(output())[-1]["status"] == 500


def test_text_log_format_writes_plain_lines(make_app):
    app = make_app(LOG_FORMAT="text", LOG_LEVEL="INFO")
    stream = io.StringIO()
    logging.getLogger("riskscan").handlers[0].setStream(stream)

    app.test_client().get("/health")

    line = stream.getvalue().strip().splitlines()[-1]
    assert line.endswith("INFO riskscan.access GET /health 200")
    with pytest.raises(json.JSONDecodeError):
        json.loads(line)
