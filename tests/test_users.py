"""Users: admins list, create, read, update and delete anyone; a user reads and updates their
own record (never its role, active flag or id), and another user's record is a 404."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from service.db import ApiKey, AuditEvent, RefreshToken, User
from service.extensions import db
from tests.helpers import MISSING, PASSWORD, api_key_headers, assert_problem

USERS = "/api/v1/users"
ME = "/api/v1/auth/me"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"

USER_FIELDS = {"id", "email", "role", "active", "auth_source", "must_change_password",
               "created_at", "updated_at"}
NEW_PASSWORD = "a brand new passphrase"


def url(user_id: str) -> str:
    return f"{USERS}/{user_id}"


def stored(app, user_id: str) -> dict | None:
    """The user's row as the database has it (not as the API says)."""
    with app.app_context():
        user = db.session.get(User, user_id)
        if user is None:
            return None
        return {"email": user.email, "role": user.role, "active": user.active,
                "password_hash": user.password_hash, "token_version": user.token_version}


def user_count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


def login_status(client, email, password=PASSWORD) -> int:
    return client.post(LOGIN, json={"email": email, "password": password}).status_code


def without_request_id(body: dict) -> dict:
    return {key: value for key, value in body.items() if key != "request_id"}


# --- who may call what -------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "payload"), [
    ("get", USERS, None),
    ("post", USERS, {"email": "made@example.com", "password": PASSWORD, "role": "admin"}),
    ("delete", "{other}", None),
])
def test_a_user_on_admin_routes_is_403_and_changes_nothing(app, client, accounts, method, path,
                                                           payload):
    other, _ = accounts.user()
    _, headers = accounts.user()
    before = user_count(app)

    response = getattr(client, method)(path.format(other=url(other["id"])), headers=headers,
                                       json=payload)

    body = assert_problem(response, 403)
    assert "items" not in body
    assert user_count(app) == before
    assert stored(app, other["id"]) is not None


@pytest.mark.parametrize(("method", "path"), [
    ("get", USERS), ("post", USERS), ("get", url(MISSING)),
    ("patch", url(MISSING)), ("delete", url(MISSING)),
])
def test_every_users_route_is_401_without_a_token(client, method, path):
    response = getattr(client, method)(path, json={"email": "x@example.com"})

    assert_problem(response, 401)
    assert "WWW-Authenticate" in response.headers


# --- list --------------------------------------------------------------------------------


def test_admin_lists_users_newest_first_without_password_hashes(client, accounts):
    admin, headers = accounts.user(role="admin")
    first = accounts.register("first@example.com")
    second = accounts.register("second@example.com")

    response = client.get(USERS, headers=headers)

    assert response.status_code == 200
    body = response.get_json()
    assert body["page"] == 1 and body["per_page"] == 20 and body["total"] == 3
    assert [item["id"] for item in body["items"]] == [second["id"], first["id"], admin["id"]]
    assert all(set(item) == USER_FIELDS for item in body["items"])
    assert "argon2" not in response.get_data(as_text=True)


def test_users_list_pages(client, accounts):
    _, headers = accounts.user(role="admin")
    for n in range(3):
        accounts.register(f"page{n}@example.com")

    page1 = client.get(USERS, headers=headers, query_string={"per_page": 2}).get_json()
    page2 = client.get(USERS, headers=headers, query_string={"per_page": 2, "page": 2}).get_json()
    page3 = client.get(USERS, headers=headers, query_string={"per_page": 2, "page": 3}).get_json()

    assert (page1["total"], page2["total"]) == (4, 4)
    assert (len(page1["items"]), len(page2["items"]), page3["items"]) == (2, 2, [])
    ids = [item["id"] for item in page1["items"] + page2["items"]]
    assert len(set(ids)) == 4
    assert page2["page"] == 2 and page2["per_page"] == 2


