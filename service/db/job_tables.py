"""The tables of batch jobs: a job and its documents (service/jobs/)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.db.columns import BigId, UTCDateTime, new_id, utcnow
from service.extensions import db

JOB_STATUSES = ("queued", "running", "done", "cancelled")
# "skipped": its text is a report the project holds already (``duplicate_of`` names it).
DOCUMENT_STATUSES = ("queued", "running", "done", "failed", "cancelled", "skipped")


class Job(db.Model):
    """Documents a user sent at once (service/jobs/): each becomes an ordinary scan. The
    state lives here, not in a worker, so a job survives a restart of the API or a worker."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_user_id_created_at", "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id", ondelete="CASCADE"))
    project_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("projects.id", ondelete="SET NULL"))
    force_llm: Mapped[bool] = mapped_column(Boolean, default=False)
    # Each document's scan asks for the near misses too (the scans' include_possible), from
    # this floor (NULL: POSSIBLE_FLOOR).
    include_possible: Mapped[bool] = mapped_column(Boolean, default=False,
                                                   server_default=false())
    possible_floor: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(10), default="queued")  # JOB_STATUSES
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)  # documents that became scans
    failed: Mapped[int] = mapped_column(Integer, default=0)
    # Documents whose text the project holds already: not scanned again (duplicate_of).
    skipped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    documents: Mapped[list[JobDocument]] = relationship(
        back_populates="job", order_by="JobDocument.position",
        cascade="all, delete-orphan", passive_deletes=True)


class JobDocument(db.Model):
    """One document of a job: its file waits under UPLOAD_DIR/jobs/ until its scan is made."""

    __tablename__ = "job_documents"
    __table_args__ = (Index("ix_job_documents_job_id_position", "job_id", "position",
                            unique=True),
                      Index("ix_job_documents_status", "status"),
                      {"sqlite_autoincrement": True})  # ids never given again

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[str] = mapped_column(String(36), ForeignKey("jobs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(10), default="queued")  # DOCUMENT_STATUSES
    # The report's date its scan takes: the request's field, else a date in its name, else
    # the day the job was sent. NULL for documents sent before: the job's day.
    reported_on: Mapped[date | None] = mapped_column(Date)
    error: Mapped[str | None] = mapped_column(String(500))
    duplicate_of: Mapped[str | None] = mapped_column(String(36))  # the scan it repeats
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    job: Mapped[Job] = relationship(back_populates="documents")
