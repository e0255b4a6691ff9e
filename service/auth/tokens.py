"""Access tokens, refresh tokens, sessions and personal API keys: the single door.

Every request's token or API key is checked here, so revocation (logout, a password change,
refresh-token reuse) holds everywhere at once. How: docs/security.md#sessions-and-refresh-tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from flask import current_app, has_request_context, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import bindparam, delete, exists, or_, select, update

from service.api import lock_row
from service.config import current_settings
from service.db import ApiKey, AuthSession, RefreshToken, RevokedToken, User, utcnow
from service.extensions import connection, db, token_auth

_SALT = "riskscan.access-token"
API_KEY_PREFIX = "rsk_"
# app.extensions key of the OpenID provider's bearer-JWT check (auth/oidc.py), set when
# OIDC_API_AUDIENCE is: token -> Caller | None. A hook, so that this door imports no SSO.
PROVIDER_JWT = "riskscan.provider_jwt"
# How often a key's last-used time (and its audit event) is written: not once a request.
API_KEY_USE_RECORDED_EVERY = timedelta(minutes=1)
# Likewise a session's last activity: "last active 5 min ago" needs no finer grain.
SESSION_ACTIVITY_RECORDED_EVERY = timedelta(minutes=1)


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


def _settings():
    return current_settings()


def _access_lifetime() -> int:
    return _settings().ACCESS_TOKEN_EXPIRE_MINUTES * 60


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(user: User) -> AuthSession:
    """A new login's session, with the address and user agent of its request (none from
    the CLI) for its user to recognise it by; the caller commits."""
    ip = agent = None
    if has_request_context():
        ip, agent = request.remote_addr, request.user_agent.string[:255] or None
    now = utcnow()
    session = AuthSession(id=str(uuid.uuid4()), user_id=user.id, ip=ip, user_agent=agent,
                          last_active_at=now,
                          expires_at=now + timedelta(days=_settings().REFRESH_TOKEN_MAX_DAYS))
    db.session.add(session)
    return session


def issue_tokens(user: User, session: AuthSession) -> TokenPair:
    """A new access token and a new refresh token of ``session``; the caller commits."""
    access = _serializer().dumps({"sub": user.id, "jti": str(uuid.uuid4()), "sid": session.id,
                                  "ver": user.token_version})
    refresh = secrets.token_urlsafe(32)
    expires_at = min(utcnow() + timedelta(days=_settings().REFRESH_TOKEN_EXPIRE_DAYS),
                     session.expires_at)
    db.session.add(RefreshToken(user_id=user.id, session_id=session.id,
                                token_hash=_hash(refresh), expires_at=expires_at))
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

    Cached because a client sends one token for its whole lifetime; only good signatures
    are kept (lru_cache keeps no exceptions). Age and revocation are checked on every
    request. Why and how much: docs/security.md ("The token-check cache").
    """
    claims, signed_at = _serializer_for(secret_key).loads(token, return_timestamp=True)
    if not isinstance(claims, dict) or not {"sub", "jti", "sid", "ver"} <= claims.keys():
        raise BadSignature("not an access token of this service")
    return claims, signed_at.timestamp()


@dataclass(frozen=True, slots=True)
class Caller:
    """The user a token or API key authenticates, as the database had them when the request
    was authenticated: ``token_auth.current_user()``. A value, not a session object: a
    commit or a rollback later in the request cannot expire it, so reading ``caller.id``
    afterwards (the request log does) never goes back to the database (docs/reliability.md).
    Views that change a user load their own ``User``. ``scopes`` is None for an access
    token (everything the role allows), an API key's scopes otherwise."""

    id: str
    email: str
    role: str
    active: bool
    token_version: int
    created_at: datetime
    updated_at: datetime
    auth_source: str = "local"
    must_change_password: bool = False
    scopes: frozenset[str] | None = None
    api_key_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


