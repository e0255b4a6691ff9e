"""Batch jobs (POST/GET/DELETE /api/v1/jobs, service/jobs/): several documents at once, each
an ordinary scan made in the background, on SQLite and MariaDB.

Both engines run the tests of a job's life (the ``engine`` fixture): ``pool``, the threads
of the service process (no broker), and ``celery``, the same task on a real Celery worker
fed by a real Redis server (tests/redis_server.py starts it, once for this file).

The Celery worker runs in a thread of this process (celery.contrib.testing.worker, the solo
pool, the real Redis broker, JSON messages, late acknowledgement), started once for the
file, and its tasks run in the test's own app (``worker._app``): the same database,
UPLOAD_DIR and analyzer as the API under test. That is what makes it fast (no process to
start, no second model to load) and reliable (a test can hold a document in the analyzer
with an Event and know which documents are still queued). The one thing a thread does not
show, ``celery -A service.jobs worker`` building its own app from the environment, is the
celery half of the test of a job left by its process: a real worker process started after
the API took a job.

The mechanics use the keyword analyzer (tests/scanning.py); one job runs the trained model.
Tests of what a request may hold need no worker: their app's engine hears of the documents
and runs none (``Inert``), and where a document must become a scan the test runs the task
itself (work.run_document), as either engine would.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import uuid
import zipfile
import zlib
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from service.config import current_settings
from service.db import Job, JobDocument, Scan
from service.extensions import db
from service.jobs import intake, queue, work, worker
from testkit.documents import (
    PLAIN_SENTENCES,
    RISKY_SENTENCES,
    lie_about_size,
    make_docx,
    make_encrypted_pdf,
    make_pdf,
)
from tests.helpers import Accounts, assert_problem
from tests.jobs import (
    KEYWORDS,
    TIMEOUT_S,
    Inert,
    accepted,
    document_ids,
    get_job,
    make_zip,
    post_job,
    run_document,
    wait_for,
)
from tests.projects import Team, register_of
from tests.scanning import KeywordAnalyzer, download, without_request_id

ROOT = Path(__file__).resolve().parent.parent


# --- engines -----------------------------------------------------------------------------


@pytest.fixture(params=["pool", "celery"])
def engine(request):
    return request.param


@pytest.fixture
def jobs_app(make_app, engine, request, monkeypatch):
    """Makes the test's app on its engine, with the keyword analyzer (or ``analyzer``);
    afterwards, waits for the engine to have run everything it was given."""
    ledger = request.getfixturevalue("celery_worker") if engine == "celery" else None
    made = []

    def make(*, analyzer=None, inert=False, **overrides):
        if ledger is not None:
            overrides.setdefault("CELERY_BROKER_URL", ledger.broker_url)
        app = make_app(**overrides)
        if analyzer is not False:  # False: the app's own (the trained model)
            monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model",
                                analyzer or KeywordAnalyzer())
        if inert:
            app.extensions["riskscan.jobs"] = Inert()
        elif ledger is not None:
            monkeypatch.setattr(worker, "_app", app)  # the worker runs in this app
        made.append(app)
        return app

    yield make
    for app in made:
        if isinstance(app.extensions["riskscan.jobs"], queue.Pool):
            app.extensions["riskscan.jobs"].shutdown()
    if ledger is not None:  # the next test starts with an idle worker
        ledger.wait_idle()


@pytest.fixture
def inert_app(make_app, monkeypatch):
    """An app whose engine runs nothing (the keyword analyzer, for run_document)."""
    app = make_app()
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", KeywordAnalyzer())
    app.extensions["riskscan.jobs"] = Inert()
    return app


# --- helpers -----------------------------------------------------------------------------


def encrypt_flag(zip_bytes: bytes) -> bytes:
    """The zip with the "encrypted" bit (0x1) set on every member, in both headers."""
    data = bytearray(zip_bytes)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(signature)
        while at != -1:
            data[at + offset] |= 0x1
            at = data.find(signature, at + 1)
    return bytes(data)


def job_documents_counted(client) -> dict[str, float]:
    """riskscan_job_documents_total by status, from GET /metrics (the test client is on
    loopback, which METRICS_ALLOWED_NETWORKS allows)."""
    response = client.get("/metrics")
    assert response.status_code == 200
    return {status: float(value) for status, value in re.findall(
        r'^riskscan_job_documents_total\{status="(\w+)"\} (\S+)$',
        response.get_data(as_text=True), re.MULTILINE)}


def queue_depth(client) -> float:
    """riskscan_job_documents_queued from GET /metrics: read from the database."""
    found = re.search(r"^riskscan_job_documents_queued (\S+)$",
                      client.get("/metrics").get_data(as_text=True), re.MULTILINE)
    return float(found.group(1))


def moved(before: dict, after: dict) -> dict:
    return {status: after.get(status, 0) - before.get(status, 0)
            for status in set(before) | set(after) if after.get(status, 0) != before.get(status, 0)}


def job_files(app, user_id, job_id) -> list[Path]:
    folder = Path(current_settings(app).UPLOAD_DIR) / user_id / "jobs" / job_id
    return sorted(path for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


def rows(app, model) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(model))
        db.session.remove()
        return count


class JobLog(logging.Handler):
    """The riskscan.jobs log lines, at INFO, while in use."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.logged = threading.Condition()

    def emit(self, record):
        with self.logged:
            self.lines.append(record.getMessage())
            self.logged.notify_all()

    def wait_until(self, enough, timeout: float = TIMEOUT_S) -> None:
        """A worker logs a document's end just after committing it, so a poll can see the
        job finished a moment before its last line: wait for the lines (each one wakes
        this up); past the timeout the test fails with the lines it saw."""
        with self.logged:
            if not self.logged.wait_for(lambda: enough(self.lines), timeout):
                pytest.fail(f"the log lines never came: {self.lines}")

    def __enter__(self):
        self.logger = logging.getLogger("riskscan.jobs")
        self.level = self.logger.level
        self.logger.setLevel(logging.INFO)
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc):
        self.logger.removeHandler(self)
        self.logger.setLevel(self.level)


