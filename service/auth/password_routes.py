"""Change your own password (the current one required; your other sessions end), or reset
a forgotten one through a link sent by email."""

# The module docstring is the OpenAPI tag's description. Its own blueprint, not auth's: auth
# is served on the legacy /api/auth paths too, and this route is not part of that contract.

from __future__ import annotations

from apifairy import other_responses, response
from flask import Blueprint, request, url_for
from sqlalchemy import select

from service.api import json_body, lock_row
from service.auth import reset_links
from service.auth.accounts import change_own_password, password_is
from service.auth.credentials import normalize_email
from service.auth.passwords import normalize_password, password_problem
from service.auth.schemas import (
    AcceptedSchema,
    ChangePasswordSchema,
    ForgotPasswordSchema,
    ResetPasswordSchema,
    TokenSchema,
)
from service.auth.scopes import authorized
from service.auth.tokens import issue_tokens, session_of
from service.config import current_settings
from service.db import User
from service.errors import APIError
from service.extensions import db, token_auth
from service.rate_limits import (
    password_guess_failed,
    password_guesses_per_account,
    password_guesses_per_address,
    resets_per_address,
    resets_per_email,
)

password = Blueprint("password", __name__)


@password.route("", methods=["POST"])
@authorized()  # no API key: a leaked key must not take the account
@password_guesses_per_address
@password_guesses_per_account
@json_body(ChangePasswordSchema)
@response(TokenSchema())
@other_responses({401: "No or bad token", 403: "An API key",
                  409: "Another change of your password landed first",
                  422: "current_password wrong or missing (counted as a failed login), or "
                       "a new_password the policy refuses or the current one",
                  429: "Too many wrong passwords for this account or address (the login's "
                       "budget); see Retry-After"})
def change(args):
    """Change your password: every other session, refresh token and API key of yours ends

    The answer is a new token pair of this login, whose old tokens stop working with the
    others: use these from now on.
    """
    caller = token_auth.current_user()
    session = session_of(request.authorization.token)
    if session is None:  # ended since the token was checked
        raise APIError(401, "This session has ended. Log in again.",
                       headers={"WWW-Authenticate": "Bearer"})
    user = db.session.get(User, caller.id)
    if not password_is(user, args["current_password"]):
        password_guess_failed()
        raise APIError(422, "The current password is missing or wrong.",
                       errors={"current_password": ["Incorrect or missing."]})
    if normalize_password(args["new_password"]) == normalize_password(args["current_password"]):
        # A "change" to the same password would still end every other session and key,
        # and tell the user their password was changed when it was not.
        raise APIError(422, "The new password is the current one: choose another.",
                       errors={"new_password": ["Must differ from the current password."]})
    problem = password_problem(args["new_password"], email=user.email)
    if problem:
        raise APIError(422, f"The new password cannot be used: {problem}",
                       errors={"new_password": [problem]})
    # The slow checks above hold no lock; the change itself is one at a time, and only
    # from the password just verified: of two racing changes the second is refused.
    verified = user.password_hash
    lock_row(User, caller.id)
    user = db.session.scalars(select(User).where(User.id == caller.id).with_for_update()
                              .execution_options(populate_existing=True)).one()
    if user.password_hash != verified:
        raise APIError(409, "Your password was changed meanwhile. Log in again.")
    change_own_password(user, args["new_password"], keep_session=session.id)
    tokens = issue_tokens(user, session)
    db.session.commit()
    return tokens


ASKED = ("If an account has this email, a message is on its way to it: a link to choose a "
         f"new password, valid {reset_links.RESET_MINUTES} minutes.")


@password.route("/forgot", methods=["POST"])
@resets_per_address
@resets_per_email
@json_body(ForgotPasswordSchema)
@response(AcceptedSchema, 202)
@other_responses({422: "Not an email", 429: "Too many asked from this address or for this "
                       "email; see Retry-After",
                  404: "This deployment sends no mail (SMTP_HOST): no reset by email "
                       "here; an admin gives a one-time password instead"})
def forgot(args):
    """Ask for a link to reset a forgotten password, sent by email (no sign-in)

    The same 202 whether an account has the email or not; an account of the identity
    provider or directory is told to sign in there. The link works once, for 30 minutes.
    """
    if not current_settings().mail:  # no reset by email here, as if the route were not
        raise APIError(404, "This deployment sends no mail, so there is no password reset by "
                            "email: ask an admin for a one-time password.")
    reset_links.ask(normalize_email(args["email"]), lambda token: url_for(
        "console.password_reset_page", token=token, _external=True))
    db.session.commit()
    return {"detail": ASKED}, 202


@password.route("/reset", methods=["POST"])
@password_guesses_per_address
@json_body(ResetPasswordSchema)
@response(AcceptedSchema)
@other_responses({422: "A link not (any more) valid (errors.token), or a password the "
                       "policy refuses (errors.password)",
                  429: "Too many tries from this address; see Retry-After"})
def reset(args):
    """Choose a new password with a reset link's token (no sign-in): every session, refresh
    token and API key of the account ends"""
    try:
        reset_links.reset(args["token"], args["password"])
    except APIError:
        password_guess_failed()  # a wrong token counts as a guess of this address's budget
        raise
    db.session.commit()
    return {"detail": "Your password is changed: sign in with it. Every other session and "
                      "API key of yours has ended."}
