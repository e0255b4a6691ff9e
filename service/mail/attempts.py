"""A message's attempts: the task the jobs engine runs (service/jobs/queue.py), and when to
try again. As a webhook delivery's (service/webhooks/delivery.py): the attempt is claimed by
a conditional UPDATE, so that of two copies of its task one sends; the claim moves the next
attempt past the longest this one can take, so that a worker that dies mid-attempt leaves
it due again; no transaction is held while the relay answers. A failed attempt is tried
again after ``backoff_s`` until ``retry_until``; then, or when the relay refused it for good,
the message has failed, its error kept for the admins."""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from sqlalchemy import select, update

from service.config import current_settings
from service.db import MailMessage, utcnow
from service.extensions import db
from service.mail.relay import send

log = logging.getLogger("riskscan.mail")

FIRST_RETRY_S = 30.0
GROWTH = 3.0  # 30 s, 90 s, 4.5 min … 1 h
LONGEST_WAIT_S = 3600.0
JITTER = 0.2


def backoff_s(attempts: int) -> float:
    wait = min(LONGEST_WAIT_S, FIRST_RETRY_S * GROWTH ** (attempts - 1))
    return wait * (1 + JITTER * (2 * random.random() - 1))


def attempt(message_id: str) -> float | None:
    """Make the message's due attempt, if it is due; the seconds until the next one, or
    None when there is none to make (sent, failed, or not this copy's to make)."""
    now = utcnow()
    row = db.session.execute(select(MailMessage).where(MailMessage.id == message_id)
                             ).scalar_one_or_none()
    if row is None or row.status != "pending" or (row.next_attempt_at or now) > now:
        db.session.rollback()
        return None
    settings = current_settings()
    lease = timedelta(seconds=3 * settings.SMTP_TIMEOUT_S + 60)
    attempts, retry_until = row.attempts + 1, row.retry_until
    claimed = db.session.execute(
        update(MailMessage).where(MailMessage.id == message_id, MailMessage.status == "pending",
                                  MailMessage.attempts == attempts - 1)
        .values(attempts=attempts, last_attempt_at=now, next_attempt_at=now + lease)
        .execution_options(synchronize_session=False)).rowcount == 1
    db.session.commit()
    if not claimed:
        return None
    outcome = send(row, settings)
    if outcome.sent:
        _settle(message_id, attempts, status="sent", sent_at=utcnow(), error=None,
                next_attempt_at=None)
        log.info("mail %s sent", message_id, extra={"fields": {"mail_id": message_id}})
        return None
    wait = None if outcome.permanent else backoff_s(attempts)
    retry_at = utcnow() + timedelta(seconds=wait) if wait is not None else None
    if retry_at is not None and retry_at > retry_until:
        wait = retry_at = None
    _settle(message_id, attempts, status="pending" if retry_at else "failed",
            error=outcome.error, next_attempt_at=retry_at)
    log.warning("mail %s: %s", message_id, outcome.error,
                extra={"fields": {"mail_id": message_id, "attempts": attempts,
                                  "gave_up": retry_at is None}})
    return wait


def _settle(message_id: str, attempts: int, **values) -> None:
    """Record the attempt's end, unless a later attempt claimed the message meanwhile."""
    db.session.execute(update(MailMessage).where(MailMessage.id == message_id,
                                                 MailMessage.attempts == attempts)
                       .values(**values))
    db.session.commit()


def pending() -> list[tuple[str, float]]:
    """Every pending message with the seconds until its attempt is due: what the engine
    takes up at start-up."""
    now = utcnow()
    rows = db.session.execute(select(MailMessage.id, MailMessage.next_attempt_at)
                              .where(MailMessage.status == "pending")).all()
    db.session.rollback()
    return [(row.id, max(0.0, ((row.next_attempt_at or now) - now).total_seconds()))
            for row in rows]