class GatedAnalyzer(KeywordAnalyzer):
    """The keyword analyzer, held at the gate until the test opens it."""

    def __init__(self, parties: int = 1):
        self.arrived = threading.Semaphore(0)
        self.gate = threading.Event()
        self.barrier = threading.Barrier(parties, timeout=TIMEOUT_S) if parties > 1 else None

    def analyze(self, text, *, min_score=None):
        self.arrived.release()
        if self.barrier is not None:
            self.barrier.wait()
        assert self.gate.wait(TIMEOUT_S), "the test never opened the gate"
        return super().analyze(text, min_score=min_score)

    def wait_arrivals(self, count: int = 1) -> None:
        for _ in range(count):
            assert self.arrived.acquire(timeout=TIMEOUT_S), "no document reached the analyzer"


# --- a job's life, on both engines ---------------------------------------------------------

@pytest.mark.slow
def test_a_job_of_several_files_becomes_ordinary_scans(jobs_app, engine, scan_model_dir):
    """The trained model, as the API's own scans use it: a txt, a pdf, a docx and a
    markdown file become four scans with findings and their originals kept."""
    app = jobs_app(analyzer=False, MODEL_DIR=str(scan_model_dir))
    client = app.test_client()
    user, headers = Accounts(app, client).user()
    text = " ".join(RISKY_SENTENCES[:3]) + " " + PLAIN_SENTENCES[0]
    files = [("plan.txt", text.encode()),
             ("steering.pdf", make_pdf([RISKY_SENTENCES[3], RISKY_SENTENCES[4]])),
             ("minutes.docx", make_docx([RISKY_SENTENCES[5], PLAIN_SENTENCES[1]])),
             ("notes.md", f"# Notes\n\n{RISKY_SENTENCES[1]}\n".encode())]
    counted = job_documents_counted(client)

    with JobLog() as log:
        job_id = accepted(post_job(client, headers, files), total=4)
        job = wait_for(client, headers, job_id)
        log.wait_until(lambda lines: sum(job_id in line for line in lines) >= 8)

    assert (job["status"], job["total"], job["done"], job["failed"]) == ("done", 4, 4, 0)
    assert job["project_id"] is None and job["created_at"] <= job["finished_at"]
    assert [d["filename"] for d in job["documents"]] == [name for name, _ in files]
    assert {d["status"] for d in job["documents"]} == {"done"}
    assert all(d["error"] is None and d["scan_id"] for d in job["documents"])
    # Each is an ordinary scan: listed, with findings of the model, its original stored.
    listed = client.get("/api/v1/scans", headers=headers).get_json()
    assert {s["scan_id"] for s in listed["items"]} == {d["scan_id"] for d in job["documents"]}
    for document, (name, content) in zip(job["documents"], files):
        scan = client.get(f"/api/v1/scans/{document['scan_id']}", headers=headers).get_json()
        assert scan["filename"] == name and scan["source"] == "model"
        assert scan["data"], f"{name}: no finding in sentences that state risks plainly"
        assert download(client, document["scan_id"], headers) == (200, content)
    # The waiting copies are gone; the counter and the log say what happened.
    assert job_files(app, user["id"], job_id) == []
    assert moved(counted, job_documents_counted(client)) == {"done": 4}
    assert sum(job_id in line for line in log.lines) >= 8  # scanning and done, per document
    # The list has it; cancelling a finished job changes nothing.
    jobs = client.get("/api/v1/jobs", headers=headers).get_json()
    assert [j["job_id"] for j in jobs["items"]] == [job_id] and jobs["total"] == 1
    assert jobs["items"][0]["documents"] == job["documents"]  # each named, its risks said
    again = client.delete(f"/api/v1/jobs/{job_id}", headers=headers)
    assert again.status_code == 200 and again.get_json() == job


def test_a_zip_with_folders_and_clutter_is_flattened(jobs_app):
    app = jobs_app()
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    archive = make_zip([
        ("Reports/", b""), ("Reports/Q1/", b""),
        ("Reports/Q1/plan.txt", KEYWORDS),
        ("Reports/notes.md", b"# Notes\n\nThe password is shared by the whole team.\n"),
        ("__MACOSX/Reports/Q1/._plan.txt", b"\0\x05\x16\x07 resource fork"),
        ("Reports/.DS_Store", b"\0\0\0\1Bud1"), ("Thumbs.db", b"\xd0\xcf\x11\xe0"),
        (".hidden", b"a dot file"),
    ])

    job_id = accepted(post_job(client, headers, archive=archive), total=2)
    job = wait_for(client, headers, job_id)

    assert (job["status"], job["done"], job["failed"]) == ("done", 2, 0)
    assert [d["filename"] for d in job["documents"]] == ["plan.txt", "notes.md"]
    scans = [client.get(f"/api/v1/scans/{d['scan_id']}", headers=headers).get_json()
             for d in job["documents"]]
    assert [sorted(f["category"] for f in s["data"]) for s in scans] == [
        ["budget", "vendor"], ["security"]]


