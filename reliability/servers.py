"""Servers the reliability drivers talk to, all on 127.0.0.1: the app on waitress (in a thread
or as ``python -m service`` in a subprocess) and a MariaDB server of their own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Self

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def listens(pid: int, port: int) -> bool:
    """Whether the process ``pid`` holds the socket listening on TCP ``port``.

    A port free when chosen may be taken by another process before ours binds it: ours then
    exits while the port still answers, the other's. An answer on the port counts as ours
    only with this (Linux: /proc; elsewhere psutil)."""
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not tables[0].exists():
        import psutil

        try:
            return any(c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
                       for c in psutil.Process(pid).net_connections(kind="tcp"))
        except psutil.Error:
            return False
    listening = set()
    for table in tables:
        with contextlib.suppress(OSError):
            for line in table.read_text().splitlines()[1:]:
                fields = line.split()
                # local address "HEX_IP:HEX_PORT", state 0A is LISTEN, the 10th field the inode
                if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    listening.add(f"socket:[{fields[9]}]")
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") in listening:
                return True
    return False


@contextlib.contextmanager
def serve_in_thread(app, threads: int = 4):
    """Serve ``app`` on waitress in this process; yields the base URL."""
    from waitress.server import create_server

    server = create_server(app, host=LOOPBACK, port=0, threads=threads, ident="riskscan")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.effective_port}"
    finally:
        from waitress import wasyncore

        server.task_dispatcher.shutdown(timeout=5)
        # Closed in the loop's own thread, which then ends with an empty map: sockets closed
        # from here, under the loop's select(), failed it there with EBADF (a thread's error
        # at a test module's teardown).
        # A loop that has ended already closed its trigger too (EBADF): nothing is left to
        # close, and an error of the block itself is what to report.
        with contextlib.suppress(OSError):
            server.trigger.pull_trigger(lambda: wasyncore.close_all(server._map))
        thread.join(timeout=5)


def warmed(app):
    """``app`` once its model's warm-up has run (service/serving/warmup.py), as a user meets a
    ready service. A process whose interpreter exits while the warm-up thread is inside ONNX
    Runtime aborts (exit 134), which a run shorter than the cascade's warm-up did."""
    app.extensions["riskscan.warmup"].done.wait()
    return app


def wait_until(predicate, timeout_s: float, interval_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval_s)
    return predicate()


class ServiceProcess:
    """``python -m service`` as a subprocess on a free loopback port: what `make run` runs.

    ``env`` adds to a minimal environment (settings only); stderr (the JSON request log)
    goes to ``log_path``.
    """

    def __init__(self, env: dict[str, str], log_path: Path, *, port: int | None = None):
        self.port = port or free_port()
        self.log_path = Path(log_path)
        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "RISKSCAN_ENV": "production",
            "SECRET_KEY": "reliability-" + uuid.uuid4().hex,
            "HOST": LOOPBACK,
            "PORT": str(self.port),
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "json",
            "RATE_LIMIT_ENABLED": "false",
            **{k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS_", "OMP_"))},
            **env,
        }
        self.process: subprocess.Popen | None = None
        self._log = None

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout_s: float = 120.0) -> ServiceProcess:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop())
        self.process = subprocess.Popen([sys.executable, "-m", "service"], cwd=REPO_ROOT,
                                        env=self.env, stdout=self._log, stderr=self._log,
                                        stdin=subprocess.DEVNULL)
        if not wait_until(self._healthy, timeout_s, 0.25):
            self.stop()
            raise RuntimeError(f"the service did not start in {timeout_s:.0f} s; "
                               f"see {self.log_path}:\n{self.log_tail()}")
        return self

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"the service exited with {self.process.returncode}:\n"
                               f"{self.log_tail()}")
        try:
            answered = requests.get(self.base_url + "/health", timeout=1).status_code == 200
        except requests.RequestException:
            return False
        # Whatever answers the port is not necessarily ours (see listens).
        return answered and listens(self.process.pid, self.port)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def create_database(server_url: str, label: str) -> str:
    """A new, empty utf8mb4 database on the server ``server_url`` names; its URL.

    Each test session or run gets its own, so concurrent runs never see each other's rows.
    """
    from sqlalchemy import create_engine, make_url, text

    base = make_url(server_url)
    name = f"{base.database}_{label}_{uuid.uuid4().hex[:8]}"
    engine = create_engine(base.set(database=""))
    with engine.begin() as connection:
        connection.execute(text(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 "
                                "COLLATE utf8mb4_unicode_ci"))
    engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def drop_database(url: str) -> None:
    from sqlalchemy import create_engine, make_url, text

    database = make_url(url)
    engine = create_engine(database.set(database=""))
    with engine.begin() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS `{database.database}`"))
    engine.dispose()


class MariaDBServer:
    """A MariaDB server of the drivers' own (never a shared one), started with
    .ci/start-mariadb on a free port and a fresh data folder (about 5 s), so that it can be
    stopped and restarted under load without disturbing anyone else's tests.
    ``shutdown()`` stops it and removes the folder."""

    def __init__(self, port: int | None = None, datadir: Path | None = None):
        import tempfile

        self.port = port or free_port()
        self._own_datadir = datadir is None
        self.datadir = Path(datadir or tempfile.mkdtemp(prefix="riskscan-reliability-mariadb-"))
        self.url: str | None = None

    @property
    def socket(self) -> Path:
        return self.datadir / "mysqld.sock"

    def start(self) -> str:
        """Start (or reuse) the server; returns a URL for a fresh database of its own."""
        env = {**os.environ, "MARIADB_TEST_PORT": str(self.port),
               "MARIADB_TEST_DATADIR": str(self.datadir)}
        result = subprocess.run(["bash", str(REPO_ROOT / ".ci" / "start-mariadb")], env=env,
                                capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"MariaDB did not start: {result.stderr.strip()}")
        base = result.stdout.strip().split("=", 1)[1].strip("'")
        if self.url is None:
            self.url = create_database(base, "rel")
        return self.url

    def ping(self) -> bool:
        return subprocess.run(["mariadb-admin", f"--socket={self.socket}", "-uroot", "ping"],
                              capture_output=True, check=False).returncode == 0

    def stop(self) -> None:
        """Shut the server down (as a restart does); returns once it no longer answers."""
        subprocess.run(["mariadb-admin", f"--socket={self.socket}", "-uroot", "shutdown"],
                       capture_output=True, timeout=60, check=False)
        wait_until(lambda: not self.ping(), 30, 0.2)

    def drop_database(self) -> None:
        if self.url is not None:
            drop_database(self.url)

    def shutdown(self) -> None:
        """Drop the database, stop the server, remove its data folder."""
        import shutil

        with contextlib.suppress(Exception):
            self.drop_database()
        self.stop()
        if self._own_datadir:
            shutil.rmtree(self.datadir, ignore_errors=True)
