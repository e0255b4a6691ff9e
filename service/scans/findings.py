"""Findings: the review queue across your own scans, and your corrections as training data."""

# The review page (/app/review) reads these; so may a script with a scans:read key. Only the
# caller's own scans count, admins included: reviewing is labelling one's own documents,
# and an admin reads others' scans one at a time (GET /api/v1/scans/{id}), not in bulk.

from __future__ import annotations

from functools import cache

from apifairy import other_responses, response
from flask import Blueprint, Response, current_app
from marshmallow import fields, validate
from sqlalchemy import Select, bindparam, func, select

from service.analysis.labels import LABELS
from service.api import PageArgs, QueryBoolean, page_of, paginate, query
from service.auth.scopes import authorized
from service.db import Dismissal, DismissedFinding, RegisterLink, Scan, ScanFinding
from service.extensions import ma, token_auth
from service.scans.feedback import MEDIA_TYPE, feedback_rows, jsonl_line
from service.scans.schemas import DismissalRefSchema, FindingSchema
from service.serving.holder import current_analyzers

findings = Blueprint("findings", __name__)
SCORE_SLACK = 1e-6  # far below a score's meaningful digits, above a 4-byte float's error
SORTS = ("nearest", "newest")
UNCALIBRATED_POINT = 0.5  # the operating point of a model folder without calibration.json

FEEDBACK_FILENAME = "riskscan-feedback.jsonl"


class FindingFilterSchema(ma.Schema):
    max_score = fields.Float(validate=validate.Range(min=0, max=1), allow_nan=False, metadata={
        "description": "findings whose score is at most this (0–1): the model's doubtful "
                       "ones"})
    corrected = QueryBoolean(metadata={"description": "true: findings you labelled; false: "
                                                      "the ones you have not"})
    category = fields.String(validate=validate.OneOf(LABELS), metadata={
        "description": "the category that counts: yours if you corrected it, else the "
                       "analyzer's (`none`: corrected to not a risk)"})
    source = fields.String(validate=validate.OneOf(("model", "llm")),
                           metadata={"description": "the scan's analyzer"})
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


_scans = Scan.__table__
_findings = ScanFinding.__table__
_links = RegisterLink.__table__
_kept_out = DismissedFinding.__table__
_dismissals = Dismissal.__table__
_made = Dismissal.__table__.alias("made")  # the dismissal a finding's own correction made
_ITEM = (_findings.c.id, _findings.c.risk, _findings.c.category, _findings.c.context,
         _findings.c.score, _findings.c.start_offset.label("start"),
         _findings.c.end_offset.label("end"), _findings.c.corrected_category,
         _links.c.entry_id.label("risk_id"), _findings.c.added_by_user, _findings.c.possible,
         _findings.c.scan_id, _scans.c.filename, _scans.c.title,
         _scans.c.created_at, _kept_out.c.dismissal_id, _dismissals.c.risk.label("dismissed_risk"),
         _dismissals.c.dismissed_by, _dismissals.c.created_at.label("dismissed_at"),
         _scans.c.project_id, _made.c.id.label("made_id"))


@cache
def _queries(filters: frozenset[str], sort: str = "newest") -> tuple[Select, Select]:
    """(page query, count query) for one combination of filters and an order, built once.

    The caller's scans come by ix_scans_user_id_created_at, their findings by
    ix_findings_scan_id, a finding's register entry by its primary key (register_links); the
    filters then judge those rows only. No index on score or on the corrected label: it would
    cover every user's findings, while this query only ever looks at one user's, which the
    two indexes already narrow to."""
    where = [_scans.c.user_id == bindparam("owner")]
    if "max_score" in filters:  # a NULL score (none so far) is not "at most" anything
        where.append(_findings.c.score <= bindparam("max_score"))
    if "corrected" in filters:
        where.append(_findings.c.corrected_category.is_not(None))
    if "uncorrected" in filters:
        where.append(_findings.c.corrected_category.is_(None))
    if "category" in filters:
        where.append(func.coalesce(_findings.c.corrected_category, _findings.c.category)
                     == bindparam("category"))
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
                         .outerjoin(_made, _made.c.finding_id == _findings.c.id))
            .where(*where)
            .order_by(*order)
            .limit(bindparam("limit")).offset(bindparam("offset")))
    count = select(func.count()).select_from(joined).where(*where)
    return page, count