# The caller's columns, unless the token was revoked or its session ended: one round trip
# on every request. Nothing of it is cached between requests: a revoked token, an ended
# session, a deactivated or deleted user and a bumped token_version are refused on the very
# next request, in every process.
_users = User.__table__
_sessions = AuthSession.__table__
_USER_COLUMNS = ("id", "email", "role", "active", "token_version", "created_at", "updated_at",
                 "auth_source", "must_change_password")
_ACTIVE_AT = (select(_sessions.c.last_active_at).where(_sessions.c.id == bindparam("sid"))
              .scalar_subquery().label("session_active_at"))
_CALLER = (select(*(_users.c[name] for name in _USER_COLUMNS), _ACTIVE_AT)
           .where(_users.c.id == bindparam("sub"),
                  ~exists().where(RevokedToken.__table__.c.jti == bindparam("jti")),
                  exists().where(_sessions.c.id == bindparam("sid"),
                                 _sessions.c.ended_at.is_(None))))
_keys = ApiKey.__table__
_KEY_CALLER = (select(*(_users.c[name] for name in _USER_COLUMNS), _keys.c.id.label("key_id"),
                      _keys.c.secret_hash, _keys.c.scopes,
                      _keys.c.token_version.label("key_token_version"),
                      _keys.c.expires_at, _keys.c.revoked_at, _keys.c.last_used_at)
               .join(_users, _users.c.id == _keys.c.user_id)
               .where(_keys.c.prefix == bindparam("prefix")))


def local_credentials_live(account) -> bool:
    """Whether what an account's Riskscan password opened (its sessions, refresh tokens, API
    keys, console cookies) may still be used: always for accounts of an identity provider or
    directory; with local accounts off (AUTH_LOCAL=false) only a break-glass admin's. Checked
    at every door, so turning local accounts off ends them at the restart (issue #75)."""
    settings = _settings()
    return (account.auth_source != "local" or settings.AUTH_LOCAL
            or (account.role == "admin" and account.email in settings.AUTH_BREAK_GLASS_ADMINS))


def _caller_may_enter(row, version: int) -> bool:
    return (row is not None and row.active and row.token_version == version
            and local_credentials_live(row))


@token_auth.verify_token
def verify_access_token(token: str) -> Caller | None:
    """The single door for access tokens and API keys."""
    if token.startswith(API_KEY_PREFIX):
        return _verify_api_key(token)
    claims = read_access_token(token) if token else None
    if claims is None:
        provider_jwt = current_app.extensions.get(PROVIDER_JWT)
        return provider_jwt(token) if provider_jwt is not None and token else None
    # A Core select on the request's connection: a request that only reads then builds no
    # ORM session (extensions.connection; docs/throughput.md).
    row = connection().execute(_CALLER, {"sub": claims["sub"], "jti": claims["jti"],
                                         "sid": claims["sid"]}).first()
    if not _caller_may_enter(row, claims["ver"]):
        return None
    _record_activity(claims["sid"], row.session_active_at)
    return Caller(*row[:len(_USER_COLUMNS)])


def _record_activity(session_id: str, last: datetime | None) -> None:
    """The session's last activity, written at most once a minute (not a write per
    request): whichever of several concurrent requests wins the conditional UPDATE."""
    now = utcnow()
    if last is not None and now - last < SESSION_ACTIVITY_RECORDED_EVERY:
        return
    db.session.execute(update(AuthSession).where(
        AuthSession.id == session_id,
        or_(AuthSession.last_active_at.is_(None),
            AuthSession.last_active_at <= now - SESSION_ACTIVITY_RECORDED_EVERY))
        .values(last_active_at=now))
    db.session.commit()


def caller_of(user: User) -> Caller:
    """The Caller of a user loaded already (a provider's bearer JWT: auth/oidc.py)."""
    return Caller(*(getattr(user, name) for name in _USER_COLUMNS))