def test_a_broken_document_fails_alone_with_words(jobs_app):
    app = jobs_app()
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    files = [("good.txt", KEYWORDS),
             ("broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >>\ntruncated"),
             ("locked.pdf", make_encrypted_pdf()),
             ("empty.txt", b""),
             ("tool.exe", b"MZ\x90\x00\x03\x00\x00\x00"),
             ("also-good.md", b"# Plan\n\nThe budget is overrun.\n")]
    counted = job_documents_counted(client)

    job_id = accepted(post_job(client, headers, files), total=6)
    job = wait_for(client, headers, job_id)

    assert (job["status"], job["done"], job["failed"]) == ("done", 2, 4)
    by_name = {d["filename"]: d for d in job["documents"]}
    for name in ("good.txt", "also-good.md"):
        assert by_name[name]["status"] == "done" and by_name[name]["scan_id"]
    causes = {  # each in the words a POST /api/v1/scans of the same file answers with
        "broken.pdf": "The PDF could not be read (damaged or truncated).",
        "locked.pdf": "The PDF is password-protected.",
        "empty.txt": "The file is empty.",
        "tool.exe": "Unsupported file type '.exe'; send txt, md, html, pdf or docx.",
    }
    for name, cause in causes.items():
        document = by_name[name]
        assert (document["status"], document["scan_id"], document["error"]) == (
            "failed", None, cause), document
    listed = client.get("/api/v1/scans", headers=headers).get_json()
    assert listed["total"] == 2
    assert moved(counted, job_documents_counted(client)) == {"done": 2, "failed": 4}


def test_a_job_into_a_project_fills_its_register(jobs_app):
    app = jobs_app()
    client = app.test_client()
    team = Team(app, client)
    files = [("week-1.txt", b"The vendor may slip the delivery of the servers."),
             ("week-2.txt", b"The budget is overrun by a fifth. Lunch was at noon.")]

    job_id = accepted(post_job(client, team.editor_h, files, project_id=team.id), total=2)
    job = wait_for(client, team.editor_h, job_id)

    assert (job["status"], job["done"], job["project_id"]) == ("done", 2, team.id)
    in_project = client.get("/api/v1/scans", query_string={"project_id": team.id},
                            headers=team.owner_h).get_json()
    assert {s["scan_id"] for s in in_project["items"]} == {d["scan_id"] for d in job["documents"]}
    assert {s["project_id"] for s in in_project["items"]} == {team.id}
    register = register_of(client, team.viewer_h, team.id)
    assert sorted(entry["category"] for entry in register) == ["budget", "vendor"]
    assert {f["scan_id"] for entry in register for f in entry["findings"]} == {
        d["scan_id"] for d in job["documents"]}
    # The project's viewer may read the scans but not send a job into it; an outsider
    # learns nothing of the project; nothing was stored for either.
    assert_problem(post_job(client, team.viewer_h, files, project_id=team.id), 403)
    outsider = post_job(client, team.outsider_h, files, project_id=team.id)
    missing = post_job(client, team.outsider_h, files, project_id=str(uuid.uuid4()))
    assert_problem(outsider, 404)
    assert without_request_id(outsider) == without_request_id(missing)
    assert rows(app, Job) == 1


def test_cancelling_stops_what_has_not_started(jobs_app):
    """One worker, the first document held in the analyzer: the others wait. DELETE
    cancels them; the first finishes; the job ends cancelled once it has."""
    analyzer = GatedAnalyzer()
    app = jobs_app(analyzer=analyzer, JOB_WORKERS=1)
    client = app.test_client()
    accounts = Accounts(app, client)
    user, headers = accounts.user()
    _, other_h = accounts.user()
    _, admin_h = accounts.user(role="admin")
    counted = job_documents_counted(client)
    job_id = accepted(post_job(client, headers, [(f"part-{n}.txt", KEYWORDS)
                                                 for n in range(4)]), total=4)
    analyzer.wait_arrivals()
    running = get_job(client, headers, job_id)
    assert running["status"] == "running"
    assert [d["status"] for d in running["documents"]] == ["running"] + ["queued"] * 3
    assert queue_depth(client) == 3

    for stranger in (other_h, admin_h):  # not theirs to cancel: the same 404 as a missing one
        refused = client.delete(f"/api/v1/jobs/{job_id}", headers=stranger)
        missing = client.delete(f"/api/v1/jobs/{uuid.uuid4()}", headers=stranger)
        assert_problem(refused, 404)
        assert without_request_id(refused) == without_request_id(missing)
    cancelled = client.delete(f"/api/v1/jobs/{job_id}", headers=headers)
    assert cancelled.status_code == 200, cancelled.get_json()
    assert queue_depth(client) == 0
    job = cancelled.get_json()
    assert (job["status"], job["finished_at"]) == ("cancelled", None)
    assert [d["status"] for d in job["documents"]] == ["running"] + ["cancelled"] * 3
    twice = client.delete(f"/api/v1/jobs/{job_id}", headers=headers)
    assert twice.status_code == 200 and twice.get_json() == job
    assert len(job_files(app, user["id"], job_id)) == 1  # the cancelled ones' files went

    analyzer.gate.set()
    job = wait_for(client, headers, job_id)
    assert (job["status"], job["done"], job["failed"]) == ("cancelled", 1, 0)
    assert [d["status"] for d in job["documents"]] == ["done"] + ["cancelled"] * 3
    assert job["documents"][0]["scan_id"] and job["finished_at"] >= job["created_at"]
    assert client.get("/api/v1/scans", headers=headers).get_json()["total"] == 1
    assert job_files(app, user["id"], job_id) == []
    assert client.delete(f"/api/v1/jobs/{job_id}", headers=headers).get_json() == job
    assert moved(counted, job_documents_counted(client)) == {"done": 1, "cancelled": 3}