def test_users_list_filters_by_role_and_part_of_the_email(client, accounts):
    admin, headers = accounts.user(role="admin", email="boss@corp.example")
    alice = accounts.register("alice@corp.example")
    accounts.register("bob@elsewhere.example")

    admins = client.get(USERS, headers=headers, query_string={"role": "admin"}).get_json()
    corp = client.get(USERS, headers=headers, query_string={"email": "CORP.EX"}).get_json()
    corp_users = client.get(USERS, headers=headers,
                            query_string={"email": "corp", "role": "user"}).get_json()
    # LIKE wildcards are matched literally, not as wildcards.
    percent = client.get(USERS, headers=headers, query_string={"email": "%"}).get_json()
    underscore = client.get(USERS, headers=headers, query_string={"email": "_"}).get_json()

    assert [u["id"] for u in admins["items"]] == [admin["id"]] and admins["total"] == 1
    assert {u["id"] for u in corp["items"]} == {admin["id"], alice["id"]}
    assert [u["id"] for u in corp_users["items"]] == [alice["id"]]
    assert percent["total"] == 0 and underscore["total"] == 0


@pytest.mark.parametrize(("query", "field"), [
    ({"per_page": 101}, "per_page"),
    ({"per_page": 0}, "per_page"),
    ({"per_page": "ten"}, "per_page"),
    ({"page": 0}, "page"),
    ({"page": "first"}, "page"),
    ({"role": "root"}, "role"),
], ids=["per-page-101", "per-page-0", "per-page-text", "page-0", "page-text", "bad-role"])
def test_users_list_422_on_bad_query_arguments(client, accounts, query, field):
    _, headers = accounts.user(role="admin")

    assert_problem(client.get(USERS, headers=headers, query_string=query), 422, field)


def test_users_list_accepts_per_page_100(client, accounts):
    _, headers = accounts.user(role="admin")

    response = client.get(USERS, headers=headers, query_string={"per_page": 100})

    assert response.status_code == 200 and response.get_json()["per_page"] == 100


# --- create ------------------------------------------------------------------------------


def test_admin_creates_a_user_with_a_role_and_active_flag(app, client, accounts):
    _, headers = accounts.user(role="admin")

    response = client.post(USERS, headers=headers, json={
        "email": "New.Admin@Example.com", "password": PASSWORD, "role": "admin"})
    inactive = client.post(USERS, headers=headers, json={
        "email": "dormant@example.com", "password": PASSWORD, "active": False})

    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == USER_FIELDS | {"one_time_password"}
    assert body["one_time_password"] is None  # the admin chose one
    assert (body["email"], body["role"], body["active"]) == ("new.admin@example.com", "admin",
                                                             True)
    assert PASSWORD not in response.get_data(as_text=True)
    tokens = client.post(LOGIN, json={"email": "new.admin@example.com",
                                      "password": PASSWORD}).get_json()
    first = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get(USERS, headers=first).status_code == 403  # their own password first
    own = client.post("/api/v1/auth/password", headers=first, json={
        "current_password": PASSWORD, "new_password": "an-own-plum-orbit-kettle-43"})
    assert own.status_code == 200, own.get_json()
    assert client.get(USERS, headers={
        "Authorization": f"Bearer {own.get_json()['access_token']}"}).status_code == 200
    assert inactive.status_code == 201 and inactive.get_json()["role"] == "user"
    assert inactive.get_json()["active"] is False
    assert login_status(client, "dormant@example.com") == 401


def test_admin_create_409_when_the_email_is_taken_in_any_case(app, client, accounts):
    _, headers = accounts.user(role="admin")
    accounts.register("taken@example.com")
    before = user_count(app)

    response = client.post(USERS, headers=headers,
                           json={"email": "TAKEN@Example.com", "password": PASSWORD})

    assert_problem(response, 409)
    assert user_count(app) == before