def renew_access_token(token: str) -> str | None:
    """A fresh access token of the same session as ``token`` (which may have expired), for
    the web console, whose cookie holds one access token and no refresh token: None when
    the session ended or expired, the token was revoked, the user is inactive or their
    tokens were revoked, or ``token`` is older than a refresh token lives (idle too long).
    Minting is stateless, so two requests of one browser renewing at once both succeed;
    a refresh token's rotation would call the second one a theft."""
    try:
        claims, signed_at = _signed_claims(current_app.config["SECRET_KEY"], token)
    except BadSignature:
        return None
    if not 0 <= time.time() - signed_at <= _settings().REFRESH_TOKEN_EXPIRE_DAYS * 86400:
        return None
    row = db.session.execute(_CALLER, {"sub": claims["sub"], "jti": claims["jti"],
                                       "sid": claims["sid"]}).first()
    if not _caller_may_enter(row, claims["ver"]):
        return None
    expires_at = db.session.scalar(select(AuthSession.expires_at)
                                   .where(AuthSession.id == claims["sid"]))
    if expires_at is None or expires_at <= utcnow():
        return None
    _record_activity(claims["sid"], row.session_active_at)
    return _serializer().dumps({"sub": claims["sub"], "jti": str(uuid.uuid4()),
                                "sid": claims["sid"], "ver": claims["ver"]})


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


def end_login(token: str) -> None:
    """Logout: the session of this access token ends, with every token it issued."""
    claims = read_access_token(token)
    if claims is None:
        return
    revoke_access_token(token)
    db.session.execute(update(AuthSession)
                       .where(AuthSession.id == claims["sid"], AuthSession.ended_at.is_(None))
                       .values(ended_at=utcnow()))


def revoke_refresh_token(user: User | Caller, token: str) -> None:
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.token_hash == _hash(token), RefreshToken.user_id == user.id,
               RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def revoke_all_tokens(user: User, *, keep_session: str | None = None) -> None:
    """Every access token, refresh token, session and API key of the user stops working.
    ``keep_session``: that session alone stays open (its tokens end all the same), so that
    the caller can issue it new ones: a password change keeps its own login."""
    user.token_version += 1  # access tokens and API keys carry the old version
    now = utcnow()
    db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    db.session.execute(update(AuthSession)
                       .where(AuthSession.user_id == user.id, AuthSession.ended_at.is_(None),
                              AuthSession.id != (keep_session or ""))
                       .values(ended_at=now))


def end_sessions(user_id: str, *, only: str | None = None,
                 keep: str | None = None) -> list[str]:
    """End the user's open sessions (``only`` that one; never ``keep``) with their refresh
    tokens, and say which ended; their access tokens fail the session check at once. Unlike
    revoke_all_tokens, the user's other logins and API keys carry on. The caller commits."""
    open_sessions = select(AuthSession.id).where(AuthSession.user_id == user_id,
                                                 AuthSession.ended_at.is_(None))
    if only is not None:
        open_sessions = open_sessions.where(AuthSession.id == only)
    if keep is not None:
        open_sessions = open_sessions.where(AuthSession.id != keep)
    ids = list(db.session.scalars(open_sessions.with_for_update()))
    if ids:
        now = utcnow()
        db.session.execute(update(AuthSession).where(AuthSession.id.in_(ids),
                                                     AuthSession.ended_at.is_(None))
                           .values(ended_at=now))
        db.session.execute(update(RefreshToken)
                           .where(RefreshToken.session_id.in_(ids),
                                  RefreshToken.revoked_at.is_(None))
                           .values(revoked_at=now))
    return ids


def session_of(token: str) -> AuthSession | None:
    """The open session of a valid access token, else None."""
    claims = read_access_token(token)
    if claims is None:
        return None
    session = db.session.get(AuthSession, claims["sid"])
    return session if session is not None and session.ended_at is None else None


class RefreshReuse(Exception):
    """A refresh token was presented a second time: treat it as stolen."""

    def __init__(self, user: User):
        self.user = user


