"""The seed-004 contract that existing front ends use, answered by the same code.

``POST /api/scan`` (multipart ``file``, ``text``, ``force_llm``), ``GET /api/scans``,
``GET/DELETE /api/scans/{id}``; each scan as ``{scan_id, data, source, timestamp}``.
The auth routes are the v1 blueprint registered a second time under ``/api/auth``.
"""

from __future__ import annotations

from apifairy import other_responses, response
from flask import Blueprint
from marshmallow import EXCLUDE, fields
from sqlalchemy import select

from service.api import PageArgs, paginate, query
from service.auth.scopes import authorized
from service.db import Scan
from service.extensions import ma, token_auth
from service.rate_limits import scans_per_user
from service.scans import routes as v1
from service.scans.create import delete_scan
from service.scans.schemas import FindingSchema

legacy_scans = Blueprint("legacy_scans", __name__)


class LegacyScanSchema(ma.Schema):
    scan_id = fields.String(attribute="id")
    data = fields.List(fields.Nested(FindingSchema), attribute="findings")
    source = fields.String()
    timestamp = fields.DateTime(attribute="created_at")
    filename = fields.String(allow_none=True)


legacy_scan_schema = LegacyScanSchema()


@legacy_scans.route("/scan", methods=["POST"])
@authorized("scans:write")
@scans_per_user
@response(legacy_scan_schema, 201)
@other_responses(v1.SCAN_ERRORS | {429: "Too many scans; see Retry-After"})
def new():
    """Analyse a text or a document (seed-004 contract; see POST /api/v1/scans)"""
    return v1.scan_from_request()


@legacy_scans.route("/scans", methods=["GET"])
@authorized("scans:read")
@query(PageArgs, unknown=EXCLUDE)  # old front ends may send extra parameters
@response(LegacyScanSchema(many=True))
@other_responses({401: "No or bad token"})
def all(args):
    """Your scans, newest first (seed-004 contract: a plain list)"""
    # Paged by PageArgs, but not answered by paginated_response: its old contract answers a
    # bare list (the other lists not so answered: docs/architecture.md, "Lists").
    statement = (select(Scan).where(Scan.user_id == token_auth.current_user().id)
                 .order_by(Scan.created_at.desc(), Scan.id))
    return paginate(statement, args)["items"]


@legacy_scans.route("/scans/<scan_id>", methods=["GET"])
@authorized("scans:read")
@response(legacy_scan_schema)
@other_responses({401: "No or bad token", 403: "An API key without the scope it needs",
                  404: "No such scan (or not yours)"})
def get(scan_id):
    """A scan (seed-004 contract; who may read it: as GET /api/v1/scans/{id})"""
    return v1.readable_scan(scan_id)


@legacy_scans.route("/scans/<scan_id>", methods=["DELETE"])
@authorized("scans:write")
@other_responses({401: "No or bad token", 403: "A viewer of the scan's project; an API key "
                  "without the scope it needs", 404: "No such scan (or not yours)"})
def delete(scan_id):
    """Delete a scan (seed-004 contract; who may: as DELETE /api/v1/scans/{id})"""
    delete_scan(v1.editable_scan(scan_id), actor_id=token_auth.current_user().id)
    return "", 204