@pytest.mark.parametrize(("payload", "field"), [
    ({"email": "x@example.com", "password": PASSWORD, "role": "root"}, "role"),
    ({"email": "x@example.com", "password": PASSWORD, "active": "maybe"}, "active"),
    ({"email": "x@example.com", "password": "short"}, "password"),
    ({"email": "nope", "password": PASSWORD}, "email"),
    ({"email": "x@example.com", "password": PASSWORD, "id": str(uuid.uuid4())}, "id"),
], ids=["bad-role", "active-text", "short-password", "bad-email", "id"])
def test_admin_create_422_creates_nothing(app, client, accounts, payload, field):
    _, headers = accounts.user(role="admin")

    assert_problem(client.post(USERS, headers=headers, json=payload), 422, field)
    assert user_count(app) == 1


# --- read --------------------------------------------------------------------------------


def test_a_user_reads_their_own_record(client, accounts):
    user, headers = accounts.user()

    response = client.get(url(user["id"]), headers=headers)

    assert response.status_code == 200
    assert set(response.get_json()) == USER_FIELDS
    assert response.get_json()["email"] == user["email"]


def test_an_admin_reads_anyone(client, accounts):
    _, headers = accounts.user(role="admin")
    other = accounts.register()

    response = client.get(url(other["id"]), headers=headers)

    assert response.status_code == 200 and response.get_json()["id"] == other["id"]


def test_another_users_record_is_the_same_404_as_a_missing_or_malformed_id(client, accounts):
    other = accounts.register()
    _, headers = accounts.user()

    others = client.get(url(other["id"]), headers=headers)
    missing = client.get(url(uuid.uuid4()), headers=headers)
    malformed = client.get(url("not-a-uuid"), headers=headers)

    bodies = [without_request_id(assert_problem(r, 404)) for r in (others, missing, malformed)]
    assert bodies[0] == bodies[1] == bodies[2]
    assert other["email"] not in others.get_data(as_text=True)


def test_an_admin_gets_404_for_a_missing_or_malformed_id(client, accounts):
    _, headers = accounts.user(role="admin")

    assert_problem(client.get(url(uuid.uuid4()), headers=headers), 404)
    assert_problem(client.get(url("1 OR 1=1"), headers=headers), 404)


# --- a user updates their own record -----------------------------------------------------


def test_a_user_changes_their_email_with_their_current_password(app, client, accounts):
    user, headers = accounts.user()

    response = client.patch(url(user["id"]), headers=headers,
                            json={"email": "Renamed@Example.com", "current_password": PASSWORD})

    assert response.status_code == 200
    assert response.get_json()["email"] == "renamed@example.com"
    assert stored(app, user["id"])["email"] == "renamed@example.com"
    assert login_status(client, "renamed@example.com") == 200
    assert login_status(client, user["email"]) == 401


def test_a_user_changes_their_password_and_the_old_one_stops_working(app, client, accounts):
    user, headers = accounts.user()

    response = client.patch(url(user["id"]), headers=headers,
                            json={"password": NEW_PASSWORD, "current_password": PASSWORD})

    assert response.status_code == 200
    assert login_status(client, user["email"], NEW_PASSWORD) == 200
    assert login_status(client, user["email"], PASSWORD) == 401
    # Sessions opened with the old password end.
    assert_problem(client.post(REFRESH, json={"refresh_token": user["tokens"]["refresh_token"]}),
                   401)


@pytest.mark.parametrize("payload", [
    {"email": "new@example.com"},
    {"email": "new@example.com", "current_password": "not my password"},
    {"password": NEW_PASSWORD},
    {"password": NEW_PASSWORD, "current_password": "not my password"},
], ids=["email-without", "email-wrong", "password-without", "password-wrong"])
def test_a_credential_change_needs_the_right_current_password(app, client, accounts, payload):
    user, headers = accounts.user()
    before = stored(app, user["id"])

    response = client.patch(url(user["id"]), headers=headers, json=payload)

    assert_problem(response, 422, "current_password")
    assert stored(app, user["id"]) == before
    assert client.get(ME, headers=headers).status_code == 200


