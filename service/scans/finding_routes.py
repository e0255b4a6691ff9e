"""Findings: the review queue (your scans and those of the projects you edit or own), and
your corrections as training data."""

# The review page (/app/review) reads these; so may a script with a scans:read key. The
# queue is what the caller may answer: their own scans and every scan of a project they edit
# or own (a team reviews its project's reports together). ``project_id`` narrows it to one
# project the caller may read: its viewers and admins who are not its members read that
# project's findings there, each ``answerable: false``, as they read its scans. No one else's
# scan ever counts (a key without projects:read: its user's own scans only).

from __future__ import annotations

from functools import cache

from apifairy import other_responses
from flask import Blueprint, Response
from marshmallow import fields, validate
from sqlalchemy import Select, bindparam, func, or_, select

from service.analysis.labels import LABELS
from service.api import PageArgs, Paged, QueryBoolean, page_of, paginated_response
from service.auth.scopes import authorized, require_scope
from service.config import current_settings
from service.db import (
    Dismissal,
    DismissedFinding,
    ProjectMember,
    RegisterLink,
    Scan,
    ScanFinding,
    effective_label,
)
from service.extensions import ma, token_auth
from service.projects.access import readable_project
from service.scans.correction_export import MEDIA_TYPE, jsonl_line, own_corrections
from service.scans.schemas import DismissalRefSchema, FindingSchema
from service.serving.holder import current_analyzers

findings = Blueprint("findings", __name__)
SCORE_SLACK = 1e-6  # far below a score's meaningful digits, above a 4-byte float's error
SORTS = ("nearest", "newest")
UNCALIBRATED_POINT = 0.5  # the operating point of a model folder without calibration.json

CORRECTIONS_FILENAME = "riskscan-feedback.jsonl"


class FindingFilterSchema(ma.Schema):
    max_score = fields.Float(validate=validate.Range(min=0, max=1), allow_nan=False, metadata={
        "description": "findings whose score is at most this (0–1): the model's doubtful "
                       "ones"})
    corrected = QueryBoolean(metadata={"description": "true: findings answered (confirmed, "
                                                      "corrected or called not a risk, by "
                                                      "anyone who may); false: not answered"})
    category = fields.String(validate=validate.OneOf(LABELS), metadata={
        "description": "the category that counts: yours if you corrected it, else the "
                       "analyzer's (`none`: corrected to not a risk)"})
    source = fields.String(validate=validate.OneOf(("model", "llm")),
                           metadata={"description": "the scan's analyzer"})
    project_id = fields.UUID(metadata={
        "description": "the findings of this project's scans (any member's) only: a project "
                       "you are a member of (viewers: read only), or any for an admin; else "
                       "404"})
    sort = fields.String(load_default="nearest", validate=validate.OneOf(SORTS), metadata={
        "description": "`nearest` (the default): the findings whose score is nearest the "
                       "operating point first, where a person's answer teaches the model the "
                       "most (those without a score last); `newest`: newest scan first"})


class FindingListArgs(PageArgs, FindingFilterSchema):
    pass


class ReviewFindingSchema(FindingSchema):
    """A finding as the scan answer has it, with where it was found."""

    # The scan answer reads them through the finding; here the query joins them (_item).
    dismissed = fields.Boolean(metadata={
        "description": "kept out of the project's register by a dismissal (`dismissal`)"})
    dismissal = fields.Nested(DismissalRefSchema, allow_none=True)
    dismissal_scope = fields.String(allow_none=True, metadata={
        "description": "corrected to none in a project: `later` (its dismissal keeps later "
                       "restatements out) or `report`; null otherwise"})

    # The scan answer reads it through the scan (RegisterEntryId); here the query joins it.
    risk_id = fields.Integer(allow_none=True, metadata={
        "description": "the project's register entry the finding joined; null when the scan "
                       "is in no project or the finding is not a risk (none)"})
    scan_id = fields.String(metadata={"description": "its scan"})
    filename = fields.String(allow_none=True, metadata={"description": "its scan's document"})
    title = fields.String(allow_none=True, metadata={"description": "its scan's title"})
    created_at = fields.DateTime(metadata={"description": "when its scan was made"})
    answerable = fields.Boolean(metadata={
        "description": "whether you may answer it (PATCH …/findings/{id}): your scan outside "
                       "projects, or a scan of a project you edit or own; false for a viewer "
                       "and for an admin who is not a member"})


