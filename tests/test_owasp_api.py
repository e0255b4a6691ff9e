"""The OWASP API Security Top 10 (2023) items that apply to Riskscan, one named test each
(API1, API2 and API5 are the authorization matrix: tests/test_authorization_matrix.py).

- API3 broken object property level authorization: mass assignment (role, id, active,
  token_version… in register, self-PATCH, scans, corrections) and excessive data exposure.
- API4 unrestricted resource consumption: body size, JSON size, per_page and page, document
  size, pages of a PDF, zip bombs, rate limits on scans and failed logins.
- API7 server-side request forgery: LLM_BASE_URL is operator configuration only; no field,
  header or text of a request changes where the server connects, and a redirect from the
  LLM is never followed.
- API8 security misconfiguration: no stack traces, security headers on every kind of
  answer, CORS never ``*`` and closed unless configured, no debug mode.
- API10 unsafe consumption of APIs: the LLM's answer is bounded and checked.
"""

from __future__ import annotations

import dataclasses
import io
import ipaddress
import re
import uuid

import pytest
from sqlalchemy import func, select

from service.config import current_settings
from service.db import AuditEvent, LLMCallLog, Scan, ScanFinding, User
from service.extensions import db
from testkit.documents import make_pdf, zip_bomb
from testkit.llm_server import FakeLLMServer
from tests.helpers import PASSWORD, Accounts, assert_problem
from tests.scanning import TEXT, KeywordAnalyzer, count_rows, nothing_stored

USER_KEYS = {"id", "email", "role", "active", "auth_source", "must_change_password",
             "created_at", "updated_at"}
RISK = "The vendor may fail to deliver the servers before the go-live date."


def keyword_model(app):
    app.extensions["riskscan.analyzers"].model = KeywordAnalyzer()
    return app


@pytest.fixture
def kw_app(app):
    return keyword_model(app)


def users_count(app) -> int:
    return count_rows(app, User)


# --- API3: broken object property level authorization -------------------------------------

@pytest.mark.parametrize("extra", [
    {"role": "admin"}, {"active": False}, {"id": str(uuid.uuid4())},
    {"token_version": 7}, {"password_hash": "$argon2id$forged"},
    {"created_at": "2000-01-01T00:00:00Z"},
])
def test_api3_mass_assignment_register_takes_only_email_and_password(client, app, extra):
    email = f"mass-{uuid.uuid4().hex[:6]}@example.com"
    response = client.post("/api/v1/auth/register",
                           json={"email": email, "password": PASSWORD, **extra})
    body = assert_problem(response, 422, *extra)
    assert body["errors"][next(iter(extra))] == ["Unknown field."]
    assert users_count(app) == 0
    # The same registration without the extra field makes a plain, active user.
    clean = client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert clean.status_code == 201
    assert clean.get_json()["role"] == "user" and clean.get_json()["active"] is True


@pytest.mark.parametrize("extra", [
    {"role": "admin"}, {"active": False}, {"id": str(uuid.uuid4())},
    {"token_version": 0}, {"password_hash": "x"}, {"created_at": "2000-01-01T00:00:00Z"},
])
def test_api3_mass_assignment_self_patch_cannot_set_role_id_active_or_internals(
        client, accounts, extra):
    user, headers = accounts.user()
    response = client.patch(f"/api/v1/users/{user['id']}", headers=headers,
                            json={"current_password": PASSWORD, **extra})
    assert_problem(response, 422, *extra)
    me = client.get("/api/v1/auth/me", headers=headers)
    assert me.status_code == 200, "the token still works: nothing was changed"
    assert {k: me.get_json()[k] for k in ("id", "role", "active")} == \
        {"id": user["id"], "role": "user", "active": True}


