"""POST/GET/DELETE /api/v1/jobs: several documents in one request, scanned in the background.

The request is read and checked, its documents written to the upload storage and the job
committed before any worker hears of it (queue.enqueue): a worker never sees a job the
database does not hold, and a job the API accepted is never lost with a process.
"""

from __future__ import annotations

import logging

from apifairy import other_responses, response
from flask import Blueprint, request, url_for
from sqlalchemy import delete, func, select

from service import audit
from service.api import paginated_response
from service.auth.scopes import authorized
from service.config import current_settings
from service.db import DismissedFinding, Job, JobDocument, RegisterEvent, Scan
from service.errors import APIError
from service.extensions import db, token_auth
from service.idempotency import idempotent
from service.jobs import intake, queue, work
from service.jobs.schemas import (
    JobAcceptedSchema,
    JobListArgs,
    JobPageSchema,
    JobSchema,
)
from service.projects.access import own_job, readable_job, scan_into
from service.rate_limits import scans_per_user
from service.scans import possible, report_dates
from service.scans.defaults import with_defaults
from service.scans.listing import risks_found

jobs = Blueprint("jobs", __name__)
log = logging.getLogger("riskscan.jobs")

job_schema = JobSchema()


@jobs.before_request
def allow_a_jobs_body():
    """A job's request carries many documents: MAX_JOB_MB instead of MAX_UPLOAD_MB."""
    if request.method == "POST":
        request.max_content_length = int(
            current_settings().MAX_JOB_MB * 1024 * 1024)


def may_have_job(kept: dict) -> None:
    """A job's kept answer is replayed only to a caller who may still scan into its project
    (idempotency.py): the key's scopes and the membership it had may be gone."""
    project_id = db.session.scalar(select(Job.project_id).where(
        Job.id == str(kept.get("job_id"))))
    if project_id is not None:
        scan_into(token_auth.current_user(), project_id)


@jobs.route("", methods=["POST"])
@authorized("scans:write")
@idempotent(may_have_job)
@scans_per_user
@response(JobAcceptedSchema(), 202)
@other_responses({401: "No or bad token", 403: "project_id: you are a viewer of it",
                  404: "project_id: no such project (or not a member)",
                  413: "Too many documents (MAX_JOB_DOCUMENTS), a document over MAX_UPLOAD_MB, "
                       "the request over MAX_JOB_MB, or an archive that unpacks too far",
                  415: "Not multipart/form-data",
                  422: "No document; files and an archive together; an unreadable archive",
                  429: "Too many requests; see Retry-After",
                  503: "The job queue (CELERY_BROKER_URL) cannot be reached; see Retry-After"})
def new():
    """Scan several documents in the background

    `multipart/form-data` with several `files` fields, or one `.zip` as `archive`
    (folders flattened), and optionally `project_id` and `force_llm` (left out: your
    defaults, `GET /api/v1/auth/me/settings`), `include_possible` and `possible_floor` (each
    scan's near misses, as for `POST /api/v1/scans`) and `reported_on` (the reports' date:
    once for all, or once per document in order; left out, a date in each file's name, else
    today). Answers 202 at once
    with the job's id and a `Location`; each document becomes an ordinary scan, or a
    per-document error in words (a broken PDF fails alone). Poll `GET /api/v1/jobs/{id}`.
    """
    if request.mimetype != "multipart/form-data":
        raise APIError(415, "Send multipart/form-data with files or an archive.")
    caller = token_auth.current_user()
    given = {}  # the fields the form sent; the rest are the caller's defaults
    if "project_id" in request.form:
        given["project_id"] = _form_value("project_id", 36) or None
    if "force_llm" in request.form:
        force = _form_value("force_llm", 5).lower()
        if force not in ("", "true", "false", "1", "0", "yes", "no", "on", "off"):
            raise APIError(422, "force_llm must be true or false.",
                           errors={"force_llm": ["Not a valid boolean."]})
        given["force_llm"] = force in ("true", "1", "yes", "on")
    near = possible.form_fields(request.form)
    options = with_defaults(caller, given)
    project_id = options["project_id"]
    if project_id is not None:
        project_id = scan_into(caller, project_id)
    documents = intake.read_documents()
    dates = _report_dates(documents)
    job = Job(user_id=caller.id, project_id=project_id, force_llm=options["force_llm"],
              include_possible=near.get("include_possible", False),
              possible_floor=near.get("possible_floor"), status="queued",
              total=len(documents), done=0, failed=0,
              documents=[JobDocument(position=position, filename=document.filename,
                                     status="queued", attempts=0, reported_on=day)
                         for position, (document, day) in enumerate(zip(documents, dates))])
    db.session.add(job)
    db.session.flush()
    intake.write_documents(caller.id, job.id, documents)
    try:
        audit.record("job_created", actor_id=caller.id, target_id=job.id,
                     documents=len(documents), project_id=project_id)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        intake.remove_job_files(caller.id, job.id)
        raise
    try:
        queue.enqueue([document.id for document in job.documents])
    except Exception as error:  # the broker is down: the job was not accepted
        log.exception("job %s could not be queued; withdrawn", job.id)
        _withdraw(caller.id, job.id)
        raise APIError(503, "The job queue cannot be reached; nothing was kept. Try again "
                            "later.", headers={"Retry-After": "30"}) from error
    return job, 202, {"Location": url_for("jobs.get", job_id=job.id)}


def _withdraw(user_id: str, job_id: str) -> None:
    """A committed job no worker will hear of (Celery's broker unreachable: only the pool
    takes documents up again at start-up) goes, rows and files, rather than wait forever;
    a task that did get through finds its document gone."""
    db.session.rollback()
    db.session.execute(delete(Job).where(Job.id == job_id))
    db.session.commit()
    intake.remove_job_files(user_id, job_id)


