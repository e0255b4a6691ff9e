"""Scans: analyse text or a document, then list, read, download, delete, correct."""

from __future__ import annotations

from apifairy import other_responses, response
from flask import Blueprint, request, send_file, url_for
from marshmallow import ValidationError as SchemaError

from service.api import (
    PageArgs,
    Remembered,
    form_boolean,
    form_fraction,
    json_body,
    not_found,
    paginated_response,
    request_json,
)
from service.auth.scopes import authorized, require_scope
from service.db import Scan
from service.errors import APIError
from service.extensions import db, token_auth
from service.idempotency import idempotent
from service.projects import access, register
from service.projects.access import check_scan_edit, project_for
from service.rate_limits import corrections_per_user, scans_per_user
from service.scans import missed, possible, report_dates
from service.scans.create import (
    Upload,
    create_scan,
    delete_scan,
    move_scan,
    redate_scan,
    safe_display_name,
)
from service.scans.defaults import with_defaults
from service.scans.listing import scan_page
from service.scans.schemas import (
    AddedFindingSchema,
    CorrectionSchema,
    FindingSchema,
    ScanFilterSchema,
    ScanRequestSchema,
    ScanSchema,
    ScanSummaryPageSchema,
    ScanUpdateSchema,
)
from service.serving import corrections
from service.serving.encoder import current_encoder
from service.uploads.storage import original_path

scans = Blueprint("scans", __name__)

scan_schema = ScanSchema()
finding_schema = FindingSchema()

SCAN_ERRORS = {
    401: "No or bad token",
    413: "The body, the text (MAX_DOCUMENT_CHARS) or the document (pages, unpacked size) "
         "is too large",
    415: "Not JSON or multipart; or a file that is not txt, md, html, pdf or docx",
    403: "project_id: you are a viewer of that project",
    404: "project_id: no such project (or you are not a member)",
    422: "No text; text and a file together; a damaged document",
    503: "No analyzer available (model not loaded, LLM not configured or unreachable)",
}


class ScanListArgs(Remembered, PageArgs, ScanFilterSchema):
    """The busiest read's arguments: parsed once per distinct query string."""


def scan_request() -> tuple[str | None, Upload | None, dict]:
    """(text, upload, options) from multipart/form-data: ``options`` holds those of
    ``force_llm``, ``min_score``, ``project_id`` and ``reported_on`` that the form sent (an
    empty one is sent: false, the deployment's operating point, no project, the upload
    day), for with_defaults."""
    file = request.files.get("file")
    upload = None
    if file is not None and (file.filename or file.content_length):
        upload = Upload(filename=safe_display_name(file.filename) or "upload", data=file.read())
    options = {}
    if "force_llm" in request.form:
        options["force_llm"] = form_boolean(request.form, "force_llm")
    if upload is None and request.form.get("text") is None:
        raise APIError(422, "Send a file or a text field.",
                       errors={"file": ["Missing file or text."]})
    if "min_score" in request.form:
        options["min_score"] = form_fraction(request.form, "min_score")
    if "project_id" in request.form:
        options["project_id"] = _form_project_id()
    if "reported_on" in request.form:
        options["reported_on"] = report_dates.from_form(request.form["reported_on"])
    return request.form.get("text"), upload, options | possible.form_fields(request.form)


def _form_project_id() -> str | None:
    value = request.form["project_id"].strip()
    if len(value) > 36:
        raise APIError(422, "project_id is not a project's id.",
                       errors={"project_id": ["Longer than a project's id."]})
    return value or None


def readable_scan(scan_id: str) -> Scan:
    """A scan the caller may read: theirs, their project's, or any for an admin."""
    return access.readable_scan(token_auth.current_user(), scan_id)


def editable_scan(scan_id: str) -> Scan:
    """A scan the caller may change: theirs, or their project's as its editor or owner;
    403 for a project's viewer, 404 for everyone else (access.check_scan_edit)."""
    return access.editable_scan(token_auth.current_user(), scan_id)


