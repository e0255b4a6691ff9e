"""The admin Models page: the registry's versions with their state and figures, activation
and rollback behind a confirmation, shadow trials and trainings from corrections.

Every read and change is the API's (``/admin/models…``), so a non-admin gets its 403 as
the error page. A confirmation names the version that serves and the one that will; its
form carries both, and they are compared with the registry just before the change is sent,
so a page left open after another admin's change changes nothing it did not name. (A change
landing between that check and the API's call is not seen: the API takes no precondition.)
The API's refusals a person can act on (409, 422, 503: a trial runs, a model failed its
check, too few corrections) are flashed on the page the form came from; anything else is
the error page.
"""

from __future__ import annotations

import re
from dataclasses import replace

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from markupsafe import Markup

from service.analysis.model_folder import Role
from service.console.blueprint import console
from service.console.pages import data_or_fail, error_page, failed, words
from service.console.session import api, signed_in


@console.app_template_filter("markdown")
def markdown(text: str | None, below: int = 2) -> Markup:
    """A model card as HTML. CommonMark with tables (markdown-it-py); raw HTML is escaped,
    never passed (``html`` off), and links of unsafe schemes (javascript:, vbscript:, file:,
    data: but images) are left as text by markdown-it's own check: ml.train writes the card
    from data a person may have supplied, and an admin reads it signed in. Its headings
    sit ``below`` the page's (its h1 an h3 under the page's h2). A column's alignment is a
    class, not markdown-it's ``style`` attribute, which the console's CSP (style-src 'self')
    refuses."""
    from markdown_it import MarkdownIt

    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = parser.parse(text or "")
    for token in tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(int(token.tag[1]) + below, 6)}"
        for child in [token, *(token.children or [])]:
            align = ALIGNED.fullmatch(str(child.attrs.pop("style", "")))
            if align:
                child.attrSet("class", f"align-{align[1]}")
    return Markup(parser.renderer.render(tokens, parser.options, {}))


ALIGNED = re.compile(r"text-align:(left|right|center)")
# A version as the registry names its folders (service/serving/registry.py VERSION; the
# console may not import it): anything else is the API's 404 without asking it.
VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
# The API's refusals said on the page in a flash; anything else is the error page.
SAID = (409, 422, 503)
TRAININGS_SHOWN = 20
# The API's fields of these forms as their labels say them (pages.FIELD_NAMES has the rest).
FIELDS = {"sample_rate": "Share of the scans", "limit": "Up to (scans)", "base": "Base version",
          "corrections": "Corrections"}


def _version(value: str) -> str:
    if not VERSION.fullmatch(value):
        abort(make_response(*error_page(404, "No such model version.")))
    return value


def _registry() -> dict:
    return data_or_fail(api("GET", "/admin/models"))


def _answered(answer, success: str, target: str):
    """Post/Redirect/Get: ``success`` flashed when the API agreed, its words when it
    refused in a way the page can say; the error page otherwise."""
    if answer.ok:
        flash(success)
    elif answer.status in SAID:
        flash(words(replace(answer, errors={FIELDS.get(name, name): messages
                                            for name, messages in answer.errors.items()})))
    else:
        return failed(answer)
    return redirect(target)


# The templates compare a model's role (the API's string) with these, not with words.
console.add_app_template_global(Role, "Role")


@console.get("/admin/models")
@signed_in
def admin_models():
    registry = _registry()
    trainings = data_or_fail(api("GET", "/admin/models/trainings",
                                 query={"per_page": TRAININGS_SHOWN}))
    shadow = next((m for m in registry["items"] if m["state"] == "shadow"), None)
    # A training's base is a deployment: the serving one first (F+R trains its reader too),
    # then each fast model alone.
    active = registry["active"] or ""
    bases = ([active] if "+" in active else []) + [
        m["version"] for m in registry["items"] if m["role"] == Role.FAST and m["state"] != "broken"]
    return render_template("console/admin_models.html", registry=registry,
                           trainings=trainings, shadow=shadow, bases=bases, active=active)


@console.get("/admin/models/<version>")
@signed_in
def admin_model(version: str):
    card = data_or_fail(api("GET", f"/admin/models/{_version(version)}"))
    answer = api("GET", f"/admin/models/{version}/shadow")
    report = answer.json if answer.ok else None
    if not answer.ok and answer.status != 404:
        return failed(answer)
    return render_template("console/admin_model.html", model=card, report=report,
                           active=_registry()["active"])


# --------------------------------------------------------------- activation and rollback


