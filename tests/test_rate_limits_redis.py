"""Rate limits shared by several processes through a real Redis server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid

import pytest
import requests

from reliability.servers import listens
from tests.helpers import PASSWORD, assert_problem
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


@pytest.fixture
def server_process(make_app, redis_url, tmp_path):
    """A second server process (python -m service) on the same database and Redis."""
    app = make_app(RATE_LIMIT_STORAGE_URI=redis_url, RATE_LIMIT_LOGIN_ACCOUNT="3 per minute")
    settings = app.config["SETTINGS"]
    port = free_port()
    env = {**os.environ, "RISKSCAN_ENV": "testing", "SECRET_KEY": settings.SECRET_KEY,
           "DATABASE_URL": settings.DATABASE_URL, "MODEL_DIR": "off", "PORT": str(port),
           "RATE_LIMIT_STORAGE_URI": redis_url, "RATE_LIMIT_LOGIN_ACCOUNT": "3 per minute",
           "UPLOAD_DIR": str(tmp_path / "uploads"), "LOG_LEVEL": "WARNING"}
    process = subprocess.Popen([sys.executable, "-m", "service"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    ours = False
    while not ours and time.monotonic() < deadline and process.poll() is None:
        try:
            answered = requests.get(f"{base}/health", timeout=1).status_code == 200
        except requests.ConnectionError:
            answered = False
        # Only our process's answer counts: another may hold the port ours was to take.
        ours = answered and listens(process.pid, port)
        if not ours:
            time.sleep(0.2)
    if not ours:
        process.kill()
        process.wait(timeout=10)
        with process.stderr:
            pytest.fail(f"the second process did not serve port {port}:\n"
                        + process.stderr.read().decode()[-2000:])
    yield app, base
    process.terminate()
    process.wait(timeout=15)
    process.stderr.close()


def test_failed_logins_counted_across_processes_through_redis(server_process):
    app, other_process = server_process
    client = app.test_client()
    email = f"shared-limit-{uuid.uuid4().hex[:8]}@example.com"  # Redis outlives one test
    client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    wrong = {"email": email, "password": "not the password"}
    assert client.post("/api/v1/auth/login", json=wrong).status_code == 401
    assert client.post("/api/v1/auth/login", json=wrong).status_code == 401
    assert requests.post(f"{other_process}/api/v1/auth/login", json=wrong,
                         timeout=10).status_code == 401
    # The third failure happened in the other process: this one must know of it.
    blocked = client.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert_problem(blocked, 429)
    assert int(blocked.headers["Retry-After"]) > 0
