"""One's own sessions (GET/DELETE /api/v1/auth/sessions…): each login is listed with the
calling one marked; ending one stops its refresh and access tokens at once, ending the
others keeps the calling one; another user's session is a 404 that changes nothing, and no
API key may list or end sessions."""

from __future__ import annotations

from service.db import AuditEvent, AuthSession
from service.extensions import db
from tests.helpers import PASSWORD, api_key_headers, assert_problem

SESSIONS = "/api/v1/auth/sessions"
ME = "/api/v1/auth/me"


def _bearer(tokens) -> dict:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def _listed(client, tokens) -> list[dict]:
    response = client.get(SESSIONS, headers=_bearer(tokens))
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()["items"]


def _refreshes(client, tokens) -> int:
    return client.post("/api/v1/auth/refresh",
                       json={"refresh_token": tokens["refresh_token"]}).status_code


def test_two_logins_are_two_sessions_the_calling_one_marked(client, accounts):
    user = accounts.register()
    first, second = accounts.login(user["email"]), accounts.login(user["email"])
    accounts.user()  # another user's login is not listed

    listed = _listed(client, second)
    assert len(listed) == 2
    assert [item["current"] for item in listed] == [True, False]  # newest first
    assert all(item["created_at"] and item["expires_at"] for item in listed)
    assert [item["current"] for item in _listed(client, first)] == [False, True]


def test_a_session_says_where_it_signed_in_from(client, accounts):
    user = accounts.register()
    client.post("/api/v1/auth/login", json={"email": user["email"], "password": PASSWORD},
                headers={"User-Agent": "Mozilla/5.0 (X11; Linux) Firefox/140.0 " + "x" * 400},
                environ_base={"REMOTE_ADDR": "192.0.2.7"})
    bare = accounts.login(user["email"])

    newest, first = _listed(client, bare)

    assert (first["ip"], first["user_agent"][:38]) == ("192.0.2.7",
                                                       "Mozilla/5.0 (X11; Linux) Firefox/140.0")
    assert len(first["user_agent"]) == 255  # kept within its column, not refused
    assert newest["ip"] == "127.0.0.1"


def test_ending_the_other_session_stops_its_tokens_and_keeps_this_one(app, client, accounts):
    user = accounts.register()
    other, mine = accounts.login(user["email"]), accounts.login(user["email"])
    [theirs] = [item for item in _listed(client, mine) if not item["current"]]

    ended = client.delete(f"{SESSIONS}/{theirs['id']}", headers=_bearer(mine))

    assert ended.status_code == 204
    assert_problem(client.get(ME, headers=_bearer(other)), 401)
    assert _refreshes(client, other) == 401
    assert client.get(ME, headers=_bearer(mine)).status_code == 200
    assert _refreshes(client, mine) == 200
    assert [item["current"] for item in _listed(client, mine)] == [True]
    with app.app_context():
        [event] = db.session.query(AuditEvent).filter_by(event="session_ended").all()
        assert (event.actor_id, event.target_id) == (user["id"], user["id"])
        assert event.details == {"session_id": theirs["id"]}
    # Once ended it is gone from the list, and ending it again is a 404.
    assert_problem(client.delete(f"{SESSIONS}/{theirs['id']}", headers=_bearer(mine)), 404)


def test_ending_the_others_keeps_this_one(client, accounts):
    user = accounts.register()
    logins = [accounts.login(user["email"]) for _ in range(3)]
    mine = logins[1]

    assert client.delete(SESSIONS, headers=_bearer(mine)).status_code == 204

    assert [_refreshes(client, tokens) for tokens in logins] == [401, 200, 401]
    assert [client.get(ME, headers=_bearer(tokens)).status_code
            for tokens in (logins[0], logins[2])] == [401, 401]


def test_another_users_session_is_a_404_that_changes_nothing(app, client, accounts):
    victim = accounts.register()
    victims = accounts.login(victim["email"])
    [session] = _listed(client, victims)
    _, attacker = accounts.user()

    for session_id in (session["id"], "no-such-session", "x" * 300,
                       session["id"].upper()):
        body = assert_problem(client.delete(f"{SESSIONS}/{session_id}", headers=attacker),
                              404)
        assert body["detail"] == "No such session."
    assert client.get(ME, headers=_bearer(victims)).status_code == 200
    assert _refreshes(client, victims) == 200
    with app.app_context():
        assert db.session.get(AuthSession, session["id"]).ended_at is None
        assert db.session.query(AuditEvent).filter_by(event="session_ended").count() == 0


def test_sessions_take_no_api_key_and_no_anonymous_caller(client, accounts):
    user, headers = accounts.user()
    key = api_key_headers(client, headers, "account:read")
    [session] = _listed(client, user["tokens"])

    assert_problem(client.get(SESSIONS, headers=key), 403)
    assert_problem(client.delete(SESSIONS, headers=key), 403)
    assert_problem(client.delete(f"{SESSIONS}/{session['id']}", headers=key), 403)
    assert_problem(client.get(SESSIONS), 401)
    assert client.get(ME, headers=headers).status_code == 200
