"""SQLAlchemy 2 models: every table of every resource, in this one module on purpose.

One metadata, one migration history: Alembic's autogenerate (db/env.py) compares the
database with ``db.metadata``, which holds the tables imported so far; with every table
here, importing this module gives it all of them, whichever resources the app loaded, and
the migrations in db/versions/ import their column types from it. String lengths are
explicit: MySQL needs them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    event,
    types,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from service import rating
from service.extensions import db

ROLES = ("user", "admin")
PROJECT_ROLES = ("owner", "editor", "viewer")  # each may do what the ones after it may
RISK_STATUSES = ("open", "mitigating", "accepted", "closed")
SETTLED_STATUSES = ("accepted", "closed")  # a report that states the risk again reopens it
JOB_STATUSES = ("queued", "running", "done", "cancelled")
DOCUMENT_STATUSES = ("queued", "running", "done", "failed", "cancelled")
WEBHOOK_EVENTS = ("risk.created", "risk.reopened", "risk.status_changed", "risk.rated")
SHADOW_ENDINGS = ("deleted", "activated", "limit")
# pending: an attempt is due (the first, a retry, a redelivery); failed: retries gave up.
DELIVERY_STATUSES = ("pending", "delivered", "failed")


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class UTCDateTime(types.TypeDecorator):
    """Aware UTC datetimes in Python, naive UTC in the database (MySQL DATETIME has no zone)."""

    impl = types.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name in ("mysql", "mariadb"):
            # Microseconds, so that "newest first" does not tie within a second.
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(types.DateTime())

    def process_bind_param(self, value, dialect):
        if value is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None:
            value = value.replace(tzinfo=UTC)
        return value


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # Stored lower-cased, so the unique index makes emails unique in any case.
    email: Mapped[str] = mapped_column(String(254), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16), default="user")
    active: Mapped[bool] = mapped_column(default=True)
    # Bumped to invalidate every access token issued before (refresh-token reuse, deactivation).
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class UserSettings(db.Model):
    """A user's defaults for what a scan request leaves out (service/scans/defaults.py);
    no row: no defaults. ``project_id`` is always a project the user may scan into: it is
    cleared when they lose that right (service/projects/membership.py, the foreign key)."""

    __tablename__ = "user_settings"

    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    min_score: Mapped[float | None] = mapped_column(Float)
    project_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("projects.id", ondelete="SET NULL"), index=True)
    force_llm: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# Integer primary keys that autoincrement on SQLite (which only does so for INTEGER).
BigId = BigInteger().with_variant(Integer, "sqlite")


class Scan(db.Model):
    """One analysed text or document, owned by a user."""

    __tablename__ = "scans"
    # A user's scans and a project's, newest first: the list endpoint's queries.
    __table_args__ = (Index("ix_scans_user_id_created_at", "user_id", "created_at"),
                      Index("ix_scans_project_id_created_at", "project_id", "created_at"),
                      # A job's document becomes at most one scan, however often its task
                      # runs (a worker killed mid-document, a redelivery): the database says.
                      Index("ix_scans_job_document_id", "job_document_id", unique=True))

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(String(36), ForeignKey("users.id", ondelete="CASCADE"))
    # A deleted project leaves its scans with their owners, outside any project.
    project_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("projects.id", ondelete="SET NULL"))
    filename: Mapped[str | None] = mapped_column(String(255))  # as the client named it
    media_type: Mapped[str | None] = mapped_column(String(100))
    stored_filename: Mapped[str | None] = mapped_column(String(64))  # ours, under UPLOAD_DIR
    source: Mapped[str] = mapped_column(String(8))  # "model" or "llm"
    model_version: Mapped[str] = mapped_column(String(128))
    text_length: Mapped[int] = mapped_column(Integer)
    dropped: Mapped[int] = mapped_column(Integer, default=0)  # LLM answers that failed validation
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # counts() as [[category, count], ...] (a JSON list keeps the order), stored with the
    # scan so that the list does not count findings on every read (service/scans/listing.py).
    # NULL where unknown: once a finding changes (a correction), and for scans stored before
    # the column; the list then counts the findings. Kept by _keep_category_counts below.
    category_counts: Mapped[list | None] = mapped_column(JSON(none_as_null=True))
    job_document_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("job_documents.id", ondelete="SET NULL"))

    findings: Mapped[list[ScanFinding]] = relationship(
        back_populates="scan", order_by="ScanFinding.position",
        cascade="all, delete-orphan", passive_deletes=True,
    )

    def counts(self) -> dict[str, int]:
        """Findings per category, corrections applied (a finding corrected to none drops
        out, as does one a dismissal keeps out of the register), so that counts agree with
        the list filter ``category``; categories in the order of their first finding."""
        counts: dict[str, int] = {}
        for finding in sorted(self.findings, key=lambda finding: finding.position):
            if finding.effective_category != "none" and finding.dismissed is None:
                counts[finding.effective_category] = counts.get(finding.effective_category, 0) + 1
        return counts


class ScanFinding(db.Model):
    """A sentence of a scan that states a risk, and the user's correction of its label."""

    __tablename__ = "findings"

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

    scan: Mapped[Scan] = relationship(back_populates="findings")
    # Kept out of its project's register by a dismissal (service/projects/dismissals.py,
    # which writes the rows): read with the findings, in one query a scan.
    dismissed: Mapped[DismissedFinding | None] = relationship(viewonly=True, lazy="selectin")

    @property
    def effective_category(self) -> str:
        return self.corrected_category or self.category


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