_scans = Scan.__table__
_findings = ScanFinding.__table__
_links = RegisterLink.__table__
_kept_out = DismissedFinding.__table__
_dismissals = Dismissal.__table__
_made = Dismissal.__table__.alias("made")  # the dismissal a finding's own correction made
_members = ProjectMember.__table__
_mine = _members.alias("mine")  # the caller's membership of the finding's project, if any
ANSWERING_ROLES = ("editor", "owner")  # access.check_scan_edit: who may correct a finding
_ITEM = (_findings.c.id, _findings.c.risk, _findings.c.category, _findings.c.context,
         _findings.c.score, _findings.c.start_offset.label("start"),
         _findings.c.end_offset.label("end"), _findings.c.corrected_category,
         _findings.c.review, _links.c.entry_id.label("risk_id"), _findings.c.added_by_user, _findings.c.possible,
         _findings.c.scan_id, _scans.c.filename, _scans.c.title,
         _scans.c.created_at, _kept_out.c.dismissal_id, _dismissals.c.risk.label("dismissed_risk"),
         _dismissals.c.dismissed_by, _dismissals.c.created_at.label("dismissed_at"),
         _scans.c.project_id, _made.c.id.label("made_id"),
         _scans.c.user_id.label("scan_owner"), _mine.c.role.label("my_role"))


@cache
def _queries(filters: frozenset[str], sort: str = "newest") -> tuple[Select, Select]:
    """(page query, count query) for one combination of filters and an order, built once.

    The caller's scans come by ix_scans_user_id_created_at and those of the projects they
    edit or own (or of the one ``project``) by ix_scans_project_id_created_at, their findings
    by ix_findings_scan_id, a finding's register entry by its primary key (register_links);
    the filters then judge those rows only. No index on score or on the corrected label: it
    would cover every user's findings, while this query only ever looks at a team's, which
    the indexes already narrow to."""
    if "project" in filters:
        where = [_scans.c.project_id == bindparam("project")]
    elif "own_only" in filters:  # a key without projects:read: nothing shared
        where = [_scans.c.user_id == bindparam("owner")]
    else:
        edited = (select(_members.c.project_id)
                  .where(_members.c.user_id == bindparam("owner"),
                         _members.c.role.in_(ANSWERING_ROLES)))
        where = [or_(_scans.c.user_id == bindparam("owner"), _scans.c.project_id.in_(edited))]
    if "max_score" in filters:  # a NULL score (none so far) is not "at most" anything
        where.append(_findings.c.score <= bindparam("max_score"))
    if "corrected" in filters:
        where.append(_findings.c.corrected_category.is_not(None))
    if "uncorrected" in filters:
        where.append(_findings.c.corrected_category.is_(None))
    if "category" in filters:
        where.append(effective_label(_findings) == bindparam("category"))
    if "source" in filters:
        where.append(_scans.c.source == bindparam("source"))
    joined = _findings.join(_scans, _findings.c.scan_id == _scans.c.id)
    order = [_scans.c.created_at.desc(), _scans.c.id, _findings.c.position, _findings.c.id]
    if sort == "nearest":  # a NULL score (a person's finding) last, on every backend
        order[:0] = [_findings.c.score.is_(None),
                     func.abs(_findings.c.score - bindparam("point"))]
    page = (select(*_ITEM, func.count().over().label("total"))
            .select_from(joined.outerjoin(_links, _links.c.finding_id == _findings.c.id)
                         .outerjoin(_kept_out, _kept_out.c.finding_id == _findings.c.id)
                         .outerjoin(_dismissals, _dismissals.c.id == _kept_out.c.dismissal_id)
                         .outerjoin(_made, _made.c.finding_id == _findings.c.id)
                         .outerjoin(_mine, (_mine.c.project_id == _scans.c.project_id)
                                    & (_mine.c.user_id == bindparam("owner"))))
            .where(*where)
            .order_by(*order)
            .limit(bindparam("limit")).offset(bindparam("offset")))
    count = select(func.count()).select_from(joined).where(*where)
    return page, count


