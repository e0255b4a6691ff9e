"""The webhooks' outbox: a change to a register entry becomes deliveries in the transaction
that makes it, and they leave only once it commits.

``record`` adds a WebhookDelivery for each active webhook of the entry's project whose
events and rule want the event, to the caller's transaction: an event is sent if and only
if its change committed. After the commit, the deliveries are handed to the jobs engine
(``app.extensions["riskscan.jobs"]``, service/jobs/queue.py), which sends them
(service/webhooks/delivery.py); nothing is sent from the thread that made the change, so a
slow receiver never slows a scan. It sits beside audit.py, below the route packages, so
that the register (service/projects/) records events without importing service/webhooks/.
"""

from __future__ import annotations

import json
from datetime import timedelta

from flask import current_app, has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from service import rating
from service.config import current_settings
from service.db import WEBHOOK_EVENTS, RegisterEntry, Webhook, WebhookDelivery, new_id, utcnow
from service.entry_fields import SENT
from service.extensions import db

PING = "ping"  # a delivery's event when an owner tests the receiver: no register change
_PENDING = "riskscan.outbox"  # session.info: the ids of the deliveries this transaction added
_HOOKS = "riskscan.outbox_webhooks"  # session.info: project id -> its active webhooks


def record(event_type: str, entry: RegisterEntry, **details) -> None:
    """Add the deliveries of ``event_type`` about ``entry`` (flushed: it has its id) to the
    current transaction; ``details`` join the body's ``data`` (a status's ``from`` and
    ``to``, the scan that reopened it). The ratings' change calls this with
    ``risk.rated``."""
    assert event_type in WEBHOOK_EVENTS, event_type
    score = rating.score(entry.likelihood, entry.impact)
    wanted = [hook for hook in _webhooks(entry.project_id)
              if event_type in hook.events and _passes(hook, entry, score)]
    if not wanted:
        return
    now = utcnow()
    body = _body(event_type, now, {"project_id": entry.project_id,
                                   "risk": _risk(entry, score), **details})
    window = timedelta(hours=current_settings().WEBHOOK_RETRY_HOURS)
    for hook in wanted:
        _deliver(hook.id, event_type, body, now, retry_until=now + window)


def ping(webhook: Webhook, actor_id: str) -> WebhookDelivery:
    """A ``ping`` delivery to ``webhook`` alone, added to the current transaction: its
    owner's test of the receiver. Tried once, never retried (its retries end as it is
    made): its outcome is what the receiver answers now. A redelivery retries it as any."""
    now = utcnow()
    body = _body(PING, now, {"project_id": webhook.project_id, "webhook_id": webhook.id,
                             "actor_id": actor_id})
    return _deliver(webhook.id, PING, body, now, retry_until=now)


def _body(event_type: str, now, data: dict) -> str:
    """A delivery's body: the event, when it happened, and its data, as compact JSON."""
    return json.dumps({"type": event_type, "timestamp": now.isoformat(), "data": data},
                      separators=(",", ":"), default=_plain)


def _deliver(webhook_id: str, event_type: str, body: str, now, *, retry_until
             ) -> WebhookDelivery:
    """A pending delivery due now, added to the current transaction and handed over."""
    delivery = WebhookDelivery(id=new_id(), webhook_id=webhook_id, event=event_type, body=body,
                               status="pending", attempts=0, created_at=now,
                               next_attempt_at=now, retry_until=retry_until)
    db.session.add(delivery)
    hand_over(delivery)
    return delivery


def hand_over(delivery: WebhookDelivery) -> None:
    """Give ``delivery`` (pending, due now) to the jobs engine once this transaction
    commits; a rollback forgets it."""
    db.session().info.setdefault(_PENDING, []).append(delivery.id)


def _passes(hook: Webhook, entry: RegisterEntry, score: int | None) -> bool:
    """The webhook's rule: a minimum rating ``score`` (the entry's; an unrated entry has
    none, and does not pass), and categories."""
    if hook.categories is not None and entry.category not in hook.categories:
        return False
    if hook.min_score is not None:
        return score is not None and score >= hook.min_score
    return True


def _webhooks(project_id: str) -> list[Webhook]:
    """The project's active webhooks, read once per transaction (a scan may record an
    event for each of the dozens of entries it opens)."""
    known = db.session().info.setdefault(_HOOKS, {})
    if project_id not in known:
        known[project_id] = db.session.scalars(select(Webhook).where(
            Webhook.project_id == project_id, Webhook.active.is_(True))).all()
    return known[project_id]


def _risk(entry: RegisterEntry, score: int | None) -> dict:
    """The entry as a message says it: its fields that leave the project (entry_fields.SENT;
    the dates it was seen as days), and its score."""
    risk = {name: getattr(entry, name) for name in SENT}
    risk.update(first_seen=entry.first_seen.date(), last_seen=entry.last_seen.date(),
                added_by_user=bool(entry.added_by_user), score=score)
    return risk


def _plain(value):
    """Dates and times, as ISO 8601; anything else json cannot write is a bug."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} in a webhook's body")


@event.listens_for(Session, "after_commit")
def _send(session: Session) -> None:
    session.info.pop(_HOOKS, None)
    pending = session.info.pop(_PENDING, None)
    if pending and has_app_context():
        current_app.extensions["riskscan.jobs"].deliver(pending)


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, _previous_transaction) -> None:
    session.info.pop(_HOOKS, None)
    session.info.pop(_PENDING, None)
