"""The one owner of every change to a register entry: each is recorded with its cause.

A change is made inside ``caused_by(cause, …)``, which names who made it, which report and
which job. At each flush a listener reads what changed of every entry (SQLAlchemy's
attribute history) and writes one ``RegisterEvent`` per entry, with the cause in force: so
no path, present or future, changes an entry without an event, and one that tries outside
a cause fails loudly (``Uncaused``) instead of changing the register silently. The audit
log gets a row for each event (``risk_changed``) unless the change audited itself in the
same flush (``risk_rated``, ``risk_merged``…); what one report did to the register is one
row (``risks_stated``) naming the entries, not a row each.

Events and audit rows are written with Core inserts on the flush's connection: the
session may not take new objects while it flushes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime

from flask import has_request_context, request
from sqlalchemy import Select, event, insert, inspect, or_, select, update
from sqlalchemy.orm import Session

from service.db import (
    CAUSES,
    SETTLED_STATUSES,
    AuditEvent,
    RegisterEntry,
    RegisterEvent,
    RegisterMerge,
    utcnow,
)
from service.entry_fields import RECORDED
from service.extensions import db
from service.projects import owner_notices

#: What the register says where a deleted report's sentence was: an entry's wording and
#: an event's (docs/register.md, "Taking findings out").
DELETED_WORDING = "A finding of a deleted report."
_CAUSES = "riskscan.register_causes"
_AUDITED = "riskscan.register_audited"


class Uncaused(RuntimeError):
    """An entry changed outside ``caused_by``: a path that would change the register
    without telling. A programming error, never a user's."""


@dataclass(frozen=True)
class Cause:
    cause: str  # CAUSES
    actor_id: str | None = None
    scan_id: str | None = None
    job_id: str | None = None
    note: str | None = None


@contextmanager
def caused_by(cause: str, *, actor_id: str | None = None, scan_id: str | None = None,
              job_id: str | None = None, note: str | None = None) -> Iterator[Cause]:
    """Changes to entries made inside are recorded as caused by this; what they changed is
    flushed before it ends, so that nothing made under it is recorded under another. An
    inner cause stands for the changes made inside it."""
    assert cause in CAUSES, cause
    session = db.session()
    causes = session.info.setdefault(_CAUSES, [])
    made = Cause(cause, actor_id, scan_id, job_id, note)
    causes.append(made)
    try:
        yield made
        session.flush()
    finally:
        causes.pop()


def current_cause() -> Cause | None:
    """The cause changes are recorded under now (the innermost ``caused_by``), if any: an
    audit row written beside them says the same cause."""
    causes = db.session().info.get(_CAUSES)
    return causes[-1] if causes else None


def audited(entry_id: int) -> None:
    """The caller audits this entry's change itself in this transaction (risk_rated…):
    its event needs no ``risk_changed`` row beside it."""
    db.session().info.setdefault(_AUDITED, set()).add(entry_id)


def history(project_id: str, entry_id: int) -> Select:
    """The select of the entry's events, newest first, with those of the entries merged
    into it (what led to each of its parts)."""
    merged = select(RegisterMerge.merged_id).where(RegisterMerge.project_id == project_id,
                                                   RegisterMerge.into_id == entry_id)
    return (select(RegisterEvent)
            .where(RegisterEvent.project_id == project_id,
                   or_(RegisterEvent.entry_id == entry_id, RegisterEvent.entry_id.in_(merged)))
            .order_by(RegisterEvent.id.desc()))


def forget(project_id: str, sentences: set[str], names: set[str]) -> None:
    """Reports of the project were deleted: ``sentences`` (their findings' that no report
    left in the project states) become DELETED_WORDING in every event's changes, and a
    note quoting one of their ``names`` (title or file name) quotes none. Each event
    stays, with when, who, which report (its id) and what kind of change."""
    if not sentences and not names:
        return
    quoted = [f"“{name}”" for name in names]
    for row in db.session.execute(select(RegisterEvent.id, RegisterEvent.changes,
                                         RegisterEvent.note)
                                  .where(RegisterEvent.project_id == project_id)).all():
        changes = {field: {end: DELETED_WORDING if field == "risk" and value in sentences
                           else value for end, value in change.items()}
                   for field, change in (row.changes or {}).items()}
        # A wording that was theirs, renamed: from and to read the same, nothing to state.
        changes = {field: change for field, change in changes.items()
                   if field != "risk" or change.get("from") != change.get("to")}
        note = row.note
        for name in quoted:
            note = note.replace(name, "(deleted)") if note else note
        if changes != (row.changes or {}) or note != row.note:
            db.session.execute(update(RegisterEvent).where(RegisterEvent.id == row.id)
                               .values(changes=changes, note=note))


