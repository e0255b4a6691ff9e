"""What the batch jobs' tests share (service/jobs/): an engine that runs nothing (``Inert``),
a real Celery worker on a real Redis server (the ``celery_worker`` fixture), and a job's
requests as a client sends them and reads them back."""

from __future__ import annotations

import io
import threading
import time
import zipfile
from collections import Counter

import pytest
from sqlalchemy import select

from service.db import JobDocument
from service.extensions import db
from service.jobs import queue, work

KEYWORDS = b"The vendor may slip the delivery. The budget is overrun. Lunch was at noon."


TIMEOUT_S = 60.0


class Inert:
    """An engine that hears of documents and runs none: what a process that accepted a job
    and died before running it leaves behind, and what the tests of requests need."""

    def __init__(self):
        self.submitted: list[int] = []

    def submit(self, document_ids):
        self.submitted.extend(document_ids)


class Ledger:
    """The tasks sent to the test worker's broker and the runs of them it finished, by task
    id, from Celery's signals (both sides are in this process): once every task sent has
    run as often as it was sent (a retry sends it again), the worker is idle for good."""

    def __init__(self, broker_url: str):
        self.broker_url = broker_url
        self.sent: Counter[str] = Counter()
        self.ran: Counter[str] = Counter()
        self.changed = threading.Condition()

    def published(self, headers=None, **_):
        if queue.celery.conf.broker_url == self.broker_url:  # not another test's broker
            with self.changed:
                self.sent[headers["id"]] += 1

    def finished(self, task_id=None, **_):
        with self.changed:
            self.ran[task_id] += 1
            self.changed.notify_all()

    def wait_idle(self) -> None:
        with self.changed:
            if not self.changed.wait_for(lambda: self.sent <= self.ran, TIMEOUT_S):
                pytest.fail(f"the Celery worker did not run its tasks: {self.sent - self.ran}")


@pytest.fixture(scope="module")
def celery_worker(redis_url):
    """A Celery worker on the Redis server, in a thread, for the whole file; and the ledger
    of its tasks."""
    from celery import signals
    from celery.contrib.testing.worker import start_worker

    ledger = Ledger(redis_url)
    signals.after_task_publish.connect(ledger.published, weak=False)
    signals.task_postrun.connect(ledger.finished, weak=False)
    queue.use_broker(redis_url, 3600)  # what configure_celery sets
    try:
        with start_worker(queue.celery, pool="solo", concurrency=1, queues=[queue.QUEUE],
                          perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30):
            yield ledger
    finally:
        signals.after_task_publish.disconnect(ledger.published)
        signals.task_postrun.disconnect(ledger.finished)


def post_job(client, headers, files=None, archive=None, **form):
    data = dict(form)
    if files is not None:
        data["files"] = [(io.BytesIO(content), name) for name, content in files]
    if archive is not None:
        data["archive"] = (io.BytesIO(archive), "documents.zip")
    return client.post("/api/v1/jobs", data=data, headers=headers,
                       content_type="multipart/form-data")


def accepted(response, total: int) -> str:
    assert response.status_code == 202, response.get_data(as_text=True)
    body = response.get_json()
    assert body.keys() == {"job_id", "status", "total"}
    assert (body["status"], body["total"]) == ("queued", total)
    assert response.headers["Location"].endswith(f"/api/v1/jobs/{body['job_id']}")
    return body["job_id"]


def get_job(client, headers, job_id) -> dict:
    response = client.get(f"/api/v1/jobs/{job_id}", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def wait_for(client, headers, job_id, until=lambda job: job["finished_at"] is not None,
             timeout: float = TIMEOUT_S) -> dict:
    """Poll GET /api/v1/jobs/{id} until ``until(job)`` (by default: the job has ended)."""
    deadline = time.monotonic() + timeout
    while True:
        job = get_job(client, headers, job_id)
        if until(job):
            return job
        if time.monotonic() > deadline:
            pytest.fail(f"job {job_id} not there after {timeout:.0f} s: {job}")
        time.sleep(0.05)


def make_zip(members, *, compression=zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ``(name, bytes)`` members; a name ending in / is a folder entry."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, content in members:
            archive.writestr(name, content)
    return buffer.getvalue()


def document_ids(app, job_id) -> list[int]:
    with app.app_context():
        ids = list(db.session.scalars(select(JobDocument.id).where(JobDocument.job_id == job_id)
                                      .order_by(JobDocument.position)))
        db.session.remove()
        return ids


def run_document(app, document_id) -> str:
    """The task, as either engine runs it: in an app context of its own."""
    with app.app_context():
        try:
            return work.run_document(document_id)
        finally:
            db.session.remove()