def finding_page(caller, args: dict) -> Paged:
    """The findings in ``caller``'s queue (or of the project ``project_id``), nearest the
    operating point first or newest scan first (``sort``): the query of a page, one query
    (the total by a window count; a second only for a page past the last)."""
    params = {name: args[name] for name in ("max_score", "category", "source") if name in args}
    filters = set()
    project_id = args.get("project_id")
    if project_id is not None:  # a non-member's project is the 404 of a missing one
        require_scope(caller, "projects:read")
        params["project"] = readable_project(caller, str(project_id))[0]
    elif caller.scopes is not None and "projects:read" not in caller.scopes:
        filters.add("own_only")
    if "max_score" in params:
        # MySQL keeps scores as 4-byte floats (0.55 is 0.550000011920929 there): "at most
        # 0.55" must not lose a score the API shows as 0.55.
        params["max_score"] += SCORE_SLACK
    filters.update(params)
    if "corrected" in args:
        filters.add("corrected" if args["corrected"] else "uncorrected")
    sort = args.get("sort", "nearest")
    page, count = _queries(frozenset(filters), sort)
    params["owner"] = caller.id
    if sort == "nearest":
        params["point"] = operating_point()
    # A key answers only with scans:write, and a project's finding with projects:write too.
    scopes = caller.scopes
    may = {None: scopes is None or "scans:write" in scopes}
    may["project"] = may[None] and (scopes is None or "projects:write" in scopes)
    return Paged(page, count=count, params=params, windowed=True,
                 items=lambda rows: [_item(row, caller.id, may) for row in rows])


def operating_point() -> float:
    """The deployment's operating point: MODEL_MIN_SCORE, else the served model's own."""
    settings = current_settings()
    if settings.MODEL_MIN_SCORE is not None:
        return settings.MODEL_MIN_SCORE
    point = getattr(current_analyzers().model, "min_score", None)
    return UNCALIBRATED_POINT if point is None else point


_NOT_SHOWN = ("total", "dismissal_id", "dismissed_risk", "dismissed_by", "dismissed_at",
              "project_id", "made_id", "scan_owner", "my_role")


def _item(row, caller_id: str, may: dict) -> dict:
    item = {name: value for name, value in row._mapping.items() if name not in _NOT_SHOWN}
    if row.project_id is None:
        item["answerable"] = may[None] and row.scan_owner == caller_id
    else:
        item["answerable"] = may["project"] and row.my_role in ANSWERING_ROLES
    item["dismissal_scope"] = (None if row.corrected_category != "none" or not row.project_id
                               else "later" if row.made_id is not None else "report")
    item["dismissed"] = row.dismissal_id is not None
    item["dismissal"] = (None if row.dismissal_id is None
                         else {"id": row.dismissal_id, "risk": row.dismissed_risk,
                               "dismissed_by": row.dismissed_by,
                               "created_at": row.dismissed_at})
    return item


@findings.route("", methods=["GET"])
@authorized("scans:read")
@paginated_response(page_of(ReviewFindingSchema), FindingListArgs)
@other_responses({401: "No or bad token", 403: "project_id with a key without projects:read",
                  404: "project_id: no such project (or you are not a member)",
                  422: "Bad filter or page"})
def all(args):
    """The review queue: your scans' findings and those of the projects you edit or own

    Those whose score is nearest the deployment's operating point come first, where an
    answer teaches the model the most (`sort=newest`: newest scan first). `max_score` lists
    the model's doubtful findings, `corrected=false` the ones no one has answered yet.
    `project_id`: one project's findings (any member's scans); a viewer or an admin who is
    not a member reads them, each `answerable: false`. No one else's scan counts.
    """
    return finding_page(token_auth.current_user(), args)


@findings.route("/feedback", methods=["GET"])
@authorized("scans:read")
@other_responses({200: f"{MEDIA_TYPE}: one {{text, label, source}} per sentence you "
                       f"corrected, as an attachment ({CORRECTIONS_FILENAME})",
                  401: "No or bad token"})
def feedback():
    """Your corrections as training data (JSONL)

    The rows `flask export-corrections --user <you>` writes: one per corrected sentence of your
    scans, newest correction first; a sentence corrected twice counts once, with its newest
    label.
    """
    # In memory, like the register's export: a user's corrections are made one by one by
    # hand, so the file stays small.
    body = "".join(jsonl_line(row) for row in own_corrections(token_auth.current_user().id))
    return Response(body.encode("utf-8"), mimetype=MEDIA_TYPE, headers={
        "Content-Disposition": f'attachment; filename="{CORRECTIONS_FILENAME}"'})
