"""A Redis server of a test module's own (the ``redis_url`` fixture): shared rate limits,
the jobs' Redis broker and the trainings' queue all test against the real program."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest

from reliability.servers import listens
from tests.real_parts import require_or_skip

REDIS_SERVER = shutil.which("redis-server")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    """A Redis server of the module's own. The port is free when chosen, but another process
    may take it before the server binds it: the server then exits while the port still
    answers (the other's), so readiness is our process alive *and* the port answering, and a
    server that lost its port is started again on another."""
    if REDIS_SERVER is None:
        require_or_skip("redis-server is not installed (.ci/run installs it)")
    folder = tmp_path_factory.mktemp("redis")
    for _ in range(5):
        port = free_port()
        server = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1",
                                   "--save", "", "--appendonly", "no", "--dir", str(folder)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if _serving(server, port):
            break
        server.kill()
        server.wait(timeout=10)
    else:
        pytest.fail("redis-server could not start on a free port in five tries")
    yield f"redis://127.0.0.1:{port}/0"
    server.terminate()
    server.wait(timeout=10)


def _serving(server: subprocess.Popen, port: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and server.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            time.sleep(0.05)
            continue
        # The answer may be another process's, on the port ours lost: ours must hold it.
        return listens(server.pid, port)
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
