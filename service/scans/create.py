"""The scan use-case: analyse, then persist the scan with its findings and store the file.

The path of one scan in docs/architecture.md, top to bottom. Analysis runs with no
database connection held; the scan, its findings and the stored file are written together
afterwards, so a failure anywhere leaves neither a row nor a file behind.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from datetime import date

from flask import current_app
from sqlalchemy import delete, func, select

from service import audit, metrics, serving
from service.analysis.base import AnalysisError, LLMCall
from service.auth.tokens import Caller
from service.config import current_settings
from service.db import IdempotencyKey, JobDocument, LLMCallLog, Scan, ScanFinding, User
from service.errors import APIError
from service.extensions import db
from service.projects import register
from service.projects.access import project_id_for
from service.scans import possible, report_dates
from service.scans.titles import title_of
from service.serving.encoder import current_encoder
from service.serving.holder import current_analyzers
from service.uploads.extract import Document, DocumentError, ExtractionLimits
from service.uploads.isolation import extract_text_bounded
from service.uploads.storage import remove_scan_folder, scan_folder, store_original

log = logging.getLogger("riskscan.scans")

OWNER_WAIT_S = 5.0  # longest an upload waits for the same user's earlier one to be read


class AlreadyHeld(Exception):
    """The project holds a report of this very text already (``scan_id``): a job's
    document sent again is skipped, not scanned twice."""

    def __init__(self, scan_id: str):
        super().__init__(scan_id)
        self.scan_id = scan_id


def held_in(project_id: str, text: str) -> str | None:
    """The project's scan of exactly ``text``, if any (its length narrows the search)."""
    return db.session.scalar(select(Scan.id).where(
        Scan.project_id == project_id, Scan.text_length == len(text), Scan.text == text)
        .order_by(Scan.created_at).limit(1))


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


def create_scan(user: User | Caller, *, text: str | None, upload: Upload | None,
                force_llm: bool, min_score: float | None = None,
                project_id: str | None = None, job_document_id: int | None = None,
                include_possible: bool = False, possible_floor: float | None = None,
                reported_on: date | None = None, reported_on_from: str | None = None,
                unless_held: bool = False) -> Scan:
    """Analyse the text or the upload and store the scan; with ``include_possible``, its
    near misses from ``possible_floor`` (None: POSSIBLE_FLOOR) too (possible.py). Without
    ``reported_on``, the document dates it (report_dates.guess); a given one is
    ``reported_on_from`` (a job's rule) or ``given``. ``unless_held``: AlreadyHeld where
    the project holds the same text already, asked before the analysis and again under
    the register's lock (two copies in one job: the second is the one skipped)."""
    settings = current_settings()
    user_id = user.id
    if project_id is not None:  # before the work: 404 or 403 cost nothing
        project_id = project_id_for(user, project_id, "editor")
    document = _read_document(text, upload, settings, user_id)
    if unless_held and project_id is not None and (
            held := held_in(project_id, document.text)) is not None:
        raise AlreadyHeld(held)
    title = title_of(document.text)
    reported_on, guessed_from = report_dates.guess(reported_on, title, document.text,
                                                   upload.filename if upload else None)
    analyzer = current_analyzers().pick(force_llm)

    db.session.close()  # no connection or transaction held while the analyzer runs
    min_score = settings.MODEL_MIN_SCORE if min_score is None else min_score
    floor = ((settings.POSSIBLE_FLOOR if possible_floor is None else possible_floor)
             if include_possible else None)
    try:
        with metrics.INFERENCE_SECONDS.labels(analyzer.source, analyzer.version).time():
            analysis = analyzer.analyze(document.text,
                                        min_score=possible.asked_score(analyzer, min_score, floor))
    except AnalysisError as error:
        if error.calls:  # failed LLM scans keep their call log
            _log_llm_calls(error.calls, user_id)
            db.session.commit()
        raise
    found = possible.split(analysis.findings, analyzer, min_score, floor)
    counted = [finding for finding, near in found if not near]
    # The register's embeddings, still with no connection held.
    vectors = (current_encoder().embed([f.risk for f in counted])
               if project_id is not None else None)

    scan = Scan(
        user_id=user_id, project_id=project_id, job_document_id=job_document_id,
        source=analyzer.source, reported_on=reported_on,
        reported_on_from=reported_on_from or guessed_from,
        model_version=analyzer.version,
        text_length=len(document.text), dropped=analysis.dropped,
        filename=upload.filename if upload else None, title=title,
        media_type=document.media_type if upload else None,
        stored_filename=f"original.{document.kind}" if upload else None,
        text=document.text,
        findings=[ScanFinding(position=position, risk=f.risk, category=f.category,
                              context=f.context, score=f.score, start=f.start, end=f.end,
                              possible=near)
                  for position, (f, near) in enumerate(found)],
    )
    folder = None
    try:
        # The project's row before the scan's (whose insert checks its key to the project,
        # a shared lock): two scans into one project locking the other way round deadlock.
        held = register.hold(project_id) if project_id is not None else None  # 404: deleted
        if unless_held and held is not None and (
                copy := held_in(project_id, document.text)) is not None:
            raise AlreadyHeld(copy)
        db.session.add(scan)
        db.session.flush()  # assigns the ids the file's folder, call log and register use
        _log_llm_calls(analysis.calls, user_id, scan.id)
        if held is not None:
            job_id = (db.session.get(JobDocument, job_document_id).job_id
                      if job_document_id is not None else None)
            held.add_report(scan, _counted(scan), vectors, actor_id=user_id, job_id=job_id)
        if upload is not None:
            folder = store_original(scan, upload.data)
        db.session.commit()
    except BaseException:
        try:
            db.session.rollback()
        finally:  # the file goes whatever the rollback does (a dead connection raises)
            if folder is not None:
                remove_scan_folder(folder)
        raise
    metrics.SCANS.labels(analyzer.source, analyzer.version).inc()
    serving.scanned(current_app._get_current_object(), scan, document.text, min_score,
                    analyzer, counted)
    return scan


