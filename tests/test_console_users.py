"""An admin makes a user and resets a forgotten password in the console: the page shows the
one-time password once, and the person who signs in with it is sent to choose their own
before anything else. A non-admin can do neither; an account of the identity provider has
no Reset; ids that cannot be ids are a 404."""

from __future__ import annotations

import re

import pytest

from service.db import User
from service.extensions import db
from tests.console_browser import csrf_of, html, sign_in
from tests.helpers import MISSING, PASSWORD

USERS = "/app/admin/users"
ONCE = re.compile(r'id="once-password" type="text" readonly value="([^"]+)"')
NEW = "a brand new violet staircase"


def _admin_browser(app, accounts):
    admin, _ = accounts.user(role="admin")
    browser = app.test_client()
    assert sign_in(browser, admin["email"]).status_code == 302
    return browser


def _post(browser, path, **data):
    return browser.post(path, data={"csrf_token": csrf_of(browser, USERS), **data})


def test_a_new_user_gets_a_one_time_password_shown_once_and_must_choose_their_own(
        app, accounts):
    admin = _admin_browser(app, accounts)

    made = _post(admin, f"{USERS}/new", email="Priya@Example.com", role="reviewer")

    assert made.status_code == 302 and made.headers["Location"] == USERS
    page = admin.get(USERS)
    assert page.headers["Cache-Control"] == "no-store"
    [once] = ONCE.findall(html(page))
    assert "New user priya@example.com" in html(page)
    assert ONCE.findall(html(admin.get(USERS))) == []  # shown once

    person = app.test_client()
    assert sign_in(person, "priya@example.com", once).status_code == 302
    for path in ("/app/scan", "/app/account", "/app/projects"):
        sent = person.get(path)
        assert sent.status_code == 302, path
        assert sent.headers["Location"] == "/app/account/first-password"
    token = csrf_of(person, "/app/account/first-password")
    differ = person.post("/app/account/first-password", data={
        "csrf_token": token, "current_password": once, "new_password": NEW,
        "repeat_password": NEW + "x"})
    assert differ.status_code == 422 and "The two new passwords differ." in html(differ)
    wrong = person.post("/app/account/first-password", data={
        "csrf_token": token, "current_password": "not it", "new_password": NEW,
        "repeat_password": NEW})
    assert wrong.status_code == 422 and "The current password is missing or wrong." in html(wrong)

    chosen = person.post("/app/account/first-password", data={
        "csrf_token": token, "current_password": once, "new_password": NEW,
        "repeat_password": NEW})

    assert chosen.status_code == 302 and chosen.headers["Location"] == "/app/scan"
    assert "Your password is set" in html(person.get("/app/scan"))
    assert person.get("/app/account").status_code == 200


def test_a_reset_ends_their_sessions_and_shows_a_one_time_password(app, accounts):
    admin = _admin_browser(app, accounts)
    user, _ = accounts.user()
    theirs = app.test_client()
    assert sign_in(theirs, user["email"]).status_code == 302
    assert f'/admin/users/{user["id"]}/reset-password' in html(admin.get(USERS))

    reset = _post(admin, f"{USERS}/{user['id']}/reset-password", back=USERS)

    assert reset.status_code == 302
    page = html(admin.get(USERS))
    [once] = ONCE.findall(page)
    assert f"Password reset for {user['email']}" in page
    assert theirs.get("/app/scan").headers["Location"].startswith("/app/sign-in")
    assert sign_in(app.test_client(), user["email"], PASSWORD).status_code == 401
    fresh = app.test_client()
    assert sign_in(fresh, user["email"], once).status_code == 302
    assert fresh.get("/app/scan").headers["Location"] == "/app/account/first-password"


def test_an_account_of_the_identity_provider_has_no_reset(app, accounts):
    admin = _admin_browser(app, accounts)
    user, _ = accounts.user()
    with app.app_context():
        db.session.get(User, user["id"]).auth_source = "oidc"
        db.session.commit()

    assert f'/admin/users/{user["id"]}/reset-password' not in html(admin.get(USERS))
    refused = _post(admin, f"{USERS}/{user['id']}/reset-password")
    assert refused.status_code == 409 and "no Riskscan password to reset" in html(refused)


def test_a_taken_email_is_said_beside_the_form(app, accounts):
    admin = _admin_browser(app, accounts)
    user, _ = accounts.user()

    taken = _post(admin, f"{USERS}/new", email=user["email"].upper(), role="user")

    assert taken.status_code == 409
    assert "A user with this email already exists." in html(taken)
    assert 'id="new-user-error"' in html(taken) and " open>" in html(taken)


def test_a_non_admin_can_neither_make_nor_reset(app, accounts):
    victim, _ = accounts.user()
    user, _ = accounts.user()
    browser = app.test_client()
    assert sign_in(browser, user["email"]).status_code == 302
    token = csrf_of(browser, "/app/scan")

    made = browser.post(f"{USERS}/new", data={"csrf_token": token, "email": "x@example.com"})
    reset = browser.post(f"{USERS}/{victim['id']}/reset-password", data={"csrf_token": token})

    assert made.status_code == 403
    assert reset.status_code == 404  # another's account is not theirs to see
    assert sign_in(app.test_client(), victim["email"]).status_code == 302


@pytest.mark.parametrize("target", ["not-an-id", "%3Fx=1", MISSING])
def test_a_malformed_or_unknown_id_is_a_404(app, accounts, target):
    admin = _admin_browser(app, accounts)

    refused = _post(admin, f"{USERS}/{target}/reset-password")

    assert refused.status_code == 404 and "No such user." in html(refused)
