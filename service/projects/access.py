"""Who may do what in a project, and with a scan or a job: one rule each, so that every
route answers alike (the v1 routes, the legacy ones and the console's calls of them).

Non-members get the same 404 as for a missing project (they do not learn it exists);
members get 403 for what their role may not do. Admins may read every project, and get 403
for changes to one they are not a member of. An API key needs, besides its route's scope,
the projects scope for what is shared and admin:read for other users' things.
"""

from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, select

from service.api import get_or_404, is_uuid, not_found
from service.auth.scopes import require_scope
from service.db import PROJECT_ROLES, Job, Project, ProjectMember, Scan
from service.errors import APIError
from service.extensions import db

# What each role may do; a role may do what the roles after it may.
RANK = {role: len(PROJECT_ROLES) - index for index, role in enumerate(PROJECT_ROLES)}
WHAT = {"viewer": "read", "editor": "change", "owner": "manage"}
READ_ONLY = "You are not a member of this scan's project: you may read it, not change it."


def role_in(project_id: str, user_id: str) -> str | None:
    return db.session.scalar(select(ProjectMember.role).where(
        ProjectMember.project_id == project_id, ProjectMember.user_id == user_id))


def project_for(caller, project_id: str, need: str = "viewer") -> Project:
    """The project, if ``caller`` holds at least the role ``need`` in it; else 404 or 403.
    One query for the project and the caller's role: every project route starts here."""
    return _membership_row(caller, project_id, need, loaded=True).Project


def readable_project(caller, project_id: str):
    """``(id, register_version)`` of the project if ``caller`` may read it (a member, or an
    admin); else the 404 of a missing project. project_for without loading the project."""
    row = _membership_row(caller, project_id, "viewer", loaded=False)
    return row.id, row.register_version


def project_id_for(caller, project_id: str, need: str, *, held: bool = False) -> str:
    """project_for's answer (404 or 403) without loading the project: its id. ``held``:
    read the project's row and the caller's membership with a share lock kept until the
    transaction ends (a locking read, so never an older snapshot), so that what is decided
    on it holds until then: a removal or a role change waits for it."""
    return _membership_row(caller, project_id, need, loaded=False, held=held).id


@cache
def _membership(loaded: bool, held: bool = False):
    """The project (``loaded``: as an ORM object; else its id and its register's version)
    and the caller's role in it (NULL: none), in one query built once."""
    columns = (Project,) if loaded else (Project.id, Project.register_version)
    statement = (select(*columns, ProjectMember.role)
                 .outerjoin(ProjectMember, (ProjectMember.project_id == Project.id)
                            & (ProjectMember.user_id == bindparam("user_id")))
                 .where(Project.id == bindparam("project_id")))
    return statement.with_for_update(read=True) if held else statement


def _membership_row(caller, project_id: str, need: str, *, loaded: bool, held: bool = False):
    if not is_uuid(project_id):
        raise not_found("project")
    row = db.session.execute(_membership(loaded, held), {"project_id": project_id,
                                                         "user_id": caller.id}).first()
    if row is None:
        raise not_found("project")
    if row.role is None:
        if not caller.is_admin:
            raise not_found("project")
        if need != "viewer":
            raise APIError(403, "Admins read every project; only its members change it.")
    elif RANK[row.role] < RANK[need]:
        raise APIError(403, f"Your role in this project is {row.role}: it may not "
                            f"{WHAT[need]} it (that takes {need}).")
    return row


def scan_into(caller, project_id: str) -> str:
    """The project's id if ``caller`` may put scans into it (a scan, a job, a replay of
    either): its editor or owner, an API key with projects:write too; else 403 or 404."""
    require_scope(caller, "projects:write")
    return project_id_for(caller, project_id, "editor")


# Scans and jobs: one rule for every route that reaches one (v1, the legacy routes, jobs).


def readable_scan(caller, scan_id: str) -> Scan:
    """A scan ``caller`` may read (check_read); else the 404 of a missing one."""
    scan = get_or_404(Scan, scan_id, "scan")
    check_read(caller, scan.user_id, scan.project_id, "scan")
    return scan


def editable_scan(caller, scan_id: str) -> Scan:
    """A scan ``caller`` may change (check_scan_edit); a change to a project's scan reaches
    its register, so an API key needs projects:write for it."""
    scan = get_or_404(Scan, scan_id, "scan")
    check_scan_edit(caller, scan)
    if scan.project_id is not None:
        require_scope(caller, "projects:write")
    return scan


def readable_job(caller, job_id: str) -> Job:
    """A job ``caller`` may read: theirs, or any for an admin (check_read). A job is not
    shared with a project's members: they read the scans it made."""
    job = get_or_404(Job, job_id, "job")
    check_read(caller, job.user_id, None, "job")
    return job


def own_job(caller, job_id: str) -> Job:
    """A job ``caller`` may cancel: only theirs; the 404 of a missing one otherwise."""
    job = get_or_404(Job, job_id, "job")
    if job.user_id != caller.id:
        raise not_found("job")
    return job


def check_read(caller, owner_id: str, project_id: str | None, what: str) -> None:
    """Who may read a scan or a job of ``owner_id`` in ``project_id``: its owner; the
    project's members and admins, an API key with projects:read too; an admin, outside
    projects, a key with admin:read too. Everyone else gets the 404 of a missing ``what``,
    before any scope is looked at (a 403 would say that it exists)."""
    if owner_id == caller.id:
        return
    if project_id is not None and (caller.is_admin
                                   or role_in(project_id, caller.id) is not None):
        require_scope(caller, "projects:read")
    elif project_id is None and caller.is_admin:
        require_scope(caller, "admin:read")
    else:
        raise not_found(what)


def check_scan_edit(caller, scan) -> None:
    """The editors and owners of the scan's project may change it: its findings are the
    register's. Its viewers get a 403, their own scans included (taking a scan out drops
    entries with their curated status and notes), and so does its maker once no longer a
    member (removed, or left): the scan stays the project's, read-only for them. Outside
    any project, the scan's owner may; everyone else (admins too) gets the 404 of a
    missing scan."""
    if scan.project_id is None:
        if scan.user_id == caller.id:
            return
        raise not_found("scan")
    role = role_in(scan.project_id, caller.id)
    if role is None:
        if scan.user_id == caller.id:
            raise APIError(403, READ_ONLY)
        raise not_found("scan")
    if RANK[role] < RANK["editor"]:
        raise APIError(403, f"Your role in this scan's project is {role}: it may not change it.")
