"""Sessions: a refresh token is spent once even under a race, logout ends its session,
and a refresh chain has an absolute end.

Decided for a legitimate client that refreshes twice at once: exactly one request gets a
new pair; the others find the token spent, which is the theft signal, so every token of
the user is revoked and the user logs in again (docs/api.md: "refresh once").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine

from service.auth.tokens import issue_tokens, start_session
from service.db import AuditEvent, AuthSession, User
from service.extensions import db
from tests.helpers import assert_problem, at_once

REFRESH = "/api/v1/auth/refresh"
ME = "/api/v1/auth/me"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_parallel_refreshes_with_one_token_give_exactly_one_new_pair(app, accounts):
    user = accounts.register()
    tokens = accounts.login(user["email"])
    parallel = 4
    responses = at_once(app, "POST", REFRESH, parallel=parallel,
                        json={"refresh_token": tokens["refresh_token"]})
    statuses = [response.status_code for response in responses]
    bodies = [response.get_json() for response in responses]
    assert sorted(statuses) == [200] + [401] * (parallel - 1), statuses
    for body in bodies:
        if "access_token" not in body:
            assert body["detail"] == ("This refresh token was already used; all your "
                                      "sessions have been revoked. Log in again.")
    # The losers presented a spent token: the theft rule revoked the winner's pair too.
    winner = next(body for body in bodies if "access_token" in body)
    client = app.test_client()
    assert_problem(client.get(ME, headers=bearer(winner["access_token"])), 401)
    assert_problem(client.post(REFRESH, json={"refresh_token": winner["refresh_token"]}), 401)
    with app.app_context():
        # Each loser found the token spent: one theft signal each.
        assert db.session.query(AuditEvent).filter_by(event="token_reuse").count() == parallel - 1


def test_racing_refreshes_are_answered_401_never_503(app, accounts):
    """Round after round of racing refreshes: on MariaDB a loser queued on the token's
    index entry used to deadlock the winner's insert and get a 503 (a few rounds in 40)."""
    user = accounts.register()
    unexpected = []
    for _ in range(40):
        with app.app_context():  # a login's pair, without the login's rate limit
            owner = db.session.get(User, user["id"])
            pair = issue_tokens(owner, start_session(owner))
            db.session.commit()
        responses = at_once(app, "POST", REFRESH, parallel=6,
                            json={"refresh_token": pair.refresh_token})
        statuses = sorted(response.status_code for response in responses)
        if statuses != [200] + [401] * 5:
            unexpected.append(statuses)
    assert unexpected == []


def test_a_session_ends_refresh_token_max_days_after_its_login(make_app):
    app = make_app(REFRESH_TOKEN_EXPIRE_DAYS=14, REFRESH_TOKEN_MAX_DAYS=20)
    client = app.test_client()
    from tests.helpers import Accounts

    accounts = Accounts(app, client)
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        user = accounts.register()
        tokens = accounts.login(user["email"])
        clock.shift(timedelta(days=10))
        refreshed = client.post(REFRESH, json={"refresh_token": tokens["refresh_token"]})
        assert refreshed.status_code == 200
        # Each refresh would start another 14 days; the session's 20 days end it first.
        clock.shift(timedelta(days=10, minutes=1))
        response = client.post(REFRESH,
                               json={"refresh_token": refreshed.get_json()["refresh_token"]})
        assert_problem(response, 401)
        # A new login starts a new session.
        assert accounts.login(user["email"])["access_token"]


def test_refresh_token_max_days_must_cover_expire_days():
    import pytest

    from service.config import ConfigError, Settings

    with pytest.raises(ConfigError, match="REFRESH_TOKEN_MAX_DAYS"):
        Settings.from_env({"RISKSCAN_ENV": "testing", "REFRESH_TOKEN_EXPIRE_DAYS": "14",
                           "REFRESH_TOKEN_MAX_DAYS": "7"})


def test_logout_records_the_end_of_its_session(app, client, accounts):
    user = accounts.register()
    tokens = accounts.login(user["email"])
    assert client.post("/api/v1/auth/logout",
                       headers=bearer(tokens["access_token"])).status_code == 204
    with app.app_context():
        sessions = db.session.query(AuthSession).filter_by(user_id=user["id"]).all()
        assert len(sessions) == 1 and sessions[0].ended_at is not None
