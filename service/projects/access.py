"""Who may do what in a project: one function, so that every route answers alike.

Non-members get the same 404 as for a missing project (they do not learn it exists);
members get 403 for what their role may not do. Admins may read every project, and get 403
for changes to one they are not a member of.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, select

from service.api import is_uuid, not_found
from service.errors import APIError
from service.extensions import db
from service.models import PROJECT_ROLES, Project, ProjectMember

# What each role may do; a role may do what the roles after it may.
RANK = {role: len(PROJECT_ROLES) - index for index, role in enumerate(PROJECT_ROLES)}
WHAT = {"viewer": "read", "editor": "change", "owner": "manage"}


def role_in(project_id: str, user_id: str) -> str | None:
    return db.session.scalar(select(ProjectMember.role).where(
        ProjectMember.project_id == project_id, ProjectMember.user_id == user_id))


def project_for(caller, project_id: str, need: str = "viewer") -> Project:
    """The project, if ``caller`` holds at least the role ``need`` in it; else 404 or 403.
    One query for the project and the caller's role: every project route starts here."""
    if not is_uuid(project_id):
        raise not_found("project")
    row = db.session.execute(
        select(Project, ProjectMember.role)
        .outerjoin(ProjectMember, (ProjectMember.project_id == Project.id)
                   & (ProjectMember.user_id == caller.id))
        .where(Project.id == project_id)).first()
    if row is None:
        raise not_found("project")
    project, role = row
    _check(caller, role, need)
    return project


@cache
def _membership():
    """The project's id, its register's version and the caller's role in it (NULL: none),
    in one query built once: the register's busy reads need no more of the project."""
    return (select(Project.id, Project.register_version, ProjectMember.role)
            .outerjoin(ProjectMember, (ProjectMember.project_id == Project.id)
                       & (ProjectMember.user_id == bindparam("user_id")))
            .where(Project.id == bindparam("project_id")))


def readable_project(caller, project_id: str):
    """``(id, register_version)`` of the project if ``caller`` may read it (a member, or an
    admin); else the 404 of a missing project. project_for without loading the project."""
    if not is_uuid(project_id):
        raise not_found("project")
    row = db.session.execute(_membership(), {"project_id": project_id,
                                             "user_id": caller.id}).first()
    if row is None or (row.role is None and not caller.is_admin):
        raise not_found("project")
    return row.id, row.register_version


def project_id_for(caller, project_id: str, need: str) -> str:
    """project_for's answer (404 or 403) without loading the project: its id."""
    if not is_uuid(project_id):
        raise not_found("project")
    row = db.session.execute(_membership(), {"project_id": project_id,
                                             "user_id": caller.id}).first()
    if row is None:
        raise not_found("project")
    _check(caller, row.role, need)
    return row.id


def _check(caller, role: str | None, need: str) -> None:
    if role is None:
        if not caller.is_admin:
            raise not_found("project")
        if need != "viewer":
            raise APIError(403, "Admins read every project; only its members change it.")
    elif RANK[role] < RANK[need]:
        raise APIError(403, f"Your role in this project is {role}: it may not "
                            f"{WHAT[need]} it (that takes {need}).")


def may_read_scan(caller, scan) -> bool:
    """The scan's owner, an admin, and the members of the scan's project."""
    if scan.user_id == caller.id or caller.is_admin:
        return True
    return scan.project_id is not None and role_in(scan.project_id, caller.id) is not None


def may_edit_scan(caller, scan) -> bool:
    """The scan's owner, and the editors and owners of the scan's project."""
    if scan.user_id == caller.id:
        return True
    if scan.project_id is None:
        return False
    role = role_in(scan.project_id, caller.id)
    return role is not None and RANK[role] >= RANK["editor"]