@console.get("/admin/models/<version>/activate")
@signed_in
def admin_activate_page(version: str):
    card = data_or_fail(api("GET", f"/admin/models/{_version(version)}"))
    registry = _registry()
    return render_template("console/admin_model_confirm.html", serving=registry["active"],
                           target=card["version"], model=card, rollback=False,
                           serving_model=_listed(registry, registry["active"]),
                           action=url_for("console.admin_activate", version=version))


def _listed(registry: dict, version: str | None) -> dict | None:
    """A version's row of the registry's list (a cascade's: its fast model's)."""
    fast = (version or "").split("+")[0]
    return next((m for m in registry["items"] if m["version"] == fast), None)


@console.post("/admin/models/<version>/activate")
@signed_in
def admin_activate(version: str):
    _version(version)
    if (stale := _overtaken(version)) is not None:
        return stale
    # The regressions the admin ticked on the confirmation, named as the API's override.
    override = request.form.getlist("override")
    answer = api("POST", f"/admin/models/{version}/activate",
                 json={"override": override} if override else None)
    said = ""
    if answer.ok:
        said = (f"Model {version} serves now (it replaced {request.form['serving']}; "
                f"loading and checking it took {answer.json['load_seconds']} s).")
    return _answered(answer, said, url_for("console.admin_models"))


@console.get("/admin/models/rollback")
@signed_in
def admin_rollback_page():
    registry = _registry()
    history = registry.get("previous_versions") or []
    target = history[-1] if history else None
    return render_template("console/admin_model_confirm.html", serving=registry["active"],
                           target=target, model=_listed(registry, target),
                           serving_model=_listed(registry, registry["active"]),
                           rollback=True, action=url_for("console.admin_rollback"))


@console.post("/admin/models/rollback")
@signed_in
def admin_rollback():
    if (stale := _overtaken(None)) is not None:
        return stale
    override = request.form.getlist("override")
    answer = api("POST", "/admin/models/rollback",
                 json={"override": override} if override else None)
    said = ""
    if answer.ok:
        body = answer.json
        said = (f"Rolled back: model {body['active_version']} serves now (it replaced "
                f"{request.form['serving']}).")
        if body["skipped"]:
            said += " Passed over: " + "; ".join(
                f"{item['version']} ({item['reason']})" for item in body["skipped"]) + "."
    return _answered(answer, said, url_for("console.admin_models"))


def _overtaken(version: str | None):
    """A redirect saying so when what the confirmation named no longer holds: the version
    serving, and for a rollback the one it would serve (another admin's change meanwhile);
    None when it still does."""
    serving = request.form.get("serving", "")
    registry = _registry()
    active, history = registry["active"], registry.get("previous_versions") or []
    done = "activated" if version else "rolled back"
    if serving != active:
        flash(f"Model {active} serves now, not {serving or 'another'} as the confirmation "
              f"said: nothing was {done}.")
    elif version is None and history[-1:] != [request.form.get("to", "")]:
        target = history[-1] if history else "nothing"
        flash(f"A rollback would serve {target} now, not {request.form.get('to') or 'another'}"
              f" as the confirmation said: nothing was {done}.")
    else:
        return None
    return redirect(url_for("console.admin_models"))


# ----------------------------------------------------------------------- shadow trials


@console.post("/admin/models/<version>/shadow")
@signed_in
def admin_shadow_start(version: str):
    _version(version)
    body = {name: value for name in ("sample_rate", "limit")
            if (value := _number(request.form.get(name, "").strip())) is not None}
    answer = api("POST", f"/admin/models/{version}/shadow", json=body)
    said = ""
    if answer.ok:
        said = (f"Shadow trial of {version} started: it reads "
                f"{answer.json['sample_rate']:.0%} of the scans, up to "
                f"{answer.json['limit']}.")
    return _answered(answer, said, url_for("console.admin_model", version=version))


@console.post("/admin/models/<version>/shadow/end")
@signed_in
def admin_shadow_end(version: str):
    _version(version)
    answer = api("DELETE", f"/admin/models/{version}/shadow")
    return _answered(answer, f"Shadow trial of {version} ended; its report stays.",
                     url_for("console.admin_model", version=version))


def _number(text: str):
    """A typed number for the API (an int when it is one), as typed when it is none (the
    API says why), None when empty (the API's default)."""
    if not text:
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


# --------------------------------------------------------------------------- trainings


@console.post("/admin/models/trainings")
@signed_in
def admin_training_start():
    base = request.form.get("base", "").strip()
    answer = api("POST", "/admin/models/trainings", json={"base": base} if base else {})
    said = ""
    if answer.ok:
        said = (f"Training queued: {answer.json['base']} from "
                f"{answer.json['corrections']} corrected sentences.")
    return _answered(answer, said, url_for("console.admin_models"))
