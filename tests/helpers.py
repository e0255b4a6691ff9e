"""Helpers the tests share: a client-side account helper and the problem+json check."""

from __future__ import annotations

import os
import threading
import time
import uuid

import requests

from service.db import AuditEvent
from service.extensions import db
from tests.real_parts import require_or_skip

PASSWORD = "correct horse battery"
#: A well-formed id that no row has. Fixed, not drawn: a test id holding it reads the same in
#: every collection (each pytest-xdist worker collects, and they must agree).
MISSING = "00000000-0000-4000-8000-000000000000"


def mysql_server_url(reason: str) -> str:
    """TEST_MYSQL_URL; without it the test is skipped for ``reason``, or fails where CI
    requires the real parts (tests/real_parts.py)."""
    url = os.environ.get("TEST_MYSQL_URL")
    if not url:
        require_or_skip(f"TEST_MYSQL_URL is not set: {reason}", mysql=True)
    return url


class Accounts:
    """Registers users and logs them in through the API, as a client would."""

    def __init__(self, app, client):
        self.app = app
        self.client = client

    def register(self, email=None, password=PASSWORD):
        email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
        response = self.client.post("/api/v1/auth/register",
                                    json={"email": email, "password": password})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def login(self, email, password=PASSWORD):
        response = self.client.post("/api/v1/auth/login",
                                    json={"email": email, "password": password})
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def user(self, role="user", email=None):
        """A new user with a role; returns (user, headers with its bearer token)."""
        user = self.register(email)
        if role != "user":
            from service.db import User

            with self.app.app_context():
                db.session.get(User, user["id"]).role = role
                db.session.commit()
            user["role"] = role
        tokens = self.login(user["email"])
        user["tokens"] = tokens
        return user, {"Authorization": f"Bearer {tokens['access_token']}"}


def api_key_headers(client, headers, *scopes: str) -> dict:
    """Headers that present a new API key with ``scopes``, made by the user of ``headers``."""
    created = client.post("/api/v1/auth/api-keys", headers=headers,
                          json={"name": "ops", "scopes": list(scopes)})
    assert created.status_code == 201, created.get_json()
    return {"Authorization": f"Bearer {created.get_json()['key']}"}


def assert_problem(response, status, *fields):
    """The response is problem+json with this status (and these field errors)."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status
    assert body["title"] and body["detail"] and body["type"]
    assert "Traceback" not in response.get_data(as_text=True)
    for field in fields:
        assert field in body.get("errors", {}), body
    return body


#: How long a race's requests may take before the test fails: far past any request of the
#: suite, so that only a deadlock (or a request held on an event nobody sets) reaches it.
RACE_TIMEOUT_S = 120.0


def at_once(app, method: str, path: str, *, parallel: int, headers=None, json=None) -> list:
    """``parallel`` copies of one request, released together by a barrier, each from a
    client of its own; their responses, in the order they came back."""
    responses = []
    lock = threading.Lock()

    def send(client, barrier):
        barrier.wait()
        response = client.open(path, method=method, headers=headers, json=json)
        with lock:
            responses.append(response)

    _race(app, [send] * parallel)
    return responses


def together(app, *requests) -> list:
    """Each ``(method, path, headers, json)`` from a client of its own, released together
    by a barrier; their responses in the order given."""
    answers = [None] * len(requests)

    def sender(index, method, path, headers, json):
        def send(client, barrier):
            barrier.wait()
            answers[index] = client.open(path, method=method, headers=headers, json=json)
        return send

    _race(app, [sender(index, *request) for index, request in enumerate(requests)])
    return answers


def _race(app, sends) -> None:
    """Run each ``send(client, barrier)`` on a thread of its own; fail, naming the cause,
    when one raised or when one is still running after RACE_TIMEOUT_S (a deadlock would
    otherwise hang the run: the threads are daemons, left behind)."""
    barrier = threading.Barrier(len(sends), timeout=RACE_TIMEOUT_S)
    errors = []

    def run(send):
        try:
            send(app.test_client(), barrier)
        except BaseException as error:  # noqa: BLE001  (re-raised in the test's thread)
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(send,), daemon=True) for send in sends]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + RACE_TIMEOUT_S
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    stuck = sum(thread.is_alive() for thread in threads)
    if stuck:
        raise AssertionError(f"{stuck} of {len(threads)} racing requests still running after "
                             f"{RACE_TIMEOUT_S:.0f} s: a deadlock?")
    if errors:
        raise errors[0]


class Sent:
    """One request on a thread of its own, from a client of its own; ``answer()`` waits
    for its response, failing (not hanging) after RACE_TIMEOUT_S."""

    def __init__(self, app, method: str, path: str, headers=None, json=None):
        self.where = f"{method} {path}"
        self._done = threading.Event()
        self._response = self._error = None

        def send():
            try:
                self._response = app.test_client().open(path, method=method,
                                                         headers=headers, json=json)
            except BaseException as error:  # noqa: BLE001  (raised by answer())
                self._error = error
            finally:
                self._done.set()

        threading.Thread(target=send, daemon=True).start()

    def answer(self):
        assert self._done.wait(RACE_TIMEOUT_S), (
            f"{self.where} still running after {RACE_TIMEOUT_S:.0f} s: a deadlock?")
        if self._error is not None:
            raise self._error
        return self._response


def row_is_held(app, model, **keys) -> bool:
    """Whether another transaction holds what writing ``model``'s row with ``keys`` needs,
    asked without waiting: the row's lock on MySQL (FOR UPDATE NOWAIT), the database's
    write lock on SQLite (where row locks do not exist)."""
    from sqlalchemy import select
    from sqlalchemy.exc import DBAPIError

    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            import sqlite3

            probe = sqlite3.connect(db.engine.url.database, timeout=0, isolation_level=None)
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.execute("ROLLBACK")
                return False
            except sqlite3.OperationalError:  # database is locked
                return True
            finally:
                probe.close()
        where = [getattr(model, name) == value for name, value in keys.items()]
        with db.engine.connect() as connection:
            try:
                found = connection.execute(select(model.__table__).where(*where)
                                           .with_for_update(nowait=True)).first()
            except DBAPIError as error:
                if error.orig.args[0] in (1205, 3572):  # MariaDB's and MySQL's "locked"
                    return True
                raise
            finally:
                connection.rollback()
        assert found is not None, f"no {model.__name__} row with {keys}"
        return False


def ready(base: str) -> bool:
    """/ready is 200 (while the process warms up it is 503, or slow to answer)."""
    try:
        return requests.get(f"{base}/ready", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def audit_rows(app, event: str) -> list[AuditEvent]:
    """The audit log's rows of ``event``, oldest first, read in an app context of their own
    (detached: their fields stay readable after it)."""
    from sqlalchemy import select

    with app.app_context():
        found = db.session.scalars(select(AuditEvent).where(AuditEvent.event == event)
                                   .order_by(AuditEvent.id)).all()
        db.session.expunge_all()
        db.session.remove()
    return found
