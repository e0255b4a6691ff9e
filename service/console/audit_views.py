"""The audit log page: each event in words, for an admin who does not read ids or JSON.

The API names the people (their emails today; an id without one is a deleted user) and says
what an event is about (``target_type``); this page links that to its console page where
there is one, and says the details as a sentence per event. An event without a sentence
here (or whose details are not the expected ones) shows them as a key: value list."""

from __future__ import annotations

from flask import render_template, request, url_for
from werkzeug.routing import BuildError

from service.audit import EVENTS
from service.console.blueprint import console
from service.console.correction_views import undone_said
from service.console.pages import counted, data_or_fail, days_as_instants, said, words
from service.console.session import api, signed_in

# The form's filters, sent to the API as typed: it judges them (a 422 is the form's error).
FILTERS = ("event", "email", "created_after", "created_before", "user_id")
PER_PAGE = 20
LINK_CHARS = 60  # the most of a name or a wording a link says


def _listed(value) -> str:
    return ", ".join(str(item).replace("_", " ") for item in value) if isinstance(
        value, list) else str(value)


def _webhook_changed(details: dict) -> str:
    """Its active flag said as what it did ("Turned a webhook off"), the other fields named
    (rows recorded before the flag's value was kept say "on/off")."""
    fields = [name for name in details.get("fields", []) if name != "active"]
    if "active" in details:
        turned = f"Turned a webhook {'on' if details['active'] else 'off'}"
        return f"{turned} and changed its {_listed(fields)}." if fields else f"{turned}."
    named = ["on/off" if name == "active" else name for name in details.get("fields", [])]
    return f"Changed a webhook's {_listed(named)}."


def _changes(changes: dict) -> str:
    return "; ".join(f"{name.replace('_', ' ')} {_said(change.get('from'))} → "
                     f"{_said(change.get('to'))}" for name, change in changes.items())


def _count(value) -> int:
    """How many a list holds; anything else is details of another shape (TypeError)."""
    if not isinstance(value, list):
        raise TypeError(value)
    return len(value)


def _said(value) -> str:
    return "none" if value is None or value == "" else str(value)


# An account's source (service/db AUTH_SOURCES) as a sentence says it.
SOURCES = {"oidc": "the identity provider", "ldap": "the directory", "local": "a password"}


