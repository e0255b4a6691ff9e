"""A delivery's attempts: the task the jobs engine runs (service/jobs/queue.py), and when to
try again.

``attempt`` claims the delivery's next attempt with a conditional UPDATE, so that of two
copies of its task (a broker redelivering one, a redelivery racing a retry) one sends;
it holds no transaction while the receiver answers. The claim moves the next attempt past
the longest this one can take (its lease): a copy arriving meanwhile finds it not due, and
a process that dies mid-attempt leaves it due again then. A failed attempt, whatever
failed, is recorded and tried again after ``backoff_s`` (exponential, with jitter, so that
the receivers of a busy hour coming back are not all retried in the same second) until
``retry_until`` (WEBHOOK_RETRY_HOURS after the event, or after a redelivery); then the
delivery has failed.

One project's deliveries take at most PROJECT_SENDERS attempts at once, across every
process: the claim counts them under the project's row lock. A delivery over the cap is
deferred, not claimed: each attempt of the project that ends hands the oldest deferred
ones to the engine (``Next.now``), and a deferred one looks again after DEFER_S in case
no attempt does. So a project whose receivers are slow holds two senders, never all.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update

from service.api import lock_row
from service.config import current_settings
from service.db import Project, Webhook, WebhookDelivery, utcnow
from service.extensions import db
from service.webhooks import retention
from service.webhooks.sending import Outcome, send, signing_secrets

log = logging.getLogger("riskscan.webhooks")

FIRST_RETRY_S = 10.0
GROWTH = 3.0  # each wait three times the one before: 10 s, 30 s, 90 s … 4 h
LONGEST_WAIT_S = 4 * 3600.0
JITTER = 0.2  # each wait ± 20 %
PROJECT_SENDERS = 2  # one project's attempts at once (the thread pool has 4 senders)
DEFER_S = 60.0  # a deferred delivery looks again after this, if no attempt handed it on


@dataclass(frozen=True)
class Next:
    """What the engine runs after an attempt: this delivery again in ``wait_s`` seconds
    (None: not again), and ``now`` the deliveries of its project a finished attempt made
    room for."""

    wait_s: float | None = None
    now: tuple[str, ...] = ()


def backoff_s(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt."""
    wait = min(LONGEST_WAIT_S, FIRST_RETRY_S * GROWTH ** (attempts - 1))
    return wait * (1 + JITTER * (2 * (rng or random).random() - 1))


def attempt(delivery_id: str) -> Next:
    """Make the delivery's due attempt, if it is due and its project has a sender free;
    returns what to run next. Then the webhooks' upkeep, now and then (retention.py)."""
    following = _attempt(delivery_id)
    retention.now_and_then()
    return following


def _attempt(delivery_id: str) -> Next:
    now = utcnow()
    row = db.session.execute(
        select(WebhookDelivery.attempts, WebhookDelivery.status, WebhookDelivery.next_attempt_at,
               WebhookDelivery.retry_until, WebhookDelivery.body, Webhook.url, Webhook.secret,
               Webhook.previous_secrets, Webhook.previous_secrets_until, Webhook.active,
               Webhook.project_id)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(WebhookDelivery.id == delivery_id)).first()
    if row is None or row.status != "pending" or row.next_attempt_at > now:
        db.session.rollback()
        return Next()  # gone, settled, or claimed or rescheduled by another run
    settings = current_settings()
    if row.active and _project_busy(row.project_id, now):
        db.session.rollback()
        return Next(DEFER_S)  # its project's share of the senders is taken
    lease = timedelta(seconds=3 * settings.WEBHOOK_TIMEOUT_S + 60)  # judge, connect, answer
    claimed = db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending",
               WebhookDelivery.attempts == row.attempts)
        .values(attempts=row.attempts + 1, last_attempt_at=now, next_attempt_at=now + lease,
                response_status=None, duration_ms=None, error=None, response_headers=None,
                response_body=None)
    ).rowcount == 1
    db.session.commit()
    if not claimed:
        return Next()
    attempts = row.attempts + 1
    if not row.active:
        _settle(delivery_id, attempts, status="failed", response_status=None,
                duration_ms=None, error="The webhook is inactive.", next_attempt_at=None)
        return Next()
    outcome = _send(delivery_id, row, settings, signing_secrets(
        row.secret, row.previous_secrets, row.previous_secrets_until, now))
    wait = None if outcome.delivered else backoff_s(attempts)
    retry_at = utcnow() + timedelta(seconds=wait) if wait is not None else None
    if retry_at is not None and retry_at > row.retry_until:
        wait = retry_at = None
    status = "delivered" if outcome.delivered else "pending" if retry_at else "failed"
    _settle(delivery_id, attempts, status=status, response_status=outcome.response_status,
            duration_ms=outcome.duration_ms, error=outcome.error, next_attempt_at=retry_at,
            response_headers=outcome.response_headers, response_body=outcome.response_body)
    log.info("webhook delivery %s: %s", delivery_id, status,
             extra={"fields": {"delivery_id": delivery_id, "status": status,
                               "response_status": outcome.response_status,
                               "attempts": attempts}})
    return Next(wait, _made_room(row.project_id))