@pytest.mark.parametrize(("payload", "field"), [
    ({"role": "admin"}, "role"),
    ({"active": False}, "active"),
    ({"id": str(uuid.uuid4())}, "id"),
    ({"role": "admin", "email": "sneaky@example.com", "current_password": PASSWORD}, "role"),
    ({"email": "not-an-email", "current_password": PASSWORD}, "email"),
    ({"password": "short", "current_password": PASSWORD}, "password"),
    ({"password": 12345678, "current_password": PASSWORD}, "password"),
    ({"email": None}, "email"),
], ids=["role", "active", "id", "role-with-email", "bad-email", "short-password",
        "password-int", "email-null"])
def test_a_user_cannot_change_their_role_active_flag_or_id(app, client, accounts, payload,
                                                            field):
    user, headers = accounts.user()
    before = stored(app, user["id"])

    response = client.patch(url(user["id"]), headers=headers, json=payload)

    assert_problem(response, 422, field)
    assert stored(app, user["id"]) == before
    assert client.get(USERS, headers=headers).status_code == 403


def test_a_user_cannot_take_an_email_in_use_in_any_case(app, client, accounts):
    accounts.register("occupied@example.com")
    user, headers = accounts.user()
    before = stored(app, user["id"])

    response = client.patch(url(user["id"]), headers=headers,
                            json={"email": "Occupied@EXAMPLE.com", "current_password": PASSWORD})

    assert_problem(response, 409)
    assert stored(app, user["id"]) == before


def test_a_user_cannot_update_another_users_record(app, client, accounts):
    other = accounts.register()
    _, headers = accounts.user()
    before = stored(app, other["id"])

    response = client.patch(url(other["id"]), headers=headers,
                            json={"email": "hijack@example.com", "current_password": PASSWORD})
    missing = client.patch(url(uuid.uuid4()), headers=headers,
                           json={"email": "hijack@example.com", "current_password": PASSWORD})

    assert without_request_id(assert_problem(response, 404)) == \
        without_request_id(assert_problem(missing, 404))
    assert stored(app, other["id"]) == before


@pytest.mark.parametrize(("data", "content_type", "status"), [
    ('{"email": ', "application/json", 400),
    ('["email"]', "application/json", 422),
    ("email=x@example.com", "application/x-www-form-urlencoded", 415),
], ids=["malformed", "not-an-object", "form"])
def test_a_malformed_update_changes_nothing(app, client, accounts, data, content_type, status):
    user, headers = accounts.user()
    before = stored(app, user["id"])

    response = client.patch(url(user["id"]), headers=headers, data=data,
                            content_type=content_type)

    assert_problem(response, status)
    assert stored(app, user["id"]) == before


def test_an_update_over_max_json_kb_is_413_and_changes_nothing(make_app):
    from tests.helpers import Accounts

    app = make_app(MAX_JSON_KB=1)
    client = app.test_client()
    user, headers = Accounts(app, client).user()
    before = stored(app, user["id"])

    response = client.patch(url(user["id"]), headers=headers,
                            json={"email": "x" * 2048 + "@example.com"})

    assert_problem(response, 413)
    assert stored(app, user["id"]) == before


# --- an admin updates anyone -------------------------------------------------------------


def test_an_admin_promotes_a_user_and_it_takes_effect_at_once(app, client, accounts):
    _, admin_headers = accounts.user(role="admin")
    user, user_headers = accounts.user()
    assert client.get(USERS, headers=user_headers).status_code == 403

    response = client.patch(url(user["id"]), headers=admin_headers, json={"role": "admin"})

    assert response.status_code == 200 and response.get_json()["role"] == "admin"
    assert stored(app, user["id"])["role"] == "admin"
    assert client.get(USERS, headers=user_headers).status_code == 200


def test_an_admin_demoted_by_another_loses_admin_routes_at_once(app, client, accounts):
    _, admin_headers = accounts.user(role="admin")
    second, second_headers = accounts.user(role="admin")

    response = client.patch(url(second["id"]), headers=admin_headers, json={"role": "user"})

    assert response.status_code == 200
    assert_problem(client.get(USERS, headers=second_headers), 403)


