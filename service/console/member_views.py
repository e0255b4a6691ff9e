"""A project's Members page: its members and their roles, its pending invitations, "Add
member or invite", the project's name and its deletion.

Through the projects API as the signed-in user (service/projects/routes.py), like every
page. Each form's result is said beside that form, never at the top of a long page: the
members table's changes beside the table, the invitations' beside theirs, an addition or
an invitation beside the form, which a refusal shows again with what was typed. One form
adds and invites: the owner types an email and a role; the API adds the account that has
it, and when none does, the console invites the email instead. A new invitation's link is
shown once, beside the form, kept on the server until that page (session.keep_once), as a
new API key is.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from service.console.blueprint import console
from service.console.client import Answer
from service.console.pages import (
    AT,
    check_id,
    data_or_fail,
    failed,
    flash_at,
    form_refusal,
    words,
)
from service.console.project_views import ROLES, _members
from service.console.session import api, current_user, keep_once, signed_in, take_once

RENAME = "project-name"  # the rename field's id: its result is said beside it (flash_at)
ADD = "add-member"  # the add-or-invite form's section
TABLE = "members"  # the members table: a role changed, a member removed
INVITED = "invitations"  # the pending invitations: one revoked
NEW_INVITATION = "new_invitation"  # keep_once's name for a new invitation's link
FORM_ANSWERS = (400, 409, 413, 422, 429)  # refusals the form shows, with what was typed


@console.get("/projects/<project_id>/members")
@signed_in
def project_members(project_id: str):
    """The members; for editors and owners the pending invitations; for owners, their
    roles, removal, "Add member or invite", the project's name and its deletion (the API
    refuses those to everyone else anyway)."""
    check_id(project_id, "project")
    pending, created = take_once(NEW_INVITATION)
    if pending and created is None:
        flash_at("The new invitation's link could not be shown (it waits ten minutes for "
                 "this page): revoke the invitation and make another.", ADD)
    page, status = _members_page(project_id, created=created)
    return page, status, {"Cache-Control": "no-store"}


def _members_page(project_id: str, *, name=None, error=None, errors=None, form=None,
                  added=None, created=None, status=200):
    """The members page; ``name``, ``error`` and ``errors``: the rename form again as
    typed, with the API's words beside the field; ``form``, ``added``: the add-or-invite
    form again as typed, with the API's words (``added``: the error and the fields') beside
    it; ``created``: a new invitation, its link shown once."""
    details = data_or_fail(api("GET", f"/projects/{project_id}"))
    invitations = None
    if details["role"] in ("owner", "editor"):  # viewers may not read them: the API's 403
        invitations = data_or_fail(api("GET", f"/projects/{project_id}/invitations",
                                       query={"per_page": 100}))["items"]
    added_error, added_errors = added or (None, {})
    return render_template(
        "console/members.html", project=details, members=_members(project_id), roles=ROLES,
        me=current_user(), name=details["name"] if name is None else name, error=error,
        errors=errors or {}, invitations=invitations, created=created,
        form=form or {"email": "", "role": "editor"}, added_error=added_error,
        added_errors=added_errors,
        placed={AT + anchor for anchor in (ADD, TABLE, INVITED, RENAME)}), status


@console.post("/projects/<project_id>/rename")
@signed_in
def project_rename(project_id: str):
    """The project's new name (the API's PATCH, which audits it): the result said beside
    the field, a refusal there in the API's words with the name as typed."""
    check_id(project_id, "project")
    name = request.form.get("name", "")
    answer = api("PATCH", f"/projects/{project_id}", json={"name": name})
    if answer.status in (400, 413, 422):
        error, errors = form_refusal(answer, "name")  # the name's words beside it alone
        return _members_page(project_id, name=name, error=None if errors else error,
                             errors=errors, status=answer.status)
    if not answer.ok:
        return failed(answer)
    flash_at(f"Renamed: the project is “{answer.json['name']}” now.", RENAME)
    return _back(project_id, RENAME)


