"""Rate limits shared by several processes through a real Redis server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest
import requests

from reliability.servers import listens
from service.config import current_settings
from tests.helpers import PASSWORD, assert_problem
from tests.redis_server import free_port


@pytest.fixture
def server_process(make_app, redis_url, tmp_path):
    """A second server process (python -m service) on the same database and Redis."""
    app = make_app(RATE_LIMIT_STORAGE_URI=redis_url, RATE_LIMIT_LOGIN_ACCOUNT="3 per minute")
    settings = current_settings(app)
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
