"""A delivery's attempts: the task the jobs engine runs (service/jobs/queue.py), and when to
try again.

``attempt`` claims the delivery's next attempt with a conditional UPDATE, so that of two
copies of its task (a broker redelivering one, a redelivery racing a retry) one sends;
it holds no transaction while the receiver answers. The claim moves the next attempt past
the longest this one can take: a copy arriving meanwhile finds it not due, and a process
that dies mid-attempt leaves it due again then. A failed attempt is tried again after
``backoff_s`` (exponential, with jitter, so that the receivers of a busy hour coming back
are not all retried in the same second) until ``retry_until`` (WEBHOOK_RETRY_HOURS after
the event, or after a redelivery); then the delivery has failed.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from service.extensions import db
from service.models import Webhook, WebhookDelivery, utcnow
from service.webhooks.sending import send

log = logging.getLogger("riskscan.webhooks")

FIRST_RETRY_S = 10.0
GROWTH = 3.0  # each wait three times the one before: 10 s, 30 s, 90 s … 4 h
LONGEST_WAIT_S = 4 * 3600.0
JITTER = 0.2  # each wait ± 20 %


def backoff_s(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds to wait after the ``attempts``-th failed attempt."""
    wait = min(LONGEST_WAIT_S, FIRST_RETRY_S * GROWTH ** (attempts - 1))
    return wait * (1 + JITTER * (2 * (rng or random).random() - 1))


def attempt(delivery_id: str) -> float | None:
    """Make the delivery's due attempt, if it is due; returns the seconds until its next
    one (the caller has it run then), or None when there is none to schedule."""
    now = utcnow()
    row = db.session.execute(
        select(WebhookDelivery.attempts, WebhookDelivery.status, WebhookDelivery.next_attempt_at,
               WebhookDelivery.retry_until, WebhookDelivery.body, Webhook.url, Webhook.secret,
               Webhook.active)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(WebhookDelivery.id == delivery_id)).first()
    if row is None or row.status != "pending" or row.next_attempt_at > now:
        db.session.rollback()
        return None  # gone, settled, or claimed or rescheduled by another run
    settings = current_app.config["SETTINGS"]
    lease = timedelta(seconds=3 * settings.WEBHOOK_TIMEOUT_S + 60)  # judge, connect, read
    claimed = db.session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending",
               WebhookDelivery.attempts == row.attempts)
        .values(attempts=row.attempts + 1, last_attempt_at=now, next_attempt_at=now + lease)
    ).rowcount == 1
    db.session.commit()
    if not claimed:
        return None
    if not row.active:
        _settle(delivery_id, status="failed", response_status=None, duration_ms=None,
                error="The webhook is inactive.", next_attempt_at=None)
        return None
    outcome = send(row.url, secret=row.secret, message_id=delivery_id, body=row.body,
                   allowed=settings.WEBHOOK_ALLOWED_NETWORKS,
                   timeout_s=settings.WEBHOOK_TIMEOUT_S)
    wait = None if outcome.delivered else backoff_s(row.attempts + 1)
    retry_at = utcnow() + timedelta(seconds=wait) if wait is not None else None
    if retry_at is not None and retry_at > row.retry_until:
        wait = retry_at = None
    status = "delivered" if outcome.delivered else "pending" if retry_at else "failed"
    _settle(delivery_id, status=status, response_status=outcome.response_status,
            duration_ms=outcome.duration_ms, error=outcome.error, next_attempt_at=retry_at)
    log.info("webhook delivery %s: %s", delivery_id, status,
             extra={"fields": {"delivery_id": delivery_id, "status": status,
                               "response_status": outcome.response_status,
                               "attempts": row.attempts + 1}})
    return wait


def _settle(delivery_id: str, **values) -> None:
    db.session.execute(update(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
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
