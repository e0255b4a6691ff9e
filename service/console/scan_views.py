"""Scan, see the risks highlighted, correct them; the history of one's scans."""

from __future__ import annotations

from itertools import groupby

from flask import flash, redirect, render_template, request, url_for

from service.analysis.labels import LABELS, RISK_LABELS
from service.console.blueprint import console
from service.console.just_scanned import just_scanned
from service.console.pages import FIELD_NAMES, data_or_fail, download, failed, safe_target, words
from service.console.session import api, current_user, signed_in

HISTORY_FILTERS = ("source", "category", "created_after", "created_before", "q", "project_id")


@console.get("/scan")
@signed_in
def scan_page():
    """The form, its project preselected: the one the link names, else the user's default
    (an empty minimum score leaves the API to apply the user's default)."""
    defaults = _defaults()
    return render_template("console/scan.html", projects=_projects(), defaults=defaults,
                           project_id=request.args.get("project_id",
                                                       defaults["project_id"] or ""))


@console.post("/scan")
@signed_in
def scan():
    # A browser sends a text area's line breaks as CRLF; the text typed has one character
    # for each, and so has the limit (MAX_DOCUMENT_CHARS).
    text = request.form.get("text", "").replace("\r\n", "\n")
    upload = request.files.get("file")
    # The project is always sent, "No project" too: else the API would take the default.
    fields = {"project_id": request.form.get("project_id", "")}
    if request.form.get("min_score"):
        fields["min_score"] = request.form["min_score"]
    sent_file = upload is not None and bool(upload.filename)
    if sent_file:  # the text too: with both, the API says which to send
        answer = api("POST", "/scans", form={**fields, "text": text}, files={
            "file": (upload.read(), upload.filename, upload.mimetype or
                     "application/octet-stream")})
    else:
        body = {"text": text, **fields, "project_id": fields["project_id"] or None}
        if "min_score" in body:
            try:
                body["min_score"] = float(body["min_score"])
            except ValueError:
                pass  # the API says why in words
        answer = api("POST", "/scans", json=body)
    if not answer.ok:
        if answer.status in (400, 413, 415, 422):  # the form again, with the API's words
            return render_template("console/scan.html", projects=_projects(),
                                   defaults=_defaults(), error=words(answer),
                                   errors=answer.errors, text=text,
                                   project_id=fields["project_id"]), answer.status
        return failed(answer)
    # To the scan's own page (Post/Redirect/Get): a reload there sends no second scan.
    scan_id = answer.json["scan_id"]
    if not sent_file:
        just_scanned().keep(current_user()["id"], scan_id, text)
    return redirect(url_for("console.scan_view", scan_id=scan_id), code=303)


@console.get("/scans/<scan_id>")
@signed_in
def scan_view(scan_id: str):
    """The scan's page; right after the scan form, with the text it sent (just_scanned)."""
    scan = data_or_fail(api("GET", f"/scans/{scan_id}"))
    text = just_scanned().take(current_user()["id"], scan["scan_id"])
    return render_template("console/result.html", **_result(scan, text))


@console.post("/scans/<scan_id>/findings/<int:finding_id>")
@signed_in
def correct(scan_id: str, finding_id: int):
    """A finding's category corrected: 204 to the page's script, a redirect to a form."""
    answer = api("PATCH", f"/scans/{scan_id}/findings/{finding_id}",
                 json={"category": request.form.get("category", "")})
    wants_json = request.accept_mimetypes.best == "application/json"
    if not answer.ok:
        if wants_json:
            return {"detail": words(answer)}, answer.status
        return failed(answer)
    if wants_json:
        return "", 204
    flash("Correction saved.")
    # Back to the list the correction was made from (the review queue), else to the finding.
    return redirect(safe_target(request.form.get("back"), url_for(
        "console.scan_view", scan_id=scan_id, _anchor=f"finding-{finding_id}")))


@console.post("/scans/<scan_id>/delete")
@signed_in
def delete_scan(scan_id: str):
    answer = api("DELETE", f"/scans/{scan_id}")
    if not answer.ok:
        return failed(answer)
    flash("Scan deleted.")
    return redirect(url_for("console.history"))


