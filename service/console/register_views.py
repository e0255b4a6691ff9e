"""The register's weekly work: a row saved with one form, status, owner and rating set on
several entries at once, a risk added by hand (the pages themselves: project_views.py).

A row (and the entry's own page) is one form: status, rating, owner and due date (on the
entry's page notes and category too) go to the API in one PATCH, and what changed is said
in one sentence beside the form ("Status set to mitigating, rated 4 × 5 = 20 (critical).",
or "Nothing changed."). A form carries a copy of each value it showed (``was_<field>``),
and only the fields the person changed from those are sent: a save never puts back a value
that someone else changed meanwhile in a field this person left alone.

Each form writes through the API's own routes as the signed-in user: the PATCH of an entry
(one call per entry of a bulk edit: the API has no bulk route, and each entry is then
authorized, locked and audited as a single change would be) and the POST of a risk added
by hand. So a viewer's post is the API's 403 on the error page, and an entry of another
project is the API's 404, said beside the entries that did change. Forms post, then
redirect (PRG) with a flash placed beside the form (pages.flash_at).
"""

from __future__ import annotations

from flask import redirect, request, url_for
from werkzeug.datastructures import MultiDict

from service.console.blueprint import console
from service.console.pages import (
    check_id,
    counted,
    data_or_fail,
    failed,
    flash_at,
    form_refusal,
    safe_target,
    words,
)
from service.console.project_views import EDIT, _members, risk_page
from service.console.session import api, signed_in

RATING = ("likelihood", "impact")
# An entry's fields a form edits (service/entry_fields.py: EDITED), in the order a sentence
# says them (the row's columns).
EDITABLE = ("status", *RATING, "owner_id", "due_date", "notes", "category")
CLEARABLE = ("owner_id", "due_date", "notes", *RATING)  # empty: the API's null
SHOWN = "was_"  # a form's hidden copy of the value it showed: was_status, was_owner_id…
BULK_FIELDS = ("status", "owner_id", *RATING)
MAX_BULK = 100  # entries of one bulk edit: five pages of the register
KEEP = ""  # a bulk select's "leave as it is"
NOBODY = "-"  # the bulk selects' "nobody" and "not rated" (an empty value keeps it)


# --- one entry: a register row, or its own page -------------------------------------------

@console.post("/projects/<project_id>/risks/<int:risk_id>")
@signed_in
def project_risk_update(project_id: str, risk_id: int):
    """A register row's form or the entry page's: what the person changed, in one PATCH;
    back to the page it came from, at the form, with what changed said there. A refusal
    is said there too (the entry's page shows its form again, each field's words beside
    it); a viewer's or another project's is the API's error page."""
    check_id(project_id, "project")
    details = request.form.get("from") == "details"
    anchor = EDIT if details else f"risk-{risk_id}"
    body = edited(request.form)
    answer = api("PATCH", f"/projects/{project_id}/risks/{risk_id}", json=body)
    if answer.status == 422 and details:
        current = api("GET", f"/projects/{project_id}/risks/{risk_id}")
        if current.ok:  # the entry's form again, with what was typed and the API's words
            error, errors = form_refusal(answer, *EDITABLE)
            return risk_page(project_id, current.json,
                             form={name: request.form[name] for name in EDITABLE
                                   if name in request.form},
                             error=error, errors=errors, status=422)
    if answer.status == 422:
        flash_at(f"Not saved: {words(answer)}", anchor)
    elif not answer.ok:
        return failed(answer)
    else:
        owner = answer.json["owner_id"] if "owner_id" in body else None
        flash_at(changes_said(body, answer.json, _email(project_id, owner)), anchor)
    default = (url_for("console.project_risk", project_id=project_id, risk_id=risk_id)
               if details else url_for("console.project", project_id=project_id))
    return redirect(_back(default, anchor))