class Project(db.Model):
    """A project: scans of its reports feed one risk register, shared by its members."""

    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(36))  # no key: outlives the user
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Bumped by every change to the register: the UPDATE takes the project's row lock (the
    # write lock on SQLite), so that two scans of one project match their findings in turn
    # and cannot both open an entry for the same new risk.
    register_version: Mapped[int] = mapped_column(Integer, default=0)

    members: Mapped[list[ProjectMember]] = relationship(
        back_populates="project", cascade="all, delete-orphan", passive_deletes=True)


class ProjectMember(db.Model):
    __tablename__ = "project_members"

    project_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(8))  # PROJECT_ROLES
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    project: Mapped[Project] = relationship(back_populates="members")
    user: Mapped[User] = relationship()


class RegisterEntry(db.Model):
    """One distinct risk of a project, fed by the findings of its scans that state it."""

    __tablename__ = "register_entries"
    # The matching's read (a category's entries) and the listing's default order.
    __table_args__ = (Index("ix_register_entries_project_id_category", "project_id", "category"),
                      Index("ix_register_entries_project_id_last_seen", "project_id", "last_seen"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("projects.id", ondelete="CASCADE"))
    risk: Mapped[str] = mapped_column(Text)  # the latest wording
    category: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(12), default="open")  # RISK_STATUSES
    owner_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="SET NULL"))
    due_date: Mapped[date | None] = mapped_column(Date)
    notes: Mapped[str | None] = mapped_column(Text)
    # 1–5 each, null until rated; the score is their product (service/rating.py).
    likelihood: Mapped[int | None] = mapped_column(SmallInteger)
    impact: Mapped[int | None] = mapped_column(SmallInteger)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    occurrences: Mapped[int] = mapped_column(Integer, default=0)
    reopened: Mapped[bool] = mapped_column(Boolean, default=False)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # accepted or closed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    links: Mapped[list[RegisterLink]] = relationship(
        back_populates="entry", cascade="all, delete-orphan", passive_deletes=True)
    vector: Mapped[RegisterVector] = relationship(
        cascade="all, delete-orphan", passive_deletes=True)

    @property
    def score(self) -> int | None:
        return rating.score(self.likelihood, self.impact)

    @property
    def band(self) -> str | None:
        return rating.band(self.score)


class RegisterVector(db.Model):
    """An entry's embedding: the sum of its findings' unit vectors (float32), whose
    direction is their mean; what a new finding is compared with. A table of its own, so
    that the entries the register's reads sort and filter are narrow rows."""

    __tablename__ = "register_vectors"

    entry_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("register_entries.id", ondelete="CASCADE"), primary_key=True)
    total: Mapped[bytes] = mapped_column(LargeBinary)


class RegisterLink(db.Model):
    """A finding's place in the register, with the embedding it was matched by."""

    __tablename__ = "register_links"

    finding_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("findings.id", ondelete="CASCADE"), primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("register_entries.id", ondelete="CASCADE"), index=True)
    scan_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("scans.id", ondelete="CASCADE"), index=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the scan's created_at
    embedding: Mapped[bytes] = mapped_column(LargeBinary)

    entry: Mapped[RegisterEntry] = relationship(back_populates="links")


class Dismissal(db.Model):
    """A statement a member said is not a risk: a finding of the project's scans corrected
    to ``none``. Later findings of the project that state the same thing (the register's
    matcher: its category, embeddings at least REGISTER_MATCH_THRESHOLD alike) stay out of
    the register (DismissedFinding) until the dismissal is deleted. The project keeps it
    when the scan it came from is deleted or moved away."""

    __tablename__ = "dismissals"
    __table_args__ = (Index("ix_dismissals_project_id_category", "project_id", "category"),
                      # One dismissal a finding, however many corrections race to make it.
                      Index("ix_dismissals_finding_id", "finding_id", unique=True))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    project_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("projects.id", ondelete="CASCADE"))
    risk: Mapped[str] = mapped_column(Text)  # the dismissed wording
    category: Mapped[str] = mapped_column(String(16))  # its label before the correction
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # unit length
    finding_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("findings.id", ondelete="SET NULL"))
    scan_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("scans.id", ondelete="SET NULL"))
    dismissed_by: Mapped[str | None] = mapped_column(String(36))  # no key: outlives the user
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DismissedFinding(db.Model):
    """A finding a dismissal keeps out of the register, with the embedding it was matched
    by: deleting the dismissal puts it into the register with it."""

    __tablename__ = "dismissed_findings"

    finding_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("findings.id", ondelete="CASCADE"), primary_key=True)
    dismissal_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("dismissals.id", ondelete="CASCADE"), index=True)
    scan_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("scans.id", ondelete="CASCADE"), index=True)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)

    dismissal: Mapped[Dismissal] = relationship(lazy="joined", viewonly=True)


