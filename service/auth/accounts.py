"""Accounts: creating, changing and deleting a user, with the rules every caller keeps.

The HTTP views (auth/routes.py, users/routes.py), ``flask create-admin`` and ``flask seed``
all change accounts through here, so an email stays unique, a password is stored only
hashed, a new password or a deactivation ends every session, and the last active admin
cannot be lost. Who may ask for a change is the caller's business; nothing here reads the
request. The caller commits.

What else a new account or a sign-in brings (a project's invitation claimed) belongs to
packages above this one: they hear it on ``signed_up`` and ``email_vouched``.
"""

from __future__ import annotations

from collections.abc import Mapping

from blinker import Namespace
from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from service import audit
from service.auth.credentials import normalize_email
from service.auth.first_password import one_time_password
from service.auth.passwords import hash_password, verify_password
from service.auth.tokens import revoke_all_tokens
from service.db import User
from service.errors import APIError
from service.extensions import db

EMAIL_TAKEN = "A user with this email already exists."
LAST_ADMIN = "This is the last active admin; make another admin first."

_signals = Namespace()
#: Sent by a local sign-up (auth/routes.py) before it commits, with the app as sender,
#: ``user`` and ``invitation`` (the token it brought, or None). A receiver
#: (service/projects/invitations.py) returns the projects the account joined, or raises
#: the 422 of a token it cannot honour, which rolls the sign-up back.
signed_up = _signals.signal("riskscan.signed-up")
#: Sent by a sign-in through an identity provider or directory that vouched for the email
#: (identities.sign_in)
#: before it commits, with ``user``, ``email`` (the address the provider vouched for) and
#: ``source``; receivers return the projects the account joined.
email_vouched = _signals.signal("riskscan.email-vouched")


def announce(signal, user: User, **details) -> list[dict]:
    """Send ``signal`` for ``user``: the projects its receivers say the account joined."""
    answers = signal.send(current_app._get_current_object(), user=user, **details)
    return [joined for _, projects in answers for joined in projects or ()]


def user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == normalize_email(email)))


def create_user(email: str, password: str, role: str = "user", active: bool = True, *,
                must_change_password: bool = False) -> User:
    """Add a user (email lower-cased); 409 when the email is taken in any case.
    ``must_change_password``: the password is a one-time one (auth/first_password.py)."""
    email = normalize_email(email)
    if _email_taken(email):
        raise APIError(409, EMAIL_TAKEN)
    user = User(email=email, password_hash=hash_password(password), role=role, active=active,
                must_change_password=must_change_password)
    db.session.add(user)
    try:
        db.session.flush()
    except IntegrityError:  # a concurrent registration won the race
        db.session.rollback()
        raise APIError(409, EMAIL_TAKEN) from None
    return user


def password_is(user: User | None, password: str) -> bool:
    """Whether ``password`` is the user's; an unknown user (None) costs the same time."""
    return verify_password(user.password_hash if user else None, password)


def update_user(user: User, changes: Mapping, *, actor_id: str) -> None:
    """Apply ``changes`` (email, password, role, active; current_password is ignored) and
    record them. 409 for a taken email or the loss of the last active admin."""
    if "email" in changes and normalize_email(changes["email"]) != user.email:
        email = normalize_email(changes["email"])
        if _email_taken(email):
            raise APIError(409, EMAIL_TAKEN)
        user.email = email
    if "password" in changes:
        user.password_hash = hash_password(changes["password"])
        # Another's password, set by an admin, is known to them: theirs to replace.
        user.must_change_password = user.id != actor_id
    losing_admin = user.is_admin and (changes.get("role", "admin") != "admin"
                                      or changes.get("active") is False)
    if losing_admin:
        _keep_an_admin(user)
    if "role" in changes and changes["role"] != user.role:
        audit.record("role_change", actor_id=actor_id, target_id=user.id,
                     old=user.role, new=changes["role"])
        user.role = changes["role"]
    if "active" in changes:
        user.active = changes["active"]
    if "password" in changes or changes.get("active") is False:
        revoke_all_tokens(user)  # every session ends: log in again with the new password
    audit.record("user_updated", actor_id=actor_id, target_id=user.id,
                 fields=sorted(set(changes) - {"current_password"}))


def change_own_password(user: User, password: str, *, keep_session: str) -> None:
    """The user's new password (already judged by the policy): every token, session and API
    key of theirs ends but the session ``keep_session``, the one that asked."""
    user.password_hash = hash_password(password)
    user.must_change_password = False  # their own now
    revoke_all_tokens(user, keep_session=keep_session)
    audit.record("password_changed", actor_id=user.id, target_id=user.id)


def reset_password(user: User, *, actor_id: str) -> str:
    """A one-time password for ``user`` (who forgot theirs), returned to be shown once:
    every session and API key of theirs ends, and their first sign-in must replace it.
    409 for an account of the identity provider or directory: it has no password here."""
    if user.auth_source != "local":
        raise APIError(409, f"{user.email} signs in through the company's identity provider "
                            "or directory: there is no Riskscan password to reset.")
    password = one_time_password()
    user.password_hash = hash_password(password)
    user.must_change_password = True
    revoke_all_tokens(user)
    audit.record("password_reset", actor_id=actor_id, target_id=user.id)
    return password


def delete_user(user: User, *, actor_id: str) -> None:
    """Delete the user; the database cascades to every row they own. Their files under
    UPLOAD_DIR are the caller's to remove once this is committed."""
    if user.is_admin:
        _keep_an_admin(user)
    audit.record("user_deleted", actor_id=actor_id, target_id=user.id, email=user.email)
    db.session.delete(user)


def _email_taken(email: str) -> bool:
    return db.session.scalar(select(User.id).where(User.email == email)) is not None


def _keep_an_admin(user: User) -> None:
    """409 unless another active admin remains without ``user``."""
    others = db.session.scalar(select(func.count()).select_from(User).where(
        User.role == "admin", User.active.is_(True), User.id != user.id))
    if others == 0:
        raise APIError(409, LAST_ADMIN)
