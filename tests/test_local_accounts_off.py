"""Turning local accounts off (AUTH_LOCAL=false) ends what their passwords had opened.

Issue #75, item 1: a local user and an admin the company took off its break-glass list log
in, make an API key and sign in to the console; the service restarts with local accounts
off (a second app on the same database, as a restart is). None of their credentials may
still work: not a refresh token, an API key, an access token or a console cookie; a
break-glass admin's keep working, and so do single sign-on accounts'."""

from __future__ import annotations

from tests.console_browser import signed_in_client
from tests.helpers import PASSWORD, Accounts, api_key_headers, assert_problem

ME = "/api/v1/auth/me"
COOKIE = "riskscan_console"


def _credentials(app, client, role: str, email: str) -> dict:
    """Everything a local account's password opens: tokens, an API key, a console cookie."""
    user, headers = Accounts(app, client).user(role=role, email=email)
    console = signed_in_client(app, email)
    return {"user": user, "headers": headers, "refresh": user["tokens"]["refresh_token"],
            "key": api_key_headers(client, headers, "scans:read", "scans:write"),
            "cookie": console.get_cookie(COOKIE, path="/app").value}


def _console_with(app, cookie: str):
    client = app.test_client()
    client.set_cookie(COOKIE, cookie, path="/app")
    return client


def test_turning_local_accounts_off_ends_their_tokens_keys_and_console_sessions(make_app):
    app = make_app()
    client = app.test_client()
    user = _credentials(app, client, "user", "someone@example.com")
    removed_admin = _credentials(app, client, "admin", "former-root@example.com")
    break_glass = _credentials(app, client, "admin", "root@example.com")

    closed = make_app(AUTH_LOCAL=False, AUTH_BREAK_GLASS_ADMINS=("root@example.com",))
    client = closed.test_client()
    for ended in (user, removed_admin):
        assert_problem(client.post("/api/v1/auth/refresh",
                                   json={"refresh_token": ended["refresh"]}), 401)
        assert_problem(client.get("/api/v1/scans", headers=ended["key"]), 401)
        assert_problem(client.post("/api/v1/scans", headers=ended["key"],
                                   json={"text": "The vendor may slip."}), 401)
        assert_problem(client.get(ME, headers=ended["headers"]), 401)
        assert_problem(client.post("/api/v1/auth/api-keys", headers=ended["headers"],
                                   json={"name": "again", "scopes": ["scans:read"]}), 401)
        assert_problem(client.post("/api/v1/auth/password", headers=ended["headers"], json={
            "current_password": PASSWORD, "new_password": "a-brand-new-plum-orbit-77"}), 401)
        page = _console_with(closed, ended["cookie"]).get("/app/scans")
        assert page.status_code == 302 and "/app/sign-in" in page.headers["Location"]
    assert_problem(client.get("/api/v1/users", headers=removed_admin["headers"]), 401)

    # The break-glass admin's credentials are what AUTH_BREAK_GLASS_ADMINS keeps.
    assert client.get(ME, headers=break_glass["headers"]).status_code == 200
    assert client.get("/api/v1/scans", headers=break_glass["key"]).status_code == 200
    assert client.post("/api/v1/auth/refresh",
                       json={"refresh_token": break_glass["refresh"]}).status_code == 200
    assert _console_with(closed, break_glass["cookie"]).get("/app/scans").status_code == 200


def test_a_refreshed_chain_ends_too_and_the_password_signs_in_once_local_accounts_are_back(
        make_app):
    """A refresh token spent before the restart leaves its successor, which must not refresh
    either; once local accounts are on again the person signs in with their password."""
    app = make_app()
    client = app.test_client()
    user = _credentials(app, client, "user", "someone@example.com")
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": user["refresh"]})
    assert second.status_code == 200

    closed = make_app(AUTH_LOCAL=False).test_client()
    assert_problem(closed.post("/api/v1/auth/refresh", json={
        "refresh_token": second.get_json()["refresh_token"]}), 401)
    assert_problem(closed.post("/api/v1/auth/login", json={
        "email": "someone@example.com", "password": PASSWORD}), 401)

    reopened = make_app().test_client()
    assert reopened.post("/api/v1/auth/login", json={
        "email": "someone@example.com", "password": PASSWORD}).status_code == 200
