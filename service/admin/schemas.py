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