def _send(delivery_id: str, row, settings, secrets: list[str]) -> Outcome:
    """sending.send, with whatever else fails on our side (a damaged secret, a bug)
    recorded as the attempt's failure: the delivery settles, and the log has the rest (the
    owner reads no exception's name)."""
    started = time.perf_counter()
    try:
        return send(row.url, secrets=secrets, message_id=delivery_id, body=row.body,
                    allowed=settings.WEBHOOK_ALLOWED_NETWORKS,
                    timeout_s=settings.WEBHOOK_TIMEOUT_S)
    except Exception:
        log.exception("webhook delivery %s: the attempt failed on our side", delivery_id)
        return Outcome(False, None, round((time.perf_counter() - started) * 1000),
                       "The attempt failed on Riskscan's side; it is logged.")


def _project_busy(project_id: str, now) -> bool:
    """Whether the project has PROJECT_SENDERS attempts under way, counted once this
    transaction holds the project's row (lock_row), so that two claims at the cap's edge
    count in turn. The lock is the transaction's first statement and the count a plain
    read: on MySQL its snapshot then starts after the lock, and a locking read of the
    deliveries would take gap locks that a concurrent settle's index update waits on."""
    db.session.rollback()
    lock_row(Project, project_id)
    return db.session.scalar(_in_flight(project_id, now)) >= PROJECT_SENDERS


def _in_flight(project_id: str, now):
    """The count of the project's attempts under way: claimed (their lease not over) and
    not yet settled (a settled attempt has its duration)."""
    return (select(func.count()).select_from(WebhookDelivery)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .where(Webhook.project_id == project_id, WebhookDelivery.status == "pending",
                   WebhookDelivery.attempts > 0, WebhookDelivery.duration_ms.is_(None),
                   WebhookDelivery.next_attempt_at > now))


def _made_room(project_id: str) -> tuple[str, ...]:
    """The project's oldest due deliveries, as many as it has senders free: those deferred
    while its share was taken (or queued already: a copy that finds one claimed does
    nothing)."""
    now = utcnow()
    free = PROJECT_SENDERS - db.session.scalar(_in_flight(project_id, now))
    due = [] if free <= 0 else db.session.scalars(
        select(WebhookDelivery.id).join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(Webhook.project_id == project_id, WebhookDelivery.status == "pending",
               WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(free)).all()
    db.session.rollback()
    return tuple(due)


def _settle(delivery_id: str, attempts: int, **values) -> None:
    """Record the attempt's end, unless its lease ran out and a later attempt claimed the
    delivery meanwhile: that one's outcome is the row's."""
    db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id,
                                                     WebhookDelivery.attempts == attempts)
                       .values(**values))
    db.session.commit()


def pending() -> list[tuple[str, float]]:
    """Every pending delivery with the seconds until its attempt is due: what the thread
    pool takes up at start-up."""
    now = utcnow()
    rows = db.session.execute(select(WebhookDelivery.id, WebhookDelivery.next_attempt_at)
                              .where(WebhookDelivery.status == "pending")).all()
    db.session.rollback()
    return [(row.id, max(0.0, (row.next_attempt_at - now).total_seconds())) for row in rows]