def may_change_scan(kept: dict) -> None:
    """A replay of a change to a scan (an added finding) answers only who may change it now."""
    editable_scan(request.view_args["scan_id"])


def may_have_scan(kept: dict) -> None:
    """A scan's kept answer is replayed only to a caller who may still scan into its
    project (idempotency.py): the key's scopes and the membership it had may be gone."""
    if kept.get("project_id") is not None:
        access.scan_into(token_auth.current_user(), kept["project_id"])


@scans.route("", methods=["POST"])
@authorized("scans:write")
@idempotent(may_have_scan)
@scans_per_user
@response(scan_schema, 201)
@other_responses(SCAN_ERRORS | {429: "Too many scans; see Retry-After"})
def new():
    """Analyse a text or a document

    Send JSON `{text, force_llm?, min_score?, project_id?, include_possible?,
    possible_floor?, reported_on?}`, or `multipart/form-data` with `file` (txt, md, html,
    pdf, docx: recognised by content) or `text`, and the same fields. A file and a non-empty
    text together are a 422: send one. A field left out takes your default
    (`GET /api/v1/auth/me/settings`). `reported_on` is the report's date (left out: the
    upload day), which a project's register dates and orders reports by. The scan is stored
    with its findings (with `include_possible`, its near misses too, each `possible: true`),
    and the file is kept for `GET /api/v1/scans/{id}/file`.
    """
    return scan_from_request()


def scan_from_request() -> Scan:
    """Read a scan request (JSON or multipart), complete it from the caller's settings
    (with_defaults) and run it for the caller."""
    caller = token_auth.current_user()
    if request.mimetype == "multipart/form-data":
        text, upload, given = scan_request()
    elif request.is_json:
        given = _json_scan_args()
        text, upload = given.pop("text"), None
    else:
        raise APIError(415, "Send application/json or multipart/form-data.")
    near = {name: given.pop(name) for name in possible.FIELDS if name in given}
    reported_on = given.pop("reported_on", None)  # a report's own, never a default
    options = with_defaults(caller, given)
    if options["project_id"] is not None:
        require_scope(caller, "projects:write")
    return create_scan(caller, text=text, upload=upload, reported_on=reported_on, **options,
                       **near)


def _json_scan_args() -> dict:
    try:
        return ScanRequestSchema().load(request_json())
    except SchemaError as exc:
        raise APIError(422, "The request has invalid or missing fields.",
                       errors=exc.messages) from None


@scans.route("", methods=["GET"])
@authorized("scans:read")
@paginated_response(ScanSummaryPageSchema(), ScanListArgs)
@other_responses({401: "No or bad token", 404: "No such project (or not a member)",
                  422: "Bad filter or page"})
def all(args):
    """Your scans, newest first; with `project_id`, the project's (any member's)"""
    caller = token_auth.current_user()
    project_id = args.pop("project_id", None)
    if project_id is not None:
        require_scope(caller, "projects:read")
        project_id = project_for(caller, project_id).id
    return scan_page(caller.id, args, project_id=project_id)


@scans.route("/<scan_id>", methods=["GET"])
@authorized("scans:read")
@response(scan_schema)
@other_responses({401: "No or bad token", 404: "No such scan (or not yours)"})
def get(scan_id):
    """A scan with its findings (its project's members and admins may read it too)"""
    return readable_scan(scan_id)


@scans.route("/<scan_id>", methods=["PATCH"])
@authorized("scans:write")
@json_body(ScanUpdateSchema)
@response(scan_schema)
@other_responses({401: "No or bad token", 403: "Not your scan, or not an editor of the project",
                  404: "No such scan or project (or not yours)",
                  409: "The scan moved to another project while its date changed",
                  422: "Bad project_id; a reported_on that is no date from 1900 to tomorrow; "
                       "neither field"})
