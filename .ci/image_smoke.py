"""The CPU image's smoke test: two containers of one image against CI's MariaDB and RabbitMQ.

    .ci/image smoke      (it sets TEST_MYSQL_URL, RABBITMQ_URL, RISKSCAN_IMAGE and podman's
                          configuration, then runs this with the checkout's Python)

The image must not import torch or transformers (the slim runtime). The API container (host
network, a free loopback port) migrates a MariaDB database of its own and serves: /ready, its
HEALTHCHECK, a user registered and logged in, a text scan and a PDF upload scan from the
model, each read back from MariaDB with the mariadb client, and a batch job accepted while no
worker runs. A second container of the same image runs a Celery worker on a RabbitMQ vhost
of its own and finishes that job. Then both are stopped with `podman stop`: the API must be
gone within STOP_S of its SIGTERM, not killed. After the containers start, every check runs
whether an earlier one failed or not; the failures are listed at the end (exit status 1).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests
from sqlalchemy import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reliability.servers import create_database, drop_database, free_port
from testkit.documents import RISKY_SENTENCES, make_pdf

IMAGE = os.environ.get("RISKSCAN_IMAGE", "localhost/riskscan:cpu")
API, WORKER = "riskscan-smoke-api", "riskscan-smoke-worker"
UPLOADS = "riskscan-smoke-uploads"
#: How long the API may take to stop after SIGTERM: a container that ignores it is killed
#: by `podman stop` only after its timeout (10 s), and a rolling update waits that long.
STOP_S = 3.0
READY_S = 300.0
JOB_S = 300.0
RABBITMQCTL = "/usr/lib/rabbitmq/bin/rabbitmqctl"  # as .ci/start-rabbitmq runs the node
PASSWORD = "plum-orbit-kettle-42"
WORKER_COMMAND = ["celery", "-A", "service.jobs", "worker", "--pool=prefork", "--concurrency=1",
                  "-Q", "riskscan-documents", "--without-gossip", "--without-mingle",
                  "--without-heartbeat", "--loglevel=INFO"]  # as docker-compose.yml's worker


class Failed(Exception):
    """A check whose failure leaves nothing after it to check."""


class Checks:
    def __init__(self):
        self.failures: list[str] = []
        self.timings: dict[str, float] = {}

    def check(self, ok: bool, what: str, detail: object = "") -> bool:
        print(f"{'ok  ' if ok else 'FAIL'} {what}" + ("" if ok or detail == "" else f": {detail}"),
              flush=True)
        if not ok:
            self.failures.append(what)
        return ok

    def require(self, ok: bool, what: str, detail: object = "") -> None:
        if not self.check(ok, what, detail):
            raise Failed(what)


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["podman", *args], capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise Failed(f"podman {' '.join(args[:2])}: {result.stderr.strip()}")
    return result


def rabbitmqctl(*args: str) -> None:
    env = {**os.environ,
           "RABBITMQ_NODENAME": os.environ.get("RABBITMQ_NODENAME", "riskscan@localhost")}
    subprocess.run([RABBITMQCTL, "-q", *args], env=env, check=True, capture_output=True)


def mariadb(url: str, sql: str) -> list[list[str]]:
    """Rows of ``sql`` on the database ``url`` names, read with the mariadb client."""
    database = make_url(url)
    result = subprocess.run(
        ["mariadb", "--protocol=tcp", f"--host={database.host}", f"--port={database.port}",
         f"--user={database.username}", "--batch", "--skip-column-names",
         database.database, "-e", sql],
        env={**os.environ, "MYSQL_PWD": database.password or ""}, capture_output=True,
        text=True, check=True)
    return [line.split("\t") for line in result.stdout.splitlines()]


def quoted(ids) -> str:
    """SQL string literals of ids the API gave (uuids, checked as such)."""
    for value in ids:
        if not re.fullmatch(r"[0-9a-f-]{36}", value):
            raise Failed(f"not an id: {value!r}")
    return ", ".join(f"'{value}'" for value in ids)


def running(name: str) -> bool:
    state = podman("inspect", "--format", "{{.State.Running}}", name, check=False)
    return state.stdout.strip() == "true"


def wait_for(predicate, timeout_s: float, alive: str) -> bool:
    """Poll ``predicate`` until it holds; False at the deadline or once container ``alive``
    has exited."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        if not running(alive):
            return predicate()
        time.sleep(0.5)
    return False