@pytest.mark.slow
def test_a_job_left_by_its_process_is_finished_by_the_next(
        engine, jobs_app, make_app, request, monkeypatch, settings, scan_model_dir):
    """A job the process that accepted it never ran is finished by the next process, each
    document once. No process is killed here: the pool's first app runs nothing, and an
    UPDATE marks a document "running" as a crash mid-document leaves it; Celery's tasks
    wait in a broker no worker reads until a worker process starts. A worker killed while
    it scans is tests/test_scale_out.py's."""
    if engine == "pool":
        first = jobs_app(inert=True)
    else:
        # A Redis database no worker listens on yet: the API's tasks wait there.
        broker = request.getfixturevalue("redis_url").rsplit("/", 1)[0] + "/1"
        _flush(broker)
        monkeypatch.setitem(queue.celery.conf, "broker_url", queue.celery.conf.broker_url)
        monkeypatch.setattr(queue.celery.amqp, "_producer_pool", None)  # this app's broker
        monkeypatch.setattr(queue.celery, "_pool", None)
        first = make_app(CELERY_BROKER_URL=broker)
    client = first.test_client()
    _, headers = Accounts(first, client).user()
    text = (" ".join(RISKY_SENTENCES[:2]) + " The budget is overrun.").encode()
    job_id = accepted(post_job(client, headers, [(f"report-{n}.txt", text) for n in range(3)]),
                      total=3)
    assert get_job(client, headers, job_id)["status"] == "queued"

    if engine == "pool":
        # One document was being scanned when the process died; another job was cancelled
        # with one of its documents under way: that one is taken up too, the others not.
        ids = document_ids(first, job_id)
        with first.app_context():
            db.session.execute(update(JobDocument).where(JobDocument.id == ids[1])
                               .values(status="running", attempts=1))
            db.session.execute(update(Job).where(Job.id == job_id).values(status="running"))
            db.session.commit()
        other_id = accepted(post_job(client, headers, [("a.txt", text), ("b.txt", text)]), 2)
        with first.app_context():
            db.session.execute(update(JobDocument).where(
                JobDocument.id == document_ids(first, other_id)[0]).values(status="running"))
            db.session.commit()
        assert client.delete(f"/api/v1/jobs/{other_id}", headers=headers).status_code == 200
        second = jobs_app()
        assert queue.resume(second) == 4
        client = second.test_client()
        other = wait_for(client, headers, other_id)
        assert (other["status"], other["done"]) == ("cancelled", 1)
        assert [d["status"] for d in other["documents"]] == ["done", "cancelled"]
    else:
        assert _queued(broker) == 3
        second = make_app(CELERY_BROKER_URL=broker)
        assert queue.resume(second) == 0  # the broker still holds the tasks
        client = second.test_client()
        worker = _celery_worker_process(second, broker, scan_model_dir,
                                        request.getfixturevalue("tmp_path"))
        request.addfinalizer(lambda: _stop(worker))

    # A worker process starts and loads the trained model first: on shared cores, minutes.
    job = wait_for(client, headers, job_id, timeout=3 * TIMEOUT_S)
    assert (job["status"], job["done"], job["failed"]) == ("done", 3, 0), job
    assert {d["status"] for d in job["documents"]} == {"done"}
    scans = client.get("/api/v1/scans", headers=headers).get_json()["items"]
    assert {s["scan_id"] for s in scans} >= {d["scan_id"] for d in job["documents"]}
    for document in job["documents"]:
        scan = client.get(f"/api/v1/scans/{document['scan_id']}", headers=headers).get_json()
        assert scan["data"], scan
        if engine == "celery":  # the worker process's own analyzer: the trained model
            assert scan["model_version"] != KeywordAnalyzer.version
    with second.app_context():
        made = db.session.scalar(select(func.count()).select_from(Scan)
                                 .where(Scan.job_document_id.in_(document_ids(second, job_id))))
    assert made == 3


def _flush(broker: str) -> None:
    import redis

    with redis.Redis.from_url(broker) as client:
        client.flushdb()


def _queued(broker: str) -> int:
    import redis

    with redis.Redis.from_url(broker) as client:
        return client.llen(queue.QUEUE)


def _celery_worker_process(app, broker: str, model_dir, tmp_path) -> subprocess.Popen:
    """``celery -A service.jobs worker`` as an operator starts it: its own app from the
    environment, the same settings as the API's (database, upload storage, secret)."""
    settings = current_settings(app)
    env = {**os.environ, "RISKSCAN_ENV": "testing", "SECRET_KEY": settings.SECRET_KEY,
           "DATABASE_URL": settings.DATABASE_URL, "UPLOAD_DIR": settings.UPLOAD_DIR,
           "MODEL_DIR": str(model_dir), "CELERY_BROKER_URL": broker, "LOG_LEVEL": "WARNING",
           "LOG_FORMAT": "text"}
    log = open(tmp_path / "celery-worker.log", "wb")  # noqa: SIM115 - closed by _stop
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "service.jobs", "worker", "--pool=solo",
         "-Q", queue.QUEUE, "--loglevel=WARNING", "--without-heartbeat", "--without-gossip",
         "--without-mingle", "-n", f"restart-{uuid.uuid4().hex[:6]}@%h"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    process.log = log
    return process


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    process.log.close()


# --- the task runs once per document, however often it is run --------------------------------

def test_running_a_document_twice_makes_one_scan(inert_app):
    client = inert_app.test_client()
    _, headers = Accounts(inert_app, client).user()
    job_id = accepted(post_job(client, headers, [("plan.txt", KEYWORDS)]), total=1)
    [document_id] = document_ids(inert_app, job_id)
    assert inert_app.extensions["riskscan.jobs"].submitted == [document_id]
    counted = job_documents_counted(client)

    assert run_document(inert_app, document_id) == "done"
    assert run_document(inert_app, document_id) == "done"  # a redelivered task

    job = get_job(client, headers, job_id)
    assert (job["status"], job["done"], job["failed"]) == ("done", 1, 0)
    assert rows(inert_app, Scan) == 1
    assert moved(counted, job_documents_counted(client)) == {"done": 1}
    assert run_document(inert_app, 987654321) == "gone"


