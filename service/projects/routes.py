"""Projects: a shared home for a project's reports, its members and its risk register."""

# The module docstring is the OpenAPI tag's description. Who may do what: access.py.

from __future__ import annotations

from apifairy import other_responses, response
from flask import Blueprint, url_for
from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.orm import contains_eager

from service import audit
from service.api import (
    LIKE_ESCAPE,
    Paged,
    count_under_lock,
    get_or_404,
    json_body,
    like_escaped,
    not_found,
    paginated_response,
)
from service.auth.accounts import user_by_email
from service.auth.credentials import normalize_email
from service.auth.scopes import authorized
from service.config import current_settings
from service.db import Invitation, Project, ProjectMember, User
from service.errors import APIError
from service.extensions import db, token_auth
from service.projects import invitations
from service.projects.access import project_for, role_in
from service.projects.membership import keep_an_owner, lose_default_project, unassign
from service.projects.schemas import (
    InvitationCreatedSchema,
    InvitationCreateSchema,
    InvitationPageSchema,
    MemberCreateSchema,
    MemberListArgs,
    MemberPageSchema,
    MemberSchema,
    MemberUpdateSchema,
    ProjectCreateSchema,
    ProjectListArgs,
    ProjectPageSchema,
    ProjectSchema,
    ProjectUpdateSchema,
)
from service.rate_limits import account_lookup_missed, account_lookups_per_address

projects = Blueprint("projects", __name__)

NOT_MEMBER = "No such project (or you are not a member)"


def _with_role(project: Project, role: str | None) -> dict:
    return {"id": project.id, "name": project.name, "description": project.description,
            "role": role, "created_at": project.created_at, "updated_at": project.updated_at}


@projects.route("", methods=["POST"])
@authorized("projects:write")
@json_body(ProjectCreateSchema)
@response(ProjectSchema, 201)
@other_responses({401: "No or bad token", 409: "You own MAX_PROJECTS_PER_USER projects",
                  422: "No name, or nothing visible in it"})
def new(args):
    """Create a project; you are its owner"""
    caller = token_auth.current_user()
    limit = current_settings().MAX_PROJECTS_PER_USER
    owned = count_under_lock(User, caller.id, select(func.count()).select_from(ProjectMember)
                             .where(ProjectMember.user_id == caller.id,
                                    ProjectMember.role == "owner"))
    if owned >= limit:
        raise APIError(409, f"You own {owned} projects, the most one person may "
                            "(MAX_PROJECTS_PER_USER); delete one or hand one over first.")
    project = Project(name=args["name"].strip(), description=args["description"],
                      created_by=caller.id)
    project.members.append(ProjectMember(user_id=caller.id, role="owner"))
    db.session.add(project)
    db.session.flush()
    audit.record("project_created", actor_id=caller.id, target_id=project.id)
    db.session.commit()
    return _with_role(project, "owner")


def _projects_json(members: list[ProjectMember]) -> list[dict]:
    return [_with_role(member.project, member.role) for member in members]


@projects.route("", methods=["GET"])
@authorized("projects:read")
@paginated_response(ProjectPageSchema, ProjectListArgs, items=_projects_json)
@other_responses({401: "No or bad token", 403: "`every` from a non-admin",
                  422: "Bad filter or page"})
def all(args):
    """The projects you are a member of, newest first; `every=true` (admins): every
    project, `role` null where you are not a member (an admin reads any project)"""
    caller = token_auth.current_user()
    named = ([Project.name.contains(like_escaped(args["q"]), escape=LIKE_ESCAPE)]
             if "q" in args else [])
    if args.get("every"):
        if not caller.is_admin:
            raise APIError(403, "Only admins list every project; yours: leave `every` out.")
        mine = and_(ProjectMember.project_id == Project.id, ProjectMember.user_id == caller.id)
        return Paged(select(Project, ProjectMember.role).outerjoin(ProjectMember, mine)
                     .where(*named).order_by(Project.created_at.desc(), Project.id)
                     .limit(bindparam("limit")).offset(bindparam("offset")),
                     count=select(func.count()).select_from(Project).where(*named),
                     items=lambda rows: [_with_role(project, role) for project, role in rows],
                     loads_objects=True)
    where = [ProjectMember.user_id == caller.id, *named]
    return (select(ProjectMember).join(ProjectMember.project)
            .options(contains_eager(ProjectMember.project)).where(*where)
            .order_by(Project.created_at.desc(), Project.id))


@projects.route("/<project_id>", methods=["GET"])
@authorized("projects:read")
@response(ProjectSchema)
@other_responses({401: "No or bad token", 404: NOT_MEMBER})
def get(project_id):
    """A project (admins may read any)"""
    caller = token_auth.current_user()
    project = project_for(caller, project_id)
    return _with_role(project, role_in(project.id, caller.id))


@projects.route("/<project_id>", methods=["PATCH"])
@authorized("projects:write")
@json_body(ProjectUpdateSchema)
@response(ProjectSchema)
@other_responses({401: "No or bad token", 403: "Viewers may not change it",
                  404: NOT_MEMBER,
                  422: "Bad name (nothing visible in it) or description"})
def update(args, project_id):
    """Rename a project or change its description (editor or owner)"""
    caller = token_auth.current_user()
    project = project_for(caller, project_id, "editor")
    if "name" in args:
        project.name = args["name"].strip()
    if "description" in args:
        project.description = args["description"]
    audit.record("project_updated", actor_id=caller.id, target_id=project.id,
                 fields=sorted(args))
    db.session.commit()
    return _with_role(project, role_in(project.id, caller.id))


@projects.route("/<project_id>", methods=["DELETE"])
@authorized("projects:write")
@other_responses({204: "Deleted with its register; its scans stay with the people who made "
                       "them", 401: "No or bad token", 403: "Owners only", 404: NOT_MEMBER})
def delete(project_id):
    """Delete a project and its register (owner); its scans leave the project"""
    caller = token_auth.current_user()
    project = project_for(caller, project_id, "owner")
    audit.record("project_deleted", actor_id=caller.id, target_id=project.id,
                 name=project.name)
    db.session.delete(project)
    db.session.commit()
    return "", 204


# Members


def _member_json(member: ProjectMember) -> dict:
    return {"user_id": member.user_id, "email": member.user.email, "role": member.role,
            "added_at": member.added_at}


def _member_or_404(project: Project, user_id: str) -> ProjectMember:
    user = get_or_404(User, user_id, "member")
    member = db.session.get(ProjectMember, (project.id, user.id))
    if member is None:
        raise not_found("member")
    return member


@projects.route("/<project_id>/members", methods=["GET"])
@authorized("projects:read")
@paginated_response(MemberPageSchema, MemberListArgs,
                    items=lambda members: [_member_json(member) for member in members])
@other_responses({401: "No or bad token", 404: NOT_MEMBER})
def members(args, project_id):
    """A project's members, owners first"""
    project = project_for(token_auth.current_user(), project_id)
    statement = (select(ProjectMember).join(User, User.id == ProjectMember.user_id)
                 .where(ProjectMember.project_id == project.id))
    if "q" in args:
        statement = statement.where(User.email.contains(like_escaped(args["q"].lower()),
                                                        escape=LIKE_ESCAPE))
    return statement.order_by(ProjectMember.role != "owner", ProjectMember.role != "editor",
                              User.email)


@projects.route("/<project_id>/members", methods=["POST"])
@authorized("projects:write")
@account_lookups_per_address
@json_body(MemberCreateSchema)
@response(MemberSchema, 201)
@other_responses({401: "No or bad token", 403: "Owners only",
                  404: NOT_MEMBER + "; or no active user with this email",
                  409: "Already a member; or MAX_PROJECT_MEMBERS (members and pending "
                       "invitations) reached",
                  422: "A malformed email; a bad role",
                  429: "Too many emails without an account (registration's budget)"})
def add_member(args, project_id):
    """Add a user to a project with a role (owner)"""
    caller = token_auth.current_user()
    project = project_for(caller, project_id, "owner")
    user = user_by_email(args["email"])
    if user is None or not user.active:
        account_lookup_missed()
        raise APIError(404, "There is no active user with this email.",
                       errors={"email": ["No active user with this email."]})
    limit = current_settings().MAX_PROJECT_MEMBERS
    # Adds to one project in turn, from here to the commit: the count cannot be raced.
    count = invitations.seats_taken(project.id)
    if db.session.get(ProjectMember, (project.id, user.id),
                      with_for_update=True) is not None:
        raise APIError(409, "This user is already a member; change their role instead.")
    if count >= limit:
        raise APIError(409, f"This project's members and pending invitations number "
                            f"{count}, the most it may have (MAX_PROJECT_MEMBERS).")
    member = ProjectMember(project_id=project.id, user_id=user.id, role=args["role"])
    db.session.add(member)
    audit.record("member_added", actor_id=caller.id, target_id=user.id,
                 project_id=project.id, role=args["role"])
    db.session.commit()
    return _member_json(member)


@projects.route("/<project_id>/members/<user_id>", methods=["PATCH"])
@authorized("projects:write")
@json_body(MemberUpdateSchema)
@response(MemberSchema)
@other_responses({401: "No or bad token", 403: "Owners only",
                  404: "No such project or member", 409: "The last owner cannot be demoted"})
def update_member(args, project_id, user_id):
    """Change a member's role (owner)"""
    caller = token_auth.current_user()
    project = project_for(caller, project_id, "owner")
    member = _member_or_404(project, user_id)
    if member.role == "owner" and args["role"] != "owner":
        keep_an_owner(project.id, member.user_id)
    was, member.role = member.role, args["role"]
    if member.role == "viewer":
        lose_default_project(project.id, member.user_id)
    audit.record("member_updated", actor_id=caller.id, target_id=member.user_id,
                 project_id=project.id, role=member.role, was=was)
    db.session.commit()
    return _member_json(member)


@projects.route("/<project_id>/members/<user_id>", methods=["DELETE"])
@authorized("projects:write")
@other_responses({204: "Removed", 401: "No or bad token",
                  403: "Owners only (anyone may leave)", 404: "No such project or member",
                  409: "The last owner cannot leave"})
def remove_member(project_id, user_id):
    """Remove a member (owner), or leave a project yourself"""
    caller = token_auth.current_user()
    need = "viewer" if user_id == caller.id else "owner"
    project = project_for(caller, project_id, need)
    if caller.is_admin and role_in(project.id, caller.id) is None:
        raise not_found("project")  # an admin reads projects; membership is the members'
    member = _member_or_404(project, user_id)
    if member.role == "owner":
        keep_an_owner(project.id, member.user_id)
    audit.record("member_removed", actor_id=caller.id, target_id=member.user_id,
                 project_id=project.id, role=member.role)
    unassign(project.id, member.user_id)
    lose_default_project(project.id, member.user_id)
    db.session.delete(member)
    db.session.commit()
    return "", 204


# Invitations: people without an account yet (service/projects/invitations.py).
# A route of their own rather than an answer of POST …/members: that one adds accounts and
# says when there is none (a mistyped email stays a 404, never an invitation nobody asked
# for); an invitation has a shape, a token and a life of its own.

HAS_ACCOUNT = ("This email already has an account: add it as a member instead (an admin "
               "must first reactivate a deactivated one).")


def _invitation_json(invitation: Invitation, inviter: str | None) -> dict:
    return {"id": invitation.id, "email": invitation.email, "role": invitation.role,
            "invited_by": invitation.invited_by, "invited_by_email": inviter,
            "created_at": invitation.created_at, "expires_at": invitation.expires_at}