@console.post("/projects/<project_id>/members")
@signed_in
def project_member_add(project_id: str):
    """"Add member or invite": the account with this email joins (the API's POST
    …/members); when no active account has it, the email is invited (POST
    …/invitations) and the link to hand over is shown once. A refusal is said beside the
    form, the email and role as typed."""
    check_id(project_id, "project")
    form = {"email": request.form.get("email", "").strip(),
            "role": request.form.get("role", "")}
    answer = api("POST", f"/projects/{project_id}/members", json=form)
    if answer.ok:
        flash_at(f"{answer.json['email']} added as {answer.json['role']}.", ADD)
        return _back(project_id, ADD)
    if answer.status == 404 and "email" in answer.errors:  # no active account has it
        answer = api("POST", f"/projects/{project_id}/invitations", json=form)
        if answer.ok:
            keep_once(NEW_INVITATION, {
                "email": answer.json["email"], "role": answer.json["role"],
                "expires_at": answer.json["expires_at"], "emailed": answer.json["emailed"],
                "link": url_for("console.sign_up_page", invitation=answer.json["token"],
                                _external=True)})
            return _back(project_id, ADD)
    if _refused_outright(answer):
        return failed(answer)
    return _members_page(project_id, form=form, added=form_refusal(answer, "email", "role"),
                         status=answer.status)


@console.post("/projects/<project_id>/members/<user_id>")
@signed_in
def project_member_role(project_id: str, user_id: str):
    check_id(project_id, "project")
    check_id(user_id, "member")
    answer = api("PATCH", f"/projects/{project_id}/members/{user_id}",
                 json={"role": request.form.get("role", "")})
    if _refused_outright(answer):
        return failed(answer)
    flash_at(f"{answer.json['email']} is now {answer.json['role']}." if answer.ok
             else words(answer), TABLE)
    return _back(project_id, TABLE)


@console.post("/projects/<project_id>/members/<user_id>/remove")
@signed_in
def project_member_remove(project_id: str, user_id: str):
    check_id(project_id, "project")
    check_id(user_id, "member")
    answer = api("DELETE", f"/projects/{project_id}/members/{user_id}")
    if _refused_outright(answer):
        return failed(answer)
    if answer.ok and user_id == current_user()["id"]:  # one who leaves sees it no more
        flash("You left the project.")
        return redirect(url_for("console.projects"))
    flash_at("Member removed." if answer.ok else words(answer), TABLE)
    return _back(project_id, TABLE)


@console.post("/projects/<project_id>/invitations/<invitation_id>/revoke")
@signed_in
def project_invitation_revoke(project_id: str, invitation_id: str):
    """An owner revokes a pending invitation: its link claims nothing any more. One
    already gone (claimed, expired, revoked in another tab) is said beside the list."""
    check_id(project_id, "project")
    check_id(invitation_id, "invitation")
    data_or_fail(api("GET", f"/projects/{project_id}"))  # a project's 404 is the error page
    answer = api("DELETE", f"/projects/{project_id}/invitations/{invitation_id}")
    if not answer.ok and answer.status != 404:
        return failed(answer)
    email = request.form.get("email", "").strip()[:254] or "the email"
    flash_at(f"Invitation of {email} revoked: its link no longer works." if answer.ok
             else f"The invitation of {email} was no longer pending: it was claimed, "
                  "revoked or expired.", INVITED)
    return _back(project_id, INVITED)


@console.post("/projects/<project_id>/delete")
@signed_in
def project_delete(project_id: str):
    check_id(project_id, "project")
    answer = api("DELETE", f"/projects/{project_id}")
    if not answer.ok:
        return failed(answer)
    flash("Project deleted.")
    return redirect(url_for("console.projects"))


def _back(project_id: str, anchor: str):
    """To the Members page at the part that says what happened (PRG)."""
    return redirect(url_for("console.project_members", project_id=project_id,
                            _anchor=anchor), code=303)


def _refused_outright(answer: Answer) -> bool:
    """A refusal of the project itself (403, or a 404 that is not about the email typed):
    the error page. Others (409 last owner, 422, no such user, 429) are said on the page."""
    return not answer.ok and (answer.status not in (404, *FORM_ANSWERS)
                              or answer.status == 404 and "email" not in answer.errors)
