"""The account page: the signed-in user's defaults for scans (the API's /auth/me/settings)."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from service.console.blueprint import console
from service.console.pages import data_or_fail, failed, words
from service.console.session import api, signed_in

# The API's refusals that the form shows in words; anything else is the error page.
FORM_ANSWERS = (400, 403, 404, 413, 422)


@console.get("/account")
@signed_in
def account():
    return _account_page(data_or_fail(api("GET", "/auth/me/settings")))


@console.post("/account")
@signed_in
def account_update():
    """The form as the API's PATCH: an empty score or "No default project" clears it, an
    unticked box is false; what the API refuses is said on the form."""
    form = {"min_score": request.form.get("min_score", "").strip(),
            "project_id": request.form.get("project_id", ""),
            "force_llm": request.form.get("force_llm") == "on"}
    answer = api("PATCH", "/auth/me/settings", json={
        "min_score": _number(form["min_score"]), "project_id": form["project_id"] or None,
        "force_llm": form["force_llm"]})
    if answer.ok:
        flash("Settings saved.")
        return redirect(url_for("console.account"))
    if answer.status in FORM_ANSWERS:
        return _account_page(form, error=words(answer), errors=answer.errors,
                             status=answer.status)
    return failed(answer)


def _number(text: str):
    """The typed score as a number for the API, or as typed when it is none (the API says
    why in words); empty: null."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _account_page(settings: dict, *, error=None, errors=None, status=200):
    listing = api("GET", "/projects", query={"per_page": 100})
    projects = [project for project in (listing.json["items"] if listing.ok else [])
                if project["role"] in ("editor", "owner")]
    shown = dict(settings, min_score="" if settings["min_score"] is None
                 else settings["min_score"])
    return render_template("console/account.html", settings=shown, projects=projects,
                           error=error, errors=errors or {}), status
