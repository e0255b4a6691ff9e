"""One document of a job made a scan: the task both engines run (queue.py).

Idempotent, because a task may run more than once (a worker killed mid-document, the
broker redelivering an unacknowledged task): a document whose scan exists is done; the
scan's ``job_document_id`` is unique, so of two runs racing only one scan commits. Each
document's outcome is counted into its job with atomic increments, and the job ends when
every document has one.
"""

from __future__ import annotations

import logging
import time
import uuid

from sqlalchemy import and_, exists, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from service import metrics
from service.analysis.base import AnalysisError
from service.api import lock_row
from service.db import Job, JobDocument, Scan, User, utcnow
from service.errors import APIError
from service.extensions import db
from service.jobs import intake
from service.scans import report_dates
from service.scans.create import AlreadyHeld, Upload, create_scan

log = logging.getLogger("riskscan.jobs")

UNFINISHED = ("queued", "running")  # a job's or a document's: waiting, or being scanned
ENDED = ("done", "failed", "cancelled", "skipped")
BUSY_RETRIES = 6  # waits of 1, 2, … 5 s for the same user's other upload to be read


def run_document(document_id: int) -> str:
    """Make document ``document_id`` a scan (or record why it cannot be one); returns its
    status. In an app context; commits its own transactions."""
    document = db.session.get(JobDocument, document_id)
    if document is None:
        return "gone"  # its job or user was deleted meanwhile
    if document.status in ENDED:
        return document.status
    job = document.job
    user_id, job_id, position = job.user_id, job.id, document.position
    if _has_scan(document_id):  # a run before this one made it, and died before saying so
        return _finish(document_id, job_id, user_id, position, "done")
    _lock(job_id)
    claimed = db.session.execute(
        update(JobDocument)
        .where(JobDocument.id == document_id, JobDocument.status.in_(UNFINISHED))
        .values(status="running", attempts=JobDocument.attempts + 1, started_at=utcnow())
    ).rowcount == 1
    if not claimed:
        db.session.rollback()
        return db.session.get(JobDocument, document_id).status
    db.session.execute(update(Job).where(Job.id == job_id, Job.status == "queued")
                       .values(status="running"))
    db.session.commit()
    log.info("job %s document %s: scanning", job_id, position,
             extra={"fields": {"job_id": job_id, "document": position}})

    status, error = _scan(document_id, job_id, user_id, position)
    return _finish(document_id, job_id, user_id, position, status, error)


def _scan(document_id: int, job_id: str, user_id: str, position: int) -> tuple[str, str | None]:
    job = db.session.get(Job, job_id)
    document = db.session.get(JobDocument, document_id)
    user = db.session.get(User, user_id)
    data = intake.read_document(user_id, job_id, position)
    if user is None or not user.active:
        return "failed", "The account that sent the job is no longer active."
    if data is None:
        return "failed", "The document's file is missing from the upload storage."
    try:
        scan = _create(user, Upload(document.filename, data), job, document_id,
                       document.reported_on)
        # Dated as a scan is when the form and the name said nothing: by its title and
        # first lines (report_dates.guess), the job listing showing what the scan took.
        db.session.execute(update(JobDocument).where(JobDocument.id == document_id)
                           .values(reported_on=scan.reported_on))
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        if _has_scan(document_id):  # another run of this task made it first
            return "done", None
        raise
    except AlreadyHeld as held:  # the same text sent again: the register counts it once
        db.session.rollback()
        db.session.execute(update(JobDocument).where(JobDocument.id == document_id)
                           .values(duplicate_of=held.scan_id))
        db.session.commit()
        return "skipped", "The project holds this report already: not scanned again."
    except APIError as problem:  # the document's own fault: broken, empty, too large
        return "failed", problem.detail[:500]
    except AnalysisError as failure:  # the analyzer's: an LLM that is down, a timeout
        return "failed", str(failure)[:500]
    except Exception:  # one document fails alone; the job goes on
        error_id = uuid.uuid4().hex
        log.exception("job %s document %s: unexpected error %s", job_id, position, error_id)
        db.session.rollback()
        return "failed", f"An unexpected error occurred (error id {error_id})."
    return "done", None


