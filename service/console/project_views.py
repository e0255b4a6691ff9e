"""Projects and the risk register: their console pages (a project's Members page:
member_views.py).

Each page reads and each form writes through the projects API (service/projects/routes.py
and risk_routes.py) as the signed-in user, so who may do what is the API's answer, in its words:
a viewer's change is the API's 403 on the error page, another user's project its 404.
Forms post, then redirect (PRG) with a flash; a refusal the user can fix (a name too long,
the last owner) comes back in the API's words.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from service.analysis.labels import RISK_LABELS
from service.console import history, merge_views
from service.console.blueprint import console
from service.console.date_views import by_report
from service.console.pages import (
    AT,
    check_id,
    data_or_fail,
    download,
    failed,
    flash_at,
    form_refusal,
    safe_target,
    words,
)
from service.console.session import api, current_user, signed_in
from service.console.trend import trend_chart
from service.entry_fields import EDITED

# The API's values (service/db/project_tables.py: RISK_STATUSES, PROJECT_ROLES), which the console may
# not import (.importlinter: the console is a client); tests/test_console_projects.py checks
# that they agree.
STATUSES = ("open", "mitigating", "accepted", "closed")
ACTIVE = "active"  # a status filter: every status but closed (the heat map's default)
ROLES = ("owner", "editor", "viewer")
EDIT = "edit"  # the entry page's form: its result is said beside it

PER_PAGE = 20
DEFAULT_SORT = "-last_seen"  # the API's
# A matrix cell's link filters by likelihood and impact (its unrated count: rated=false).
RATING_FILTERS = ("likelihood", "impact", "min_score", "rated")
REGISTER_FILTERS = ("status", "category", "q", "withdrawn", *RATING_FILTERS)
EXPORT_FILTERS = ("status", "category", *RATING_FILTERS)  # what the export accepts
# The register's columns, and the API's sort key of those it can sort by.
COLUMNS = (("Risk", None), ("Category", "category"), ("Status", "status"), ("Rating", "score"),
           ("Owner", None), ("Due date", "due_date"), ("Last seen", "last_seen"),
           ("Seen", "occurrences"))
RISK_FIELDS = EDITED  # what its page's form sets (service/entry_fields.py)


# --- the list, and a new project -----------------------------------------------------------

@console.get("/projects")
@signed_in
def projects():
    """The caller's projects with their role, and the form for a new one."""
    return _projects_page()


@console.post("/projects")
@signed_in
def project_create():
    """A new project (the API's POST /projects); its words on the form when refused."""
    name = request.form.get("name", "")
    description = request.form.get("description", "")
    answer = api("POST", "/projects", json={"name": name,
                                            "description": description or None})
    if answer.ok:
        flash("Project created.")
        return redirect(url_for("console.project", project_id=answer.json["id"]))
    if answer.status in (400, 409, 413, 422):
        error, errors = form_refusal(answer, "name", "description")
        return _projects_page(form={"name": name, "description": description},
                              error=error, errors=errors, status=answer.status)
    return failed(answer)


def _projects_page(*, form=None, error=None, errors=None, status=200):
    page = request.args.get("page", "1")
    every = current_user()["role"] == "admin"  # an admin reads every project (the API's rule)
    listing = data_or_fail(api("GET", "/projects", query={
        "page": page, "per_page": PER_PAGE, **({"every": "true"} if every else {})}))
    return render_template("console/projects.html", projects=listing, every=every,
                           form=form or {"name": "", "description": ""}, error=error,
                           errors=errors or {}), status


# --- the register --------------------------------------------------------------------------

