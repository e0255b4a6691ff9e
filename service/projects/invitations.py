"""Invitations: an owner asks an email that has no account yet to join the project with a
role, and the person joins when they first sign in (docs/register.md#invitations).

Who may claim one (docs/security.md#invitations-who-may-claim-an-email): Riskscan verifies
no email, so an email alone claims nothing. A local sign-up joins only with the
invitation's token, which the owner hands over as an admin hands over a one-time password,
and only as the invited email; a sign-in through the company's identity provider or
directory, which vouched for the email, claims every pending invitation of it.

An invitation is made, revoked, claimed or expired once, however many requests race: each
ending is a DELETE of its row that only one of them wins, and that one audits it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from flask import Flask
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from service import audit
from service.api import count_under_lock, is_uuid, not_found
from service.auth.accounts import email_vouched, signed_up
from service.config import current_settings
from service.db import Invitation, Project, ProjectMember, User, utcnow
from service.errors import APIError
from service.extensions import db
from service.mail import queued as mail_outbox
from service.mail.compose import compose

EXPIRED_AT_ONCE = 100  # the most expired invitations one request ends
UNKNOWN = ("This invitation link is not valid: it may have been used, revoked or mistyped. "
           "Ask the project's owner for a new one.")
EXPIRED = ("This invitation has expired. Ask the project's owner for a new one.")
OTHER_EMAIL = ("This invitation was made for another email address: register with the one "
               "it was sent to.")


def init_app(app: Flask) -> None:
    """Sign-ups and single sign-on, which know nothing of projects, announce the accounts
    they make or sign in (service/auth/accounts.py); the invitations hear it here."""
    signed_up.connect(_signed_up, sender=app)
    email_vouched.connect(_email_vouched, sender=app)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def seats_taken(project_id: str) -> int:
    """Members and pending invitations, counted once the project's row is held: the cap
    (MAX_PROJECT_MEMBERS) counts both, so that every pending invitation can be claimed."""
    members = count_under_lock(Project, project_id, select(func.count()).select_from(
        ProjectMember).where(ProjectMember.project_id == project_id))
    return members + db.session.scalar(
        select(func.count()).select_from(Invitation)
        .where(Invitation.project_id == project_id, Invitation.expires_at > utcnow())
        .with_for_update(read=True))


def invite(project: Project, email: str, role: str, caller) -> tuple[Invitation, str]:
    """A pending invitation of ``email`` (normalised, of no account: the caller checked)
    and its token, whose SHA-256 alone is kept. 409 for an email invited already, or past
    MAX_PROJECT_MEMBERS. The caller commits."""
    settings = current_settings()
    expire_due()
    seats = seats_taken(project.id)
    existing = db.session.scalar(select(Invitation).where(
        Invitation.project_id == project.id, Invitation.email == email))
    if existing is not None:
        raise _invited_already(existing.email, existing.expires_at)
    if seats >= settings.MAX_PROJECT_MEMBERS:
        raise APIError(409, f"This project's members and pending invitations number {seats}, "
                            "the most it may have (MAX_PROJECT_MEMBERS).")
    token, now = secrets.token_urlsafe(32), utcnow()
    invitation = Invitation(
        project_id=project.id, email=email, role=role, token_hash=digest(token),
        invited_by=caller.id, created_at=now,
        expires_at=now + timedelta(days=settings.INVITATION_TTL_DAYS))
    db.session.add(invitation)
    try:
        db.session.flush()
    except IntegrityError:  # another owner invited it at this moment
        db.session.rollback()
        raise _invited_already(email, invitation.expires_at) from None
    audit.record("invitation_created", actor_id=caller.id, target_id=invitation.id,
                 project_id=project.id, email=email, role=role,
                 expires_at=invitation.expires_at.isoformat())
    return invitation, token


def resend(project: Project, invitation_id: str, caller) -> tuple[Invitation, str]:
    """A pending invitation of ``project`` given a new link (a new token: the old link
    claims nothing any more) and ``INVITATION_TTL_DAYS`` again; audited. The 404 of a
    missing one for another project's, a claimed, a revoked or an expired one."""
    expire_due()
    invitation = db.session.get(Invitation, invitation_id) if is_uuid(invitation_id) else None
    if invitation is None or invitation.project_id != project.id:
        raise not_found("invitation")
    token, now = secrets.token_urlsafe(32), utcnow()
    expires = now + timedelta(days=current_settings().INVITATION_TTL_DAYS)
    if db.session.execute(update(Invitation).where(   # one resend wins a race with an ending
            Invitation.id == invitation.id, Invitation.expires_at > now)
            .values(token_hash=digest(token), expires_at=expires)).rowcount != 1:
        raise not_found("invitation")
    db.session.refresh(invitation)
    audit.record("invitation_resent", actor_id=caller.id, target_id=invitation.id,
                 project_id=project.id, email=invitation.email, role=invitation.role,
                 expires_at=expires.isoformat())
    return invitation, token


def mail_link(invitation: Invitation, link: str, project: Project, inviter: str) -> bool:
    """The invitation's link sent to the invited address (with the caller's transaction);
    False when the deployment sends no mail: the owner hands the link over."""
    composed = compose("invitation", f"{inviter} invited you to {project.name} on Riskscan",
                       inviter=inviter, project=project.name, role=invitation.role,
                       email=invitation.email, link=link,
                       expires=f"{invitation.expires_at:%d %b %Y}")
    return mail_outbox.queue("invitation", invitation.email, composed) is not None


def _invited_already(email: str, until) -> APIError:
    return APIError(409, f"{email} is invited to this project already, until "
                         f"{until:%d %b %Y}: revoke that invitation to make another.",
                    errors={"email": ["Invited already."]})


