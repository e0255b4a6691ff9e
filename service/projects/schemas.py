"""Request and response shapes of the projects, their members and their risk register."""

from __future__ import annotations

import unicodedata

from marshmallow import ValidationError, fields, validate, validates

from service import rating
from service.analysis.labels import RISK_LABELS
from service.api import PageArgs, Prepared, QueryBoolean, page_of
from service.db import ACTIVE, JOINED_BY, PROJECT_ROLES, RISK_STATUSES
from service.extensions import ma

NOTES_MAX = 5000


def _not_blank(value: str) -> None:
    """Something visible: not only spaces, zero-width or control characters. An empty
    value too, so that it is one message (a Length(min=1) beside it would say another)."""
    if all(unicodedata.category(c)[0] in "ZC" for c in value):
        raise ValidationError("Must not be blank.")


# Bidirectional embeddings, overrides and isolates: text that displays in another order
# than it reads ("Trojan Source"), in the register, its export and every webhook's body.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _plain_text(value: str) -> None:
    """No control character but a tab or a line break (NUL included, which MySQL and a
    spreadsheet would cut or refuse), no bidirectional control and no lone surrogate."""
    if any((unicodedata.category(c) == "Cc" and c not in "\t\n\r") or c in BIDI_CONTROLS
           or unicodedata.category(c) == "Cs" for c in value):
        raise ValidationError("Must not contain control or text-direction characters.")


class ProjectSchema(ma.Schema):
    id = fields.String()
    name = fields.String()
    description = fields.String(allow_none=True)
    role = fields.String(allow_none=True, metadata={
        "description": "your role in it (null: an admin reading a project of others)"})
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ProjectCreateSchema(ma.Schema):
    name = fields.String(required=True, validate=[validate.Length(max=200), _not_blank],
                         metadata={"example": "Billing migration", "minLength": 1})
    description = fields.String(load_default=None, allow_none=True,
                                validate=validate.Length(max=NOTES_MAX))


class ProjectUpdateSchema(ma.Schema):
    name = fields.String(validate=[validate.Length(max=200), _not_blank],
                         metadata={"minLength": 1})
    description = fields.String(allow_none=True, validate=validate.Length(max=NOTES_MAX))


class ProjectListArgs(PageArgs):
    q = fields.String(validate=validate.Length(max=200),
                      metadata={"description": "part of the name"})
    every = fields.Boolean(metadata={"description": "admins: every project, not only yours"})


class MemberListArgs(PageArgs):
    q = fields.String(validate=validate.Length(max=254),
                      metadata={"description": "part of the email"})


class MemberSchema(ma.Schema):
    user_id = fields.String()
    email = fields.String()
    role = fields.String(metadata={"description": "owner, editor or viewer"})
    added_at = fields.DateTime()


class MemberCreateSchema(ma.Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254),
                         metadata={"description": "an existing user's"})
    role = fields.String(required=True, validate=validate.OneOf(PROJECT_ROLES))


class MemberUpdateSchema(ma.Schema):
    role = fields.String(required=True, validate=validate.OneOf(PROJECT_ROLES))


class InvitationCreateSchema(ma.Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254),
                         metadata={"description": "of someone without an account yet"})
    role = fields.String(required=True, validate=validate.OneOf(PROJECT_ROLES),
                         metadata={"description": "what they join as"})


class InvitationSchema(ma.Schema):
    id = fields.String()
    email = fields.String()
    role = fields.String(metadata={"description": "owner, editor or viewer"})
    invited_by = fields.String(allow_none=True, metadata={
        "description": "the owner who made it (their id outlives their account)"})
    invited_by_email = fields.String(allow_none=True, metadata={
        "description": "their email today; null: a deleted account"})
    created_at = fields.DateTime()
    expires_at = fields.DateTime(metadata={
        "description": "INVITATION_TTL_DAYS after it was made; past it, it claims nothing"})


class InvitationCreatedSchema(InvitationSchema):
    token = fields.String(metadata={
        "description": "shown once, in this answer only: hand it to the person, who signs "
                       "up with it (POST /auth/register's invitation; the console's link "
                       "/app/register?invitation=<token>)"})
    emailed = fields.Boolean(metadata={
        "description": "the link was sent to the invited address (the deployment sends "
                       "mail: SMTP_HOST); false: hand it over yourself"})


class FindingRefSchema(ma.Schema):
    scan_id = fields.String()
    finding_id = fields.Integer()
    joined_by = fields.String(allow_none=True, metadata={
        "enum": list(JOINED_BY),
        "description": "how the finding came to this risk: it opened it; the embeddings or "
                       "the pair model joined it as a restatement; a person merged or split "
                       "it; null for one placed before this was recorded"})
    alike = fields.Float(allow_none=True, metadata={
        "description": "for a join, how sure the register was: the cosine with the wording "
                       "it joined (at least REGISTER_MATCH_THRESHOLD), or the pair model's "
                       "probability; null otherwise"})


