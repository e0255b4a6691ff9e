"""The mail outbox (service/mail/): each message written in the transaction that caused it,
sent by a worker, its attempts and its end kept on the row."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db.columns import UTCDateTime, new_id, utcnow
from service.extensions import db

# pending: an attempt is due (the first, or a retry); sent: the relay took it; failed: the
# relay refused it for good, or retries gave up (MAIL_RETRY_HOURS).
MAIL_STATUSES = ("pending", "sent", "failed")
#: What a risk's owner is told (service/projects/owner_notices.py); each can be turned off by
#: its person, in their settings or by the link every such message carries.
OWNER_NOTICES = ("risk_owner", "risk_due", "risk_reopened")
#: A project's weekly digest, to the members who asked for it (service/projects/digest.py).
DIGEST = "digest"
MAIL_KINDS = ("invitation", "password_reset", "sign_in_elsewhere", *OWNER_NOTICES, DIGEST)


class MailMessage(db.Model):
    """One message to one address, as it will be sent: its headers' words and both parts.
    The row, not a worker, holds its retry state, as a webhook delivery's does."""

    __tablename__ = "mail_messages"
    __table_args__ = (Index("ix_mail_messages_status_next_attempt_at", "status",
                            "next_attempt_at"),
                      UniqueConstraint("notice_key", name="uq_mail_messages_notice_key"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(24))  # MAIL_KINDS
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # MAIL_STATUSES
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(500))  # why the last attempt failed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retry_until: Mapped[datetime] = mapped_column(UTCDateTime)
    # A notice told once (``risk_due:<entry>:<date>``): a second sweep, or a second process
    # sweeping at once, cannot write it twice. NULL for a message that may repeat.
    notice_key: Mapped[str | None] = mapped_column(String(120))
    # Where its person turns this kind off without signing in (List-Unsubscribe, RFC 8058).
    unsubscribe_url: Mapped[str | None] = mapped_column(String(500))
