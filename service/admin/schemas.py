from marshmallow import fields, validate

from service.audit import EVENTS
from service.extensions import ma


class AuditEventSchema(ma.Schema):
    id = fields.Integer()
    created_at = fields.DateTime()
    event = fields.String()
    actor_id = fields.String(allow_none=True)
    target_id = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)
    details = fields.Dict(allow_none=True)


class AuditFilterSchema(ma.Schema):
    event = fields.String(validate=validate.OneOf(EVENTS))
    user_id = fields.String(validate=validate.Length(max=36),
                            metadata={"description": "events by or about this user"})


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
