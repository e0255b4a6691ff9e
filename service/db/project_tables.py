"""The tables of projects and their risk registers: members, entries with their vectors,
links and merges, and dismissals with the findings they keep out."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
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
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service import rating
from service.db.columns import BigId, UTCDateTime, new_id, utcnow
from service.db.user_tables import User
from service.extensions import db

PROJECT_ROLES = ("owner", "editor", "viewer")  # each may do what the ones after it may
RISK_STATUSES = ("open", "mitigating", "accepted", "closed")
SETTLED_STATUSES = ("accepted", "closed")  # a report that states the risk again reopens it
#: A filter's word for every status but closed: the risks still on someone's desk, as the
#: heat map counts them (a mitigating or accepted critical risk is still critical).
ACTIVE = "active"
ACTIVE_STATUSES = tuple(status for status in RISK_STATUSES if status != "closed")


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
                      Index("ix_register_entries_project_id_last_seen", "project_id", "last_seen"),
                      # An id is never given again, on SQLite either (AUTOINCREMENT): a
                      # merged-away one answers its redirect, audit events and webhooks name it.
                      {"sqlite_autoincrement": True})

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
    # The dates (midnight UTC) of the first and the latest report that state it.
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    occurrences: Mapped[int] = mapped_column(Integer, default=0)
    reopened: Mapped[bool] = mapped_column(Boolean, default=False)
    # Added by a person, not by a report (POST …/risks): it keeps the wording typed, and
    # stays when no finding states it.
    added_by_user: Mapped[bool] = mapped_column(Boolean, default=False,
                                                server_default=false())
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # accepted or closed
    # The date (midnight UTC) of the project's newest report when it was settled: only a
    # report dated after it reopens the entry, and the trend counts the closure from it.
    # NULL for entries settled before it was kept (their settled_at's day stands for it).
    settled_through: Mapped[datetime | None] = mapped_column(UTCDateTime)
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
    """An entry's embedding: per wording, the sum of its findings' unit vectors (float32),
    whose direction is their mean; what a new finding is compared with. An entry has one
    wording, and one more for each entry merged into it (``total`` holds a row each), so
    that a restatement of any of them joins it. A table of its own, so that the entries the
    register's reads sort and filter are narrow rows."""

    __tablename__ = "register_vectors"

    entry_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("register_entries.id", ondelete="CASCADE"), primary_key=True)
    total: Mapped[bytes] = mapped_column(LargeBinary)
    # The unit vectors of wordings typed by a person (an entry added by hand, and any
    # merged into it), a row per wording as ``total`` has them (zeros: none typed), which
    # no finding holds; NULL when none was typed.
    stated: Mapped[bytes | None] = mapped_column(LargeBinary)


#: How a finding came to its entry: it opened the entry; the embeddings' cosine or the pair
#: model joined it (service/projects/register/matching.py); a person merged its entry into another
#: or split it off; or it joined saying the risk is closed (projects/register/closing.py): never the
#: entry's title, it reopens nothing, and the entry offers to be closed.
JOINED_BY = ("opened", "embeddings", "pair_model", "merged", "split", "closing")


class RegisterLink(db.Model):
    """A finding's place in the register, with the embedding it was matched by."""

    __tablename__ = "register_links"

    finding_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("findings.id", ondelete="CASCADE"), primary_key=True)
    entry_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("register_entries.id", ondelete="CASCADE"), index=True)
    scan_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("scans.id", ondelete="CASCADE"), index=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)  # the scan's reported_on
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    # Which of its entry's wordings (RegisterVector.total's rows) it was matched to.
    wording: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    # How it came to its entry (JOINED_BY) and, for a join, how sure the register was: the
    # cosine with the wording it joined, or the pair model's probability. Null: from before.
    joined_by: Mapped[str | None] = mapped_column(String(12))
    alike: Mapped[float | None] = mapped_column(Float)

    entry: Mapped[RegisterEntry] = relationship(back_populates="links")


class RegisterMerge(db.Model):
    """An entry merged into another by hand (POST …/risks/{id}/merge): its id answers a
    redirect to the entry that holds its findings now, and a second merge of it a 409. A
    merge of that entry moves the row along; the entry's deletion deletes it."""

    __tablename__ = "register_merges"

    merged_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    project_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("projects.id", ondelete="CASCADE"))
    into_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("register_entries.id", ondelete="CASCADE"), index=True)
    merged_by: Mapped[str | None] = mapped_column(String(36))  # no key: outlives the user
    merged_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NotSameRisk(db.Model):
    """Two entries a member said are not the same risk when the register suggested one
    restates the other (POST …/risks/{id}/suggestions/{other}/dismiss): never suggested
    again. One row a pair, the lower id first; either entry's deletion (a merge) deletes it."""

    __tablename__ = "register_not_same"

    first_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("register_entries.id", ondelete="CASCADE"), primary_key=True)
    second_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("register_entries.id", ondelete="CASCADE"), primary_key=True,
        index=True)
    project_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    dismissed_by: Mapped[str | None] = mapped_column(String(36))  # no key: outlives the user
    dismissed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Dismissal(db.Model):
    """A statement a member said is not a risk: a finding of the project's scans corrected
    to ``none``. Later findings of the project that state the same thing (the register's
    matcher: its category, embeddings at least REGISTER_MATCH_THRESHOLD alike) stay out of
    the register (DismissedFinding) until the dismissal is deleted. The project keeps it
    when the scan it came from is deleted or moved away."""

    __tablename__ = "dismissals"
    __table_args__ = (Index("ix_dismissals_project_id_category", "project_id", "category"),
                      # One dismissal a finding, however many corrections race to make it.
                      Index("ix_dismissals_finding_id", "finding_id", unique=True),
                      {"sqlite_autoincrement": True})  # ids never given again

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
