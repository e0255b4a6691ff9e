"""Users: admins manage everyone; a user reads and updates their own record."""

# The module docstring is the OpenAPI tag's description. Who may do what is decided here;
# the account rules themselves live in service/auth/accounts.py.

from __future__ import annotations

from apifairy import other_responses, response
from flask import Blueprint
from sqlalchemy import select

from service import audit
from service.api import PageArgs, get_or_404, json_body, not_found, page_of, paginated_response
from service.auth.accounts import create_user, delete_user, password_is, update_user
from service.auth.accounts import reset_password as reset_password_of
from service.auth.first_password import one_time_password
from service.auth.schemas import UserSchema
from service.auth.scopes import authorized
from service.db import User
from service.errors import APIError
from service.extensions import db, token_auth
from service.projects.membership import before_deleting_user
from service.rate_limits import (
    password_guess_failed,
    password_guesses_per_account,
    password_guesses_per_address,
)
from service.uploads.storage import delete_user_files
from service.users.schemas import (
    AdminUpdateSchema,
    NewUserAnswerSchema,
    NewUserSchema,
    OneTimePasswordSchema,
    OwnUpdateSchema,
    UserFilterSchema,
)

users = Blueprint("users", __name__)

user_schema = UserSchema()


class UserListArgs(PageArgs, UserFilterSchema):
    pass


def _visible_user(user_id: str) -> User:
    """The user with this id if the caller may see it; 404 otherwise (also for others' ids)."""
    caller = token_auth.current_user()
    user = get_or_404(User, user_id, "user")
    if user.id != caller.id and not caller.is_admin:
        raise not_found("user")
    return user


@users.route("", methods=["GET"])
@authorized("admin:read", role="admin")
@paginated_response(page_of(UserSchema), UserListArgs)
@other_responses({401: "No or bad token", 403: "Admins only"})
def all(args):
    """List users (admin)"""
    statement = select(User).order_by(User.created_at.desc(), User.id)
    if "role" in args:
        statement = statement.where(User.role == args["role"])
    if "email" in args:
        statement = statement.where(User.email.contains(args["email"].lower(), autoescape=True))
    return statement


@users.route("", methods=["POST"])
@authorized("admin:write", role="admin")
@json_body(NewUserSchema)
@response(NewUserAnswerSchema(), 201)
@other_responses({401: "No or bad token", 403: "Admins only; an API key making an admin",
                  409: "Email taken"})
def new(args):
    """Create a user with a role (admin); an admin only with an access token, not an API key

    Without `password` the answer holds a one-time password, shown this once. Either way the
    person signs in with a password the admin knows, so they must choose their own before
    anything else.
    """
    _no_admin_made_by_key(args.get("role"), None, args)
    once = one_time_password() if "password" not in args else None
    user = create_user(**{"password": once, **args}, must_change_password=True)
    audit.record("user_created", actor_id=token_auth.current_user().id, target_id=user.id,
                 role=user.role, one_time=once is not None)
    db.session.commit()
    user.one_time_password = once  # not a column: in this answer alone
    return user


@users.route("/<user_id>", methods=["GET"])
@authorized("account:read")
@response(user_schema)
@other_responses({401: "No or bad token", 404: "No such user (or not yours)"})
def get(user_id):
    """A user: yourself, or anyone for an admin"""
    return _visible_user(user_id)


@users.route("/<user_id>", methods=["PATCH"])
@authorized("admin:write")  # a user's own key never changes credentials
@password_guesses_per_address
@password_guesses_per_account
@json_body(AdminUpdateSchema)
@response(user_schema)
@other_responses({401: "No or bad token",
                  403: "An API key changing its own user's or an admin's email or "
                       "password, an admin's role or active flag, or making an admin",
                  404: "No such user (or not yours)",
                  409: "Email taken, or the last admin would be lost",
                  422: "Invalid fields, or role/active/id on your own record",
                  429: "Too many wrong current_password guesses; see Retry-After"})
