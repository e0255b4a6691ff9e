"""A project's webhooks: their console pages, for the project's owners, through the API's
/projects/{id}/webhooks… (service/webhooks/routes.py).

The list, with the form for a new webhook (URL, events); a webhook's own page with its
deliveries (each with "Redeliver" and a page of its own: the request and the answer),
"Pause" or "Resume", "Edit" (URL, events), "Send a ping", "Rotate the secret" and "Delete"
(the script asks first). Only owners manage webhooks, and the API refuses anyone else: the list
asks the project for the caller's role first and shows a member who is not an owner a
sentence and no control, a forged form gets the API's 403 in its words, a stranger the
project's 404.

A secret (a new webhook's, a rotation's) is in the API's answer alone. It reaches the
webhook's page (Post/Redirect/Get) on the server, behind a one-time id that is all the
session cookie carries (session.keep_once), as a new API key does, and that page takes it
out: shown once, with the overlap during which the secret it replaced signs too."""

from __future__ import annotations

import json
from datetime import datetime

from flask import flash, redirect, render_template, request, url_for

from service.console.blueprint import console
from service.console.pages import (
    AT,
    check_id,
    counted,
    data_or_fail,
    failed,
    flash_at,
    form_refusal,
    words,
)
from service.console.session import api, keep_once, signed_in, take_once

# The API's events (service/db/webhook_tables.py: WEBHOOK_EVENTS), which the console may not
# import (.importlinter: the console is a client), each in words; tests/test_console_webhooks.py
# checks that they agree.
EVENTS = {
    "risk.created": "A new risk: a report states one the register did not hold, or someone "
                    "adds one by hand.",
    "risk.reopened": "A report states again a risk that was accepted or closed.",
    "risk.status_changed": "Someone changes a risk's status.",
    "risk.rated": "A risk's likelihood or impact is set or changed.",
    "risk.merged": "Someone merges risks into one.",
    "risk.split": "Someone splits findings out of a risk into a new one.",
    "risk.finding_removed": "Someone deletes a risk they added to a scan: the risk keeps "
                            "what people gave it.",
    "risk.moved": "A correction of its finding's label moves a risk to another category.",
}
NEW_SECRET = "new_webhook_secret"
PER_PAGE = 20
# The API's refusals that the form shows in words; anything else is the error page.
FORM_ANSWERS = (400, 409, 413, 422, 429)
# Where a webhook's page says the result of "Edit" and of "Pause"/"Resume" (pages.flash_at).
EDIT, STATE = "edit-webhook", "webhook-state"


@console.get("/projects/<project_id>/webhooks")
@signed_in
def project_webhooks(project_id: str):
    check_id(project_id, "project")
    return _list_page(project_id)


@console.post("/projects/<project_id>/webhooks")
@signed_in
def project_webhook_create(project_id: str):
    """The form as the API's POST; a refusal (a malformed URL, one the SSRF guard refuses,
    no event, the project's cap, too many URLs set) is the form again in the API's words,
    each said once."""
    check_id(project_id, "project")
    form = {"url": request.form.get("url", "").strip(),
            "events": request.form.getlist("events")}
    answer = api("POST", f"/projects/{project_id}/webhooks", json=form)
    if answer.ok:
        keep_once(NEW_SECRET, {"webhook_id": answer.json["id"],
                               "secret": answer.json["secret"], "rotated": False})
        flash(f"Webhook to {answer.json['url']} made.")
        return redirect(url_for("console.project_webhook", project_id=project_id,
                                webhook_id=answer.json["id"]))
    if answer.status in FORM_ANSWERS:
        error, errors = form_refusal(answer, "url", "events")
        return _list_page(project_id, form=form, errors=errors, status=answer.status,
                          error=error)
    return failed(answer)


