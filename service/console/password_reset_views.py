"""A forgotten password (issue #87 item 3): "Forgot your password?" on the sign-in page asks
the API for a link by email, and the link's page chooses the new password. Both through the
API's own routes (/api/v1/auth/password/forgot and /reset), so that their limits, their
answer that names no account, and their audit are the API's."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from service.console.blueprint import console
from service.console.client import call
from service.console.pages import form_refusal, words

NO_STORE = {"Cache-Control": "no-store"}  # a page that holds a reset link's token


@console.route("/password/forgot", methods=["GET", "POST"])
def password_forgot_page():
    email, said, error, status = request.form.get("email", ""), None, None, 200
    if request.method == "POST":
        answer = call("POST", "/auth/password/forgot", token=None, json={"email": email})
        if answer.ok:
            said = answer.json["detail"]
        else:
            error, status = words(answer), answer.status
    return render_template("console/password_forgot.html", email=email, said=said,
                           error=error), status, NO_STORE


@console.route("/password/reset", methods=["GET", "POST"])
def password_reset_page():
    token = (request.form if request.method == "POST" else request.args).get("token", "")
    error, errors, status = None, {}, 200
    if request.method == "POST":
        answer = call("POST", "/auth/password/reset", token=None,
                      json={"token": token, "password": request.form.get("password", "")})
        if answer.ok:
            flash(answer.json["detail"])
            return redirect(url_for("console.sign_in_page"), code=303)
        (error, errors), status = form_refusal(answer, "token", "password"), answer.status
    return render_template("console/password_reset.html", token=token, error=error,
                           errors=errors), status, NO_STORE
