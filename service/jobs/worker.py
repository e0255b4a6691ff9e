"""The Celery worker's side: ``celery -A service.jobs worker`` runs this task.

A worker process builds the Flask app once, from the environment (create_app: the same
settings as the API's processes), and runs each document in its app context. The one
module of service/ below the app factory that calls it: a worker is an entry point.
"""

from __future__ import annotations

import threading

from celery import signals
from flask import Flask
from sqlalchemy.exc import OperationalError

from service.config import Settings
from service.jobs.queue import (
    DELIVER_TASK,
    MAIL_TASK,
    TASK,
    TRAIN_TASK,
    Broker,
    celery,
    configure_celery,
)

_app: Flask | None = None
_app_lock = threading.Lock()
#: Seconds a new pool process may take to start, its warm-up included (Celery's default, 4 s,
#: is less than loading the model): one that takes longer is killed and replaced.
PROCESS_START_TIMEOUT_S = 600.0
_warm_processes = False  # set in a `celery worker` (celeryd_init), not in a test's own worker


def worker_app() -> Flask:
    global _app
    with _app_lock:
        if _app is None:
            from service import create_app

            _app = create_app(Settings.from_env())
    return _app


@signals.celeryd_init.connect
def configure_worker(**_) -> None:
    """The broker and its transport options from the environment, as the API reads them,
    before the worker connects: the worker's consumer (not its pool's processes, which build
    the app) is what takes a dead worker's tasks back, after its visibility timeout."""
    global _warm_processes
    configure_celery(Settings.from_env())
    celery.conf.worker_proc_alive_timeout = PROCESS_START_TIMEOUT_S
    _warm_processes = True


@signals.worker_shutting_down.connect
def wake_for_shutdown(**_) -> None:
    """SIGTERM is a warm shutdown (Celery's default): the worker takes no new task and ends
    when its running ones have. Celery's handler only marks the worker as stopping; its
    event loop sees that after its next poll, which may wait 10 s for a broker timer, as
    long as a container's default stop grace period. Woken here (from a thread: a wake-up
    from the loop's own thread is not sent), the shutdown starts at once."""
    from kombu.asynchronous import get_event_loop

    hub = get_event_loop()
    if hub is not None:
        threading.Thread(target=hub.call_soon, args=(_nothing,), name="riskscan-wake",
                         daemon=True).start()


def _nothing() -> None:
    """What the woken event loop runs: the wake-up is the point."""


@signals.worker_process_init.connect
def plain_process(**_) -> None:
    """A prefork pool process is billiard's, and multiprocessing reads billiard's record of
    it: a daemonic process (which may not start children) with an authentication key that
    cannot be sent to a spawned child. Text extraction (service/uploads/isolation.py)
    spawns its processes from here: for multiprocessing this process is made an ordinary
    one, not daemonic, with a key of its own."""
    import multiprocessing
    import os
    from multiprocessing.process import AuthenticationString

    current = multiprocessing.current_process()
    current._config["daemon"] = False
    current._config["authkey"] = AuthenticationString(os.urandom(32))


@signals.worker_process_init.connect
def warm_process(**_) -> None:
    """Build the app and warm its model (service.serving.warmup.warm_up) before this process
    takes its first task: a task it took cold waited seconds for what the first scan of a
    process does. Connected after plain_process, so it runs after it (the warm-up starts
    the text extractors' processes). A test's in-thread worker runs in the test's app instead."""
    if _warm_processes:
        from service.serving.warmup import warm_up

        warm_up(worker_app())


# A database that is away (a restart, a deadlock victim) is not the document's fault: the
# task is tried again later instead of leaving the document queued with no task.
@celery.task(name=TASK, acks_late=True, reject_on_worker_lost=True,
             autoretry_for=(OperationalError,), retry_backoff=True, retry_backoff_max=60,
             max_retries=8)
def scan_document(document_id: int) -> str:
    """Make one job document a scan (work.run_document: idempotent, so a redelivery after
    a worker died mid-document finds or makes exactly one scan)."""
    from service.jobs.work import run_document

    with worker_app().app_context():
        return run_document(document_id)


@celery.task(name=DELIVER_TASK, acks_late=True, autoretry_for=(OperationalError,),
             retry_backoff=True, retry_backoff_max=60, max_retries=8)
def deliver_webhook(delivery_id: str) -> None:
    """One attempt of a webhook delivery (delivery.attempt: a copy that comes early or
    twice does nothing); a failed or deferred one is sent again with its wait as the
    countdown, and the deliveries of its project it made room for at once."""
    from service.webhooks.delivery import attempt

    with worker_app().app_context():
        following = attempt(delivery_id)
    if following.wait_s is not None:
        Broker().deliver([delivery_id], following.wait_s)
    if following.now:
        Broker().deliver(list(following.now))


@celery.task(name=MAIL_TASK, acks_late=True, autoretry_for=(OperationalError,),
             retry_backoff=True, retry_backoff_max=60, max_retries=8)
def send_mail(message_id: str) -> None:
    """One attempt of a message (mail.delivery.attempt: a copy that comes early or twice
    does nothing); a retry is sent again with its countdown."""
    from service.mail.attempts import attempt

    with worker_app().app_context():
        wait = attempt(message_id)
    if wait is not None:
        Broker().mail([message_id], wait)


@celery.task(name=TRAIN_TASK, acks_late=True, autoretry_for=(OperationalError,),
             retry_backoff=True, retry_backoff_max=60, max_retries=8)
def train_model(training_id: str) -> str:
    """A model training from corrections (service/serving/trainings.run: a copy of the task
    that finds its training no longer queued does nothing)."""
    from service.serving.trainings import run

    with worker_app().app_context():
        return run(training_id)
