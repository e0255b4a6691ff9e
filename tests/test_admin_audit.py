"""The audit log: security events are stored, and listed for admins only, newest first,
paginated and filtered; failed requests leave no event, and no event holds a secret."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.helpers import PASSWORD, assert_problem

AUDIT = "/api/v1/admin/audit-events"


def events(client, headers, **query) -> dict:
    response = client.get(AUDIT, headers=headers, query_string={"per_page": 100, **query})
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def story(body: dict) -> list[tuple]:
    """(event, actor_id, target_id), oldest first."""
    return [(e["event"], e["actor_id"], e["target_id"]) for e in reversed(body["items"])]


def test_auth_events_are_recorded_in_order(client, accounts):
    admin, admin_headers = accounts.user(role="admin")
    user = accounts.register("story@example.com")
    client.post("/api/v1/auth/login", json={"email": user["email"], "password": "wrong one!"})
    client.post("/api/v1/auth/login", json={"email": "ghost@example.com", "password": PASSWORD})
    tokens = accounts.login(user["email"])
    rotated = client.post("/api/v1/auth/refresh",
                          json={"refresh_token": tokens["refresh_token"]}).get_json()
    client.post("/api/v1/auth/logout",
                headers={"Authorization": f"Bearer {rotated['access_token']}"})
    client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})

    body = events(client, admin_headers)

    uid = user["id"]
    assert story(body) == [
        ("register", admin["id"], admin["id"]),
        ("login_success", admin["id"], admin["id"]),
        ("register", uid, uid),
        ("login_failure", None, uid),
        ("login_failure", None, None),
        ("login_success", uid, uid),
        ("logout", uid, uid),
        ("token_reuse", None, uid),
    ]
    assert body["total"] == 8
    failures = [e for e in body["items"] if e["event"] == "login_failure"]
    assert {e["details"]["email"] for e in failures} == {"story@example.com",
                                                         "an unknown account"}
    assert all(e["ip"] == "127.0.0.1" and e["created_at"] for e in body["items"])


def test_admin_actions_are_recorded(client, accounts):
    admin, headers = accounts.user(role="admin")
    made = client.post("/api/v1/users", headers=headers,
                       json={"email": "made@example.com", "password": PASSWORD}).get_json()
    client.patch(f"/api/v1/users/{made['id']}", headers=headers, json={"role": "admin"})
    client.patch(f"/api/v1/users/{made['id']}", headers=headers,
                 json={"email": "renamed@example.com", "password": "a new passphrase"})
    client.patch(f"/api/v1/users/{made['id']}", headers=headers, json={"role": "user"})
    client.delete(f"/api/v1/users/{made['id']}", headers=headers)

    body = events(client, headers, user_id=made["id"])

    aid, mid = admin["id"], made["id"]
    assert story(body) == [
        ("user_created", aid, mid),
        ("role_change", aid, mid),
        ("user_updated", aid, mid),
        ("user_updated", aid, mid),
        ("role_change", aid, mid),
        ("user_updated", aid, mid),
        ("user_deleted", aid, mid),
    ]
    by_event = {}
    for item in reversed(body["items"]):
        by_event.setdefault(item["event"], []).append(item["details"])
    assert by_event["role_change"] == [{"old": "user", "new": "admin"},
                                       {"old": "admin", "new": "user"}]
    assert by_event["user_updated"][1] == {"fields": ["email", "password"]}
    # The trail outlives the deleted user.
    assert by_event["user_deleted"] == [{"email": "renamed@example.com"}]


def test_no_audit_event_holds_a_password_or_token(client, accounts):
    _, headers = accounts.user(role="admin")
    user = accounts.register()
    tokens = accounts.login(user["email"])
    client.post("/api/v1/auth/login", json={"email": user["email"], "password": "guess-1234"})
    client.post("/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]},
                headers={"Authorization": f"Bearer {tokens['access_token']}"})

    text = client.get(AUDIT, headers=headers, query_string={"per_page": 100}) \
        .get_data(as_text=True)

    for secret in (PASSWORD, "guess-1234", tokens["access_token"], tokens["refresh_token"],
                   "argon2"):
        assert secret not in text


def test_audit_events_page_newest_first(client, accounts):
    _, headers = accounts.user(role="admin")  # register + login_success
    accounts.login(accounts.register()["email"])
    accounts.register()  # five events in all

    everything = events(client, headers)["items"]
    page1 = events(client, headers, per_page=2)
    page2 = events(client, headers, per_page=2, page=2)
    page3 = events(client, headers, per_page=2, page=3)

    assert [page1["total"], page2["total"], page3["total"]] == [5, 5, 5]
    assert page1["items"] + page2["items"] + page3["items"] == everything
    assert len(page3["items"]) == 1 and page2["page"] == 2 and page2["per_page"] == 2
    stamps = [(e["created_at"], e["id"]) for e in everything]
    assert stamps == sorted(stamps, reverse=True)


def test_audit_events_filter_by_event_and_user(client, accounts):
    admin, headers = accounts.user(role="admin")
    user = accounts.register()
    client.post("/api/v1/auth/login", json={"email": user["email"], "password": "nope nope"})

    failures = events(client, headers, event="login_failure")
    registrations = events(client, headers, event="register")
    mine = events(client, headers, user_id=user["id"])
    both = events(client, headers, user_id=user["id"], event="register")

    assert [e["event"] for e in failures["items"]] == ["login_failure"]
    assert {e["target_id"] for e in registrations["items"]} == {admin["id"], user["id"]}
    assert [e["event"] for e in mine["items"]] == ["login_failure", "register"]
    assert [e["event"] for e in both["items"]] == ["register"] and both["total"] == 1


@pytest.mark.parametrize(("query", "field"), [
    ({"event": "coffee_break"}, "event"),
    ({"user_id": "x" * 37}, "user_id"),
    ({"per_page": 101}, "per_page"),
    ({"page": -1}, "page"),
    ({"email": "a" * 250 + "@example.com"}, "email"),
    ({"created_after": "2026-02-30T00:00:00Z"}, "created_after"),
    ({"created_before": "yesterday"}, "created_before"),
], ids=["unknown-event", "long-user-id", "per-page-101", "negative-page", "long-email",
        "no-such-day", "not-an-instant"])
def test_audit_events_422_on_bad_query_arguments(client, accounts, query, field):
    _, headers = accounts.user(role="admin")

    assert_problem(client.get(AUDIT, headers=headers, query_string=query), 422, field)


def test_audit_events_name_the_people_by_email_and_a_deleted_one_as_none(client, accounts):
    admin, headers = accounts.user(role="admin")
    user = accounts.register()
    assert client.delete(f"/api/v1/users/{user['id']}", headers=headers).status_code == 204

    listed = events(client, headers)["items"]
    by_event = {e["event"]: e for e in listed}
    login = by_event["login_success"]
    assert (login["actor_email"], login["target_email"], login["target_type"]) == (
        admin["email"], admin["email"], "user")
    [gone] = [e for e in listed if e["event"] == "register" and e["actor_id"] == user["id"]]
    assert gone["actor_email"] is None and gone["target_email"] is None
    deleted = by_event["user_deleted"]
    assert (deleted["actor_email"], deleted["target_email"]) == (admin["email"], None)
    assert deleted["details"]["email"] == user["email"]


def test_audit_events_filter_by_email_any_case_and_by_time(app, client, accounts):
    admin, headers = accounts.user(role="admin")
    user = accounts.register()
    client.post("/api/v1/auth/login", json={"email": user["email"], "password": "nope nope"})
    with app.app_context():  # the admin's two events a day earlier
        from service.db import AuditEvent
        from service.extensions import db

        for event in db.session.query(AuditEvent).filter_by(actor_id=admin["id"]):
            event.created_at = datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)
        for event in db.session.query(AuditEvent).filter_by(target_id=user["id"]):
            event.created_at = datetime(2026, 3, 2, 0, 0, 0, tzinfo=UTC)
        db.session.commit()

    mine = events(client, headers, email=user["email"].upper())
    assert [e["event"] for e in mine["items"]] == ["login_failure", "register"]
    assert events(client, headers, email="nobody@example.com")["total"] == 0
    first = events(client, headers, created_after="2026-03-01T00:00:00Z",
                   created_before="2026-03-02T00:00:00Z")
    assert {e["event"] for e in first["items"]} == {"register", "login_success"}
    assert all(e["actor_id"] == admin["id"] for e in first["items"])
    second = events(client, headers, created_after="2026-03-02T00:00:00")  # UTC: no zone
    assert [e["event"] for e in second["items"]] == ["login_failure", "register"]
    assert events(client, headers, created_before="2026-03-01T23:59:59Z")["total"] == 0
    assert events(client, headers, email=user["email"],
                  created_before="2026-03-02T00:00:00Z")["total"] == 0


def test_audit_events_are_for_admins_only(client, accounts):
    _, headers = accounts.user()

    body = assert_problem(client.get(AUDIT, headers=headers), 403)
    assert "items" not in body
    assert_problem(client.get(AUDIT), 401)


def test_rejected_requests_leave_no_audit_event(client, accounts):
    admin, headers = accounts.user(role="admin")
    user, user_headers = accounts.user()
    before = events(client, headers)["total"]

    # register with a taken email, or bad fields; a login with bad fields; a user trying to
    # promote themselves; the last admin stepping down or deleting themselves.
    assert client.post("/api/v1/auth/register",
                       json={"email": user["email"], "password": PASSWORD}).status_code == 409
    assert client.post("/api/v1/auth/register",
                       json={"email": "new@example.com", "password": "short"}).status_code == 422
    assert client.post("/api/v1/auth/login", json={"email": "a@example.com"}).status_code == 422
    assert client.patch(f"/api/v1/users/{user['id']}", headers=user_headers,
                        json={"role": "admin"}).status_code == 422
    assert client.patch(f"/api/v1/users/{admin['id']}", headers=headers,
                        json={"role": "user"}).status_code == 409
    assert client.delete(f"/api/v1/users/{admin['id']}", headers=headers).status_code == 409

    assert events(client, headers)["total"] == before


def test_a_failed_sign_in_keeps_an_accounts_email_and_never_what_was_typed(app, client,
                                                                           accounts):
    """A password typed into the email field (the API's login or the console's sign-in)
    must not land in the audit log: a failure names the account's email when the typed
    one is an account's, else "an unknown account"."""
    from tests.console_browser import sign_in

    _, admin_headers = accounts.user(role="admin")
    user = accounts.register("typist@example.com")
    typed_password = "Correct Horse Battery 42"
    client.post("/api/v1/auth/login", json={"email": typed_password, "password": "x"})
    client.post("/api/v1/auth/login", json={"email": "  TYPIST@Example.com ",
                                            "password": typed_password + "!"})
    browser = app.test_client()
    sign_in(browser, "my secret passphrase", "anything")
    failures = events(client, admin_headers, event="login_failure")["items"]
    assert [(e["details"]["email"], e["target_id"]) for e in reversed(failures)] == [
        ("an unknown account", None), ("typist@example.com", user["id"]),
        ("an unknown account", None)]
    stored = str(failures)
    assert typed_password not in stored and "secret passphrase" not in stored
