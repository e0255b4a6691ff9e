"""Sign in, register, sign out: the API's login and registration behind two forms."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, session, url_for

from service.auth import oidc
from service.config import current_settings
from service.console import session as console_session
from service.console.blueprint import console
from service.console.client import call
from service.console.pages import form_refusal, safe_target, words


@console.get("/")
def home():
    if console_session.TOKEN in session:
        return redirect(url_for("console.scan_page"))
    return redirect(url_for("console.sign_in_page"))


@console.route("/sign-in", methods=["GET", "POST"])
def sign_in_page():
    error, status = None, 200
    email = request.form.get("email", "")
    if request.method == "POST":
        answer = console_session.sign_in(email, request.form.get("password", ""))
        if answer.ok:
            return redirect(safe_target(request.args.get("next"),
                                            url_for("console.scan_page")))
        error, status = words(answer), answer.status
    return sign_in_form(error, status, email=email)


def sign_in_form(error: str | None, status: int, *, email: str = ""):
    """The sign-in page: the provider's button when OpenID Connect is configured; with
    local accounts off (AUTH_LOCAL=false), the password form only for break-glass admins,
    folded away, and no registration; with a directory (LDAP_URL), the login may be a
    username."""
    settings = current_settings()
    return render_template(
        "console/sign_in.html", error=error, email=email, local=settings.AUTH_LOCAL,
        mail=settings.mail,
        sso_name=settings.OIDC_NAME if oidc.configured() else None,
        directory=bool(settings.LDAP_URL), next=request.args.get("next")), status


@console.route("/register", methods=["GET", "POST"])
def sign_up_page():
    """Register; through a project's invitation link (``?invitation=<token>``), the
    account joins the project and lands on it (the token goes with the form, and a link
    that claims nothing is the form's refusal, no account made)."""
    error, errors, status = None, {}, 200
    email = request.form.get("email", "")
    invitation = (request.form if request.method == "POST" else request.args).get(
        "invitation", "").strip() or None
    if request.method == "POST":
        password = request.form.get("password", "")
        answer = call("POST", "/auth/register", token=None,
                      json={"email": email, "password": password, "invitation": invitation})
        if answer.ok:
            signed = console_session.sign_in(email, password)
            if not signed.ok:
                return redirect(url_for("console.sign_in_page"))
            for joined in answer.json.get("joined", ()):
                flash(f"You joined {joined['project_name']} as {joined['role']}.")
                return redirect(url_for("console.project", project_id=joined["project_id"]))
            return redirect(url_for("console.scan_page"))
        (error, errors), status = (form_refusal(answer, "email", "password", "invitation"),
                                   answer.status)
    invited = None
    if invitation is not None:  # the link's project, role and email, said on the form
        looked = call("POST", "/invitations/lookup", token=None, json={"token": invitation})
        invited = looked.json if looked.ok else None
        if invited is not None and not email:
            email = invited["email"]
        elif looked.status == 404 and error is None:
            error = looked.detail
    return render_template("console/sign_up.html", error=error, errors=errors,
                           email=email, invitation=invitation, invited=invited), status, {
        "Cache-Control": "no-store"}


@console.post("/sign-out")
def sign_out():
    """The Riskscan session ends; after an OpenID sign-in, the browser then visits the
    provider's logout (RP-initiated), which sends it back to the sign-in page."""
    id_token = console_session.sign_out()
    back = url_for("console.sign_in_page")
    if id_token is not None and oidc.configured():
        return redirect(oidc.logout_url(id_token or None, url_for("console.sign_in_page",
                                                                  _external=True)) or back)
    return redirect(back)
