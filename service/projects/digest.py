"""A project's weekly digest (issue #87 item 5): to each member who asked for it (the
``mail_digest`` setting), one message a project a week, plain text and HTML: what the week's
reports opened, restated and reopened, what was closed, what is overdue, and the heat map
of the active risks.

A week runs Monday to Monday (UTC); ``send`` tells the week before the Monday at or before
the day it is given, once a member and project (``notice_key``, unique, as a due date's),
so the hourly pass that runs it (service/jobs/queue.py; ``flask send-digests`` from cron on
Celery) sends each digest in the first pass of the week. A quiet week (nothing stated,
closed or overdue) sends nothing. A section lists at most MOST risks and says how many more,
so that a week of thousands of findings is still one readable message.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from functools import partial

from sqlalchemy import select

from service import rating
from service.config import current_settings
from service.db import (
    DIGEST,
    SETTLED_STATUSES,
    Project,
    ProjectMember,
    RegisterEntry,
    RegisterEvent,
    User,
    UserSettings,
    today,
)
from service.extensions import db
from service.mail import queued as outbox
from service.mail.compose import compose, one_line, public_link
from service.projects import owner_notices, queries

MOST = 25  # risks a section lists; the rest are counted
SECTIONS = {"opened": "New risks", "restated": "Stated again", "reopened": "Reopened",
            "closed": "Closed", "overdue": "Overdue"}


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def week(project_id: str, until: date) -> dict:
    """The week before ``until`` (a Monday) in the project's register: each section's risks
    ({id, risk, category, due_date, owner}), at most MOST each, and how many in all."""
    end = datetime.combine(until, time.min, tzinfo=UTC)
    start = end - timedelta(days=7)
    kinds: dict[str, set[int]] = defaultdict(set)
    for entry_id, kind, cause, changes in db.session.execute(
            select(RegisterEvent.entry_id, RegisterEvent.kind, RegisterEvent.cause,
                   RegisterEvent.changes)
            .where(RegisterEvent.project_id == project_id, RegisterEvent.at >= start,
                   RegisterEvent.at < end)):
        if kind == "opened" and cause == "report":
            kinds["opened"].add(entry_id)
        elif kind == "stated":
            kinds["restated"].add(entry_id)
        elif kind == "reopened":
            kinds["reopened"].add(entry_id)
        if ((changes or {}).get("status") or {}).get("to") == "closed":
            kinds["closed"].add(entry_id)
    kinds["restated"] -= kinds["opened"] | kinds["reopened"]  # said once, where it began
    kinds["overdue"] = set(db.session.scalars(select(RegisterEntry.id).where(
        RegisterEntry.project_id == project_id, RegisterEntry.due_date < until,
        RegisterEntry.status.not_in(SETTLED_STATUSES))))
    found = {}
    for section in SECTIONS:
        ids = sorted(kinds[section])
        entries = db.session.scalars(select(RegisterEntry).where(
            RegisterEntry.id.in_(ids[:MOST]))).all() if ids else []
        owner_ids = {e.owner_id for e in entries if e.owner_id}
        owners = {user_id: email for user_id, email in db.session.execute(
            select(User.id, User.email).where(User.id.in_(owner_ids)))} if owner_ids else {}
        found[section] = {"count": len(ids), "risks": [
            {"id": e.id, "risk": e.risk, "category": e.category, "due_date": e.due_date,
             "owner": owners.get(e.owner_id),
             "link": public_link(f"/app/projects/{project_id}/risks/{e.id}")}
            for e in sorted(entries, key=lambda e: e.id)]}
    return found


def heat_map(project_id: str) -> list[dict]:
    """The active risks' matrix as rows of counts: likeliest first, mildest impact first."""
    settings = current_settings()
    drawn = queries.matrix(project_id, rating.scale(settings.RISK_LIKELIHOOD_LABELS,
                                                    settings.RISK_IMPACT_LABELS))
    rows: dict[int, list[int]] = defaultdict(list)
    for cell in drawn["cells"]:
        rows[cell["likelihood"]].append(cell["count"])
    return [{"likelihood": likelihood, "counts": counts} for likelihood, counts in rows.items()
            ] + [{"likelihood": None, "counts": [drawn["unrated"]["count"]]}]


def send(on: date | None = None) -> int:
    """Each asked-for digest of the week before the Monday at or before ``on`` (today) that
    is not sent yet; how many were queued. Commits."""
    if not current_settings().mail:
        return 0
    until = monday_of(on or today())
    recipients = db.session.execute(
        select(ProjectMember.project_id, User)
        .join(User, User.id == ProjectMember.user_id)
        .join(UserSettings, UserSettings.user_id == User.id)
        .where(UserSettings.mail_digest.is_(True), User.active.is_(True))
        .order_by(ProjectMember.project_id, User.id)).all()
    keys = {(project_id, user.id): f"{DIGEST}:{project_id}:{user.id}:{until.isoformat()}"
            for project_id, user in recipients}
    sent_before = outbox.keyed(keys.values())
    weeks: dict[str, dict | None] = {}  # each project's week and heat map, read once
    queued = 0
    for project_id, user in recipients:
        key = keys[(project_id, user.id)]
        if key in sent_before:
            continue
        if project_id not in weeks:
            found = week(project_id, until)
            weeks[project_id] = ({"week": found, "heat": heat_map(project_id)}
                                 if any(s["count"] for s in found.values()) else None)
        if weeks[project_id] is None:
            continue  # a quiet week
        project = db.session.get(Project, project_id)
        off = public_link(f"/app/mail/off/{owner_notices.off_token(user.id, DIGEST)}")
        composed = compose(
            DIGEST, f"This week in {project.name}", project=one_line(project.name),
            since=until - timedelta(days=7), until=until - timedelta(days=1),
            sections=SECTIONS, link=public_link(f"/app/projects/{project_id}"), off=off,
            what=owner_notices.WHAT[DIGEST], **weeks[project_id])
        queued += outbox.once(key, partial(outbox.queue, DIGEST, user.email, composed,
                                           notice_key=key, unsubscribe_url=off)) is not None
    db.session.commit()
    return queued