@pytest.mark.parametrize("payload", [
    {"email": "new@example.com"},
    {"password": NEW_PASSWORD, "current_password": "not my password"},
], ids=["email-without", "password-wrong"])
def test_an_admin_changing_their_own_credentials_needs_their_current_password(
        app, client, accounts, payload):
    admin, headers = accounts.user(role="admin")
    before = stored(app, admin["id"])

    response = client.patch(url(admin["id"]), headers=headers, json=payload)

    body = assert_problem(response, 422, "current_password")
    assert body["errors"] == {"current_password": ["Incorrect or missing."]}
    assert stored(app, admin["id"]) == before
    with app.app_context():
        assert db.session.query(AuditEvent).filter_by(event="user_updated").count() == 0
    response = client.patch(url(admin["id"]), headers=headers,
                            json={**payload, "current_password": PASSWORD})
    assert response.status_code == 200, response.get_json()


def test_an_admin_changes_anyones_email_and_password_without_theirs(app, client, accounts):
    _, headers = accounts.user(role="admin")
    user = accounts.register()

    response = client.patch(url(user["id"]), headers=headers,
                            json={"email": "reset@example.com", "password": NEW_PASSWORD})

    assert response.status_code == 200
    assert login_status(client, "reset@example.com", NEW_PASSWORD) == 200


@pytest.mark.parametrize("payload", [{"role": "user"}, {"active": False}],
                         ids=["demote", "deactivate"])
def test_the_last_active_admin_cannot_be_demoted_or_deactivated(app, client, accounts, payload):
    admin, headers = accounts.user(role="admin")
    before = stored(app, admin["id"])

    response = client.patch(url(admin["id"]), headers=headers,
                            json={**payload, "email": "changed@example.com",
                                  "current_password": PASSWORD})

    assert_problem(response, 409)
    assert stored(app, admin["id"]) == before
    assert client.get(USERS, headers=headers).status_code == 200


def test_an_admin_can_step_down_when_another_admin_remains(app, client, accounts):
    admin, headers = accounts.user(role="admin")
    accounts.user(role="admin")

    response = client.patch(url(admin["id"]), headers=headers, json={"role": "user"})

    assert response.status_code == 200 and stored(app, admin["id"])["role"] == "user"
    assert_problem(client.get(USERS, headers=headers), 403)


def test_deactivating_a_user_ends_their_sessions_and_logins(app, client, accounts):
    _, admin_headers = accounts.user(role="admin")
    user, user_headers = accounts.user()

    response = client.patch(url(user["id"]), headers=admin_headers, json={"active": False})

    assert response.status_code == 200 and response.get_json()["active"] is False
    assert_problem(client.get(ME, headers=user_headers), 401)
    assert_problem(client.post(REFRESH, json={"refresh_token": user["tokens"]["refresh_token"]}),
                   401)
    assert login_status(client, user["email"]) == 401


def test_an_admin_update_with_id_is_422(app, client, accounts):
    _, headers = accounts.user(role="admin")
    user = accounts.register()
    before = stored(app, user["id"])

    response = client.patch(url(user["id"]), headers=headers, json={"id": str(uuid.uuid4())})

    assert_problem(response, 422, "id")
    assert stored(app, user["id"]) == before


# --- delete ------------------------------------------------------------------------------


def test_an_admin_deletes_a_user_and_everything_they_own(app, client, accounts):
    _, admin_headers = accounts.user(role="admin")
    user, user_headers = accounts.user()

    response = client.delete(url(user["id"]), headers=admin_headers)

    assert response.status_code == 204 and response.data == b""
    assert stored(app, user["id"]) is None
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(RefreshToken)
                                 .where(RefreshToken.user_id == user["id"])) == 0
    assert_problem(client.get(url(user["id"]), headers=admin_headers), 404)
    assert_problem(client.get(ME, headers=user_headers), 401)
    assert login_status(client, user["email"]) == 401
    # The email is free again.
    accounts.register(user["email"])


