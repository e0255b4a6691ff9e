"""One error format for every failure: application/problem+json with type, title, status,
detail (and errors), from the API's own errors, Flask's 404/405 and unexpected exceptions."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin

import pytest
from sqlalchemy import func, select
from werkzeug.http import HTTP_STATUS_CODES

from service.db import User
from service.extensions import db
from tests.helpers import PASSWORD, assert_problem

REGISTER = "/api/v1/auth/register"


def user_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/nothing-here", "/api/v2/users"])
def test_an_unknown_path_is_a_404_problem(client, path):
    response = client.get(path)

    body = assert_problem(response, 404)
    assert body["type"] == "/docs/errors#not-found"
    assert body["title"] == "Not Found"
    assert "<html" not in response.get_data(as_text=True).lower()


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("get", "/api/v1/auth/login", {"POST"}),
    ("put", "/api/v1/auth/register", {"POST"}),
    ("delete", "/api/v1/auth/me", {"GET"}),
    ("post", "/health", {"GET"}),
])
def test_a_wrong_method_is_a_405_problem_with_allow(client, method, path, allowed):
    response = getattr(client, method)(path)

    assert_problem(response, 405)
    listed = {m.strip() for m in response.headers["Allow"].split(",")}
    assert allowed <= listed
    assert not listed & ({"GET", "POST", "PUT", "DELETE", "PATCH"} - allowed)


@pytest.mark.parametrize("accept", ["text/html", "application/xml",
                                    "text/html, application/json;q=0"])
def test_an_accept_header_that_excludes_json_is_406(client, accounts, accept):
    _, headers = accounts.user()

    response = client.get("/api/v1/auth/me", headers={**headers, "Accept": accept})

    body = assert_problem(response, 406)
    assert "Accept" in body["detail"]


def test_a_406_is_answered_before_anything_is_written(app, client):
    response = client.post(REGISTER, json={"email": "a@example.com", "password": PASSWORD},
                           headers={"Accept": "text/html"})

    assert_problem(response, 406)
    assert user_count(app) == 0


@pytest.mark.parametrize("accept", ["application/json", "application/problem+json", "*/*",
                                    "application/*", "text/html, application/json;q=0.5"])
def test_an_accept_header_that_allows_json_is_served(client, accounts, accept):
    _, headers = accounts.user()

    response = client.get("/api/v1/auth/me", headers={**headers, "Accept": accept})

    assert response.status_code == 200


# Each JSON endpoint answers bad input the same way. "{id}" is the caller's own id.
JSON_ENDPOINTS = [
    ("post", REGISTER),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/users"),
    ("patch", "/api/v1/users/{id}"),
]


@pytest.mark.parametrize(("method", "path"), JSON_ENDPOINTS)
def test_malformed_json_is_the_same_400_on_every_json_endpoint(client, accounts, method, path):
    admin, headers = accounts.user(role="admin")

    response = getattr(client, method)(path.format(id=admin["id"]), headers=headers,
                                       data='{"email": "a@example.com",',
                                       content_type="application/json")

    body = assert_problem(response, 400)
    assert body["detail"] == "The request body is not valid JSON."
    assert body["type"] == "/docs/errors#bad-request"


@pytest.mark.parametrize(("method", "path"),
                         [e for e in JSON_ENDPOINTS if e[1] != "/api/v1/auth/logout"])
def test_a_body_over_max_json_kb_is_413_on_every_json_endpoint(make_app, method, path):
    from tests.helpers import Accounts

    app = make_app(MAX_JSON_KB=1)
    client = app.test_client()
    admin, headers = Accounts(app, client).user(role="admin")

    response = getattr(client, method)(path.format(id=admin["id"]), headers=headers,
                                       json={"email": "a@example.com", "pad": "x" * 1100})

    body = assert_problem(response, 413)
    assert body["title"] == "Request Entity Too Large"
    assert user_count(app) == 1


@pytest.mark.parametrize(("method", "path"),
                         [e for e in JSON_ENDPOINTS
                          if e[1] not in ("/api/v1/auth/login", "/api/v1/auth/logout")])
def test_a_json_endpoint_sent_another_content_type_is_415(app, client, accounts, method, path):
    admin, headers = accounts.user(role="admin")

    response = getattr(client, method)(path.format(id=admin["id"]), headers=headers,
                                       data="email=a@example.com&password=whatever1",
                                       content_type="application/x-www-form-urlencoded")

    body = assert_problem(response, 415)
    assert "application/json" in body["detail"]
    assert user_count(app) == 1


def test_a_422_names_every_bad_field(client):
    response = client.post(REGISTER, json={"email": "nope", "password": "short"})

    body = assert_problem(response, 422, "email", "password")
    assert body["type"] == "/docs/errors#unprocessable-entity"
    assert all(isinstance(messages, list) and messages for messages in body["errors"].values())


def test_401_and_403_are_problems(client, accounts):
    _, headers = accounts.user()

    unauthorized = client.get("/api/v1/users")
    forbidden = client.get("/api/v1/users", headers=headers)

    assert assert_problem(unauthorized, 401)["type"] == "/docs/errors#unauthorized"
    assert unauthorized.headers["WWW-Authenticate"].startswith("Bearer")
    assert assert_problem(forbidden, 403)["type"] == "/docs/errors#forbidden"


def test_every_problem_carries_the_request_id(client):
    response = client.get("/api/v1/nothing-here", headers={"X-Request-ID": "trace-42"})

    assert assert_problem(response, 404)["request_id"] == "trace-42"
    assert response.headers["X-Request-ID"] == "trace-42"


# --- unexpected exceptions ---------------------------------------------------------------


@pytest.fixture
def failing_app(make_app):
    """An app with routes that fail the way real code does."""
    app = make_app()

    @app.route("/api/v1/test/explode")
    def explode():
        raise RuntimeError("internal detail: key=hunter2")

    @app.route("/api/v1/test/half-write", methods=["POST"])
    def half_write():
        from service.auth.accounts import create_user

        create_user("half@example.com", PASSWORD)  # flushed, not committed
        raise KeyError("boom")

    @app.route("/api/v1/test/integrity")
    def integrity():
        for _ in range(2):
            db.session.add(User(email="twin@example.com", password_hash="not-a-hash"))
        db.session.flush()  # the unique index on email refuses the second
        return {}

    return app


def test_an_unexpected_exception_is_a_500_problem_with_an_error_id(failing_app):
    client = failing_app.test_client()

    response = client.get("/api/v1/test/explode")

    body = assert_problem(response, 500)
    assert re.fullmatch(r"[0-9a-f]{32}", body["error_id"])
    assert body["error_id"] in body["detail"]
    text_body = response.get_data(as_text=True)
    assert "hunter2" not in text_body and "RuntimeError" not in text_body
    assert 'File "' not in text_body
    # Each failure has its own id, and the app keeps serving.
    assert assert_problem(client.get("/api/v1/test/explode"), 500)["error_id"] != \
        body["error_id"]
    assert client.get("/health").status_code == 200
    assert client.post(REGISTER, json={"email": "after@example.com",
                                       "password": PASSWORD}).status_code == 201


def test_a_failure_mid_transaction_writes_nothing(failing_app):
    client = failing_app.test_client()

    assert_problem(client.post("/api/v1/test/half-write"), 500)

    assert user_count(failing_app) == 0
    # The session was rolled back: the same email registers cleanly afterwards.
    after = client.post(REGISTER, json={"email": "half@example.com", "password": PASSWORD})
    assert after.status_code == 201


def test_a_database_error_is_a_500_problem_and_the_app_recovers(failing_app):
    client = failing_app.test_client()

    response = client.get("/api/v1/test/integrity")

    body = assert_problem(response, 500)
    assert "twin@example.com" not in response.get_data(as_text=True)
    assert "Duplicate" not in response.get_data(as_text=True)
    assert "error_id" in body
    assert user_count(failing_app) == 0
    assert client.post(REGISTER, json={"email": "twin@example.com",
                                       "password": PASSWORD}).status_code == 201


def test_database_errors_never_carry_their_parameters(app):
    """A failed statement's parameters (document text, emails) stay out of its exception,
    and so out of every log line that prints it."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from service.extensions import db

    secret = "confidential-document-sentence-4711"
    with app.app_context():
        with pytest.raises(DBAPIError) as raised:
            db.session.execute(text("SELECT * FROM no_such_table WHERE x = :x"), {"x": secret})
        db.session.rollback()
    assert secret not in str(raised.value)
    assert "hidden due to hide_parameters" in str(raised.value)


