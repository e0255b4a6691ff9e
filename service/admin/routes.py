"""What admins read: the audit log and the LLM call log."""

from apifairy import other_responses, response
from flask import Blueprint
from sqlalchemy import or_, select

from service.admin.schemas import (
    AuditEventSchema,
    AuditFilterSchema,
    LLMCallFilterSchema,
    LLMCallSchema,
)
from service.api import PageArgs, page_of, paginated_response, query
from service.auth.api_keys import AdminApiKeyListArgs, ApiKeyPageSchema, admin_list
from service.auth.scopes import authorized
from service.db import AuditEvent, LLMCallLog

admin = Blueprint("admin", __name__)


class AuditListArgs(PageArgs, AuditFilterSchema):
    pass


class LLMCallListArgs(PageArgs, LLMCallFilterSchema):
    pass


@admin.route("/audit-events", methods=["GET"])
@authorized("admin:read", role="admin")
@paginated_response(page_of(AuditEventSchema), AuditListArgs)
@other_responses({401: "No or bad token", 403: "Admins only"})
def audit_events(args):
    """The audit log, newest first (admin)"""
    statement = select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    if "event" in args:
        statement = statement.where(AuditEvent.event == args["event"])
    if "user_id" in args:
        statement = statement.where(or_(AuditEvent.actor_id == args["user_id"],
                                        AuditEvent.target_id == args["user_id"]))
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


@admin.route("/api-keys", methods=["GET"])
@authorized("admin:read", role="admin")
@query(AdminApiKeyListArgs)
@response(ApiKeyPageSchema)
@other_responses({401: "No or bad token", 403: "Admins only"})
def api_keys(args):
    """Every API key, newest first; user_id filters by owner (admin)"""
    return admin_list(args)