def edited(form: MultiDict) -> dict:
    """The PATCH's body: each field of the form whose value is not the one it showed (a
    field without its copy is sent as it is), an empty one as null where the API clears
    it, a level as the API's integer."""
    body = {}
    for name in EDITABLE:
        if name not in form:
            continue
        value = form[name].replace("\r\n", "\n")  # a browser's line breaks in the notes
        shown = form.get(SHOWN + name)
        if shown is not None and _plain(name, value) == _plain(name, shown.replace("\r\n",
                                                                                   "\n")):
            continue
        body[name] = None if name in CLEARABLE and value.strip() == "" else (
            _level(value) if name in RATING else value)
    return body


def _plain(name: str, value: str) -> str:
    """A value as two copies of it compare: the notes as typed, the others trimmed."""
    return value if name == "notes" else value.strip()


def _level(value: str):
    """The API's integer for a level chosen; anything else goes to the API as it is, for
    its 422 in its words."""
    value = value.strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) < 4 else value


def changes_said(body: dict, entry: dict, owner_email: str | None = None, *,
                 levels_alone: bool = False) -> str:
    """What a save changed, in one sentence, from the fields sent (``body``) and the entry
    the API answered: "Status set to mitigating, rated 4 × 5 = 20 (critical)."; "Nothing
    changed." when nothing was sent. ``levels_alone``: a level sent without the other is
    said alone (a bulk edit's entries keep their own other level)."""
    parts = []
    if "status" in body:
        parts.append(f"status set to {entry['status']}")
    sent = [name for name in RATING if name in body]
    if levels_alone and len(sent) == 1:
        level = body[sent[0]]
        parts.append(f"{sent[0]} set to {level}" if level is not None
                     else f"{sent[0]} removed")
    elif sent:
        parts.append(_rating_said(entry))
    if "owner_id" in body:
        parts.append(f"owner set to {owner_email or 'a member'}" if entry["owner_id"]
                     else "owner removed")
    if "due_date" in body:
        parts.append(f"due {entry['due_date']}" if entry["due_date"] else "due date removed")
    if "notes" in body:
        parts.append("notes changed" if entry["notes"] else "notes removed")
    if "category" in body:
        parts.append(f"moved to the category {entry['category']}")
    if not parts:
        return "Nothing changed."
    sentence = ", ".join(parts)
    return sentence[0].upper() + sentence[1:] + "."


def _rating_said(levels: dict) -> str:
    """An entry's rating as a save says it: both levels and the score, or why none."""
    likelihood, impact = levels.get("likelihood"), levels.get("impact")
    if likelihood is None and impact is None:
        return "rating removed"
    if likelihood is None or impact is None:
        return (f"likelihood {likelihood or 'not rated'}, impact {impact or 'not rated'} "
                "(no score until both are rated)")
    score = (f" = {levels['score']} ({levels['band']})" if levels.get("score") is not None
             else "")
    return f"rated {likelihood} × {impact}{score}"


def _email(project_id: str, user_id: str | None) -> str | None:
    """A member's email, for a sentence that names the owner chosen."""
    if not user_id:
        return None
    return next((member["email"] for member in _members(project_id)
                 if member["user_id"] == user_id), None)


# --- several entries at once ---------------------------------------------------------------

@console.post("/projects/<project_id>/risks/bulk")
@signed_in
def risk_bulk(project_id: str):
    """The entries ticked on the register, each given the status, owner and rating chosen
    (one PATCH each); one sentence beside the bulk form says what changed on which, and
    which already were so; one more for each entry refused, in the API's words."""
    check_id(project_id, "project")
    data_or_fail(api("GET", f"/projects/{project_id}"))  # another's project: its 404 page
    chosen = list(dict.fromkeys(request.form.getlist("risk")))
    body = {}
    for name in BULK_FIELDS:
        value = request.form.get(name, KEEP).strip()
        if value != KEEP:
            body[name] = None if value == NOBODY else (
                _level(value) if name in RATING else value)
    if not chosen:
        flash_at("Select at least one risk.", "register")
    elif len(chosen) > MAX_BULK:
        flash_at(f"Select at most {MAX_BULK} risks at once.", "register")
    elif not body:
        flash_at("Choose a status, an owner or a rating to set.", "register")
    else:
        return _bulk(project_id, chosen, body)
    return redirect(_back(url_for("console.project", project_id=project_id), "register"))