@console.get("/scans/<scan_id>/file")
@signed_in
def scan_file(scan_id: str):
    """The original document, as the API serves it (its type and attachment name)."""
    answer = api("GET", f"/scans/{scan_id}/file")
    return download(answer)


@console.get("/scans")
@signed_in
def history():
    query = {name: value for name in HISTORY_FILTERS
             if (value := request.args.get(name, "").strip())}
    page = request.args.get("page", "1")
    instants, errors = _as_instants(query)
    if errors:  # a day the API's instants cannot say
        return render_template("console/history.html", scans=None, filters=query,
                               error=" ".join(errors.values()), errors=errors,
                               categories=RISK_LABELS, projects=_projects()), 422
    answer = api("GET", "/scans", query={**instants, "page": page, "per_page": 20})
    if answer.status == 422:  # a filter the API refuses: say which, keep the page
        return render_template("console/history.html", scans=None, filters=query,
                               error=words(answer), errors=answer.errors,
                               categories=RISK_LABELS, projects=_projects()), 422
    listing = data_or_fail(answer)
    return render_template("console/history.html", scans=listing, filters=query,
                           categories=RISK_LABELS, projects=_projects())


def _as_instants(query: dict) -> tuple[dict, dict]:
    """(the date inputs' days as the API's instants (UTC), the form's errors): after a day
    is from its start, before a day is until its end, the next day's start (none after
    9999-12-31). Anything else goes as typed, for the API to judge."""
    from datetime import date, timedelta

    instants, errors = dict(query), {}
    for name, shift in (("created_after", 0), ("created_before", 1)):
        try:
            day = date.fromisoformat(query.get(name, ""))
        except ValueError:
            continue
        try:
            instants[name] = f"{day + timedelta(days=shift)}T00:00:00Z"
        except OverflowError:
            errors[name] = f"{FIELD_NAMES[name]}: Must be a day before {date.max}."
    return instants, errors


def _projects() -> list[dict]:
    """The caller's projects, for the scan form's choice (first 100)."""
    answer = api("GET", "/projects", query={"per_page": 100})
    return answer.json["items"] if answer.ok else []


def _defaults() -> dict:
    """The user's defaults for scans (the account page sets them)."""
    return data_or_fail(api("GET", "/auth/me/settings"))


def _result(scan: dict, text: str | None) -> dict:
    """What the result page shows: the text cut into plain and marked pieces (when the
    console has the text: a scan it just sent), and the findings grouped by category."""
    # What a dismissal keeps out of the project's register is folded apart, with "restore".
    dismissed = [finding for finding in scan["data"] if finding.get("dismissed")]
    findings = [finding for finding in scan["data"] if not finding.get("dismissed")]
    for finding in findings:
        finding["shown_category"] = finding["corrected_category"] or finding["category"]
    pieces = _pieces(text, findings) if text else None
    ordered = sorted(findings, key=lambda f: (RISK_LABELS + ("none",)).index(
        f["shown_category"]) if f["shown_category"] in LABELS else len(LABELS))
    groups = [(category, list(items))
              for category, items in groupby(ordered, key=lambda f: f["shown_category"])]
    return {"scan": scan, "findings": findings, "pieces": pieces, "groups": groups,
            "dismissed": dismissed, "labels": LABELS, "project_id": scan.get("project_id")}


def _pieces(text: str, findings: list[dict]) -> list[tuple[str, dict | None]]:
    """``text`` as (piece, finding or None) in order: each finding's sentence
    (``text[start:end]``) marked once; overlapping or out-of-range spans stay plain."""
    pieces, at = [], 0
    for finding in sorted(findings, key=lambda f: (f["start"], f["end"])):
        start, end = finding["start"], finding["end"]
        if start < at or end > len(text) or start >= end:
            continue
        if start > at:
            pieces.append((text[at:start], None))
        pieces.append((text[start:end], finding))
        at = end
    if at < len(text):
        pieces.append((text[at:], None))
    return pieces


@console.app_template_filter("percent")
def percent(score) -> str:
    return "—" if score is None else f"{float(score) * 100:.0f}%"

