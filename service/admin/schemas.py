from datetime import UTC

from marshmallow import fields, validate

from service.api import UTCDateTime
from service.audit import EVENTS
from service.extensions import ma


class AuditEventSchema(ma.Schema):
    id = fields.Integer()
    created_at = fields.DateTime()
    event = fields.String()
    actor_id = fields.String(allow_none=True)
    actor_email = fields.String(allow_none=True, metadata={
        "description": "the actor's email today; null with an actor_id: a deleted user"})
    target_id = fields.String(allow_none=True)
    target_type = fields.String(allow_none=True, metadata={
        "description": "what target_id names: user, api_key, project, scan, risk, "
                       "dismissal, finding, invitation, job, webhook, webhook_delivery or "
                       "training"})
    target_email = fields.String(allow_none=True, metadata={
        "description": "a user target's email today; null: a deleted user, or no user"})
    project_name = fields.String(allow_none=True, metadata={
        "description": "the name today of the project the event is about (a project "
                       "target, or the project_id of its details); null: none, or deleted"})
    risk = fields.String(allow_none=True, metadata={
        "description": "a register entry target's wording today; null: no entry, or one "
                       "deleted or merged away"})
    ip = fields.String(allow_none=True)
    details = fields.Dict(allow_none=True)


class AuditFilterSchema(ma.Schema):
    event = fields.String(validate=validate.OneOf(EVENTS))
    user_id = fields.String(validate=validate.Length(max=36),
                            metadata={"description": "events by or about this user"})
    email = fields.String(validate=validate.Length(max=254), metadata={
        "description": "events by or about the user with this email (any case)"})
    created_after = UTCDateTime(default_timezone=UTC, metadata={
        "description": "events at or after this instant (ISO 8601; UTC when no zone is given)"})
    created_before = UTCDateTime(default_timezone=UTC, metadata={
        "description": "events before this instant"})


class LLMCallSchema(ma.Schema):
    id = fields.Integer()
    created_at = fields.DateTime()
    scan_id = fields.String(allow_none=True)
    user_id = fields.String(allow_none=True)
    model = fields.String()
    latency_ms = fields.Float()
    status = fields.String(metadata={"description": "ok, timeout, connection_error, "
                                     "http_error, invalid_output, redirect or too_large"})
    http_status = fields.Integer(allow_none=True)
    prompt_tokens = fields.Integer(allow_none=True)
    completion_tokens = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)


class LLMCallFilterSchema(ma.Schema):
    status = fields.String(validate=validate.Length(max=24))
    scan_id = fields.String(validate=validate.Length(max=36))


class MailMessageSchema(ma.Schema):
    """A message of the mail outbox as an admin reads it: to whom, what, how its attempts
    went; never its body (an invitation's or a reset's link is in it)."""

    id = fields.String()
    kind = fields.String(metadata={"description": "invitation, password_reset, "
                                                  "sign_in_elsewhere, risk_owner, risk_due, "
                                                  "risk_reopened or digest"})
    to_address = fields.String()
    subject = fields.String()
    status = fields.String(metadata={"description": "pending, sent or failed"})
    attempts = fields.Integer()
    error = fields.String(allow_none=True, metadata={"description": "why the last attempt "
                                                                    "failed"})
    created_at = fields.DateTime()
    last_attempt_at = fields.DateTime(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)


class MailFilterSchema(ma.Schema):
    status = fields.String(validate=validate.OneOf(("pending", "sent", "failed")))