def _list_page(project_id: str, *, form=None, error=None, errors=None, status=200):
    project = data_or_fail(api("GET", f"/projects/{project_id}"))
    listing = None
    if project["role"] == "owner":  # anyone else: the API's 403; the page says so in words
        listing = data_or_fail(api("GET", f"/projects/{project_id}/webhooks", query={
            "page": request.args.get("page", "1"), "per_page": PER_PAGE}))
    page = render_template(
        "console/webhooks.html", project=project, webhooks=listing, events=EVENTS,
        form=form or {"url": "", "events": ["risk.created"]}, error=error,
        errors=errors or {})
    return page, status


# --- one webhook ---------------------------------------------------------------------------

@console.get("/projects/<project_id>/webhooks/<webhook_id>")
@signed_in
def project_webhook(project_id: str, webhook_id: str):
    """The webhook, its deliveries newest first, its controls; the secret just made or
    rotated, once."""
    check_id(project_id, "project")
    check_id(webhook_id, "webhook")
    pending, new = take_once(NEW_SECRET)
    if pending and new is None:
        flash("The new secret could not be shown (it waits ten minutes for this page): "
              "rotate it again.")
    try:
        return _webhook_page(project_id, webhook_id,
                             secret=new if new and new.get("webhook_id") == webhook_id
                             else None)
    except Exception:
        if new is not None:
            keep_once(NEW_SECRET, new)  # a page that failed keeps it for the next
        raise


@console.post("/projects/<project_id>/webhooks/<webhook_id>/edit")
@signed_in
def project_webhook_edit(project_id: str, webhook_id: str):
    """The "Edit" form as the API's PATCH of the URL and events; a refusal is the form
    again, what was typed kept, in the API's words as the "Add a webhook" form's are."""
    form = {"url": request.form.get("url", "").strip(),
            "events": request.form.getlist("events")}
    answer = api("PATCH", _path(project_id, webhook_id), json=form)
    if answer.ok:
        flash_at("Saved: the events from now on are sent to this URL.", EDIT)
        return _back_to(project_id, webhook_id, EDIT)
    if answer.status in FORM_ANSWERS:
        error, errors = form_refusal(answer, "url", "events")
        return _webhook_page(project_id, webhook_id, form=form, errors=errors, error=error,
                             status=answer.status)
    return failed(answer)


@console.post("/projects/<project_id>/webhooks/<webhook_id>/active")
@signed_in
def project_webhook_active(project_id: str, webhook_id: str):
    """The "Pause" (active false) or "Resume" (true) button; what it did said beside it."""
    active = request.form.get("active") == "true"
    answer = api("PATCH", _path(project_id, webhook_id), json={"active": active})
    if answer.status in (409, 429):
        flash_at(words(answer), STATE)
    elif not answer.ok:
        return failed(answer)
    elif active:
        flash_at("Resumed: the events it wants are sent to it again. Those that happened "
                 "while it was paused are not.", STATE)
    else:
        flash_at("Paused: nothing is sent to it, not even the events that happen meanwhile, "
                 "until you resume it.", STATE)
    return _back_to(project_id, webhook_id, STATE)


def _webhook_page(project_id: str, webhook_id: str, *, secret=None, form=None, error=None,
                  errors=None, status=200):
    base = f"/projects/{project_id}/webhooks/{webhook_id}"
    webhook = data_or_fail(api("GET", base))
    project = data_or_fail(api("GET", f"/projects/{project_id}"))
    deliveries = data_or_fail(api("GET", f"{base}/deliveries", query={
        "page": request.args.get("page", "1"), "per_page": PER_PAGE}))
    page = render_template(
        "console/webhook.html", project=project, webhook=webhook, deliveries=deliveries,
        events=EVENTS, secret=secret, form=form or webhook, error=error, errors=errors or {},
        placed={AT + EDIT, AT + STATE})
    return page, status, {"Cache-Control": "no-store"}


