"""A session's last activity and its browser: written when its token is used or renewed, at
most once a minute (not a write per request), and listed by GET /auth/sessions with the
User-Agent parsed ("Chrome", "Linux"); the console says it as "5 min ago"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from service.auth import tokens
from service.console.account_views import ago
from service.db import AuthSession, utcnow
from service.extensions import db

SESSIONS = "/api/v1/auth/sessions"
CHROME = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/131.0.0.0 Safari/537.36")


def _active_at(app, user_id):
    with app.app_context():
        return db.session.scalar(select(AuthSession.last_active_at)
                                 .where(AuthSession.user_id == user_id))


def _set_active_at(app, user_id, when):
    with app.app_context():
        db.session.execute(update(AuthSession).where(AuthSession.user_id == user_id)
                           .values(last_active_at=when))
        db.session.commit()


def test_a_session_lists_its_browser_system_and_last_activity(app, client, accounts):
    user = accounts.register()
    tokens_ = client.post("/api/v1/auth/login", headers={"User-Agent": CHROME}, json={
        "email": user["email"], "password": "correct horse battery"}).get_json()

    [item] = client.get(SESSIONS, headers={
        "Authorization": f"Bearer {tokens_['access_token']}"}).get_json()["items"]

    assert (item["browser"], item["os"]) == ("Chrome", "Linux")
    assert item["user_agent"] == CHROME
    assert datetime.fromisoformat(item["last_active_at"]) > utcnow() - timedelta(minutes=1)


def test_use_is_recorded_at_most_once_a_minute(app, client, accounts):
    user, headers = accounts.user()
    recent = utcnow() - timedelta(seconds=30)
    _set_active_at(app, user["id"], recent)

    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert _active_at(app, user["id"]) == recent  # not written again within the minute

    _set_active_at(app, user["id"], utcnow() - timedelta(minutes=5))
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    assert _active_at(app, user["id"]) > utcnow() - timedelta(seconds=30)


def test_a_renewal_is_activity_too(app, client, accounts):
    user, _ = accounts.user()
    _set_active_at(app, user["id"], utcnow() - timedelta(hours=2))

    with app.test_request_context():
        assert tokens.renew_access_token(user["tokens"]["access_token"]) is not None

    assert _active_at(app, user["id"]) > utcnow() - timedelta(seconds=30)


NOW = datetime(2026, 11, 27, 21, 0, tzinfo=UTC)


@pytest.mark.parametrize(("delta", "said"), [
    (timedelta(seconds=20), "just now"), (timedelta(minutes=5, seconds=40), "5 min ago"),
    (timedelta(hours=1, minutes=2), "1 hour ago"), (timedelta(hours=30), "30 hours ago"),
    (timedelta(days=3, hours=1), "3 days ago"), (timedelta(seconds=-30), "just now")])
def test_last_activity_in_words(delta, said):
    assert ago((NOW - delta).isoformat(), now=NOW) == said
    assert ago(None) == "never"
