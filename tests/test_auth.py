"""Auth: register, login (JSON and the OAuth2 form), token expiry, refresh rotation and
reuse, logout and /me, with the bad input a client can send to each."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select

from service.db import AuditEvent, RefreshToken, User
from service.extensions import db
from tests.helpers import PASSWORD, Accounts, assert_problem

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/auth/me"

USER_FIELDS = {"id", "email", "role", "active", "auth_source", "must_change_password",
               "created_at", "updated_at"}


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def without_request_id(body: dict) -> dict:
    return {key: value for key, value in body.items() if key != "request_id"}


# --- register ----------------------------------------------------------------------------


@pytest.mark.production_password_cost
def test_register_answers_201_with_the_user_and_never_the_password(app, client):
    response = client.post(REGISTER, json={"email": "Ada@Example.com", "password": PASSWORD})

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == USER_FIELDS | {"joined"} and body["joined"] == []  # no invitation
    assert body["email"] == "ada@example.com"
    assert body["role"] == "user" and body["active"] is True and body["auth_source"] == "local"
    text = response.get_data(as_text=True)
    assert PASSWORD not in text and "argon2" not in text and "hash" not in text
    with app.app_context():
        stored = db.session.get(User, body["id"])
        assert stored.email == "ada@example.com"
        # OWASP's parameters (docs/security.md); the other tests hash at cheaper ones.
        assert stored.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
        assert PASSWORD not in stored.password_hash


def test_register_409_when_the_email_is_taken_in_any_case(app, client, accounts):
    accounts.register("Grace@Example.com")

    response = client.post(REGISTER, json={"email": "GRACE@example.COM", "password": PASSWORD})

    body = assert_problem(response, 409)
    assert "exists" in body["detail"]
    assert count(app, User) == 1


@pytest.mark.parametrize("password", ["kX9#vQ2m!", ("correct horse battery staple " * 5)[:128]],
                         ids=["short-random", "128-chars"])
def test_register_accepts_strong_passwords_up_to_the_length_limit(client, accounts, password):
    user = accounts.register(password=password)
    assert accounts.login(user["email"], password)["token_type"] == "bearer"


@pytest.mark.parametrize(("payload", "field"), [
    ({"email": "not-an-email", "password": PASSWORD}, "email"),
    ({"email": "a" * 250 + "@example.com", "password": PASSWORD}, "email"),
    ({"email": "short@example.com", "password": "x" * 7}, "password"),
    ({"email": "long@example.com", "password": "x" * 129}, "password"),
    ({"email": "nopass@example.com"}, "password"),
    ({"password": PASSWORD}, "email"),
    ({"email": 12345, "password": PASSWORD}, "email"),
    ({"email": "int@example.com", "password": 12345678}, "password"),
    ({"email": "null@example.com", "password": None}, "password"),
    ({"email": ["list@example.com"], "password": PASSWORD}, "email"),
    # A client cannot make itself an admin, or pick its id.
    ({"email": "role@example.com", "password": PASSWORD, "role": "admin"}, "role"),
    ({"email": "id@example.com", "password": PASSWORD, "id": "x"}, "id"),
], ids=["bad-email", "long-email", "short-password", "long-password", "no-password",
        "no-email", "email-int", "password-int", "password-null", "email-list", "role",
        "id"])
def test_register_422_names_the_bad_field_and_creates_no_user(app, client, payload, field):
    response = client.post(REGISTER, json=payload)

    body = assert_problem(response, 422, field)
    assert body["detail"] == "The request has invalid or missing fields."
    assert count(app, User) == 0
    assert count(app, AuditEvent) == 0


@pytest.mark.parametrize("payload", ["[]", '"a string"', "42", "null"],
                         ids=["list", "str", "int", "null"])
def test_register_422_when_the_json_is_not_an_object(app, client, payload):
    response = client.post(REGISTER, data=payload, content_type="application/json")

    assert_problem(response, 422)
    assert count(app, User) == 0


def test_register_400_on_malformed_json(app, client):
    response = client.post(REGISTER, data='{"email": "a@example.com", "password": ',
                           content_type="application/json")

    body = assert_problem(response, 400)
    assert body["detail"] == "The request body is not valid JSON."
    assert count(app, User) == 0


@pytest.mark.parametrize(("data", "content_type"), [
    ("email=a@example.com&password=correct+horse", "application/x-www-form-urlencoded"),
    ('{"email": "a@example.com", "password": "correct horse"}', "text/plain"),
    ('{"email": "a@example.com", "password": "correct horse"}', None),
], ids=["form", "text-plain", "no-content-type"])
def test_register_415_when_the_body_is_not_json(app, client, data, content_type):
    response = client.post(REGISTER, data=data, content_type=content_type)

    assert_problem(response, 415)
    assert count(app, User) == 0


def test_register_413_when_the_body_is_over_max_json_kb(make_app):
    app = make_app(MAX_JSON_KB=1)
    client = app.test_client()
    payload = {"email": "big@example.com", "password": PASSWORD, "padding": "x" * 2048}

    response = client.post(REGISTER, json=payload)

    assert_problem(response, 413)
    assert count(app, User) == 0
    # Under the limit, the same endpoint works.
    ok = client.post(REGISTER, json={"email": "big@example.com", "password": PASSWORD})
    assert ok.status_code == 201


# --- login -------------------------------------------------------------------------------


def test_login_with_json_returns_a_bearer_pair_that_works(client, accounts):
    user = accounts.register()

    response = client.post(LOGIN, json={"email": user["email"].upper(), "password": PASSWORD})

    assert response.status_code == 200
    tokens = response.get_json()
    assert set(tokens) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 30 * 60
    assert tokens["access_token"] != tokens["refresh_token"]
    me = client.get(ME, headers=bearer(tokens["access_token"]))
    assert me.status_code == 200 and me.get_json()["id"] == user["id"]


def test_login_with_the_oauth2_password_form(client, accounts):
    user = accounts.register()

    response = client.post(LOGIN, data={"username": user["email"], "password": PASSWORD,
                                        "grant_type": "password"})

    assert response.status_code == 200
    tokens = response.get_json()
    assert tokens["token_type"] == "bearer"
    assert client.get(ME, headers=bearer(tokens["access_token"])).get_json()["id"] == user["id"]


def test_login_expires_in_follows_the_setting(make_app):
    app = make_app(ACCESS_TOKEN_EXPIRE_MINUTES=5)
    accounts = Accounts(app, app.test_client())
    user = accounts.register()

    assert accounts.login(user["email"])["expires_in"] == 300


def test_unknown_email_and_wrong_password_get_the_same_401(client, accounts):
    user = accounts.register()

    wrong_password = client.post(LOGIN, json={"email": user["email"], "password": "wrong pass 1"})
    unknown_email = client.post(LOGIN, json={"email": "nobody@example.com",
                                             "password": PASSWORD})

    first = assert_problem(wrong_password, 401)
    second = assert_problem(unknown_email, 401)
    assert without_request_id(first) == without_request_id(second)
    assert wrong_password.headers.get("WWW-Authenticate") == \
        unknown_email.headers.get("WWW-Authenticate")
    assert "access_token" not in first


def test_a_deactivated_user_is_locked_out_with_the_same_401(app, client, accounts):
    user, headers = accounts.user()
    wrong = client.post(LOGIN, json={"email": user["email"], "password": "wrong pass 1"})
    with app.app_context():  # deactivated in the database, tokens left as they were
        db.session.get(User, user["id"]).active = False
        db.session.commit()

    response = client.post(LOGIN, json={"email": user["email"], "password": PASSWORD})

    assert without_request_id(assert_problem(response, 401)) == \
        without_request_id(assert_problem(wrong, 401))
    assert_problem(client.get(ME, headers=headers), 401)
    assert_problem(client.post(REFRESH, json={"refresh_token": user["tokens"]["refresh_token"]}),
                   401)


@pytest.mark.parametrize(("payload", "field"), [
    ({"email": "a@example.com"}, "password"),
    ({"password": PASSWORD}, "email"),
    ({"email": 5, "password": PASSWORD}, "email"),
    ({"email": "a@example.com", "password": ["x"]}, "password"),
    ({"email": "a@example.com", "password": "x" * 129}, "password"),
], ids=["no-password", "no-email", "email-int", "password-list", "password-too-long"])
def test_login_422_on_missing_or_mistyped_json_fields(app, client, payload, field):
    response = client.post(LOGIN, json=payload)

    assert_problem(response, 422, field)
    # Bad input is not a failed login attempt.
    assert count(app, AuditEvent) == 0


def test_login_422_on_an_incomplete_form(client):
    response = client.post(LOGIN, data={"username": "a@example.com"})

    assert_problem(response, 422, "password")


@pytest.mark.parametrize("payload", ["[]", '"text"', "null"], ids=["list", "str", "null"])
def test_login_422_when_the_json_is_not_an_object(client, payload):
    assert_problem(client.post(LOGIN, data=payload, content_type="application/json"), 422)


def test_login_400_on_malformed_json_like_every_json_endpoint(client):
    response = client.post(LOGIN, data="{not json", content_type="application/json")

    body = assert_problem(response, 400)
    assert body["detail"] == "The request body is not valid JSON."


def test_login_415_for_another_content_type(client):
    response = client.post(LOGIN, data="a@example.com:secret", content_type="text/plain")

    assert_problem(response, 415)


@pytest.mark.parametrize("as_form", [False, True], ids=["json", "form"])
def test_login_413_when_the_body_is_over_max_json_kb(make_app, as_form):
    app = make_app(MAX_JSON_KB=1)
    client = app.test_client()
    if as_form:
        response = client.post(LOGIN, data={"username": "a@example.com", "password": "x" * 2048})
    else:
        response = client.post(LOGIN, json={"email": "a@example.com", "password": "x" * 2048})

    assert_problem(response, 413)
    assert count(app, AuditEvent) == 0


# --- access tokens -----------------------------------------------------------------------


def test_an_access_token_expires_after_access_token_expire_minutes(client, accounts):
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        _, headers = accounts.user()
        clock.shift(timedelta(minutes=29))
        assert client.get(ME, headers=headers).status_code == 200

        clock.shift(timedelta(minutes=2))
        response = client.get(ME, headers=headers)

    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_shorter_configured_lifetime_is_honoured(make_app):
    app = make_app(ACCESS_TOKEN_EXPIRE_MINUTES=5)
    client = app.test_client()
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        _, headers = Accounts(app, client).user()
        clock.shift(timedelta(minutes=4))
        assert client.get(ME, headers=headers).status_code == 200
        clock.shift(timedelta(minutes=2))
        assert_problem(client.get(ME, headers=headers), 401)


def test_an_access_token_from_the_future_is_401(client, accounts):
    """Signed later than now (a clock set back): refused, also after it was accepted once
    (the checked signature is remembered, its age is not)."""
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        _, headers = accounts.user()
        assert client.get(ME, headers=headers).status_code == 200
        clock.shift(timedelta(minutes=-2))
        assert_problem(client.get(ME, headers=headers), 401)


def _tamper(token: str) -> str:
    """Change one character of the signature (the first: it carries six whole bits)."""
    payload, timestamp, signature = token.rsplit(".", 2)
    first = "A" if signature[0] != "A" else "B"
    return f"{payload}.{timestamp}.{first}{signature[1:]}"


def test_a_tampered_access_token_is_401(client, accounts):
    _, headers = accounts.user()
    token = headers["Authorization"].removeprefix("Bearer ")

    assert_problem(client.get(ME, headers=bearer(_tamper(token))), 401)
    assert client.get(ME, headers=bearer(token)).status_code == 200


def test_a_token_forged_with_another_key_is_401(app, client, accounts):
    user, _ = accounts.user(role="admin")
    with app.app_context():
        version = db.session.get(User, user["id"]).token_version
    forged = URLSafeTimedSerializer("not-the-server-secret-key", salt="riskscan.access-token") \
        .dumps({"sub": user["id"], "jti": "00000000-0000-0000-0000-000000000000",
                "ver": version})

    assert_problem(client.get("/api/v1/users", headers=bearer(forged)), 401)


@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Bearer ", "Bearer not-a-token", "Basic dXNlcjpwYXNz", "Token abc",
], ids=["none", "empty", "scheme-only", "scheme-space", "garbage", "basic", "other-scheme"])
def test_no_or_a_malformed_authorization_header_is_401(client, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}

    response = client.get(ME, headers=headers)

    body = assert_problem(response, 401)
    assert body["detail"] == "A valid bearer token is required."


def test_a_deleted_users_token_is_401(app, client, accounts):
    user, headers = accounts.user()
    with app.app_context():
        db.session.delete(db.session.get(User, user["id"]))
        db.session.commit()

    assert_problem(client.get(ME, headers=headers), 401)


def test_me_returns_the_caller_without_the_password(client, accounts):
    user, headers = accounts.user()

    response = client.get(ME, headers=headers)

    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == USER_FIELDS
    assert body["id"] == user["id"] and body["email"] == user["email"]


# --- refresh -----------------------------------------------------------------------------


def test_refresh_returns_a_new_pair_and_the_old_refresh_token_stops_working(client, accounts):
    user = accounts.register()
    first = accounts.login(user["email"])

    response = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})

    assert response.status_code == 200
    second = response.get_json()
    assert second["token_type"] == "bearer" and second["expires_in"] == 30 * 60
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert client.get(ME, headers=bearer(second["access_token"])).get_json()["id"] == user["id"]
    # The new refresh token rotates in its turn.
    third = client.post(REFRESH, json={"refresh_token": second["refresh_token"]})
    assert third.status_code == 200


def test_presenting_a_used_refresh_token_revokes_every_token_of_that_user(app, client, accounts):
    user = accounts.register()
    other_session = accounts.login(user["email"])
    first = accounts.login(user["email"])
    second = client.post(REFRESH, json={"refresh_token": first["refresh_token"]}).get_json()
    bystander, bystander_headers = accounts.user()

    reuse = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})

    body = assert_problem(reuse, 401)
    assert "already used" in body["detail"]
    for access in (first["access_token"], second["access_token"],
                   other_session["access_token"]):
        assert_problem(client.get(ME, headers=bearer(access)), 401)
    for refresh in (second["refresh_token"], other_session["refresh_token"]):
        assert_problem(client.post(REFRESH, json={"refresh_token": refresh}), 401)
    assert count(app, AuditEvent, AuditEvent.event == "token_reuse",
                 AuditEvent.target_id == user["id"]) == 1
    # Another user is untouched, and the victim can log in again.
    assert client.get(ME, headers=bystander_headers).get_json()["id"] == bystander["id"]
    fresh = accounts.login(user["email"])
    assert client.get(ME, headers=bearer(fresh["access_token"])).status_code == 200


def test_refresh_with_an_unknown_token_is_401_and_not_reuse(app, client, accounts):
    _, headers = accounts.user()

    response = client.post(REFRESH, json={"refresh_token": "never-issued-token"})

    assert_problem(response, 401)
    assert count(app, AuditEvent, AuditEvent.event == "token_reuse") == 0
    assert client.get(ME, headers=headers).status_code == 200


def test_a_refresh_token_expires_after_refresh_token_expire_days(client, accounts):
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        user = accounts.register()
        early = accounts.login(user["email"])
        late = accounts.login(user["email"])

        clock.shift(timedelta(days=13))
        # The access token is long dead, but the refresh token still works.
        assert_problem(client.get(ME, headers=bearer(early["access_token"])), 401)
        assert client.post(REFRESH, json={"refresh_token": early["refresh_token"]}) \
            .status_code == 200

        clock.shift(timedelta(days=1, minutes=1))
        response = client.post(REFRESH, json={"refresh_token": late["refresh_token"]})

    body = assert_problem(response, 401)
    assert "expired" in body["detail"]


@pytest.mark.parametrize(("payload", "field"), [
    ({}, "refresh_token"),
    ({"refresh_token": 123}, "refresh_token"),
    ({"refresh_token": ["a"]}, "refresh_token"),
    ({"refresh_token": ""}, "refresh_token"),
    ({"refresh_token": "x" * 257}, "refresh_token"),
    ({"refresh_token": "abc", "extra": 1}, "extra"),
], ids=["missing", "int", "list", "empty", "too-long", "unknown-field"])
def test_refresh_422_on_bad_fields(client, payload, field):
    assert_problem(client.post(REFRESH, json=payload), 422, field)


def test_refresh_400_on_malformed_json_and_415_on_other_types(client):
    assert_problem(client.post(REFRESH, data="{", content_type="application/json"), 400)
    assert_problem(client.post(REFRESH, data={"refresh_token": "abc"}), 415)


# --- logout ------------------------------------------------------------------------------


def test_logout_ends_the_presented_tokens_session_only(client, accounts):
    user = accounts.register()
    session_a = accounts.login(user["email"])
    session_b = accounts.login(user["email"])
    # A refresh within session A: its older and newer access tokens belong to one session.
    refreshed_a = client.post(REFRESH, json={"refresh_token": session_a["refresh_token"]})
    assert refreshed_a.status_code == 200
    refreshed_a = refreshed_a.get_json()

    response = client.post(LOGOUT, headers=bearer(session_a["access_token"]))

    assert response.status_code == 204 and response.data == b""
    assert_problem(client.get(ME, headers=bearer(session_a["access_token"])), 401)
    assert_problem(client.post(LOGOUT, headers=bearer(session_a["access_token"])), 401)
    # Without {refresh_token}, the whole session ended: its newer access token and its
    # current refresh token too.
    assert_problem(client.get(ME, headers=bearer(refreshed_a["access_token"])), 401)
    assert_problem(client.post(REFRESH, json={"refresh_token": refreshed_a["refresh_token"]}),
                   401)
    # The other session goes on.
    assert client.get(ME, headers=bearer(session_b["access_token"])).status_code == 200
    assert client.post(REFRESH, json={"refresh_token": session_b["refresh_token"]}) \
        .status_code == 200


def test_logout_with_a_refresh_token_revokes_it_too(app, client, accounts):
    user = accounts.register()
    session = accounts.login(user["email"])
    other = accounts.login(user["email"])

    response = client.post(LOGOUT, headers=bearer(session["access_token"]),
                           json={"refresh_token": session["refresh_token"]})

    assert response.status_code == 204
    assert_problem(client.post(REFRESH, json={"refresh_token": session["refresh_token"]}), 401)
    # A revoked token is not a reused one: the user's other session lives on.
    assert count(app, AuditEvent, AuditEvent.event == "token_reuse") == 0
    assert client.get(ME, headers=bearer(other["access_token"])).status_code == 200


def test_logout_cannot_revoke_another_users_refresh_token(client, accounts):
    victim = accounts.register()
    victim_tokens = accounts.login(victim["email"])
    _, attacker_headers = accounts.user()

    response = client.post(LOGOUT, headers=attacker_headers,
                           json={"refresh_token": victim_tokens["refresh_token"]})

    assert response.status_code == 204
    assert client.post(REFRESH, json={"refresh_token": victim_tokens["refresh_token"]}) \
        .status_code == 200


def test_logout_with_an_empty_json_body_still_logs_out(client, accounts):
    _, headers = accounts.user()

    response = client.post(LOGOUT, headers=headers, data="", content_type="application/json")

    assert response.status_code == 204
    assert_problem(client.get(ME, headers=headers), 401)


@pytest.mark.parametrize(("data", "status"), [
    ('{"refresh_token": ', 400),
    ('{"refresh_token": 5}', 422),
    ('{"refresh_token": "abc", "everything": true}', 422),
    ("[1, 2]", 422),
], ids=["malformed", "wrong-type", "unknown-field", "not-an-object"])
def test_a_rejected_logout_revokes_nothing(app, client, accounts, data, status):
    _, headers = accounts.user()

    response = client.post(LOGOUT, headers=headers, data=data, content_type="application/json")

    assert_problem(response, status)
    assert client.get(ME, headers=headers).status_code == 200
    assert count(app, AuditEvent, AuditEvent.event == "logout") == 0


def test_logout_413_when_the_body_is_over_max_json_kb(make_app):
    app = make_app(MAX_JSON_KB=1)
    client = app.test_client()
    _, headers = Accounts(app, client).user()

    response = client.post(LOGOUT, headers=headers, json={"refresh_token": "x" * 2048})

    assert_problem(response, 413)
    assert client.get(ME, headers=headers).status_code == 200


def test_refresh_tokens_are_stored_hashed(app, accounts):
    user = accounts.register()
    tokens = accounts.login(user["email"])

    with app.app_context():
        stored = db.session.scalars(select(RefreshToken.token_hash)).all()
    assert len(stored) == 1
    assert tokens["refresh_token"] not in stored[0]
