"""The parts of a scaled-out install, as processes on 127.0.0.1 for a test or a benchmark:
a Redis server (rate limits and the Celery broker), HAProxy in front of several
``python -m service`` processes, and Celery workers (``celery -A service.jobs worker``).

Each runs with its own folder and free port and stops in ``stop()``; a worker runs in a
process group of its own, so ``kill()`` ends it as a crash would (SIGKILL to the parent and
its pool's children at once, nothing acknowledged, nothing given back).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Self

from reliability.servers import LOOPBACK, REPO_ROOT, free_port, wait_until

REDIS_SERVER = shutil.which("redis-server")
HAPROXY = shutil.which("haproxy") or next(
    (path for path in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if Path(path).is_file()),
    None)

#: kombu's Redis transport keeps each delivered, unacknowledged task here (its defaults).
UNACKED_KEY = "unacked"
UNACKED_INDEX_KEY = "unacked_index"


def _stop(process: subprocess.Popen | None, timeout_s: float = 15, *, group: bool = False) -> None:
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(process.pid, signal.SIGTERM)
        else:
            process.terminate()
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
        process.wait(timeout=5)


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class RedisServer:
    """``redis-server`` on a free port, nothing persisted, its files in ``folder``."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    def url(self, database: int = 0) -> str:
        return f"redis://{LOOPBACK}:{self.port}/{database}"

    def start(self) -> Self:
        if REDIS_SERVER is None:
            raise FileNotFoundError("redis-server is not installed")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", LOOPBACK, "--save", "",
             "--appendonly", "no", "--dir", str(self.folder),
             "--logfile", str(self.folder / "redis.log")],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def answers() -> bool:
            try:
                socket.create_connection((LOOPBACK, self.port), timeout=0.2).close()
                return True
            except OSError:
                return False

        if not wait_until(answers, 10, 0.05):
            self.stop()
            raise RuntimeError(f"redis-server did not start:\n{_tail(self.folder / 'redis.log')}")
        return self

    def client(self, database: int = 0):
        import redis

        return redis.Redis.from_url(self.url(database))

    def stop(self) -> None:
        _stop(self.process, 10)


def unacked_tasks(client) -> dict[str, int]:
    """The Celery tasks delivered to a worker and not yet acknowledged, in the broker that
    ``client`` (a redis-py client on the broker's database) reads: task id → the document id
    it was given (``scan_document(document_id)``). A task given back keeps its id."""
    tasks = {}
    for value in client.hgetall(UNACKED_KEY).values():
        raw = json.loads(value)[0]
        body = raw["body"]
        if raw.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        tasks[raw["headers"]["id"]] = int(args[0])
    return tasks


class HAProxy:
    """HAProxy (``haproxy -f cfg -db``) on a free port: round-robin over ``backends``
    (ports on 127.0.0.1), with a health check of GET /ready every ``check_ms`` (a server
    takes traffic once it is warm), the client's address added as X-Forwarded-For, a
    request whose connection to a server fails given to the other, and the server's name
    in each answer's ``X-Served-By``."""

    def __init__(self, backends: list[int], folder: Path, *, check_ms: int = 500):
        self.folder = Path(folder)
        self.port = free_port()
        self.backends = backends
        self.check_ms = check_ms
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def config(self) -> str:
        servers = "\n".join(
            f"    server api{index + 1} {LOOPBACK}:{port} check inter {self.check_ms} "
            "fall 2 rise 2"
            for index, port in enumerate(self.backends))
        return f"""\
global
    maxconn 512

defaults
    mode http
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout http-request 30s
    retries 3
    option redispatch 1
    option forwardfor

frontend riskscan
    bind {LOOPBACK}:{self.port}
    default_backend api

backend api
    balance roundrobin
    option httpchk GET /ready
    http-check expect status 200
    http-response set-header X-Served-By %s
{servers}
"""

    def start(self, timeout_s: float = 20) -> Self:
        if HAPROXY is None:
            raise FileNotFoundError("haproxy is not installed")
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "haproxy.cfg"
        config.write_text(self.config())
        check = subprocess.run([HAPROXY, "-c", "-q", "-f", str(config)], capture_output=True,
                               text=True, check=False)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy refused its configuration:\n{check.stderr}")
        log = open(self.folder / "haproxy.log", "ab")  # noqa: SIM115 - the child keeps it
        with log:
            self.process = subprocess.Popen([HAPROXY, "-f", str(config), "-db"],
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        import requests

        def up() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"haproxy exited:\n{_tail(self.folder / 'haproxy.log')}")
            try:
                return requests.get(self.base_url + "/health", timeout=1).status_code == 200
            except requests.RequestException:
                return False

        if not wait_until(up, timeout_s, 0.1):
            self.stop()
            raise RuntimeError(f"haproxy did not answer:\n{_tail(self.folder / 'haproxy.log')}")
        return self

    def stop(self) -> None:
        _stop(self.process, 10)


class CeleryWorker:
    """``celery -A service.jobs worker`` (prefork, ``concurrency`` processes) on the jobs'
    queue, in a process group of its own; ``env`` is its whole environment (the same
    settings as the API's)."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path, *, concurrency: int = 1):
        from service.jobs.queue import QUEUE

        self.name = name
        self.env = env
        self.log_path = Path(log_path)
        self.args = [sys.executable, "-m", "celery", "-A", "service.jobs", "worker",
                     f"--concurrency={concurrency}", "--pool=prefork", "-Q", QUEUE,
                     "--without-heartbeat", "--without-gossip", "--without-mingle",
                     "--loglevel=INFO", "-n", f"{name}@%h"]
        self.process: subprocess.Popen | None = None

    def start(self) -> Self:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(self.args, cwd=REPO_ROOT, env=self.env,
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                            start_new_session=True)
        return self

    def wait_ready(self, timeout_s: float = 60) -> None:
        """Until the worker says it is ready (connected to the broker, consuming)."""
        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited with {self.process.returncode}:"
                                   f"\n{self.log_tail()}")
            return " ready." in self.log_path.read_text(errors="replace")

        if not wait_until(ready, timeout_s, 0.2):
            raise RuntimeError(f"worker {self.name} not ready in {timeout_s:.0f} s:\n"
                               f"{self.log_tail()}")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL to the whole group (the parent and its pool) at once, as a crash."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """A warm shutdown (SIGTERM), then SIGKILL to what is left of the group."""
        if self.process is None:
            return
        _stop(self.process, 20, group=True)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # children the parent left behind

    def log_tail(self, lines: int = 30) -> str:
        return _tail(self.log_path, lines)