def update(args, scan_id):
    """Move a scan or date its report again

    `project_id`: move your scan into a project (its findings join the register) or out of
    one (null); only the person who made a scan may move it. `reported_on`: the report's
    date, corrected (its `reported_on_from` becomes `given`): in a project, its register
    entries' first and last seen, their wording (the latest report's), the changes'
    default pair and the trend follow; a closed risk stays closed. Who may: the scan's
    owner, or an editor or owner of its project (a viewer: 403).
    """
    caller = token_auth.current_user()
    if "project_id" not in args:
        return redate_scan(editable_scan(scan_id), args["reported_on"], caller)
    scan = readable_scan(scan_id)
    if scan.user_id != caller.id:
        raise APIError(403, "Only the person who made a scan may move it.")
    if scan.project_id is not None or args["project_id"] is not None:
        require_scope(caller, "projects:write")
    check_scan_edit(caller, scan)  # out of a project they only view: 403
    if "reported_on" in args:  # before the move: the register it joins takes the new date
        redate_scan(scan, args["reported_on"], caller, commit=False)
    scan = move_scan(scan, args["project_id"], caller)
    db.session.commit()  # a move to where the scan is commits nothing itself
    return scan


@scans.route("/<scan_id>/file", methods=["GET"])
@authorized("scans:read")
@other_responses({200: "The original file, as an attachment",
                  401: "No or bad token", 404: "No such scan, not yours, or no file"})
def file(scan_id):
    """Download the original document of a scan"""
    scan = readable_scan(scan_id)
    path = original_path(scan)
    if path is None or not path.is_file():
        raise APIError(404, "This scan has no stored file.")
    return send_file(path, mimetype=scan.media_type, as_attachment=True,
                     download_name=safe_display_name(scan.filename) or scan.stored_filename)


@scans.route("/<scan_id>/text", methods=["GET"])
@authorized("scans:read")
@other_responses({200: "`{text}`: the text the scan analysed, its findings' offsets point "
                       "into it", 401: "No or bad token",
                  404: "No such scan (or not yours), or one stored before scans kept their "
                       "text"})
def text(scan_id):
    """The text a scan analysed (a document's as extracted), for showing it whole"""
    scan = readable_scan(scan_id)
    if scan.text is None:
        raise APIError(404, "This scan was stored before scans kept their text.")
    return {"text": scan.text}


@scans.route("/<scan_id>", methods=["DELETE"])
@authorized("scans:write")
@other_responses({204: "Deleted, with its stored file", 401: "No or bad token",
                  403: "A viewer of the scan's project", 404: "No such scan (or not yours)"})
def delete(scan_id):
    """Delete a scan (yours, or your project's as an editor), its stored file and its place
    in the register"""
    delete_scan(editable_scan(scan_id), actor_id=token_auth.current_user().id)
    return "", 204


@scans.route("/<scan_id>/findings/<finding_id>", methods=["PATCH"])
@authorized("scans:write")
@corrections_per_user
@json_body(CorrectionSchema)
@response(finding_schema)
@other_responses({401: "No or bad token", 403: "A viewer of the scan's project",
                  404: "No such scan or finding (or not yours)",
                  422: "Not one of the eleven labels; a scope not report or later, or "
                       "with a risk label",
                  429: "Too many corrections; see Retry-After"})
def correct(args, scan_id, finding_id):
    """Correct a finding's category; the model's label is kept beside it. In a project, the
    finding moves to the register entry of its new category. `none` takes it out of the
    register, for this report only unless `scope` is `later`: then later findings of the
    project that state the same thing stay out too (each shown on its scan, `dismissed`).
    A risk label for such a kept-out finding restores it into the register: a person's
    label on a finding outranks a dismissal of another"""
    scan = editable_scan(scan_id)
    if scan.project_id is not None:
        # Corrections of a project's findings in turn, each reading the label the one
        # before it left: two people dismissing one finding at once make one dismissal.
        register.hold(scan.project_id, first=True)
        scan = editable_scan(scan_id)
    finding = missed.of(scan, finding_id)
    before, kept_out = finding.effective_category, finding.dismissed is not None
    caller = token_auth.current_user()
    corrections.corrected(finding, caller, args["category"])
    scope = args.get("scope")
    embed = lambda texts: current_encoder().embed(texts)
    if finding.possible:
        # A near miss was never in the register: confirmed, it joins it; dismissed, it
        # stays out (and later ones like it too, with scope `later`).
        moved = finding.effective_category != "none"
        finding.possible = not moved
    else:  # a kept-out finding given a risk label joins the register (restored)
        moved = finding.effective_category != before or (
            kept_out and finding.effective_category != "none")
    if scan.project_id is not None:  # its entry follows; a scope alone: none already
        register.hold(scan.project_id).correct_finding(
            scan, finding, was=before, moved=moved, actor_id=caller.id, embed=embed,
            later=None if scope is None else scope == "later")
    db.session.commit()
    return finding


