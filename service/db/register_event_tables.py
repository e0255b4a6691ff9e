"""What happened to a register entry, and why: one row per change, written by the one owner
of entry changes (service/projects/register/entry_events.py), never by a view."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from service.db.columns import BigId, UTCDateTime, utcnow
from service.extensions import db

#: What changed an entry: a report stating it (through a job too: ``job_id`` says), a
#: person's edit, a risk added by hand, a correction of a finding's label, its review,
#: a dismissal or its lifting, a merge or split, a scan or finding deleted, a member gone.
CAUSES = ("report", "edit", "added", "correction", "review", "dismissal", "merge", "split",
          "deletion", "membership", "redate")
#: What the change did, read from its fields (entry_events.kind_of).
EVENT_KINDS = ("opened", "stated", "reopened", "moved", "unstated", "edited", "merged")


class RegisterEvent(db.Model):
    """One change to one entry: its cause (who, which report, which job) and the fields it
    changed, from and to. ``entry_id`` has no foreign key: an entry merged away keeps the
    events that led there, under the id that now answers a redirect."""

    __tablename__ = "register_events"
    __table_args__ = (Index("ix_register_events_entry_id_id", "entry_id", "id"),
                      Index("ix_register_events_scan_id", "scan_id"),
                      {"sqlite_autoincrement": True})  # ids never given again

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    entry_id: Mapped[int] = mapped_column(BigId)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(10))  # EVENT_KINDS
    cause: Mapped[str] = mapped_column(String(12))  # CAUSES
    actor_id: Mapped[str | None] = mapped_column(String(36))  # no key: outlives the user
    scan_id: Mapped[str | None] = mapped_column(String(36))  # no key: outlives the scan
    job_id: Mapped[str | None] = mapped_column(String(36))
    # {field: {"from": …, "to": …}} of the fields people read (entry_events.FIELDS).
    changes: Mapped[dict] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text)  # what a person reads beside it
