"""What the project and register tests share: a project with members, scans into it.
A pytest plugin (tests/conftest.py): its fixtures are every test module's."""

from __future__ import annotations

import pytest
from flask import Flask

from service.projects.bounded_map import forget
from tests.helpers import Accounts
from tests.scanning import KeywordAnalyzer


def make_project(client, headers, name="Billing migration", **fields) -> dict:
    response = client.post("/api/v1/projects", json={"name": name, **fields}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def add_member(client, headers, project_id, email, role) -> dict:
    response = client.post(f"/api/v1/projects/{project_id}/members",
                           json={"email": email, "role": role}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def scan_into(client, headers, project_id, text, **fields) -> dict:
    response = client.post("/api/v1/scans",
                           json={"text": text, "project_id": project_id, **fields},
                           headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def register_of(client, headers, project_id, **args) -> list[dict]:
    response = client.get(f"/api/v1/projects/{project_id}/risks",
                          query_string={"per_page": 100, **args}, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


class Team:
    """An owner, an editor, a viewer and an outsider of one project, and an admin."""

    def __init__(self, app, client):
        accounts = Accounts(app, client)
        self.client = client
        self.owner, self.owner_h = accounts.user()
        self.editor, self.editor_h = accounts.user()
        self.viewer, self.viewer_h = accounts.user()
        self.outsider, self.outsider_h = accounts.user()
        self.admin, self.admin_h = accounts.user(role="admin")
        self.project = make_project(client, self.owner_h)
        self.id = self.project["id"]
        add_member(client, self.owner_h, self.id, self.editor["email"], "editor")
        add_member(client, self.owner_h, self.id, self.viewer["email"], "viewer")


SHARED_APPS = ("console_app",)  # apps that outlive a test: a module's


@pytest.fixture(autouse=True)
def register_kept_afresh(request):
    """What the register keeps between requests (pages, directions) starts empty in every
    test: a test's own app is new and keeps nothing yet (app.extensions), and one the tests
    of a module share is emptied here, so that a test reads only what it wrote."""
    for name in SHARED_APPS:
        if name in request.fixturenames:
            app = request.getfixturevalue(name)
            if isinstance(app, Flask):
                forget(app)


@pytest.fixture
def keyword_app(app, monkeypatch):
    """The app with the keyword stand-in as its model: the tests of the register choose
    which sentences are findings, and match them with the real sentence encoder."""
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", KeywordAnalyzer())
    return app


@pytest.fixture
def team(keyword_app, client):
    return Team(keyword_app, client)


def audit_events(client, admin_headers, event) -> list[dict]:
    """The admin's view of one kind of event, oldest first (at most 100)."""
    response = client.get("/api/v1/admin/audit-events", headers=admin_headers,
                          query_string={"per_page": 100, "event": event})
    assert response.status_code == 200, response.get_json()
    return list(reversed(response.get_json()["items"]))