@scans.route("/<scan_id>/findings", methods=["POST"])
@authorized("scans:write")
@corrections_per_user
@idempotent(may_change_scan)
@json_body(AddedFindingSchema)
@response(finding_schema, 201)
@other_responses({401: "No or bad token", 403: "A viewer of the scan's project",
                  404: "No such scan (or not yours)",
                  409: "The scan was stored before scans kept their text",
                  422: "Offsets outside the text or over no sentence; a sentence that is "
                       "already a finding of the scan; not one of the ten risk labels",
                  429: "Too many corrections; see Retry-After"})
def add_finding(args, scan_id):
    """Add a risk the model missed

    `{start, end, category}`: offsets into the scan's text (`text[start:end]`, as the
    findings' own) and one of the ten risk labels. The finding is the sentence those
    offsets overlap most, `added_by_user: true` with a `null` score; it counts like a
    model's finding, joins the register of the scan's project and is a row of your
    feedback export. Who may: as for a correction.
    """
    scan = editable_scan(scan_id)
    sentence = missed.snap(scan, args["start"], args["end"])
    project_id = scan.project_id
    vector = (current_encoder().embed([sentence.text])[0] if project_id is not None
              else None)  # before any lock is taken
    scan = _locked_scan(scan_id, project_id)
    finding = missed.add(scan, sentence, args["category"], token_auth.current_user(), vector)
    db.session.commit()
    return finding, 201, {"Location": url_for("scans.finding", scan_id=scan.id,
                                              finding_id=finding.id)}


@scans.route("/<scan_id>/findings/<finding_id>", methods=["GET"])
@authorized("scans:read")
@response(finding_schema)
@other_responses({401: "No or bad token", 404: "No such scan or finding (or not yours)"})
def finding(scan_id, finding_id):
    """One finding of a scan (who may read the scan may read it)"""
    return missed.of(readable_scan(scan_id), finding_id)


@scans.route("/<scan_id>/findings/<finding_id>", methods=["DELETE"])
@authorized("scans:write")
@other_responses({204: "Deleted, and out of the register", 401: "No or bad token",
                  403: "A viewer of the scan's project",
                  404: "No such scan or finding (or not yours)",
                  409: "A model's finding: correct it to none instead"})
def remove_finding(scan_id, finding_id):
    """Delete a risk a person added (out of the register too)

    Only a finding with `added_by_user: true`; a model's finding is a 409: correct it to
    `none` (PATCH), which keeps what the model said beside what people answered.
    """
    scan = _locked_scan(scan_id, editable_scan(scan_id).project_id)
    missed.remove(scan, finding_id, token_auth.current_user())
    db.session.commit()
    return "", 204


def _locked_scan(scan_id: str, project_id: str | None) -> Scan:
    """The scan, taken for this transaction (missed.lock) and judged again under the lock:
    access may have changed meanwhile. 409 when it moved to another project: the register
    locked is not its own."""
    if not missed.lock(scan_id, project_id):
        raise not_found("scan")
    scan = editable_scan(scan_id)
    if scan.project_id != project_id:
        raise APIError(409, "The scan moved to another project meanwhile: send it again.")
    return scan
