"""The risk register: a project's distinct risks across its reports, with status and owner."""

# The module docstring is the OpenAPI tag's description. How findings join entries:
# register/ (its verbs: register/verbs.py); what the routes read: queries.py.

from __future__ import annotations

from apifairy import other_responses, response
from flask import Blueprint, Response, url_for
from sqlalchemy import func, select

from service import rating
from service.api import (
    Written,
    get_or_404,
    json_body,
    not_found,
    paginated_response,
    query,
    segment_but,
)
from service.auth.scopes import authorized
from service.config import current_settings
from service.db import (
    Dismissal,
    DismissedFinding,
    RegisterEntry,
    Scan,
)
from service.errors import APIError
from service.extensions import db, token_auth
from service.projects import queries, register
from service.projects.access import project_for, readable_project, role_in
from service.projects.register_export import attachment, to_csv, to_xlsx
from service.projects.schemas import (
    ChangesArgs,
    ChangesSchema,
    DismissalPageSchema,
    DismissedSuggestionSchema,
    MatrixArgs,
    MatrixSchema,
    MergeSchema,
    RegisterEventPageSchema,
    RiskAddSchema,
    RiskExportArgs,
    RiskListArgs,
    RiskPageSchema,
    RiskSchema,
    RiskUpdateSchema,
    SplitSchema,
    SuggestionListSchema,
    TrendArgs,
    TrendSchema,
)
from service.serving.encoder import current_encoder

risks = Blueprint("risks", __name__)


segment_but(risks, "riskid", "export")  # …/risks/export is not a risk

NOT_MEMBER = "No such project (or you are not a member)"


def _number(value: str, what: str) -> int:
    """A row's integer id from a path; anything else is the 404 of a missing one."""
    if not (value.isascii() and value.isdigit()) or len(value) > 18:  # not "³"
        raise not_found(what)
    return int(value)


def _entry(project_id: str, risk_id: str, *, reading: bool = False,
           view: str = "risks.get") -> RegisterEntry:
    """The project's entry ``risk_id``. One merged into another answers a 301 to it where
    it is read (``reading``), a 409 where it would be changed; else the 404 of a missing
    one."""
    number = _number(risk_id, "risk")
    entry = db.session.get(RegisterEntry, number)
    if entry is None or entry.project_id != project_id:
        into = register.merged_into(project_id, number)
        if into is None:
            raise not_found("risk")
        detail = f"Risk {number} was merged into risk {into}."
        if reading:
            raise APIError(301, detail, headers={"Location": url_for(
                view, project_id=project_id, risk_id=into)})
        raise APIError(409, detail + " Change that one.")
    return entry


@risks.route("/<project_id>/risks", methods=["GET"])
@authorized("projects:read")
@paginated_response(RiskPageSchema(), RiskListArgs)
@other_responses({401: "No or bad token", 404: NOT_MEMBER, 422: "Bad filter, sort or page"})
def all(args, project_id):
    """The project's register: one entry per distinct risk, most recently stated first"""
    project_id, version = readable_project(token_auth.current_user(), project_id)
    return queries.risk_page(project_id, args, version=version)


@risks.route("/<project_id>/risks/export", methods=["GET"])
@authorized("projects:read")
@query(RiskExportArgs)
@other_responses({200: "text/csv, or the XLSX sheet, as an attachment",
                  401: "No or bad token", 404: NOT_MEMBER, 422: "Bad format or filter"})
def export(args, project_id):
    """The register as a sheet: `format=csv` or `xlsx`"""
    project = project_for(token_auth.current_user(), project_id)
    rows = queries.export_rows(project.id, args)
    if args["format"] == "xlsx":
        body = to_xlsx(rows, project.name)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    else:
        body, mimetype = to_csv(rows), "text/csv"  # Flask adds "; charset=utf-8"
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": attachment(project.name, args["format"])})


@risks.route("/<project_id>/risks/<riskid:risk_id>", methods=["GET"])
@authorized("projects:read")
@response(RiskSchema())
@other_responses({301: "Merged into another risk: `Location` names it",
                  401: "No or bad token", 404: "No such project or risk"})
def get(project_id, risk_id):
    """One register entry with the findings that state it"""
    project_id, _ = readable_project(token_auth.current_user(), project_id)
    return Written(queries.entry_json(_entry(project_id, risk_id, reading=True).id))


