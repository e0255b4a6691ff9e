from marshmallow import fields, validate

from service.audit import EVENTS
from service.extensions import ma
from service.registry import VERSION


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


class ModelFiguresSchema(ma.Schema):
    sentence_macro_f1 = fields.Dict(metadata={"description": "on validation and test sentences"})
    documents = fields.Dict(metadata={"description": "precision, recall and category accuracy "
                                      "on the dev and test documents at the operating point"})
    min_score = fields.Float(allow_none=True, metadata={"description": "the operating point"})


class ModelSchema(ma.Schema):
    version = fields.String()
    state = fields.String(metadata={"description": "active, shadow, available or broken"})
    reason = fields.String(allow_none=True, metadata={"description": "why it is broken"})
    role = fields.String(metadata={"description": "fast, or reader (it has a screen.json and "
                                   "serves only behind a fast model, as F+R)"})
    fitted_to = fields.String(allow_none=True, metadata={
        "description": "a reader's: the fast model its screen threshold was chosen on"})
    encoder = fields.String(allow_none=True)
    runtime = fields.String(metadata={"description": "how this process runs it, e.g. "
                                      "'onnx int8 on cpu'"})
    size_bytes = fields.Integer(allow_none=True)
    created = fields.DateTime()
    figures = fields.Nested(ModelFiguresSchema)


class ModelListSchema(ma.Schema):
    items = fields.List(fields.Nested(ModelSchema))
    active = fields.String(allow_none=True)


class ModelCardSchema(ModelSchema):
    card = fields.String(allow_none=True, metadata={"description": "the model card (Markdown)"})
    metrics = fields.Dict(allow_none=True)
    calibration = fields.Dict(allow_none=True)


class ActivateSchema(ma.Schema):
    reader = fields.String(allow_none=True, validate=validate.Regexp(f"^{VERSION.pattern}$"),
                           metadata={"description": "the reader to serve behind the version "
                                     "(the cascade version+reader); null or left out: the "
                                     "version alone"})


class DeploymentSchema(ma.Schema):
    active_version = fields.String()
    previous_versions = fields.List(fields.String(), metadata={
        "description": "what rollback returns to, the newest last"})
    generation = fields.Integer()
    changed_at = fields.DateTime()
    changed_by = fields.String(allow_none=True)
    load_seconds = fields.Float(metadata={"description": "loading and checking the model took"})
