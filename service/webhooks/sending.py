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

An attempt that gets no HTTP answer (a closed port, a silent one, a service that is not
HTTP, TLS that fails, an answer cut short or too slow) is recorded in one way, whatever
the cause: NO_ANSWER, after the whole WEBHOOK_TIMEOUT_S, with that as its duration. Its
owner chose the URL, and anything that told the causes apart (an exception's name, how
soon it failed) would make pings a port scanner of the network the service sits in. The
cause goes to the log, for the operator.
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
# What a delivery keeps of the answer for its owner to read: the first 4 KB of the body
# (enough for an error message, bounded whatever the receiver sends) and its headers.
KEPT_BODY_BYTES = 4 * 1024
KEPT_HEADERS, KEPT_HEADER_CHARS = 50, 1000
USER_AGENT = "Riskscan-Webhooks/1"
NO_ANSWER = "No HTTP answer within {seconds:g} s."  # every failure without an HTTP answer

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


def sent_headers(message_id: str, *, timestamp: str = "(the attempt's time, in seconds)",
                 signature: str = "v1,… (withheld: made with the webhook's secret)") -> dict:
    """The headers an attempt sends (but Host); as its owner reads them by default, with
    neither the time of an attempt nor the signature, which is the secret's to make."""
    return {"Content-Type": "application/json", "User-Agent": USER_AGENT,
            "webhook-id": message_id, "webhook-timestamp": timestamp,
            "webhook-signature": signature}


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    response_status: int | None  # None: no answer
    duration_ms: int
    error: str | None  # why it failed, in words
    response_headers: dict | None = None  # the answer's, as kept (KEPT_HEADERS)
    response_body: str | None = None  # its first KEPT_BODY_BYTES, decoded leniently


@dataclass(frozen=True)
class Answer:
    """What an HTTP answer said, as a delivery keeps it."""

    status: int
    headers: dict
    body: str


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
        self._over = threading.Event()
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
            if not self._stopped:
                self._passed = True
                if self._watched is not None:
                    self._shut(self._watched)
        self._over.set()

    def wait_out(self) -> None:
        """Return once the deadline has passed (call it before ``stop``)."""
        self._over.wait(max(0.0, self.left()) + 1.0)  # the timer's; bounded if it is late

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
    ``timeout_s`` is delivered, anything else a failure: an HTTP answer with its status,
    none (whatever the cause) as NO_ANSWER at the deadline. What fails on our side
    (judging the URL aside, neither the network nor the receiver) raises."""
    started = time.perf_counter()
    deadline = Deadline(timeout_s)  # from the start: the name's lookup counts too
    try:
        try:
            target = judge(url, allowed)  # again: the name may resolve elsewhere now
        except Refused as refused:
            log.info("webhook delivery %s refused: %s", message_id, refused.why,
                     extra={"fields": {"delivery_id": message_id, "why": refused.why}})
            return Outcome(False, None, round((time.perf_counter() - started) * 1000),
                           f"Refused: {refused}")
        timestamp = int(time.time())
        headers = {"Host": target.host_header,
                   **sent_headers(message_id, timestamp=str(timestamp),
                                  signature=sign(secrets, message_id, timestamp, body))}
        answer = _exchange(target, headers, body.encode(), deadline, message_id)
    finally:
        passed = deadline.stop()
    if answer is None or passed:  # no answer, or one finished only as the deadline fell
        return Outcome(False, None, round(timeout_s * 1000), NO_ANSWER.format(
            seconds=timeout_s))
    duration_ms = round((time.perf_counter() - started) * 1000)
    status = answer.status
    error = (None if 200 <= status < 300
             else f"Answered {status}, a redirect: not followed." if 300 <= status < 400
             else f"Answered {status}.")
    return Outcome(error is None, status, duration_ms, error, answer.headers, answer.body)


def _exchange(target: Target, headers: dict, payload: bytes, deadline: Deadline,
              message_id: str) -> Answer | None:
    """The receiver's HTTP answer, or None when there was no HTTP answer: then only once
    the deadline has passed, the cause logged. Every exception counts as no answer, the
    network's and the receiver's as the expected ones, anything else (maybe ours) with its
    traceback: none may reach the owner in words of its own."""
    try:
        return _post(target, headers, payload, deadline)
    except Exception as error:
        cause = f"{type(error).__name__}: {error}".rstrip(": ")
        fields = {"delivery_id": message_id, "address": target.address,
                  "port": target.port, "cause": cause}
        if isinstance(error, (http.client.HTTPException, OSError)):
            log.info("webhook delivery %s: no HTTP answer from %s port %s (%s)", message_id,
                     target.address, target.port, cause, extra={"fields": fields})
        else:
            log.exception("webhook delivery %s: no HTTP answer from %s port %s (%s)",
                          message_id, target.address, target.port, cause,
                          extra={"fields": fields})
        deadline.wait_out()  # a refused connection takes as long as a silent port
        return None


@functools.cache
def _tls() -> ssl.SSLContext:
    """The system's trusted certificates, host names checked (made once: loading them
    takes a while)."""
    return ssl.create_default_context()


def _post(target: Target, headers: dict, payload: bytes, deadline: Deadline) -> Answer:
    """The answer, its body read (up to MAX_ANSWER_BYTES) within the deadline."""
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
            body = answer.read(MAX_ANSWER_BYTES)  # what a well-behaved receiver says
            kept = {name: value[:KEPT_HEADER_CHARS]
                    for name, value in answer.getheaders()[:KEPT_HEADERS]}
            return Answer(answer.status, kept,
                          body[:KEPT_BODY_BYTES].decode("utf-8", errors="replace"))
        finally:
            connection.close()
    finally:
        sock.close()
