"""A person the company's identity provider or directory vouches for, made a Riskscan user.

OpenID Connect (service/auth/oidc.py) and LDAP (service/auth/ldap.py) each prove who is
signing in; what follows is the same for both and lives here: the account is found by what
the provider calls the person (``external_id``), made just in time on a first sign-in, its
role follows the provider's groups on every sign-in, and a person the provider no longer
lets in is refused and loses every session at once. An email alone never takes over an
existing account of another source: a local account is linked only where the operator
allows it (``OIDC_LINK_LOCAL_ACCOUNTS``) and the provider verified the email.

A sign-in also claims the projects' invitations of the email the provider vouched for
(``email_vouched``, service/auth/accounts.py): an OpenID provider's verified email, a
directory's ``mail`` only where ``LDAP_EMAIL_VERIFIED`` says people cannot edit it. Every sign-in, refusal and role change is
audited. The caller commits, also on a refusal (``SignInRefused.commit``), so that the
audit row and the ended sessions stay.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select

from service import audit
from service.auth.accounts import announce, create_user, email_vouched, user_by_email
from service.auth.credentials import normalize_email
from service.auth.tokens import revoke_all_tokens
from service.db import User
from service.extensions import db

NOT_ALLOWED = "Your account is not in a group allowed to use Riskscan; ask your administrator."
UNVERIFIED = "Your identity provider has not verified your email address."
TAKEN = ("A Riskscan account with this email already exists; an administrator must link it "
         "before you can sign in this way.")
INACTIVE = "This account is deactivated."
NO_EMAIL = ("Your identity provider did not tell Riskscan your email address; ask your "
            "administrator.")


class SignInRefused(Exception):
    """The provider vouched for the person, and Riskscan still says no: ``words`` are for
    them, ``reason`` for the audit log."""

    def __init__(self, words: str, reason: str):
        super().__init__(words)
        self.words, self.reason = words, reason


@dataclass(frozen=True)
class Identity:
    """What a provider says of a person, already verified by the caller (signature,
    issuer, audience, expiry, nonce; or a directory bind)."""

    source: str  # "oidc" or "ldap"
    subject: str  # stable at the provider: "<issuer> <sub>" or a DN
    email: str
    email_verified: bool
    groups: frozenset[str]

    @property
    def external_id(self) -> str:
        return f"{self.source}:{self.subject}"[:255]


@dataclass(frozen=True)
class GroupRules:
    """Which of the provider's groups may sign in (empty: all) and which make admins."""

    allowed: frozenset[str] = frozenset()
    admins: frozenset[str] = frozenset()

    def lets_in(self, groups: frozenset[str]) -> bool:
        return not self.allowed or bool(self.allowed & groups) or bool(self.admins & groups)


def sign_in(identity: Identity, rules: GroupRules, *, link_local: bool = False) -> User:
    """The user ``identity`` signs in as, made or updated; SignInRefused otherwise (audited,
    and a known user refused for their groups has every session ended)."""
    user = db.session.scalar(select(User).where(User.external_id == identity.external_id))
    if "@" not in identity.email:
        _refuse(user, identity, NO_EMAIL, "no email")
    if not identity.email_verified and identity.source != "ldap":
        # A directory's bind proves the person; its mail is vouched for only where
        # LDAP_EMAIL_VERIFIED says so, and claims no invitation otherwise (below).
        _refuse(user, identity, UNVERIFIED, "email not verified")
    if not rules.lets_in(identity.groups):
        if user is not None:
            revoke_all_tokens(user)  # removed from the groups: every session ends now
        _refuse(user, identity, NOT_ALLOWED, "not in an allowed group")
    if user is None:
        user = _find_or_make(identity, link_local)
    if not user.active:
        _refuse(user, identity, INACTIVE, "account deactivated")
    email = normalize_email(identity.email)
    if user.email != email and user_by_email(email) is None:
        user.email = email  # changed at the provider; a taken one is left as it was
    _follow_groups(user, identity, rules)
    audit.record("sso_login", actor_id=user.id, target_id=user.id, source=identity.source)
    if identity.email_verified:  # the projects that invited the email are joined now
        announce(email_vouched, user, email=email, source=identity.source)
    return user


def _find_or_make(identity: Identity, link_local: bool) -> User:
    existing = user_by_email(identity.email)
    if existing is None:
        # No password anyone knows: such an account signs in through its provider only.
        user = create_user(identity.email, secrets.token_urlsafe(32))
        user.auth_source, user.external_id = identity.source, identity.external_id
        audit.record("sso_user_created", actor_id=user.id, target_id=user.id,
                     source=identity.source)
        return user
    if existing.external_id is None and link_local:
        existing.auth_source, existing.external_id = identity.source, identity.external_id
        # Whoever made it with a password, its owner may not be (no email is verified
        # here): their sessions and keys end, and the person the provider vouches for
        # takes it over alone, the projects that invited the email included.
        revoke_all_tokens(existing)
        audit.record("sso_linked", actor_id=existing.id, target_id=existing.id,
                     source=identity.source)
        return existing
    _refuse(existing, identity, TAKEN, "email of another account")
    raise AssertionError("unreachable")  # _refuse raises


def _follow_groups(user: User, identity: Identity, rules: GroupRules) -> None:
    """Admin while in an admin group; out of them, a user. A reviewer's role is Riskscan's
    own (there is no reviewers' group) and is kept."""
    role = "admin" if rules.admins & identity.groups else (
        "user" if user.role == "admin" else user.role)
    if role != user.role:
        audit.record("role_change", actor_id=user.id, target_id=user.id, old=user.role,
                     new=role, source=identity.source)
        user.role = role


def _refuse(user: User | None, identity: Identity, words: str, reason: str) -> None:
    audit.record("sso_refused", target_id=user.id if user else None,
                 email=normalize_email(identity.email), source=identity.source, reason=reason)
    raise SignInRefused(words, reason)
