"""The tables of scans: a scan and its findings, and the flush hook that keeps a scan's
stored category counts true."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    and_,
    case,
    event,
    false,
    func,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from service.db.columns import BigId, UTCDateTime, new_id, today, utcnow
from service.db.project_tables import Dismissal, DismissedFinding
from service.extensions import db

REVIEW_STATES = ("pending", "accepted", "rejected")


class Scan(db.Model):
    """One analysed text or document, owned by a user."""

    __tablename__ = "scans"
    # A user's scans and a project's, newest first: the list endpoint's queries.
    __table_args__ = (Index("ix_scans_user_id_created_at", "user_id", "created_at"),
                      Index("ix_scans_project_id_created_at", "project_id", "created_at"),
                      # A project's reports in their order: by date, then upload.
                      Index("ix_scans_project_id_reported_on", "project_id", "reported_on",
                            "created_at"),
                      # A job's document becomes at most one scan, however often its task
                      # runs (a worker killed mid-document, a redelivery): the database says.
                      Index("ix_scans_job_document_id", "job_document_id", unique=True))

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id", ondelete="CASCADE"))
    # A deleted project leaves its scans with their owners, outside any project.
    project_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("projects.id", ondelete="SET NULL"))
    filename: Mapped[str | None] = mapped_column(String(255))  # as the client named it
    # Its text's first heading or first line, at most 60 characters (service/scans/titles.py):
    # what names a pasted text. NULL for scans stored before scans kept their text.
    title: Mapped[str | None] = mapped_column(String(60))
    media_type: Mapped[str | None] = mapped_column(String(100))
    stored_filename: Mapped[str | None] = mapped_column(String(64))  # ours, under UPLOAD_DIR
    source: Mapped[str] = mapped_column(String(8))  # "model" or "llm"
    model_version: Mapped[str] = mapped_column(String(128))
    text_length: Mapped[int] = mapped_column(Integer)
    dropped: Mapped[int] = mapped_column(Integer, default=0)  # LLM answers that failed validation
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # The date of the report it read (the request's, a job's document's from its name, or
    # the upload day): what the register dates and orders reports by. NULL never written.
    reported_on: Mapped[date | None] = mapped_column(Date, default=today)
    # Where reported_on came from (service/scans/report_dates.py): "given" (the request's or
    # a later change), "document" (its title or first lines), "filename", "upload_day", or
    # "job" (a batch job's rule). NULL for scans stored before it was kept.
    reported_on_from: Mapped[str | None] = mapped_column(String(10))
    # counts() as [[category, count], ...] (a JSON list keeps the order), stored with the
    # scan so that the list does not count findings on every read (service/scans/listing.py).
    # NULL where unknown: once a finding changes (a correction), and for scans stored before
    # the column; the list then counts the findings. Kept by _keep_category_counts below.
    category_counts: Mapped[list | None] = mapped_column(JSON(none_as_null=True))
    job_document_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("job_documents.id", ondelete="SET NULL"))
    # The analysed (for a document: extracted) text, which findings' offsets point into: a
    # risk the model missed is added by offsets into it (service/scans/missed.py). NULL for
    # scans stored before it was kept. Deferred: only that route reads it.
    text: Mapped[str | None] = mapped_column(
        Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb"), deferred=True)

    findings: Mapped[list[ScanFinding]] = relationship(
        back_populates="scan", order_by="ScanFinding.position",
        cascade="all, delete-orphan", passive_deletes=True,
    )

    def counts(self) -> dict[str, int]:
        """Findings per category, corrections applied (a finding corrected to none drops
        out, as does one a dismissal keeps out of the register, and a possible one until a
        person confirms it), so that counts agree with the list filter ``category``;
        categories in the order of their first finding."""
        counts: dict[str, int] = {}
        for finding in sorted(self.findings, key=lambda finding: finding.position):
            if finding.counted:
                counts[finding.effective_category] = counts.get(finding.effective_category, 0) + 1
        return counts


class ScanFinding(db.Model):
    """A sentence of a scan that states a risk, and the user's correction of its label."""

    __tablename__ = "findings"
    # Ids never given again, on SQLite either (AUTOINCREMENT: db/versions/b9d4e1f7a3c5).
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scan_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("scans.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    risk: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(16), index=True)
    context: Mapped[str] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)
    start: Mapped[int] = mapped_column("start_offset", Integer)
    end: Mapped[int] = mapped_column("end_offset", Integer)
    corrected_category: Mapped[str | None] = mapped_column(String(16))
    corrected_by: Mapped[str | None] = mapped_column(String(36))
    corrected_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Whether the correction may teach a model (service/serving/corrections.py): "pending"
    # until a reviewer accepts or rejects it, "accepted" at once when its author reviews;
    # NULL where nobody corrected the finding. A new correction asks again.
    review: Mapped[str | None] = mapped_column(String(8), index=True)  # REVIEW_STATES
    reviewed_by: Mapped[str | None] = mapped_column(String(36))  # no foreign key, as audit
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A risk a person added that the model missed (its label is their correction, its
    # score NULL), and a near miss: scored between the scan's floor and its operating point,
    # asked for with include_possible; it counts and joins the register once a person
    # confirms it (a correction to a risk category clears it).
    added_by_user: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    possible: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    scan: Mapped[Scan] = relationship(back_populates="findings")
    # Kept out of its project's register by a dismissal (service/projects/register/dismissals.py,
    # which writes the rows): read with the findings, in one query a scan.
    dismissed: Mapped[DismissedFinding | None] = relationship(viewonly=True, lazy="selectin")
    # The dismissal its own correction to none made ("this report and later ones"), read
    # only for a finding corrected to none: "this report only" makes none.
    made_dismissal: Mapped[Dismissal | None] = relationship(
        primaryjoin="ScanFinding.id == foreign(Dismissal.finding_id)", viewonly=True,
        uselist=False, lazy="select")

    @property
    def effective_category(self) -> str:
        """Its label as it stands: a person's correction, unless a reviewer rejected it
        (then the model's again)."""
        if self.review == "rejected" and self.corrected_category is not None:
            return self.category
        return self.corrected_category or self.category

    @property
    def counted(self) -> bool:
        """Whether it is one of its scan's risks: in the counts, and in the register when
        the scan is in a project (unless a dismissal keeps it out)."""
        return (self.effective_category != "none" and not self.possible
                and self.dismissed is None)


@event.listens_for(Session, "before_flush")
def _keep_category_counts(session, _flush_context, _instances) -> None:
    """A new scan stores its counts; any later change to a finding (a correction, a finding
    added or deleted on its own) sets its scan's stored counts to NULL, in the same flush.
    NULL, not recounted here: two corrections of one scan committed at once would each
    recount without the other's change, while both writing NULL cannot disagree."""
    for obj in session.new:
        if isinstance(obj, Scan):
            obj.category_counts = [[category, count] for category, count in obj.counts().items()]
    stale = set()
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, ScanFinding) and (obj not in session.dirty
                                             or session.is_modified(obj)):
            scan = obj.scan
            if scan is None and obj.scan_id is not None:
                scan = session.get(Scan, obj.scan_id)
            if scan is not None and scan not in session.new and scan not in session.deleted:
                stale.add(scan)
    for scan in stale:
        scan.category_counts = None


def effective_label(findings):
    """ScanFinding.effective_category in SQL, over the findings table ``findings``."""
    return case((and_(findings.c.review == "rejected", findings.c.corrected_category.is_not(None)),
                 findings.c.category),
                else_=func.coalesce(findings.c.corrected_category, findings.c.category))
