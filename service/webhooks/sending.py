"""One HTTP attempt of a delivery, signed as the Standard Webhooks specification says.

Headers ``webhook-id`` (the delivery's id, the same on every attempt: receivers drop
repeats by it), ``webhook-timestamp`` (this attempt's, in seconds: receivers refuse old
ones) and ``webhook-signature`` (``v1,`` and the base64 HMAC-SHA256 of
``{id}.{timestamp}.{body}`` under the secret's bytes, the base64 after ``whsec_``). After a
rotation, for its overlap, the header holds one such signature per secret, space-separated
as the specification allows: a receiver holding any of them verifies (``signing_secrets``).

The connection goes to the address targets.judge approved, named by its host (IDNA) for
the Host header and TLS's server name, no redirect followed (a 3xx is a failed attempt),
and at most MAX_ANSWER_BYTES of the answer read. The attempt ends WEBHOOK_TIMEOUT_S after
it began, all told: a socket's timeout bounds each read, not the answer, and a receiver
that sends a byte a second would hold a sender as long as it liked; at the deadline a
timer shuts the connection down, whatever it is waiting for.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import http.client
import logging
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from secrets import token_bytes

from service.webhooks.targets import Refused, Target, judge

SECRET_PREFIX = "whsec_"
MAX_PREVIOUS_SECRETS = 3  # a rotation's overlap signs with at most these many old secrets
MAX_ANSWER_BYTES = 64 * 1024
USER_AGENT = "Riskscan-Webhooks/1"

log = logging.getLogger("riskscan.webhooks")


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(token_bytes(32)).decode()


def sign(secrets: Sequence[str], message_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` header: a signature under each secret, space-separated."""
    signed = f"{message_id}.{timestamp}.{body}".encode()

    def signature(secret: str) -> str:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
        return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()

    return " ".join(signature(secret) for secret in secrets)


def signing_secrets(secret: str, previous: list | None, until: datetime | None,
                    now: datetime) -> list[str]:
    """The secrets a delivery is signed with now: the webhook's, and the ones rotations
    replaced (``previous``) until their overlap ends."""
    return [secret, *(previous or ())] if until is not None and now < until else [secret]


def rotated(secret: str, previous: list | None, until: datetime | None, now: datetime,
            overlap: timedelta) -> tuple[str, list | None, datetime | None]:
    """A rotation: a new secret, and what signs beside it for ``overlap`` from ``now``: the
    secret it replaces and those still in their overlap, the newest MAX_PREVIOUS_SECRETS
    (a rotation retried, or raced, loses none that a receiver may hold). The overlap of the
    earlier ones is extended with it."""
    if overlap <= timedelta(0):
        return new_secret(), None, None
    kept = signing_secrets(secret, previous, until, now)[:MAX_PREVIOUS_SECRETS]
    return new_secret(), kept, now + overlap


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    response_status: int | None  # None: no answer
    duration_ms: int
    error: str | None  # why it failed, in words


class Deadline:
    """Shuts down the connection ``watch`` is given once ``seconds`` have passed since it
    was made; ``stop`` says whether they had. The shutdown goes to a duplicate of the
    socket, so that it reaches the connection even inside TLS, and never another file that
    reused a closed descriptor."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._timer = threading.Timer(seconds, self._hang_up)
        self._timer.daemon = True
        self._lock = threading.Lock()
        self._watched: socket.socket | None = None
        self._passed = self._stopped = False
        self._ends = time.monotonic() + seconds
        self._timer.start()

    def left(self) -> float:
        return self._ends - time.monotonic()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._watched = sock.dup()
            if self._passed:
                self._shut(self._watched)

    def _hang_up(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._passed = True
            if self._watched is not None:
                self._shut(self._watched)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # closed by the other side already

    def stop(self) -> bool:
        """End the watch; True if the deadline had passed."""
        self._timer.cancel()
        with self._lock:
            self._stopped = True
            if self._watched is not None:
                self._watched.close()
            return self._passed


def send(url: str, *, secrets: Sequence[str], message_id: str, body: str, allowed: tuple,
         timeout_s: float) -> Outcome:
    """POST ``body`` to ``url``, signed with each of ``secrets``; a 2xx answer within
    ``timeout_s`` is delivered, anything else a failure. What fails on our side (neither
    the network nor the receiver) raises."""
    started = time.perf_counter()

    def outcome(status: int | None, error: str | None) -> Outcome:
        return Outcome(error is None, status,
                       round((time.perf_counter() - started) * 1000), error)

    deadline = Deadline(timeout_s)  # from the start: the name's lookup counts too
    status = refused = failed = None
    try:
        target = judge(url, allowed)  # again: the name may resolve elsewhere now
        timestamp = int(time.time())
        headers = {"Host": target.host_header, "Content-Type": "application/json",
                   "User-Agent": USER_AGENT, "webhook-id": message_id,
                   "webhook-timestamp": str(timestamp),
                   "webhook-signature": sign(secrets, message_id, timestamp, body)}
        status = _post(target, headers, body.encode(), deadline)
    except Refused as refusal:
        refused = refusal
    except (http.client.HTTPException, OSError) as error:  # the network's or the receiver's
        failed = error
    finally:
        passed = deadline.stop()
    if refused is not None:
        log.info("webhook delivery %s refused: %s", message_id, refused.why,
                 extra={"fields": {"delivery_id": message_id, "why": refused.why}})
        return outcome(None, f"Refused: {refused}")
    if passed or isinstance(failed, TimeoutError):  # however the hang-up surfaced
        return outcome(None, f"No answer within {timeout_s:g} s.")
    if failed is not None:
        return outcome(None, f"Could not be sent: {type(failed).__name__}.")
    if 200 <= status < 300:
        return outcome(status, None)
    if 300 <= status < 400:
        return outcome(status, f"Answered {status}, a redirect: not followed.")
    return outcome(status, f"Answered {status}.")


@functools.cache
def _tls() -> ssl.SSLContext:
    """The system's trusted certificates, host names checked (made once: loading them
    takes a while)."""
    return ssl.create_default_context()


def _post(target: Target, headers: dict, payload: bytes, deadline: Deadline) -> int:
    """The answer's status, its body read (up to MAX_ANSWER_BYTES) within the deadline."""
    left = deadline.left()
    if left <= 0:
        raise TimeoutError
    sock = socket.create_connection((target.address, target.port), timeout=left)
    try:
        deadline.watch(sock)
        if target.scheme == "https":
            sock = _tls().wrap_socket(sock, server_hostname=target.host)
        connection = http.client.HTTPConnection(target.address, target.port)
        connection.sock = sock  # connected to the judged address: never resolved again
        try:
            connection.request("POST", target.path, body=payload, headers=headers)
            answer = connection.getresponse()
            answer.read(MAX_ANSWER_BYTES)  # what a well-behaved receiver says; no more
            return answer.status
        finally:
            connection.close()
    finally:
        sock.close()