@risks.route("/<project_id>/risks/<riskid:risk_id>/history", methods=["GET"])
@authorized("projects:read")
@paginated_response(RegisterEventPageSchema)
@other_responses({301: "Merged into another risk: `Location` names its history",
                  401: "No or bad token", 404: "No such project or risk"})
def history(args, project_id, risk_id):
    """What happened to a risk, newest first: every change, with its cause (who, which
    report, which job) and the fields it changed; those of the risks merged into it too"""
    project_id, _ = readable_project(token_auth.current_user(), project_id)
    entry = _entry(project_id, risk_id, reading=True, view="risks.history")
    return register.history(project_id, entry.id)


@risks.route("/<project_id>/risks/<riskid:risk_id>", methods=["PATCH"])
@authorized("projects:write")
@json_body(RiskUpdateSchema)
@response(RiskSchema())
@other_responses({401: "No or bad token", 403: "Viewers may not change it",
                  404: "No such project or risk", 409: "Merged into another risk",
                  422: "Bad status, category, likelihood or impact; an owner who is not a "
                       "member"})
def update(args, project_id, risk_id):
    """Set a risk's status, owner, due date, notes, category, likelihood or impact (1–5,
    null: not rated) (editor or owner)"""
    caller = token_auth.current_user()
    project = project_for(caller, project_id, "editor")
    entry = _entry(project.id, risk_id)
    held = None
    if register.changes(entry, args):
        # The register's version moves with every change (its kept pages are by version);
        # the directions move only with a category. What the change rests on (the caller's
        # role, the owner's membership, the entry) is read again under the lock: of two
        # racing requests the second changes (and audits) from what the first left, and a
        # removal commits before (the owner is no member: 422) or unassigns after.
        held = register.hold(project.id, first=True, directions_kept="category" not in args)
        project = project_for(caller, project_id, "editor")
        entry = _entry(project.id, risk_id)
    if args.get("owner_id") is not None and role_in(project.id, args["owner_id"]) is None:
        raise APIError(422, "A risk's owner must be a member of the project.",
                       errors={"owner_id": ["Not a member of this project."]})
    if held is not None:
        held.edit(entry, args, actor_id=caller.id)
    db.session.commit()
    return Written(queries.entry_json(entry.id))


@risks.route("/<project_id>/risks", methods=["POST"])
@authorized("projects:write")
@json_body(RiskAddSchema)
@response(RiskSchema(), 201)
@other_responses({401: "No or bad token", 403: "Viewers may not add one",
                  404: NOT_MEMBER, 422: "No risk, or no category of the taxonomy"})
def add(args, project_id):
    """Add a risk no report stated (editor or owner): an open entry marked
    `added_by_user`, dated today, that later reports stating it join"""
    caller = token_auth.current_user()
    project_id = project_for(caller, project_id, "editor").id
    risk = args["risk"].strip()
    vector = current_encoder().embed([risk])[0]  # with no lock held
    held = register.hold(project_id, first=True)
    project_for(caller, project_id, "editor")  # who may, read again under the lock
    entry = held.add_risk(risk, args["category"], vector, actor_id=caller.id)
    db.session.commit()
    return Written(queries.entry_json(entry.id)), 201, {
        "Location": url_for("risks.get", project_id=project_id, risk_id=entry.id)}


@risks.route("/<project_id>/risks/<riskid:risk_id>/merge", methods=["POST"])
@authorized("projects:write")
@json_body(MergeSchema)
@response(RiskSchema())
@other_responses({401: "No or bad token", 403: "Viewers may not merge",
                  404: "No such project or risk",
                  409: "This risk or one in `from` was merged already",
                  422: "Bad `from`: empty, over 100, twice, the risk itself, no risk of the "
                       "project, or of another category"})
def merge(args, project_id, risk_id):
    """Merge risks into this one (editor or owner): their findings join it, and their ids
    answer 301 to it from then on (docs/register.md: what the merged risk keeps)"""
    caller, held = _editing(project_id)
    entry = _entry(held.project_id, risk_id)
    held.merge(entry, args["from_"], actor_id=caller.id)
    db.session.commit()
    return Written(queries.entry_json(entry.id))


