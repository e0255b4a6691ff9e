from datetime import UTC

from marshmallow import ValidationError, fields, validate, validates_schema
from sqlalchemy import select

from service.analysis.labels import LABELS, RISK_LABELS
from service.api import StrictBoolean, StrictFloat, UTCDateTime, page_of
from service.db import RegisterLink
from service.extensions import db, ma
from service.scans import report_dates
from service.scans.listing import ScanSummary

INCLUDE_POSSIBLE_HELP = ("also return the near misses: sentences the model scored from "
                         "`possible_floor` up to the operating point, each `possible: true`, "
                         "in no count and no register until a person confirms one (PATCH its "
                         "category; `none` dismisses it). The LLM has none")
POSSIBLE_FLOOR_HELP = ("the lowest risk score (0–1) of a near miss, read only with "
                       "include_possible; null: POSSIBLE_FLOOR")
SCOPES = ("report", "later")  # what a dismissal covers: this report only, or later ones too
REPORTED_ON_HELP = ("the date of the report (YYYY-MM-DD, from 1900 to tomorrow): the register "
                    "dates and orders reports by it; null, empty or left out: the date the "
                    "document states in its title or first lines (year first, or the month by "
                    "its English name), else in its file name, else the upload day (UTC); the "
                    "answer's `reported_on_from` says which")
REPORTED_ON_FROM_HELP = ("where `reported_on` came from: `given` (the request's, or a later "
                         "PATCH), `document` (its title or first lines), `filename`, "
                         "`upload_day` (none found), `job` (a batch job's rule); null for a "
                         "scan stored before this was kept")
TITLE_HELP = ("a name for the scan from its text: the first heading (its `#` markers dropped) "
              "in the first 4,000 characters, else the first line; at most 60 characters, "
              "a longer one cut at a word with …; null for a scan stored before scans kept "
              "their text")
MIN_SCORE_HELP = ("report a sentence when the model's risk score reaches this (0–1): higher "
                  "finds fewer risks, more surely; null: MODEL_MIN_SCORE, else the model's "
                  "own operating point. The LLM's findings all score 1.")


class ScanOptions(ma.Schema):
    """The fields of a scan request that each user's settings give defaults for: a request
    that leaves one out gets the caller's (service/scans/defaults.py). The settings load
    them with this same schema (users/schemas.py), so that a default is judged exactly as
    a request's field is."""

    force_llm = StrictBoolean(metadata={"description": "analyse with the LLM, not the model"})
    min_score = StrictFloat(allow_none=True, allow_nan=False,
                            validate=validate.Range(min=0, max=1),
                            metadata={"description": MIN_SCORE_HELP})
    project_id = fields.String(allow_none=True, validate=validate.Length(max=36), metadata={
        "description": "add the scan to this project and its risk register (editor or "
                       "owner); null: none"})


class ScanRequestSchema(ScanOptions):
    """JSON body of POST /api/v1/scans (multipart takes the same fields plus ``file``). A
    field left out takes the caller's default (GET /api/v1/auth/me/settings)."""

    text = fields.String(required=True, metadata={
        "description": "the text to analyse", "example": "UAT may slip two weeks if the test "
        "environment is not ready. The steering committee has not met since March."})
    include_possible = StrictBoolean(metadata={"description": INCLUDE_POSSIBLE_HELP})
    possible_floor = StrictFloat(allow_none=True, allow_nan=False,
                                 validate=validate.Range(min=0, max=1),
                                 metadata={"description": POSSIBLE_FLOOR_HELP})
    reported_on = report_dates.ReportDate(allow_none=True, validate=report_dates.check,
                                          metadata={"description": REPORTED_ON_HELP,
                                                    "pattern": r"^(19[0-9]{2}|[2-9][0-9]{3})-[0-9]{2}-[0-9]{2}$"})


class AddedFindingSchema(ma.Schema):
    """POST /api/v1/scans/{id}/findings: a risk the model missed, by offsets into the
    scan's text; the service snaps them to the sentence they overlap most."""

    start = fields.Integer(required=True, strict=True, validate=validate.Range(min=0),
                           metadata={"description": "offset of the risk's first character in "
                                                    "the analysed text"})
    end = fields.Integer(required=True, strict=True, validate=validate.Range(min=1),
                         metadata={"description": "offset just past its last character "
                                                  "(more than start, at most the text's length)"})
    category = fields.String(required=True, validate=validate.OneOf(RISK_LABELS),
                             metadata={"description": "one of the ten risk labels (not `none`)"})

    @validates_schema
    def _a_span(self, data, **kwargs):
        if "start" in data and "end" in data and data["end"] <= data["start"]:
            raise ValidationError("Must be more than start.", "end")