def _create(user: User, upload: Upload, job: Job, document_id: int, reported_on) -> Scan:
    """create_scan, waiting out the per-user upload limit (EXTRACTIONS_PER_USER): a job's
    documents are the same user's uploads, and a 429 there means "after the other one".
    ``reported_on``: the form's or the file name's date, else None: the document's own."""
    force_llm, project_id = job.force_llm, job.project_id
    near = {"include_possible": job.include_possible, "possible_floor": job.possible_floor}
    for attempt in range(BUSY_RETRIES):
        try:
            return create_scan(user, text=None, upload=upload, force_llm=force_llm,
                               project_id=project_id, job_document_id=document_id,
                               reported_on=reported_on,
                               reported_on_from=report_dates.JOB if reported_on else None,
                               unless_held=True, **near)
        except APIError as problem:
            if problem.status != 429 or attempt == BUSY_RETRIES - 1:
                raise
            time.sleep(1 + attempt)


def _lock(job_id: str) -> None:
    """Take the job's row first, before any of its documents' rows, in every transaction
    that changes them (claim, finish, cancel): one lock order, so that two workers finishing
    documents of one job wait for each other instead of deadlocking on MySQL (the job's end
    reads every document of the job)."""
    lock_row(Job, job_id)


def _has_scan(document_id: int) -> bool:
    return bool(db.session.scalar(select(exists().where(Scan.job_document_id == document_id))))


def _finish(document_id: int, job_id: str, user_id: str, position: int, status: str,
            error: str | None = None) -> str:
    """Record the document's outcome once (the first run to get here counts it), and end the
    job when it was the last one; its waiting file goes."""
    db.session.rollback()  # whatever a failed scan left in the session
    _lock(job_id)
    counted = db.session.execute(
        update(JobDocument)
        .where(JobDocument.id == document_id, JobDocument.status.in_(UNFINISHED))
        .values(status=status, error=error, finished_at=utcnow())).rowcount == 1
    if counted:
        column = {"done": Job.done, "skipped": Job.skipped}.get(status, Job.failed)
        db.session.execute(update(Job).where(Job.id == job_id)
                           .values({column: column + 1}))
        _end_if_complete(job_id)
        metrics.JOB_DOCUMENTS.labels(status).inc()
    db.session.commit()
    intake.remove_document(user_id, job_id, position)
    log.info("job %s document %s: %s", job_id, position, status,
             extra={"fields": {"job_id": job_id, "document": position, "status": status}})
    return status


def _end_if_complete(job_id: str) -> None:
    """The job is done (or stays cancelled, now finished) once no document waits or runs."""
    waiting = exists().where(JobDocument.job_id == job_id,
                             JobDocument.status.in_(UNFINISHED))
    db.session.execute(
        update(Job)
        .where(Job.id == job_id, Job.finished_at.is_(None), ~waiting)
        .values(status=_done_unless_cancelled(), finished_at=utcnow()))


def _done_unless_cancelled():
    from sqlalchemy import case

    return case((Job.status == "cancelled", "cancelled"), else_="done")


def cancel(job: Job) -> int:
    """Cancel what has not started; documents being scanned finish. Returns how many were
    cancelled. The caller commits."""
    _lock(job.id)
    cancelled = db.session.execute(
        update(JobDocument)
        .where(JobDocument.job_id == job.id, JobDocument.status == "queued")
        .values(status="cancelled", finished_at=utcnow())).rowcount
    # Conditional: a job that ended meanwhile (its last document finished) stays done.
    db.session.execute(update(Job).where(Job.id == job.id,
                                         Job.status.in_(UNFINISHED))
                       .values(status="cancelled"))
    db.session.flush()
    _end_if_complete(job.id)
    if cancelled:
        metrics.JOB_DOCUMENTS.labels("cancelled").inc(cancelled)
    return cancelled


def queued_documents() -> int:
    """How many job documents wait for a worker (the queue-depth gauge, at scrape time;
    the status index answers it). Outside an app context, nothing to say: 0."""
    from flask import has_app_context

    if not has_app_context():
        return 0
    return db.session.scalar(select(func.count()).select_from(JobDocument)
                             .where(JobDocument.status == "queued")) or 0


def unfinished_documents() -> list[int]:
    """Documents of jobs still under way that wait or were running when a process died:
    what the in-process engine takes up again at start-up."""
    return list(db.session.scalars(
        select(JobDocument.id).join(Job, Job.id == JobDocument.job_id)
        .where(JobDocument.status.in_(UNFINISHED),
               or_(Job.status.in_(UNFINISHED),
                   and_(Job.status == "cancelled", JobDocument.status == "running")))
        .order_by(JobDocument.id)))