@console.get("/projects/<project_id>")
@signed_in
def project(project_id: str):
    """The register: a page of entries with their filters and order, the heat map (each
    cell a link to the register filtered to it), the trend chart, the exports; for editors
    and owners each row one form (status, rating, owner, due date), the bulk edit and "Add
    risk" (register_views.py); viewers read it."""
    check_id(project_id, "project")
    details = data_or_fail(api("GET", f"/projects/{project_id}"))
    filters = {name: value for name in REGISTER_FILTERS
               if (value := request.args.get(name, "").strip())}
    sort = request.args.get("sort", "").strip() or DEFAULT_SORT
    answer = api("GET", f"/projects/{project_id}/risks", query={
        **filters, "sort": sort, "page": request.args.get("page", "1"), "per_page": PER_PAGE})
    risks, error, errors, status = None, None, {}, 200
    if answer.status == 422:  # a filter, order or page the API refuses: say which
        error, errors, status = words(answer), answer.errors, 422
    else:
        risks = data_or_fail(answer)
    members = _members(project_id)
    trend = data_or_fail(api("GET", f"/projects/{project_id}/trend"))
    heat = request.args.get("heat", ACTIVE)
    heat = heat if heat in (ACTIVE, *STATUSES) else ACTIVE
    matrix = data_or_fail(api("GET", f"/projects/{project_id}/matrix",
                              query={"status": heat}))
    keep = {**filters, **({"sort": sort} if sort != DEFAULT_SORT else {})}
    return render_template(
        "console/project.html", project=details, risks=risks, filters=filters, sort=sort,
        keep=keep, columns=_columns(sort, filters), members=members,
        emails={m["user_id"]: m["email"] for m in members}, statuses=STATUSES,
        filter_statuses=(ACTIVE, *STATUSES), heat=heat, categories=RISK_LABELS, error=error,
        errors=errors,
        chart=trend_chart(trend, details["name"]), matrix=_matrix(matrix),
        scale=matrix["scale"],
        rating_filters={k: v for k, v in filters.items() if k in RATING_FILTERS},
        all_ratings=url_for("console.project", project_id=project_id, **{
            k: v for k, v in filters.items() if k not in RATING_FILTERS}, _anchor="register"),
        export_filters={k: v for k, v in filters.items() if k in EXPORT_FILTERS},
        placed=_placed(risks), here=_here(), me=current_user()["id"],
        dismissals=data_or_fail(api("GET", f"/projects/{project_id}/dismissals",
                                    query={"per_page": 100})),
        withdrawn=data_or_fail(api("GET", f"/projects/{project_id}/risks", query={
            "withdrawn": "true", "per_page": 1}))["total"]), status


def _placed(risks: dict | None) -> set[str]:
    """The flashes this page says beside their control (pages.AT): each row's form, the
    bulk form's, the "Add risk" form's and a lifted dismissal's; any other flash is said at
    the top."""
    anchors = {"register", "add-risk", "dismissals"} | {f"risk-{risk['id']}" for risk in
                                          (risks or {}).get("items", ())}
    return {AT + anchor for anchor in anchors}


def _matrix(matrix: dict) -> dict:
    """The API's heat map as the table draws it: rows of cells, the likeliest row first,
    each cell with the words of its levels (the deployment's labels)."""
    likelihood = {level["value"]: level["label"] for level in matrix["scale"]["likelihood"]}
    impact = {level["value"]: level["label"] for level in matrix["scale"]["impact"]}
    rows = {}
    for cell in matrix["cells"]:
        rows.setdefault(cell["likelihood"], []).append(
            {**cell, "likelihood_label": likelihood[cell["likelihood"]],
             "impact_label": impact[cell["impact"]]})
    counted = matrix["statuses"]
    return {"impact": matrix["scale"]["impact"], "bands": matrix["scale"]["bands"],
            "status": matrix["status"],
            "counted": (", ".join(counted[:-1]) + " or " + counted[-1] if len(counted) > 1
                        else counted[0]),
            "rows": [{"likelihood": level, "label": likelihood[level], "cells": cells}
                     for level, cells in rows.items()],
            "unrated": matrix["unrated"]}


def _columns(sort: str, filters: dict) -> list[dict]:
    """The register's headers: for a sortable one, its link (the other direction when it is
    the current order, else ascending) and its aria-sort."""
    columns = []
    for label, key in COLUMNS:
        column = {"label": label, "key": key, "aria_sort": None, "href": None}
        if key is not None:
            current = ("ascending" if sort == key else "descending" if sort == f"-{key}"
                       else None)
            column["aria_sort"] = current
            column["href"] = url_for("console.project", project_id=request.view_args[
                "project_id"], **filters, sort=f"-{key}" if current == "ascending" else key)
        columns.append(column)
    return columns


@console.get("/projects/<project_id>/export")
@signed_in
def project_export(project_id: str):
    """The register as CSV or XLSX: the API's bytes, type and attachment name, as they are."""
    check_id(project_id, "project")
    query = {name: value for name in ("format", *EXPORT_FILTERS)
             if (value := request.args.get(name, "").strip())}
    answer = api("GET", f"/projects/{project_id}/risks/export", query=query)
    return download(answer)


# --- one entry -----------------------------------------------------------------------------

