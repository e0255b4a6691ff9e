"""Who is signed in to the console, and the API as them.

The session cookie (signed, ``HttpOnly``, ``SameSite=Lax``, ``Secure`` behind TLS, path
``/app``: console.py) holds the access token the API's login issued, and nothing else of
the user. Each page asks the API as that token; an access token past its 30 minutes is
renewed for the same login (auth.tokens.renew_access_token), so a console session ends when
the API's would: sign-out, a password change, deactivation, revocation, or the login's
maximum age.

A secret the console shows once (a new API key, a one-time password) never enters the
cookie: it waits on the server behind a random one-time id (``keep_once``), which is all the
cookie carries, and the page that shows it takes it out (``take_once``). The server side is
the store the rate limits already share (``RATE_LIMIT_STORAGE_URI``): Redis when several
processes serve, so the page after the redirect finds it whichever process answers; process
memory with ``memory://`` (one process).
"""

from __future__ import annotations

import functools
import json
import secrets
import threading
import time

from flask import current_app, g, redirect, request, session, url_for

from service.auth import tokens
from service.console import client
from service.console.client import Answer

TOKEN = "token"
# An OpenID sign-in's ID token, for the provider's logout (id_token_hint); "" when it is
# too long for the cookie beside the access token (a person in many groups): browsers drop
# a cookie over 4 KB, and the logout then names the client instead.
SSO = "sso"
ID_TOKEN_KEPT_MAX = 2048
ONCE_TTL_S = 600  # a secret not shown within ten minutes of its redirect is dropped
ONCE_PREFIX = "riskscan:console-once:"


class SignInRequired(Exception):
    """No console session, or it ended: the browser goes to the sign-in page."""


def api(method: str, path: str, **kwargs) -> Answer:
    """The API as the signed-in user; SignInRequired when there is none (any more)."""
    token = session.get(TOKEN)
    if not token:
        raise SignInRequired
    answer = client.call(method, path, token=token, **kwargs)
    if answer.status == 401:
        renewed = tokens.renew_access_token(token)
        if renewed is None:
            session.clear()
            raise SignInRequired
        session[TOKEN] = renewed
        answer = client.call(method, path, token=renewed, **kwargs)
        if answer.status == 401:
            session.clear()
            raise SignInRequired
    return answer


def sign_in(email: str, password: str) -> Answer:
    """The API's login; on success the console session holds its access token (a new
    session id: the cookie is replaced, never reused across a sign-in)."""
    answer = client.call("POST", "/auth/login", token=None,
                         json={"email": email, "password": password})
    if answer.ok:
        session.clear()
        session[TOKEN] = answer.json["access_token"]
    return answer


def adopt(token: str, id_token: str | None = None) -> None:
    """A sign-in made elsewhere (the OpenID provider's, auth/oidc.py) becomes this console
    session: a new cookie holding its access token, and the provider's ID token."""
    session.clear()
    session[TOKEN] = token
    if id_token is not None:
        session[SSO] = id_token if len(id_token) <= ID_TOKEN_KEPT_MAX else ""


def sign_out() -> str | None:
    """End the login. After an OpenID sign-in, its ID token ("" when not kept), for the
    provider's logout; None after any other."""
    token, id_token = session.get(TOKEN), session.get(SSO)
    if token:
        client.call("POST", "/auth/logout", token=token)
    session.clear()
    return id_token


def current_user() -> dict:
    """The signed-in user as the API's /auth/me says, once per request."""
    if "console_user" not in g:
        answer = api("GET", "/auth/me")
        if not answer.ok:
            raise SignInRequired
        g.console_user = answer.json
    return g.console_user


# The pages a person whose password an admin set may see: the API refuses them the rest
# until they choose their own (service/auth/first_password.py).
FIRST_PASSWORD_PAGES = ("console.first_password", "console.first_password_save")


def signed_in(view):
    """A page for signed-in users: the user is read (and the session checked) first. One
    who signed in with a one-time password is sent to choose their own before anything."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if (current_user().get("must_change_password")
                and request.endpoint not in FIRST_PASSWORD_PAGES):
            return redirect(url_for("console.first_password"))
        return view(*args, **kwargs)

    return wrapper


def to_sign_in():
    nxt = request.full_path if request.method == "GET" else None
    return redirect(url_for("console.sign_in_page", next=nxt.rstrip("?") if nxt else None))


class _MemoryOnce:
    """One process's one-time values, each dropped once taken or expired."""

    def __init__(self):
        self._values: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def put(self, key: str, value: str, ttl_s: int) -> None:
        now = time.monotonic()
        with self._lock:
            for old in [k for k, (until, _) in self._values.items() if until <= now]:
                del self._values[old]
            self._values[key] = (now + ttl_s, value)

    def take(self, key: str) -> str | None:
        with self._lock:
            until, value = self._values.pop(key, (0.0, None))
        return value if until > time.monotonic() else None


class _RedisOnce:
    """One-time values in the Redis the processes share: set with an expiry, read and
    deleted in one transaction (a second reader finds nothing)."""

    def __init__(self, uri: str):
        import redis

        self._redis = redis.Redis.from_url(uri)

    def put(self, key: str, value: str, ttl_s: int) -> None:
        self._redis.set(ONCE_PREFIX + key, value, ex=ttl_s)

    def take(self, key: str) -> str | None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.get(ONCE_PREFIX + key)
        pipe.delete(ONCE_PREFIX + key)
        value, _ = pipe.execute()
        return value.decode() if value is not None else None


def _once_store():
    store = current_app.extensions.get("riskscan.console_once")
    if store is None:
        uri = current_app.config.get("RATELIMIT_STORAGE_URI") or "memory://"
        store = (_RedisOnce(uri) if uri.startswith(("redis://", "rediss://"))
                 else _MemoryOnce())
        current_app.extensions["riskscan.console_once"] = store
    return store


def keep_once(name: str, value: dict) -> None:
    """Keep ``value`` on the server for the next page of this session: the cookie gets a
    random id under ``name``, never the value."""
    once_id = secrets.token_urlsafe(32)
    user = current_user()["id"]
    _once_store().put(once_id, json.dumps({"user": user, "value": value}), ONCE_TTL_S)
    session[name] = once_id


def take_once(name: str) -> tuple[bool, dict | None]:
    """What ``keep_once(name, …)`` kept, taken out of the store and the session: (whether
    there was one, the value, or None when it expired, was taken or is another user's)."""
    once_id = session.pop(name, None)
    if not isinstance(once_id, str):
        return False, None
    kept = _once_store().take(once_id)
    if kept is None:
        return True, None
    kept = json.loads(kept)
    return True, kept["value"] if kept["user"] == current_user()["id"] else None
