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
