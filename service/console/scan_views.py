"""Scan, see the risks highlighted, correct them; the history of one's scans."""

from __future__ import annotations

from itertools import groupby
from urllib.parse import urlsplit

from flask import flash, redirect, render_template, request, url_for

from service.analysis.labels import LABELS, RISK_LABELS
from service.console.blueprint import console
from service.console.document import document, grouped
from service.console.pages import (
    AT,
    counted,
    data_or_fail,
    days_as_instants,
    download,
    failed,
    flash_at,
    form_refusal,
    safe_target,
    said,
    words,
)
from service.console.session import api, current_user, signed_in

REPORT_DATE = "report-date"  # the date form's id: its result is said there (pages.flash_at)
MARK = "mark-form"  # "Mark as risk": its refusal is said there

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
    # Empty: the API dates the report by its document, else its file name, else today.
    reported_on = request.form.get("reported_on", "").strip()
    if reported_on:
        fields["reported_on"] = reported_on
    if request.form.get("min_score"):
        fields["min_score"] = request.form["min_score"]
    if request.form.get("include_possible"):
        fields["include_possible"] = "true"
    sent_file = upload is not None and bool(upload.filename)
    if sent_file:  # the text too: with both, the API says which to send
        answer = api("POST", "/scans", form={**fields, "text": text}, files={
            "file": (upload.read(), upload.filename, upload.mimetype or
                     "application/octet-stream")})
    else:
        body = {"text": text, **fields, "project_id": fields["project_id"] or None}
        if "include_possible" in body:
            body["include_possible"] = True
        if "min_score" in body:
            try:
                body["min_score"] = float(body["min_score"])
            except ValueError:
                pass  # the API says why in words
        answer = api("POST", "/scans", json=body)
    if not answer.ok:
        if answer.status in (400, 413, 415, 422):  # the form again, with the API's words
            error, errors = form_refusal(answer, "text", "reported_on")
            return render_template("console/scan.html", projects=_projects(),
                                   defaults=_defaults(), error=error, errors=errors,
                                   text=text, project_id=fields["project_id"],
                                   reported_on=reported_on), answer.status
        return failed(answer)
    # To the scan's own page (Post/Redirect/Get): a reload there sends no second scan.
    return redirect(url_for("console.scan_view", scan_id=answer.json["scan_id"]), code=303)


@console.get("/scans/<scan_id>")
@signed_in
def scan_view(scan_id: str):
    """The scan's page: the document whole, as the service kept its text; a scan stored
    before scans kept their text shows each risk within its context."""
    scan = data_or_fail(api("GET", f"/scans/{scan_id}"))
    return render_template("console/result.html", **scan_page_values(scan))


def scan_page_values(scan: dict) -> dict:
    """What the scan's page shows of ``scan`` (the API's): its text whole, its findings,
    and whether the caller may change them (date_views.py renders it too)."""
    kept = api("GET", f"/scans/{scan['scan_id']}/text")
    text = kept.json["text"] if kept.ok else None
    result, may_edit = _result(scan, text), _may_edit(scan)
    # Each finding's answer is said beside it, a refused mark beside its form; one the page
    # no longer shows (a near miss answered "not a risk", the form of a document whose every
    # sentence is a finding) is said at the top.
    placed = {REPORT_DATE} | {f"finding-{finding['id']}" for kind in (
        "findings", "possible", "dismissed") for finding in result[kind]}
    if may_edit and result["document"] and result["document"].sentences:
        placed.add(MARK)
    return {**result, "may_edit": may_edit, "who": _dismissers(scan),
            "placed": {AT + anchor for anchor in placed}}


@console.post("/scans/<scan_id>/findings")
@signed_in
def mark_risk(scan_id: str):
    """A sentence marked as a risk ("start-end" of the text, and a category)."""
    start, _, end = request.form.get("sentence", "").partition("-")
    try:
        span = {"start": int(start), "end": int(end)}
    except ValueError:
        span = {"start": None, "end": None}  # the API names what is missing
    answer = api("POST", f"/scans/{scan_id}/findings",
                 json={**span, "category": request.form.get("category", "")})
    if not answer.ok:
        if answer.status == 422:
            flash_at(f"Not marked: {words(answer)}", MARK)
            return redirect(url_for("console.scan_view", scan_id=scan_id, _anchor=MARK))
        return failed(answer)
    finding = answer.json
    flash_at(f"Saved: “{finding['risk']}” marked as a risk ({finding['category']}).",
             f"finding-{finding['id']}")
    return redirect(url_for("console.scan_view", scan_id=scan_id,
                            _anchor=f"finding-{finding['id']}"), code=303)


