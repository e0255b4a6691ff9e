"""A real HTTP receiver on loopback for the webhook tests. What a receiver of Riskscan's
deliveries checks of each is tests/webhooks.verify (the `standardwebhooks` package)."""

from __future__ import annotations

import datetime
import queue
import ssl
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def certificate(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for the DNS name ``name`` and its key, as PEM files: what
    an HTTPS receiver serves, and (trusted) what a sender checks it against."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / f"{name}.crt", folder / f"{name}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes


HELD_LIMIT_S = 60.0  # the longest a request is held ("block", "drip") before it is a failure
DRIP_S = 0.05  # between two bytes of a "drip"


class Receiver:
    """``ThreadingHTTPServer`` on 127.0.0.1 in a thread. Each request is put on
    ``requests`` as it arrives; its answer is the next of ``answers`` (a status code, a
    (status code, body) pair, ``"redirect"``: a 302 to /elsewhere on the same server,
    ``"block"``: nothing until
    ``release`` is set, then 204, or ``"drip"``: the 204's status line, then one byte of a
    header every DRIP_S until ``release``, then the rest), 204 when none is left.

    A request held ``held_limit_s`` without a ``release`` is not answered at all, and is a
    failure that leaving the ``with`` block raises: never a 204 that looks like success.
    ``held`` counts the requests being held now, ``cut`` those whose sender hung up while
    held, ``most_at_once`` the most requests it was answering at one time."""

    def __init__(self, *, held_limit_s: float = HELD_LIMIT_S,
                 tls: tuple[Path, Path] | None = None):
        self.held_limit_s = held_limit_s
        self.requests: queue.Queue[Received] = queue.Queue()
        self.answers: list = []
        self.release = threading.Event()
        self.held = 0
        self.cut = 0
        self.answering = self.most_at_once = 0
        self.problems: list[str] = []
        self._lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                with receiver._lock:
                    receiver.answering += 1
                    receiver.most_at_once = max(receiver.most_at_once, receiver.answering)
                try:
                    self._answer()
                finally:
                    with receiver._lock:
                        receiver.answering -= 1

            def _answer(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.put(Received(self.path, {k.lower(): v for k, v in
                                                           self.headers.items()}, body))
                answer = receiver.answers.pop(0) if receiver.answers else 204
                if answer in ("block", "drip"):
                    self.close_connection = True
                    receiver._hold(self, answer)
                    return
                said = b""
                if answer == "redirect":
                    self.send_response(302)
                    self.send_header("Location", f"{receiver.url}/elsewhere")
                elif isinstance(answer, tuple):  # (status, body): a receiver that explains
                    answer, said = answer
                    self.send_response(answer)
                    self.send_header("Content-Type", "text/plain; charset=utf-8")
                else:
                    self.send_response(answer)
                self.send_header("Content-Length", str(len(said)))
                self.end_headers()
                self.wfile.write(said)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        if tls is not None:  # HTTPS with this certificate and key
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _hold(self, handler, how: str) -> None:
        with self._lock:
            self.held += 1
            self._lock.notify_all()
        try:
            if how == "drip":
                handler.wfile.write(b"HTTP/1.1 204 No Content\r\nX-Drip: ")
            deadline = time.monotonic() + self.held_limit_s
            while not self.release.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    with self._lock:
                        self.problems.append(f"a request to {handler.path} was held "
                                             f"{self.held_limit_s:g} s and never released")
                    return
                if how == "drip":
                    handler.wfile.write(b"x")
                self.release.wait(min(left, DRIP_S) if how == "drip" else left)
            handler.wfile.write(b"\r\nContent-Length: 0\r\n\r\n" if how == "drip" else
                                b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        except OSError:  # the sender hung up
            with self._lock:
                self.cut += 1
        finally:
            with self._lock:
                self.held -= 1
                self._lock.notify_all()

    def wait_for(self, predicate, timeout_s: float = 30) -> bool:
        """Wait until ``predicate()`` holds of ``held`` and ``cut``; False if ``timeout_s``
        passed first."""
        with self._lock:
            return self._lock.wait_for(predicate, timeout_s)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, failed, *_):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        if failed is None:
            assert not self.problems, self.problems

    def next(self, timeout_s: float = 30) -> Received:
        """The next request to arrive (a failure after ``timeout_s``: none came)."""
        try:
            return self.requests.get(timeout=timeout_s)
        except queue.Empty:
            raise AssertionError(f"no request arrived within {timeout_s:g} s") from None

    def nothing_more(self) -> bool:
        return self.requests.empty()
