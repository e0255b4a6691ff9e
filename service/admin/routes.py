"""What admins read: the audit log, the LLM call log, and the mail outbox's messages."""

from apifairy import other_responses
from flask import Blueprint
from sqlalchemy import or_, select

from service.admin.schemas import (
    AuditEventSchema,
    AuditFilterSchema,
    LLMCallFilterSchema,
    LLMCallSchema,
    MailFilterSchema,
    MailMessageSchema,
)
from service.api import PageArgs, page_of, paginated_response
from service.audit import TARGETS
from service.auth.api_key_routes import AdminApiKeyListArgs, ApiKeyPageSchema, admin_list
from service.auth.credentials import normalize_email
from service.auth.scopes import authorized
from service.db import AuditEvent, LLMCallLog, MailMessage, Project, RegisterEntry, User
from service.extensions import db

admin = Blueprint("admin", __name__)


class AuditListArgs(PageArgs, AuditFilterSchema):
    pass


class LLMCallListArgs(PageArgs, LLMCallFilterSchema):
    pass


class MailListArgs(PageArgs, MailFilterSchema):
    pass


def _named(events: list[AuditEvent]) -> list[dict]:
    """The page's events with their people's emails, their project's name and their
    register entry's wording as they are today, a query each: an id without a name is
    a deleted user, project or entry (the trail has no foreign keys)."""
    ids = {event.actor_id for event in events} | {
        event.target_id for event in events if TARGETS.get(event.event) == "user"}
    ids.discard(None)
    emails = dict(db.session.execute(select(User.id, User.email)
                                     .where(User.id.in_(ids))).all()) if ids else {}
    projects = {event.id: _project_of(event) for event in events}
    wanted = {project_id for project_id in projects.values() if project_id}
    names = dict(db.session.execute(select(Project.id, Project.name)
                                    .where(Project.id.in_(wanted))).all()) if wanted else {}
    entries = {int(event.target_id) for event in events
               if TARGETS.get(event.event) == "risk" and _entry_id(event.target_id)}
    wordings = dict(db.session.execute(
        select(RegisterEntry.id, RegisterEntry.risk)
        .where(RegisterEntry.id.in_(entries))).all()) if entries else {}
    return [{"id": event.id, "created_at": event.created_at, "event": event.event,
             "actor_id": event.actor_id, "actor_email": emails.get(event.actor_id),
             "target_id": event.target_id, "target_type": TARGETS.get(event.event),
             "target_email": emails.get(event.target_id)
             if TARGETS.get(event.event) == "user" else None,
             "project_name": names.get(projects[event.id]),
             "risk": wordings.get(int(event.target_id))
             if TARGETS.get(event.event) == "risk" and _entry_id(event.target_id) else None,
             "ip": event.ip, "details": event.details} for event in events]


def _project_of(event: AuditEvent) -> str | None:
    """The project an event is about: its target, or the ``project_id`` of its details."""
    if TARGETS.get(event.event) == "project":
        return event.target_id
    details = event.details if isinstance(event.details, dict) else {}
    project_id = details.get("project_id")
    return project_id if isinstance(project_id, str) and len(project_id) <= 36 else None


def _entry_id(target_id: str | None) -> bool:
    """Whether a risk event's target is a register entry's id (a number the column holds)."""
    return bool(target_id) and target_id.isascii() and target_id.isdigit() and len(
        target_id) <= 18


@admin.route("/audit-events", methods=["GET"])
@authorized("admin:read", role="admin")
@paginated_response(page_of(AuditEventSchema), AuditListArgs, items=_named)
@other_responses({401: "No or bad token", 403: "Admins only"})
def audit_events(args):
    """The audit log, newest first, its people named by email, its projects and register
    entries by name (admin)"""
    statement = select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    if "event" in args:
        statement = statement.where(AuditEvent.event == args["event"])
    people = [args["user_id"]] if "user_id" in args else []
    if "email" in args:  # an unknown email: no user, no event
        people.append(select(User.id).where(User.email == normalize_email(args["email"]))
                      .scalar_subquery())
    for person in people:
        statement = statement.where(or_(AuditEvent.actor_id == person,
                                        AuditEvent.target_id == person))
    if "created_after" in args:
        statement = statement.where(AuditEvent.created_at >= args["created_after"])
    if "created_before" in args:
        statement = statement.where(AuditEvent.created_at < args["created_before"])
    return statement


@admin.route("/llm-calls", methods=["GET"])
@authorized("admin:read", role="admin")
@paginated_response(page_of(LLMCallSchema), LLMCallListArgs)
@other_responses({401: "No or bad token", 403: "Admins only"})
def llm_calls(args):
    """Every call to the LLM, newest first: latency, outcome, tokens (admin)"""
    statement = select(LLMCallLog).order_by(LLMCallLog.created_at.desc(), LLMCallLog.id.desc())
    if "status" in args:
        statement = statement.where(LLMCallLog.status == args["status"])
    if "scan_id" in args:
        statement = statement.where(LLMCallLog.scan_id == args["scan_id"])
    return statement


@admin.route("/mail", methods=["GET"])
@authorized("admin:read", role="admin")
@paginated_response(page_of(MailMessageSchema), MailListArgs)
@other_responses({401: "No or bad token", 403: "Admins only", 422: "Bad status or page"})
def mail(args):
    """The mail outbox's messages, newest first: `status=failed` those given up, with why
    (admin; docs/operations.md#mail)"""
    statement = select(MailMessage).order_by(MailMessage.created_at.desc(), MailMessage.id)
    if "status" in args:
        statement = statement.where(MailMessage.status == args["status"])
    return statement


@admin.route("/api-keys", methods=["GET"])
@authorized("admin:read", role="admin")
@paginated_response(ApiKeyPageSchema, AdminApiKeyListArgs)
@other_responses({401: "No or bad token", 403: "Admins only"})
def api_keys(args):
    """Every API key, newest first; user_id filters by owner (admin)"""
    return admin_list(args)
