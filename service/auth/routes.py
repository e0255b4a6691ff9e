"""register, login, refresh, logout, me."""

# The module docstring is the OpenAPI tag's description. Accounts change in accounts.py.

from __future__ import annotations

from typing import NoReturn

from apifairy import other_responses, response
from flask import Blueprint, request
from marshmallow import ValidationError as SchemaError

from service import audit
from service.api import json_body, request_json
from service.auth import identities, ldap
from service.auth.accounts import announce, create_user, password_is, signed_up, user_by_email
from service.auth.credentials import login_credentials
from service.auth.schemas import (
    LogoutSchema,
    RefreshSchema,
    RegisteredSchema,
    RegisterSchema,
    TokenSchema,
    UserSchema,
)
from service.auth.scopes import authorized
from service.auth.tokens import (
    RefreshReuse,
    end_login,
    issue_tokens,
    local_credentials_live,
    revoke_refresh_token,
    rotate_refresh_token,
    start_session,
)
from service.config import current_settings
from service.errors import APIError
from service.extensions import db, token_auth
from service.rate_limits import (
    password_guess_failed,
    password_guesses_per_account,
    password_guesses_per_address,
    sign_ups_per_address,
    sign_ups_per_email,
)

auth = Blueprint("auth", __name__)

user_schema = UserSchema()
token_schema = TokenSchema()

BAD_CREDENTIALS = "Incorrect email or password."
DIRECTORY_DOWN = ("The company directory cannot be reached right now, so nobody can sign in "
                  "with it; try again later or tell your administrator.")
LOCAL_OFF = ("Riskscan accounts are off here: sign in through your company's identity "
             "provider or directory.")


@auth.route("/register", methods=["POST"])
@sign_ups_per_address
@sign_ups_per_email
@json_body(RegisterSchema)
@response(RegisteredSchema, 201)
@other_responses({403: "Local accounts are off (AUTH_LOCAL=false): sign in through the "
                       "company's identity provider or directory",
                  409: "The email is taken",
                  422: "Invalid email or password; an invitation that is not pending for "
                       "this email",
                  429: "Too many registrations from this address or for this email; "
                       "see Retry-After"})
def register(args):
    """Create an account; with a project's invitation, join the project"""
    if not current_settings().AUTH_LOCAL:
        raise APIError(403, LOCAL_OFF)
    user = create_user(args["email"], args["password"])
    audit.record("register", actor_id=user.id, target_id=user.id)
    joined = announce(signed_up, user, invitation=args["invitation"])
    db.session.commit()
    return {**{name: getattr(user, name) for name in user_schema.fields}, "joined": joined}


UNKNOWN_ACCOUNT = "an unknown account"  # a failed login's audited email without an account


@auth.before_request
def limit_body() -> None:
    """MAX_JSON_KB on every auth endpoint (413), set before anything reads the body: the
    login rate limiter's key reads it before the view, and login/logout skip json_body."""
    request.max_content_length = current_settings().MAX_JSON_KB * 1024


@auth.route("/login", methods=["POST"])
@password_guesses_per_address
@password_guesses_per_account
@response(token_schema)
@other_responses({401: BAD_CREDENTIALS, 422: "Missing fields",
                  403: "The directory vouched for the person, and Riskscan refuses them "
                       "(not in LDAP_ALLOWED_GROUP, deactivated, email of another account)",
                  415: "Neither JSON nor a form",
                  429: "Too many failed logins for this account or address; see Retry-After",
                  503: DIRECTORY_DOWN})
def login():
    """Log in: JSON {email, password} or the OAuth2 password form (username, password); where
    an LDAP directory is set up, the email may be a directory username"""
    fields = login_credentials()
    email = fields["email"]
    user = user_by_email(email)
    if current_settings().LDAP_URL and (user is None or user.auth_source == "ldap"):
        return directory_login(fields, user)
    # password_is runs argon2 even for an unknown email: same answer, similar time.
    if (not password_is(user, fields["password"]) or not user.active
            or not password_may_sign_in(user)):
        if current_settings().LDAP_URL:
            # Answered as an unknown email is, which goes to the directory: while it is
            # down, a 503 for both, so that a 401 does not tell a local account exists.
            _directory_reachable()
        login_failed(user)
    tokens = issue_tokens(user, start_session(user))
    audit.record("login_success", actor_id=user.id, target_id=user.id)
    db.session.commit()
    return tokens


