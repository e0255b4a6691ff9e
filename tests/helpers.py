"""Helpers the tests share: a client-side account helper and the problem+json check."""

from __future__ import annotations

import os
import threading
import uuid

from service.extensions import db
from tests.real_parts import require_or_skip

PASSWORD = "correct horse battery"


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
            from service.models import User

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


def at_once(app, method: str, path: str, *, parallel: int, headers=None, json=None) -> list:
    """``parallel`` copies of one request, released together by a barrier, each from a
    client of its own; their responses, in the order they came back."""
    barrier = threading.Barrier(parallel)
    responses = []
    lock = threading.Lock()

    def send():
        client = app.test_client()
        barrier.wait()
        response = client.open(path, method=method, headers=headers, json=json)
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=send) for _ in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses
