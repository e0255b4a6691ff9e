"""The review of corrections (reviewers and admins): who corrected what, waiting to teach.

A correction teaches the model only once a reviewer accepts it (the API's
/api/v1/corrections); this page lists the pending ones by contributor and label, and
accepts or rejects a contributor's all or the rows ticked. A person who may not review
gets the API's 403 as the error page."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from service.analysis.labels import LABELS
from service.console.blueprint import console
from service.console.pages import data_or_fail, words
from service.console.session import api, signed_in

PER_PAGE = 50
STATES = ("pending", "accepted", "rejected")


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
                           state=state, states=STATES, contributor=contributor, labels=LABELS)


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
        shown = (value.partition(":") for value in request.form.getlist("finding"))
        body["findings"] = [{"id": int(number), "label": label}
                            for number, _, label in shown if number.isdigit()]
        body["findings"] = body["findings"] or None
    answer = api("POST", "/corrections/review", json={
        key: value for key, value in body.items() if value is not None})
    if answer.ok:
        decided = answer.json
        flash(f"{decided['decision'].capitalize()} {decided['changed']} "
              f"{'correction' if decided['changed'] == 1 else 'corrections'}; "
              f"{decided['pending']} still waiting.")
    elif answer.status == 422 and "findings" in answer.errors:
        flash("Tick the corrections to decide first.")
    elif answer.status in (409, 422):
        flash(words(answer))
    else:
        data_or_fail(answer)
    return redirect(url_for("console.corrections"), 303)