def test_api3_mass_assignment_admin_creating_a_user_cannot_choose_its_id_or_internals(
        client, accounts):
    _, admin_headers = accounts.user(role="admin")
    chosen = str(uuid.uuid4())
    for extra in ({"id": chosen}, {"token_version": 3}, {"password_hash": "x"}):
        response = client.post("/api/v1/users", headers=admin_headers, json={
            "email": f"n-{uuid.uuid4().hex[:6]}@example.com", "password": PASSWORD, **extra})
        assert_problem(response, 422, *extra)
    assert client.get(f"/api/v1/users/{chosen}", headers=admin_headers).status_code == 404


@pytest.mark.parametrize("extra", [
    {"user_id": "someone-else"}, {"source": "llm"}, {"model_version": "forged"},
    {"scan_id": str(uuid.uuid4())}, {"data": []}, {"created_at": "2000-01-01T00:00:00Z"},
])
def test_api3_mass_assignment_a_scan_takes_only_text_and_force_llm(kw_app, client, extra):
    _, headers = Accounts(kw_app, client).user()
    response = client.post("/api/v1/scans", headers=headers, json={"text": TEXT, **extra})
    assert_problem(response, 422, *extra)
    nothing_stored(kw_app)


def test_api3_mass_assignment_a_correction_changes_only_the_corrected_category(kw_app, client):
    _, headers = Accounts(kw_app, client).user()
    scan = client.post("/api/v1/scans", headers=headers, json={"text": TEXT}).get_json()
    finding = scan["data"][0]
    url = f"/api/v1/scans/{scan['scan_id']}/findings/{finding['id']}"
    for extra in ({"risk": "rewritten"}, {"score": 0.01}, {"corrected_by": "x"},
                  {"scan_id": str(uuid.uuid4())}, {"start": 0}):
        assert_problem(client.patch(url, headers=headers, json={"category": "none", **extra}),
                       422, *extra)
    again = client.get(f"/api/v1/scans/{scan['scan_id']}", headers=headers).get_json()
    assert again["data"][0] == finding


def test_api3_no_excessive_data_exposure_users_show_no_secrets(client, accounts):
    user, headers = accounts.user()
    _, admin_headers = accounts.user(role="admin")
    shown = [client.get("/api/v1/auth/me", headers=headers).get_json(),
             client.get(f"/api/v1/users/{user['id']}", headers=headers).get_json(),
             *client.get("/api/v1/users", headers=admin_headers).get_json()["items"]]
    for item in shown:
        assert set(item) == USER_KEYS, item
    everything = str(shown) + client.get("/api/v1/admin/audit-events",
                                         headers=admin_headers).get_data(as_text=True)
    assert "argon2" not in everything and PASSWORD not in everything
    assert user["tokens"]["refresh_token"] not in everything


# --- API4: unrestricted resource consumption ------------------------------------------------

def test_api4_resource_consumption_a_body_over_max_upload_mb_is_413(make_app):
    app = keyword_model(make_app(MAX_UPLOAD_MB=0.05))
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    big = b"The vendor may slip. " * 5000  # about 100 KB
    response = client.post("/api/v1/scans", headers=headers, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(big), "plan.txt")})
    assert_problem(response, 413)
    nothing_stored(app)


def test_api4_resource_consumption_json_over_max_json_kb_is_413(make_app):
    client = make_app(MAX_JSON_KB=4).test_client()
    response = client.post("/api/v1/auth/register", json={
        "email": "big@example.com", "password": PASSWORD, "padding": "x" * 8192})
    assert_problem(response, 413)


def paginated_routes(app):
    """Every GET route whose query takes per_page, from app.url_map."""
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        arguments = getattr(view, "_spec", {}).get("args") or []
        if "GET" in rule.methods and any("per_page" in schema.fields for schema, _ in arguments):
            yield rule.rule


@pytest.mark.parametrize("query", ["per_page=101", "per_page=100000", "per_page=0",
                                   "page=0", "page=2147483648", "page=99999999999999999999"])