def test_a_run_that_died_after_its_scan_is_finished_by_the_next(inert_app, monkeypatch):
    """The scan committed, then the process died before the document said so: it is still
    "running", and the next run (the redelivered task, or resume) counts the scan it finds."""
    client = inert_app.test_client()
    user, headers = Accounts(inert_app, client).user()
    job_id = accepted(post_job(client, headers, [("plan.txt", KEYWORDS), ("b.txt", KEYWORDS)]),
                      total=2)
    first, second = document_ids(inert_app, job_id)
    finish = work._finish

    def dies(*args, **kwargs):
        raise SystemExit("the process died here")

    monkeypatch.setattr(work, "_finish", dies)
    with pytest.raises(SystemExit):
        run_document(inert_app, first)
    monkeypatch.setattr(work, "_finish", finish)
    crashed = get_job(client, headers, job_id)
    assert crashed["documents"][0]["status"] == "running" and crashed["done"] == 0
    assert rows(inert_app, Scan) == 1

    assert run_document(inert_app, first) == "done"
    assert run_document(inert_app, second) == "done"
    job = get_job(client, headers, job_id)
    assert (job["status"], job["done"], job["failed"]) == ("done", 2, 0)
    assert rows(inert_app, Scan) == 2
    assert job_files(inert_app, user["id"], job_id) == []
    with inert_app.app_context():
        assert db.session.get(JobDocument, first).attempts == 1  # found, not scanned again


def test_two_runs_racing_on_one_document_make_one_scan(inert_app, monkeypatch):
    """Both runs are in the analyzer at once (a task redelivered while its first worker
    still runs): the unique scans.job_document_id lets one scan commit, counted once."""
    analyzer = GatedAnalyzer(parties=2)
    monkeypatch.setattr(inert_app.extensions["riskscan.analyzers"], "model", analyzer)
    client = inert_app.test_client()
    _, headers = Accounts(inert_app, client).user()
    job_id = accepted(post_job(client, headers, [("plan.txt", KEYWORDS)]), total=1)
    [document_id] = document_ids(inert_app, job_id)
    outcomes = []
    runs = [threading.Thread(target=lambda: outcomes.append(run_document(inert_app, document_id)))
            for _ in range(2)]
    for run in runs:
        run.start()
    analyzer.wait_arrivals(2)
    analyzer.gate.set()
    for run in runs:
        run.join(TIMEOUT_S)

    assert outcomes == ["done", "done"]
    job = get_job(client, headers, job_id)
    assert (job["done"], job["failed"], job["status"]) == (1, 0, "done")
    assert rows(inert_app, Scan) == 1


# --- what a request may hold --------------------------------------------------------------

def test_hostile_archives_are_refused_before_anything_is_stored(make_app):
    app = make_app(MAX_JOB_DOCUMENTS=3)
    app.extensions["riskscan.jobs"] = Inert()
    client = app.test_client()
    user, headers = Accounts(app, client).user()
    eleven_mb = b"\0" * (11 * 1024 * 1024)  # over MAX_UPLOAD_MB (10)
    bomb = make_zip([("bomb.txt", eleven_mb)])
    assert len(bomb) < 20_000
    cases = {
        "not a zip": (422, b"PK\x03\x04 this is no archive at all"),
        "a text file": (422, KEYWORDS),
        "a zip bomb": (413, bomb),
        "a bomb under the limit, 1000:1": (413, make_zip([("dense.txt", b"\0" * 2_000_000)])),
        "a header that lies about the size": (422, lie_about_size(bomb, "bomb.txt", 1000)),
        "more members than MAX_JOB_DOCUMENTS": (413, make_zip(
            [(f"doc-{n}.txt", KEYWORDS) for n in range(4)])),
        "an encrypted member": (422, encrypt_flag(make_zip([("secret.txt", KEYWORDS)]))),
        "no document, only clutter": (422, make_zip([("__MACOSX/._a.txt", b"x"),
                                                     ("folder/", b"")])),
        "an empty zip": (422, make_zip([])),
    }
    for case, (status, archive) in cases.items():
        response = post_job(client, headers, archive=archive)
        body = assert_problem(response, status)
        assert "Traceback" not in body["detail"], case
    assert rows(app, Job) == 0 and rows(app, JobDocument) == 0
    assert not (Path(current_settings(app).UPLOAD_DIR) / user["id"] / "jobs").exists() or \
        list((Path(current_settings(app).UPLOAD_DIR) / user["id"] / "jobs").iterdir()) == []
    # Three members and clutter beside them are within the limit.
    fine = make_zip([(f"doc-{n}.txt", KEYWORDS) for n in range(3)] + [("__MACOSX/._x", b"x")])
    accepted(post_job(client, headers, archive=fine), total=3)


def damaged(zip_bytes: bytes) -> bytes:
    """The zip with bytes 9 to 17 of its first member's compressed stream overwritten (past
    the 4-byte header and 5 properties zipfile writes before LZMA's data): each decoder
    reads data that is not its own (zlib.error, LZMAError, OSError inside zipfile)."""
    data = bytearray(zip_bytes)
    name_length, extra_length = struct.unpack_from("<HH", data, 26)
    start = 30 + name_length + extra_length
    data[start + 9:start + 17] = b"\xff" * 8
    return bytes(data)


@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_LZMA,
                                         zipfile.ZIP_BZIP2], ids=["deflate", "lzma", "bzip2"])
def test_a_damaged_member_is_a_422_naming_it(inert_app, compression):
    client = inert_app.test_client()
    user, headers = Accounts(inert_app, client).user()
    archive = damaged(make_zip([("Reports/plan.txt", KEYWORDS * 20), ("b.txt", KEYWORDS)],
                               compression=compression))

    body = assert_problem(post_job(client, headers, archive=archive), 422, "archive")

    assert body["detail"] == "plan.txt cannot be read from the archive."
    assert body["errors"] == {"archive": ["plan.txt: unreadable."]}
    assert rows(inert_app, Job) == 0 and rows(inert_app, JobDocument) == 0
    assert not (Path(current_settings(inert_app).UPLOAD_DIR) / user["id"] / "jobs").exists()


def declaring(zip_bytes: bytes, entries: int) -> bytes:
    """The zip with its end record declaring ``entries`` entries (its directory unchanged)."""
    data = bytearray(zip_bytes)
    struct.pack_into("<HH", data, data.rfind(b"PK\x05\x06") + 8, entries, entries)
    return bytes(data)


