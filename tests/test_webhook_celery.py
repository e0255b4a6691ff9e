"""The production path of a delivery: with a broker, each attempt is a Celery task
(``riskscan.deliver_webhook``) and a retry is the same task sent again with its wait as the
countdown. A scan into a project reaches a real receiver through a real Celery worker on
RabbitMQ, the broker compose runs (``RABBITMQ_URL``, .ci/start-rabbitmq; the tests skip
without it unless real parts are required).

The worker runs in a thread of this process (celery.contrib.testing.worker, as in
tests/test_jobs.py) on a queue of this module's own, so that another test run's worker on
the same node takes none of its tasks; its tasks run in the test's app. The first retry's
wait is shortened to about a second (``FIRST_RETRY_S``): the countdown is real time."""

from __future__ import annotations

import os
import threading
import uuid
from collections import Counter
from datetime import datetime

import kombu
import pytest

from service.jobs import queue, worker
from service.webhooks import delivery
from tests import webhooks
from tests.projects import Team, scan_into
from tests.real_parts import require_or_skip
from tests.webhooks import create, rows, verify

make_hooks_app, receiver = webhooks.make_hooks_app, webhooks.receiver

RABBITMQ_URL = os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")
IDLE_S = 60.0


class Ledger:
    """The delivery tasks published to this module's queue (their ids and ETAs) and the
    runs of them the worker finished, from Celery's signals (both sides are in this
    process)."""

    def __init__(self, queue_name: str):
        self.queue_name = queue_name
        self.published: list[tuple[str, str | None]] = []  # (task id, ETA)
        self.ran: Counter[str] = Counter()
        self.changed = threading.Condition()

    def on_publish(self, sender=None, headers=None, routing_key=None, **_):
        if sender == queue.DELIVER_TASK and routing_key == self.queue_name:
            with self.changed:
                self.published.append((headers["id"], headers.get("eta")))

    def on_finish(self, task_id=None, **_):
        with self.changed:
            self.ran[task_id] += 1
            self.changed.notify_all()

    def wait_idle(self) -> None:
        """Every task published has run."""
        with self.changed:
            done = self.changed.wait_for(
                lambda: all(self.ran[task_id] for task_id, _ in self.published), IDLE_S)
        assert done, f"the worker did not run its tasks: {self.published} {self.ran}"


@pytest.fixture(scope="module")
def rabbit_worker():
    from celery import signals
    from celery.contrib.testing.worker import start_worker

    try:
        with kombu.Connection(RABBITMQ_URL, connect_timeout=5) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception:  # noqa: BLE001 - any failure to connect: no broker here
        require_or_skip(f"no RabbitMQ answers at {RABBITMQ_URL} (.ci/start-rabbitmq)")
    name = f"riskscan-test-webhooks-{uuid.uuid4().hex[:12]}"
    ledger = Ledger(name)
    signals.after_task_publish.connect(ledger.on_publish, weak=False)
    signals.task_postrun.connect(ledger.on_finish, weak=False)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(queue, "QUEUE", name)
        patch.setitem(queue.celery.conf, "broker_url", RABBITMQ_URL)
        patch.setitem(queue.celery.conf, "broker_transport_options", {})
        patch.setattr(queue.celery.amqp, "_producer_pool", None)  # this module's broker
        patch.setattr(queue.celery, "_pool", None)
        try:
            with start_worker(queue.celery, pool="solo", concurrency=1, queues=[name],
                              perform_ping_check=False, loglevel="WARNING",
                              shutdown_timeout=30):
                yield ledger
        finally:
            signals.after_task_publish.disconnect(ledger.on_publish)
            signals.task_postrun.disconnect(ledger.on_finish)
            with kombu.Connection(RABBITMQ_URL) as connection:
                connection.default_channel.queue_delete(name)
            queue.celery.pool.force_close_all()


@pytest.fixture
def ledger(rabbit_worker):
    """The module's worker, with the record of this test's tasks alone; idle afterwards."""
    with rabbit_worker.changed:
        rabbit_worker.published.clear()
    yield rabbit_worker
    rabbit_worker.wait_idle()


def test_a_scan_reaches_the_receiver_through_a_worker_and_a_500_is_sent_again(
        make_hooks_app, ledger, receiver, monkeypatch):
    monkeypatch.setattr(delivery, "FIRST_RETRY_S", 1.0)
    app = make_hooks_app(CELERY_BROKER_URL=RABBITMQ_URL)
    assert isinstance(app.extensions["riskscan.jobs"], queue.Broker)
    monkeypatch.setattr(worker, "_app", app)  # the worker's tasks run in this app
    team = Team(app, app.test_client())
    webhook = create(team, f"{receiver.url}/hook", events=["risk.created"])
    receiver.answers = [500]

    scan_into(team.client, team.owner_h, team.id, "The vendor may slip.")
    first, second = receiver.next(), receiver.next()
    ledger.wait_idle()

    [row] = rows(app, webhook["id"])
    assert (row.status, row.attempts, row.response_status, row.error, row.next_attempt_at) == (
        "delivered", 2, 204, None, None)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == row.id
    assert first.body == second.body == row.body.encode()
    assert verify(webhook["secret"], second)
    # Two tasks through the broker: the first at once, the retry with its countdown, run
    # no earlier than its ETA.
    [(_, at_once), (_, eta)] = ledger.published
    assert at_once is None and eta is not None
    assert row.last_attempt_at >= datetime.fromisoformat(eta)
