"""End to end over HTTP: ``python -m service`` on waitress, driven by client threads.

Two services run side by side on one model (per-request batching, and dynamic batching), and
a bare Flask app on the same waitress settings; the variants are measured in turns, level by
level and round by round, so that a neighbour's load hits each of them alike. The clients
run on the same cores as the servers: the figures are for the pair, as on a one-box install.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password-123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS (now) and VmHWM (peak) of a process, in MB (10^6 bytes)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) * 1024 / 1e6
    return fields


class Server:
    """A process serving on a free port; ``ready_s`` is from the spawn to the first 200."""

    def __init__(self, args: list[str], env: dict[str, str], ready_path: str = "/ready"):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Open for the server's whole life and closed in stop(), not in one block.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, **env, "PORT": str(self.port)})
        deadline = started + 120
        while True:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"{args} exited:\n{self.log.read().decode()[-3000:]}")
            try:
                if requests.get(self.url + ready_path, timeout=1).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or busy warming up
                pass
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{args} not ready in 120 s")
            time.sleep(0.02)
        self.ready_s = time.perf_counter() - started

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def service(model_dir: str, workdir: Path, *, module: str = "service", **settings) -> Server:
    """``python -m module`` (the service, or a variant of it in bench/) with these settings."""
    env = {
        "RISKSCAN_ENV": "production", "SECRET_KEY": "bench-secret-key-0123456789",
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}", "UPLOAD_DIR": str(workdir / "up"),
        "MODEL_DIR": model_dir, "MODEL_DEVICE": "cpu", "RATE_LIMIT_ENABLED": "false",
        "LOG_LEVEL": "WARNING", "HOST": "127.0.0.1",
        **{name: str(value) for name, value in settings.items()},
    }
    workdir.mkdir(parents=True, exist_ok=True)
    return Server(["-m", module], env)


def token(url: str, email: str) -> str:
    requests.post(f"{url}/api/v1/auth/register", json={"email": email, "password": PASSWORD},
                  timeout=30).raise_for_status()
    response = requests.post(f"{url}/api/v1/auth/login",
                             json={"email": email, "password": PASSWORD}, timeout=30)
    response.raise_for_status()
    return response.json()["access_token"]


def load(clients: int, seconds: float, request) -> tuple[int, float, list[float]]:
    """(requests answered, seconds, latencies) of ``clients`` threads calling
    ``request(session, i)`` back to back for ``seconds``."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures = []
    start_line = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        session = requests.Session()
        start_line.wait()
        count = 0
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = request(session, index * 100_000 + count)
            if response.status_code >= 400:
                failures.append(response.status_code)
                return
            latencies[index].append(time.perf_counter() - started)
            count += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    deadline = time.perf_counter() + seconds
    start_line.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"requests failed with {sorted(set(failures))}")
    flat = [value for values in latencies for value in values]
    return len(flat), elapsed, flat


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


def run(model_dir: str, texts: list[str], *, levels=(1, 4, 8), seconds: float = 10,
        rounds: int = 2, max_batch: int | None = None, max_wait_ms: float | None = None,
        log=print) -> dict:
    from service.analysis.segment import split_sentences

    documents = ["\n".join(texts[i:i + 20]) for i in range(0, len(texts) - 19, 20)]
    sentence_counts = [len(split_sentences(document)) for document in documents]
    results: dict = {"documents": len(documents),
                     "sentences_per_scan": statistics.mean(sentence_counts)}
    with tempfile.TemporaryDirectory(prefix="riskscan-bench-") as tmp:
        # Both switched explicitly, whatever the default; MODEL_MAX_BATCH and
        # MODEL_MAX_WAIT_MS are the service's defaults unless given.
        dynamic = {"MODEL_DYNAMIC_BATCHING": "true"}
        if max_batch is not None:
            dynamic["MODEL_MAX_BATCH"] = max_batch
        if max_wait_ms is not None:
            dynamic["MODEL_MAX_WAIT_MS"] = max_wait_ms
        configs = {"per-request": {"MODEL_DYNAMIC_BATCHING": "false"}, "dynamic": dynamic}
        servers = {}
        try:
            for name, settings in configs.items():  # one at a time: start-up is measured
                servers[name] = service(model_dir, Path(tmp) / name, **settings)
                log(f"http: {name} service ready in {servers[name].ready_s:.1f} s")
            servers["bare"] = Server(["-m", "bench.bare_app"], {}, ready_path="/health")
            results["ready_s"] = {name: servers[name].ready_s for name in configs}
            tokens = {name: token(servers[name].url, f"bench-{name}@example.com")
                      for name in configs}

            def scan(name):
                url, headers = servers[name].url, {"Authorization": f"Bearer {tokens[name]}"}

                def request(session, i):
                    return session.post(f"{url}/api/v1/scans", headers=headers, timeout=120,
                                        json={"text": documents[i % len(documents)]})
                return request

            for name in configs:  # warm-up: first requests, spaCy, allocator
                load(2, 3, scan(name))
            scans = {(name, level): [0, 0.0, []] for name in configs for level in levels}
            for round_ in range(rounds):
                for level in levels:
                    # Alternate which service goes first: with a fixed order, a few per
                    # cent at one client (either way from run to run) went to the order,
                    # and the 1-client p99 ratio with it.
                    for name in list(configs)[::-1 if round_ % 2 else 1]:
                        # 1 client gets 3× the time: its p99 is compared, and a p99 needs
                        # hundreds of requests to be more than the one slowest.
                        count, elapsed, latencies = load(level, seconds * (3 if level == 1 else 1),
                                                         scan(name))
                        total = scans[(name, level)]
                        total[0] += count
                        total[1] += elapsed
                        total[2] += latencies
                        log(f"  round {round_ + 1}: {name}, {level} clients: "
                            f"{count / elapsed:.2f} scans/s")
            results["scans"] = {
                f"{name}@{level}": {
                    "scans_per_s": count / elapsed,
                    "sentences_per_s": count / elapsed * results["sentences_per_scan"],
                    "p50_s": percentile(latencies, 50), "p95_s": percentile(latencies, 95),
                    "p99_s": percentile(latencies, 99), "requests": count}
                for (name, level), (count, elapsed, latencies) in scans.items()}
            results["memory_mb"] = {name: memory_mb(servers[name].process.pid)
                                    for name in configs}

            # Authenticated GET /api/v1/scans (a user with 10 scans) against the bare app.
            url = servers["per-request"].url
            lister = token(url, "bench-lister@example.com")
            headers = {"Authorization": f"Bearer {lister}"}
            for document in documents[:10]:
                requests.post(f"{url}/api/v1/scans", headers=headers, json={"text": document},
                              timeout=60).raise_for_status()
            targets = {
                "service": lambda session, i: session.get(f"{url}/api/v1/scans",
                                                          headers=headers, timeout=30),
                "bare": lambda session, i: session.get(
                    f"{servers['bare'].url}/api/v1/scans", headers=headers, timeout=30),
            }
            for target in targets.values():
                load(4, 1, target)
            listed = {name: [0, 0.0] for name in targets}
            for _ in range(rounds + 1):
                for name, target in targets.items():
                    count, elapsed, _ = load(4, seconds / 2, target)
                    listed[name][0] += count
                    listed[name][1] += elapsed
            results["list_rps"] = {name: count / elapsed
                                   for name, (count, elapsed) in listed.items()}
            log(f"  GET /api/v1/scans: {results['list_rps']}")
        finally:
            for server in servers.values():
                server.stop()
    return results
