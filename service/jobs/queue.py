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

A model training (service/serving/trainings.py) reaches the engine on that module's
``training_queued`` signal, connected here for each app; it runs on a pool thread of its own,
or as the Celery task ``riskscan.train_model``.

Webhook deliveries (service/webhooks/delivery.py) run on the same engine, each attempt a
task of its own, a retry one sent with its wait: Celery's ``countdown``, or in the pool a
timer (``Later``) in front of WEBHOOK_SENDERS threads of their own, so that a slow
receiver never holds a thread a document waits for. The database holds a delivery's state;
a task that comes early or twice does nothing (delivery.attempt). An attempt that ends
hands on the deliveries of its project that waited for a sender (delivery.Next.now).
Mail (service/mail/attempts.py) runs the same way: a task per attempt, MAIL_SENDERS threads
of its own in the pool, taken up at start-up as deliveries are.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from celery import Celery
from flask import Flask, current_app

from service.config import Settings
from service.db import utcnow

log = logging.getLogger("riskscan.jobs")

TASK = "riskscan.scan_document"
DELIVER_TASK = "riskscan.deliver_webhook"
TRAIN_TASK = "riskscan.train_model"
MAIL_TASK = "riskscan.send_mail"
QUEUE = "riskscan-documents"
WEBHOOK_SENDERS = 4  # the pool's threads for webhook deliveries
MAIL_SENDERS = 2  # the pool's threads for mail: a relay takes messages one connection each
LOOK_AGAIN_S = 300.0  # after an attempt that failed on our side (longer than a claim's lease)
MAIL_PASS_S = 3600.0  # how often the pool tells due dates and sends the week's digests (each once)

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
    use_broker(settings.CELERY_BROKER_URL, settings.CELERY_VISIBILITY_TIMEOUT_S)


def use_broker(url: str | None, visibility_timeout_s: float) -> None:
    """Points the Celery app at ``url``. Celery keeps the connections it opened to the broker
    it had; a new broker closes them, or tasks would still go to the old one."""
    redis = (url or "").startswith(("redis://", "rediss://"))
    if celery.conf.broker_url != url and celery._pool is not None:
        celery._pool.force_close_all()
        celery._after_fork()  # Celery's own reset of its broker and producer pools
    celery.conf.update(broker_url=url,
                       broker_transport_options=transport_options(
                           visibility_timeout_s) if redis else {})


class Later:
    """Calls ``run(key)`` on one of ``workers`` threads once the key's wait is over: a heap
    and one timer thread (started with the first key), which sleeps until the earliest is
    due, at most a minute. Due times are UTC wall-clock times, as the deliveries' rows
    hold them."""

    def __init__(self, run, workers: int):
        self._run = run
        self._workers = workers
        self._executor: ThreadPoolExecutor | None = None
        self._heap: list = []
        self._order = itertools.count()  # ties keep their order; keys are never compared
        self._busy = 0
        self._stopped = False
        self._changed = threading.Condition()

    def add(self, key, wait_s: float = 0.0) -> None:
        with self._changed:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=self._workers,
                                                    thread_name_prefix="riskscan-webhook")
                threading.Thread(target=self._tick, name="riskscan-later", daemon=True).start()
            due = utcnow() + timedelta(seconds=wait_s)
            heapq.heappush(self._heap, (due, next(self._order), key))
            self._changed.notify_all()

    def wake(self) -> None:
        """Look at the clock now (it was moved: a test's)."""
        with self._changed:
            self._changed.notify_all()

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no call runs and none is due; False if ``timeout_s`` passed first."""
        with self._changed:
            return self._changed.wait_for(lambda: self._busy == 0 and not self._due(), timeout_s)

    def _due(self) -> bool:
        return bool(self._heap) and self._heap[0][0] <= utcnow()

    def _tick(self) -> None:
        with self._changed:
            while not self._stopped:
                while self._due():
                    _, _, key = heapq.heappop(self._heap)
                    self._busy += 1
                    self._executor.submit(self._call, key)
                wait = ((self._heap[0][0] - utcnow()).total_seconds() if self._heap else 60)
                self._changed.wait(min(60.0, max(0.0, wait)))

    def _call(self, key) -> None:
        try:
            self._run(key)
        finally:
            with self._changed:
                self._busy -= 1
                self._changed.notify_all()

    def shutdown(self, wait: bool = True) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify_all()
        if self._executor is not None:
            self._executor.shutdown(wait=wait, cancel_futures=True)


class Pool:
    """The laptop's engine: JOB_WORKERS threads in this process, each in the app's context,
    and the webhook deliveries' timer and threads."""

    def __init__(self, app: Flask, workers: int):
        self._app = app
        self._executor = ThreadPoolExecutor(max_workers=workers,
                                            thread_name_prefix="riskscan-job")
        self.later = Later(self._attempt, WEBHOOK_SENDERS)
        self.mail_later = Later(self._send_mail, MAIL_SENDERS)
        self.mail_pass_later = Later(self._mail_pass, 1)  # due dates and digests, hourly
        # Trainings on a thread of their own: one takes minutes, and must not hold a
        # thread a job's documents wait for.
        self._trainer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="riskscan-train")

    def train(self, training_id: str) -> None:
        self._trainer.submit(self._train, training_id)

    def _train(self, training_id: str) -> None:
        from service.serving.trainings import run

        try:
            with self._app.app_context():
                run(training_id)
        except Exception:  # logged; the row says running until an admin looks
            log.exception("model training %s could not be run", training_id)

    def submit(self, document_ids: list[int]) -> None:
        for document_id in document_ids:
            self._executor.submit(self._run, document_id)

    def deliver(self, delivery_ids: list[str], wait_s: float = 0.0) -> None:
        for delivery_id in delivery_ids:
            self.later.add(delivery_id, wait_s)

    def _attempt(self, delivery_id: str) -> None:
        from service.webhooks.delivery import Next, attempt

        try:
            with self._app.app_context():
                following = attempt(delivery_id)
        except Exception:  # the database away: look again once a claim's lease is over
            log.exception("webhook delivery %s could not be attempted", delivery_id)
            following = Next(LOOK_AGAIN_S)
        if following.wait_s is not None:
            self.later.add(delivery_id, following.wait_s)
        for other in following.now:  # its project's, for which it made room
            self.later.add(other)

    def mail(self, message_ids: list[str], wait_s: float = 0.0) -> None:
        for message_id in message_ids:
            self.mail_later.add(message_id, wait_s)

    def _send_mail(self, message_id: str) -> None:
        from service.mail.attempts import attempt

        try:
            with self._app.app_context():
                wait = attempt(message_id)
        except Exception:  # the database away: look again once a claim's lease is over
            log.exception("mail %s could not be attempted", message_id)
            wait = LOOK_AGAIN_S
        if wait is not None:
            self.mail_later.add(message_id, wait)

    def mail_hourly(self) -> None:
        """Tell owners of due dates, and send the week's digests, now and every MAIL_PASS_S
        (python -m service starts it; a Celery deployment runs ``flask tell-due-owners`` and
        ``flask send-digests`` from cron instead)."""
        self.mail_pass_later.add("due dates and digests")

    def _mail_pass(self, key: str) -> None:
        from service.projects import digest
        from service.projects.owner_notices import tell_due

        try:
            with self._app.app_context():
                tell_due()
                digest.send()  # the week's digests, in the first pass of the week
        except Exception:  # the database away: the next pass tells what this one did not
            log.exception("the owners' due dates or the digests could not be sent")
        self.mail_pass_later.add(key, MAIL_PASS_S)

    def _run(self, document_id: int) -> None:
        from service.jobs.work import run_document

        try:
            with self._app.app_context():
                run_document(document_id)
        except Exception:  # logged; the document stays for a restart
            log.exception("job document %s could not be run", document_id)

    def shutdown(self, wait: bool = True) -> None:
        """Cancel what has not started; ``wait``: until what runs has ended. The database
        keeps both: resume() takes them up at the next start."""
        self.later.shutdown(wait)
        self.mail_later.shutdown(wait)
        self.mail_pass_later.shutdown(wait)
        self._executor.shutdown(wait=wait, cancel_futures=True)
        self._trainer.shutdown(wait=wait, cancel_futures=True)


