"""What admins read: the audit log."""

from apifairy import authenticate, other_responses, response
from flask import Blueprint
from sqlalchemy import or_, select

from service.admin.schemas import AuditEventSchema, AuditFilterSchema
from service.api import PageArgs, page_of, paginate, query
from service.extensions import token_auth
from service.models import AuditEvent

admin = Blueprint("admin", __name__)


class AuditListArgs(PageArgs, AuditFilterSchema):
    pass


@admin.route("/audit-events", methods=["GET"])
@authenticate(token_auth, role="admin")
@query(AuditListArgs)
@response(page_of(AuditEventSchema))
@other_responses({401: "No or bad token", 403: "Admins only"})
def audit_events(args):
    """The audit log, newest first (admin)"""
    statement = select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    if "event" in args:
        statement = statement.where(AuditEvent.event == args["event"])
    if "user_id" in args:
        statement = statement.where(or_(AuditEvent.actor_id == args["user_id"],
                                        AuditEvent.target_id == args["user_id"]))
    return paginate(statement, args)
