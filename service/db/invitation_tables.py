"""A project's invitations: an email with no account yet, asked to join with a role."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db.columns import UTCDateTime, new_id, utcnow
from service.extensions import db


class Invitation(db.Model):
    """Pending until the person claims it (they join the project with ``role``), an owner
    revokes it or it expires: then the row goes, and the audit log keeps its story. The
    token the owner hands over is kept only as its SHA-256, as an API key is."""

    __tablename__ = "invitations"
    # One pending invitation of an email per project, however many owners race to make it.
    __table_args__ = (Index("ix_invitations_project_id_email", "project_id", "email",
                            unique=True),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("projects.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(254), index=True)  # normalised: a sign-in's
    role: Mapped[str] = mapped_column(String(8))  # PROJECT_ROLES
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[str | None] = mapped_column(String(36))  # no key: outlives the user
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
