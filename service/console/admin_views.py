"""Review (the model's doubtful and corrected findings) and administration.

Like every page, these only call the API: the review queue is ``GET /findings`` (the
caller's findings and those of the projects they edit or own; ``project_id``: one
project's, read only for its viewers), a correction goes through the result page's route
(``console.correct``), and the admin pages are the API's admin routes, so a non-admin gets
the API's 403 as the console's error page, never a page of other people's data."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from service.analysis.labels import LABELS, RISK_LABELS
from service.console.blueprint import console
from service.console.pages import (
    AT,
    check_id,
    data_or_fail,
    download,
    failed,
    form_refusal,
    safe_target,
    words,
)
from service.console.session import api, current_user, keep_once, signed_in, take_once

REVIEW_FILTERS = ("max_score", "corrected", "category", "source", "project_id", "sort")
#: The API's orders (GET /findings ``sort``): the caption's words, and the pager's.
REVIEW_ORDERS = {
    "nearest": ("nearest the operating point first", "Closer to the operating point",
                "Further from the operating point"),
    "newest": ("newest scan first", "Newer scans", "Older scans"),
}
USER_FILTERS = ("email", "role")
LLM_CALL_FILTERS = ("status", "scan_id")
# For the forms' choices only: the API validates what is sent (service/db/user_tables.py ROLES,
# the LLM client's outcomes), and the console may not import either.
ROLES = ("user", "reviewer", "admin")
LLM_STATUSES = ("ok", "timeout", "connection_error", "http_error", "invalid_output",
                "redirect", "too_large")
MAIL_STATUSES = ("pending", "sent", "failed")
PER_PAGE = 20
ONE_TIME_PASSWORD = "one_time_password"  # keep_once's name: a new user's or a reset's


def _args(names: tuple[str, ...]) -> dict[str, str]:
    """The filters of the query string that hold something, as typed (the API judges them)."""
    return {name: value for name in names if (value := request.args.get(name, "").strip())}


def _back() -> str:
    """Where a form returns to: the users' page it was sent from (its filters and page)."""
    return safe_target(request.form.get("back"), url_for("console.admin_users"))


# --------------------------------------------------------------------------------- review


@console.get("/review")
@signed_in
def review():
    # Not answered at first (an empty choice: all), in the API's order, nearest the
    # operating point first: the findings whose answer teaches the model most lead.
    given = {name: request.args.get(name, "").strip() for name in REVIEW_FILTERS
             if name in request.args}
    given.setdefault("corrected", "false")
    query = {name: value for name, value in given.items() if value}
    answer = api("GET", "/findings", query={**query, "page": request.args.get("page", "1"),
                                            "per_page": PER_PAGE})
    projects = _member_projects()
    order = REVIEW_ORDERS.get(given.get("sort") or "nearest", REVIEW_ORDERS["nearest"])
    if answer.status in (404, 422):  # a filter the API refuses: say which, keep the form
        error, errors = (("No such project, or you are not a member of it.", {})
                         if answer.status == 404 else form_refusal(answer, "max_score"))
        return render_template("console/review.html", findings=None, filters=given,
                               error=error, errors=errors, labels=LABELS,
                               projects=projects, order=order), answer.status
    listing = data_or_fail(answer)
    for finding in listing["items"]:
        finding["shown_category"] = finding["corrected_category"] or finding["category"]
    return render_template("console/review.html", findings=listing, filters=given,
                           labels=LABELS, keys=review_keys(), projects=projects,
                           order=order, placed={f"{AT}review-{finding['id']}"  # an answer
                                                for finding in listing["items"]})


def review_keys() -> list[tuple[str, str]]:
    """The answers' keys, as Label Studio and Prodigy offer them: a digit per risk label in
    the taxonomy's order (1 to 9, then 0), ``n`` not a risk; ``c`` (confirm) is the page's."""
    digits = [str((index + 1) % 10) for index in range(len(RISK_LABELS))]
    return [*zip(digits, RISK_LABELS, strict=True), ("n", "none")]


def _member_projects() -> list[dict]:
    """The caller's projects (first 100), for the project filter."""
    answer = api("GET", "/projects", query={"per_page": 100})
    return answer.json["items"] if answer.ok else []


@console.get("/review/feedback.jsonl")
@signed_in
def review_feedback():
    """Your corrections as the API's JSONL download (its type and attachment name)."""
    answer = api("GET", "/findings/feedback")
    return download(answer)


# ---------------------------------------------------------------------------------- admin


