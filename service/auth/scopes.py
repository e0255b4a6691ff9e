"""What an API key may do: each route names the one scope it needs.

A route declares who may call it with ``@authorized(scope, role=...)`` right under its
``@route``: the bearer (an access token, or an API key with that scope) and the role. A route
without a scope (logout, changing credentials, managing API keys) takes no API key at all: a
leaked key can neither mint more keys nor take over the account. Access tokens are not
scoped; they can do whatever the user's role allows.

A scans route reaches into projects when the scan is another member's or joins, leaves or
changes a register: there the key needs the projects scope too (``require_scope``), so
that ``scans:*`` means its user's own scans and ``projects:*`` what is shared.
"""

from __future__ import annotations

import functools

from apifairy import authenticate
from flask import current_app, request

from service.auth.first_password import refuse_until_changed
from service.errors import APIError
from service.extensions import token_auth

SCOPES: dict[str, str] = {
    "scans:read": "list, read and download your scans (others' need projects:read too)",
    "scans:write": "scan documents, correct findings, delete scans (in a project: with "
                   "projects:write too)",
    "projects:read": "list and read your projects, their members, scans and risk registers",
    "projects:write": "create and change projects, members and register entries; with "
                      "scans:write, scans that join, leave or change a register",
    "account:read": "read your own account",
    "admin:read": "(admins) list users, the audit log, LLM calls, every API key and the "
                  "model registry",
    "admin:write": "(admins) create, change and delete users; activate and roll back models",
    "corrections:review": "(reviewers and admins) list people's corrections and accept or "
                          "reject them as training data",
}
ADMIN_SCOPES = frozenset({"admin:read", "admin:write"})
#: The scopes a key carries only where its user's role may use them (the others: any role).
ROLE_SCOPES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(ADMIN_SCOPES, ("admin",)), "corrections:review": ("reviewer", "admin")}


def scopes_beyond(role: str, scopes) -> list[str]:
    """The ``scopes`` a key of a user with ``role`` may not carry."""
    return sorted(scope for scope in scopes if role not in ROLE_SCOPES.get(scope, (role,)))


def authorized(scope: str | None = None, *, role: str | None = None):
    """Authenticate the caller and, with ``role``, require it (apifairy's ``authenticate``,
    so the OpenAPI spec says so); API keys may call the route only with ``scope``, and none
    where there is no scope. One decorator for what every API view needs. An account
    whose password an admin set may call almost none (first_password.py)."""
    def decorator(view):
        @functools.wraps(view)
        def gated(*args, **kwargs):
            refuse_until_changed(token_auth.current_user())
            return view(*args, **kwargs)

        checked = authenticate(token_auth, **({"role": role} if role else {}))(gated)
        return api_key_scope(scope)(checked) if scope is not None else checked

    return decorator


def api_key_scope(scope: str):
    """Let API keys with ``scope`` call this route (put it right under ``@route``)."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")

    def decorator(view):
        view.api_key_scope = scope
        return view

    return decorator


def require_key_scope(caller) -> None:
    """403 unless the API key ``caller`` came with may call the requested route."""
    view = current_app.view_functions.get(request.endpoint or "")
    scope = getattr(view, "api_key_scope", None)
    if scope is None:
        raise APIError(403, "API keys cannot be used here: sign in and use an access token.")
    require_scope(caller, scope)


def require_scope(caller, scope: str) -> None:
    """403 if ``caller`` came with an API key that lacks ``scope``; access tokens pass. For
    a request that reaches past its route's own scope (see the module's docstring)."""
    if caller.scopes is not None and scope not in caller.scopes:
        raise APIError(403, f"This API key lacks the scope {scope}.")
