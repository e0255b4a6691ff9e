"""A risk's owner told by mail (issue #87 item 4): made its owner, its due date reached,
reopened by a report.

The first and the last come from the register's one recorder (entry_events.py), whatever
path changed the entry: each flush's events are read here (``noted``) and the messages
queued when the transaction commits, in it, so that a rolled-back change tells nobody. A
person who makes themselves the owner is not told. A due date is a matter of the clock:
``tell_due`` is the daily pass (the job pool runs it hourly, a Celery deployment runs
``flask tell-due-owners`` from cron), and each due date is told once, its message keyed by
the entry and the date (``notice_key``, unique: two passes at once write it once).

Every message carries a link that turns its kind off without signing in (and the
List-Unsubscribe header a mail client's "unsubscribe" uses): a signed token of the person
and the kind, with no expiry, as a link in an old message must still work; the person's
settings (``mail_risk_owner``…, GET/PATCH /auth/me/settings) turn them on and off too.
"""

from __future__ import annotations

from datetime import date
from functools import partial

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from service import audit
from service.api import lock_row
from service.config import current_settings
from service.db import (
    DIGEST,
    OWNER_NOTICES,
    SETTLED_STATUSES,
    MailMessage,
    Project,
    RegisterEntry,
    User,
    UserSettings,
    today,
)
from service.extensions import db
from service.mail import queued as outbox
from service.mail.compose import compose, one_line, public_link

_NOTICES = "riskscan.owner_notices"  # session.info: the notices this transaction made
_SALT = "riskscan-mail-off"
SUBJECTS = {"risk_owner": "You own a risk in {project}",
            "risk_due": "A risk you own is due: {project}",
            "risk_reopened": "A risk you own was reopened by a report: {project}"}
#: What each kind is, as the settings and the page that turns it off say.
WHAT = {"risk_owner": "when you are made the owner of a risk",
        "risk_due": "when a risk you own reaches its due date",
        "risk_reopened": "when a report reopens a risk you own",
        DIGEST: "each week: a digest of each of your projects' registers"}


def noted(session: Session, events: list[dict]) -> None:
    """The notices of one flush's register events (entry_events' recorder hands them
    over), kept until the transaction commits."""
    found = session.info.setdefault(_NOTICES, [])
    for change in events:
        owner = change["changes"].get("owner_id")
        if owner and owner["to"] and owner["to"] != change["actor_id"]:
            found.append(("risk_owner", change["entry_id"], change["actor_id"]))
        elif change["kind"] == "reopened":
            found.append(("risk_reopened", change["entry_id"], None))


@event.listens_for(Session, "before_commit")
def _queue(session: Session) -> None:
    notices = session.info.pop(_NOTICES, None)
    if not notices or not current_settings().mail:
        return
    for kind, entry_id, actor_id in dict.fromkeys(notices):
        entry = session.get(RegisterEntry, entry_id)
        if entry is not None and entry.owner_id is not None:  # merged or unowned meanwhile
            tell(kind, entry, actor_id=actor_id)


@event.listens_for(Session, "after_soft_rollback")
def _forget(session: Session, _previous_transaction) -> None:
    session.info.pop(_NOTICES, None)


def tell(kind: str, entry: RegisterEntry, *, actor_id: str | None = None,
         notice_key: str | None = None) -> MailMessage | None:
    """Queue ``kind`` to the entry's owner, unless they turned it off or cannot be mailed."""
    owner = db.session.get(User, entry.owner_id)
    if owner is None or not owner.active or not owner.email:
        return None
    chosen = db.session.get(UserSettings, owner.id)
    if chosen is not None and not chosen.mail_on(kind):
        return None
    project = db.session.get(Project, entry.project_id)
    actor = db.session.get(User, actor_id) if actor_id else None
    off = public_link(f"/app/mail/off/{off_token(owner.id, kind)}")
    return outbox.queue(kind, owner.email, compose(
        kind, SUBJECTS[kind].format(project=project.name), project=one_line(project.name),
        risk=entry.risk, category=entry.category, due_date=entry.due_date, actor=actor and
        actor.email, link=public_link(f"/app/projects/{project.id}/risks/{entry.id}"),
        off=off, what=WHAT[kind]), notice_key=notice_key, unsubscribe_url=off)


def tell_due(on: date | None = None) -> int:
    """Tell each owner of an open entry whose due date is ``on`` (today) or past, once per
    entry and due date; how many were told. Commits."""
    if not current_settings().mail:
        return 0
    on = on or today()
    due = db.session.scalars(select(RegisterEntry).where(
        RegisterEntry.due_date <= on, RegisterEntry.owner_id.is_not(None),
        RegisterEntry.status.not_in(SETTLED_STATUSES)).order_by(RegisterEntry.id)).all()
    keys = {entry.id: f"risk_due:{entry.id}:{entry.due_date.isoformat()}" for entry in due}
    told_before = outbox.keyed(keys.values())
    told = 0
    for entry in due:
        key = keys[entry.id]
        if key not in told_before:
            told += outbox.once(key, partial(tell, "risk_due", entry,
                                             notice_key=key)) is not None
    db.session.commit()
    return told


def off_token(user_id: str, kind: str) -> str:
    return _serializer().dumps({"u": user_id, "k": kind})


def read_off_token(token: str) -> tuple[str, str] | None:
    """(user id, kind) of a link that turns a kind off; None for one not ours."""
    try:
        said = _serializer().loads(token)
    except BadSignature:
        return None
    if not isinstance(said, dict) or said.get("k") not in (*OWNER_NOTICES, DIGEST) \
            or not isinstance(said.get("u"), str):
        return None
    return said["u"], said["k"]


def turn_off(user_id: str, kind: str) -> bool:
    """Turn ``kind`` off for the user (their settings' row made if they had none); False
    when the user is gone. Commits."""
    if db.session.get(User, user_id) is None:
        return False
    lock_row(User, user_id)  # as a settings PATCH does: one change at a time
    chosen = db.session.get(UserSettings, user_id, with_for_update=True) or UserSettings(
        user_id=user_id, min_score=None, project_id=None, force_llm=False)
    chosen.set_mail(kind, False)
    db.session.add(chosen)
    audit.record("settings_updated", actor_id=user_id, target_id=user_id,
                 **{f"mail_{kind}": False}, by="the link in a message")
    db.session.commit()
    return True


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)