@console.get("/projects/<project_id>/webhooks/<webhook_id>/deliveries/<delivery_id>")
@signed_in
def project_webhook_delivery(project_id: str, webhook_id: str, delivery_id: str):
    """One delivery: what each attempt sends and what the receiver last answered, as the
    API keeps them (the signature withheld; the answer's body to its first 4 KB)."""
    base = (f"/projects/{check_id(project_id, 'project')}/webhooks/"
            f"{check_id(webhook_id, 'webhook')}")
    delivery = data_or_fail(api("GET", f"{base}/deliveries/{check_id(delivery_id, 'delivery')}"))
    project = data_or_fail(api("GET", f"/projects/{project_id}"))
    sent = delivery["request"]
    try:  # the body as signed is one line of JSON: indented to be read
        sent["shown_body"] = json.dumps(json.loads(sent["body"]), indent=2, ensure_ascii=False)
    except ValueError:
        sent["shown_body"] = sent["body"]
    page = render_template("console/webhook_delivery.html", project=project,
                           webhook_id=webhook_id, delivery=delivery, sent=sent)
    return page, 200, {"Cache-Control": "no-store"}


@console.post("/projects/<project_id>/webhooks/<webhook_id>/ping")
@signed_in
def project_webhook_ping(project_id: str, webhook_id: str):
    answer = api("POST", f"{_path(project_id, webhook_id)}/ping")
    if answer.status in (409, 429):  # off, a ping pending, too many pings: on the page
        flash(words(answer))
    elif not answer.ok:
        return failed(answer)
    else:
        flash("Ping sent: its delivery is the first below; reload to see the receiver's "
              "answer.")
    return _back_to(project_id, webhook_id)


@console.post("/projects/<project_id>/webhooks/<webhook_id>/rotate")
@signed_in
def project_webhook_rotate(project_id: str, webhook_id: str):
    answer = api("POST", f"{_path(project_id, webhook_id)}/rotate-secret")
    if not answer.ok:
        return failed(answer)
    keep_once(NEW_SECRET, {"webhook_id": webhook_id, "secret": answer.json["secret"],
                           "rotated": True, **_overlap(answer.json)})
    return _back_to(project_id, webhook_id)


@console.post("/projects/<project_id>/webhooks/<webhook_id>/deliveries/<delivery_id>"
              "/redeliver")
@signed_in
def project_webhook_redeliver(project_id: str, webhook_id: str, delivery_id: str):
    check_id(delivery_id, "delivery")
    answer = api("POST", f"{_path(project_id, webhook_id)}/deliveries/{delivery_id}"
                         "/redeliver")
    if answer.status == 409:  # pending: being sent or retried
        flash(words(answer))
    elif not answer.ok:
        return failed(answer)
    else:
        flash("Sent again, with the same id and body: pending until the receiver answers.")
    return _back_to(project_id, webhook_id)


@console.post("/projects/<project_id>/webhooks/<webhook_id>/delete")
@signed_in
def project_webhook_delete(project_id: str, webhook_id: str):
    answer = api("DELETE", _path(project_id, webhook_id))
    if not answer.ok:
        return failed(answer)
    flash("Webhook deleted, with its deliveries: nothing more is sent to it.")
    return redirect(url_for("console.project_webhooks", project_id=project_id))


def _path(project_id: str, webhook_id: str) -> str:
    check_id(project_id, "project")
    check_id(webhook_id, "webhook")
    return f"/projects/{project_id}/webhooks/{webhook_id}"


def _back_to(project_id: str, webhook_id: str, anchor: str | None = None):
    return redirect(url_for("console.project_webhook", project_id=project_id,
                            webhook_id=webhook_id, _anchor=anchor))


def _overlap(rotated: dict) -> dict:
    """Until when the secrets a rotation replaced sign too (the API's instant, UTC) and
    for how long from the rotation, in words; none: the new secret alone signs."""
    until = rotated.get("previous_secrets_until")
    if not until:
        return {"until": None, "overlap": None}
    seconds = (datetime.fromisoformat(until)
               - datetime.fromisoformat(rotated["updated_at"])).total_seconds()
    hours, minutes = round(seconds / 3600), max(1, round(seconds / 60))
    overlap = counted(hours, "hour") if hours >= 1 else counted(minutes, "minute")
    return {"until": until, "overlap": overlap}