class Level(fields.Integer):
    """A likelihood or an impact in a body: a JSON integer 1–5 (strict: not "3", 2.5 or
    3.0, which marshmallow's Integer would take; true it refuses either way)."""

    def __init__(self, **kwargs):
        super().__init__(strict=True, validate=validate.Range(min=rating.LEVELS[0],
                                                              max=rating.LEVELS[-1]), **kwargs)


BANDS = tuple(name for name, _, _ in rating.BANDS)


class RiskSchema(Prepared, ma.Schema):
    id = fields.Integer()
    risk = fields.String(metadata={"description": "the latest wording"})
    category = fields.String()
    status = fields.String(metadata={"description": ", ".join(RISK_STATUSES)})
    likelihood = fields.Integer(allow_none=True, metadata={"description": "1–5, null: not "
                                                                          "rated"})
    impact = fields.Integer(allow_none=True, metadata={"description": "1–5, null: not rated"})
    score = fields.Integer(allow_none=True, metadata={
        "description": "likelihood × impact (1–25), null until both are rated"})
    band = fields.String(allow_none=True, metadata={"description": ", ".join(BANDS)})
    owner_id = fields.String(allow_none=True)
    due_date = fields.Date(allow_none=True)
    notes = fields.String(allow_none=True)
    first_seen = fields.Date(metadata={"description": "the date of the first report that "
                                                      "states it (its `reported_on`)"})
    last_seen = fields.Date(metadata={"description": "the date of the latest report that "
                                                     "states it"})
    occurrences = fields.Integer(metadata={"description": "findings that state it"})
    reopened = fields.Boolean(metadata={"description": "stated again after it was closed or "
                                                       "accepted"})
    added_by_user = fields.Boolean(metadata={
        "description": "added by a person (POST …/risks), not found in a report: it keeps "
                       "the wording typed, and the day it was added among its dates"})
    findings = fields.List(fields.Nested(FindingRefSchema))
    says_closed_in = fields.String(allow_none=True, metadata={
        "description": "the report (scan id) whose sentence about it says it is closed, while "
                       "that is its latest finding and it is not settled: close it? (such a "
                       "sentence, `joined_by: closing`, is never its title and reopens "
                       "nothing); null otherwise"})


SORTS = ("last_seen", "first_seen", "occurrences", "category", "status", "due_date", "id",
         "score", "likelihood", "impact")  # unrated ones first ascending, last descending


class RatingFilters(ma.Schema):
    """The rating's filters of the listing and the export (a matrix cell: both levels)."""

    likelihood = fields.Integer(validate=validate.Range(min=rating.LEVELS[0],
                                                        max=rating.LEVELS[-1]))
    impact = fields.Integer(validate=validate.Range(min=rating.LEVELS[0],
                                                    max=rating.LEVELS[-1]))
    min_score = fields.Integer(validate=validate.Range(min=1, max=rating.MAX_SCORE),
                               metadata={"description": "rated entries whose score "
                                                        "(likelihood × impact) reaches this"})
    rated = QueryBoolean(metadata={"description": "false: entries without a score (a level "
                                                  "or both not rated); true: with one"})


#: A status filter: one status, or `active` for every status but closed.
STATUS_FILTER = {"validate": validate.OneOf((*RISK_STATUSES, ACTIVE)), "metadata": {
    "description": f"one of {', '.join(RISK_STATUSES)}, or `{ACTIVE}`: every status but "
                   "closed"}}


class RiskListArgs(RatingFilters, PageArgs):
    withdrawn = fields.Boolean(metadata={
        "description": "true: the withdrawn entries instead (no report states them any more, "
                       "nobody typed them: their findings corrected or their reports deleted; "
                       "each keeps its page and history)"})
    status = fields.String(**STATUS_FILTER)
    category = fields.String(validate=validate.OneOf(RISK_LABELS))
    owner_id = fields.String(validate=validate.Length(max=36))
    q = fields.String(validate=validate.Length(max=200),
                      metadata={"description": "part of the wording or the notes"})
    sort = fields.String(load_default="-last_seen",
                         validate=validate.OneOf(SORTS + tuple(f"-{s}" for s in SORTS)),
                         metadata={"description": "a field, `-` first for descending"})


class RiskExportArgs(RatingFilters):
    format = fields.String(load_default="csv", validate=validate.OneOf(("csv", "xlsx")))
    status = fields.String(**STATUS_FILTER)
    category = fields.String(validate=validate.OneOf(RISK_LABELS))