def test_api4_resource_consumption_page_sizes_are_bounded_on_every_list(app, client, accounts,
                                                                        monkeypatch, query):
    _, headers = accounts.user(role="admin")
    # Lists under a project (its members, its register, a webhook's deliveries) are the
    # admin's own project's; the webhook points at loopback, allowed here.
    project = client.post("/api/v1/projects", json={"name": "Lists"}, headers=headers)
    project_id = project.get_json()["id"]
    monkeypatch.setitem(app.config, "SETTINGS", dataclasses.replace(
        current_settings(app), WEBHOOK_ALLOWED_NETWORKS=(ipaddress.ip_network("127.0.0.0/8"),)))
    webhook = client.post(f"/api/v1/projects/{project_id}/webhooks", headers=headers,
                          json={"url": "http://127.0.0.1:9/hook", "events": ["risk.created"]})
    assert webhook.status_code == 201, webhook.get_json()
    risk = client.post(f"/api/v1/projects/{project_id}/risks", headers=headers,
                       json={"risk": "The vendor may slip.", "category": "vendor"})
    assert risk.status_code == 201, risk.get_json()
    routes = [route.replace("<project_id>", project_id)
              .replace("<webhook_id>", webhook.get_json()["id"])
              .replace("<riskid:risk_id>", str(risk.get_json()["id"]))
              for route in paginated_routes(app)]
    assert len(routes) >= 7
    assert not [route for route in routes if "<" in route], "teach this test the new id"
    for route in routes:
        response = client.get(f"{route}?{query}", headers=headers)
        assert_problem(response, 422)
        field = query.split("=")[0]
        assert field in response.get_json()["errors"], (route, response.get_json())
    for route in routes:
        assert client.get(f"{route}?per_page=100", headers=headers).status_code == 200


def test_api4_resource_consumption_a_text_over_max_document_chars_is_413(make_app):
    app = keyword_model(make_app(MAX_DOCUMENT_CHARS=1000))
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    response = client.post("/api/v1/scans", headers=headers, json={"text": "risk. " * 200})
    assert "1,000" in assert_problem(response, 413)["detail"]
    nothing_stored(app)


def test_api4_resource_consumption_a_zip_bomb_and_a_pdf_over_the_page_limit_are_413(make_app):
    app = keyword_model(make_app(MAX_PDF_PAGES=3))
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    for data, name in ((zip_bomb(8 * 1024 * 1024), "plan.docx"),
                       (make_pdf(*[[f"Page {i}."] for i in range(4)]), "plan.pdf")):
        response = client.post("/api/v1/scans", headers=headers,
                               content_type="multipart/form-data",
                               data={"file": (io.BytesIO(data), name)})
        assert_problem(response, 413, "file")
    nothing_stored(app)


def test_api4_resource_consumption_scans_per_user_are_rate_limited(make_app):
    app = keyword_model(make_app(RATE_LIMIT_SCANS="2 per minute"))
    client = app.test_client()
    accounts = Accounts(app, client)
    _, headers = accounts.user()
    for _ in range(2):
        assert client.post("/api/v1/scans", headers=headers, json={"text": TEXT}).status_code == 201
    limited = client.post("/api/v1/scans", headers=headers, json={"text": TEXT})
    assert_problem(limited, 429)
    assert int(limited.headers["Retry-After"]) > 0
    assert count_rows(app, Scan) == 2
    # Per user: another user still scans.
    _, other = accounts.user()
    assert client.post("/api/v1/scans", headers=other, json={"text": TEXT}).status_code == 201


def test_api4_resource_consumption_failed_logins_are_rate_limited(make_app):
    app = make_app(RATE_LIMIT_LOGIN_ACCOUNT="3 per minute")
    client = app.test_client()
    user, _ = Accounts(app, client).user()
    for _ in range(3):
        assert client.post("/api/v1/auth/login", json={"email": user["email"],
                                                       "password": "wrong"}).status_code == 401
    limited = client.post("/api/v1/auth/login", json={"email": user["email"],
                                                      "password": PASSWORD})
    assert_problem(limited, 429)
    assert int(limited.headers["Retry-After"]) > 0


# --- API7: server-side request forgery through the LLM URL ----------------------------------

