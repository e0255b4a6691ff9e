"""A backup made while the service works (issue #76): a scan and a batch job's two documents
are inside the model when the backup starts, and finish while it reads the database, after
the scans were read and before their findings are. The archive holds the database as it
was at the snapshot, whole: the earlier scan with its findings, none of the later ones, the
job's documents as they were then (running); and their waiting files, which the documents
removed as they finished, so that the restored deployment takes them up again and finishes
the job. On SQLite (its online backup) and on MariaDB (one consistent-snapshot
transaction).

The service is the real app with the suite's test model; the backup's own settings leave
the models out (MODEL_DIR=off), as they are not what this test is about."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from reliability.servers import create_database, drop_database
from service.backup import dump
from service.jobs import queue, work
from tests.backups import TEXT, command_app, deployment_settings, restore_into, run, serve, stop
from tests.helpers import RACE_TIMEOUT_S, Accounts, Sent, mysql_server_url
from tests.jobs import accepted, get_job, post_job

DOCUMENTS = [("steering.txt", b"The vendor may slip the delivery of the servers by a month."),
             ("budget.txt", b"The budget may be cut again next quarter.")]


class Gate:
    """The real model behind a gate: once closed, a scan or a job's document that reaches
    it waits there until the test opens it. Only what arrives at the closed gate is
    counted: a scan that passed while it stood open is no arrival to wait for."""

    def __init__(self, model):
        self.model = model
        self.open = threading.Event()
        self.open.set()
        self._arrived = threading.Semaphore(0)

    def close(self) -> None:
        self._arrived = threading.Semaphore(0)
        self.open.clear()

    def analyze(self, text, **options):
        if not self.open.is_set():
            self._arrived.release()
        assert self.open.wait(RACE_TIMEOUT_S), "the test never opened the gate"
        return self.model.analyze(text, **options)

    def __getattr__(self, name):
        return getattr(self.model, name)

    def wait_arrivals(self, count: int) -> None:
        for _ in range(count):
            assert self._arrived.acquire(timeout=RACE_TIMEOUT_S), "nothing reached the model"


@pytest.fixture
def finished(monkeypatch):
    """A semaphore released each time a job's document has run (in any app here)."""
    released = threading.Semaphore(0)
    running = work.run_document

    def counted(document_id):
        try:
            return running(document_id)
        finally:
            released.release()

    monkeypatch.setattr(work, "run_document", counted)
    return released


def wait(semaphore: threading.Semaphore, count: int) -> None:
    for _ in range(count):
        assert semaphore.acquire(timeout=RACE_TIMEOUT_S), "a job's document never finished"


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def source_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'live.db'}"
        return
    url = create_database(mysql_server_url("no MariaDB server to back up"), "live")
    yield url
    drop_database(url)


def test_a_backup_while_scans_and_a_job_run_holds_one_instant_whole(
        source_url, tmp_path, scan_model_dir, finished, monkeypatch):
    settings = deployment_settings(tmp_path / "live", source_url, scan_model_dir, JOB_WORKERS=2)
    app = serve(settings, migrate=True)
    try:
        analyzers = app.extensions["riskscan.analyzers"]
        gate = Gate(analyzers.model)
        monkeypatch.setattr(analyzers, "model", gate)
        client = app.test_client()
        _, headers = Accounts(app, client).user()
        before = client.post("/api/v1/scans", headers=headers, json={"text": TEXT}).get_json()
        assert before["data"], "the test model finds no risk in TEXT"

        gate.close()
        job_id = accepted(post_job(client, headers, DOCUMENTS), total=2)
        gate.wait_arrivals(2)  # both documents are inside the model
        during = Sent(app, "POST", "/api/v1/scans", headers=headers, json={"text": TEXT})
        gate.wait_arrivals(1)

        def rows_then_finish(snapshot, table, read=dump.Snapshot.rows):
            yield from read(snapshot, table)
            if table.name == "scans":  # read; the findings are not yet: let the work finish
                gate.open.set()
                assert during.answer().status_code == 201
                wait(finished, 2)

        monkeypatch.setattr(dump.Snapshot, "rows", rows_then_finish)
        archive = tmp_path / "live.tar"
        backing = command_app(dataclasses.replace(settings, MODEL_DIR="off"))
        try:
            result = run(backing, "backup", str(archive))
        finally:
            stop(backing)
        assert result.exit_code == 0, result.output
        assert ", 0 model versions" in result.output
        done = get_job(client, headers, job_id)
        assert (done["status"], done["done"]) == ("done", 2)  # and their files removed
    finally:
        stop(app)

    target = deployment_settings(tmp_path / "restored", f"sqlite:///{tmp_path / 'back.db'}",
                                 scan_model_dir)
    result = restore_into(dataclasses.replace(target, MODEL_DIR="off"), archive)
    assert result.exit_code == 0, result.output
    app = serve(target)
    try:
        client = app.test_client()
        listed = client.get("/api/v1/scans", headers=headers).get_json()["items"]
        assert [scan["scan_id"] for scan in listed] == [before["scan_id"]]
        again = client.get(f"/api/v1/scans/{before['scan_id']}", headers=headers).get_json()
        assert again["data"] == before["data"]
        job = get_job(client, headers, job_id)
        assert [d["status"] for d in job["documents"]] == ["running", "running"]

        assert queue.resume(app) == 2  # as `python -m service` does at start
        wait(finished, 2)
        job = get_job(client, headers, job_id)
        assert (job["status"], job["done"], job["failed"]) == ("done", 2, 0), job
        for document, (name, _) in zip(job["documents"], DOCUMENTS, strict=True):
            scan = client.get(f"/api/v1/scans/{document['scan_id']}", headers=headers)
            assert scan.get_json()["filename"] == name and scan.get_json()["data"]
    finally:
        stop(app)
