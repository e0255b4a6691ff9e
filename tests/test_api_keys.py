"""Personal API keys: shown once, stored hashed, scoped, audited, and dead with their user's
password change, deactivation or deletion."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from service.db import ApiKey, AuditEvent, User
from service.extensions import db
from tests.helpers import PASSWORD, Accounts, assert_problem
from tests.scanning import KeywordAnalyzer

KEYS = "/api/v1/auth/api-keys"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def new_key(client, headers, scopes=("scans:read", "scans:write"), **extra):
    response = client.post(KEYS, headers=headers,
                           json={"name": "nightly import", "scopes": list(scopes), **extra})
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def keyword_app(app, monkeypatch):
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", KeywordAnalyzer())
    return app


def test_a_key_is_shown_once_stored_hashed_and_works_like_a_token(keyword_app, client,
                                                                   accounts):
    _, headers = accounts.user()
    created = new_key(client, headers)
    key = created["key"]
    assert key.startswith(created["prefix"] + "_") and created["prefix"].startswith("rsk_")
    assert created["scopes"] == ["scans:read", "scans:write"] and created["active"] is True
    scan = client.post("/api/v1/scans", headers=bearer(key),
                       json={"text": "The vendor may slip the delivery."})
    assert scan.status_code == 201
    listed = client.get("/api/v1/scans", headers=bearer(key)).get_json()
    assert [s["scan_id"] for s in listed["items"]] == [scan.get_json()["scan_id"]]
    # Listed without its secret; the database holds only a hash.
    page = client.get(KEYS, headers=headers).get_json()
    assert page["total"] == 1 and "key" not in page["items"][0]
    assert page["items"][0]["last_used_at"] is not None
    with keyword_app.app_context():
        stored = db.session.get(ApiKey, created["id"])
        # Everything after the prefix: a urlsafe secret may itself hold a "_", and a
        # one-character tail after it could occur in any hex digest (it did: "0").
        secret = key.removeprefix(created["prefix"] + "_")
        assert len(secret) >= 32
        assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert stored.prefix == created["prefix"]


def test_outside_its_scopes_a_key_gets_403(keyword_app, client, accounts):
    _, headers = accounts.user()
    reader = new_key(client, headers, scopes=["scans:read"])["key"]
    assert client.get("/api/v1/scans", headers=bearer(reader)).status_code == 200
    body = assert_problem(client.post("/api/v1/scans", headers=bearer(reader),
                                      json={"text": "Costs may rise."}), 403)
    assert "scans:write" in body["detail"]
    assert_problem(client.get("/api/v1/auth/me", headers=bearer(reader)), 403)


@pytest.mark.parametrize("method, path", [
    ("POST", KEYS), ("GET", KEYS), ("POST", "/api/v1/auth/logout"),
])
def test_a_key_cannot_manage_keys_or_end_sessions(client, accounts, method, path):
    _, headers = accounts.user()
    key = new_key(client, headers, scopes=["scans:read", "scans:write", "account:read"])["key"]
    response = client.open(path, method=method, headers=bearer(key),
                           json={"name": "more", "scopes": ["scans:read"]})
    body = assert_problem(response, 403)
    assert "access token" in body["detail"]


def test_a_key_cannot_change_its_users_password(client, accounts):
    user, headers = accounts.user()
    key = new_key(client, headers, scopes=["scans:read", "account:read"])["key"]
    response = client.patch(f"/api/v1/users/{user['id']}", headers=bearer(key),
                            json={"password": "a brand new passphrase",
                                  "current_password": PASSWORD})
    assert_problem(response, 403)
    assert client.get("/api/v1/auth/me", headers=bearer(key)).status_code == 200


@pytest.mark.parametrize("payload", [
    {"password": "a brand new passphrase"},
    {"password": "a brand new passphrase", "current_password": PASSWORD},
    {"email": "taken-over@example.com", "current_password": PASSWORD},
], ids=["password", "password-with-current", "email"])
def test_an_admin_write_key_cannot_change_its_own_admins_credentials(app, client, accounts,
                                                                     payload):
    admin, headers = accounts.user(role="admin")
    key = new_key(client, headers, scopes=["admin:write"])["key"]

    response = client.patch(f"/api/v1/users/{admin['id']}", headers=bearer(key), json=payload)

    body = assert_problem(response, 403)
    assert body["detail"] == ("An API key cannot change its own user's email or password: "
                              "sign in and use an access token.")
    assert client.post("/api/v1/auth/login", json={"email": admin["email"],
                                                   "password": PASSWORD}).status_code == 200
    with app.app_context():
        updated = db.session.query(AuditEvent).filter_by(event="user_updated").count()
    assert updated == 0


def test_an_admin_write_key_still_resets_another_users_password(app, client, accounts):
    _, headers = accounts.user(role="admin")
    user = accounts.register()
    key = new_key(client, headers, scopes=["admin:write"])["key"]

    response = client.patch(f"/api/v1/users/{user['id']}", headers=bearer(key),
                            json={"password": "a brand new passphrase"})

    assert response.status_code == 200, response.get_json()
    assert client.post("/api/v1/auth/login", json={"email": user["email"],
                                                   "password": "a brand new passphrase"}
                       ).status_code == 200
    with app.app_context():
        details = [e.details for e in db.session.query(AuditEvent)
                   .filter_by(event="user_updated", target_id=user["id"])]
    assert details == [{"fields": ["password"]}]



@pytest.mark.parametrize("payload", [
    {"password": "a brand new passphrase"},
    {"email": "taken-over@example.com"},
], ids=["password", "email"])
def test_an_admin_write_key_cannot_take_another_admins_sign_in(app, client, accounts, payload):
    _, headers = accounts.user(role="admin")
    other, _ = accounts.user(role="admin")
    key = new_key(client, headers, scopes=["admin:write"])["key"]

    response = client.patch(f"/api/v1/users/{other['id']}", headers=bearer(key), json=payload)

    body = assert_problem(response, 403)
    assert body["detail"] == ("An API key cannot change an admin's email or password: "
                              "sign in and use an access token.")
    assert client.post("/api/v1/auth/login", json={"email": other["email"],
                                                   "password": PASSWORD}).status_code == 200
    with app.app_context():
        updated = db.session.query(AuditEvent).filter_by(event="user_updated").count()
    assert updated == 0


def test_an_admin_write_key_cannot_make_an_admin(app, client, accounts):
    # A leaked key could otherwise reset a user's password and promote them, or create an
    # admin with a password it chose, and sign in as that admin.
    _, headers = accounts.user(role="admin")
    user = accounts.register()
    key = new_key(client, headers, scopes=["admin:write"])["key"]
    refusal = "An API key cannot make an admin: sign in and use an access token."

    promoted = client.patch(f"/api/v1/users/{user['id']}", headers=bearer(key),
                            json={"role": "admin"})
    created = client.post("/api/v1/users", headers=bearer(key),
                          json={"email": "minted@example.com", "password": PASSWORD,
                                "role": "admin"})

    assert assert_problem(promoted, 403)["detail"] == refusal
    assert assert_problem(created, 403)["detail"] == refusal
    with app.app_context():
        roles = dict(db.session.query(User.email, User.role))
        events = db.session.query(AuditEvent).filter(
            AuditEvent.event.in_(("user_updated", "user_created"))).count()
    assert roles[user["email"]] == "user" and "minted@example.com" not in roles
    assert events == 0
    # An access token of a signed-in admin still does both.
    assert client.patch(f"/api/v1/users/{user['id']}", headers=headers,
                        json={"role": "admin"}).status_code == 200
    assert client.post("/api/v1/users", headers=headers,
                       json={"email": "minted@example.com", "password": PASSWORD,
                             "role": "admin"}).status_code == 201

def test_only_admins_give_keys_admin_scopes(client, accounts):
    _, headers = accounts.user()
    response = client.post(KEYS, headers=headers,
                           json={"name": "x", "scopes": ["scans:read", "admin:read"]})
    assert_problem(response, 422, "scopes")
    _, admin_headers = accounts.user(role="admin")
    admin_key = new_key(client, admin_headers, scopes=["admin:read"])["key"]
    assert client.get("/api/v1/admin/audit-events", headers=bearer(admin_key)).status_code == 200
    assert_problem(client.get("/api/v1/scans", headers=bearer(admin_key)), 403)


@pytest.mark.parametrize("body, field", [
    ({"scopes": ["scans:read"]}, "name"),
    ({"name": "", "scopes": ["scans:read"]}, "name"),
    ({"name": "x" * 101, "scopes": ["scans:read"]}, "name"),
    ({"name": "x", "scopes": []}, "scopes"),
    ({"name": "x", "scopes": ["scans:delete-everything"]}, "scopes"),
    ({"name": "x", "scopes": "scans:read"}, "scopes"),
    ({"name": "x", "scopes": ["scans:read"], "expires_at": "2001-01-01T00:00:00Z"},
     "expires_at"),
    ({"name": "x", "scopes": ["scans:read"], "expires_at": "tomorrow"}, "expires_at"),
    ({"name": "x", "scopes": ["scans:read"], "owner": "someone"}, "owner"),
])
def test_malformed_key_requests_are_422(client, accounts, body, field):
    _, headers = accounts.user()
    assert_problem(client.post(KEYS, headers=headers, json=body), 422, field)


@pytest.mark.parametrize("expires_at", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_an_expiry_outside_utcs_years_is_422_and_stores_nothing(app, client, accounts,
                                                                expires_at):
    _, headers = accounts.user()

    response = client.post(KEYS, headers=headers, json={"name": "x", "scopes": ["scans:read"],
                                                        "expires_at": expires_at})

    body = assert_problem(response, 422)
    assert body["errors"] == {"expires_at": ["Must fall in the years 1-9999 in UTC."]}
    with app.app_context():
        assert db.session.query(ApiKey).count() == 0


def test_key_requests_without_a_token_or_oversized_are_refused(client, accounts):
    assert_problem(client.post(KEYS, json={"name": "x", "scopes": ["scans:read"]}), 401)
    _, headers = accounts.user()
    huge = {"name": "x", "scopes": ["scans:read"], "pad": "x" * 100_000}
    assert_problem(client.post(KEYS, headers=headers, json=huge), 413)


def test_a_user_holds_a_bounded_number_of_active_keys(client, accounts):
    from service.auth.api_key_routes import MAX_ACTIVE_KEYS_PER_USER

    _, headers = accounts.user()
    ids = [new_key(client, headers, scopes=["scans:read"])["id"]
           for _ in range(MAX_ACTIVE_KEYS_PER_USER)]
    assert_problem(client.post(KEYS, headers=headers,
                               json={"name": "one more", "scopes": ["scans:read"]}), 409)
    assert client.delete(f"{KEYS}/{ids[0]}", headers=headers).status_code == 204
    new_key(client, headers, scopes=["scans:read"])


def test_revoked_and_expired_keys_are_401(client, accounts):
    user, headers = accounts.user()
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        expiring = new_key(client, headers, scopes=["scans:read"],
                           expires_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat())
        revoked = new_key(client, headers, scopes=["scans:read"])
        assert client.delete(f"{KEYS}/{revoked['id']}", headers=headers).status_code == 204
        assert_problem(client.get("/api/v1/scans", headers=bearer(revoked["key"])), 401)
        assert client.get("/api/v1/scans", headers=bearer(expiring["key"])).status_code == 200
        clock.shift(timedelta(hours=1, seconds=1))
        assert_problem(client.get("/api/v1/scans", headers=bearer(expiring["key"])), 401)
        headers = bearer(accounts.login(user["email"])["access_token"])
        states = {k["id"]: k["active"] for k in client.get(KEYS, headers=headers)
                  .get_json()["items"]}
        assert states == {expiring["id"]: False, revoked["id"]: False}


def test_a_forged_or_mangled_key_is_401(client, accounts):
    _, headers = accounts.user()
    key = new_key(client, headers, scopes=["scans:read"])["key"]
    prefix, secret = key.rsplit("_", 1)
    for forged in (f"{prefix}_{secret[:-1]}A" if secret[-1] != "A" else f"{prefix}_{secret[:-1]}B",
                   f"{prefix}_", prefix, "rsk_", "rsk_000000000000_secret",
                   f"rsk_{'0' * 5000}"[:900]):
        assert_problem(client.get("/api/v1/scans", headers=bearer(forged)), 401)


@pytest.mark.parametrize("how", ["password", "deactivated", "deleted"])
def test_keys_die_with_their_users_password_change_deactivation_or_deletion(
        app, client, accounts, how):
    user, headers = accounts.user()
    _, admin_headers = accounts.user(role="admin")
    key = new_key(client, headers, scopes=["scans:read"])["key"]
    assert client.get("/api/v1/scans", headers=bearer(key)).status_code == 200
    if how == "password":
        response = client.patch(f"/api/v1/users/{user['id']}", headers=headers,
                                json={"password": "a new long passphrase 42",
                                      "current_password": PASSWORD})
    elif how == "deactivated":
        response = client.patch(f"/api/v1/users/{user['id']}", headers=admin_headers,
                                json={"active": False})
    else:
        response = client.delete(f"/api/v1/users/{user['id']}", headers=admin_headers)
    assert response.status_code in (200, 204), response.get_json()
    assert_problem(client.get("/api/v1/scans", headers=bearer(key)), 401)
    if how == "deactivated":
        # Reactivation does not bring the key back.
        response = client.patch(f"/api/v1/users/{user['id']}", headers=admin_headers,
                                json={"active": True})
        assert response.status_code == 200 and response.get_json()["active"] is True
        assert client.post("/api/v1/auth/login", json={"email": user["email"],
                                                       "password": PASSWORD}).status_code == 200
        assert_problem(client.get("/api/v1/scans", headers=bearer(key)), 401)


def test_another_users_key_is_404_to_revoke_and_admins_list_and_revoke_any(client, accounts):
    owner, owner_headers = accounts.user()
    _, other_headers = accounts.user()
    _, admin_headers = accounts.user(role="admin")
    key = new_key(client, owner_headers, scopes=["scans:read"])
    assert_problem(client.delete(f"{KEYS}/{key['id']}", headers=other_headers), 404)
    assert client.get("/api/v1/scans", headers=bearer(key["key"])).status_code == 200
    assert client.get(KEYS, headers=other_headers).get_json()["total"] == 0
    listed = client.get(f"/api/v1/admin/api-keys?user_id={owner['id']}",
                        headers=admin_headers).get_json()
    assert [k["id"] for k in listed["items"]] == [key["id"]]
    assert_problem(client.get("/api/v1/admin/api-keys", headers=other_headers), 403)
    assert client.delete(f"{KEYS}/{key['id']}", headers=admin_headers).status_code == 204
    assert_problem(client.get("/api/v1/scans", headers=bearer(key["key"])), 401)


def test_creation_use_and_revocation_are_audited_and_use_is_throttled(app, client, accounts):
    _, headers = accounts.user()
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        key = new_key(client, headers, scopes=["scans:read"])
        for _ in range(5):
            assert client.get("/api/v1/scans", headers=bearer(key["key"])).status_code == 200
        clock.shift(timedelta(minutes=1, seconds=1))
        assert client.get("/api/v1/scans", headers=bearer(key["key"])).status_code == 200
        assert client.delete(f"{KEYS}/{key['id']}", headers=headers).status_code == 204
    with app.app_context():
        events = [e.event for e in db.session.query(AuditEvent)
                  .filter_by(target_id=key["id"]).order_by(AuditEvent.id)]
    assert events == ["api_key_created", "api_key_used", "api_key_used", "api_key_revoked"]


def test_a_keys_scans_are_its_users_and_rate_limited_as_theirs(make_app):
    app = make_app(RATE_LIMIT_SCANS="2 per minute")
    app.extensions["riskscan.analyzers"].model = KeywordAnalyzer()
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    key = new_key(client, headers)["key"]
    statuses = [client.post("/api/v1/scans", headers=h, json={"text": "Costs may rise."})
                .status_code for h in (bearer(key), headers, bearer(key))]
    assert statuses == [201, 201, 429]