def ready(base: str) -> bool:
    try:
        return requests.get(f"{base}/ready", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def stop(checks: Checks, name: str, *, within_s: float | None) -> None:
    """`podman stop` (SIGTERM, SIGKILL after 10 s); the container must exit on the SIGTERM."""
    started = time.monotonic()
    podman("stop", "--time", "10", name)
    elapsed = checks.timings[f"{name} stop"] = time.monotonic() - started
    code = podman("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
    checks.check(code != "137", f"{name} exits on SIGTERM (not killed)", f"exit code {code}")
    if within_s is not None:
        checks.check(elapsed <= within_s, f"{name} stops within {within_s:g} s of SIGTERM",
                     f"{elapsed:.1f} s")


def runtime_has_no_torch(checks: Checks) -> None:
    for module in ("torch", "transformers"):
        result = podman("run", "--rm", "--network", "none", IMAGE, "python", "-c",
                        f"import {module}", check=False)
        checks.check(result.returncode != 0 and f"No module named '{module}'" in result.stderr,
                     f"the runtime cannot import {module}",
                     f"exit {result.returncode}: {result.stderr.strip()[-200:]}")


def runtime_keeps_nothing_of_the_build(checks: Checks) -> None:
    """The build machine's pip configuration was mounted into the RUN steps, not copied:
    pip in the image reads no configuration, and a mounted folder is at most its empty
    mountpoint (podman leaves those behind)."""
    script = ('pip config list; for path in "$@"; do '
              '[ -d "$path" ] && [ -n "$(ls -A "$path")" ] && echo "$path has files"; done; true')
    mounts = os.environ.get("RISKSCAN_BUILD_MOUNTS", "").split()
    result = podman("run", "--rm", "--network", "none", IMAGE, "sh", "-c", script, "sh", *mounts)
    checks.check(result.stdout.strip() == "", "nothing of the build's pip configuration is in "
                 "the image", result.stdout.strip())


def serve_and_scan(checks: Checks, base: str, database: str) -> dict:
    """The API's checks; the bearer headers of the user it registered."""
    started = time.monotonic()
    checks.require(wait_for(lambda: ready(base), READY_S, API), f"{API} is ready (GET /ready)")
    checks.timings["API ready"] = time.monotonic() - started
    health = podman("healthcheck", "run", API, check=False)
    checks.check(health.returncode == 0, "the image's HEALTHCHECK passes",
                 health.stdout + health.stderr)

    email = f"smoke-{uuid.uuid4().hex[:8]}@example.com"
    registered = requests.post(f"{base}/api/v1/auth/register", timeout=30,
                               json={"email": email, "password": PASSWORD})
    checks.require(registered.status_code == 201, "register", registered.text)
    login = requests.post(f"{base}/api/v1/auth/login", timeout=30,
                          json={"email": email, "password": PASSWORD})
    checks.require(login.status_code == 200, "log in", login.text)
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

    text = " ".join(RISKY_SENTENCES)
    text_scan = requests.post(f"{base}/api/v1/scans", json={"text": text}, headers=headers,
                              timeout=120)
    checks.require(text_scan.status_code == 201, "a text scan (201)", text_scan.text)
    text_scan = text_scan.json()
    checks.check(text_scan["source"] == "model" and text_scan["data"],
                 "the text scan's risks come from the model", text_scan)
    pdf_scan = requests.post(f"{base}/api/v1/scans", headers=headers, timeout=120,
                             files={"file": ("status-report.pdf", make_pdf(RISKY_SENTENCES),
                                             "application/pdf")})
    checks.require(pdf_scan.status_code == 201, "a PDF upload scan (201)", pdf_scan.text)
    pdf_scan = pdf_scan.json()
    checks.check(pdf_scan["source"] == "model" and pdf_scan["data"],
                 "the PDF scan's risks come from the model", pdf_scan)

    scans = {text_scan["scan_id"]: text_scan, pdf_scan["scan_id"]: pdf_scan}
    stored = mariadb(database, "SELECT s.id, s.source, s.model_version, COALESCE(s.filename, "
                               "''), COUNT(f.id) FROM scans s LEFT JOIN findings f ON "
                               f"f.scan_id = s.id WHERE s.id IN ({quoted(scans)}) GROUP BY "
                               "s.id, s.source, s.model_version, s.filename")
    expected = sorted([scan_id, "model", scan["model_version"], scan.get("filename") or "",
                       str(len(scan["data"]))] for scan_id, scan in scans.items())
    checks.check(sorted(stored) == expected, "both scans and their findings are in MariaDB",
                 f"{stored} != {expected}")
    return headers


def job_on_a_worker(checks: Checks, base: str, headers: dict, database: str, env: list[str]):
    documents = [("files", ("week-1.txt", " ".join(RISKY_SENTENCES[:3]).encode(), "text/plain")),
                 ("files", ("week-2.pdf", make_pdf(RISKY_SENTENCES[3:]), "application/pdf"))]
    accepted = requests.post(f"{base}/api/v1/jobs", files=documents, headers=headers,
                             timeout=60)
    checks.require(accepted.status_code == 202, "a batch job is accepted (202)", accepted.text)
    job_id = accepted.json()["job_id"]

    def job() -> dict:
        return requests.get(f"{base}/api/v1/jobs/{job_id}", headers=headers, timeout=30).json()

    checks.check(job()["status"] == "queued", "the job waits while no worker runs", job())
    started = time.monotonic()
    podman("run", "-d", "--name", WORKER, "--network", "host", *env,
           "--volume", f"{UPLOADS}:/data/uploads", IMAGE, *WORKER_COMMAND)
    finished = wait_for(lambda: job()["finished_at"] is not None, JOB_S, WORKER)
    checks.timings["job on the worker"] = time.monotonic() - started
    answer = job()
    checks.require(finished, f"{WORKER} finishes the job", answer)
    checks.check(answer["status"] == "done" and answer["done"] == 2 and answer["failed"] == 0,
                 "both documents became scans", answer)
    made = [document["scan_id"] for document in answer["documents"] if document["scan_id"]]
    stored = mariadb(database, "SELECT COUNT(*) FROM scans s JOIN job_documents d ON "
                               f"s.job_document_id = d.id WHERE d.job_id IN ({quoted([job_id])})"
                               f" AND s.id IN ({quoted(made) or 'NULL'})")
    checks.check(stored == [["2"]], "the job's two scans are in MariaDB", stored)


def dump_logs(name: str) -> None:
    logs = podman("logs", "--tail", "60", name, check=False)
    print(f"--- {name}'s last log lines\n{logs.stdout}{logs.stderr}", flush=True)


def main() -> int:
    checks = Checks()
    runtime_has_no_torch(checks)
    runtime_keeps_nothing_of_the_build(checks)
    database = create_database(os.environ["TEST_MYSQL_URL"], "image")
    vhost = f"riskscan-image-{uuid.uuid4().hex[:8]}"  # no one else's tasks, nor ours to them
    rabbitmqctl("add_vhost", vhost)
    rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    broker = re.sub(r"/[^/]*$", f"/{vhost}", os.environ["RABBITMQ_URL"].rstrip("/") + "/")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = [f"--env={name}={value}" for name, value in {
        "SECRET_KEY": secrets.token_hex(32), "DATABASE_URL": database,
        "CELERY_BROKER_URL": broker, "HOST": "127.0.0.1", "PORT": str(port)}.items()]
    for name in (API, WORKER):  # left by a run that was killed
        podman("rm", "--force", name, check=False)
    podman("volume", "rm", "--force", UPLOADS, check=False)
    podman("volume", "create", UPLOADS)
    try:
        podman("run", "-d", "--name", API, "--network", "host", *env,
               "--volume", f"{UPLOADS}:/data/uploads", IMAGE)
        headers = serve_and_scan(checks, base, database)
        job_on_a_worker(checks, base, headers, database, env)
    except Failed:
        pass
    finally:
        if checks.failures:
            for name in (API, WORKER):
                dump_logs(name)
        if running(WORKER):
            stop(checks, WORKER, within_s=None)
        if checks.check(running(API), f"{API} still runs at the end"):
            stop(checks, API, within_s=STOP_S)
        for name in (WORKER, API):
            podman("rm", "--force", name, check=False)
        podman("volume", "rm", "--force", UPLOADS, check=False)
        with contextlib.suppress(Exception):
            drop_database(database)
        with contextlib.suppress(subprocess.CalledProcessError):
            rabbitmqctl("delete_vhost", vhost)
    for what, seconds in checks.timings.items():
        print(f"time: {what}: {seconds:.1f} s")
    if checks.failures:
        print(f"{len(checks.failures)} check(s) failed: " + "; ".join(checks.failures))
        return 1
    print("every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
