"""Changing one's own password (POST /api/v1/auth/password, and the Account page's form):
the current password is required and a wrong one is a counted guess, the new one meets the
registration's policy in the same words, and on success every other session of the user
ends while the one that changed it carries on."""

from __future__ import annotations

from service.db import AuditEvent
from service.extensions import db
from tests.console_browser import REFUSED_FORM, csrf_of, html, sign_in
from tests.helpers import PASSWORD, Accounts, api_key_headers, assert_problem

NEW = "a brand new violet staircase"
CHANGE = "/api/v1/auth/password"
TOO_SHORT = "Use between 8 and 128 characters."
HINT = "8 to 128 characters; common and easily guessed passwords are refused."


def _bearer(tokens) -> dict:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def _login_status(client, email, password) -> int:
    return client.post("/api/v1/auth/login",
                       json={"email": email, "password": password}).status_code


# ------------------------------------------------------------------------------------ API


def test_a_new_password_keeps_this_session_and_ends_every_other(app, client, accounts):
    user, headers = accounts.user()
    other = accounts.login(user["email"])
    changed = client.post(CHANGE, headers=headers,
                          json={"current_password": PASSWORD, "new_password": NEW})
    assert changed.status_code == 200, changed.get_json()
    tokens = changed.get_json()
    assert client.get("/api/v1/auth/me", headers=_bearer(tokens)).status_code == 200
    renewed = client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert renewed.status_code == 200
    # The presented token's successors carry on; everything else of the user ends.
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401
    assert client.get("/api/v1/auth/me", headers=_bearer(other)).status_code == 401
    assert_problem(client.post("/api/v1/auth/refresh",
                               json={"refresh_token": other["refresh_token"]}), 401)
    assert _login_status(client, user["email"], PASSWORD) == 401
    assert _login_status(client, user["email"], NEW) == 200
    with app.app_context():
        (event,) = db.session.query(AuditEvent).filter_by(event="password_changed").all()
        assert (event.actor_id, event.target_id) == (user["id"], user["id"])
        assert "NEW" not in str(event.details) and NEW not in str(event.details)


def test_a_wrong_current_password_is_refused_and_counted_as_a_guess(make_app):
    app = make_app(RATE_LIMIT_LOGIN_ACCOUNT="2 per minute")
    client = app.test_client()
    user, headers = Accounts(app, client).user()
    for guess in ("guess-one", ""):
        body = assert_problem(client.post(CHANGE, headers=headers, json={
            "current_password": guess, "new_password": NEW}), 422, "current_password")
        assert body["errors"] == {"current_password": ["Incorrect or missing."]}
    # The login's budget: spent by these guesses, the right password is refused too.
    assert_problem(client.post(CHANGE, headers=headers, json={
        "current_password": PASSWORD, "new_password": NEW}), 429)
    assert _login_status(client, user["email"], PASSWORD) == 429
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200


def test_a_new_password_meets_the_registrations_policy_in_its_words(client, accounts):
    user, headers = accounts.user()
    for short in ("", "short"):
        body = assert_problem(client.post(CHANGE, headers=headers, json={
            "current_password": PASSWORD, "new_password": short}), 422, "new_password")
        assert body["errors"]["new_password"] == [TOO_SHORT]
    local = user["email"].partition("@")[0]
    weak = assert_problem(client.post(CHANGE, headers=headers, json={
        "current_password": PASSWORD, "new_password": local + "1"}), 422, "new_password")
    assert "too easy to guess" in weak["errors"]["new_password"][0]
    assert_problem(client.post(CHANGE, headers=headers, json={"new_password": NEW}), 422,
                   "current_password")
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert _login_status(client, user["email"], PASSWORD) == 200


def test_an_api_key_cannot_change_the_password(client, accounts):
    user, headers = accounts.user()
    key = api_key_headers(client, headers, "account:read", "scans:write")
    body = assert_problem(client.post(CHANGE, headers=key, json={
        "current_password": PASSWORD, "new_password": NEW}), 403)
    assert body["detail"] == "API keys cannot be used here: sign in and use an access token."
    assert _login_status(client, user["email"], PASSWORD) == 200