@risks.route("/<project_id>/risks/<riskid:risk_id>/split", methods=["POST"])
@authorized("projects:write")
@json_body(SplitSchema)
@response(RiskSchema(), 201)
@other_responses({401: "No or bad token", 403: "Viewers may not split",
                  404: "No such project or risk",
                  409: "A finding is in another risk of the project, or this risk was merged",
                  422: "Bad `findings`: empty, over 100, twice, all of the risk's, or no "
                       "finding of the project's register"})
def split(args, project_id, risk_id):
    """Take findings out of this risk into a new one (editor or owner): open, not rated,
    of this risk's category"""
    caller, held = _editing(project_id)
    entry = held.split(_entry(held.project_id, risk_id), args["findings"], actor_id=caller.id)
    db.session.commit()
    return Written(queries.entry_json(entry.id)), 201, {
        "Location": url_for("risks.get", project_id=held.project_id, risk_id=entry.id)}


@risks.route("/<project_id>/risks/<riskid:risk_id>/suggestions", methods=["GET"])
@authorized("projects:read")
@response(SuggestionListSchema)
@other_responses({301: "Merged into another risk: `Location` names its suggestions",
                  401: "No or bad token", 404: "No such project or risk"})
def suggested(project_id, risk_id):
    """The project's risks this one may restate: any category, at most three, most alike
    first, each with both wordings (docs/register.md#suggested-restatements)"""
    project_id, _ = readable_project(token_auth.current_user(), project_id)
    entry = _entry(project_id, risk_id, reading=True, view="risks.suggested")
    return {"items": register.listed(
        entry.risk, register.for_entries(project_id, [entry.id])[entry.id])}


@risks.route("/<project_id>/risks/<riskid:risk_id>/suggestions/<other_id>/merge",
             methods=["POST"])
@authorized("projects:write")
@response(RiskSchema())
@other_responses({401: "No or bad token", 403: "Viewers may not merge",
                  404: "No such project or risk", 409: "One of the two was merged already",
                  422: "The risk itself"})
def merge_suggested(project_id, risk_id, other_id):
    """Accept a suggestion (editor or owner): the later of the two risks is merged into
    the earlier, which keeps its id, takes the later one's findings and is reopened when a
    report newer than its closing states it; the later one's category becomes the earlier
    one's first. Answers the risk that stays"""
    caller, held, entry, other = _decided_pair(project_id, risk_id, other_id)
    kept = held.merge_suggested(entry, other, actor_id=caller.id)
    db.session.commit()
    return Written(queries.entry_json(kept.id))


@risks.route("/<project_id>/risks/<riskid:risk_id>/suggestions/<other_id>/dismiss",
             methods=["POST"])
@authorized("projects:write")
@response(DismissedSuggestionSchema)
@other_responses({401: "No or bad token", 403: "Viewers may not decide",
                  404: "No such project or risk", 409: "One of the two was merged",
                  422: "The risk itself"})
def dismiss_suggested(project_id, risk_id, other_id):
    """Say a suggestion is not the same risk (editor or owner): the pair is never
    suggested again, and teaches the register's matching as a trusted merge does"""
    caller, held, entry, other = _decided_pair(project_id, risk_id, other_id)
    dismissed = held.dismiss_suggested(entry, other, actor_id=caller.id)
    db.session.commit()
    return {"dismissed": dismissed}


def _decided_pair(project_id: str, risk_id: str, other_id: str):
    """(caller, the register held, entry, other) of a decision on a suggestion: two
    entries of the project (404, or 409 for one merged), not one."""
    caller, held = _editing(project_id)
    entry, other = _entry(held.project_id, risk_id), _entry(held.project_id, other_id)
    register.not_itself(entry, other)
    return caller, held, entry, other


def _editing(project_id: str):
    """(caller, the register held) for a change to the register by hand: who may make it is
    read again once it is held (a removal or a demotion commits first)."""
    caller = token_auth.current_user()
    held = register.hold(project_for(caller, project_id, "editor").id, first=True)
    project_for(caller, held.project_id, "editor")
    return caller, held


@risks.route("/<project_id>/changes", methods=["GET"])
@authorized("projects:read")
@query(ChangesArgs)
@response(ChangesSchema)
@other_responses({401: "No or bad token", 404: "No such project, or a scan not of it"})
def changes(args, project_id):
    """What changed between two reports: new, persisting and gone risks (default: the
    project's two latest scans)"""
    project = project_for(token_auth.current_user(), project_id)
    to_scan = (_project_scan(project.id, args["to_scan"]) if "to_scan" in args
               else _latest(project.id))
    if "from_scan" in args:
        from_scan = _project_scan(project.id, args["from_scan"])
    else:  # the scan just before to_scan
        from_scan = _latest(project.id, before=to_scan) if to_scan is not None else None
    return Written(queries.changes(project.id, from_scan and from_scan.id,
                                 to_scan and to_scan.id))