def kind_of(cause: str, changes: dict, *, new: bool, deleted: bool) -> str:
    """What a change did, in one word (EVENT_KINDS)."""
    if new:
        return "opened"
    if deleted:
        return "merged"
    if "category" in changes:
        return "moved"
    status = changes.get("status")
    if status and status["from"] in SETTLED_STATUSES and status["to"] == "open" \
            and cause == "report":
        return "reopened"
    count = changes.get("occurrences")
    if count and count["to"] == 0:
        return "unstated"
    if count and count["to"] > (count["from"] or 0) and cause in ("report", "dismissal"):
        return "stated"
    return "edited"


def _plain(value):
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() \
            else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def _changes(entry: RegisterEntry, *, new: bool) -> dict:
    state = inspect(entry)
    changes = {}
    for name in RECORDED:  # what people read of it (service/entry_fields.py)
        if new:
            value = getattr(entry, name)
            if value is not None and value != "" and value is not False:
                changes[name] = {"from": None, "to": _plain(value)}
            continue
        added, _, deleted = state.attrs[name].history
        if not added:
            continue
        before = deleted[0] if deleted else None
        if before != added[0]:
            changes[name] = {"from": _plain(before), "to": _plain(added[0])}
    return changes


@event.listens_for(Session, "after_flush")
def _record(session: Session, _flush_context) -> None:
    touched = [(entry, entry in session.new, entry in session.deleted)
               for entry in (*session.new, *session.dirty, *session.deleted)
               if isinstance(entry, RegisterEntry)]
    if not touched:
        return
    events = []
    for entry, new, deleted in touched:
        changes = {} if deleted else _changes(entry, new=new)
        if not (changes or new or deleted):
            continue  # a relationship touched, or only its vector: nobody reads that
        causes = session.info.get(_CAUSES)
        if not causes:
            raise Uncaused(f"register entry {entry.id} changed outside caused_by: "
                           f"{sorted(changes)}")
        cause = causes[-1]
        events.append({"project_id": entry.project_id, "entry_id": entry.id,
                       "wording": entry.risk,
                       "at": utcnow(), "cause": cause.cause, "actor_id": cause.actor_id,
                       "scan_id": cause.scan_id, "job_id": cause.job_id,
                       "kind": kind_of(cause.cause, changes, new=new, deleted=deleted),
                       "changes": changes, "note": cause.note})
    if not events:
        return
    owner_notices.noted(session, events)
    connection = session.connection()
    wordings = {event["entry_id"]: event.pop("wording") for event in events}
    connection.execute(insert(RegisterEvent.__table__), events)
    audited_ids = session.info.get(_AUDITED, set()) | _audited_now(session)
    rows = [_audit_row("risk_changed", event["actor_id"], str(event["entry_id"]), {
        "project_id": event["project_id"], "cause": event["cause"], "kind": event["kind"],
        "scan_id": event["scan_id"], "job_id": event["job_id"], "changes": event["changes"],
        "wording": wordings[event["entry_id"]],
        **({"note": event["note"]} if event["note"] else {})})
        for event in events
        if event["cause"] != "report" and event["entry_id"] not in audited_ids]
    stated = [event for event in events if event["cause"] == "report"]
    if stated:  # one report's statements: one row, not one an entry
        first = stated[0]
        rows.append(_audit_row("risks_stated", first["actor_id"], first["scan_id"], {
            "project_id": first["project_id"], "job_id": first["job_id"],
            "kinds": dict(Counter(event["kind"] for event in stated)),
            "entries": sorted({event["entry_id"] for event in stated})[:100]}))
    if rows:
        connection.execute(insert(AuditEvent.__table__), rows)


def _audited_now(session: Session) -> set[int]:
    """The entries whose change this flush audits itself (a risk_* row of its own)."""
    return {int(row.target_id) for row in session.new
            if isinstance(row, AuditEvent) and row.event.startswith("risk_")
            and row.target_id and row.target_id.isdigit()}


def _audit_row(name: str, actor_id: str | None, target_id: str | None, details: dict) -> dict:
    return {"event": name, "actor_id": actor_id, "target_id": target_id,
            "ip": request.remote_addr if has_request_context() else None,
            "details": {key: value for key, value in details.items() if value is not None},
            "created_at": utcnow()}


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_AUDITED, None)