def test_signed_out_is_401(client):
    assert_problem(client.post(CHANGE, json={"current_password": PASSWORD,
                                             "new_password": NEW}), 401)


# -------------------------------------------------------------------------------- console


def _change(browser, **fields):
    data = {"current_password": PASSWORD, "new_password": NEW, "repeat_password": NEW,
            "csrf_token": csrf_of(browser, "/app/account"), **fields}
    return browser.post("/app/account/password", data=data)


def test_the_account_page_changes_the_password_and_stays_signed_in(app, accounts):
    user, _ = accounts.user()
    other = accounts.login(user["email"])
    browser = app.test_client()
    assert sign_in(browser, user["email"]).status_code == 302
    page = html(browser.get("/app/account"))
    assert HINT in page and 'autocomplete="current-password"' in page
    changed = _change(browser)
    assert changed.status_code == 302 and changed.headers["Location"] == "/app/account"
    after = browser.get("/app/account")
    assert after.status_code == 200
    assert "Password changed" in html(after)
    assert browser.get("/app/scans").status_code == 200  # still signed in
    assert_problem(browser.post("/api/v1/auth/refresh",
                                json={"refresh_token": other["refresh_token"]}), 401)
    fresh = app.test_client()
    assert sign_in(fresh, user["email"], password=PASSWORD).status_code == 401
    assert sign_in(fresh, user["email"], password=NEW).status_code == 302


def test_the_form_says_what_was_wrong_and_changes_nothing(make_app):
    app = make_app(RATE_LIMIT_LOGIN_ACCOUNT="1 per minute")
    user, _ = Accounts(app, app.test_client()).user()
    browser = app.test_client()
    assert sign_in(browser, user["email"]).status_code == 302
    short = _change(browser, new_password="short", repeat_password="short")
    assert short.status_code == 422
    page = html(short)
    # Said once, beside the field: the API's sentence, which gives the policy's reason.
    assert (f'<p class="field-error" id="new-password-error">The new password cannot be used: '
            f'{TOO_SHORT}</p>') in page
    assert page.count(TOO_SHORT) == 1
    assert HINT in page
    differs = _change(browser, repeat_password=NEW + "x")
    assert differs.status_code == 422
    assert "The two new passwords differ." in html(differs)
    wrong = _change(browser, current_password="not it at all")
    assert wrong.status_code == 422
    assert 'id="current-password-error"' in html(wrong)
    # That wrong guess spent the account's budget of one: the login says so too.
    assert _login_status(app.test_client(), user["email"], PASSWORD) == 429
    assert browser.get("/app/account").status_code == 200


def test_the_password_form_without_its_csrf_token_changes_nothing(app, accounts):
    user, _ = accounts.user()
    browser = app.test_client()
    assert sign_in(browser, user["email"]).status_code == 302
    refused = browser.post("/app/account/password", data={
        "current_password": PASSWORD, "new_password": NEW, "repeat_password": NEW})
    assert refused.status_code == 400 and f"<p>{REFUSED_FORM}</p>" in html(refused)
    assert _login_status(app.test_client(), user["email"], PASSWORD) == 200


def test_the_current_password_is_no_new_password(app, client, accounts):
    """A "change" to the same password changed nothing but would end every other session
    and key of the user and be audited as a change: it is a 422 naming new_password."""
    user, headers = accounts.user()
    other = accounts.login(user["email"])
    body = assert_problem(client.post(CHANGE, headers=headers, json={
        "current_password": PASSWORD, "new_password": PASSWORD}), 422, "new_password")
    assert body["errors"] == {"new_password": ["Must differ from the current password."]}
    assert client.get("/api/v1/auth/me", headers=_bearer(other)).status_code == 200
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    with app.app_context():
        assert db.session.query(AuditEvent).filter_by(event="password_changed").all() == []
