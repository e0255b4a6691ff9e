"""The tables of the model's life (service/serving/): the deployment's one row, shadow
trials with their readings, and trainings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.db.columns import BigId, UTCDateTime, new_id, utcnow
from service.extensions import db

SHADOW_ENDINGS = ("deleted", "activated", "limit")


class ModelDeployment(db.Model):
    """Which model the whole deployment serves: one row (id 1), read by every process (the
    API's, the Celery workers'), which follow it (service/serving/deployment.py). ``generation``
    grows with each change, so that a process sees a change by one integer. The shadow
    columns name the candidate that reads live scans beside the active model."""

    __tablename__ = "model_deployment"

    ROW = 1  # the one row's id

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    active_version: Mapped[str] = mapped_column(String(128))
    # What rollback returns to, the newest last (service/serving/deployment.py keeps a few).
    previous_versions: Mapped[list] = mapped_column(JSON)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    changed_by: Mapped[str | None] = mapped_column(String(36))  # no foreign key, as audit
    shadow_version: Mapped[str | None] = mapped_column(String(128))
    shadow_sample_rate: Mapped[float | None] = mapped_column(Float)
    shadow_limit: Mapped[int | None] = mapped_column(Integer)
    shadow_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ShadowTrial(db.Model):
    """One shadow trial of a candidate version (service/serving/trials.py): its parameters, how
    many scans it read and skipped (counted under the deployment row's lock, so that the
    limit holds over every process), and when and why it ended. Kept after it ends: a
    version's latest trial is its report."""

    __tablename__ = "shadow_trials"
    # Ids never given again, on SQLite either (AUTOINCREMENT: db/versions/b9d4e1f7a3c5).
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    version: Mapped[str] = mapped_column(String(128), index=True)
    sample_rate: Mapped[float] = mapped_column(Float)
    scan_limit: Mapped[int] = mapped_column(Integer)
    read: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_by: Mapped[str | None] = mapped_column(String(36))  # no foreign key, as audit
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_why: Mapped[str | None] = mapped_column(String(16))  # SHADOW_ENDINGS


class ShadowComparison(db.Model):
    """What a shadow model made of one scan beside the model that answered it: the
    sentences read, how many got the same label from both, and each that did not
    (``disagreements``: sentence, offsets, both labels and risk scores). The scan's stored
    findings are never changed. The disagreements quote the scan's text, so the comparison
    goes with its scan (deleted, or with its user): the trial's figures are then those of
    the scans that remain, and its count of scans read stays as it was."""

    # The table keeps its first name: renaming it would be a migration for a word.
    __tablename__ = "shadow_readings"
    # Ids never given again, on SQLite either (AUTOINCREMENT: db/versions/b9d4e1f7a3c5).
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    trial_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("shadow_trials.id", ondelete="CASCADE"), index=True)
    scan_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("scans.id", ondelete="CASCADE"), index=True)
    active_version: Mapped[str] = mapped_column(String(128))
    sentences: Mapped[int] = mapped_column(Integer)
    agreed: Mapped[int] = mapped_column(Integer)
    disagreements: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)



class ModelTraining(db.Model):
    """A new model version fine-tuned from the deployment's corrections
    (service/serving/trainings.py): its base, its outcome and figures. ``unfinished`` is
    True while it is queued or running and NULL after: unique, so the database itself
    refuses a second training while one runs (NULLs are never equal)."""

    __tablename__ = "model_trainings"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    status: Mapped[str] = mapped_column(String(10), default="queued")  # TRAINING_STATUSES
    unfinished: Mapped[bool | None] = mapped_column(Boolean, unique=True, default=True)
    base_version: Mapped[str] = mapped_column(String(128))  # F, or F+R: a deployment
    version: Mapped[str | None] = mapped_column(String(128))  # the candidate, once registered
    corrections: Mapped[int] = mapped_column(Integer, default=0)  # distinct sentences sent
    # Who taught it: {email: {label: rows}} of the accepted rows it was sent (its card).
    contributors: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    error: Mapped[str | None] = mapped_column(String(1000))
    figures: Mapped[dict | None] = mapped_column(JSON(none_as_null=True))
    shadow: Mapped[str | None] = mapped_column(String(300))  # its trial: started, or why not
    created_by: Mapped[str | None] = mapped_column(String(36))  # no foreign key, as audit
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
