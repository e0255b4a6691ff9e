"""The API keys page: each signed-in user makes keys with scopes, lists and revokes their
own, through the API's /auth/api-keys (which only a signed-in session may call).

A new key's whole secret is in the API's answer alone. It reaches the next page (Post/
Redirect/Get) on the server, behind a one-time id that is all the session cookie carries
(session.keep_once: the cookie is signed, not encrypted), and that page takes it out: shown
once, then gone from the server, the list and the API."""

from __future__ import annotations

from dataclasses import replace

from flask import flash, redirect, render_template, request, url_for

from service.auth.scopes import SCOPES, scopes_beyond
from service.console.account_views import FORM_ANSWERS
from service.console.blueprint import console
from service.console.pages import check_id, data_or_fail, failed, form_refusal
from service.console.session import api, current_user, keep_once, signed_in, take_once

NEW_KEY = "new_api_key"
PER_PAGE = 20


@console.get("/account/keys")
@signed_in
def api_keys():
    pending, created = take_once(NEW_KEY)
    if pending and created is None:
        flash("The new key could not be shown (it waits ten minutes for this page): revoke "
              "it and make another.")
    try:
        page, status = _keys_page(created=created)
    except Exception:
        if created is not None:
            keep_once(NEW_KEY, created)  # a page that failed keeps it for the next
        raise
    return page, status, {"Cache-Control": "no-store"}


@console.post("/account/keys")
@signed_in
def api_key_create():
    """The form as the API's POST; a date of expiry is the start of that day, UTC."""
    form = {"name": request.form.get("name", "").strip(),
            "scopes": request.form.getlist("scopes"),
            "expires_on": request.form.get("expires_on", "").strip()}
    body = {"name": form["name"], "scopes": form["scopes"],
            "expires_at": f"{form['expires_on']}T00:00:00+00:00" if form["expires_on"]
            else None}
    answer = api("POST", "/auth/api-keys", json=body)
    if answer.ok:
        keep_once(NEW_KEY, {"name": answer.json["name"], "key": answer.json["key"]})
        return redirect(url_for("console.api_keys"))
    if answer.status in (*FORM_ANSWERS, 409):
        # The form's field is the date, the API's the instant.
        answer = replace(answer, errors={"expires_on" if name == "expires_at" else name:
                                         messages for name, messages in answer.errors.items()})
        error, errors = form_refusal(answer, "name", "scopes", "expires_on")
        page, status = _keys_page(form=form, error=error, errors=errors, status=answer.status)
        return page, status
    return failed(answer)


@console.post("/account/keys/<key_id>/revoke")
@signed_in
def api_key_revoke(key_id: str):
    data_or_fail(api("DELETE", f"/auth/api-keys/{check_id(key_id, 'API key')}"))
    name = request.form.get("name", "").strip()
    flash(f"Key {name} revoked: it no longer works." if name else "Key revoked.")
    return redirect(url_for("console.api_keys"))


def _keys_page(*, created=None, form=None, error=None, errors=None, status=200):
    listing = data_or_fail(api("GET", "/auth/api-keys", query={
        "page": request.args.get("page", "1"), "per_page": PER_PAGE}))
    beyond = set(scopes_beyond(current_user()["role"], SCOPES))
    offered = {name: meaning for name, meaning in SCOPES.items() if name not in beyond}
    page = render_template("console/api_keys.html", keys=listing, created=created,
                           scopes=offered, form=form or {"scopes": []}, error=error,
                           errors=errors or {})
    return page, status
