"""What a login presents, read once per request, and the one way an email is normalised.

The login view and the per-account failed-login limit must name the same account whatever
the encoding (JSON ``email`` or the OAuth2 form's ``username``): both read it here.
"""

from __future__ import annotations

from flask import g, request
from marshmallow import ValidationError as SchemaError

from service.api import request_json
from service.auth.schemas import LoginSchema
from service.errors import APIError


def normalize_email(email: str) -> str:
    """Emails are stored and compared stripped and lower-cased."""
    return email.strip().lower()


def login_credentials() -> dict:
    """``{email, password}`` of a login, email normalised: JSON ``{email, password}`` or the
    OAuth2 password form (``username``, ``password``). 415/400/422 problems otherwise."""
    if "login_credentials" not in g:
        g.login_credentials = _read_login()
    return g.login_credentials


def _read_login() -> dict:
    if request.mimetype == "application/x-www-form-urlencoded":
        data = {"email": request.form.get("username"), "password": request.form.get("password")}
        data = {k: v for k, v in data.items() if v is not None}
    elif request.is_json:
        data = request_json()
    else:
        raise APIError(415, "Send JSON or an application/x-www-form-urlencoded form.")
    try:
        fields = LoginSchema().load(data)
    except SchemaError as exc:
        raise APIError(422, "The request has invalid or missing fields.",
                       errors=exc.messages) from None
    return {**fields, "email": normalize_email(fields["email"])}