def update(args, user_id):
    """Update a user: your own email and password, or anything of anyone for an admin

    Your own email or password takes `current_password`, admins' too, and never an API key.
    Nor does anything of an admin's account: an API key is refused (403, audited).
    """
    caller = token_auth.current_user()
    user = _visible_user(user_id)
    if not caller.is_admin:
        # A user's own update takes only OwnUpdateSchema's fields.
        forbidden = sorted(set(args) - set(OwnUpdateSchema().fields))
        if forbidden:
            raise APIError(422, f"You cannot change your own {', '.join(forbidden)}.",
                           errors={name: ["Not allowed."] for name in forbidden})
    changes_credentials = "email" in args or "password" in args
    if user.id == caller.id and changes_credentials:
        # The account's own credentials: never with an API key (admin:write included), and
        # only with the current password, admins too: a leaked key or an unattended session
        # cannot take the account. An admin resets another user's without it (audited).
        if caller.api_key_id is not None:
            _refuse_key(user, "An API key cannot change its own user's email or password: "
                              "sign in and use an access token.", args)
        if not password_is(user, args.get("current_password", "")):
            password_guess_failed()
            raise APIError(422, "The current password is missing or wrong.",
                           errors={"current_password": ["Incorrect or missing."]})
    if caller.api_key_id is not None and user.is_admin:
        if changes_credentials:
            _refuse_key(user, "An API key cannot change an admin's email or password: "
                              "sign in and use an access token.", args)
        if "role" in args or "active" in args:
            _refuse_key(user, "An API key cannot change an admin's role or active flag: "
                              "sign in and use an access token.", args)
    if caller.api_key_id is not None and not user.is_admin:
        _no_admin_made_by_key(args.get("role"), user, args)
    update_user(user, args, actor_id=caller.id)
    db.session.commit()
    return user


def _no_admin_made_by_key(role: str | None, user: User | None, changes) -> None:
    """An admin account comes from a signed-in admin, never from an API key: a leaked
    admin:write key must not mint an admin it can sign in as (create one, or promote a user
    whose password it has just reset), nor take another admin's sign-in."""
    if role == "admin" and token_auth.current_user().api_key_id is not None:
        _refuse_key(user, "An API key cannot make an admin: sign in and use an access token.",
                    changes)


def _refuse_key(user: User | None, detail: str, changes=None) -> None:
    """403 for what only a signed-in admin may do to an admin account (make, change, lock
    out or delete one): a leaked admin:write key could otherwise take every admin's access
    away. Audited, committed before the answer: admins see a key tried."""
    caller = token_auth.current_user()
    details = ({"action": "delete"} if changes is None else
               {"action": "update" if user is not None else "create",
                "fields": sorted(set(changes) - {"current_password"})})  # names, never values
    audit.record("api_key_refused", actor_id=caller.id, target_id=user and user.id,
                 api_key_id=caller.api_key_id, **details)
    db.session.commit()
    raise APIError(403, detail)


@users.route("/<user_id>/one-time-password", methods=["POST"])
@authorized("admin:write", role="admin")
@response(OneTimePasswordSchema(), 201)
@other_responses({401: "No or bad token", 403: "Admins only; an API key, for an admin; "
                                                 "one's own account",
                  404: "No such user",
                  409: "An account of the identity provider or directory: no password"})
def reset_password(user_id):
    """Reset a forgotten password (admin): a one-time password, shown this once

    Every session and API key of the account ends; the person signs in with the one-time
    password and must choose their own before anything else. Never one's own account: that
    is changed with the current password (`POST /auth/password`), so that an unattended
    token cannot take it.
    """
    user = _visible_user(user_id)
    if user.id == token_auth.current_user().id:
        raise APIError(403, "An admin's own password is changed with the current one "
                            "(POST /api/v1/auth/password), not reset.")
    if user.is_admin and token_auth.current_user().api_key_id is not None:
        _refuse_key(user, "An API key cannot reset an admin's password: sign in and use an "
                          "access token.", {"password": None})
    password = reset_password_of(user, actor_id=token_auth.current_user().id)
    db.session.commit()
    return {"one_time_password": password}


@users.route("/<user_id>", methods=["DELETE"])
@authorized("admin:write", role="admin")
@other_responses({401: "No or bad token", 403: "Admins only; an API key deleting an admin",
                  404: "No such user",
                  409: "The last admin; or the last owner of a project with other members"})
def delete(user_id):
    """Delete a user and everything they own (admin)"""
    user = _visible_user(user_id)
    if user.is_admin and token_auth.current_user().api_key_id is not None:
        _refuse_key(user, "An API key cannot delete an admin: sign in and use an access token.")
    before_deleting_user(user.id)  # registers forget their scans; 409: a project's last owner
    delete_user(user, actor_id=token_auth.current_user().id)
    db.session.commit()
    delete_user_files(user_id)  # the scans went with the rows; their files go now
    return "", 204
