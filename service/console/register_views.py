"""The register page's weekly work: a rating set in place, status and owner set on several
entries at once, a risk added by hand (the page itself: project_views.py).

Each form writes through the API's own routes as the signed-in user: the PATCH of an entry
(one call per entry of a bulk edit: the API has no bulk route, and each entry is then
authorized, locked and audited as a single change would be) and the POST of a risk added
by hand. So a viewer's post is the API's 403 on the error page, and an entry of another
project is the API's 404, said beside the entries that did change. Forms post, then
redirect (PRG) with a flash that names the entries.
"""

from __future__ import annotations

from flask import redirect, request, url_for

from service.console.blueprint import console
from service.console.pages import (
    check_id,
    counted,
    data_or_fail,
    failed,
    flash_at,
    safe_target,
    words,
)
from service.console.session import api, signed_in

RATING = ("likelihood", "impact")
BULK_FIELDS = ("status", "owner_id")
MAX_BULK = 100  # entries of one bulk edit: five pages of the register
KEEP = ""  # a bulk select's "leave as it is"
NOBODY = "-"  # the bulk owner select's "nobody" (an empty value keeps the owner)


@console.post("/projects/<project_id>/risks/<int:risk_id>/rating")
@signed_in
def risk_rating(project_id: str, risk_id: int):
    """A row's likelihood and impact (1–5, empty: not rated) through the entry's PATCH;
    back to the register at the row, the score named in the flash."""
    check_id(project_id, "project")
    body = {name: _level(request.form.get(name, "")) for name in RATING}
    answer = api("PATCH", f"/projects/{project_id}/risks/{risk_id}", json=body)
    if not answer.ok:
        return failed(answer)
    risk = answer.json
    if risk["score"] is None and risk["likelihood"] is None and risk["impact"] is None:
        said = f'Rating of "{risk["risk"]}" cleared.'
    elif risk["score"] is None:
        said = (f'Rated "{risk["risk"]}": likelihood {risk["likelihood"] or "not rated"}, '
                f'impact {risk["impact"] or "not rated"}; no score until both are rated.')
    else:
        said = (f'Rated "{risk["risk"]}": likelihood {risk["likelihood"]} × impact '
                f'{risk["impact"]} = {risk["score"]} ({risk["band"]}).')
    flash_at(said, f"rating-{risk_id}")
    return redirect(_back(project_id, f"risk-{risk_id}"))


def _level(value: str):
    """The API's integer for a level chosen; empty clears it; anything else goes to the
    API as it is, for its 422 in its words."""
    value = value.strip()
    if value == "":
        return None
    return int(value) if value.isascii() and value.isdigit() and len(value) < 4 else value


@console.post("/projects/<project_id>/risks/bulk")
@signed_in
def risk_bulk(project_id: str):
    """The entries ticked on the register, each given the status and owner chosen (one
    PATCH each); the flash names those changed and, for each refused, the API's words."""
    check_id(project_id, "project")
    data_or_fail(api("GET", f"/projects/{project_id}"))  # another's project: its 404 page
    chosen = list(dict.fromkeys(request.form.getlist("risk")))
    body = {}
    for name in BULK_FIELDS:
        value = request.form.get(name, KEEP).strip()
        if value != KEEP:
            body[name] = None if name == "owner_id" and value == NOBODY else value
    if not chosen:
        flash_at("Select at least one risk.", "register")
    elif len(chosen) > MAX_BULK:
        flash_at(f"Select at most {MAX_BULK} risks at once.", "register")
    elif not body:
        flash_at("Choose a status or an owner to set.", "register")
    else:
        changed, refused = [], []
        for value in chosen:
            if not (value.isascii() and value.isdigit() and len(value) <= 18):
                refused.append((value[:20], "No such risk."))
                continue
            answer = api("PATCH", f"/projects/{project_id}/risks/{value}", json=body)
            if answer.status == 403 and not changed:  # the caller's role: nothing is done
                return failed(answer)
            if answer.ok:
                changed.append(answer.json["risk"])
            else:
                refused.append((value, words(answer)))
        if changed:
            flash_at(f"Changed {counted(len(changed), 'risk')}: "
                     + ", ".join(f'"{risk}"' for risk in changed) + ".", "register")
        for value, why in refused:
            flash_at(f"Risk {value} not changed: {why}", "register")
    return redirect(_back(project_id, "register"))


@console.post("/projects/<project_id>/risks/add")
@signed_in
def risk_add(project_id: str):
    """A risk no report stated, added by hand (the API's POST …/risks), then given the
    status and owner chosen, if any (its PATCH); a refusal is a flash in the API's words."""
    check_id(project_id, "project")
    wording = request.form.get("risk", "")
    answer = api("POST", f"/projects/{project_id}/risks",
                 json={"risk": wording, "category": request.form.get("category", "")})
    if answer.status in (400, 413, 422):
        flash_at(f"The risk was not added. {words(answer)}", "add-risk")
        return redirect(_back(project_id, "add-risk"))
    if not answer.ok:
        return failed(answer)
    risk = answer.json
    body = {name: value for name in BULK_FIELDS
            if (value := request.form.get(name, "").strip())}
    flash_at(f'Added "{risk["risk"]}" by hand.', f"risk-{risk['id']}")
    if body:
        update = api("PATCH", f"/projects/{project_id}/risks/{risk['id']}", json=body)
        if not update.ok:
            flash_at(f"Its status and owner were not set: {words(update)}",
                     f"risk-{risk['id']}")
    return redirect(_back(project_id, f"risk-{risk['id']}"))


def _back(project_id: str, anchor: str) -> str:
    """The register page the form was on (its ``next``: filters, order, page), at
    ``anchor``."""
    register = url_for("console.project", project_id=project_id)
    back = safe_target(request.form.get("next"), register)
    return back.split("#", 1)[0] + f"#{anchor}"
