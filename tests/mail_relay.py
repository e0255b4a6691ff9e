"""A real SMTP server on loopback for the mail tests (aiosmtpd, the server the aio-libs
keep): it takes messages as a company's relay would, with a login over STARTTLS where a test
asks for it, and can be stopped and started again on the same port (a relay down, then
back). A test waits on the messages themselves (``next``), never on a clock. It stops only
once no client holds a connection to it: a session cut by a stop left its transport to the
garbage collector, whose warnings then failed whichever test ran next. A pytest plugin
(tests/conftest.py): its ``relay`` fixture, a plain one on a free port, is every module's."""

from __future__ import annotations

import queue
import socket
import ssl
import threading
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

USER, PASSWORD = "riskscan", "relay-password-0123"


class _Handler:
    def __init__(self, received: queue.Queue):
        self.received = received

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd calls it by this name
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        self.received.put((envelope.rcpt_tos, message))
        return "250 Message accepted for delivery"


def _authenticator(server, session, envelope, mechanism, auth_data):
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode()
          and auth_data.password == PASSWORD.encode())
    return AuthResult(success=ok, handled=False)  # the server answers 235 or 535


class _Sessions:
    """The connections the relay holds open, waited on by ``Relay.stop``."""

    def __init__(self):
        self._open: set[int] = set()
        self._changed = threading.Condition()

    def opened(self, session: SMTP) -> None:
        with self._changed:
            self._open.add(id(session))

    def closed(self, session: SMTP) -> None:
        with self._changed:
            self._open.discard(id(session))
            self._changed.notify_all()

    def none_open(self, timeout_s: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: not self._open, timeout_s)


class _Session(SMTP):
    """aiosmtpd's session, counted while its connection is open (STARTTLS makes it again
    on the same session: counted once)."""

    def __init__(self, sessions: _Sessions, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sessions = sessions

    def connection_made(self, transport):
        self._sessions.opened(self)
        super().connection_made(transport)

    def connection_lost(self, error):
        super().connection_lost(error)
        self._sessions.closed(self)


class _Controller(Controller):
    def __init__(self, sessions: _Sessions, *args, **kwargs):
        self._sessions = sessions
        super().__init__(*args, **kwargs)

    def factory(self):
        return _Session(self._sessions, self.handler, **self.SMTP_kwargs)


class Relay:
    """The relay: ``start()``, ``stop()``, the messages it took (``next``, ``nothing_more``).
    ``tls``: (cert, key) for the name localhost (testkit.webhook_receiver.certificate) to
    offer STARTTLS and require a login after it."""

    def __init__(self, port: int = 0, tls: tuple[Path, Path] | None = None):
        self.received: queue.Queue = queue.Queue()
        self.tls = tls
        self.port = port
        self._controller: Controller | None = None
        self._sessions = _Sessions()

    def start(self) -> Relay:
        options = {}
        if self.tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*map(str, self.tls))
            options = {"tls_context": context, "require_starttls": True,
                       "authenticator": _authenticator, "auth_required": True}
        self._controller = _Controller(self._sessions, _Handler(self.received),
                                       hostname="127.0.0.1", port=self.port,
                                       server_hostname="127.0.0.1", ready_timeout=30, **options)
        self._controller.start()
        self.port = self._controller.port
        return self

    def stop(self) -> None:
        """Stop once every client has said QUIT (a test that leaves a message in flight
        fails here, named, rather than a later test at garbage collection)."""
        if self._controller is not None:
            assert self._sessions.none_open(30), "a client kept its connection to the relay"
            self._controller.stop()
            self._controller = None

    def next(self, timeout_s: float = 30) -> tuple[list[str], EmailMessage]:
        """The next message the relay took (waiting for it), with its envelope's recipients."""
        return self.received.get(timeout=timeout_s)

    def nothing_more(self) -> bool:
        return self.received.empty()

    def settings(self, **more) -> dict:
        """The service's settings for this relay."""
        values = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": self.port,
                  "MAIL_FROM": "Riskscan <riskscan@example.com>", "SMTP_TIMEOUT_S": 10.0}
        if self.tls is None:
            values["SMTP_SECURITY"] = "none"
        else:
            # The certificate's name: the relay is checked as a company's would be.
            values.update(SMTP_HOST="localhost", SMTP_SECURITY="starttls", SMTP_USERNAME=USER,
                          SMTP_PASSWORD=PASSWORD, SMTP_CA_FILE=str(self.tls[0]))
        return {**values, **more}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def relay():
    started = Relay(free_port()).start()
    yield started
    started.stop()
