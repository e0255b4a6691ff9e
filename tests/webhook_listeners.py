"""Loopback ports of a test's own that are no webhook receiver: what an owner who points a
webhook at the service's network would find there. Each is bound (so no other process
takes its port) for as long as the ``with`` block lasts.

- ``closed``: bound, never listening: a connection is refused (ConnectionRefusedError).
- ``silent``: listening, and never says a word: the request waits for an answer.
- ``garbage``: answers any connection with a line that is not HTTP (an SSH banner) and
  hangs up (BadStatusLine).
- ``hangs_up``: accepts and closes at once, before any answer (RemoteDisconnected).
"""

from __future__ import annotations

import socket
import threading
from typing import Self

KINDS = ("closed", "silent", "garbage", "hangs_up")
BANNER = b"SSH-2.0-OpenSSH_9.6\r\n"


class Listener:
    def __init__(self, kind: str):
        assert kind in KINDS, kind
        self.kind = kind
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        if self.kind != "closed":
            self.sock.listen(16)
        if self.kind in ("garbage", "hangs_up"):
            self._thread = threading.Thread(target=self._answer, name=f"{self.kind} listener",
                                            daemon=True)
            self._thread.start()
        return self

    def _answer(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:  # the listening socket was shut: the test is over
                return
            with connection:
                connection.settimeout(30)  # a sender that never hangs up ends the test's wait
                try:
                    connection.recv(65536)  # the request (or its start)
                    if self.kind == "garbage":
                        connection.sendall(BANNER)
                    connection.shutdown(socket.SHUT_WR)
                    while connection.recv(65536):  # the rest, read: a close, never a reset
                        pass
                except OSError:
                    pass  # the sender gave up first

    def __exit__(self, *exc) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in accept
        except OSError:
            pass  # never listening
        self.sock.close()
        if self._thread is not None:
            self._thread.join(30)
            assert not self._thread.is_alive(), f"the {self.kind} listener never stopped"
