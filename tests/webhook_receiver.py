"""A real HTTP receiver on loopback for the webhook tests, and the Standard Webhooks
signature check as the specification gives it (the `standardwebhooks` package is not
installed): what a receiver of Riskscan's deliveries runs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import queue
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

TOLERANCE_S = 5 * 60  # the specification's: older or newer timestamps are refused


def verify(secret: str, headers, body: bytes, *, now: float) -> bool:
    """The specification's verification: the HMAC-SHA256 of ``{id}.{timestamp}.{body}``
    under the secret's base64-decoded bytes after ``whsec_``, compared in constant time
    with each ``v1,`` signature of the space-separated header, within the tolerance."""
    message_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    if abs(now - int(timestamp)) > TOLERANCE_S:
        return False
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{message_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for signature in headers["webhook-signature"].split(" "):
        version, _, value = signature.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes


class Receiver:
    """``ThreadingHTTPServer`` on 127.0.0.1 in a thread. Each request is put on
    ``requests`` as it arrives; its answer is the next of ``answers`` (a status code,
    ``"block"``: wait for ``release`` and then 204, or ``"redirect"``: a 302 to /elsewhere
    on the same server), 204 when none is left."""

    def __init__(self):
        self.requests: queue.Queue[Received] = queue.Queue()
        self.answers: list = []
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.put(Received(self.path, {k.lower(): v for k, v in
                                                           self.headers.items()}, body))
                answer = receiver.answers.pop(0) if receiver.answers else 204
                if answer == "block":
                    receiver.release.wait(60)
                    answer = 204
                if answer == "redirect":
                    self.send_response(302)
                    self.send_header("Location", f"{receiver.url}/elsewhere")
                else:
                    self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def next(self, timeout_s: float = 30) -> Received:
        """The next request to arrive (a failure after ``timeout_s``: none came)."""
        return self.requests.get(timeout=timeout_s)

    def nothing_more(self) -> bool:
        return self.requests.empty()