@pytest.fixture
def llm_pair(make_app):
    """The configured LLM, and a trap server that nothing may ever reach."""
    with FakeLLMServer(risks={RISK: "schedule"}) as llm, FakeLLMServer() as trap:
        app = make_app(LLM_BASE_URL=llm.base_url, LLM_MODEL="configured-model",
                       LLM_TIMEOUT_S=5)
        yield app, llm, trap


def test_api7_ssrf_no_request_field_header_or_text_changes_where_the_server_connects(llm_pair):
    app, llm, trap = llm_pair
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    target = trap.base_url
    fields = {"llm_base_url": target, "LLM_BASE_URL": target, "base_url": target,
              "url": target, "model": "attacker-model", "llm_model": "attacker-model"}
    # JSON: unknown fields are refused before anything happens.
    for name, value in fields.items():
        response = client.post("/api/v1/scans", headers=headers,
                               json={"text": RISK, "force_llm": True, name: value})
        assert_problem(response, 422, name)
    # A form ignores fields it does not know; the scan still goes to the configured LLM.
    spoofing = {**headers, "Host": f"127.0.0.1:{trap.port}",
                "X-Forwarded-Host": f"127.0.0.1:{trap.port}", "X-Forwarded-Proto": "http",
                "Forwarded": f"host=127.0.0.1:{trap.port}", "X-Original-URL": target}
    response = client.post("/api/v1/scans", headers=spoofing, content_type="multipart/form-data",
                           data={"text": f"{RISK} See {target}/chat/completions for details.",
                                 "force_llm": "true", **fields})
    assert response.status_code == 201, response.get_json()
    scan = response.get_json()
    assert scan["source"] == "llm" and scan["model_version"] == "configured-model"
    assert [r.path for r in llm.requests] == ["/v1/chat/completions"]
    assert llm.requests[0].body["model"] == "configured-model"
    assert trap.requests == []


def test_api7_ssrf_a_redirect_from_the_llm_is_never_followed(llm_pair):
    app, llm, trap = llm_pair
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    llm.behaviour = "redirect"  # 302 to another path of the LLM's server
    response = client.post("/api/v1/scans", headers=headers,
                           json={"text": RISK, "force_llm": True})
    assert "redirect" in assert_problem(response, 502)["detail"].lower()
    assert [(r.method, r.path) for r in llm.requests] == [("POST", "/v1/chat/completions")]
    assert trap.requests == []
    assert count_rows(app, Scan) == 0
    with app.app_context():
        assert db.session.scalar(select(LLMCallLog.status)) == "redirect"
        db.session.remove()


def test_api10_unsafe_consumption_an_oversized_or_invented_llm_answer_is_not_trusted(llm_pair):
    app, llm, _ = llm_pair
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    llm.behaviour = "oversized"
    llm.oversized_bytes = 2 * 1024 * 1024  # over LLM_MAX_RESPONSE_KB (1024)
    assert_problem(client.post("/api/v1/scans", headers=headers,
                               json={"text": RISK, "force_llm": True}), 502)
    assert count_rows(app, Scan) == 0
    # Risks that are not sentences of the text, or have no known category, are dropped.
    llm.behaviour = "good"
    llm.extra_items = [{"risk": "DROP TABLE users;", "category": "schedule", "context": ""},
                       {"risk": RISK, "category": "<script>", "context": ""}]
    scan = client.post("/api/v1/scans", headers=headers,
                       json={"text": RISK, "force_llm": True}).get_json()
    assert [f["risk"] for f in scan["data"]] == [RISK]
    assert scan["dropped"] == 2


# --- API8: security misconfiguration --------------------------------------------------------

@pytest.fixture
def exploding_app(make_app):
    app = make_app()

    @app.route("/api/v1/test/explode")
    def explode():
        raise ValueError(f"secret detail in {__file__}: password={PASSWORD}")

    return app