def as_zip64(zip_bytes: bytes) -> bytes:
    """The zip with a zip64 end record and its locator, the classic end record pointing to
    them (0xFFFF entries, as a writer of more than 65,535 entries leaves it)."""
    end = zip_bytes.rfind(b"PK\x05\x06")
    entries, size, offset = struct.unpack_from("<HII", zip_bytes, end + 10)
    record = struct.pack("<4sQHHIIQQQQ", b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries,
                         size, offset)
    locator = struct.pack("<4sIQI", b"PK\x06\x07", 0, end, 1)
    classic = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                          0xFFFFFFFF, 0)
    return zip_bytes[:end] + record + locator + classic


def test_an_archive_of_too_many_entries_is_refused_before_its_directory_is_read(
        make_app, monkeypatch):
    """MAX_JOB_DOCUMENTS 3: 30 entries, clutter included, and 30 × 512 directory bytes.
    Past either, as the end record (or the zip64 one) says, a 413 before ZipFile builds its
    list of entries: it is never made."""
    app = make_app(MAX_JOB_DOCUMENTS=3)
    app.extensions["riskscan.jobs"] = Inert()
    client = app.test_client()
    user, headers = Accounts(app, client).user()
    opened = []

    class CountedZipFile(zipfile.ZipFile):
        def __init__(self, *args, **kwargs):
            opened.append(args)
            super().__init__(*args, **kwargs)

    documents = [(f"doc-{n}.txt", KEYWORDS) for n in range(3)]
    dot_files = [(f".{n}", b"") for n in range(31)]
    cases = {
        "31 empty dot files": make_zip(dot_files, compression=zipfile.ZIP_STORED),
        "the same in zip64": as_zip64(make_zip(dot_files, compression=zipfile.ZIP_STORED)),
        "400 that say they are 3": declaring(make_zip(
            [(f"folder-{n:03}/.x", b"") for n in range(400)], compression=zipfile.ZIP_STORED), 3),
    }
    within = [make_zip(documents + dot_files[:27]), as_zip64(make_zip(documents + dot_files[:27]))]
    monkeypatch.setattr(intake.zipfile, "ZipFile", CountedZipFile)  # from here, the API's
    for case, archive in cases.items():
        body = assert_problem(post_job(client, headers, archive=archive), 413)
        assert body["detail"] == ("The archive holds more than 30 entries, folders and clutter "
                                  "included (10 per MAX_JOB_DOCUMENTS)."), case
    assert opened == []
    assert rows(app, Job) == 0 and rows(app, JobDocument) == 0
    assert not (Path(current_settings(app).UPLOAD_DIR) / user["id"] / "jobs").exists()
    # 30 entries, in either end record, are read.
    for archive in within:
        accepted(post_job(client, headers, archive=archive), total=3)
    assert len(opened) == 2


def test_a_header_that_lies_never_gets_more_than_it_declares(inert_app):
    """A member declaring 1000 bytes whose stream inflates to 11 MB is read as 1000 bytes at
    most: with the declared checksum of the whole it is refused (above); with one that
    matches its first 1000 bytes, those are all the job keeps."""
    client = inert_app.test_client()
    user, headers = Accounts(inert_app, client).user()
    archive = bytearray(lie_about_size(make_zip([("zeros.txt", b"\0" * (11 * 2**20))]),
                                       "zeros.txt", 1000))
    crc = zlib.crc32(b"\0" * 1000)
    for signature, offset in ((b"PK\x03\x04", 14), (b"PK\x01\x02", 16)):
        struct.pack_into("<I", archive, archive.find(signature) + offset, crc)
    response = post_job(client, headers, archive=bytes(archive))
    job_id = accepted(response, total=1)
    [stored] = job_files(inert_app, user["id"], job_id)
    assert stored.stat().st_size == 1000


def test_path_traversal_names_are_kept_by_their_last_part_only(inert_app, tmp_path):
    client = inert_app.test_client()
    _, headers = Accounts(inert_app, client).user()
    upload_dir = Path(current_settings(inert_app).UPLOAD_DIR)
    archive = make_zip([("../../etc/passwd", KEYWORDS), ("/abs/olute.txt", KEYWORDS),
                        ("..\\..\\windows\\boot.txt", KEYWORDS)])  # a Windows tool's separators
    from_zip = accepted(post_job(client, headers, archive=archive), total=3)
    from_files = accepted(post_job(client, headers, [("../../../escape.txt", KEYWORDS),
                                                     ("/home/me/../plan.txt", KEYWORDS)]), 2)
    names = [d["filename"] for job_id in (from_zip, from_files)
             for d in get_job(client, headers, job_id)["documents"]]
    assert names == ["passwd", "olute.txt", "boot.txt", "escape.txt", "plan.txt"]
    for job_id in (from_zip, from_files):
        for document_id in document_ids(inert_app, job_id):
            assert run_document(inert_app, document_id) == "done"
    scans = client.get("/api/v1/scans", headers=headers).get_json()["items"]
    assert sorted(s["filename"] for s in scans) == sorted(names)
    everything = [path.resolve() for path in tmp_path.rglob("*")]
    assert all(path.is_relative_to(upload_dir.resolve()) for path in everything
               if path.is_file() and path.name != "riskscan-test.db"), everything
    assert not any(path.name in ("passwd", "escape.txt", "boot.txt") for path in everything)
    assert {path.name for path in upload_dir.rglob("original.*")} == {"original.txt"}


