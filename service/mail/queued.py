"""The mail outbox: ``queue`` adds a message to the caller's transaction; once it commits,
the jobs engine is handed the message (``app.extensions["riskscan.jobs"].mail``), never
before, and a rollback forgets it. As service/outbox.py does for webhooks."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import timedelta

from flask import current_app, has_app_context
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.config import current_settings
from service.db import MAIL_KINDS, MailMessage, new_id, utcnow
from service.extensions import db
from service.mail.compose import Composed

log = logging.getLogger("riskscan.mail")
_PENDING = "riskscan.mail_outbox"  # session.info: the ids of the messages this transaction added


def queue(kind: str, to_address: str, composed: Composed, *, notice_key: str | None = None,
          unsubscribe_url: str | None = None) -> MailMessage | None:
    """``composed`` to ``to_address``, sent once the caller's transaction commits; None
    (nothing written) when the deployment sends no mail. ``notice_key``: a notice told
    once (the column is unique: the caller's flush fails on a second); ``unsubscribe_url``:
    where its person turns this kind off (List-Unsubscribe)."""
    assert kind in MAIL_KINDS, kind
    settings = current_settings()
    if not settings.mail:
        return None
    now = utcnow()
    message = MailMessage(
        id=new_id(), kind=kind, to_address=to_address, subject=composed.subject,
        text_body=composed.text, html_body=composed.html, status="pending", attempts=0,
        created_at=now, next_attempt_at=now, notice_key=notice_key,
        unsubscribe_url=unsubscribe_url,
        retry_until=now + timedelta(hours=settings.MAIL_RETRY_HOURS))
    db.session.add(message)
    db.session().info.setdefault(_PENDING, []).append(message.id)
    return message


def keyed(keys: Iterable[str]) -> set[str]:
    """The notice keys among ``keys`` that a message already holds: told before."""
    keys = list(keys)
    return set(db.session.scalars(select(MailMessage.notice_key).where(
        MailMessage.notice_key.in_(keys)))) if keys else set()


def once(notice_key: str, write: Callable[[], MailMessage | None]) -> MailMessage | None:
    """``write()``, which queues the message keyed ``notice_key``, in a savepoint: None where
    another pass wrote that key meanwhile (the unique column refuses the second)."""
    try:
        with db.session.begin_nested():
            return write()
    except IntegrityError:
        log.info("the notice %s was written by another pass", notice_key)
        return None


@event.listens_for(Session, "after_commit")
def _hand_over(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending and has_app_context():
        current_app.extensions["riskscan.jobs"].mail(pending)


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, _previous_transaction) -> None:
    session.info.pop(_PENDING, None)