def _project_scan(project_id: str, scan_id: str) -> Scan:
    scan = get_or_404(Scan, scan_id, "scan")
    if scan.project_id != project_id:
        raise not_found("scan")
    return scan


def _latest(project_id: str, *, before=None):
    """The project's newest scan (before ``before``, in the list's order), or None."""
    return next(iter(queries.project_scans(project_id, 1, before=before)), None)


@risks.route("/<project_id>/trend", methods=["GET"])
@authorized("projects:read")
@query(TrendArgs)
@response(TrendSchema)
@other_responses({401: "No or bad token", 404: NOT_MEMBER, 422: "Bad `by`"})
def trend(args, project_id):
    """Open risks per category (or rating band) per week, and the risks each report
    states, for a chart"""
    project = project_for(token_auth.current_user(), project_id)
    return Written(queries.trend(project.id, by=args["by"]))


@risks.route("/<project_id>/matrix", methods=["GET"])
@authorized("projects:read")
@query(MatrixArgs)
@response(MatrixSchema)
@other_responses({401: "No or bad token", 404: NOT_MEMBER, 422: "Bad status"})
def matrix(args, project_id):
    """The heat map: the risks of a status (default `active`: every status but closed) per
    likelihood and impact, with their ids, those not rated beside, and this deployment's
    rating scale"""
    project = project_for(token_auth.current_user(), project_id)
    settings = current_settings()
    return Written(queries.matrix(project.id, rating.scale(settings.RISK_LIKELIHOOD_LABELS,
                                                         settings.RISK_IMPACT_LABELS),
                                args["status"]))


def _dismissals_json(page: list[Dismissal]) -> list[dict]:
    kept_out = dict(db.session.execute(
        select(DismissedFinding.dismissal_id, func.count())
        .where(DismissedFinding.dismissal_id.in_([d.id for d in page]))
        .group_by(DismissedFinding.dismissal_id)).all()) if page else {}
    return [{**{name: getattr(dismissal, name) for name in DISMISSAL_FIELDS},
             "kept_out": kept_out.get(dismissal.id, 0)} for dismissal in page]


DISMISSAL_FIELDS = ("id", "risk", "category", "dismissed_by", "created_at", "scan_id",
                    "finding_id")


@risks.route("/<project_id>/dismissals", methods=["GET"])
@authorized("projects:read")
@paginated_response(DismissalPageSchema, items=_dismissals_json)
@other_responses({401: "No or bad token", 404: NOT_MEMBER, 422: "Bad page"})
def dismissals(args, project_id):
    """The project's active dismissals, newest first: findings corrected to `none` with the
    scope `later` ("this report and later ones"; those made before the choice existed are
    all of it): later findings that state the same thing stay out of the register"""
    project_id, _ = readable_project(token_auth.current_user(), project_id)
    return (select(Dismissal).where(Dismissal.project_id == project_id)
            .order_by(Dismissal.created_at.desc(), Dismissal.id.desc()))


@risks.route("/<project_id>/dismissals/<dismissal_id>", methods=["DELETE"])
@authorized("projects:write")
@other_responses({204: "Deleted: the findings it kept out joined the register",
                  401: "No or bad token", 403: "Viewers may not restore",
                  404: "No such project or dismissal"})
def restore(project_id, dismissal_id):
    """Lift a dismissal (editor or owner): it is deleted, and the findings it kept out
    join the register now; later findings that state it are risks again. The corrected
    finding stays `none` (its scope: `report`). Audited as `dismissal_deleted`"""
    caller = token_auth.current_user()
    project_id = project_for(caller, project_id, "editor").id
    number = _number(dismissal_id, "dismissal")
    held = register.hold(project_id, first=True)  # restores and corrections in turn
    dismissal = db.session.scalar(select(Dismissal).where(
        Dismissal.id == number, Dismissal.project_id == project_id))
    if dismissal is None:
        raise not_found("dismissal")
    held.restore(dismissal, actor_id=caller.id)
    db.session.commit()
    return "", 204