class LLMCallLog(db.Model):
    """One call to the LLM: never the key or the document text."""

    __tablename__ = "llm_calls"

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


class AuthSession(db.Model):
    """One login: its access and refresh tokens carry its id, so that logout ends all of
    them, and its refresh chain dies at ``expires_at`` however often it is refreshed."""

    __tablename__ = "auth_sessions"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)  # REFRESH_TOKEN_MAX_DAYS
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # logout, revocation


class RefreshToken(db.Model):
    """An issued refresh token, stored as a SHA-256 hash; each use rotates it."""

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # NULL for tokens issued before sessions existed: their next refresh starts one.
    session_id: Mapped[str | None] = mapped_column(
        String(36), ForeignKey("auth_sessions.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(db.Model):
    """A personal API key: ``rsk_<lookup>_<secret>``, found by its public ``prefix``
    (``rsk_<lookup>``) and checked against the SHA-256 of its secret (a random 256-bit
    secret needs no slow hash). It works within ``scopes`` until revoked, expired, or its
    user's ``token_version`` moves on (password change, deactivation, token theft)."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    user_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list] = mapped_column(JSON)
    token_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    @property
    def active(self) -> bool:
        """Not revoked, not expired, and its user's token_version unchanged."""
        return (self.revoked_at is None
                and (self.expires_at is None or self.expires_at > utcnow())
                and self.token_version == self.user.token_version)


class RevokedToken(db.Model):
    """Access tokens revoked by logout, kept until they would have expired anyway."""

    __tablename__ = "revoked_tokens"

    jti: Mapped[str] = mapped_column(String(36), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AuditEvent(db.Model):
    """Security-relevant events. No foreign keys: the trail outlives deleted users."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_created_at_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    event: Mapped[str] = mapped_column(String(40), index=True)
    actor_id: Mapped[str | None] = mapped_column(String(36))
    target_id: Mapped[str | None] = mapped_column(String(36))
    ip: Mapped[str | None] = mapped_column(String(45))
    details: Mapped[dict | None] = mapped_column(JSON)


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
    status: Mapped[str] = mapped_column(String(10), default="queued")  # JOB_STATUSES
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer, default=0)  # documents that became scans
    failed: Mapped[int] = mapped_column(Integer, default=0)
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
                      Index("ix_job_documents_status", "status"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[str] = mapped_column(String(36), ForeignKey("jobs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(10), default="queued")  # DOCUMENT_STATUSES
    error: Mapped[str | None] = mapped_column(String(500))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    job: Mapped[Job] = relationship(back_populates="documents")


class IdempotencyKey(db.Model):
    """A POST's answer kept under its ``Idempotency-Key`` per user, so that a retried
    request gets the first answer instead of doing the work twice (service/idempotency.py).
    ``status`` None: the first request is still being answered."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index("ix_idempotency_keys_user_id_key", "user_id", "key", unique=True),)

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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retry_until: Mapped[datetime] = mapped_column(UTCDateTime)  # retries end here


class ModelDeployment(db.Model):
    """Which model the whole deployment serves: one row (id 1), read by every process (the
    API's, the Celery workers'), which follow it (service/deployment.py). ``generation``
    grows with each change, so that a process sees a change by one integer. The shadow
    columns name the candidate that reads live scans beside the active model."""

    __tablename__ = "model_deployment"

    ROW = 1  # the one row's id

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    active_version: Mapped[str] = mapped_column(String(128))
    # What rollback returns to, the newest last (service/deployment.py keeps a few).
    previous_versions: Mapped[list] = mapped_column(JSON)
    generation: Mapped[int] = mapped_column(Integer, default=0)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    changed_by: Mapped[str | None] = mapped_column(String(36))  # no foreign key, as audit
    shadow_version: Mapped[str | None] = mapped_column(String(128))
    shadow_sample_rate: Mapped[float | None] = mapped_column(Float)
    shadow_limit: Mapped[int | None] = mapped_column(Integer)
    shadow_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ShadowTrial(db.Model):
    """One shadow trial of a candidate version (service/shadow.py): its parameters, how
    many scans it read and skipped (counted under the deployment row's lock, so that the
    limit holds over every process), and when and why it ended. Kept after it ends: a
    version's latest trial is its report."""

    __tablename__ = "shadow_trials"

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


class ShadowReading(db.Model):
    """What a shadow model made of one scan beside the model that answered it: the
    sentences read, how many got the same label from both, and each that did not
    (``disagreements``: sentence, offsets, both labels and risk scores). The scan's stored
    findings are never changed; ``scan_id`` has no foreign key, so that deleting a scan
    leaves the trial's figures as they were."""

    __tablename__ = "shadow_readings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    trial_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("shadow_trials.id", ondelete="CASCADE"), index=True)
    scan_id: Mapped[str] = mapped_column(String(36))
    active_version: Mapped[str] = mapped_column(String(128))
    sentences: Mapped[int] = mapped_column(Integer)
    agreed: Mapped[int] = mapped_column(Integer)
    disagreements: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

