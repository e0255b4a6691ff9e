"""Where a job's documents are run: Celery when ``CELERY_BROKER_URL`` is set, otherwise a
bounded pool of threads inside the service process. Both run work.run_document, and both
are told about a document only after its row is committed.

Celery: one task per document, acknowledged late (after it ran) and given back when its
worker dies, so a worker killed mid-document means the document runs again on another
one; work.py makes that second run find or make exactly one scan. RabbitMQ gives an
unacknowledged task back as soon as its worker's connection drops; Redis only after
``CELERY_VISIBILITY_TIMEOUT_S``: keep that above the longest scan. The task itself is in worker.py (the API sends it by name).

The pool: ``JOB_WORKERS`` threads; at start-up (``resume``) it takes up the documents a
previous process left queued or running (the state is in the database, not in the pool).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from celery import Celery
from flask import Flask, current_app

from service.config import Settings

log = logging.getLogger("riskscan.jobs")

TASK = "riskscan.scan_document"
QUEUE = "riskscan-documents"

celery = Celery("riskscan", set_as_current=False)
celery.conf.update(
    task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
    task_ignore_result=True, task_default_queue=QUEUE, broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False, task_serializer="json", accept_content=["json"])


def transport_options(visibility_timeout_s: int) -> dict:
    """kombu's Redis transport options for a visibility timeout. A worker's consumer puts
    the tasks of dead workers back every ``unacked_restore_interval`` ×
    ``unacked_restore_throttle`` seconds, 10 × 10 by default: up to 100 s after the
    timeout; here every tenth of the timeout, at most 10 s. A worker killed during such a
    sweep holds its lock for ``unacked_mutex_expire`` (300 s by default): kept within the
    timeout."""
    return {"visibility_timeout": visibility_timeout_s,
            "unacked_restore_interval": max(1, min(10, visibility_timeout_s // 10)),
            "unacked_restore_throttle": 1,
            "unacked_mutex_expire": min(300, visibility_timeout_s)}


def configure_celery(settings: Settings) -> None:
    """The broker the settings name (the API to send, a worker to receive); the visibility
    timeout is Redis's alone (RabbitMQ gives a task back when its worker's connection
    drops)."""
    redis = (settings.CELERY_BROKER_URL or "").startswith(("redis://", "rediss://"))
    celery.conf.update(broker_url=settings.CELERY_BROKER_URL,
                       broker_transport_options=transport_options(
                           settings.CELERY_VISIBILITY_TIMEOUT_S) if redis else {})


class Pool:
    """The laptop's engine: JOB_WORKERS threads in this process, each in the app's context."""

    def __init__(self, app: Flask, workers: int):
        self._app = app
        self._executor = ThreadPoolExecutor(max_workers=workers,
                                            thread_name_prefix="riskscan-job")

    def submit(self, document_ids: list[int]) -> None:
        for document_id in document_ids:
            self._executor.submit(self._run, document_id)

    def _run(self, document_id: int) -> None:
        from service.jobs.work import run_document

        try:
            with self._app.app_context():
                run_document(document_id)
        except Exception:  # logged; the document stays for a restart
            log.exception("job document %s could not be run", document_id)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


class Broker:
    """The distributed engine: a Celery task per document, on the configured broker."""

    def submit(self, document_ids: list[int]) -> None:
        for document_id in document_ids:
            celery.send_task(TASK, args=[document_id], queue=QUEUE)


def init_app(app: Flask, settings: Settings) -> None:
    from service import metrics
    from service.jobs.work import queued_documents

    metrics.JOB_QUEUE.set_function(queued_documents)
    if settings.CELERY_BROKER_URL:
        configure_celery(settings)
        app.extensions["riskscan.jobs"] = Broker()
        return
    app.extensions["riskscan.jobs"] = Pool(app, settings.JOB_WORKERS)


def resume(app: Flask) -> int:
    """The pool takes up the documents an earlier process left queued or running (python -m
    service calls this once the database is migrated). With a broker there is nothing to
    do: the broker still holds their tasks. Returns how many were taken up."""
    engine = app.extensions["riskscan.jobs"]
    if not isinstance(engine, Pool):
        return 0
    from service.jobs.work import unfinished_documents

    with app.app_context():
        pending = unfinished_documents()
    if pending:
        log.info("taking up %d job documents left by an earlier process", len(pending))
        engine.submit(pending)
    return len(pending)


def enqueue(document_ids: list[int]) -> None:
    current_app.extensions["riskscan.jobs"].submit(document_ids)
