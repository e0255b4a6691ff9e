"""A silent identity provider costs one request its timeout, never everyone in turn.

Issue #75, item 4: with OIDC_API_AUDIENCE set and a provider that accepts connections but
never answers, anonymous requests bearing a made-up JWT queued behind one lock, each
fetching the keys again. Here the provider is a loopback socket that accepts and holds
every connection until the test lets go; while the first request is held at it, the
others and /health must be answered, and the provider must have seen one connection.
"""

from __future__ import annotations

import base64
import json
import socket
import threading

import pytest

from tests.helpers import assert_problem

ME = "/api/v1/auth/me"


def made_up_jwt(kid: str) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'kid': kid})}.{part({'sub': 'nobody'})}.c2lnbmF0dXJl"


class SilentProvider:
    """Accepts connections, counts them, and answers none until ``release``."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.held: list[socket.socket] = []
        self.first = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.socket.getsockname()[1]}"

    def _accept(self):
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:
                return
            self.held.append(connection)
            self.first.set()

    def release(self):
        for connection in self.held:
            connection.close()

    def close(self):
        self.release()
        self.socket.close()


@pytest.fixture
def silent():
    provider = SilentProvider()
    yield provider
    provider.close()


def test_a_silent_provider_holds_one_request_and_answers_the_others_at_once(make_app, silent):
    # A timeout (the longest allowed) far longer than the test: the release ends the wait.
    app = make_app(OIDC_ISSUER=silent.issuer, OIDC_CLIENT_ID="riskscan",
                   OIDC_API_AUDIENCE="riskscan-api", SSO_TIMEOUT_S=60.0)
    answers = {}
    first = threading.Thread(target=lambda: answers.setdefault("first", app.test_client().get(
        ME, headers={"Authorization": f"Bearer {made_up_jwt('k0')}"})))
    first.start()
    assert silent.first.wait(60), "the first request never reached the provider"

    client = app.test_client()
    for kid in range(1, 8):
        assert_problem(client.get(ME, headers={
            "Authorization": f"Bearer {made_up_jwt(f'k{kid}')}"}), 401)
    assert client.get("/health").status_code == 200
    assert first.is_alive()  # all of the above was answered while it was held
    assert len(silent.held) == 1

    silent.release()
    first.join(60)
    assert answers["first"].status_code == 401
    # The failure is remembered a while: the next token is refused without a new connection.
    assert_problem(client.get(ME, headers={"Authorization": f"Bearer {made_up_jwt('k9')}"}),
                   401)
    assert len(silent.held) == 1
