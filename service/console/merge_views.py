"""A register entry mended on its page (issue #61 item 3): "Same risk as…" merges another
entry of the project into it, "Split out" takes one of its wordings out into a new entry.

Each goes through the API's own merge and split as the signed-in user
(service/projects/risk_routes.py; the rules: docs/register.md#mending-the-register-by-hand), so a
viewer's forged form is the API's 403 and another project's entry its 404, on the error
page. The entry whose page it is survives a merge, as the API's merge keeps the entry its
path names: the risk chosen is merged into it, and its id leads here from then on. Each
change is asked first, on a page that says what it does (GET), and made by that page's
form (POST), then the browser is sent back (PRG). What the API refuses that a person can
act on (a risk merged meanwhile, a second submission of the same merge or split, another
category) is said beside the section it came from, on the page the browser lands on.
"""

from __future__ import annotations

import re

from flask import abort, flash, redirect, render_template, request, url_for

from service.console.blueprint import console
from service.console.pages import check_id, data_or_fail, failed, flash_at, words
from service.console.session import api, signed_in

SAME = "same"  # the "Same risk as…" section's id: where its results are said
WORDINGS = "wordings"  # the wordings list's id
CANDIDATES = 20  # risks a search shows: a search narrows, a page does not
MAX_REPORTS = 100  # the reports read for an entry's wordings (the risk page's)
ROW_ID = re.compile(r"[0-9]{1,18}")  # what a row id can be (the API's 404 for the rest)
MOVED = re.compile(r"/risks/([0-9]{1,18})$")


def entry_or_moved(project_id: str, risk_id: int) -> dict:
    """The entry, as the API answers it; a merged-away id sends the browser on to the
    entry that holds its findings now (the API's 301), saying so; else the error page."""
    answer = api("GET", f"/projects/{project_id}/risks/{risk_id}")
    moved = MOVED.search(answer.headers.get("Location", "")) if answer.status == 301 else None
    if moved:
        flash(f"{answer.detail} This is risk {moved[1]}.")
        abort(redirect(url_for("console.project_risk", project_id=project_id,
                               risk_id=int(moved[1]))))
    return data_or_fail(answer)


def wordings(risk: dict) -> list[dict]:
    """Each finding of the entry with its words and its report (the scan: its name and
    date), in the order the API gives them (by report); a report that cannot be read is
    named by its id, its words unknown."""
    scans: dict[str, dict | None] = {}
    for scan_id in dict.fromkeys(ref["scan_id"] for ref in risk.get("findings") or []):
        if len(scans) < MAX_REPORTS:
            answer = api("GET", f"/scans/{scan_id}")
            scans[scan_id] = answer.json if answer.ok else None
    rows = []
    earliest = next((ref for ref in risk.get("findings") or ()
                     if ref.get("joined_by") in STATED), None)
    for ref in risk.get("findings") or []:
        scan = scans.get(ref["scan_id"])
        finding = next((f for f in (scan or {}).get("data") or ()
                        if f["id"] == ref["finding_id"]), None)
        rows.append({**ref, "scan": scan, "text": finding and finding["risk"],
                     "how": how_joined(ref, earliest=ref is earliest)})
    return rows


#: How the register placed a finding when its report was scanned (the rest: by a person).
STATED = ("opened", "embeddings", "pair_model")


def how_joined(ref: dict, *, earliest: bool = True) -> str | None:
    """How a finding came to its entry, in words, with how sure a join was (None: placed
    before the register recorded it). The findings are read in their reports' date order,
    but the register placed each when its report was scanned: where an earlier-dated report
    was scanned after a later one, its statement joined the risk the later one opened, and
    each says so rather than the first in the list reading as a restatement."""
    by, alike = ref.get("joined_by"), ref.get("alike")
    if by == "opened":
        return "opened this risk" if earliest else \
            "stated again; its report, scanned before the earlier one, opened this risk"
    if by in ("embeddings", "pair_model") and alike is not None:
        how = (f"{alike:.2f} alike" if by == "embeddings"
               else f"by the pair model, {alike:.0%} sure")
        return (f"joined as a restatement, {how}" if not earliest else
                f"first stated here; its report was scanned later and joined the risk, {how}")
    return {"merged": "merged in by a person", "split": "split out by a person",
            "closing": "says this risk is closed (never its title)"}.get(by)


def splittable(risk: dict) -> bool:
    """Whether a finding may be split out: the API's split leaves an entry at least one
    finding, unless a person added it (it keeps the wording typed)."""
    return len(risk.get("findings") or ()) > 1 or bool(risk.get("added_by_user"))


def search(project_id: str, risk: dict) -> dict | None:
    """The "Same risk as…" search of this page (``q``): the project's other entries whose
    wording or notes hold it, those of the entry's category (the ones a merge takes) apart
    from the others; None when nothing was searched."""
    if "q" not in request.args:
        return None
    q = request.args["q"].strip()
    found = {"q": q, "same": [], "other": [], "more": False, "error": None}
    if not q:
        found["error"] = "Type part of the risk's wording to search for."
        return found
    answer = api("GET", f"/projects/{project_id}/risks",
                 query={"q": q, "per_page": CANDIDATES + 1})
    if answer.status == 422:
        found["error"] = " ".join(answer.errors.get("q") or [words(answer)])
        return found
    items = [item for item in data_or_fail(answer)["items"] if item["id"] != risk["id"]]
    found["more"] = len(items) > CANDIDATES
    for item in items[:CANDIDATES]:
        found["same" if item["category"] == risk["category"] else "other"].append(item)
    return found


