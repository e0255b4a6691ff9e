"""The account page: the signed-in user's defaults for scans (the API's /auth/me/settings),
changing the password (the API's /auth/password, which keeps this login) and their sessions
(the API's /auth/sessions: each sign-in, this one marked; end one, or all others)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import flash, redirect, render_template, request, session, url_for

from service.config import current_settings
from service.console.blueprint import console
from service.console.pages import check_id, counted, data_or_fail, failed, form_refusal
from service.console.session import TOKEN, api, signed_in

# The API's refusals that the form shows in words; anything else is the error page.
FORM_ANSWERS = (400, 403, 404, 413, 422)
MAIL = ("mail_risk_owner", "mail_risk_due", "mail_risk_reopened", "mail_digest")  # ticks


@console.app_template_filter("ago")
def ago(instant: str | None, now: datetime | None = None) -> str:
    """An API instant as "5 min ago", "3 hours ago", "2 days ago" ("just now" within a
    minute): how a person reads a session's last activity."""
    if not instant:
        return "never"
    seconds = ((now or datetime.now(UTC)) - datetime.fromisoformat(instant)).total_seconds()
    minutes = int(max(seconds, 0) // 60)
    if minutes < 1:
        return "just now"
    if minutes < 60:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{counted(minutes // 60, 'hour')} ago"
    return f"{counted(minutes // (24 * 60), 'day')} ago"


@console.app_template_filter("device")
def device(session: dict) -> str:
    """A session's browser and system as the API parsed them ("Chrome on Linux"), else its
    raw User-Agent, else "An unknown client"."""
    if session.get("browser") and session.get("os"):
        return f"{session['browser']} on {session['os']}"
    return session.get("browser") or session.get("user_agent") or "An unknown client"


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
            "force_llm": request.form.get("force_llm") == "on",
            **{name: request.form.get(name) == "on" for name in MAIL}}
    answer = api("PATCH", "/auth/me/settings", json={
        "min_score": _number(form["min_score"]), "project_id": form["project_id"] or None,
        **{name: form[name] for name in ("force_llm", *MAIL)}})
    if answer.ok:
        flash("Settings saved.")
        return redirect(url_for("console.account"))
    if answer.status in FORM_ANSWERS:
        error, errors = form_refusal(answer, "project_id", "min_score")
        return _account_page(form, error=error, errors=errors, status=answer.status)
    return failed(answer)


@console.post("/account/password")
@signed_in
def account_password():
    """The API's change with the typed passwords; on success this console session holds the
    new access token of its login (the old one ended with every other session)."""
    new = request.form.get("new_password", "")
    if new != request.form.get("repeat_password", ""):
        return _settings_page(password_errors={"repeat_password": [
            "The two new passwords differ."]}, status=422)
    answer = api("POST", "/auth/password", json={
        "current_password": request.form.get("current_password", ""), "new_password": new})
    if answer.ok:
        session[TOKEN] = answer.json["access_token"]
        flash("Password changed. Your other sessions have ended, and your API keys no longer "
              "work: make new ones if you need them.")
        return redirect(url_for("console.account"))
    if answer.status in FORM_ANSWERS or answer.status == 429:
        error, errors = form_refusal(answer, "current_password", "new_password")
        return _settings_page(password_error=error, password_errors=errors,
                              status=answer.status)
    return failed(answer)


@console.get("/account/first-password")
@signed_in
def first_password():
    """The one page of an account whose password an admin set: choose your own."""
    return render_template("console/first_password.html", error=None, errors={})


@console.post("/account/first-password")
@signed_in
def first_password_save():
    """The API's change, the one-time password as the current one; then the console as
    usual, in this session (its new token)."""
    new = request.form.get("new_password", "")
    if new != request.form.get("repeat_password", ""):
        return render_template("console/first_password.html", error=None, errors={
            "repeat_password": ["The two new passwords differ."]}), 422
    answer = api("POST", "/auth/password", json={
        "current_password": request.form.get("current_password", ""), "new_password": new})
    if answer.ok:
        session[TOKEN] = answer.json["access_token"]
        flash("Your password is set: it is yours alone now.")
        return redirect(url_for("console.scan_page"))
    if answer.status in FORM_ANSWERS or answer.status == 429:
        error, errors = form_refusal(answer, "current_password", "new_password")
        return render_template("console/first_password.html", error=error,
                               errors=errors), answer.status
    return failed(answer)


@console.post("/account/sessions/<session_id>/end")
@signed_in
def account_session_end(session_id: str):
    """End one of the user's sessions (another user's is the API's 404)."""
    data_or_fail(api("DELETE", f"/auth/sessions/{check_id(session_id, 'session')}"))
    flash("Session ended: it is signed out.")
    return redirect(url_for("console.account"))


@console.post("/account/sessions/end-others")
@signed_in
def account_sessions_end_others():
    data_or_fail(api("DELETE", "/auth/sessions"))
    flash("Your other sessions have ended.")
    return redirect(url_for("console.account"))


def _settings_page(**kwargs):
    return _account_page(data_or_fail(api("GET", "/auth/me/settings")), **kwargs)


def _number(text: str):
    """The typed score as a number for the API, or as typed when it is none (the API says
    why in words); empty: null."""
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _account_page(settings: dict, *, error=None, errors=None, password_error=None,
                  password_errors=None, status=200):
    listing = api("GET", "/projects", query={"per_page": 100})
    projects = [project for project in (listing.json["items"] if listing.ok else [])
                if project["role"] in ("editor", "owner")]
    shown = dict(settings, min_score="" if settings["min_score"] is None
                 else settings["min_score"])
    sessions = data_or_fail(api("GET", "/auth/sessions", query={"per_page": 100}))
    return render_template("console/account.html", settings=shown, projects=projects,
                           sessions=sessions, mail=current_settings().mail,
                           error=error, errors=errors or {}, password_error=password_error,
                           password_errors=password_errors or {}), status
