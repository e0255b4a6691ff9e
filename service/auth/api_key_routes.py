"""Personal API keys: create (shown once), list, revoke; admins list and revoke any.

Only a signed-in session manages keys (no route here takes an API key): a leaked key
cannot mint more keys or outlive its own revocation.
"""

from __future__ import annotations

from apifairy import other_responses, response
from flask import Blueprint
from marshmallow import ValidationError, fields, validate, validates
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from service import audit
from service.api import (
    PageArgs,
    UTCDateTime,
    count_under_lock,
    get_or_404,
    json_body,
    not_found,
    page_of,
    paginated_response,
)
from service.auth.scopes import ADMIN_SCOPES, SCOPES, authorized, scopes_beyond
from service.auth.tokens import create_api_key
from service.db import ApiKey, User, utcnow
from service.errors import APIError
from service.extensions import db, ma, token_auth

api_keys = Blueprint("api_keys", __name__)

# Active keys a user may hold at once: enough for every script, not a table to fill.
MAX_ACTIVE_KEYS_PER_USER = 25


class ApiKeySchema(ma.Schema):
    id = fields.String()
    user_id = fields.String()
    name = fields.String()
    prefix = fields.String(metadata={"description": "the key's public start, to recognise it"})
    scopes = fields.List(fields.String())
    created_at = fields.DateTime()
    last_used_at = fields.DateTime(allow_none=True,
                                   metadata={"description": "recorded at most once a minute"})
    expires_at = fields.DateTime(allow_none=True)
    revoked_at = fields.DateTime(allow_none=True)
    active = fields.Method("_active", metadata={
        "description": "false once revoked, expired, or its user's password changed or the "
                       "user was deactivated"})

    def _active(self, key: ApiKey) -> bool:
        return key.active


ApiKeyPageSchema = page_of(ApiKeySchema)


class CreatedApiKeySchema(ApiKeySchema):
    key = fields.String(metadata={"description": "the whole key: shown this once, never again"})


class NewApiKeySchema(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))
    scopes = fields.List(fields.String(validate=validate.OneOf(list(SCOPES))), required=True,
                         validate=[validate.Length(min=1, error="Choose at least one scope."),
                                   validate.Length(max=len(SCOPES))],
                         metadata={"description": "; ".join(f"{k}: {v}"
                                                           for k, v in SCOPES.items())})
    expires_at = UTCDateTime(
        load_default=None, allow_none=True,
        metadata={"description": "ISO 8601 with a zone; none: until revoked"})

    @validates("expires_at")
    def _in_the_future(self, value, **_kwargs):
        if value is not None and value <= utcnow():
            raise ValidationError("Must be in the future.")


class ApiKeyFilterSchema(ma.Schema):
    user_id = fields.String(validate=validate.Length(max=36))


class ApiKeyListArgs(PageArgs):
    pass


class AdminApiKeyListArgs(PageArgs, ApiKeyFilterSchema):
    pass


def _keys(statement):
    """The keys of ``statement``, newest first, with their users loaded in one more query
    for the page (``active`` reads them)."""
    return (statement.options(selectinload(ApiKey.user))
            .order_by(ApiKey.created_at.desc(), ApiKey.id))


@api_keys.route("", methods=["POST"])
@authorized()
@json_body(NewApiKeySchema)
@response(CreatedApiKeySchema(), 201)
@other_responses({401: "No or bad token", 403: "An API key cannot create keys",
                  409: f"{MAX_ACTIVE_KEYS_PER_USER} active keys already",
                  422: "Bad name, scopes or expiry; admin scopes for a non-admin, the "
                       "review's for a non-reviewer"})
def new(args):
    """Create an API key for yourself: the whole key is in this answer only"""
    caller = token_auth.current_user()
    scopes = sorted(set(args["scopes"]))
    beyond = scopes_beyond(caller.role, scopes)
    if ADMIN_SCOPES & set(beyond):
        raise APIError(422, "Only admins can give a key admin scopes.",
                       errors={"scopes": ["Admin scopes need an admin."]})
    if beyond:
        raise APIError(422, f"Only reviewers and admins can give a key {', '.join(beyond)}.",
                       errors={"scopes": [f"{', '.join(beyond)} needs a reviewer."]})
    active = count_under_lock(User, caller.id, select(func.count()).select_from(ApiKey).where(
        ApiKey.user_id == caller.id, ApiKey.revoked_at.is_(None),
        ApiKey.token_version == caller.token_version))
    if active >= MAX_ACTIVE_KEYS_PER_USER:
        raise APIError(409, f"You have {MAX_ACTIVE_KEYS_PER_USER} API keys; revoke one first.")
    created = create_api_key(caller, name=args["name"], scopes=scopes,
                             expires_at=args["expires_at"])
    audit.record("api_key_created", actor_id=caller.id, target_id=created.key.id,
                 name=created.key.name, scopes=scopes)
    db.session.commit()
    created.key.key = created.secret  # on this instance, for this answer only: never stored
    return created.key


@api_keys.route("", methods=["GET"])
@authorized()
@paginated_response(ApiKeyPageSchema, ApiKeyListArgs)
@other_responses({401: "No or bad token", 403: "Not with an API key"})
def all(args):
    """Your API keys, newest first (never the secret)"""
    return _keys(select(ApiKey).where(ApiKey.user_id == token_auth.current_user().id))


@api_keys.route("/<key_id>", methods=["DELETE"])
@authorized()
@other_responses({401: "No or bad token", 403: "Not with an API key",
                  404: "No such key (or not yours)"})
def delete(key_id):
    """Revoke an API key: yours, or anyone's for an admin"""
    caller = token_auth.current_user()
    key = get_or_404(ApiKey, key_id, "API key")
    if key.user_id != caller.id and not caller.is_admin:
        raise not_found("API key")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record("api_key_revoked", actor_id=caller.id, target_id=key.id,
                     owner_id=key.user_id)
        db.session.commit()
    return "", 204


def admin_list(args):
    """Every API key, newest first; ``user_id`` filters by owner (admin): the select the
    admin's list view pages."""
    statement = select(ApiKey)
    if "user_id" in args:
        statement = statement.where(ApiKey.user_id == args["user_id"])
    return _keys(statement)
