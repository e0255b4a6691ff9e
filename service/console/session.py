"""Who is signed in to the console, and the API as them.

The session cookie (signed, ``HttpOnly``, ``SameSite=Lax``, ``Secure`` behind TLS, path
``/app``: console.py) holds the access token the API's login issued, and nothing else of
the user. Each page asks the API as that token; an access token past its 30 minutes is
renewed for the same login (auth.tokens.renew_access_token), so a console session ends when
the API's would: sign-out, a password change, deactivation, revocation, or the login's
maximum age.
"""

from __future__ import annotations

import functools

from flask import g, redirect, request, session, url_for

from service.auth import tokens
from service.console import client
from service.console.client import Answer

TOKEN = "token"


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


def sign_out() -> None:
    token = session.get(TOKEN)
    if token:
        client.call("POST", "/auth/logout", token=token)
    session.clear()


def current_user() -> dict:
    """The signed-in user as the API's /auth/me says, once per request."""
    if "console_user" not in g:
        answer = api("GET", "/auth/me")
        if not answer.ok:
            raise SignInRequired
        g.console_user = answer.json
    return g.console_user


def signed_in(view):
    """A page for signed-in users: the user is read (and the session checked) first."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        current_user()
        return view(*args, **kwargs)

    return wrapper


def to_sign_in():
    nxt = request.full_path if request.method == "GET" else None
    return redirect(url_for("console.sign_in_page", next=nxt.rstrip("?") if nxt else None))