# --- JSON that parses but that no request may carry -----------------------------------

DEEP = "[" * 3000 + "]" * 3000
TOO_DEEP = {"_schema": ["Nested deeper than 32 levels."]}
LONE_SURROGATE = {"_schema": [("A string holds a lone surrogate (\\ud800-\\udfff): "
                               "not Unicode text.")]}
# Routes under /api/ that take no JSON body at all (multipart only).
# Multipart (jobs.new), or no body at all: an action on the resource its path names.
NOT_JSON = {"jobs.new", "webhooks.redeliver", "webhooks.rotate_secret", "webhooks.ping",
            "models.activate", "models.rollback", "users.reset_password",
            "risks.merge_suggested", "risks.dismiss_suggested", "projects.resend_invitation"}


def json_routes(app):
    """(method, path) of every /api/ route that may take a body, ids filled in at random:
    the body is read before any id is looked up."""
    param = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/") and rule.endpoint not in NOT_JSON:
            for method in sorted(rule.methods & {"POST", "PATCH", "PUT"}):
                yield method, param.sub("0f2b8e5c-6a34-4c1e-9d7a-3b5f1e2a4c6d", rule.rule)


def test_json_nested_3000_deep_is_a_400_on_every_json_route(app, client, accounts):
    _, headers = accounts.user(role="admin")
    routes = list(json_routes(app))
    assert len(routes) > 15  # the walk found the API

    for method, path in routes:
        response = client.open(path, method=method, headers=headers, data=DEEP,
                               content_type="application/json")

        body = assert_problem(response, 400)
        assert (body["detail"], body["errors"]) == ("The request body is not valid JSON.",
                                                    TOO_DEEP), (method, path)
    assert user_count(app) == 1