class ScanUpdateSchema(ma.Schema):
    """PATCH /api/v1/scans/{id}: move a scan into a project, or out (null); date its report
    again. One of the two at least."""

    project_id = fields.String(allow_none=True, validate=validate.Length(max=36),
                               metadata={"description": "a project you may edit, or null "
                                                        "(only the scan's owner may move it)"})
    reported_on = report_dates.ReportDate(validate=report_dates.check, metadata={
        "description": "the report's date (YYYY-MM-DD, from 1900 to tomorrow): its register "
                       "entries' first and last seen, the changes and the trend follow",
        "pattern": r"^(19[0-9]{2}|[2-9][0-9]{3})-[0-9]{2}-[0-9]{2}$"})

    @validates_schema
    def _something(self, data, **kwargs):
        if not data:
            said = ["Send project_id, reported_on or both."]
            raise ValidationError({"project_id": said, "reported_on": said})


def register_entries_of(scan) -> dict[int, int]:
    """finding id -> the register entry it joined, for every finding of ``scan`` at once:
    one query a scan (register_links by scan_id), not one a finding. Kept on the scan for
    the rest of the dump; a scan in no project has none and costs no query."""
    kept = getattr(scan, "_register_entries", None)
    if kept is None:
        kept = {} if scan.project_id is None else dict(db.session.execute(
            select(RegisterLink.finding_id, RegisterLink.entry_id)
            .where(RegisterLink.scan_id == scan.id)).all())
        scan._register_entries = kept
    return kept


class RegisterEntryId(fields.Integer):
    """A finding's register entry, read through its scan (register_entries_of), so that every
    answer holding findings (a scan, a correction, the legacy scans) says the same."""

    def get_value(self, obj, attr, accessor=None, default=None):
        scan = getattr(obj, "scan", None)
        return None if scan is None else register_entries_of(scan).get(obj.id)


class DismissalRefSchema(ma.Schema):
    id = fields.Integer()
    risk = fields.String(metadata={"description": "the wording a member dismissed"})
    dismissed_by = fields.String(allow_none=True, metadata={"description": "a user's id"})
    created_at = UTCDateTime(metadata={"description": "when it was dismissed"})


class DismissalOf(fields.Nested):
    """The dismissal that keeps a finding out of its project's register, or None."""

    def get_value(self, obj, attr, accessor=None, default=None):
        return None if obj.dismissed is None else obj.dismissed.dismissal


def _dismissal_scope(finding) -> str | None:
    if finding.corrected_category != "none" or finding.scan.project_id is None:
        return None
    return "report" if finding.made_dismissal is None else "later"


class FindingSchema(ma.Schema):
    id = fields.Integer(metadata={"description": "for PATCH …/findings/{finding_id}"})
    risk = fields.String(metadata={"description": "the sentence"})
    category = fields.String(metadata={"description": "the analyzer's label"})
    context = fields.String(metadata={"description": "the sentence with its neighbours"})
    score = fields.Float(allow_none=True, metadata={
        "description": "the model's calibrated probability that the sentence states a risk "
                       "(the LLM's findings: 1; null for one a person added)"})
    start = fields.Integer(metadata={"description": "offset of the sentence in the analysed text"})
    end = fields.Integer()
    corrected_category = fields.String(allow_none=True,
                                       metadata={"description": "a user's correction"})
    review = fields.String(allow_none=True, dump_only=True, metadata={
        "description": "a reviewer's decision on the correction: pending, accepted, or "
                       "rejected (the analyzer's label stands again, in the counts and the "
                       "register); null without a correction"})
    dismissed = fields.Function(lambda finding: finding.dismissed is not None,
                                dump_only=True, metadata={
        "type": "boolean", "description": "kept out of the project's register: it states "
                                          "what a member dismissed before (`dismissal`)"})
    dismissal_scope = fields.Function(_dismissal_scope, dump_only=True, allow_none=True,
                                      metadata={"type": "string", "enum": [*SCOPES, None],
        "description": "for a finding corrected to none in a project: `later` while its "
                       "dismissal keeps later restatements out, else `report`; null otherwise"})
    dismissal = DismissalOf(DismissalRefSchema, allow_none=True, dump_only=True, metadata={
        "description": "the dismissal it matched (DELETE "
                       "/api/v1/projects/{project_id}/dismissals/{id} restores it), or null"})
    risk_id = RegisterEntryId(allow_none=True, dump_only=True, metadata={
        "description": "the project's register entry the finding joined "
                       "(GET /api/v1/projects/{project_id}/risks/{risk_id}); null when the "
                       "scan is in no project or the finding is not a risk (none)"})
    added_by_user = fields.Boolean(metadata={
        "description": "a risk the model missed, added by a person (POST "
                       "/api/v1/scans/{id}/findings): its label is theirs, its score null"})
    possible = fields.Boolean(metadata={
        "description": "a near miss (include_possible), scored below the operating point: "
                       "in no count and no register until a person confirms it"})