def test_delete_404_for_a_missing_or_malformed_id(app, client, accounts):
    _, headers = accounts.user(role="admin")

    assert_problem(client.delete(url(uuid.uuid4()), headers=headers), 404)
    assert_problem(client.delete(url("garbage"), headers=headers), 404)
    assert user_count(app) == 1


def test_the_last_active_admin_cannot_be_deleted(app, client, accounts):
    admin, headers = accounts.user(role="admin")

    assert_problem(client.delete(url(admin["id"]), headers=headers), 409)
    assert stored(app, admin["id"]) is not None
    assert client.get(USERS, headers=headers).status_code == 200


# --- what an admin:write API key may not do to an admin ----------------------------------

KEY_CHANGES_NO_ADMIN = ("An API key cannot change an admin's role or active flag: sign in "
                        "and use an access token.")
KEY_DELETES_NO_ADMIN = "An API key cannot delete an admin: sign in and use an access token."


def key_events(app) -> list[tuple]:
    """The audit events of changes to accounts and of what a key was refused."""
    with app.app_context():
        return [(e.event, e.actor_id, e.target_id, e.details) for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.event.in_(
                ("api_key_refused", "role_change", "user_updated", "user_deleted")))
            .order_by(AuditEvent.id))]


@pytest.mark.parametrize("target", ["another admin", "its own admin"])
@pytest.mark.parametrize(("method", "payload", "detail", "details"), [
    ("PATCH", {"role": "user"}, KEY_CHANGES_NO_ADMIN, {"action": "update", "fields": ["role"]}),
    ("PATCH", {"active": False}, KEY_CHANGES_NO_ADMIN,
     {"action": "update", "fields": ["active"]}),
    ("DELETE", None, KEY_DELETES_NO_ADMIN, {"action": "delete"}),
], ids=["demote", "deactivate", "delete"])
def test_an_admin_write_key_cannot_lock_an_admin_out(app, client, accounts, target, method,
                                                     payload, detail, details):
    """A leaked admin:write key demoted, deactivated and deleted every other admin (and could
    its own): each takes a signed-in admin's access token, and the refusal is audited."""
    holder, headers = accounts.user(role="admin")
    other, other_headers = accounts.user(role="admin")
    admin, admin_headers = ((other, other_headers) if target == "another admin"
                            else (holder, headers))
    key = api_key_headers(client, headers, "admin:write")
    with app.app_context():
        key_id = db.session.scalar(select(ApiKey.id).where(ApiKey.user_id == holder["id"]))
    before = stored(app, admin["id"])

    response = client.open(url(admin["id"]), method=method, headers=key, json=payload)

    assert assert_problem(response, 403)["detail"] == detail
    assert stored(app, admin["id"]) == before
    assert client.get(USERS, headers=admin_headers).status_code == 200  # admin, signed in
    assert key_events(app) == [("api_key_refused", holder["id"], admin["id"],
                                {"api_key_id": key_id, **details})]
    # The same change with the signed-in admin's access token is made.
    signed_in = client.open(url(admin["id"]), method=method, headers=headers, json=payload)
    assert signed_in.status_code == (204 if method == "DELETE" else 200), signed_in.get_json()


def test_an_admin_write_key_still_manages_users_who_are_not_admins(app, client, accounts):
    _, headers = accounts.user(role="admin")
    user, user_headers = accounts.user()
    gone = accounts.register()
    key = api_key_headers(client, headers, "admin:write")

    deactivated = client.patch(url(user["id"]), headers=key, json={"active": False})
    deleted = client.delete(url(gone["id"]), headers=key)

    assert deactivated.status_code == 200 and deactivated.get_json()["active"] is False
    assert deleted.status_code == 204 and stored(app, gone["id"]) is None
    assert_problem(client.get(ME, headers=user_headers), 401)
    assert [event[0] for event in key_events(app)] == ["user_updated", "user_deleted"]