def pending(project_id: str):
    """The project's pending invitations, the soonest to expire first: a select to page."""
    return (select(Invitation)
            .where(Invitation.project_id == project_id, Invitation.expires_at > utcnow())
            .order_by(Invitation.expires_at, Invitation.id))


def inviters(invitations: list[Invitation]) -> dict[str, str]:
    """The emails of those who made ``invitations``, by id (a deleted account: absent)."""
    ids = {invitation.invited_by for invitation in invitations} - {None}
    return dict(db.session.execute(select(User.id, User.email).where(User.id.in_(ids))).all()
                ) if ids else {}


def revoke(project: Project, invitation_id: str, caller) -> None:
    """End a pending invitation of ``project``: its link claims nothing any more. The 404
    of a missing one for another project's, a claimed, a revoked or an expired one."""
    expire_due()
    invitation = db.session.get(Invitation, invitation_id) if is_uuid(invitation_id) else None
    if invitation is None or invitation.project_id != project.id or not _end(invitation):
        raise not_found("invitation")
    audit.record("invitation_revoked", actor_id=caller.id, target_id=invitation.id,
                 project_id=project.id, email=invitation.email, role=invitation.role)


def expire_due(email: str | None = None) -> None:
    """End the invitations past their expiry (``email``'s only, when given), each audited
    once. Run by every read and change of invitations and by every claim, so that the
    audit log says an invitation expired by the time anyone could see that it did."""
    now = utcnow()
    statement = select(Invitation).where(Invitation.expires_at <= now)
    if email is not None:
        statement = statement.where(Invitation.email == email)
    for invitation in db.session.scalars(
            statement.order_by(Invitation.expires_at).limit(EXPIRED_AT_ONCE)).all():
        if _end(invitation, Invitation.expires_at <= now):
            audit.record("invitation_expired", target_id=invitation.id,
                         project_id=invitation.project_id, email=invitation.email,
                         role=invitation.role, expired_at=invitation.expires_at.isoformat())


def of_link(token: str) -> dict:
    """The pending invitation whose token this is, as its link's reader may know it: the
    email it was made for, the role and the project's name; else the 404 of UNKNOWN (or
    of EXPIRED)."""
    row = db.session.execute(
        select(Invitation.email, Invitation.role, Invitation.expires_at, Project.name)
        .join(Project, Project.id == Invitation.project_id)
        .where(Invitation.token_hash == digest(token))).first()
    if row is None:
        raise APIError(404, UNKNOWN)
    if row.expires_at <= utcnow():
        raise APIError(404, EXPIRED)
    return {"email": row.email, "role": row.role, "project_name": row.name,
            "expires_at": row.expires_at}


def claim_by_token(user: User, token: str) -> list[dict]:
    """A local sign-up with an invitation's token: ``user`` joins its project, if the token
    is a pending invitation of ``user``'s email; else a 422 that rolls the sign-up back."""
    invitation = db.session.scalar(select(Invitation).where(
        Invitation.token_hash == digest(token)))
    if invitation is None:
        raise APIError(422, UNKNOWN, errors={"invitation": ["Not a pending invitation."]})
    if invitation.email != user.email:
        raise APIError(422, OTHER_EMAIL, errors={"email": ["Not the invited email."]})
    now = utcnow()
    if invitation.expires_at <= now:
        raise APIError(422, EXPIRED, errors={"invitation": ["Expired."]})
    if not _end(invitation, Invitation.expires_at > now):  # revoked or claimed just now
        raise APIError(422, UNKNOWN, errors={"invitation": ["Not a pending invitation."]})
    return [_join(invitation, user, via="link")]


def claim_vouched(user: User, email: str, source: str) -> list[dict]:
    """A sign-in through ``source`` (oidc, ldap), which vouched for ``email``: ``user``
    joins every project that invited it, if it is their account's email."""
    if user.email != email:
        return []  # the account kept another address (the vouched one is another's)
    expire_due(email)
    now = utcnow()
    invited = db.session.scalars(select(Invitation).where(
        Invitation.email == email, Invitation.expires_at > now)
        .order_by(Invitation.created_at, Invitation.id)).all()
    return [_join(invitation, user, via=source) for invitation in invited
            if _end(invitation, Invitation.expires_at > now)]


def _join(invitation: Invitation, user: User, *, via: str) -> dict:
    """``user`` a member with the invited role (one already, since an owner added them:
    they keep the role they have)."""
    member = db.session.get(ProjectMember, (invitation.project_id, user.id))
    if member is None:
        member = ProjectMember(project_id=invitation.project_id, user_id=user.id,
                               role=invitation.role)
        db.session.add(member)
    audit.record("invitation_accepted", actor_id=user.id, target_id=invitation.id,
                 project_id=invitation.project_id, email=invitation.email,
                 role=member.role, via=via)
    name = db.session.scalar(select(Project.name).where(Project.id == invitation.project_id))
    return {"project_id": invitation.project_id, "project_name": name, "role": member.role}


def _end(invitation: Invitation, *conditions) -> bool:
    """Delete the invitation's row if it is still there (and ``conditions`` hold): whether
    this request did. Of requests racing to end it, one does; the others wait for its
    transaction (the row's lock; SQLite's write lock) and find it gone."""
    ended = db.session.execute(
        delete(Invitation).where(Invitation.id == invitation.id, *conditions)
        .execution_options(synchronize_session=False)).rowcount == 1
    if ended:
        db.session.expunge(invitation)
    return ended


def _signed_up(_app: Flask, *, user: User, invitation: str | None) -> list[dict]:
    return claim_by_token(user, invitation) if invitation else []


def _email_vouched(_app: Flask, *, user: User, email: str, source: str) -> list[dict]:
    return claim_vouched(user, email, source)