class ScanSummarySchema(ma.Schema):
    scan_id = fields.String(attribute="id")
    project_id = fields.String(allow_none=True, metadata={"description": "its project, if any"})
    source = fields.String(metadata={"description": "model or llm"})
    model_version = fields.String()
    timestamp = fields.DateTime(attribute="created_at")
    reported_on = fields.Date(metadata={"description": "the date of the report it read"})
    reported_on_from = fields.String(allow_none=True, metadata={
        "description": REPORTED_ON_FROM_HELP,
        "enum": ["given", "document", "filename", "upload_day", "job", None]})
    filename = fields.String(allow_none=True)
    title = fields.String(allow_none=True, metadata={"description": TITLE_HELP})
    media_type = fields.String(allow_none=True)
    text_length = fields.Integer()
    counts = fields.Method("get_counts", metadata={"description": "findings per category"})

    def get_counts(self, scan):
        return scan.counts()


class ScanSchema(ScanSummarySchema):
    data = fields.List(fields.Nested(FindingSchema), attribute="findings")
    dropped = fields.Integer(metadata={
        "description": "LLM answers rejected by validation (unknown category, not in the text)"})


#: A search holds no control character but a tab or a line break (what a text may hold
#: between its words): SQLite reads a LIKE pattern only up to a NUL, so ``%00`` matched every
#: scan. A pattern, so that the OpenAPI spec says it too.
NO_CONTROL = validate.Regexp(r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$",
                             error="Must not contain control characters.")


class ScanFilterSchema(ma.Schema):
    source = fields.String(validate=validate.OneOf(("model", "llm")))
    category = fields.String(validate=validate.OneOf(LABELS[:-1]),
                             metadata={"description": "scans with a finding of this category"})
    created_after = UTCDateTime(default_timezone=UTC, metadata={
        "description": "ISO 8601; UTC when no zone is given"})
    created_before = UTCDateTime(default_timezone=UTC)
    q = fields.String(validate=[validate.Length(max=255), NO_CONTROL], metadata={
        "description": "part of the filename, the title or the text (any case of a letter; "
                       "% and _ are themselves; no control character but a tab or a line break)"})
    project_id = fields.String(validate=validate.Length(max=36), metadata={
        "description": "the scans of this project (any member's), instead of your own"})


SCOPE_HELP = (
    "with `category: none`, what the dismissal covers: `report` (this report only; the "
    "default for a finding newly dismissed) or `later` (this report and later ones: later "
    "findings of the project that state the same thing are kept out of the register, shown "
    "folded on their scan's page). Sent for a finding already dismissed it changes the "
    "scope (`report` lifts its dismissal); left out, an existing scope is kept")


class CorrectionSchema(ma.Schema):
    category = fields.String(required=True, validate=validate.OneOf(LABELS),
                             metadata={"description": "the right label (`none`: not a risk)"})
    scope = fields.String(validate=validate.OneOf(
        SCOPES, error="scope is report (this report only) or later (this report and later "
                      "ones)."), metadata={"description": SCOPE_HELP, "enum": list(SCOPES)})

    @validates_schema
    def _scope_with_none(self, data, **_kwargs):
        """A scope says what a dismissal covers: a risk label makes none."""
        if "scope" in data and data.get("category") not in (None, "none"):
            raise ValidationError("scope goes with category none only.", "scope")


class ScanSummaryPageSchema(page_of(ScanSummarySchema)):
    """A page of the list (GET /api/v1/scans). Its fields document the answer (OpenAPI);
    a page of ScanSummary rows, the list's own, is written by ScanSummary.to_json, which
    gives what the fields would, only faster (the list is the busiest read)."""

    def dump(self, obj, *, many=None):
        if many or not all(isinstance(item, ScanSummary) for item in obj["items"]):
            return super().dump(obj, many=many)
        return {"items": [item.to_json() for item in obj["items"]], "page": obj["page"],
                "per_page": obj["per_page"], "total": obj["total"]}