def directory_login(fields: dict, user):
    """The directory proves the password (service/auth/ldap.py); identities.sign_in makes
    or updates the user and audits the sign-in (sso_login) or its refusal."""
    settings = current_settings()
    try:
        identity = ldap.authenticate(fields["email"], fields["password"], settings)
        user = identities.sign_in(identity, ldap.group_rules(settings))
    except ldap.BadCredentials:
        login_failed(user)
    except identities.SignInRefused as refused:
        db.session.commit()  # the audit row and the ended sessions stay
        raise APIError(403, refused.words) from None
    except ldap.DirectoryUnavailable:
        db.session.rollback()
        _directory_down()
    tokens = issue_tokens(user, start_session(user))
    db.session.commit()
    return tokens


def _directory_reachable() -> None:
    try:
        ldap.reachable(current_settings())
    except ldap.DirectoryUnavailable:
        _directory_down()


def _directory_down() -> NoReturn:
    """The one answer while the directory is down, drawn from the password-guess budget
    like a wrong password: the 503s must not be a free oracle of who has an account."""
    password_guess_failed()
    raise APIError(503, DIRECTORY_DOWN)


def login_failed(user) -> NoReturn:
    """The one answer to a failed login, counted against the rate limits and audited."""
    password_guess_failed()
    # The account's email, never what was typed: a password typed into the email field
    # would otherwise be kept in the audit log.
    audit.record("login_failure", target_id=user.id if user else None,
                 email=user.email if user else UNKNOWN_ACCOUNT)
    db.session.commit()
    raise APIError(401, BAD_CREDENTIALS, headers={"WWW-Authenticate": "Bearer"})


def password_may_sign_in(user) -> bool:
    """A Riskscan password signs in a local account, and with AUTH_LOCAL=false only a
    break-glass admin's; an account of the identity provider or directory has none."""
    return user.auth_source == "local" and local_credentials_live(user)


@auth.route("/refresh", methods=["POST"])
@json_body(RefreshSchema)
@response(token_schema)
@other_responses({401: "Unknown, expired, revoked or reused refresh token"})
def refresh(args):
    """Exchange a refresh token for a new pair; the old one stops working"""
    try:
        tokens = rotate_refresh_token(args["refresh_token"])
    except RefreshReuse as reuse:
        audit.record("token_reuse", target_id=reuse.user.id)
        db.session.commit()
        raise APIError(401, "This refresh token was already used; all your sessions "
                            "have been revoked. Log in again.") from None
    if tokens is None:
        db.session.rollback()
        raise APIError(401, "The refresh token is invalid or expired.")
    db.session.commit()
    return tokens


@auth.route("/logout", methods=["POST"])
@authorized()
@other_responses({401: "No or bad token"})
def logout():
    """End the session of the presented access token: it and every token of the session
    stop working (a refresh token sent as {refresh_token} is revoked too)"""
    user = token_auth.current_user()
    end_login(request.authorization.token)
    if request.is_json:
        try:
            args = LogoutSchema().load(request_json(empty_ok=True))
        except SchemaError as exc:
            raise APIError(422, "The request has invalid fields.", errors=exc.messages) from None
        if args.get("refresh_token"):
            revoke_refresh_token(user, args["refresh_token"])
    audit.record("logout", actor_id=user.id, target_id=user.id)
    db.session.commit()
    return "", 204


@auth.route("/me", methods=["GET"])
@authorized("account:read")
@response(user_schema)
@other_responses({401: "No or bad token"})
def me():
    """The caller"""
    return token_auth.current_user()