def rotate_refresh_token(token: str) -> TokenPair | None:
    """Spend a refresh token for a new pair; None when it is unknown, expired or revoked.

    The token is spent by one conditional UPDATE: of concurrent requests with the same
    token exactly one wins, on SQLite as on MySQL. The others find it spent and raise
    RefreshReuse, after revoking the user's tokens (docs/api.md: a client refreshes once).
    Racing requests queue on the user's row first: on MySQL, a request queued on the
    token's own index entry blocks the winner's insert of its new token beside it, and the
    server breaks that deadlock by failing the queued request (a 503 instead of a 401).
    """
    now, token_hash = utcnow(), _hash(token)
    owner = db.session.scalar(select(RefreshToken.user_id)
                              .where(RefreshToken.token_hash == token_hash))
    if owner is None:
        return None
    lock_row(User, owner)
    spent = db.session.execute(
        update(RefreshToken)
        .where(RefreshToken.token_hash == token_hash, RefreshToken.used_at.is_(None),
               RefreshToken.revoked_at.is_(None), RefreshToken.expires_at > now)
        .values(used_at=now)
    ).rowcount == 1
    # A locking read: on MySQL a plain one sees the snapshot from before the queue.
    stored = db.session.scalars(select(RefreshToken).where(RefreshToken.token_hash == token_hash)
                                .with_for_update()
                                .execution_options(populate_existing=True)).one()
    user = db.session.scalars(select(User).where(User.id == owner).with_for_update()
                              .execution_options(populate_existing=True)).one()
    if not spent:
        if stored.used_at is not None:
            revoke_all_tokens(user)
            raise RefreshReuse(user)
        return None  # revoked or expired
    session = db.session.get(AuthSession, stored.session_id) if stored.session_id else None
    if session is None:  # a token issued before sessions existed
        session = start_session(user)
    if (session.ended_at is not None or session.expires_at <= now or not user.active
            or not local_credentials_live(user)):
        return None
    return issue_tokens(user, session)


# --------------------------------------------------------------------------- API keys


@dataclass(frozen=True)
class NewApiKey:
    key: ApiKey
    secret: str  # the whole key, shown once


def create_api_key(user: User | Caller, *, name: str, scopes: list[str],
                   expires_at: datetime | None) -> NewApiKey:
    """A new key for ``user``; only its hash is stored. The caller commits."""
    lookup = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(id=str(uuid.uuid4()), user_id=user.id, name=name,
                 prefix=f"{API_KEY_PREFIX}{lookup}", secret_hash=_hash(secret),
                 scopes=sorted(set(scopes)), token_version=user.token_version,
                 expires_at=expires_at)
    db.session.add(key)
    return NewApiKey(key, f"{API_KEY_PREFIX}{lookup}_{secret}")


def _verify_api_key(token: str) -> Caller | None:
    lookup, _, secret = token.removeprefix(API_KEY_PREFIX).partition("_")
    if not lookup or not secret or len(lookup) != 12:
        return None
    row = connection().execute(_KEY_CALLER, {"prefix": f"{API_KEY_PREFIX}{lookup}"}).first()
    now = utcnow()
    if (row is None or not hmac.compare_digest(row.secret_hash, _hash(secret))
            or not _caller_may_enter(row, row.key_token_version) or row.revoked_at is not None
            or (row.expires_at is not None and row.expires_at <= now)):
        return None
    caller = Caller(*row[:len(_USER_COLUMNS)], scopes=frozenset(row.scopes),
                    api_key_id=row.key_id)
    if row.last_used_at is None or now - row.last_used_at >= API_KEY_USE_RECORDED_EVERY:
        _record_use(caller, row.key_id, now)
    from service.auth.scopes import require_key_scope

    require_key_scope(caller)
    return caller


def _record_use(caller: Caller, key_id: str, now: datetime) -> None:
    """Last-used time and an audit event, at most once a minute per key: whichever of
    several concurrent requests wins the conditional UPDATE writes them."""
    from service import audit

    recorded = db.session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, or_(ApiKey.last_used_at.is_(None),
                                        ApiKey.last_used_at <= now - API_KEY_USE_RECORDED_EVERY))
        .values(last_used_at=now)).rowcount == 1
    if recorded:
        audit.record("api_key_used", actor_id=caller.id, target_id=key_id)
    db.session.commit()