@console.post("/scans/<scan_id>/findings/<int:finding_id>")
@signed_in
def correct(scan_id: str, finding_id: int):
    """A finding's category corrected: 204 to the page's script (to Review's, sending
    ``row``, the answer's words), a redirect to a form.

    The scan page's select says what a dismissal covers ("none": this report only,
    "none:later": this report and later ones) and marks its form ``scoped``, so that
    choosing "this report only" again lifts a dismissal; Review's "not a risk" leaves an
    existing scope as it is. ``restore`` is the fold's button for a finding a dismissal hid."""
    category, _, later = request.form.get("category", "").partition(":")
    body = {"category": category}
    if later or (category == "none" and request.form.get("scoped")):
        body["scope"] = later or "report"  # an unknown word: the API's refusal, in words
    answer = api("PATCH", f"/scans/{scan_id}/findings/{finding_id}", json=body)
    wants_json = request.accept_mimetypes.best == "application/json"
    if not answer.ok:
        if wants_json:
            return {"detail": words(answer)}, answer.status
        return failed(answer)
    if wants_json and request.form.get("row"):  # Review's row shows the answer in place
        return {"said": answered(answer.json), "answer": answer_said(answer.json),
                "category": answer.json["corrected_category"]}
    if wants_json:
        return "", 204
    # Back to the list the correction was made from (the review queue) at its row, else to
    # the finding; the answer said there, where the page lands.
    page = url_for("console.scan_view", scan_id=scan_id)
    back = safe_target(request.form.get("back"), page)
    anchor = (f"finding-{finding_id}" if urlsplit(back).path == page
              else f"review-{finding_id}")
    flash_at(f"Restored: “{answer.json['risk'][:80]}” is in the register."
             if request.form.get("restore") else answered(answer.json), anchor)
    return redirect(f"{back.split('#', 1)[0]}#{anchor}")


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
    """One's scans, 20 a page, each named (its file, else its title) with its project; the
    search is the API's ``q``: words of the text, the title or the file name."""
    query = {name: value for name in HISTORY_FILTERS
             if (value := request.args.get(name, "").strip())}
    page = request.args.get("page", "1")
    projects = _projects()
    instants, errors = days_as_instants(query)
    if errors:  # a day the API's instants cannot say
        return render_template("console/history.html", scans=None, filters=query,
                               error=" ".join(errors.values()), errors=errors,
                               categories=RISK_LABELS, projects=projects), 422
    answer = api("GET", "/scans", query={**instants, "page": page, "per_page": 20})
    if answer.status == 422:  # a filter the API refuses: say which, keep the page
        return render_template("console/history.html", scans=None, filters=query,
                               error=words(answer), errors=answer.errors,
                               categories=RISK_LABELS, projects=projects), 422
    listing = data_or_fail(answer)
    return render_template("console/history.html", scans=listing, filters=query,
                           categories=RISK_LABELS, projects=projects,
                           project_names=_project_names(listing["items"], projects))


def _project_names(scans: list[dict], projects: list[dict]) -> dict[str, str | None]:
    """Project id -> its name, for the projects of ``scans``: from the caller's projects,
    else asked one by one (beyond the first 100); None for one the caller is no longer a
    member of (their scans stay theirs), which the API does not name to them."""
    names = {project["id"]: project["name"] for project in projects}
    for project_id in {scan["project_id"] for scan in scans if scan.get("project_id")}:
        if project_id not in names:
            answer = api("GET", f"/projects/{project_id}")
            names[project_id] = answer.json["name"] if answer.ok else None
    return names


def _projects() -> list[dict]:
    """The caller's projects, for the scan form's choice (first 100)."""
    answer = api("GET", "/projects", query={"per_page": 100})
    return answer.json["items"] if answer.ok else []


def _defaults() -> dict:
    """The user's defaults for scans (the account page sets them)."""
    return data_or_fail(api("GET", "/auth/me/settings"))