class RiskUpdateSchema(ma.Schema):
    status = fields.String(validate=validate.OneOf(RISK_STATUSES))
    owner_id = fields.String(allow_none=True, validate=validate.Length(max=36),
                             metadata={"description": "a member of the project, or null"})
    # Years 1900–9999: what a spreadsheet's dates hold (the XLSX export); the pattern says so
    # in the spec, so that clients (and schemathesis) know before they are refused.
    due_date = fields.Date(allow_none=True, metadata={
        "pattern": r"^(19[0-9]{2}|[2-9][0-9]{3})-", "description": "a day from 1900 on"})
    notes = fields.String(allow_none=True, validate=validate.Length(max=NOTES_MAX))
    category = fields.String(validate=validate.OneOf(RISK_LABELS))
    likelihood = Level(allow_none=True, metadata={"description": "1–5, or null: not rated"})
    impact = Level(allow_none=True, metadata={"description": "1–5, or null: not rated"})

    @validates("due_date")
    def _plausible(self, value, **_):
        if value is not None and not 1900 <= value.year <= 9999:
            raise ValidationError("Not a plausible date.")


RISK_MAX = 1000  # a risk typed by hand: a sentence or two
MAX_IDS = 100  # entries a merge takes, findings a split takes (curation.MAX_IDS)
ROW_ID = fields.Integer(strict=True, validate=validate.Range(min=1, max=2 ** 63 - 1))


def _distinct(values: list) -> None:
    if len(set(values)) != len(values):
        raise ValidationError("Each at most once.")


def _ids(description: str, **kwargs) -> fields.List:
    return fields.List(ROW_ID, required=True,
                       validate=[validate.Length(min=1, max=MAX_IDS), _distinct],
                       metadata={"description": description}, **kwargs)


class RiskAddSchema(ma.Schema):
    """POST …/risks: a risk no report stated, added by hand."""

    risk = fields.String(required=True,
                         validate=[validate.Length(max=RISK_MAX), _not_blank, _plain_text],
                         metadata={"description": "the risk, in a sentence", "minLength": 1,
                                   "example": "The data centre lease ends before go-live."})
    category = fields.String(required=True, validate=validate.OneOf(RISK_LABELS))


class MergeSchema(ma.Schema):
    from_ = _ids(f"the ids of the project's risks to merge into this one (1–{MAX_IDS}, each "
                 "once, of its category): they answer 301 to it from then on",
                 data_key="from")


class SplitSchema(ma.Schema):
    findings = _ids(f"the ids of this risk's findings (`findings[].finding_id`, 1–{MAX_IDS}, "
                    "each once, not all of them) to take out into a new risk")


class SuggestionSchema(ma.Schema):
    risk_id = fields.Integer(metadata={"description": "the entry this risk may restate"})
    title = fields.String(metadata={"description": "its wording (the latest report's, or "
                                                   "the one typed)"})
    category = fields.String()
    status = fields.String()
    alike = fields.Float(metadata={"description": "the cosine of their closest wordings "
                                                  "(−1–1)"})
    previous_report = fields.Boolean(metadata={
        "description": "it was stated in the project's report just before the one that "
                       "first stated this risk (ranked higher for it)"})
    wording = fields.String(metadata={"description": "this risk's wording, to read beside "
                                                     "`title`"})


class SuggestionListSchema(ma.Schema):
    items = fields.List(fields.Nested(SuggestionSchema), metadata={
        "description": "at most 3, best first (how alike, raised when the category is this "
                       "risk's or it was stated in the report before): any category, never "
                       "a pair said not the same"})


class DismissedSuggestionSchema(ma.Schema):
    dismissed = fields.Boolean(metadata={"description": "false: it was said already"})


class ChangesArgs(ma.Schema):
    from_scan = fields.String(validate=validate.Length(max=36))
    to_scan = fields.String(validate=validate.Length(max=36))


class ChangesSchema(Prepared, ma.Schema):
    from_scan = fields.String(allow_none=True)
    to_scan = fields.String(allow_none=True)
    new = fields.List(fields.Nested(RiskSchema))
    persisting = fields.List(fields.Nested(RiskSchema))
    gone = fields.List(fields.Nested(RiskSchema))
    kept_out = fields.Integer(metadata={
        "description": "findings of the later report that dismissals kept out of the "
                       "register (each `dismissed` on its scan; not in new or persisting)"})
    suggested = fields.Dict(keys=fields.String(), values=fields.List(
        fields.Nested(SuggestionSchema)), metadata={
        "description": "per new risk (its id) that may restate a known one, the risks it "
                       "may restate (GET …/risks/{risk_id}/suggestions)"})


class WeekSchema(ma.Schema):
    week = fields.String(metadata={"description": "ISO week, e.g. 2026-W47"})
    start = fields.Date()
    open = fields.Dict(keys=fields.String(), values=fields.Integer(),
                       metadata={"description": "risks open in the week, per category (or "
                                                "rating band: `by=band`)"})