# event -> the sentence its details make; a KeyError or TypeError falls back to the list.
SENTENCES = {
    "register": lambda d: "Registered an account.",
    "login_success": lambda d: "Signed in.",
    "login_failure": lambda d: f"A failed sign-in as {d['email']}.",
    "logout": lambda d: "Signed out.",
    "sso_login": lambda d: f"Signed in through {SOURCES[d['source']]}.",
    "sso_refused": lambda d: f"A sign-in through {SOURCES[d['source']]} as {d['email']} was "
                             f"refused: {d['reason']}.",
    "sso_user_created": lambda d: "Account made at a first sign-in through "
                                  f"{SOURCES[d['source']]}.",
    "sso_linked": lambda d: f"Local account linked to sign-in through {SOURCES[d['source']]}.",
    "token_reuse": lambda d: "A refresh token was used twice: every session of theirs ended.",
    "password_changed": lambda d: "Changed their password: their other sessions ended.",
    "password_reset": lambda d: "Given a one-time password by an admin: every session of "
                                "theirs ended, and they choose their own at next sign-in.",
    "role_change": lambda d: f"Role changed from {d['old']} to {d['new']}.",
    "user_created": lambda d: f"Created as {d['role']}"
                              + (" by flask create-admin" if d.get("via") == "cli" else "")
                              + (", with a one-time password." if d.get("one_time")
                                 else "."),
    "user_updated": lambda d: f"Changed: {_listed(d['fields'])}.",
    "user_deleted": lambda d: f"Deleted {d['email']}, with their scans and files.",
    "api_key_created": lambda d: f"API key “{d['name']}” made, scopes {_listed(d['scopes'])}.",
    "api_key_used": lambda d: "An API key was used.",
    "api_key_revoked": lambda d: "An API key revoked.",
    "api_key_refused": lambda d: f"Refused an API key that tried to {d['action']} an admin "
                                 "account.",
    "project_created": lambda d: "Created a project.",
    "project_updated": lambda d: f"Changed the project's {_listed(d['fields'])}.",
    "project_deleted": lambda d: f"Deleted the project “{d['name']}”.",
    "member_added": lambda d: f"Added to a project as {d['role']}.",
    "member_updated": lambda d: f"Project role changed from {d['was']} to {d['role']}.",
    "member_removed": lambda d: f"Removed from a project (was {d['role']}).",
    "invitation_created": lambda d: f"Invited {d['email']} to a project as {d['role']}.",
    "invitation_resent": lambda d: f"Sent the invitation of {d['email']} ({d['role']}) again, "
                                   "with a new link.",
    "password_reset_by_link": lambda d: "Chose a new password through a reset link: every "
                                        "session and API key of theirs ended.",
    "password_reset_requested": lambda d: "Asked for a password reset link by email"
                                          + (" (sent)" if d.get("sent") else "") + ".",
    "invitation_revoked": lambda d: f"Revoked the invitation of {d['email']} ({d['role']}).",
    "invitation_accepted": lambda d: f"Joined a project as {d['role']} through an invitation"
                                     + (" link." if d["via"] == "link" else
                                        f", signing in through {SOURCES[d['via']]}."),
    "invitation_expired": lambda d: f"The invitation of {d['email']} ({d['role']}) expired "
                                    "unclaimed.",
    "scan_moved": lambda d: "Moved a scan between projects.",
    "scan_redated": lambda d: f"Dated a report {d['to']} (was {d['from']}).",
    "risk_updated": lambda d: f"Changed a register entry: {_changes(d['changes'])}.",
    "risk_rated": lambda d: f"Rated a register entry: {_changes(d['changes'])}.",
    "risk_changed": lambda d: (f"A {d['cause']} changed a register entry ({d['kind']})"
                               + (f": {_changes(d['changes'])}." if d.get("changes") else ".")),
    "risks_stated": lambda d: "A report changed the register: " + ", ".join(
        f"{count} {kind}" for kind, count in sorted(d["kinds"].items())) + ".",
    "risk_reopened": lambda d: f"{REOPENED_BY.get(d.get('cause'), 'A new report')} reopened "
                               f"a register entry (was {d['was']}).",
    "risk_added": lambda d: f"Added “{d['risk']}” ({d['category']}) to the register by hand.",
    "risk_merged": lambda d: f"Merged {counted(_count(d['merged']), 'other register entry')} "
                             "into this one.",
    "risk_suggestion_dismissed": lambda d: f"Said entry #{d['other']} is not the same risk, "
                                           "as the register had suggested: never suggested "
                                           "again.",
    "risk_split": lambda d: f"Split {counted(_count(d['findings']), 'finding')} out of entry "
                            f"#{d['split_from']}.",
    "finding_dismissed": lambda d: "Marked a finding not a risk in this report and later "
                                   "ones: later ones like it stay out of the register.",
    "finding_added": lambda d: f"Added a risk the model missed ({d['category']}).",
    "finding_removed": lambda d: f"Removed a risk a person had added ({d['category']}).",
    "dismissal_deleted": lambda d: f"Lifted the dismissal of “{d['risk']}”: "
                                   f"{counted(d['restored'], 'finding')} it hid "
                                   f"{'is' if d['restored'] == 1 else 'are'} in the register.",
    "job_created": lambda d: f"Started a batch job of {counted(d['documents'], 'document')}.",
    "job_cancelled": lambda d: f"Cancelled a batch job ({counted(d['documents'], 'document')}).",
    "webhook_created": lambda d: f"Made a webhook to {d['url']} for "
                                 f"{', '.join(d['events'])}.",
    "webhook_updated": lambda d: _webhook_changed(d),
    "webhook_deleted": lambda d: f"Deleted the webhook to {d['url']}.",
    "webhook_redelivered": lambda d: "Sent a webhook delivery again.",
    "webhook_secret_rotated": lambda d: "Rotated a webhook's secret.",
    "webhook_pinged": lambda d: "Sent a webhook a ping, to test its receiver.",
    "model_activated": lambda d: f"Activated model {d['to']} (was {_said(d['from'])})"
                                 + (f", overriding its regressions: {_listed(d['override'])}."
                                    if d.get("override") else "."),
    "model_rolled_back": lambda d: f"Rolled back to model {d['to']} (from "
                                   f"{_said(d['from'])}).",
    "model_shadow_started": lambda d: f"Started a shadow trial of model {d['version']}.",
    "model_shadow_ended": lambda d: f"The shadow trial of model {d['version']} ended "
                                    f"({d['why']}), {counted(d['read'], 'scan')} read.",
    "model_training_started": lambda d: f"Started training from model {d['base']} on "
                                        f"{counted(d['corrections'], 'correction')}.",
    "corrections_reviewed": lambda d: f"{d['decision'].capitalize()} "
                                      f"{counted(d['changed'], 'correction')}"
                                      + (f" labelled {said(d['label'])}" if d.get("label")
                                         else "") + ".",
    "corrections_undone": lambda d: f"Undid {undone_said(d['accepted'], d['rejected'])}: "
                                    f"{counted(d['changed'], 'correction')} back to pending.",
    "session_ended": lambda d: f"Ended {counted(d['sessions'], 'other session')}."
                               if "sessions" in d else "Ended one of their sessions.",
}


