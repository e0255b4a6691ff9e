"""The Jobs page: several documents (or a .zip of them) sent as one batch job into a project,
a job's own page with its progress and each document's scan or error, the list of one's
jobs, and cancelling what has not started: the API's /jobs routes, as the signed-in user.

The upload goes to the API as it came, one ``files`` part per document or the ``archive``,
so the API's limits and its words about them are the only ones; the console only lets its
own request be as large as the API's (MAX_JOB_MB), which is checked before the form is read.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from service.config import current_settings
from service.console.account_views import FORM_ANSWERS
from service.console.blueprint import console
from service.console.pages import check_id, counted, data_or_fail, error_page, failed, words
from service.console.session import api, signed_in

PER_PAGE = 20
SHOWN_DOCUMENTS = 5  # a job's documents named in the list; its page names every one
# How often the page's script asks the page again while the job runs, in seconds.
FOLLOW_S = 3
# A job's form, beside its documents: a few short fields and the CSRF token.
FORM_ALLOWANCE = 64 * 1024
# The API's refusals the form says in its words (a 429 or 503 too: try again later).
SAID = (*FORM_ANSWERS, 415, 429, 503)
UPLOAD_TYPE = "application/octet-stream"


@console.before_app_request
def allow_a_jobs_body():
    """The job form's request may be as large as the API's (MAX_JOB_MB, not MAX_UPLOAD_MB);
    one over it is refused in words before the form is read (the CSRF check reads it)."""
    if request.endpoint != "console.job_create":
        return None
    limit = current_settings().MAX_JOB_MB
    request.max_content_length = int(limit * 1024 * 1024) + FORM_ALLOWANCE
    if (request.content_length or 0) > request.max_content_length:
        return error_page(413, f"The upload is larger than {limit:g} MB in all: send the "
                               f"documents in several jobs.")
    return None


@console.get("/jobs")
@signed_in
def jobs():
    """The form, its project preselected: the one the link names, else the user's default
    (when the user edits or owns it), and the user's jobs, newest first."""
    return _jobs_page(request.args.get("project_id"))


@console.post("/jobs")
@signed_in
def job_create():
    """The form as the API's POST: each chosen document a ``files`` part (or the .zip as
    ``archive``), the project (always sent: "No project" too, else the API would take the
    default) and the report date when one was given."""
    form = {"project_id": request.form.get("project_id", "")}
    reported_on = request.form.get("reported_on", "").strip()
    if reported_on:
        form["reported_on"] = reported_on
    files = {name: [(part.stream, part.filename, part.mimetype or UPLOAD_TYPE)
                    for part in request.files.getlist(name) if part.filename]
             for name in ("files", "archive")}
    answer = api("POST", "/jobs", form=form,
                 files={name: parts for name, parts in files.items() if parts})
    if answer.ok:
        # To the job's own page (Post/Redirect/Get): a reload there sends no second job.
        return redirect(url_for("console.job", job_id=answer.json["job_id"]), code=303)
    if answer.status in SAID:
        return _jobs_page(form["project_id"], error=words(answer), errors=answer.errors,
                          reported_on=reported_on, status=answer.status)
    return failed(answer)


@console.get("/jobs/<job_id>")
@signed_in
def job(job_id: str):
    """A job's progress and its documents; another user's job is the API's 404."""
    shown = data_or_fail(api("GET", f"/jobs/{check_id(job_id, 'job')}"))
    project = None
    if shown["project_id"]:
        answer = api("GET", f"/projects/{shown['project_id']}")
        project = answer.json if answer.ok else {"id": shown["project_id"], "name": None}
    return render_template("console/job.html", job=shown, project=project,
                           follow_s=FOLLOW_S)


@console.post("/jobs/<job_id>/cancel")
@signed_in
def job_cancel(job_id: str):
    """The API's DELETE: the documents not yet started are cancelled, those being scanned
    finish; what it refuses (another's job, to an admin who may read it) is said."""
    answer = api("DELETE", f"/jobs/{check_id(job_id, 'job')}")
    if not answer.ok:
        return failed(answer)
    cancelled = sum(document["status"] == "cancelled" for document in answer.json["documents"])
    running = sum(document["status"] == "running" for document in answer.json["documents"])
    said = f"Job cancelled: {counted(cancelled, 'document')} will not be scanned."
    if running:
        said += f" {counted(running, 'document').capitalize()} being scanned will finish."
    flash(said)
    return redirect(url_for("console.job", job_id=job_id), code=303)


def _jobs_page(project_id: str | None, *, error=None, errors=None, reported_on="",
               status=200):
    """The Jobs page: the form (the projects the user edits or owns; a project the user only
    views is named, not offered) and the list of their jobs."""
    listing = api("GET", "/projects", query={"per_page": 100})
    projects = listing.json["items"] if listing.ok else []
    editable = [project for project in projects if project["role"] in ("editor", "owner")]
    if project_id is None:  # no choice yet: the user's default project
        project_id = data_or_fail(api("GET", "/auth/me/settings"))["project_id"] or ""
    viewed = next((project for project in projects if project["id"] == project_id
                   and project["role"] not in ("editor", "owner")), None)
    listed = data_or_fail(api("GET", "/jobs", query={"page": request.args.get("page", "1"),
                                                     "per_page": PER_PAGE}))
    names = {project["id"]: project["name"] for project in projects}
    page = render_template("console/jobs.html", projects=editable, project_id=project_id,
                           viewed=viewed, jobs=listed, names=names,
                           shown_documents=SHOWN_DOCUMENTS,
                           error=error, errors=errors or {}, reported_on=reported_on)
    return page, status
