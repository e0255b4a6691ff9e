"""Per-user caps hold under concurrent requests: the count and the insert it allows run one
request at a time per user (service.api.count_under_lock), on SQLite as on MariaDB."""

from __future__ import annotations

from sqlalchemy import func, select

from service.auth.api_key_routes import MAX_ACTIVE_KEYS_PER_USER
from service.auth.tokens import create_api_key
from service.db import ApiKey, AuditEvent, ProjectMember, User
from service.extensions import db
from tests.helpers import Accounts, assert_problem, at_once

PARALLEL = 8


def count(app, statement) -> int:
    with app.app_context():
        return db.session.scalar(statement)


def test_concurrent_key_creations_stop_at_the_cap(app, client):
    user, headers = Accounts(app, client).user()
    with app.app_context():
        owner = db.session.get(User, user["id"])
        for n in range(MAX_ACTIVE_KEYS_PER_USER - 2):
            create_api_key(owner, name=f"k{n}", scopes=["scans:read"], expires_at=None)
        db.session.commit()

    responses = at_once(app, "POST", "/api/v1/auth/api-keys", parallel=PARALLEL,
                        headers=headers, json={"name": "racing", "scopes": ["scans:read"]})

    assert sorted(r.status_code for r in responses) == [201] * 2 + [409] * (PARALLEL - 2)
    for response in responses:
        if response.status_code == 409:
            body = assert_problem(response, 409)
            assert body["detail"] == (f"You have {MAX_ACTIVE_KEYS_PER_USER} API keys; "
                                      "revoke one first.")
    assert count(app, select(func.count()).select_from(ApiKey)) == MAX_ACTIVE_KEYS_PER_USER
    assert count(app, select(func.count()).select_from(AuditEvent)
                 .where(AuditEvent.event == "api_key_created")) == 2


def test_concurrent_project_creations_stop_at_the_cap(make_app):
    app = make_app(MAX_PROJECTS_PER_USER=3)
    client = app.test_client()
    user, headers = Accounts(app, client).user()
    assert client.post("/api/v1/projects", json={"name": "first"},
                       headers=headers).status_code == 201

    responses = at_once(app, "POST", "/api/v1/projects", parallel=PARALLEL, headers=headers,
                        json={"name": "racing"})

    assert sorted(r.status_code for r in responses) == [201] * 2 + [409] * (PARALLEL - 2)
    for response in responses:
        if response.status_code == 409:
            body = assert_problem(response, 409)
            assert body["detail"] == ("You own 3 projects, the most one person may "
                                      "(MAX_PROJECTS_PER_USER); delete one or hand one over "
                                      "first.")
    assert count(app, select(func.count()).select_from(ProjectMember)
                 .where(ProjectMember.user_id == user["id"], ProjectMember.role == "owner")) == 3
    assert count(app, select(func.count()).select_from(AuditEvent)
                 .where(AuditEvent.event == "project_created")) == 3