def sentence(event: dict) -> str | None:
    """The details of ``event`` in words, or None: shown as a list then."""
    say = SENTENCES.get(event["event"])
    try:
        return say(event["details"] or {}) if say else None
    except (KeyError, TypeError, AttributeError):  # an older event's details
        return None


def _url(endpoint: str, **values) -> str | None:
    """The console page's address, or None where this console has no such page."""
    try:
        return url_for(endpoint, **values)
    except BuildError:
        return None


def _shortened(text: str, most: int = LINK_CHARS) -> str:
    return text if len(text) <= most else text[:most - 1].rstrip() + "…"


REOPENED_BY = {"report": "A new report", "correction": "A correction of a finding",
               "review": "A review of a correction", "merge": "A merge",
               "redate": "A report dated again", "dismissal": "A dismissal lifted"}


def links(event: dict) -> list[tuple[str, str]]:
    """(words, address) of the console pages this event is about: a project by its name
    and a register entry by its wording (shortened) at the moment of the change where the
    event recorded it (issue #85 item 4), else as it is today, by their ids where they are
    gone."""
    details = event["details"] or {}
    kind, target = event["target_type"], event["target_id"]
    project_name = event.get("project_name")
    found = []
    if kind == "scan":
        found.append(("The scan", _url("console.scan_view", scan_id=target)))
    if kind == "project" and event["event"] != "project_deleted":
        found.append((_project(project_name, target),
                      _url("console.project", project_id=target)))
    if kind == "risk" and isinstance(details.get("project_id"), str) and target.isdigit():
        wording = details.get("wording") or event.get("risk")
        found.append((f"“{_shortened(wording)}”" if wording else f"Entry #{target}",
                       _url("console.project_risk", project_id=details["project_id"],
                            risk_id=int(target))))
    elif kind != "project" and isinstance(details.get("project_id"), str):
        found.append((_project(project_name, details["project_id"]),
                      _url("console.project", project_id=details["project_id"])))
    if isinstance(details.get("scan_id"), str) and kind != "scan":
        found.append(("The scan", _url("console.scan_view", scan_id=details["scan_id"])))
    for name in ("version", "to", "from", "base"):
        if event["event"].startswith("model_") and isinstance(details.get(name), str):
            found.append((f"Model {details[name]}",
                          _url("console.admin_model", version=details[name])))
    return [(text, address) for text, address in found if address]


def _project(name: str | None, project_id: str) -> str:
    """A project as a link says it: its name today, else (deleted) its id."""
    return f"Project {_shortened(name)}" if name else f"Project {project_id}"


def _shown(event: dict) -> dict:
    return {**event, "sentence": sentence(event), "links": links(event)}


@console.get("/admin/audit")
@signed_in
def admin_audit():
    """The API's page of events for the filters in the query string (the From and Until
    days as the API's instants: Until is to that day's end); a filter it refuses (422)
    shows the form again with why. Only an admin reaches a 422: the API checks the
    role first, so anyone else gets its 403 as the error page."""
    filters = {name: value for name in FILTERS
               if (value := request.args.get(name, "").strip())}
    instants, errors = days_as_instants(filters)
    if errors:  # a day the API's instants cannot say
        return render_template("console/admin_audit.html", events=None, filters=filters,
                               error=" ".join(errors.values()), event_names=EVENTS), 422
    answer = api("GET", "/admin/audit-events",
                 query={**instants, "page": request.args.get("page", "1"),
                        "per_page": PER_PAGE})
    if answer.status == 422:
        return render_template("console/admin_audit.html", events=None, filters=filters,
                               error=words(answer), event_names=EVENTS), 422
    events = data_or_fail(answer)
    events = {**events, "items": [_shown(event) for event in events["items"]]}
    return render_template("console/admin_audit.html", events=events, filters=filters,
                           event_names=EVENTS)