@console.get("/admin/users")
@signed_in
def admin_users():
    # A 422 reaches only an admin: the API checks the role before the filters.
    pending, once = take_once(ONE_TIME_PASSWORD)
    if pending and once is None:
        flash("The one-time password could not be shown (it waits ten minutes for this "
              "page): reset the password again.")
    page = _admin_list("console/admin_users.html", "/users", "users", USER_FILTERS,
                       roles=ROLES, me=current_user(), once=once, new_user={})
    body, status = page if isinstance(page, tuple) else (page, 200)
    return body, status, {"Cache-Control": "no-store"}  # a one-time password is no cache's


@console.post("/admin/users/new")
@signed_in
def admin_create_user():
    """The API's POST without a password: it answers a one-time password, which waits on
    the server for the next page (keep_once), shown there once."""
    form = {"email": request.form.get("email", "").strip(),
            "role": request.form.get("role", "user")}
    answer = api("POST", "/users", json=form)
    if answer.ok:
        keep_once(ONE_TIME_PASSWORD, {"email": answer.json["email"], "new": True,
                                      "password": answer.json["one_time_password"]})
        return redirect(url_for("console.admin_users"))
    if answer.status in (409, 422):
        error, errors = form_refusal(answer, "email", "role")
        users = data_or_fail(api("GET", "/users", query={"per_page": PER_PAGE}))
        return render_template("console/admin_users.html", users=users, filters={},
                               roles=ROLES, me=current_user(), once=None, new_user=form,
                               new_error=error, new_errors=errors), answer.status
    return failed(answer)


@console.post("/admin/users/<user_id>/reset-password")
@signed_in
def admin_reset_password(user_id: str):
    """A forgotten password: the API's one-time password, shown once on the users' page.
    The user is read first: nothing may fail between the reset and keeping its password."""
    user = data_or_fail(api("GET", f"/users/{check_id(user_id, 'user')}"))
    answer = data_or_fail(api("POST", f"/users/{user_id}/one-time-password"))
    keep_once(ONE_TIME_PASSWORD, {"email": user["email"], "new": False,
                                  "password": answer["one_time_password"]})
    return redirect(_back())


@console.post("/admin/users/<user_id>")
@signed_in
def admin_update_user(user_id: str):
    """Role and active from the row's form; only what changed is sent, so the audit log
    records what the admin did, not the whole row again."""
    user = data_or_fail(api("GET", f"/users/{check_id(user_id, 'user')}"))
    changes: dict = {}
    role = request.form.get("role", "")
    if role != user["role"]:
        changes["role"] = role
    active = "active" in request.form  # an unticked checkbox sends nothing
    if active != user["active"]:
        changes["active"] = active
    back = _back()
    if not changes:
        flash(f"Nothing to change for {user['email']}.")
        return redirect(back)
    data_or_fail(api("PATCH", f"/users/{check_id(user_id, 'user')}", json=changes))
    said = []
    if "role" in changes:
        said.append(f"role {role}")
    if "active" in changes:
        said.append("active" if active else "deactivated: their sessions have ended")
    flash(f"Saved {user['email']}: {', '.join(said)}.")
    return redirect(back)


@console.post("/admin/users/<user_id>/delete")
@signed_in
def admin_delete_user(user_id: str):
    data_or_fail(api("DELETE", f"/users/{check_id(user_id, 'user')}"))
    flash("User deleted, with their scans and files.")
    return redirect(_back())


@console.get("/admin/llm-calls")
@signed_in
def admin_llm_calls():
    return _admin_list("console/admin_llm_calls.html", "/admin/llm-calls", "calls",
                       LLM_CALL_FILTERS, statuses=LLM_STATUSES)


@console.get("/admin/mail")
@signed_in
def admin_mail():
    """The mail outbox as the API lists it: who was written to, what, how its attempts went."""
    return _admin_list("console/admin_mail.html", "/admin/mail", "messages", ("status",),
                       statuses=MAIL_STATUSES)


def _admin_list(template: str, path: str, name: str, filter_names, **context):
    """An admin list: the API's page of ``path`` for the filters in the query string,
    rendered as ``name``; a filter the API refuses (422) shows the form again with why."""
    filters = _args(filter_names)
    answer = api("GET", path, query={**filters, "page": request.args.get("page", "1"),
                                     "per_page": PER_PAGE})
    if answer.status == 422:
        return render_template(template, **{name: None}, filters=filters,
                               error=words(answer), **context), 422
    return render_template(template, **{name: data_or_fail(answer)}, filters=filters,
                           **context)