def _counted(scan: Scan) -> list[ScanFinding]:
    """The findings of ``scan`` the register may take: not the near misses nobody confirmed."""
    return [finding for finding in scan.findings if not finding.possible]


def _log_llm_calls(calls: list[LLMCall], user_id: str, scan_id: str | None = None) -> None:
    for call in calls:
        metrics.LLM_CALLS.labels(call.status).inc()
    db.session.add_all(
        LLMCallLog(scan_id=scan_id, user_id=user_id, model=call.model,
                   latency_ms=call.latency_ms, status=call.status, http_status=call.http_status,
                   prompt_tokens=call.prompt_tokens, completion_tokens=call.completion_tokens,
                   error=(call.error or None) and call.error[:255])
        for call in calls)


def _read_document(text: str | None, upload: Upload | None, settings, user_id: str):
    """The text to analyse, from the text field or the file; 4xx problems otherwise."""
    has_text = text is not None and text.strip() != ""
    if upload is not None and has_text:
        raise APIError(422, "Send either text or a file, not both.",
                       errors={"text": ["Leave empty when a file is sent."]})
    if upload is not None:
        try:
            # In a worker process that is killed past the time limit: uploads are hostile.
            document = extract_text_bounded(
                upload.data, upload.filename,
                ExtractionLimits(max_pdf_pages=settings.MAX_PDF_PAGES),
                timeout_s=settings.EXTRACTION_TIMEOUT_S, owner=user_id,
                owner_limit=settings.EXTRACTIONS_PER_USER,
                # A few files sent at once are read in turn; a read built to last the whole
                # time limit makes the user's next one a 429 after half of it at most.
                owner_wait_s=min(OWNER_WAIT_S, settings.EXTRACTION_TIMEOUT_S / 2))
        except DocumentError as error:
            headers = {"Retry-After": "5"} if error.status in (429, 503) else None
            raise APIError(error.status, error.detail, errors={"file": [error.detail]},
                           headers=headers) from None
    else:
        document = Document(text=text or "", kind="txt")
    if not document.text.strip():
        where = "file" if upload is not None else "text"
        raise APIError(422, f"There is no text to analyse: the {where} is empty or whitespace.",
                       errors={where: ["Empty or whitespace only."]})
    if len(document.text) > settings.MAX_DOCUMENT_CHARS:
        raise APIError(413, f"The text has {len(document.text):,} characters; the limit is "
                            f"{settings.MAX_DOCUMENT_CHARS:,} (MAX_DOCUMENT_CHARS).")
    return document


