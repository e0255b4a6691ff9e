"""Your settings: defaults for what your scan requests leave out, and the mail you get."""

# The module docstring is the OpenAPI tag's description. Where the defaults are applied:
# service/scans/defaults.py.

from __future__ import annotations

from apifairy import other_responses, response
from flask import Blueprint

from service import audit
from service.api import json_body, lock_row
from service.auth.scopes import authorized
from service.db import User, UserSettings
from service.extensions import db, token_auth
from service.projects.access import project_id_for
from service.users.schemas import SettingsSchema

settings = Blueprint("settings", __name__)

settings_schema = SettingsSchema()
NONE_SAVED = {"force_llm": False, "min_score": None, "project_id": None}
MAIL_ON = {"mail_risk_owner": True, "mail_risk_due": True, "mail_risk_reopened": True,
           "mail_digest": False}


@settings.route("", methods=["GET"])
@authorized("account:read")
@response(settings_schema)
@other_responses({401: "No or bad token"})
def get():
    """Your defaults for scans (min_score, project_id, force_llm) and the mail you get"""
    return db.session.get(UserSettings, token_auth.current_user().id) or NONE_SAVED | MAIL_ON


@settings.route("", methods=["PATCH"])
@authorized()  # no API key: a leaked key must not send future scans elsewhere
@json_body(SettingsSchema)
@response(settings_schema)
@other_responses({401: "No or bad token",
                  403: "An API key; or project_id: you are a viewer of that project",
                  404: "project_id: no such project (or you are not a member)",
                  422: "Invalid fields"})
def update(args):
    """Change your defaults for scans (the fields sent; null clears one)

    A scan or a job that leaves `min_score`, `project_id` or `force_llm` out takes these;
    `force_llm` where an LLM is configured. `project_id` must be a project you edit or
    own; it is cleared when you are removed from it, made a viewer, or it is deleted.
    `mail_risk_owner`, `mail_risk_due` and `mail_risk_reopened` turn the messages to a
    risk's owner on or off, `mail_digest` each project's weekly digest (each message also
    carries a link that turns its kind off).
    """
    caller = token_auth.current_user()
    lock_row(User, caller.id)  # one change at a time: a user's first save makes one row
    if args.get("project_id") is not None:
        # Held until the commit (a removal or demotion waits, then clears it: membership.
        # lose_default_project); taken before the settings' row, in the order they take them.
        args["project_id"] = project_id_for(caller, args["project_id"], "editor", held=True)
    saved = (db.session.get(UserSettings, caller.id, with_for_update=True)
             or UserSettings(user_id=caller.id, **NONE_SAVED))
    for name, value in args.items():
        setattr(saved, name, value)
    db.session.add(saved)
    audit.record("settings_updated", actor_id=caller.id, target_id=caller.id, **args)
    db.session.commit()
    return saved
