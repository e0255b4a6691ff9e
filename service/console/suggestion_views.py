"""What the register proposes, decided in the console (issue #85): on an entry's page and on
Changes, each suggestion is merged in one click ("Same risk: merge": the later of the two
into the earlier, which keeps its id, reopened when it was closed) or said "Not the same",
never offered again; and an entry a report says is closed is closed in one click. Each goes through the API as the signed-in user
(service/projects/risk_routes.py; the rules: docs/register.md#suggested-restatements), so a
viewer's forged form is the API's 403; the browser goes back where it came from (PRG), what
happened or why not said there.
"""

from __future__ import annotations

from flask import flash, redirect, request, url_for

from service.console.blueprint import console
from service.console.pages import check_id, failed, safe_target, words
from service.console.session import api, signed_in

DECISIONS = ("merge", "dismiss")


@console.post("/projects/<project_id>/risks/<int:risk_id>/suggestions/<int:other_id>")
@signed_in
def suggestion_decide(project_id: str, risk_id: int, other_id: int):
    check_id(project_id, "project")
    decision = request.form.get("decision", "")
    back = safe_target(request.form.get("back"), url_for(
        "console.project_risk", project_id=project_id, risk_id=risk_id))
    if decision not in DECISIONS:
        flash("Choose “Same risk: merge” or “Not the same”.")
        return redirect(back, code=303)
    answer = api("POST", f"/projects/{project_id}/risks/{risk_id}/suggestions/{other_id}/"
                         f"{decision}")
    if answer.ok and decision == "merge":
        kept = answer.json
        merged = other_id if kept["id"] == risk_id else risk_id
        flash(f"Risk {merged} merged into risk {kept['id']} (“{kept['risk']}”): "
              f"{kept['occurrences']} findings, {kept['status']}"
              f"{', reopened' if kept['reopened'] and kept['status'] == 'open' else ''}; "
              f"risk {merged}'s page leads there.")
        if back.endswith(f"/risks/{merged}"):  # its page is the other's now
            back = url_for("console.project_risk", project_id=project_id, risk_id=kept["id"])
        return redirect(back, code=303)
    if answer.ok:
        flash(f"Risks {risk_id} and {other_id} are not the same: "
              + ("never suggested again." if answer.json["dismissed"] else "said already."))
        return redirect(back, code=303)
    if answer.status in (409, 422):
        flash(words(answer))
        return redirect(back, code=303)
    return failed(answer)


@console.post("/projects/<project_id>/risks/<int:risk_id>/close")
@signed_in
def risk_close(project_id: str, risk_id: int):
    """"This report says it is closed: close it?" (the entry's ``says_closed_in``): the
    API's PATCH of its status, as its form's Save would."""
    check_id(project_id, "project")
    back = safe_target(request.form.get("back"), url_for(
        "console.project_risk", project_id=project_id, risk_id=risk_id))
    answer = api("PATCH", f"/projects/{project_id}/risks/{risk_id}", json={"status": "closed"})
    if answer.ok:
        flash(f"Risk {risk_id} closed, as its latest report says.")
        return redirect(back, code=303)
    if answer.status in (409, 422):
        flash(words(answer))
        return redirect(back, code=303)
    return failed(answer)