def safe_display_name(filename: str | None) -> str | None:
    """The client's file name, kept for display: no path, bounded length, a space for each
    control character (a line break in a name breaks the download's header)."""
    if not filename:
        return None
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(" " if unicodedata.category(char) == "Cc" else char for char in name)
    return name.strip()[:255] or None


def delete_scan(scan: Scan, *, actor_id: str | None = None) -> None:
    """Delete the scan's rows and its findings' place in the register, then its stored file
    (service/uploads/storage.py)."""
    folder = scan_folder(scan) if scan.stored_filename else None  # read before the delete
    # Its words go with it from every register it is or was in: the note names its date.
    dated = f" of {scan.reported_on.isoformat()}" if scan.reported_on else ""
    register.forget_reports([scan], actor_id=actor_id, scan_id=scan.id,
                            note=f"A report{dated} was deleted.")
    # A kept Idempotency-Key answer quotes the scan's findings: it goes with the scan.
    db.session.execute(delete(IdempotencyKey).where(
        IdempotencyKey.user_id == scan.user_id,
        func.instr(IdempotencyKey.body, scan.id.encode()) > 0))
    db.session.delete(scan)
    db.session.commit()
    if folder is not None:
        remove_scan_folder(folder)


def move_scan(scan: Scan, project_id: str | None, caller: Caller) -> Scan:
    """Move a scan into a project (its findings join that register) or out of one."""
    if project_id is not None:
        project_id = project_id_for(caller, project_id, "editor")
    if project_id == scan.project_id:
        return scan
    findings = _counted(scan)
    vectors = (current_encoder().embed([f.risk for f in findings])
               if project_id is not None else None)
    was = scan.project_id
    if was is not None:
        register.hold(was).remove_report(
            scan, actor_id=caller.id, note=f"The report {_named(scan)} moved out of the project.")
    scan.project_id = project_id
    db.session.flush()
    if project_id is not None:
        register.hold(project_id).add_report(scan, findings, vectors, actor_id=caller.id)
    audit.record("scan_moved", actor_id=caller.id, target_id=scan.id, **{"from": was,
                                                                         "to": project_id})
    db.session.commit()
    return scan


def redate_scan(scan: Scan, day: date, caller: Caller, *, commit: bool = True) -> Scan:
    """Date a scan's report again (a person's correction of a guess or a typo): in a
    project, its register held, its entries follow (Held.redate_report); audited."""
    project_id = scan.project_id
    held = None
    if project_id is not None:  # the register held first, then the scan as it is now
        held = register.hold(project_id, directions_kept=True)
        db.session.refresh(scan)
        if scan.project_id != project_id:
            raise APIError(409, "The scan moved to another project meanwhile: send it again.")
    was = scan.reported_on
    scan.reported_on_from = report_dates.GIVEN  # a person said so, even the same day
    if day != was:
        scan.reported_on = day
        db.session.flush()
        if held is not None:
            held.redate_report(scan, actor_id=caller.id)
        audit.record("scan_redated", actor_id=caller.id, target_id=scan.id,
                     project_id=scan.project_id, **{"from": was and was.isoformat(),
                                                    "to": day.isoformat()})
    if commit:
        db.session.commit()
    return scan


def _named(scan: Scan) -> str:
    """A report as a person names it in a note: its title or file name, and its date."""
    name = scan.title or scan.filename or "untitled"
    return f"“{name}” of {scan.reported_on.isoformat()}" if scan.reported_on else f"“{name}”"
