"""What the service records beside the resources: audit events, calls to the LLM, and
idempotency keys with the answers they replay."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, mapped_column

from service.db.columns import BigId, UTCDateTime, utcnow
from service.extensions import db


class LLMCallLog(db.Model):
    """One call to the LLM: never the key or the document text."""

    __tablename__ = "llm_calls"
    # Ids never given again, on SQLite either (AUTOINCREMENT: db/versions/b9d4e1f7a3c5).
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    scan_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("scans.id", ondelete="SET NULL"), index=True)
    user_id: Mapped[str | None] = mapped_column(String(36))
    model: Mapped[str] = mapped_column(String(128))
    latency_ms: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(24), index=True)
    http_status: Mapped[int | None] = mapped_column(Integer)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(255))


class AuditEvent(db.Model):
    """Security-relevant events. No foreign keys: the trail outlives deleted users."""

    __tablename__ = "audit_events"
    # Ids never given again, on SQLite either (AUTOINCREMENT: db/versions/b9d4e1f7a3c5).
    __table_args__ = (Index("ix_audit_events_created_at_id", "created_at", "id"),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    event: Mapped[str] = mapped_column(String(40), index=True)
    actor_id: Mapped[str | None] = mapped_column(String(36))
    target_id: Mapped[str | None] = mapped_column(String(36))
    ip: Mapped[str | None] = mapped_column(String(45))
    details: Mapped[dict | None] = mapped_column(JSON)


class IdempotencyKey(db.Model):
    """A POST's answer kept under its ``Idempotency-Key`` per user, so that a retried
    request gets the first answer instead of doing the work twice (service/idempotency.py).
    ``status`` None: the first request is still being answered."""

    __tablename__ = "idempotency_keys"
    # Ids never given again, on SQLite either (AUTOINCREMENT: db/versions/b9d4e1f7a3c5).
    __table_args__ = (Index("ix_idempotency_keys_user_id_key", "user_id", "key", unique=True),
                      {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id", ondelete="CASCADE"))
    # The client's key as its sha256 (hex): MariaDB's collation would call "Retry-1" and
    # "retry-1" one key, SQLite two.
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of method, path and body
    status: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[bytes | None] = mapped_column(
        LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb"))
    headers: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