def finding_page(user_id: str, args: dict) -> dict:
    """``{items, page, per_page, total}`` of the user's findings, nearest the operating
    point first or newest scan first (``sort``), in one query (the total by a window
    count; a second only for a page past the last)."""
    params = {name: args[name] for name in ("max_score", "category", "source") if name in args}
    if "max_score" in params:
        # MySQL keeps scores as 4-byte floats (0.55 is 0.550000011920929 there): "at most
        # 0.55" must not lose a score the API shows as 0.55.
        params["max_score"] += SCORE_SLACK
    filters = set(params)
    if "corrected" in args:
        filters.add("corrected" if args["corrected"] else "uncorrected")
    sort = args.get("sort", "nearest")
    page, count = _queries(frozenset(filters), sort)
    params["owner"] = user_id
    if sort == "nearest":
        params["point"] = operating_point()
    return paginate(page, args, count=count, params=params, windowed=True, items=_unwindowed)


def operating_point() -> float:
    """The deployment's operating point: MODEL_MIN_SCORE, else the served model's own."""
    settings = current_app.config["SETTINGS"]
    if settings.MODEL_MIN_SCORE is not None:
        return settings.MODEL_MIN_SCORE
    point = getattr(current_analyzers().model, "min_score", None)
    return UNCALIBRATED_POINT if point is None else point


def _item(row) -> dict:
    item = {name: value for name, value in row._mapping.items()
            if name not in ("total", "dismissal_id", "dismissed_risk", "dismissed_by",
                            "dismissed_at", "project_id", "made_id")}
    item["dismissal_scope"] = (None if row.corrected_category != "none" or not row.project_id
                               else "later" if row.made_id is not None else "report")
    item["dismissed"] = row.dismissal_id is not None
    item["dismissal"] = (None if row.dismissal_id is None
                         else {"id": row.dismissal_id, "risk": row.dismissed_risk,
                               "dismissed_by": row.dismissed_by,
                               "created_at": row.dismissed_at})
    return item


def _unwindowed(rows) -> list[dict]:
    return [_item(row) for row in rows]


@findings.route("", methods=["GET"])
@authorized("scans:read")
@query(FindingListArgs)
@response(page_of(ReviewFindingSchema))
@other_responses({401: "No or bad token", 422: "Bad filter or page"})
def all(args):
    """Your findings across your own scans: a review queue

    Those whose score is nearest the deployment's operating point come first, where your
    answer teaches the model the most (`sort=newest`: newest scan first). `max_score` lists
    the model's doubtful findings, `corrected=false` the ones you have not labelled yet.
    Only your own scans count, for admins too.
    """
    return finding_page(token_auth.current_user().id, args)


@findings.route("/feedback", methods=["GET"])
@authorized("scans:read")
@other_responses({200: f"{MEDIA_TYPE}: one {{text, label, source}} per sentence you "
                       f"corrected, as an attachment ({FEEDBACK_FILENAME})",
                  401: "No or bad token"})
def feedback():
    """Your corrections as training data (JSONL)

    The rows `flask export-feedback --user <you>` writes: one per corrected sentence of your
    scans, newest correction first; a sentence corrected twice counts once, with its newest
    label.
    """
    # In memory, like the register's export: a user's corrections are made one by one by
    # hand, so the file stays small.
    body = "".join(jsonl_line(row) for row in feedback_rows(token_auth.current_user().id))
    return Response(body.encode("utf-8"), mimetype=MEDIA_TYPE, headers={
        "Content-Disposition": f'attachment; filename="{FEEDBACK_FILENAME}"'})
