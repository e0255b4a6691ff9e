"""One-time passwords: an admin makes an account without choosing its password, or resets
a forgotten one; the API answers the password once, and the account may only change it,
say who it is and sign out until it has. Non-admins, API keys for admins and accounts of
the identity provider get nothing."""

from __future__ import annotations

import uuid

import pytest

from service.db import User
from service.extensions import db
from tests.helpers import PASSWORD, api_key_headers, assert_problem, at_once, audit_rows

USERS = "/api/v1/users"
LOGIN = "/api/v1/auth/login"
CHANGE = "/api/v1/auth/password"
NEW = "a brand new violet staircase"


def _bearer(tokens) -> dict:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def _login(client, email, password):
    return client.post(LOGIN, json={"email": email, "password": password})


def test_a_new_account_without_a_password_gets_a_one_time_one_it_must_change(app, client,
                                                                              accounts):
    admin, headers = accounts.user(role="admin")
    made = client.post(USERS, headers=headers, json={"email": "Priya@Example.com",
                                                     "role": "reviewer"})
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    once = body["one_time_password"]
    assert len(once) == 19 and body["must_change_password"] is True
    assert client.get(f"{USERS}/{body['id']}", headers=headers).get_json() \
        .get("one_time_password") is None  # shown once: never again

    signed = _login(client, "priya@example.com", once)
    assert signed.status_code == 200
    mine = _bearer(signed.get_json())
    assert client.get("/api/v1/auth/me", headers=mine).get_json()["must_change_password"]
    for method, path in (("get", "/api/v1/projects"), ("get", "/api/v1/auth/sessions"),
                         ("get", "/api/v1/auth/me/settings"), ("get", "/api/v1/findings"),
                         ("patch", f"{USERS}/{body['id']}")):
        refused = assert_problem(getattr(client, method)(path, headers=mine, json={}), 403)
        assert "set by an admin: choose your own first" in refused["detail"], path

    changed = client.post(CHANGE, headers=mine,
                          json={"current_password": once, "new_password": NEW})
    assert changed.status_code == 200, changed.get_json()
    after = _bearer(changed.get_json())
    assert client.get("/api/v1/projects", headers=after).status_code == 200
    assert client.get("/api/v1/auth/me", headers=after).get_json()[
        "must_change_password"] is False
    [created] = audit_rows(app, "user_created")[-1:]
    assert created.details == {"role": "reviewer", "one_time": True}
    assert created.actor_id == admin["id"]


def test_a_password_an_admin_chose_must_be_changed_at_the_first_sign_in_too(
        app, client, accounts):
    """Issue #75, item 9: the admin knows a password they chose as well as one Riskscan
    drew, so the person must choose their own before anything else either way."""
    _, headers = accounts.user(role="admin")
    made = client.post(USERS, headers=headers,
                       json={"email": "chosen@example.com", "password": PASSWORD}).get_json()
    assert made["one_time_password"] is None and made["must_change_password"] is True

    tokens = _login(client, "chosen@example.com", PASSWORD).get_json()
    assert_problem(client.get("/api/v1/projects", headers=_bearer(tokens)), 403)
    changed = client.post("/api/v1/auth/password", headers=_bearer(tokens), json={
        "current_password": PASSWORD, "new_password": NEW})
    assert changed.status_code == 200, changed.get_json()
    assert client.get("/api/v1/projects",
                      headers=_bearer(changed.get_json())).status_code == 200


def test_an_admin_cannot_reset_their_own_password_without_knowing_it(app, client, accounts):
    """Issue #75, item 3: an unattended access token must not take its own admin account;
    the admin's own change asks for the current password."""
    admin, headers = accounts.user(role="admin")

    body = assert_problem(client.post(f"{USERS}/{admin['id']}/one-time-password",
                                      headers=headers), 403)
    assert "/auth/password" in body["detail"]
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert _login(client, admin["email"], PASSWORD).status_code == 200
    assert audit_rows(app, "password_reset") == []


def test_a_reset_ends_every_session_and_gives_a_one_time_password(app, client, accounts):
    _, headers = accounts.user(role="admin")
    user, user_headers = accounts.user()

    reset = client.post(f"{USERS}/{user['id']}/one-time-password", headers=headers)

    assert reset.status_code == 201
    once = reset.get_json()["one_time_password"]
    assert client.get("/api/v1/auth/me", headers=user_headers).status_code == 401
    assert _login(client, user["email"], PASSWORD).status_code == 401
    tokens = _login(client, user["email"], once).get_json()
    assert_problem(client.get("/api/v1/projects", headers=_bearer(tokens)), 403)
    assert client.post("/api/v1/auth/logout", headers=_bearer(tokens)).status_code == 204
    [event] = audit_rows(app, "password_reset")
    assert event.target_id == user["id"]


def test_two_resets_at_once_give_two_passwords_and_one_of_them_signs_in(app, client, accounts):
    """Two admins' resets of one account race: each is answered and audited, and the
    account keeps one password, one of the two handed out, never a mix or none."""
    _, headers = accounts.user(role="admin")
    user, _ = accounts.user()

    resets = at_once(app, "POST", f"{USERS}/{user['id']}/one-time-password", parallel=2,
                     headers=headers)

    assert [reset.status_code for reset in resets] == [201, 201]
    handed = [reset.get_json()["one_time_password"] for reset in resets]
    assert len(set(handed)) == 2
    assert sorted(_login(client, user["email"], once).status_code for once in handed) == [
        200, 401]
    assert len(audit_rows(app, "password_reset")) == 2


def test_no_one_but_a_signed_in_admin_resets(app, client, accounts):
    admin, admin_headers = accounts.user(role="admin")
    user, user_headers = accounts.user()
    other_admin, _ = accounts.user(role="admin")
    key = api_key_headers(client, admin_headers, "admin:write")

    assert_problem(client.post(f"{USERS}/{admin['id']}/one-time-password",
                               headers=user_headers), 403)
    assert_problem(client.post(USERS, headers=user_headers, json={"email": "x@example.com"}),
                   403)
    assert_problem(client.post(f"{USERS}/{other_admin['id']}/one-time-password",
                               headers=key), 403)
    for missing in (uuid.uuid4(), "not-an-id"):
        assert_problem(client.post(f"{USERS}/{missing}/one-time-password",
                                   headers=admin_headers), 404)
    assert _login(client, user["email"], PASSWORD).status_code == 200
    assert audit_rows(app, "password_reset") == []


@pytest.mark.parametrize("source", ["oidc", "ldap"])
def test_an_account_of_the_identity_provider_has_no_password_to_reset(app, client, accounts,
                                                                     source):
    _, headers = accounts.user(role="admin")
    user, _ = accounts.user()
    with app.app_context():
        db.session.get(User, user["id"]).auth_source = source
        db.session.commit()

    refused = client.post(f"{USERS}/{user['id']}/one-time-password", headers=headers)

    assert "there is no Riskscan password to reset" in assert_problem(refused, 409)["detail"]
