"""Your sessions: each login, listed with the calling one marked; end one, or all others.

Only a signed-in session may call these (never an API key): a leaked key must not end its
owner's logins, nor learn when they signed in.
"""

# The module docstring is the OpenAPI tag's description. Its own blueprint, not auth's: auth
# is served on the legacy /api/auth paths too, and these routes are not part of that contract.

from __future__ import annotations

from apifairy import other_responses
from flask import Blueprint, request
from marshmallow import fields
from sqlalchemy import select

from service import audit
from service.api import is_uuid, not_found, page_of, paginated_response
from service.auth.scopes import authorized
from service.auth.tokens import end_sessions, read_access_token
from service.auth.user_agents import browser_and_os
from service.db import AuthSession, utcnow
from service.extensions import db, ma, token_auth

sessions = Blueprint("sessions", __name__)


class SessionSchema(ma.Schema):
    id = fields.String()
    created_at = fields.DateTime(metadata={"description": "when its login was"})
    expires_at = fields.DateTime(metadata={
        "description": "when it ends however often it is refreshed"})
    ip = fields.String(allow_none=True, metadata={"description": "its login's address"})
    user_agent = fields.String(allow_none=True, metadata={
        "description": "its login's User-Agent (the first 255 characters)"})
    browser = fields.String(allow_none=True, metadata={
        "description": "the browser or client its User-Agent names (ua-parser), e.g. Chrome; "
                       "null where unknown"})
    os = fields.String(allow_none=True, metadata={
        "description": "the operating system its User-Agent names, e.g. Linux; null where "
                       "unknown"})
    last_active_at = fields.DateTime(allow_none=True, metadata={
        "description": "when its tokens were last used or renewed, to the minute"})
    current = fields.Boolean(metadata={"description": "the session of the calling token"})


def _this_session() -> str:
    """The session id of the calling access token (checked already by the verifier)."""
    return read_access_token(request.authorization.token)["sid"]


def _marked(rows: list[AuthSession]) -> list[dict]:
    this = _this_session()
    return [{"id": row.id, "created_at": row.created_at, "expires_at": row.expires_at,
             "ip": row.ip, "user_agent": row.user_agent,
             **dict(zip(("browser", "os"), browser_and_os(row.user_agent), strict=True)),
             "last_active_at": row.last_active_at, "current": row.id == this}
            for row in rows]


@sessions.route("", methods=["GET"])
@authorized()  # no API key
@paginated_response(page_of(SessionSchema), items=_marked)
@other_responses({401: "No or bad token", 403: "Not with an API key"})
def listed(args):
    """Your open sessions (logins), newest first; `current` marks this one"""
    caller = token_auth.current_user()
    return (select(AuthSession)
            .where(AuthSession.user_id == caller.id, AuthSession.ended_at.is_(None),
                   AuthSession.expires_at > utcnow())
            .order_by(AuthSession.created_at.desc(), AuthSession.id))


@sessions.route("", methods=["DELETE"])
@authorized()
@other_responses({401: "No or bad token", 403: "Not with an API key"})
def end_others():
    """End every session of yours but this one: their tokens stop working, your API keys
    do not"""
    caller = token_auth.current_user()
    ended = end_sessions(caller.id, keep=_this_session())
    if ended:
        audit.record("session_ended", actor_id=caller.id, target_id=caller.id,
                     sessions=len(ended), kept="current")
    db.session.commit()
    return "", 204


@sessions.route("/<session_id>", methods=["DELETE"])
@authorized()
@other_responses({401: "No or bad token", 403: "Not with an API key",
                  404: "No such open session of yours"})
def end(session_id):
    """End one of your sessions (this one too: as a logout): its tokens stop working"""
    caller = token_auth.current_user()
    if not is_uuid(session_id) or not end_sessions(caller.id, only=session_id):
        db.session.rollback()
        raise not_found("session")
    audit.record("session_ended", actor_id=caller.id, target_id=caller.id,
                 session_id=session_id)
    db.session.commit()
    return "", 204