def _invitations_json(page: list[Invitation]) -> list[dict]:
    """A page of invitations, their inviters' emails read in one query."""
    emails = invitations.inviters(page)
    return [_invitation_json(invitation, emails.get(invitation.invited_by))
            for invitation in page]


@projects.route("/<project_id>/invitations", methods=["POST"])
@authorized("projects:write")
@account_lookups_per_address
@json_body(InvitationCreateSchema)
@response(InvitationCreatedSchema, 201)
@other_responses({401: "No or bad token", 403: "Owners only", 404: NOT_MEMBER,
                  409: "The email has an account (add it as a member); it is invited "
                       "already; or MAX_PROJECT_MEMBERS (members and pending invitations) "
                       "reached",
                  422: "A malformed email; a bad role",
                  429: "Too many emails without an account (registration's budget)"})
def invite(args, project_id):
    """Invite an email without an account (owner): the answer's token, shown once, is what
    the person signs up with; they join with the role then, or at their first single
    sign-on with that email"""
    caller = token_auth.current_user()
    project = project_for(caller, project_id, "owner")
    email = normalize_email(args["email"])
    if user_by_email(email) is not None:
        raise APIError(409, HAS_ACCOUNT, errors={"email": ["Has an account."]})
    account_lookup_missed()  # the answer tells that no account has this email
    invitation, token = invitations.invite(project, email, args["role"], caller)
    emailed = invitations.mail_link(invitation, _link(token), project, caller.email)
    db.session.commit()
    return {**_invitation_json(invitation, caller.email), "token": token, "emailed": emailed}


@projects.route("/<project_id>/invitations/<invitation_id>/resend", methods=["POST"])
@authorized("projects:write")
@response(InvitationCreatedSchema)
@other_responses({401: "No or bad token", 403: "Owners only",
                  404: "No such project, or no such pending invitation in it"})
def resend_invitation(project_id, invitation_id):
    """Send a pending invitation again (owner): a new link (the old one claims nothing any
    more), valid INVITATION_TTL_DAYS again, emailed where the deployment sends mail"""
    caller = token_auth.current_user()
    project = project_for(caller, project_id, "owner")
    invitation, token = invitations.resend(project, invitation_id, caller)
    emailed = invitations.mail_link(invitation, _link(token), project, caller.email)
    db.session.commit()
    inviter = invitations.inviters([invitation]).get(invitation.invited_by)
    return {**_invitation_json(invitation, inviter), "token": token, "emailed": emailed}


def _link(token: str) -> str:
    """The console's sign-up link of an invitation's token, as this request reached us."""
    return url_for("console.sign_up_page", invitation=token, _external=True)


@projects.route("/<project_id>/invitations", methods=["GET"])
@authorized("projects:read")
@paginated_response(InvitationPageSchema, items=_invitations_json)
@other_responses({401: "No or bad token", 403: "Viewers may not read them",
                  404: NOT_MEMBER, 422: "Bad page"})
def pending_invitations(args, project_id):
    """A project's pending invitations, the soonest to expire first (editors and owners);
    never their tokens"""
    project = project_for(token_auth.current_user(), project_id, "editor")
    invitations.expire_due()
    db.session.commit()
    return invitations.pending(project.id)


@projects.route("/<project_id>/invitations/<invitation_id>", methods=["DELETE"])
@authorized("projects:write")
@other_responses({204: "Revoked: its link claims nothing any more", 401: "No or bad token",
                  403: "Owners only",
                  404: "No such project, or no such pending invitation in it"})
def revoke_invitation(project_id, invitation_id):
    """Revoke a pending invitation (owner)"""
    caller = token_auth.current_user()
    project = project_for(caller, project_id, "owner")
    invitations.revoke(project, invitation_id, caller)
    db.session.commit()
    return "", 204