def test_api8_misconfiguration_an_exception_is_a_500_problem_without_a_stack_trace(
        exploding_app):
    client = exploding_app.test_client()
    response = client.get("/api/v1/test/explode")
    body = assert_problem(response, 500)
    raw = response.get_data(as_text=True)
    assert re.fullmatch(r"[0-9a-f]{32}", body["error_id"])
    for leak in ("Traceback", "ValueError", PASSWORD, __file__, "site-packages", ".py"):
        assert leak not in raw, leak
    assert not exploding_app.debug
    # The service goes on serving.
    assert client.get("/health").status_code == 200
    assert client.post("/api/v1/auth/register", json={
        "email": "after@example.com", "password": PASSWORD}).status_code == 201


def test_api8_misconfiguration_every_kind_of_answer_carries_the_security_headers(
        exploding_app, accounts):
    client = exploding_app.test_client()
    _, headers = accounts.user()
    answers = {
        "200 api": client.get("/api/v1/auth/me", headers=headers),
        "401": client.get("/api/v1/scans"),
        "404": client.get("/api/v1/nothing-here"),
        "405": client.put("/api/v1/scans"),
        "415": client.post("/api/v1/auth/register", data="x", content_type="text/plain"),
        "500": client.get("/api/v1/test/explode"),
        "health": client.get("/health"),
        "spec": client.get("/openapi.json"),
        "docs": client.get("/docs"),
    }
    for name, response in answers.items():
        h = response.headers
        assert h["X-Content-Type-Options"] == "nosniff", name
        assert h["X-Frame-Options"] == "DENY", name
        assert "default-src 'none'" in h["Content-Security-Policy"], name
        assert "frame-ancestors 'none'" in h["Content-Security-Policy"], name
        assert h["Cache-Control"] == "no-store", name
        assert "unsafe-eval" not in h["Content-Security-Policy"], name
        for banner in ("Werkzeug", "Python", "Flask"):
            assert banner not in h.get("Server", ""), name


def test_api8_misconfiguration_cors_is_never_a_wildcard_and_closed_unless_configured(make_app):
    closed = make_app().test_client()
    for origin in ("https://evil.example", "null", "http://localhost:5173"):
        preflight = closed.options("/api/v1/scans", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization"})
        simple = closed.get("/api/v1/auth/me", headers={"Origin": origin})
        for response in (preflight, simple):
            assert "Access-Control-Allow-Origin" not in response.headers, origin
    configured = make_app(CORS_ORIGINS=("https://app.example.com",)).test_client()
    allowed = configured.get("/api/v1/auth/me", headers={"Origin": "https://app.example.com"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert allowed.headers.get("Access-Control-Allow-Credentials") != "true"
    for origin in ("https://evil.example", "https://app.example.com.evil.example", "null"):
        refused = configured.options("/api/v1/scans", headers={
            "Origin": origin, "Access-Control-Request-Method": "POST"})
        assert "Access-Control-Allow-Origin" not in refused.headers, origin
    assert "*" not in allowed.headers.get("Access-Control-Allow-Origin", "")


def test_api8_misconfiguration_unused_methods_are_405_not_served(client):
    for method in ("TRACE", "PUT", "CONNECT"):
        response = client.open("/api/v1/scans", method=method)
        assert_problem(response, 405)
        assert "TRACE" not in response.headers.get("Allow", "")


def test_api8_misconfiguration_failed_requests_leave_no_partial_rows(kw_app, client):
    """A request refused for any reason writes nothing: no scan, finding or stray audit."""
    _, headers = Accounts(kw_app, client).user()
    before = count_rows(kw_app, AuditEvent)
    for body in ({"text": ""}, {"text": TEXT, "force_llm": "yes"}, {"text": 5}, {}):
        assert client.post("/api/v1/scans", headers=headers, json=body).status_code == 422
    assert count_rows(kw_app, Scan) == count_rows(kw_app, ScanFinding) == 0
    assert count_rows(kw_app, AuditEvent) == before
    with kw_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LLMCallLog)) == 0
        db.session.remove()
