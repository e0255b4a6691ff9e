"""The parts of a scaled-out install, as processes on 127.0.0.1 for a test or a benchmark:
a Redis server (rate limits, and a Celery broker), a RabbitMQ node (the Celery broker of
production), HAProxy in front of several ``python -m service`` processes, and Celery
workers (``celery -A service.jobs worker``).

Each runs with its own folder and free port and stops in ``stop()``; a worker runs in a
process group of its own, so ``kill()`` ends it as a crash would (SIGKILL to the parent and
its pool's children at once, nothing acknowledged, nothing given back).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Self

from reliability.servers import LOOPBACK, REPO_ROOT, free_port, listens, wait_until

REDIS_SERVER = shutil.which("redis-server")
# Debian's /usr/sbin/rabbitmq-server switches to the rabbitmq user when run as root; the
# scripts behind it run the node as whoever starts them.
RABBITMQ_SERVER = next((path for path in ("/usr/lib/rabbitmq/bin/rabbitmq-server",
                                          shutil.which("rabbitmq-server"))
                        if path and Path(path).is_file()), None)
RABBITMQCTL = next((path for path in ("/usr/lib/rabbitmq/bin/rabbitmqctl",
                                      shutil.which("rabbitmqctl"))
                    if path and Path(path).is_file()), None)
HAPROXY = shutil.which("haproxy") or next(
    (path for path in ("/usr/sbin/haproxy", "/usr/local/sbin/haproxy") if Path(path).is_file()),
    None)

#: A worker's log line of a task (INFO), up to its id: "received", "succeeded", "failed"...
TASK_LINE = r"Task riskscan\.scan_document\[([0-9a-f-]+)"
#: kombu's Redis transport keeps each delivered, unacknowledged task here (its default).
UNACKED_KEY = "unacked"


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
            except OSError:
                return False
            return listens(self.process.pid, self.port)  # not another's on the port

        if not wait_until(answers, 10, 0.05):
            self.stop()
            raise RuntimeError(f"redis-server did not start:\n{_tail(self.folder / 'redis.log')}")
        return self

    def client(self, database: int = 0):
        import redis

        return redis.Redis.from_url(self.url(database))

    def stop(self) -> None:
        _stop(self.process, 10)


class RabbitMQServer:
    """A RabbitMQ node of its own (name, AMQP and distribution ports, data, logs, Erlang
    cookie: all in ``folder``), the broker's defaults otherwise (the ``guest`` user, from
    this machine only); ``unacknowledged()`` through ``rabbitmqctl``."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.port = free_port()
        self.node = f"riskscan-{self.port}@localhost"
        self.process: subprocess.Popen | None = None
        self.env = {**os.environ, "HOME": str(self.folder), "RABBITMQ_NODENAME": self.node,
                    "RABBITMQ_NODE_IP_ADDRESS": LOOPBACK, "RABBITMQ_NODE_PORT": str(self.port),
                    "RABBITMQ_DIST_PORT": str(free_port()),
                    "RABBITMQ_MNESIA_BASE": str(self.folder / "mnesia"),
                    "RABBITMQ_LOG_BASE": str(self.folder / "log"),
                    "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.folder / "enabled_plugins"),
                    "RABBITMQ_CONFIG_FILE": str(self.folder / "rabbitmq")}

    def url(self) -> str:
        return f"amqp://guest:guest@{LOOPBACK}:{self.port}//"

    def start(self, timeout_s: float = 60) -> Self:
        if RABBITMQ_SERVER is None:
            raise FileNotFoundError("rabbitmq-server is not installed")
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "enabled_plugins").write_text("[].\n")
        log = open(self.folder / "rabbitmq.log", "ab")  # noqa: SIM115 - the child keeps it
        with log:
            self.process = subprocess.Popen([RABBITMQ_SERVER], env=self.env,
                                            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                            start_new_session=True)
        def started() -> bool:  # await_startup fails at once while the node is not up
            if self.process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited:\n"
                                   f"{_tail(self.folder / 'rabbitmq.log')}")
            return subprocess.run([RABBITMQCTL, "-n", self.node, "await_startup", "--timeout",
                                   str(int(timeout_s))], env=self.env, capture_output=True,
                                  check=False).returncode == 0

        if not wait_until(started, timeout_s, 1):
            self.stop()
            raise RuntimeError(f"rabbitmq-server did not start:\n"
                               f"{_tail(self.folder / 'rabbitmq.log')}")
        return self

    def unacknowledged(self) -> int:
        """Messages delivered to a consumer and not acknowledged, in every queue."""
        listed = subprocess.run([RABBITMQCTL, "-n", self.node, "list_queues", "-q",
                                 "--no-table-headers", "messages_unacknowledged"],
                                env=self.env, capture_output=True, text=True, check=True)
        return sum(int(count) for count in listed.stdout.split())

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        subprocess.run([RABBITMQCTL, "-n", self.node, "shutdown"], env=self.env,
                       capture_output=True, check=False, timeout=60)
        _stop(self.process, 20, group=True)


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
                answered = requests.get(self.base_url + "/health", timeout=1).status_code
            except requests.RequestException:
                return False
            return answered == 200 and listens(self.process.pid, self.port)  # not another's

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

    def pause(self) -> None:
        """SIGSTOP to the whole group: nothing of it scans, finishes or logs until resume,
        so that what its log says it holds stays true until it is killed."""
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        """A warm shutdown (SIGTERM), then SIGKILL to what is left of the group."""
        if self.process is None:
            return
        _stop(self.process, 20, group=True)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # children the parent left behind

    def log_tail(self, lines: int = 30) -> str:
        return _tail(self.log_path, lines)

    def task_counts(self) -> tuple[Counter, Counter]:
        """(received, finished): how often each task id was, by the worker's log."""
        log = self.log_path.read_text(errors="replace")
        received = Counter(re.findall(TASK_LINE + r"\] received", log))
        finished = Counter(re.findall(TASK_LINE + r"\] (?:succeeded|failed|raised)", log))
        return received, finished

    def unfinished_tasks(self) -> set[str]:
        """The tasks it received more often than it finished: the one it holds."""
        received, finished = self.task_counts()
        return {task for task, count in received.items() if count > finished[task]}
