"""The console's place in the app: its session cookie, CSRF protection, HTML error pages
and the redirect from ``/``. ``init_app(app)`` is what create_app calls."""

from __future__ import annotations

import logging
import uuid

from flask import Flask, g, redirect, request, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from service.console.blueprint import console
from service.console.mail_views import one_click
from service.console.pages import AT, error_page, flashed_at
from service.console.session import SignInRequired, to_sign_in
from service.errors import problem
from service.security import CONSOLE_PATH, is_console

log = logging.getLogger("riskscan.console")
csrf = CSRFProtect()


def init_app(app: Flask) -> None:
    # The pages attach their routes to the blueprint as they are imported.
    from service.console import (  # noqa: F401
        account_views,
        admin_views,
        audit_views,
        auth_views,
        correction_views,
        date_views,
        job_views,
        keys_views,
        mail_views,
        member_views,
        merge_views,
        model_views,
        password_reset_views,
        project_views,
        register_views,
        scan_views,
        sso_views,
        suggestion_views,
        webhook_views,
    )

    app.config.update(
        SESSION_COOKIE_NAME="riskscan_console",
        SESSION_COOKIE_PATH=CONSOLE_PATH,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        # Flask-WTF: only the console's forms are checked (console.before_request); the
        # JSON API authenticates with bearer tokens, which a cross-site form cannot send.
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,  # as long as the session: a page left open still posts
    )
    csrf.init_app(app)
    app.register_blueprint(console)
    app.add_url_rule("/", "root", lambda: redirect(url_for("console.home")))

    @app.errorhandler(404)
    @app.errorhandler(405)
    def not_routed(error: HTTPException):
        """Unknown console paths get the console's page; everything else the problem."""
        if is_console(request.path):
            return error_page(error.code, error.description)
        headers = {"Allow": ", ".join(error.valid_methods)} if getattr(
            error, "valid_methods", None) else {}
        return problem(error.code, error.description, headers=headers)


@console.before_request
def protect_forms():
    if request.endpoint == "console.mail_off_page" and one_click():
        return  # a mail client's one-click unsubscribe: the link's signed token authorizes it
    csrf.protect()  # POST, PUT, PATCH, DELETE only; a failure raises CSRFError


@console.errorhandler(SignInRequired)
def sign_in_required(_error):
    return to_sign_in()


@console.errorhandler(CSRFError)
def csrf_refused(error: CSRFError):
    log.warning("console form refused: %s", error.description)
    return error_page(400, "This form was not sent from a page of this console, or it "
                           "expired. Go back, reload the page and try again.")


@console.errorhandler(HTTPException)
def http_error(error: HTTPException):
    return error_page(error.code or 500, error.description)


@console.errorhandler(Exception)
def unexpected(error: Exception):
    error_id = uuid.uuid4().hex
    log.exception("unhandled console error %s", error_id)
    return error_page(500, "An unexpected error occurred.", error_id=error_id)


@console.app_context_processor
def console_globals():
    return {"user": g.get("console_user"), "flashed_at": flashed_at, "AT": AT}
