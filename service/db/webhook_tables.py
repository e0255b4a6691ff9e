"""The tables of webhooks: a project's receivers and their deliveries (service/webhooks/)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.db.columns import UTCDateTime, new_id, utcnow
from service.extensions import db

WEBHOOK_EVENTS = ("risk.created", "risk.reopened", "risk.status_changed", "risk.rated",
                  "risk.merged", "risk.split", "risk.finding_removed", "risk.moved")
# pending: an attempt is due (the first, a retry, a redelivery); failed: retries gave up.
DELIVERY_STATUSES = ("pending", "delivered", "failed")


class Webhook(db.Model):
    """A project's receiver of register events (service/webhooks/): its URL, the events and
    the rule it wants, and the secret its deliveries are signed with. The secret is kept as
    it is (signing needs it, unlike an API key's hash) and shown once, at creation or
    rotation."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list] = mapped_column(JSON)  # of WEBHOOK_EVENTS
    min_score: Mapped[int | None] = mapped_column(Integer)  # a rating's score, 1-25
    categories: Mapped[list | None] = mapped_column(JSON)  # None: every category
    secret: Mapped[str] = mapped_column(String(64))  # whsec_<base64 of 32 bytes>
    # The secrets rotations replaced, newest first, and until when deliveries are signed
    # with them too (the rotation's overlap): service/webhooks/sending.py.
    previous_secrets: Mapped[list | None] = mapped_column(JSON)
    previous_secrets_until: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str | None] = mapped_column(String(36))  # no key: outlives the user
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WebhookDelivery(db.Model):
    """One event for one webhook: its body as signed, and how its attempts went. Written in
    the transaction that caused the event, so that an event is sent if and only if its
    change committed; the row, not a worker, holds the retry state."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_webhook_id_created_at", "webhook_id",
                            "created_at"),
                      Index("ix_webhook_deliveries_status_next_attempt_at", "status",
                            "next_attempt_at"),
                      Index("ix_webhook_deliveries_status_last_attempt_at", "status",
                            "last_attempt_at"))  # the retention's sweep

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)  # webhook-id
    webhook_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("webhooks.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(32))  # WEBHOOK_EVENTS
    body: Mapped[str] = mapped_column(Text)  # the JSON sent, byte for byte what is signed
    status: Mapped[str] = mapped_column(String(10), default="pending")  # DELIVERY_STATUSES
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    response_status: Mapped[int | None] = mapped_column(Integer)  # the last attempt's answer
    duration_ms: Mapped[int | None] = mapped_column(Integer)  # the last attempt's
    error: Mapped[str | None] = mapped_column(String(500))  # why the last attempt failed
    # The last answer's headers ({name: value}) and the first RESPONSE_BODY_BYTES of its
    # body, decoded leniently: for the owner to see what their receiver said.
    response_headers: Mapped[dict | None] = mapped_column(JSON)
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retry_until: Mapped[datetime] = mapped_column(UTCDateTime)  # retries end here
