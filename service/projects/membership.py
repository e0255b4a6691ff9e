"""Membership rules that outlive one request: a project always keeps an owner, and a person
who leaves (removed, or their account deleted) leaves nothing pointing at them; a person who
may no longer scan into a project (removed, or made a viewer) has it no longer as their
default project."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from service.api import lock_row
from service.db import Project, ProjectMember, RegisterEntry, Scan, UserSettings
from service.errors import APIError
from service.extensions import db
from service.projects import register

LAST_OWNER = "A project keeps at least one owner: make another member owner first."


def keep_an_owner(project_id: str, user_id: str) -> None:
    """409 unless an owner other than ``user_id`` stays. The owners are read under the
    project's lock, so that two owners demoting each other, or both leaving, at once take
    turns, and the second sees that the first has gone."""
    lock_row(Project, project_id)
    owners = db.session.scalars(select(ProjectMember.user_id).where(
        ProjectMember.project_id == project_id, ProjectMember.role == "owner")
        .with_for_update()).all()
    if not set(owners) - {user_id}:
        raise APIError(409, LAST_OWNER)


def unassign(project_id: str, user_id: str) -> None:
    """A member leaves: the project's risks they owned have no owner until someone takes them
    (a risk's owner is always a member)."""
    register.hold(project_id, directions_kept=True).member_left(user_id)


def lose_default_project(project_id: str, user_id: str) -> None:
    """The member may no longer scan into the project: it is no longer their default. A
    save of the default holds the membership it checked (project_id_for(held=True)), so a
    save at the same moment comes first and is cleared here, or comes after and is a 404
    or 403."""
    db.session.execute(update(UserSettings).where(UserSettings.user_id == user_id,
                                                  UserSettings.project_id == project_id)
                       .values(project_id=None))


def before_deleting_user(user_id: str) -> None:
    """What deleting an account does to projects, before the database cascades:

    - a project the user is the last owner of is a 409 while it has other members (they
      would be left with a project nobody can manage), and is deleted with the user when
      they are its only member;
    - the user's scans in projects leave their registers as a deleted scan does (entries
      recomputed, empty ones withdrawn, their words forgotten: register/forgetting.py);
      risks they owned lose their owner (the foreign key).
    """
    owned = db.session.execute(
        select(ProjectMember.project_id).where(ProjectMember.user_id == user_id,
                                               ProjectMember.role == "owner")).scalars().all()
    stranded, alone = [], []
    for project_id in owned:
        others = db.session.execute(
            select(ProjectMember.role, func.count()).where(
                ProjectMember.project_id == project_id, ProjectMember.user_id != user_id)
            .group_by(ProjectMember.role)).all()
        roles = dict(others)
        if not roles:
            alone.append(project_id)
        elif not roles.get("owner"):
            stranded.append(project_id)
    if stranded:
        names = db.session.scalars(select(Project.name).where(Project.id.in_(stranded))).all()
        raise APIError(409, f"This user is the last owner of {len(stranded)} project(s) with "
                            f"other members ({', '.join(sorted(names))}): make another member "
                            "owner first.")
    # Risks they own lose their owner (the foreign key): those registers change.
    for project_id in db.session.scalars(select(RegisterEntry.project_id).where(
            RegisterEntry.owner_id == user_id).distinct()).all():
        unassign(project_id, user_id)
    scans = db.session.scalars(select(Scan).where(Scan.user_id == user_id)
                               .options(selectinload(Scan.findings))).all()
    register.forget_reports(scans, note="The account whose reports stated it was deleted.")
    for project_id in alone:
        db.session.delete(db.session.get(Project, project_id))
