"""A forgotten password, reset by a link sent by email (issue #87 item 3).

``ask`` answers the same whether an account has the email or not (nothing to enumerate):
for a local account it mails a link, for an account of the identity provider or directory a
message saying to sign in there, for no account nothing. The link's token is signed
(itsdangerous, the SECRET_KEY, a salt of its own) and carries the account and a digest of
the password hash it was made for, so it expires (RESET_MINUTES) and works once: using it
changes the password, which every other link of that account was bound to, under the
account's row lock, so that two requests with one link change it once. Using it ends
every session, refresh token and API key of the account. Each step is audited.
"""

from __future__ import annotations

import hashlib

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from service import audit
from service.api import lock_row
from service.auth.accounts import user_by_email
from service.auth.passwords import hash_password, password_problem
from service.auth.tokens import revoke_all_tokens
from service.db import User
from service.errors import APIError
from service.extensions import db
from service.mail import queued as outbox
from service.mail.compose import compose

RESET_MINUTES = 30
_SALT = "riskscan-password-reset"
INVALID = ("This reset link is not valid: it may have been used, expired (after "
           f"{RESET_MINUTES} minutes) or mistyped. Ask for a new one on the sign-in page.")
WHERE = {"oidc": "the company's identity provider", "ldap": "the company's directory"}


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def _bound(user: User) -> str:
    """What a link is bound to: the password hash it was made for (a digest of it)."""
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:32]


def ask(email: str, link_for) -> None:
    """A reset asked for ``email`` (normalised): the link (``link_for(token)``) mailed to a
    local account, a pointer to its sign-in to another; nothing for no account. The
    caller answers the same in every case and commits."""
    user = user_by_email(email)
    sent = False
    if user is not None and user.active and user.auth_source == "local":
        token = _serializer().dumps({"sub": user.id, "pw": _bound(user)})
        sent = outbox.queue("password_reset", user.email, compose(
            "password_reset", "Reset your Riskscan password", email=user.email,
            link=link_for(token), minutes=RESET_MINUTES)) is not None
    elif user is not None and user.active:
        sent = outbox.queue("sign_in_elsewhere", user.email, compose(
            "sign_in_elsewhere", "Your Riskscan account signs in elsewhere", email=user.email,
            through=WHERE.get(user.auth_source, "single sign-on"))) is not None
    if user is not None:
        audit.record("password_reset_requested", target_id=user.id, sent=sent)


def reset(token: str, password: str) -> User:
    """The account of a valid link, with ``password`` (the policy judged here) as its own:
    every session and key of it ended. 422 for a link that is not (any more) valid."""
    try:
        claims = _serializer().loads(token, max_age=RESET_MINUTES * 60)
    except (SignatureExpired, BadSignature):
        raise APIError(422, INVALID, errors={"token": ["Not a valid reset link."]}) from None
    user_id = claims.get("sub") if isinstance(claims, dict) else None
    # One use at a time: the account's row held, then read as committed, so that of two
    # requests with one link the second finds the password changed and the link spent.
    user = (db.session.scalars(select(User).where(User.id == user_id).with_for_update()
                               .execution_options(populate_existing=True)).one()
            if isinstance(user_id, str) and lock_row(User, user_id) else None)
    if (user is None or not user.active or user.auth_source != "local"
            or claims.get("pw") != _bound(user)):
        raise APIError(422, INVALID, errors={"token": ["Not a valid reset link."]})
    problem = password_problem(password, email=user.email)
    if problem:
        raise APIError(422, f"The new password cannot be used: {problem}",
                       errors={"password": [problem]})
    user.password_hash = hash_password(password)
    user.must_change_password = False
    revoke_all_tokens(user)
    audit.record("password_reset_by_link", actor_id=user.id, target_id=user.id)
    return user
