"""Request and response shapes of a project's webhooks and their deliveries."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate

from service.analysis.labels import RISK_LABELS
from service.api import PageArgs, StrictBoolean, page_of
from service.db import DELIVERY_STATUSES, WEBHOOK_EVENTS, utcnow
from service.extensions import ma
from service.webhooks.targets import MAX_URL


def _distinct(values: list) -> None:
    if len(set(values)) != len(values):
        raise ValidationError("Each at most once.")


def _overlap_until(webhook) -> str | None:
    """The end of the rotation's overlap, while it lasts."""
    until = webhook.previous_secrets_until
    return until.isoformat() if until is not None and until > utcnow() else None


class WebhookSchema(ma.Schema):
    id = fields.String()
    url = fields.String()
    events = fields.List(fields.String())
    min_score = fields.Integer(allow_none=True, metadata={
        "description": "only risks rated at least this (likelihood × impact, 1-25)"})
    categories = fields.List(fields.String(), allow_none=True, metadata={
        "description": "only risks of these categories (null: every one)"})
    active = fields.Boolean()
    previous_secrets_until = fields.Function(_overlap_until, metadata={
        "type": "string", "format": "date-time", "nullable": True,
        "description": "after a rotation: until when deliveries are signed with the "
                       "secrets it replaced too (null: with the current one only)"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class WebhookCreatedSchema(WebhookSchema):
    secret = fields.String(metadata={
        "description": "whsec_…: verify each delivery's webhook-signature with it; shown "
                       "only now (at creation, or rotation)"})


def _url(**required) -> fields.Url:
    return fields.Url(schemes={"http", "https"}, require_tld=False,
                      validate=validate.Length(max=MAX_URL),
                      metadata={"example": "https://hooks.example.com/riskscan"}, **required)


def _events(**required) -> fields.List:
    return fields.List(fields.String(validate=validate.OneOf(WEBHOOK_EVENTS)),
                       validate=[validate.Length(min=1, max=len(WEBHOOK_EVENTS)), _distinct],
                       metadata={"uniqueItems": True}, **required)


def _min_score(**default) -> fields.Integer:
    return fields.Integer(strict=True, allow_none=True, validate=validate.Range(min=1, max=25),
                          **default)


def _categories(**default) -> fields.List:
    return fields.List(fields.String(validate=validate.OneOf(RISK_LABELS)), allow_none=True,
                       validate=[validate.Length(min=1, max=len(RISK_LABELS)), _distinct],
                       metadata={"uniqueItems": True}, **default)


class WebhookCreateSchema(ma.Schema):
    url = _url(required=True)
    events = _events(required=True)
    min_score = _min_score(load_default=None)
    categories = _categories(load_default=None)
    active = StrictBoolean(load_default=True)


class WebhookUpdateSchema(ma.Schema):
    url = _url()
    events = _events()
    min_score = _min_score()
    categories = _categories()
    active = StrictBoolean()


class DeliverySchema(ma.Schema):
    id = fields.String(metadata={"description": "the webhook-id header: the same on every "
                                                "attempt"})
    event = fields.String(metadata={"description": "a register event the webhook wants, or "
                                                   "ping (its owner's test)"})
    status = fields.String(metadata={"description": ", ".join(DELIVERY_STATUSES)})
    attempts = fields.Integer()
    response_status = fields.Integer(allow_none=True, metadata={
        "description": "the receiver's answer to the last attempt (null: none)"})
    duration_ms = fields.Integer(allow_none=True, metadata={
        "description": "how long the last attempt took; with no HTTP answer, whatever the "
                       "cause, the whole WEBHOOK_TIMEOUT_S"})
    error = fields.String(allow_none=True, metadata={
        "description": "why the last attempt failed: the answer's code, or one sentence for "
                       "every failure without an HTTP answer (the cause is in the log)"})
    created_at = fields.DateTime()
    last_attempt_at = fields.DateTime(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)


class DeliveryDetailSchema(DeliverySchema):
    """One delivery whole: what was sent and what came back (its owner's to read)."""

    request = fields.Dict(metadata={
        "description": "what each attempt sends: method, url (the webhook's, now), headers "
                       "(the signature withheld: it is made with the secret) and body, byte "
                       "for byte what is signed"})
    response_headers = fields.Dict(allow_none=True, metadata={
        "description": "the last answer's headers (the first 50, each up to 1000 "
                       "characters); null: no answer"})
    response_body = fields.String(allow_none=True, metadata={
        "description": "the first 4 KB of the last answer's body, as UTF-8 (undecodable "
                       "bytes replaced); null: no answer"})


class DeliveryListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(DELIVERY_STATUSES))


WebhookPageSchema = page_of(WebhookSchema)
DeliveryPageSchema = page_of(DeliverySchema)
