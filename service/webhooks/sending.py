"""One HTTP attempt of a delivery, signed as the Standard Webhooks specification says.

Headers ``webhook-id`` (the delivery's id, the same on every attempt: receivers drop
repeats by it), ``webhook-timestamp`` (this attempt's, in seconds: receivers refuse old
ones) and ``webhook-signature`` (``v1,`` and the base64 HMAC-SHA256 of
``{id}.{timestamp}.{body}`` under the secret's bytes, the base64 after ``whsec_``).

The connection goes to the address targets.judge approved, named by its host for the Host
header and TLS (urllib3 with ``server_hostname``), with short timeouts, no redirect
followed (a 3xx is a failed attempt), and at most MAX_ANSWER_BYTES of the answer read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

import urllib3

from service.webhooks.targets import Refused, judge

SECRET_PREFIX = "whsec_"
MAX_ANSWER_BYTES = 64 * 1024
USER_AGENT = "Riskscan-Webhooks/1"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: str) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{message_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


@dataclass(frozen=True)
class Outcome:
    delivered: bool
    response_status: int | None  # None: no answer
    duration_ms: int
    error: str | None  # why it failed, in words


def send(url: str, *, secret: str, message_id: str, body: str, allowed: tuple,
         timeout_s: float) -> Outcome:
    """POST ``body`` to ``url``; a 2xx answer is delivered, anything else a failure."""
    started = time.perf_counter()

    def outcome(status: int | None, error: str | None) -> Outcome:
        return Outcome(error is None, status,
                       round((time.perf_counter() - started) * 1000), error)

    try:
        target = judge(url, allowed)  # again: the name may resolve elsewhere now
    except Refused as refused:
        return outcome(None, f"Refused: {refused}")
    timestamp = int(time.time())
    headers = {"Host": target.host_header, "Content-Type": "application/json",
               "User-Agent": USER_AGENT, "webhook-id": message_id,
               "webhook-timestamp": str(timestamp),
               "webhook-signature": sign(secret, message_id, timestamp, body)}
    timeout = urllib3.Timeout(connect=timeout_s, read=timeout_s)
    if target.scheme == "https":
        pool = urllib3.HTTPSConnectionPool(target.address, target.port, timeout=timeout,
                                           retries=False, maxsize=1,
                                           server_hostname=target.host,
                                           assert_hostname=target.host)
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, timeout=timeout,
                                          retries=False, maxsize=1)
    try:
        with pool:
            answer = pool.urlopen("POST", target.path, body=body.encode(), headers=headers,
                                  redirect=False, retries=False, preload_content=False,
                                  assert_same_host=False)
            try:
                answer.read(MAX_ANSWER_BYTES)  # what a well-behaved receiver says; no more
            finally:
                answer.close()
    except urllib3.exceptions.TimeoutError:
        return outcome(None, f"No answer within {timeout_s:g} s.")
    except (urllib3.exceptions.HTTPError, OSError) as failed:
        return outcome(None, f"Could not be sent: {type(failed).__name__}.")
    if 200 <= answer.status < 300:
        return outcome(answer.status, None)
    if 300 <= answer.status < 400:
        return outcome(answer.status, f"Answered {answer.status}, a redirect: not followed.")
    return outcome(answer.status, f"Answered {answer.status}.")