@console.get("/projects/<project_id>/risks/<int:risk_id>")
@signed_in
def project_risk(project_id: str, risk_id: int):
    """One entry: its details, its form, and the reports that state it (the scan result
    page's "Its register entry" link comes here)."""
    check_id(project_id, "project")
    return risk_page(project_id, merge_views.entry_or_moved(project_id, risk_id))


HISTORY_SHOWN = 50  # an entry's latest events on its page; the API pages the rest


def risk_page(project_id: str, risk: dict, *, form=None, error=None, errors=None,
              status=200):
    """The entry's page: its details and form, each wording with its report (each to
    split out), and "Same risk as…" with its search's results (merge_views.py)."""
    details = data_or_fail(api("GET", f"/projects/{project_id}"))
    members = _members(project_id)
    values = {**{name: risk.get(name) for name in RISK_FIELDS}, **(form or {})}
    scale = data_or_fail(api("GET", f"/projects/{project_id}/matrix"))["scale"]
    events = data_or_fail(api("GET", f"/projects/{project_id}/risks/{risk['id']}/history",
                              query={"per_page": HISTORY_SHOWN}))
    emails = {m["user_id"]: m["email"] for m in members}
    suggested = data_or_fail(api("GET", f"/projects/{project_id}/risks/{risk['id']}/"
                                        "suggestions"))["items"]
    return render_template(
        "console/risk.html", project=details, project_id=project_id, risk=risk,
        suggested=suggested,
        values=values, members=members, emails=emails,
        history=history.lines(events["items"], emails, risk["id"]),
        history_total=events["total"],
        statuses=STATUSES, categories=RISK_LABELS, scale=scale, error=error,
        errors=errors or {}, here=_here(), wordings=merge_views.wordings(risk),
        splittable=merge_views.splittable(risk),
        search=merge_views.search(project_id, risk),
        placed={AT + EDIT, AT + merge_views.SAME, AT + merge_views.WORDINGS}), status


@console.post("/projects/<project_id>/dismissals/<int:dismissal_id>/restore")
@signed_in
def restore_dismissal(project_id: str, dismissal_id: int):
    """A dismissal lifted (the register page's list): what it kept out joins the register,
    and later reports that state it count again; back to the list."""
    check_id(project_id, "project")
    answer = api("DELETE", f"/projects/{project_id}/dismissals/{dismissal_id}")
    if not answer.ok:
        return failed(answer)
    risk = request.form.get("risk", "")
    flash_at(f"Dismissal of “{risk[:80]}” lifted: what it hid is in the register now, and "
             "later reports that state it count again.", "dismissals")  # where it lands
    return redirect(safe_target(request.form.get("back"), url_for(
        "console.project", project_id=project_id, _anchor="dismissals")))


# --- what changed --------------------------------------------------------------------------

@console.get("/projects/<project_id>/changes")
@signed_in
def project_changes(project_id: str):
    """New, persisting and gone risks between two reports (the API's default: the latest
    two), with a form to compare two others."""
    check_id(project_id, "project")
    details = data_or_fail(api("GET", f"/projects/{project_id}"))
    query = {name: value for name in ("from_scan", "to_scan")
             if (value := request.args.get(name, "").strip())}
    changes = data_or_fail(api("GET", f"/projects/{project_id}/changes", query=query))
    scans = by_report(_project_scans(project_id))  # the choices in the register's order
    return render_template("console/changes.html", project=details, changes=changes,
                           scans=scans, here=_here())


# --- what the pages share ------------------------------------------------------------------

def _members(project_id: str) -> list[dict]:
    """All the project's members (MAX_PROJECT_MEMBERS is 200 by default: two pages)."""
    members, page = [], 1
    while True:
        listing = data_or_fail(api("GET", f"/projects/{project_id}/members",
                            query={"page": page, "per_page": 100}))
        members.extend(listing["items"])
        if not listing["items"] or len(members) >= listing["total"] or page >= 10:
            return members
        page += 1


def _project_scans(project_id: str) -> dict[str, dict]:
    """The project's latest 100 scans by id: what names a report on the pages."""
    answer = api("GET", "/scans", query={"project_id": project_id, "per_page": 100})
    return {scan["scan_id"]: scan for scan in answer.json["items"]} if answer.ok else {}


def _here() -> str:
    """This page's path and query: where a form on it comes back to."""
    return request.full_path.rstrip("?")
