"""The review of corrections (reviewers and admins): who corrected what, waiting to teach.

A correction teaches the model only once a reviewer accepts it (the API's
/api/v1/corrections); this page lists the pending ones by contributor and label, and
accepts or rejects a contributor's all or the rows ticked. The accepted and rejected ones
say who decided them and when, and "Undo" beside a decision (one's own; an admin's, any)
puts it back to pending. A person who may not review gets the API's 403 as the error
page."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from service.analysis.labels import LABELS
from service.console.blueprint import console
from service.console.pages import AT, counted, data_or_fail, flash_at, words
from service.console.session import api, current_user, signed_in

PER_PAGE = 50
STATES = ("pending", "accepted", "rejected")
DECIDED = "decided"  # the decided list's id: an undo's result is said there


@console.get("/corrections")
@signed_in
def corrections():
    state = request.args.get("review", "pending")
    state = state if state in STATES else "pending"
    query = {"review": state, "page": request.args.get("page", "1"), "per_page": PER_PAGE}
    contributor = request.args.get("contributor", "").strip()
    if contributor:
        query["contributor"] = contributor
    listing = data_or_fail(api("GET", "/corrections", query=query))
    people = data_or_fail(api("GET", "/corrections/contributors",
                              query={"review": state}))["items"]
    return render_template("console/corrections.html", listing=listing, people=people,
                           state=state, states=STATES, contributor=contributor, labels=LABELS,
                           me=current_user(), placed={AT + DECIDED})


@console.post("/corrections/review")
@signed_in
def corrections_review():
    decision = request.form.get("decision", "")
    body: dict = {"decision": decision}
    if request.form.get("contributor"):
        body.update(contributor=request.form["contributor"],
                    as_of=request.form.get("as_of", ""))
        if request.form.get("label"):
            body["label"] = request.form["label"]
    else:  # each ticked row says "id:label", the label the reviewer saw
        body["findings"] = _shown() or None
    answer = api("POST", "/corrections/review", json={
        key: value for key, value in body.items() if value is not None})
    if answer.ok:
        decided = answer.json
        flash(f"{decided['decision'].capitalize()} {counted(decided['changed'], 'correction')}"
              f"; {decided['pending']} still waiting. Undo one under “{decided['decision']}”.")
    elif answer.status == 422 and "findings" in answer.errors:
        flash("Tick the corrections to decide first.")
    elif answer.status in (409, 422) or (answer.status == 403 and answer.errors):
        flash(words(answer))  # ... or, under four-eyes review, one's own corrections
    else:
        data_or_fail(answer)
    return redirect(url_for("console.corrections"), 303)


@console.post("/corrections/undo")
@signed_in
def corrections_undo():
    """A decision's "Undo" (the row's "id:label", the label shown): the API puts it back to
    pending; what it did, or why not in its words, is said above the list it was in."""
    state = request.form.get("review", "")
    state = state if state in STATES[1:] else "accepted"
    answer = api("POST", "/corrections/undo", json={"findings": _shown()})
    if answer.ok:
        undone = answer.json
        flash_at(f"Undid {undone_said(undone['accepted'], undone['rejected'])}: "
                 f"{'it waits' if undone['undone'] == 1 else 'they wait'} for a reviewer "
                 "again." if undone["undone"] else "Nothing to undo: it is pending already.",
                 DECIDED)
    elif answer.status in (403, 409) and answer.errors:  # another's decision; changed since
        flash_at(words(answer), DECIDED)
    elif answer.status == 422:
        flash_at("Choose a decision to undo.", DECIDED)
    else:
        data_or_fail(answer)
    return redirect(url_for("console.corrections", review=state, _anchor=DECIDED), 303)


def undone_said(accepted: int, rejected: int) -> str:
    """Decisions undone in words that agree with their numbers: "1 acceptance", "2
    rejections", "1 acceptance and 1 rejection" (the audit page's sentence too)."""
    return " and ".join(counted(number, unit) for number, unit in (
        (accepted, "acceptance"), (rejected, "rejection")) if number) or "no decision"


def _shown() -> list[dict]:
    """The rows sent, each "id:label" (the label the reviewer saw), as the API binds them."""
    shown = (value.partition(":") for value in request.form.getlist("finding"))
    return [{"id": int(number), "label": label}
            for number, _, label in shown if number.isascii() and number.isdigit()
            and len(number) <= 18]