def test_anonymous_register_nested_deep_is_a_400_and_creates_nothing(app, client):
    nested = '{"email": "deep@example.com", "password": "' + PASSWORD + '", "x": ' \
             + "{\"a\": " * 3000 + "1" + "}" * 3000 + "}"

    response = client.post(REGISTER, data=nested, content_type="application/json")

    assert assert_problem(response, 400)["errors"] == TOO_DEEP
    assert user_count(app) == 0


def test_json_32_levels_deep_is_read_and_33_is_not(client):
    def nested(levels):
        return "[" * (levels - 1) + "{}" + "]" * (levels - 1)

    at_limit = client.post(REGISTER, data=nested(32), content_type="application/json")
    over = client.post(REGISTER, data=nested(33), content_type="application/json")

    assert assert_problem(at_limit, 422)["errors"] == {"_schema": ["Invalid input type."]}
    assert assert_problem(over, 400)["errors"] == TOO_DEEP


@pytest.mark.parametrize(("method", "path", "body"), [
    ("post", "/api/v1/projects", '{"name": "Billing \\ud800"}'),
    ("patch", "/api/v1/projects/{project}", '{"description": "\\udfff"}'),
    ("patch", "/api/v1/projects/{project}/risks/r-1", '{"notes": "call \\ud83d back"}'),
    ("post", "/api/v1/auth/api-keys", '{"name": "\\ud800", "scopes": ["scans:read"]}'),
    ("post", "/api/v1/scans", '{"text": "The vendor may slip \\ud800."}'),
    ("post", "/api/v1/projects", '{"name": "ok", "\\ud800": 1}'),
], ids=["project-name", "project-description", "risk-notes", "key-name", "scan-text",
        "a-key"])
def test_a_lone_surrogate_is_a_400_and_stores_nothing(app, client, accounts, method, path,
                                                      body):
    from service.db import ApiKey, Project, Scan

    _, headers = accounts.user()
    project = client.post("/api/v1/projects", json={"name": "Kept"}, headers=headers)
    assert project.status_code == 201
    path = path.format(project=project.get_json()["id"])

    response = getattr(client, method)(path, data=body, headers=headers,
                                       content_type="application/json")

    answer = assert_problem(response, 400)
    assert (answer["detail"], answer["errors"]) == ("The request body is not valid JSON.",
                                                    LONE_SURROGATE)
    with app.app_context():
        assert [p.name for p in db.session.scalars(select(Project))] == ["Kept"]
        assert db.session.get(Project, project.get_json()["id"]).description is None
        assert db.session.scalar(select(func.count()).select_from(ApiKey)) == 0
        assert db.session.scalar(select(func.count()).select_from(Scan)) == 0


def test_a_surrogate_pair_is_text(client, accounts):
    _, headers = accounts.user()

    response = client.post("/api/v1/projects", data='{"name": "Launch \\ud83d\\ude80"}',
                           headers=headers, content_type="application/json")

    assert response.status_code == 201
    assert response.get_json()["name"] == "Launch \U0001f680"


def test_a_problems_type_is_an_entry_of_the_services_own_error_page(client):
    """The type is a reference to /docs/errors on the install that answered, not a domain
    an on-prem install does not own: resolved against the request's URL, it names an entry
    of that page, which says what the problem means."""
    body = assert_problem(client.get("/api/v1/nothing-here"), 404)
    resolved = urljoin("https://riskscan.internal.example/api/v1/nothing-here", body["type"])
    assert resolved == "https://riskscan.internal.example/docs/errors#not-found"
    page = client.get("/docs/errors")
    assert page.status_code == 200 and page.mimetype == "text/html"
    text = page.get_data(as_text=True)
    assert '<tr id="not-found">' in text and "https://" not in text


def slug(title: str) -> str:
    return title.lower().replace(" ", "-").replace("'", "")


def test_every_problem_type_the_service_can_mint_has_an_entry(client):
    """Every HTTP status's own type, and each title the service gives a problem of its own
    (``title = "…"`` in service/), has its entry on /docs/errors."""
    text = client.get("/docs/errors").get_data(as_text=True)
    service = Path(__file__).resolve().parent.parent / "service"
    own = {title for path in service.rglob("*.py")
           for title in re.findall(r'\btitle ?= ?"([^"]+)"', path.read_text(encoding="utf-8"))}
    assert {"Model refused", "LLM timed out", "Service Unavailable"} <= own
    phrases = {phrase for status, phrase in HTTP_STATUS_CODES.items() if status >= 400}
    missing = [title for title in sorted(own | phrases) if f'<tr id="{slug(title)}">' not in text]
    assert missing == []
