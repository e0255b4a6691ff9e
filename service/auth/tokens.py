"""Access and refresh tokens.

Access tokens are signed with itsdangerous and carry the user id, a token id (``jti``,
so that logout can revoke one token) and the user's ``token_version`` (bumped to revoke
all of a user's tokens at once). Refresh tokens are random strings stored as SHA-256
hashes; each use rotates them, and presenting a used one is treated as theft: every
token of that user is revoked.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from functools import lru_cache

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import bindparam, delete, exists, select, update

from service.extensions import db, token_auth
from service.models import RefreshToken, RevokedToken, User, utcnow

_SALT = "riskscan.access-token"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "bearer"


def _serializer() -> URLSafeTimedSerializer:
    return _serializer_for(current_app.config["SECRET_KEY"])


@lru_cache(maxsize=4)
def _serializer_for(secret_key: str) -> URLSafeTimedSerializer:
    """Stateless and thread-safe: one per secret key, not one per request."""
    return URLSafeTimedSerializer(secret_key, salt=_SALT)


def _access_lifetime() -> int:
    return current_app.config["SETTINGS"].ACCESS_TOKEN_EXPIRE_MINUTES * 60


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_tokens(user: User) -> TokenPair:
    """A new access token and a new refresh token; the caller commits."""
    access = _serializer().dumps(
        {"sub": user.id, "jti": str(uuid.uuid4()), "ver": user.token_version}
    )
    refresh = secrets.token_urlsafe(32)
    days = current_app.config["SETTINGS"].REFRESH_TOKEN_EXPIRE_DAYS
    db.session.add(RefreshToken(user_id=user.id, token_hash=_hash(refresh),
                                expires_at=utcnow() + timedelta(days=days)))
    return TokenPair(access, refresh, _access_lifetime())


def read_access_token(token: str) -> dict | None:
    """The claims of a valid, unexpired access token, else None."""
    try:
        claims, signed_at = _signed_claims(current_app.config["SECRET_KEY"], token)
    except BadSignature:
        return None
    age = time.time() - signed_at
    if not 0 <= age <= _access_lifetime():  # as itsdangerous's max_age, future included
        return None
    return dict(claims)


@lru_cache(maxsize=4096)
def _signed_claims(secret_key: str, token: str) -> tuple[dict, float]:
    """(claims, signing time) of a token whose signature is good; BadSignature otherwise.

    A client sends the same access token with every request for its whole lifetime, and
    checking the signature (HMAC, base64, JSON) was a quarter of the token check's time, so
    the outcome is kept per secret key and token. Only tokens we signed are kept: a bad one
    raises, and lru_cache keeps no exceptions, so no client can fill the cache with junk.
    The age is checked on each request (read_access_token), and whether the token was
    revoked, or its user changed, is asked of the database on each request.
    """
    claims, signed_at = _serializer_for(secret_key).loads(token, return_timestamp=True)
    if not isinstance(claims, dict) or not {"sub", "jti", "ver"} <= claims.keys():
        raise BadSignature("not an access token of this service")
    return claims, signed_at.timestamp()


@dataclass(frozen=True, slots=True)
class Caller:
    """The user an access token authenticates, as the database had them when the request
    was authenticated: ``token_auth.current_user()``. A value, not a session object: a
    commit or a rollback later in the request cannot expire it, so reading ``caller.id``
    afterwards (the request log does) never goes back to the database. It did, with the
    ORM instance: when the database had just gone away, a DELETE that was committed
    answered 500 instead of 204, and a 503 turned into a 500 (found by
    reliability/faults.py). Views that change a user load their own ``User``."""

    id: str
    email: str
    role: str
    active: bool
    token_version: int
    created_at: datetime
    updated_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


# The caller's columns, unless the token was revoked: one round trip on every request.
# Nothing of it is cached between requests: a revoked token, a deactivated or deleted user
# and a bumped token_version are refused on the very next request, in every process.
_users = User.__table__
_CALLER = (select(*(_users.c[field.name] for field in fields(Caller)))
           .where(_users.c.id == bindparam("sub"),
                  ~exists().where(RevokedToken.__table__.c.jti == bindparam("jti"))))


@token_auth.verify_token
def verify_access_token(token: str) -> Caller | None:
    """The single door for access tokens."""
    claims = read_access_token(token) if token else None
    if claims is None:
        return None
    row = db.session.execute(_CALLER, {"sub": claims["sub"], "jti": claims["jti"]}).first()
    if row is None or not row.active or row.token_version != claims["ver"]:
        return None
    return Caller(*row)


@token_auth.get_user_roles
def user_roles(user: Caller) -> list[str]:
    return [user.role]


def revoke_access_token(token: str) -> None:
    claims = read_access_token(token)
    if claims is None:
        return
    now = utcnow()
    db.session.execute(delete(RevokedToken).where(RevokedToken.expires_at < now))
    db.session.merge(RevokedToken(jti=claims["jti"],
                                  expires_at=now + timedelta(seconds=_access_lifetime())))


def revoke_refresh_token(user: User | Caller, token: str) -> None:
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.token_hash == _hash(token), RefreshToken.user_id == user.id,
               RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def revoke_all_tokens(user: User) -> None:
    """Every access token of the user stops working, and every refresh token."""
    user.token_version += 1
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


class RefreshReuse(Exception):
    """A refresh token was presented a second time: treat it as stolen."""

    def __init__(self, user: User):
        self.user = user


def rotate_refresh_token(token: str) -> TokenPair | None:
    """Spend a refresh token for a new pair; None when it is unknown, expired or revoked.

    Raises RefreshReuse when the token was already used, after revoking the user's tokens.
    """
    stored = db.session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == _hash(token)).with_for_update()
    )
    if stored is None:
        return None
    user = db.session.get(User, stored.user_id)
    now = utcnow()
    if stored.used_at is not None:
        revoke_all_tokens(user)
        raise RefreshReuse(user)
    if stored.revoked_at is not None or stored.expires_at <= now or not user.active:
        return None
    stored.used_at = now
    return issue_tokens(user)