class Broker:
    """The distributed engine: a Celery task per document, and per delivery attempt, on the
    configured broker."""

    def submit(self, document_ids: list[int]) -> None:
        for document_id in document_ids:
            celery.send_task(TASK, args=[document_id], queue=QUEUE)

    def train(self, training_id: str) -> None:
        celery.send_task(TRAIN_TASK, args=[training_id], queue=QUEUE)

    def deliver(self, delivery_ids: list[str], wait_s: float = 0.0) -> None:
        for delivery_id in delivery_ids:
            celery.send_task(DELIVER_TASK, args=[delivery_id], queue=QUEUE,
                             countdown=wait_s or None)


    def mail(self, message_ids: list[str], wait_s: float = 0.0) -> None:
        for message_id in message_ids:
            celery.send_task(MAIL_TASK, args=[message_id], queue=QUEUE,
                             countdown=wait_s or None)


def init_app(app: Flask, settings: Settings) -> None:
    from service import metrics
    from service.jobs.work import queued_documents
    from service.serving.trainings import training_queued

    metrics.JOB_QUEUE.set_function(queued_documents)
    training_queued.connect(_train_queued, sender=app)
    if settings.CELERY_BROKER_URL:
        configure_celery(settings)
        app.extensions["riskscan.jobs"] = Broker()
        return
    app.extensions["riskscan.jobs"] = Pool(app, settings.JOB_WORKERS)


def _train_queued(app: Flask, training_id: str) -> None:
    """A training ``app`` committed as queued (service/serving/trainings.start's signal, which
    serving sends without knowing the engine a floor above it): the engine runs it."""
    app.extensions["riskscan.jobs"].train(training_id)


def resume(app: Flask) -> int:
    """The pool takes up the documents an earlier process left queued or running, and the
    webhook deliveries it left pending, each at its due time (python -m service calls this
    once the database is migrated). With a broker there is nothing to do: the broker still
    holds their tasks. Returns how many documents were taken up."""
    engine = app.extensions["riskscan.jobs"]
    if not isinstance(engine, Pool):
        return 0
    from service.jobs.work import unfinished_documents
    from service.mail.attempts import pending as pending_mail
    from service.webhooks.delivery import pending as pending_deliveries

    with app.app_context():
        pending = unfinished_documents()
        deliveries = pending_deliveries()
        messages = pending_mail()
    if pending:
        log.info("taking up %d job documents left by an earlier process", len(pending))
        engine.submit(pending)
    for delivery_id, wait_s in deliveries:
        engine.deliver([delivery_id], wait_s)
    for message_id, wait_s in messages:
        engine.mail([message_id], wait_s)
    engine.mail_hourly()
    return len(pending)


def enqueue(document_ids: list[int]) -> None:
    current_app.extensions["riskscan.jobs"].submit(document_ids)