def _bulk(project_id: str, chosen: list[str], body: dict):
    """Each entry read, then patched: read first, so that the sentence can tell the
    entries it changed from those already so. A refusal of what was chosen (a 422) is the
    same for every entry: said once, and the rest are left alone."""
    changed, already, refused, answer = [], [], [], None
    for value in chosen:
        if not (value.isascii() and value.isdigit() and len(value) <= 18):
            refused.append((value[:20], "No such risk."))
            continue
        path = f"/projects/{project_id}/risks/{value}"
        before = api("GET", path)
        if before.ok:
            answer = api("PATCH", path, json=body)
        if before.ok and answer.status == 403 and not changed:  # the role: nothing is done
            return failed(answer)
        if before.ok and answer.status == 422:  # what was chosen, the same for every entry
            refused = [(None, words(answer))]
            break
        if not before.ok or not answer.ok:
            refused.append((value, words(answer if before.ok else before)))
        elif all(before.json[name] == answer.json[name] for name in body):
            already.append(answer.json["risk"])
        else:
            changed.append(answer.json)
    owner = _email(project_id, body.get("owner_id")) if changed else None
    if changed:
        said = changes_said(body, {**changed[0], **body}, owner, levels_alone=True)[:-1]
        listed = ", ".join(f"“{entry['risk']}”" for entry in changed)
        flash_at(f"{said} on {counted(len(changed), 'risk')}: {listed}"
                 + (f"; {_listed(already)} {'was' if len(already) == 1 else 'were'} "
                    "already so." if already else "."), "register")
    elif already:
        flash_at(f"Nothing changed: {_listed(already)} "
                 f"{'was' if len(already) == 1 else 'were'} already so.", "register")
    for value, why in refused:
        flash_at(f"Risk {value} not changed: {why}" if value else
                 f"Not changed: {why}", "register")
    return redirect(_back(url_for("console.project", project_id=project_id), "register"))


def _listed(wordings: list[str]) -> str:
    return ", ".join(f"“{wording}”" for wording in wordings)


# --- a risk no report stated ---------------------------------------------------------------

@console.post("/projects/<project_id>/risks/add")
@signed_in
def risk_add(project_id: str):
    """A risk no report stated, added by hand (the API's POST …/risks), then given the
    status and owner chosen, if any (its PATCH); a refusal is a flash in the API's words."""
    check_id(project_id, "project")
    register = url_for("console.project", project_id=project_id)
    wording = request.form.get("risk", "")
    answer = api("POST", f"/projects/{project_id}/risks",
                 json={"risk": wording, "category": request.form.get("category", "")})
    if answer.status in (400, 413, 422):
        flash_at(f"The risk was not added. {words(answer)}", "add-risk")
        return redirect(_back(register, "add-risk"))
    if not answer.ok:
        return failed(answer)
    risk = answer.json
    body = {name: value for name in ("status", "owner_id")
            if (value := request.form.get(name, "").strip())}
    flash_at(f"Added “{risk['risk']}” by hand.", f"risk-{risk['id']}")
    if body:
        update = api("PATCH", f"/projects/{project_id}/risks/{risk['id']}", json=body)
        if not update.ok:
            flash_at(f"Its status and owner were not set: {words(update)}",
                     f"risk-{risk['id']}")
    return redirect(_back(register, f"risk-{risk['id']}"))


def _back(default: str, anchor: str) -> str:
    """The page the form was on (its ``next``: the register's filters, order and page),
    else ``default``, at ``anchor``."""
    back = safe_target(request.form.get("next"), default)
    return back.split("#", 1)[0] + f"#{anchor}"