def test_control_characters_never_reach_a_name_or_a_download_header(inert_app):
    """A member named with LF or CR (or any control character) is kept with a space in
    its place; a name stored before that rule is made safe when its original is sent
    (werkzeug refuses a header with a line break: that was a 500 on every download)."""
    client = inert_app.test_client()
    _, headers = Accounts(inert_app, client).user()
    archive = make_zip([("plan\n.txt", KEYWORDS), ("a\rb\x1bc\x7f.txt", KEYWORDS)])
    job_id = accepted(post_job(client, headers, archive=archive), total=2)
    assert [d["filename"] for d in get_job(client, headers, job_id)["documents"]] == [
        "plan .txt", "a b c .txt"]
    for document_id in document_ids(inert_app, job_id):
        assert run_document(inert_app, document_id) == "done"
    scan_ids = [d["scan_id"] for d in get_job(client, headers, job_id)["documents"]]
    first = client.get(f"/api/v1/scans/{scan_ids[0]}/file", headers=headers)
    assert (first.status_code, first.get_data()) == (200, KEYWORDS)
    assert first.headers["Content-Disposition"] == 'attachment; filename="plan .txt"'
    first.close()

    # Names as an earlier version stored them: a header injection, and one beyond Latin-1.
    stored = {scan_ids[0]: "evil\r\nSet-Cookie: a=b.txt", scan_ids[1]: "日本\n.txt"}
    with inert_app.app_context():
        for scan_id, name in stored.items():
            db.session.get(Scan, scan_id).filename = name
        db.session.commit()
    expected = {scan_ids[0]: 'attachment; filename="evil  Set-Cookie: a=b.txt"',
                scan_ids[1]: "attachment; filename=\" .txt\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%20.txt"}
    for scan_id in scan_ids:
        response = client.get(f"/api/v1/scans/{scan_id}/file", headers=headers)
        assert (response.status_code, response.get_data()) == (200, KEYWORDS)
        assert response.headers["Content-Disposition"] == expected[scan_id]
        assert "Set-Cookie" not in response.headers
        response.close()


def test_requests_that_cannot_be_a_job(make_app):
    app = make_app(MAX_UPLOAD_MB=0.02, MAX_JOB_MB=0.1)  # 20 KB a document, 100 KB a request
    app.extensions["riskscan.jobs"] = Inert()
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    small = KEYWORDS
    big = b"The vendor may slip. " * 1500  # about 31 KB
    url = "/api/v1/jobs"

    assert_problem(post_job(client, headers, [("a.txt", small)],
                            archive=make_zip([("b.txt", small)])), 422, "archive")
    assert_problem(post_job(client, headers), 422, "files")
    assert_problem(post_job(client, headers, [("", b"")] * 300), 422, "files")
    assert_problem(post_job(client, headers, [("", b"")] * 1200), 413)  # werkzeug's parts
    assert_problem(client.post(url, json={"files": ["a.txt"]}, headers=headers), 415)
    assert_problem(client.post(url, data={"files": "a.txt"}, headers=headers), 415)
    assert_problem(client.post(url, headers=headers), 415)
    over = assert_problem(post_job(client, headers, [("small.txt", small), ("big.txt", big)]),
                          413)
    assert "big.txt" in over["detail"] and "MAX_UPLOAD_MB" in over["detail"]
    assert_problem(post_job(client, headers, archive=make_zip(
        [("big.txt", big)], compression=zipfile.ZIP_STORED)), 413)
    assert_problem(post_job(client, headers, [(f"{n}.txt", big[:19_000]) for n in range(6)]),
                   413)  # over MAX_JOB_MB altogether
    assert_problem(post_job(client, headers, archive=make_zip(
        [(f"{n}.txt", big[:19_000]) for n in range(6)])), 413)  # unpacked, likewise
    assert_problem(post_job(client, headers, [("a.txt", small)], force_llm="maybe"), 422,
                   "force_llm")
    assert_problem(post_job(client, headers, [("a.txt", small)], project_id="p" * 37), 422,
                   "project_id")
    assert_problem(post_job(client, headers, [("a.txt", small)], project_id="' OR 1=1"), 404)
    assert rows(app, Job) == 0
    # Documents each within MAX_UPLOAD_MB, together over it: a job's body may be larger.
    accepted(post_job(client, headers, [(f"{n}.txt", big[:19_000]) for n in range(3)]), 3)


