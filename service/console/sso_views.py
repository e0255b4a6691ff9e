"""Sign-in through the company's OpenID provider (auth/oidc.py): the button's redirect and
the provider's way back. A failure of any kind is the sign-in page with its words and
status (400 a sign-in to start again, 403 refused, 503 the provider did not answer)."""

from __future__ import annotations

from flask import abort, redirect, request, session, url_for

from service.auth import oidc
from service.console import session as console_session
from service.console.auth_views import sign_in_form
from service.console.blueprint import console
from service.console.pages import safe_target

NEXT = "sso_next"


@console.get("/sign-in/oidc")
def oidc_start():
    if not oidc.configured():
        abort(404)
    target = safe_target(request.args.get("next"), "")
    try:
        answer = oidc.start(url_for("console.oidc_callback", _external=True))
    except oidc.SignInFailed as failed:
        return sign_in_form(failed.words, failed.status)
    if target:
        session[NEXT] = target
    return answer


@console.get("/sign-in/oidc/callback")
def oidc_callback():
    if not oidc.configured():
        abort(404)
    target = session.pop(NEXT, None)
    try:
        token, id_token = oidc.finish(request.args)
    except oidc.SignInFailed as failed:
        return sign_in_form(failed.words, failed.status)
    console_session.adopt(token, id_token)
    return redirect(safe_target(target, url_for("console.scan_page")))
