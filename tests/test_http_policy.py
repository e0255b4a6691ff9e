"""Security headers, CORS, trusted proxies, rate limits and metrics."""

from __future__ import annotations

import re

from tests.helpers import PASSWORD, assert_problem


def test_api_responses_carry_security_headers(client):
    response = client.get("/api/v1/auth/me")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP


def test_a_security_header_the_view_set_is_kept_and_the_others_added(make_app):
    app = make_app()

    @app.get("/own-headers")
    def own_headers():
        return "", 204, {"x-frame-options": "SAMEORIGIN", "Content-Security-Policy": "sandbox"}

    response = app.test_client().get("/own-headers")
    assert response.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert response.headers.getlist("Content-Security-Policy") == ["sandbox"]
    assert response.headers.getlist("X-Content-Type-Options") == ["nosniff"]
    assert response.headers.getlist("Referrer-Policy") == ["no-referrer"]
    assert response.headers.getlist("Cache-Control") == ["no-store"]


def test_the_app_asks_once_whether_a_function_is_a_coroutine(make_app, monkeypatch):
    """Riskscan.ensure_sync remembers Flask's answer; it must still be Flask's answer."""
    import flask

    app = make_app()
    asked = []
    monkeypatch.setattr(flask.Flask, "ensure_sync",
                        lambda self, func: asked.append(func) or ("wrapped", func))

    def hook():
        return None

    async def coroutine():
        return None

    assert app.ensure_sync(hook) == app.ensure_sync(hook) == ("wrapped", hook)
    assert app.ensure_sync(coroutine) == ("wrapped", coroutine)
    assert asked == [hook, coroutine]


def test_hsts_only_behind_tls_from_a_trusted_proxy(make_app):
    trusting = make_app(TRUSTED_PROXIES=1).test_client()
    secure = trusting.get("/health", headers={"X-Forwarded-Proto": "https"})
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")
    untrusting = make_app().test_client()
    spoofed = untrusting.get("/health", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in spoofed.headers


def test_cors_allows_configured_origins_only(make_app):
    client = make_app(CORS_ORIGINS=("https://app.example.com",)).test_client()
    allowed = client.options("/api/v1/scans", headers={
        "Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Authorization, Content-Type"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "authorization" in allowed.headers["Access-Control-Allow-Headers"].lower()
    assert "Access-Control-Allow-Credentials" not in allowed.headers
    other = client.get("/api/v1/auth/me", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers


def test_no_cors_outside_development_unless_configured(client):
    response = client.get("/api/v1/auth/me", headers={"Origin": "http://localhost:5173"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_development_allows_local_front_ends(make_app):
    client = make_app(RISKSCAN_ENV="development").test_client()
    response = client.get("/api/v1/auth/me", headers={"Origin": "http://localhost:5173"})
    assert response.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"


def test_failed_logins_per_account_hit_429_with_retry_after(make_app):
    app = make_app(RATE_LIMIT_LOGIN_ACCOUNT="3 per minute")
    client = app.test_client()
    email = "victim@example.com"
    client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    for _ in range(3):
        assert client.post("/api/v1/auth/login",
                           json={"email": email, "password": "wrong password"}).status_code == 401
    blocked = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    body = assert_problem(blocked, 429)
    assert int(blocked.headers["Retry-After"]) > 0
    assert "3 per 1 minute" in body["detail"]
    # The form login names the same account: the same counter.
    form = client.post("/api/v1/auth/login", data={"username": email.upper(),
                                                   "password": PASSWORD})
    assert form.status_code == 429


def test_successful_logins_are_not_counted(make_app):
    app = make_app(RATE_LIMIT_LOGIN_ACCOUNT="2 per minute")
    client = app.test_client()
    client.post("/api/v1/auth/register", json={"email": "ok@example.com", "password": PASSWORD})
    for _ in range(4):
        ok = client.post("/api/v1/auth/login", json={"email": "ok@example.com",
                                                     "password": PASSWORD})
        assert ok.status_code == 200


def test_failed_logins_per_address_across_accounts(make_app):
    app = make_app(RATE_LIMIT_LOGIN_ADDRESS="4 per minute")
    client = app.test_client()
    for n in range(4):
        client.post("/api/v1/auth/login", json={"email": f"nobody{n}@example.com",
                                                "password": "x" * 8})
    assert_problem(client.post("/api/v1/auth/login", json={"email": "other@example.com",
                                                           "password": "x" * 8}), 429)


def test_x_forwarded_for_cannot_choose_the_rate_limit_key(make_app):
    """Without TRUSTED_PROXIES a client rotating X-Forwarded-For stays one address."""
    app = make_app(RATE_LIMIT_LOGIN_ADDRESS="3 per minute")
    client = app.test_client()
    statuses = [client.post("/api/v1/auth/login",
                            json={"email": f"n{n}@example.com", "password": "x" * 8},
                            headers={"X-Forwarded-For": f"10.0.0.{n}"}).status_code
                for n in range(5)]
    assert statuses[:3] == [401, 401, 401] and statuses[3:] == [429, 429]


def test_behind_a_trusted_proxy_each_client_address_has_its_own_limit(make_app):
    app = make_app(RATE_LIMIT_LOGIN_ADDRESS="2 per minute", TRUSTED_PROXIES=1)
    client = app.test_client()
    for n in range(2):
        client.post("/api/v1/auth/login", json={"email": f"a{n}@example.com",
                                                "password": "x" * 8},
                    headers={"X-Forwarded-For": "192.0.2.10"})
    other = client.post("/api/v1/auth/login", json={"email": "b@example.com",
                                                    "password": "x" * 8},
                        headers={"X-Forwarded-For": "192.0.2.11"})
    assert other.status_code == 401


def test_scans_per_user_are_limited(make_app, accounts):
    app = make_app(RATE_LIMIT_SCANS="2 per minute")
    client = app.test_client()
    _, headers = accounts.user()
    # No model is loaded here (MODEL_DIR=off): each scan answers 503, and still counts.
    statuses = [client.post("/api/v1/scans", json={"text": "Costs may rise."},
                            headers=headers).status_code for _ in range(3)]
    assert statuses == [503, 503, 429]
    _, other_headers = accounts.user()
    assert client.post("/api/v1/scans", json={"text": "Costs may rise."},
                       headers=other_headers).status_code == 503


def test_metrics_count_requests_by_route_not_by_id(client, accounts):
    _, headers = accounts.user()
    client.get("/api/v1/scans/00000000-0000-0000-0000-000000000000", headers=headers)
    text = client.get("/metrics").get_data(as_text=True)
    assert re.search(r'riskscan_http_requests_total\{endpoint="/api/v1/scans/<scan_id>",'
                     r'method="GET",status="404"\} [1-9]', text)
    assert "00000000-0000" not in text
    assert "riskscan_http_request_duration_seconds_bucket" in text
    assert "riskscan_inference_seconds" in text