def test_a_broker_that_cannot_be_reached_keeps_nothing(make_app, monkeypatch):
    """CELERY_BROKER_URL names a Redis nobody listens on: the job was committed, then no
    worker could hear of it; it is withdrawn (rows and files) and the answer is a 503 to
    retry, not a 500 and a job queued forever."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setitem(queue.celery.conf, "broker_url", queue.celery.conf.broker_url)
    monkeypatch.setattr(queue.celery.amqp, "_producer_pool", None)  # this app's broker
    monkeypatch.setattr(queue.celery, "_pool", None)
    app = make_app(CELERY_BROKER_URL=f"redis://127.0.0.1:{port}/0")
    client = app.test_client()
    user, headers = Accounts(app, client).user()

    body = assert_problem(post_job(client, headers, [("a.txt", KEYWORDS)]), 503)
    assert "queue" in body["detail"]
    assert rows(app, Job) == 0 and rows(app, JobDocument) == 0
    jobs = Path(current_settings(app).UPLOAD_DIR) / user["id"] / "jobs"
    assert not jobs.exists() or list(jobs.iterdir()) == []
    assert client.get("/api/v1/jobs", headers=headers).get_json()["total"] == 0


def test_a_new_broker_is_where_the_next_task_goes(monkeypatch):
    """An app pointed at another broker stops sending to the one it had (Celery keeps the
    pool of the first; CI once saw a later test's tasks go to an earlier test's Redis)."""
    monkeypatch.setitem(queue.celery.conf, "broker_url", queue.celery.conf.broker_url)
    monkeypatch.setattr(queue.celery.amqp, "_producer_pool", None)
    monkeypatch.setattr(queue.celery, "_pool", None)
    queue.use_broker("redis://127.0.0.1:1/0", 60)
    with queue.celery.producer_or_acquire() as first:
        assert first.connection.as_uri().endswith("@127.0.0.1:1/0")
    queue.use_broker("redis://127.0.0.1:2/0", 60)
    with queue.celery.producer_or_acquire() as second:
        assert second.connection.as_uri().endswith("@127.0.0.1:2/0")


def test_force_llm_without_an_llm_fails_each_document_in_words(inert_app):
    client = inert_app.test_client()
    _, headers = Accounts(inert_app, client).user()
    job_id = accepted(post_job(client, headers, [("a.txt", KEYWORDS), ("b.txt", KEYWORDS)],
                               force_llm="true"), total=2)
    for document_id in document_ids(inert_app, job_id):
        assert run_document(inert_app, document_id) == "failed"
    job = get_job(client, headers, job_id)
    assert (job["status"], job["done"], job["failed"]) == ("done", 0, 2)
    assert all("force_llm" in d["error"] for d in job["documents"])


# --- whose job it is -----------------------------------------------------------------------

def test_a_job_is_its_owners_and_an_admin_may_only_read_it(inert_app):
    client = inert_app.test_client()
    accounts = Accounts(inert_app, client)
    _, a_h = accounts.user()
    _, b_h = accounts.user()
    _, admin_h = accounts.user(role="admin")
    job_id = accepted(post_job(client, a_h, [("a.txt", KEYWORDS)]), total=1)
    for method in ("GET", "DELETE"):
        foreign = client.open(f"/api/v1/jobs/{job_id}", method=method, headers=b_h)
        missing = client.open(f"/api/v1/jobs/{uuid.uuid4()}", method=method, headers=b_h)
        assert_problem(foreign, 404)
        assert without_request_id(foreign) == without_request_id(missing)
    for who in (b_h, admin_h):
        assert client.get("/api/v1/jobs", headers=who).get_json()["items"] == []
    assert get_job(client, admin_h, job_id)["job_id"] == job_id
    assert_problem(client.delete(f"/api/v1/jobs/{job_id}", headers=admin_h), 404)
    job = get_job(client, a_h, job_id)
    assert job["status"] == "queued" and job["documents"][0]["status"] == "queued"
    for method, path in (("POST", "/api/v1/jobs"), ("GET", "/api/v1/jobs"),
                         ("GET", f"/api/v1/jobs/{job_id}"), ("DELETE", f"/api/v1/jobs/{job_id}")):
        assert_problem(client.open(path, method=method), 401)


def test_the_list_is_paginated_newest_first(inert_app):
    client = inert_app.test_client()
    _, headers = Accounts(inert_app, client).user()
    ids = [accepted(post_job(client, headers, [(f"{n}.txt", KEYWORDS)]), total=1)
           for n in range(3)]
    with inert_app.app_context():  # distinct creation times, whatever the clock's resolution
        for age, job_id in enumerate(reversed(ids)):
            job = db.session.get(Job, job_id)
            job.created_at = job.created_at.replace(year=2020, second=59 - age)
        db.session.commit()
    first = client.get("/api/v1/jobs", query_string={"per_page": 2}, headers=headers).get_json()
    assert [j["job_id"] for j in first["items"]] == ids[::-1][:2]
    assert (first["page"], first["per_page"], first["total"]) == (1, 2, 3)
    second = client.get("/api/v1/jobs", query_string={"per_page": 2, "page": 2},
                        headers=headers).get_json()
    assert [j["job_id"] for j in second["items"]] == ids[:1]
    past = client.get("/api/v1/jobs", query_string={"page": 9}, headers=headers).get_json()
    assert past["items"] == [] and past["total"] == 3
    for bad in ({"per_page": 101}, {"per_page": 0}, {"page": 0}, {"page": "x"},
                {"page": 2**40}, {"nope": 1}):
        assert_problem(client.get("/api/v1/jobs", query_string=bad, headers=headers), 422)


def test_each_document_says_how_many_risks_its_scan_found_in_the_list_too(inert_app):
    """A job's documents, on its page and in the list, each with its file name and the
    risks its scan counts (as the scan's `counts` say: a correction to none counts no
    more); null until it is scanned, when it failed, and once its scan is deleted."""
    client = inert_app.test_client()
    accounts = Accounts(inert_app, client)
    _, headers = accounts.user()
    _, other_h = accounts.user()
    files = [("two.txt", KEYWORDS), ("one.txt", b"The budget is overrun."),
             ("none.txt", b"Lunch was at noon."), ("empty.txt", b""), ("later.txt", KEYWORDS)]
    job_id = accepted(post_job(client, headers, files), total=5)
    for document_id in document_ids(inert_app, job_id)[:4]:
        run_document(inert_app, document_id)
    job = get_job(client, headers, job_id)
    shown = [(d["filename"], d["status"], d["risks"]) for d in job["documents"]]
    assert shown == [("two.txt", "done", 2), ("one.txt", "done", 1), ("none.txt", "done", 0),
                     ("empty.txt", "failed", None), ("later.txt", "queued", None)]
    [listed] = client.get("/api/v1/jobs", headers=headers).get_json()["items"]
    assert listed["documents"] == job["documents"]

    two, one = job["documents"][0]["scan_id"], job["documents"][1]["scan_id"]
    scan = client.get(f"/api/v1/scans/{two}", headers=headers).get_json()
    corrected = client.patch(f"/api/v1/scans/{two}/findings/{scan['data'][0]['id']}",
                             json={"category": "none"}, headers=headers)
    assert corrected.status_code == 200, corrected.get_json()
    assert client.delete(f"/api/v1/scans/{one}", headers=headers).status_code == 204
    job = get_job(client, headers, job_id)
    assert [(d["scan_id"], d["risks"]) for d in job["documents"][:2]] == [(two, 1), (None, None)]
    [listed] = client.get("/api/v1/jobs", headers=headers).get_json()["items"]
    assert listed["documents"] == job["documents"]
    assert client.get("/api/v1/jobs", headers=other_h).get_json()["items"] == []
