"""Who may do what in a project: one function, so that every route answers alike.

Non-members get the same 404 as for a missing project (they do not learn it exists);
members get 403 for what their role may not do. Admins may read every project, and get 403
for changes to one they are not a member of.
"""

from __future__ import annotations

from sqlalchemy import select

from service.api import get_or_404, not_found
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
    """The project, if ``caller`` holds at least the role ``need`` in it; else 404 or 403."""
    project = get_or_404(Project, project_id, "project")
    role = role_in(project.id, caller.id)
    if role is None:
        if not caller.is_admin:
            raise not_found("project")
        if need == "viewer":
            return project
        raise APIError(403, "Admins read every project; only its members change it.")
    if RANK[role] < RANK[need]:
        raise APIError(403, f"Your role in this project is {role}: it may not "
                            f"{WHAT[need]} it (that takes {need}).")
    return project


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
