"""A request's database connection (service/extensions.py, ``connection``): the token check
and the busy reads run on it without an ORM session, the session joins it when a view
writes, and it is let go of where the session is closed before a model runs. On SQLite and
MariaDB, through the API."""

from __future__ import annotations

import threading
from collections import Counter
from contextlib import contextmanager

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from service.extensions import db
from service.serving.holder import current_analyzers
from tests.helpers import Accounts, api_key_headers
from tests.scanning import TEXT, created, post_text


class HeldConnections:
    """How many pooled connections each thread holds, and the most it has held at once."""

    def __init__(self):
        self.held: Counter = Counter()
        self.most: Counter = Counter()
        self._lock = threading.Lock()

    def checkout(self, *_):
        with self._lock:
            thread = threading.get_ident()
            self.held[thread] += 1
            self.most[thread] = max(self.most[thread], self.held[thread])

    def checkin(self, *_):
        with self._lock:
            self.held[threading.get_ident()] -= 1

    def now(self) -> int:
        return self.held[threading.get_ident()]

    def most_at_once(self) -> int:
        return self.most[threading.get_ident()]


@contextmanager
def held_connections(app):
    with app.app_context():
        pool = db.engine.pool
    held = HeldConnections()
    event.listen(pool, "checkout", held.checkout)
    event.listen(pool, "checkin", held.checkin)
    try:
        yield held
    finally:
        event.remove(pool, "checkout", held.checkout)
        event.remove(pool, "checkin", held.checkin)


@pytest.fixture
def headers(scan_app, scan_client):
    return Accounts(scan_app, scan_client).user()[1]


def test_a_request_holds_one_connection_at_most(scan_app, scan_client, headers):
    """The token check (a token's, an API key's) reads on a connection and the view writes
    through the session: both on the one connection, so that a pool sized for the threads
    is never short."""
    with held_connections(scan_app) as held:
        scan = created(post_text(scan_client, headers, TEXT))
        project = scan_client.post("/api/v1/projects", json={"name": "Apollo"},
                                   headers=headers)
        assert project.status_code == 201, project.get_json()
        moved = scan_client.patch(f"/api/v1/scans/{scan['scan_id']}", headers=headers,
                                  json={"project_id": project.get_json()["id"]})
        assert moved.status_code == 200, moved.get_json()
        listed = scan_client.get("/api/v1/scans", headers=headers)
        assert [item["scan_id"] for item in listed.get_json()["items"]] == [scan["scan_id"]]
        # An API key's first use also writes its last-used time and an audit event.
        key = api_key_headers(scan_client, headers, "scans:read", "scans:write")
        by_key = created(post_text(scan_client, key, TEXT))
        listed = scan_client.get("/api/v1/scans", headers=key)
        assert by_key["scan_id"] in {item["scan_id"] for item in listed.get_json()["items"]}
        assert held.most_at_once() == 1
        assert held.now() == 0  # every request gave its connection back


def test_no_connection_is_held_while_the_model_reads(scan_app, scan_client, headers,
                                                      monkeypatch):
    """A scan closes its session before the model runs (seconds, on a long document):
    the connection its token check opened is let go of too."""
    with scan_app.app_context():
        analyzer = current_analyzers().pick(False)
    analyze = analyzer.analyze
    seen = []
    with held_connections(scan_app) as held:
        def analyze_counting(*args, **kwargs):
            seen.append(held.now())
            return analyze(*args, **kwargs)

        monkeypatch.setattr(analyzer, "analyze", analyze_counting)
        scan = created(post_text(scan_client, headers, TEXT))
    assert scan["data"], scan
    assert seen == [0]


def test_the_scans_list_builds_no_orm_session(scan_app, scan_client, headers):
    """The busiest read (bench/list_scans.py) stays off the ORM: its token check and its
    page run on the request's connection alone."""
    scans = [created(post_text(scan_client, headers, TEXT))["scan_id"] for _ in range(3)]
    begun = []

    def count(session, transaction, connection):
        begun.append(session)

    event.listen(Session, "after_begin", count)
    try:
        listed = scan_client.get("/api/v1/scans?per_page=2", headers=headers)
    finally:
        event.remove(Session, "after_begin", count)
    page = listed.get_json()
    assert [item["scan_id"] for item in page["items"]] == scans[::-1][:2]
    assert page["total"] == 3
    assert begun == []