def _result(scan: dict, text: str | None) -> dict:
    """What the result page shows: the document whole (when the service kept its text),
    the findings grouped by category, the near misses no one answered yet apart."""
    # What a dismissal keeps out of the project's register is folded apart, with "restore".
    dismissed = [finding for finding in scan["data"] if finding.get("dismissed")]
    findings, possible = [], []
    for finding in scan["data"]:
        finding["shown_category"] = _label_of(finding)
        if finding.get("dismissed"):
            continue
        if not finding.get("possible"):
            findings.append(finding)
        elif finding["corrected_category"] is None:  # a near miss not yet answered
            possible.append(finding)
    shown = document(text, findings + possible) if text else None
    ordered = sorted(findings, key=lambda f: LABELS.index(f["shown_category"])
                     if f["shown_category"] in LABELS else len(LABELS))
    groups = [(category, list(items))
              for category, items in groupby(ordered, key=lambda f: f["shown_category"])]
    return {"scan": scan, "findings": findings, "possible": possible, "groups": groups,
            "document": shown, "blocks": grouped(shown.blocks) if shown else None,
            "dismissed": dismissed, "labels": LABELS, "risk_labels": RISK_LABELS,
            "project_id": scan.get("project_id")}


def _dismissers(scan: dict) -> dict[str, str]:
    """Who made the dismissals that hide findings of ``scan``, as the fold names them:
    "your" for the signed-in user, else a member's email (one page of members)."""
    ids = {f["dismissal"]["dismissed_by"] for f in scan["data"] if f.get("dismissal")}
    if not ids:
        return {}
    members = api("GET", f"/projects/{scan['project_id']}/members", query={"per_page": 100})
    emails = {m["user_id"]: m["email"] for m in members.json["items"]} if members.ok else {}
    me = current_user()["id"]
    return {user_id: "your" if user_id == me else f"{emails.get(user_id, 'a former member')}'s"
            for user_id in ids}


def _may_edit(scan: dict) -> bool:
    """Whether the page offers "Mark as risk" and answers to near misses: in a project, to
    its editors and owners (a viewer's would be refused); outside one, to whoever reads it
    (its owner, or an admin, whom the API refuses another's with its 404)."""
    if not scan.get("project_id"):
        return True
    project = api("GET", f"/projects/{scan['project_id']}")
    return project.ok and project.json.get("role") in ("editor", "owner")


def answered(finding: dict) -> str:
    """What an answer to a finding recorded, in words, for the page it returns to."""
    sentence = finding["risk"] if len(finding["risk"]) <= 80 else finding["risk"][:79] + "…"
    label, model = finding["corrected_category"], finding["category"]
    if label == "none":
        later = (", in this report and later ones" if finding.get("dismissal_scope") == "later"
                 else ", in this report only" if finding.get("dismissal_scope") else "")
        return f"Saved: “{sentence}” is not a risk{later} (the model said {said(model)})."
    if label == model:
        return f"Saved: “{sentence}” confirmed as {said(label)}."
    return f"Saved: “{sentence}” corrected to {said(label)} (the model said {said(model)})."


def _label_of(finding: dict) -> str:
    """A finding's label as it stands (the API's effective label): a rejected correction's
    is the model's again."""
    if finding.get("review") == "rejected" and finding["corrected_category"]:
        return finding["category"]
    return finding["corrected_category"] or finding["category"]


@console.app_template_filter("answer_said")
def answer_said(finding: dict) -> str:
    """A finding's answer as Review's row says it."""
    label, model = finding["corrected_category"], finding["category"]
    if finding.get("review") == "rejected" and label:
        return f"Correction to {said(label)} rejected by a reviewer"
    if label == "none":
        return "Not a risk"
    if finding.get("added_by_user"):
        return "Added by a person"
    if label == model:
        return "Confirmed"
    return f"Corrected: {said(label)}" if label else "Not answered"


@console.app_template_filter("named")
def named(scan: dict | None, default: str = "Pasted text") -> str:
    """What a page calls a scan (or a finding's scan): its file's name, else its title (the
    text's first heading or line), else ``default``."""
    scan = scan or {}
    return scan.get("filename") or scan.get("title") or default


console.app_template_filter("said")(said)  # pages.said: none is "not a risk"
console.app_template_filter("counted")(counted)  # pages.counted: "1 risk", "2 risks"


@console.app_template_filter("percent")
def percent(score) -> str:
    return "—" if score is None else f"{float(score) * 100:.0f}%"