class ScanPointSchema(ma.Schema):
    scan_id = fields.String()
    timestamp = fields.DateTime()
    reported_on = fields.Date(metadata={"description": "the report's date: the points are "
                                                       "in report order"})
    filename = fields.String(allow_none=True)
    stated = fields.Dict(keys=fields.String(), values=fields.Integer(),
                         metadata={"description": "register entries the scan states, per "
                                                  "category (or rating band)"})


class TrendSchema(Prepared, ma.Schema):
    weeks = fields.List(fields.Nested(WeekSchema))
    scans = fields.List(fields.Nested(ScanPointSchema))


class TrendArgs(ma.Schema):
    by = fields.String(load_default="category", validate=validate.OneOf(("category", "band")),
                       metadata={"description": "count per category, or per rating band "
                                                f"({', '.join(BANDS)}, {rating.UNRATED}) "
                                                "of today's ratings"})


class LevelSchema(ma.Schema):
    value = fields.Integer()
    label = fields.String()


class BandSchema(ma.Schema):
    band = fields.String()
    min_score = fields.Integer()
    max_score = fields.Integer()


class ScaleSchema(ma.Schema):
    """The rating scale of this deployment (service/rating.py)."""

    likelihood = fields.List(fields.Nested(LevelSchema))
    impact = fields.List(fields.Nested(LevelSchema))
    bands = fields.List(fields.Nested(BandSchema))


class CellSchema(ma.Schema):
    likelihood = fields.Integer()
    impact = fields.Integer()
    score = fields.Integer()
    band = fields.String()
    count = fields.Integer()
    risk_ids = fields.List(fields.Integer())


class UnratedSchema(ma.Schema):
    count = fields.Integer()
    risk_ids = fields.List(fields.Integer())


class MatrixArgs(ma.Schema):
    status = fields.String(load_default=ACTIVE, **STATUS_FILTER)


class MatrixSchema(Prepared, ma.Schema):
    scale = fields.Nested(ScaleSchema)
    status = fields.String(metadata={"description": "the status filter counted"})
    statuses = fields.List(fields.String(), metadata={
        "description": "the statuses counted: the legend's words"})
    cells = fields.List(fields.Nested(CellSchema), metadata={
        "description": "all 25 (likelihood, impact) cells, likelihood 5 first, impact 1 "
                       "first: the matrix's rows as drawn"})
    unrated = fields.Nested(UnratedSchema, metadata={
        "description": "counted entries without a score"})


class DismissalSchema(ma.Schema):
    id = fields.Integer(metadata={"description": "for DELETE …/dismissals/{dismissal_id}"})
    risk = fields.String(metadata={"description": "the wording a member said is not a risk"})
    category = fields.String(metadata={"description": "its label before the correction: "
                                                      "later findings of it are matched"})
    dismissed_by = fields.String(allow_none=True, metadata={"description": "a user's id"})
    created_at = fields.DateTime()
    scan_id = fields.String(allow_none=True, metadata={
        "description": "the scan whose finding was corrected (null: deleted since)"})
    finding_id = fields.Integer(allow_none=True)
    kept_out = fields.Integer(metadata={
        "description": "later findings of the project it keeps out of the register (it "
                       "is \"this report and later ones\"; \"this report only\" makes no "
                       "dismissal)"})


class RegisterEventSchema(ma.Schema):
    """One change to a register entry, with its cause (docs/register.md, history)."""
    id = fields.Integer()
    entry_id = fields.Integer(metadata={
        "description": "the entry it changed: this one, or one merged into it since"})
    at = fields.DateTime()
    kind = fields.String(metadata={"description": "opened, stated, reopened, moved, "
                                                  "unstated, edited or merged"})
    cause = fields.String(metadata={"description": "report, edit, added, correction, review, "
                                                   "dismissal, merge, split, deletion, "
                                                   "membership or redate"})
    actor_id = fields.String(allow_none=True, metadata={"description": "who, a user's id"})
    scan_id = fields.String(allow_none=True, metadata={"description": "which report"})
    job_id = fields.String(allow_none=True, metadata={"description": "which batch job"})
    changes = fields.Dict(metadata={"description": "{field: {from, to}}"})
    note = fields.String(allow_none=True, metadata={"description": "what a person reads"})


RegisterEventPageSchema = page_of(RegisterEventSchema)
ProjectPageSchema = page_of(ProjectSchema)
DismissalPageSchema = page_of(DismissalSchema)
MemberPageSchema = page_of(MemberSchema)
InvitationPageSchema = page_of(InvitationSchema)


class RiskPageSchema(Prepared, page_of(RiskSchema)):
    """A page of the register (queries.risk_page writes it: Written)."""