# --- merge ---------------------------------------------------------------------------------

@console.get("/projects/<project_id>/risks/<int:risk_id>/merge")
@signed_in
def risk_merge_confirm(project_id: str, risk_id: int):
    """What merging the risk chosen (``with``) into this one does, and the form that does
    it; a merge the API would refuse (itself, another category) is said without it."""
    check_id(project_id, "project")
    keep = entry_or_moved(project_id, risk_id)
    chosen = request.args.get("with", "").strip()
    if not ROW_ID.fullmatch(chosen):
        flash_at("Choose the risk that is the same as this one.", SAME)
        return redirect(url_for("console.project_risk", project_id=project_id,
                                risk_id=risk_id, _anchor=SAME))
    other = api("GET", f"/projects/{project_id}/risks/{chosen}")
    if other.status == 301:  # merged meanwhile: into this one, or elsewhere
        flash_at(f"{other.detail} Search again.", SAME)
        return redirect(url_for("console.project_risk", project_id=project_id,
                                risk_id=risk_id, _anchor=SAME))
    other = data_or_fail(other)
    refusal = ("A risk cannot be merged into itself." if other["id"] == keep["id"]
               else f"Risk {other['id']} is of the category {other['category']}, this one of "
                    f"{keep['category']}: one risk has one category. Set the same category on "
                    "one of them first (Edit, on its page)."
               if other["category"] != keep["category"] else None)
    details = data_or_fail(api("GET", f"/projects/{project_id}"))
    members = api("GET", f"/projects/{project_id}/members", query={"per_page": 100})
    emails = {m["user_id"]: m["email"] for m in members.json["items"]} if members.ok else {}
    return render_template("console/risk_merge.html", project=details, keep=keep,
                           other=other, refusal=refusal, emails=emails)


@console.post("/projects/<project_id>/risks/<int:risk_id>/merge")
@signed_in
def risk_merge(project_id: str, risk_id: int):
    """The confirmation's form: the API's merge of ``from`` into this entry; this entry's
    page then says what happened (or what the API refused: a second submission finds the
    risk merged already)."""
    check_id(project_id, "project")
    chosen = request.form.get("from", "").strip()
    answer = api("POST", f"/projects/{project_id}/risks/{risk_id}/merge",
                 json={"from": [int(chosen) if ROW_ID.fullmatch(chosen) else chosen]})
    here = url_for("console.project_risk", project_id=project_id, risk_id=risk_id)
    if answer.ok:
        risk = answer.json
        flash(f"Risk {chosen} merged into this one: it states “{risk['risk']}” in "
              f"{risk['occurrences']} findings now, and risk {chosen}'s page leads here.")
        return redirect(here, code=303)
    if answer.status in (409, 422):
        flash_at(words(answer), SAME)
        return redirect(f"{here}#{SAME}", code=303)
    return failed(answer)


# --- split ---------------------------------------------------------------------------------

@console.get("/projects/<project_id>/risks/<int:risk_id>/split")
@signed_in
def risk_split_confirm(project_id: str, risk_id: int):
    """What splitting the wording ``finding`` out of this entry does, and the form that
    does it."""
    check_id(project_id, "project")
    risk = entry_or_moved(project_id, risk_id)
    chosen = request.args.get("finding", "").strip()
    ref = next((ref for ref in risk["findings"] if str(ref["finding_id"]) == chosen), None)
    if ref is None:  # not (or no longer) one of this entry's
        flash_at(f"That wording is not in risk {risk_id} (any more): choose one of its list.",
                 WORDINGS)
        return redirect(url_for("console.project_risk", project_id=project_id,
                                risk_id=risk_id, _anchor=WORDINGS))
    (wording,) = wordings({"findings": [ref]})
    details = data_or_fail(api("GET", f"/projects/{project_id}"))
    return render_template("console/risk_split.html", project=details, risk=risk,
                           wording=wording, splittable=splittable(risk))


@console.post("/projects/<project_id>/risks/<int:risk_id>/split")
@signed_in
def risk_split(project_id: str, risk_id: int):
    """The confirmation's form: the API's split of ``finding`` out of this entry; back to
    the entry's wordings, the new risk named beside them."""
    check_id(project_id, "project")
    chosen = request.form.get("finding", "").strip()
    answer = api("POST", f"/projects/{project_id}/risks/{risk_id}/split",
                 json={"findings": [int(chosen) if ROW_ID.fullmatch(chosen) else chosen]})
    back = url_for("console.project_risk", project_id=project_id, risk_id=risk_id,
                   _anchor=WORDINGS)
    if answer.ok:
        new = answer.json
        flash_at(f"Split out: “{new['risk']}” is risk {new['id']} now, of the category "
                 f"{new['category']}, open and not rated.", WORDINGS)
        return redirect(back, code=303)
    if answer.status in (409, 422):
        flash_at(words(answer), WORDINGS)
        return redirect(back, code=303)
    return failed(answer)