def _report_dates(documents: list[intake.Incoming]) -> list:
    """Each document's report date: the form's ``reported_on`` (one for every document, or
    one per document in order; an empty one says nothing), else a date in its name
    (report_dates.in_name), else None: the scan dates it by its title and first lines,
    then the upload day (report_dates.guess), as a scan of the same file is dated."""
    given = request.form.getlist("reported_on")
    if len(given) not in (0, 1, len(documents)):
        raise APIError(422, f"reported_on: send one date for every document or one per "
                            f"document ({len(documents)}), not {len(given)}.",
                       errors={"reported_on": ["One date, or one per document."]})
    days = [report_dates.from_form(value) for value in given]
    if len(days) == 1:
        days = days * len(documents)
    return [(days[index] if days else None) or report_dates.in_name(document.filename)
            for index, document in enumerate(documents)]


def _form_value(name: str, longest: int) -> str:
    value = request.form.get(name, "").strip()
    if len(value) > longest:
        raise APIError(422, f"{name} is too long.", errors={name: ["Too long."]})
    return value


def _answer(job: Job) -> dict:
    """The job with its documents, the scans they became and the risks each found."""
    return _answers([job])[0]


def _answers(page: list[Job]) -> list[dict]:
    """Jobs with their documents, each with the scan it became and how many risks that
    found (null until then, or once the scan is deleted): three queries at most."""
    ids = [job.id for job in page]
    documents: dict[str, list[JobDocument]] = {job_id: [] for job_id in ids}
    for document in db.session.scalars(select(JobDocument).where(
            JobDocument.job_id.in_(ids)).order_by(JobDocument.position)):
        documents[document.job_id].append(document)
    scans = {document_id: (scan_id, counts) for document_id, scan_id, counts in
             db.session.execute(select(Scan.job_document_id, Scan.id, Scan.category_counts)
                                .join(JobDocument, JobDocument.id == Scan.job_document_id)
                                .where(JobDocument.job_id.in_(ids)))} if ids else {}
    risks = risks_found(dict(scans.values()))
    register = register_outcomes([scan_id for scan_id, _ in scans.values()])
    return [{"id": job.id, "status": job.status, "project_id": job.project_id,
             "total": job.total, "done": job.done, "failed": job.failed,
             "skipped": job.skipped,
             "created_at": job.created_at, "finished_at": job.finished_at,
             "documents": [{"filename": document.filename, "status": document.status,
                            "reported_on": document.reported_on,
                            "scan_id": (scan_id := scans.get(document.id, (None,))[0]),
                            "risks": risks.get(scan_id), "error": document.error,
                            "duplicate_of": document.duplicate_of,
                            "register": register.get(scan_id) if job.project_id else None}
                           for document in documents[job.id]]}
            for job in page]


def register_outcomes(scan_ids: list[str]) -> dict[str, dict[str, int]]:
    """What each scan did to its project's register, from the entries' events: entries it
    opened, restated, reopened, and findings a dismissal kept out."""
    outcomes = {scan_id: dict.fromkeys(("opened", "stated", "reopened", "kept_out"), 0)
                for scan_id in scan_ids}
    if not scan_ids:
        return outcomes
    for scan_id, kind, count in db.session.execute(
            select(RegisterEvent.scan_id, RegisterEvent.kind, func.count())
            .where(RegisterEvent.scan_id.in_(scan_ids), RegisterEvent.cause == "report",
                   RegisterEvent.kind.in_(("opened", "stated", "reopened")))
            .group_by(RegisterEvent.scan_id, RegisterEvent.kind)):
        outcomes[scan_id][kind] = count
    for scan_id, count in db.session.execute(
            select(DismissedFinding.scan_id, func.count())
            .where(DismissedFinding.scan_id.in_(scan_ids))
            .group_by(DismissedFinding.scan_id)):
        outcomes[scan_id]["kept_out"] = count
    return outcomes


@jobs.route("", methods=["GET"])
@authorized("scans:read")
@paginated_response(JobPageSchema(), JobListArgs, items=_answers)
@other_responses({401: "No or bad token", 422: "Bad page"})
def all(args):
    """Your jobs, newest first, each with its documents"""
    caller = token_auth.current_user()
    statement = (select(Job).where(Job.user_id == caller.id)
                 .order_by(Job.created_at.desc(), Job.id))
    return statement


@jobs.route("/<job_id>", methods=["GET"])
@authorized("scans:read")
@response(job_schema)
@other_responses({401: "No or bad token", 403: "An admin's API key without admin:read",
                  404: "No such job (or not yours)"})
def get(job_id):
    """A job: its progress and each document's outcome (yours; admins read any)"""
    return _answer(readable_job(token_auth.current_user(), job_id))


@jobs.route("/<job_id>", methods=["DELETE"])
@authorized("scans:write")
@response(job_schema)
@other_responses({401: "No or bad token", 404: "No such job (or not yours)"})
def cancel(job_id):
    """Cancel what has not started: queued documents are cancelled, those being scanned
    finish; the answer is the job afterwards. Cancelling a finished job changes nothing."""
    job = own_job(token_auth.current_user(), job_id)
    cancelled = work.cancel(job)
    if cancelled:
        audit.record("job_cancelled", actor_id=token_auth.current_user().id,
                     target_id=job.id, documents=cancelled)
    db.session.commit()
    for document in job.documents:
        if document.status == "cancelled":
            intake.remove_document(job.user_id, job.id, document.position)
    db.session.refresh(job)
    return _answer(job)
