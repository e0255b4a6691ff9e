"""The webhooks' upkeep: a settled delivery (delivered or failed) is deleted
WEBHOOK_DELIVERY_RETENTION_DAYS after its last attempt, and the secrets a rotation replaced
are forgotten once their overlap is over.

It runs where deliveries are sent, so in every deployment (the pool's sender threads, or
the Celery workers): after a delivery attempt, at most once a minute per app, deleting at
most SWEEP_BATCH rows, found by the (status, last_attempt_at) index. A pending delivery is
never deleted, however old. Nothing a sweep does, nor its failure, changes what happens to
the attempt it followed.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from service.config import current_settings
from service.db import Webhook, WebhookDelivery, utcnow
from service.extensions import db, end_session

SWEEP_EVERY = timedelta(minutes=1)
SWEEP_BATCH = 500
SETTLED = ("delivered", "failed")
_STATE = "riskscan.webhooks.swept"  # app.extensions: when this app last swept

log = logging.getLogger("riskscan.webhooks")
_lock = threading.Lock()


def now_and_then() -> None:
    """Sweep if this app has not in the last minute (by the wall clock, as the rows'
    times are; a clock set back sweeps too)."""
    now = utcnow()
    with _lock:
        last = current_app.extensions.get(_STATE)
        if last is not None and abs(now - last) < SWEEP_EVERY:
            return
        current_app.extensions[_STATE] = now
    try:
        sweep(now)
    except Exception:  # the database away, a bug: the next sweep tries again
        log.exception("the webhooks' upkeep failed")
        end_session()  # whatever became of the connection


def sweep(now: datetime, batch: int = SWEEP_BATCH) -> int:
    """Delete up to ``batch`` deliveries settled before the retention, and the replaced
    secrets whose overlap is over; how many deliveries went. Each statement names the rows
    it found and checks them again, so that a delivery made pending meanwhile (redelivered)
    stays."""
    retention = timedelta(days=current_settings().WEBHOOK_DELIVERY_RETENTION_DAYS)
    old = (WebhookDelivery.status.in_(SETTLED), WebhookDelivery.last_attempt_at < now - retention)
    ids = db.session.scalars(select(WebhookDelivery.id).where(*old).limit(batch)).all()
    if ids:
        db.session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids), *old))
    over = Webhook.previous_secrets_until <= now
    rotated = db.session.scalars(select(Webhook.id).where(over).limit(batch)).all()
    if rotated:
        db.session.execute(update(Webhook).where(Webhook.id.in_(rotated), over).values(
            previous_secrets=None, previous_secrets_until=None,
            updated_at=Webhook.updated_at))  # the owner's last change, not the upkeep's
    db.session.commit()
    if ids:
        log.info("deleted %d webhook deliveries settled over %s ago", len(ids), retention,
                 extra={"fields": {"deleted": len(ids)}})
    return len(ids)
