"""A message to a risk's owner turned off by the link it carries (no sign-in): the link's
token names the person and the kind, signed, and is sent in the body, never a URL that the
access log keeps. The console's page of that link (/app/mail/off/…) and a mail client's
one-click "unsubscribe" (RFC 8058) both end here."""

from __future__ import annotations

from apifairy import other_responses, response
from flask import Blueprint
from marshmallow import fields, validate

from service.api import json_body
from service.errors import APIError
from service.extensions import ma
from service.projects import owner_notices

notices = Blueprint("notices", __name__)


class NoticeTokenSchema(ma.Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=300),
                          metadata={"description": "the token of the message's link"})


class TurnedOffSchema(ma.Schema):
    detail = fields.String()
    kind = fields.String(metadata={"description": "risk_owner, risk_due or risk_reopened"})


@notices.route("/off", methods=["POST"])
@json_body(NoticeTokenSchema)
@response(TurnedOffSchema)
@other_responses({422: "Not a link of a message of ours (errors.token), or no token"})
def turn_off(args):
    """Stop one kind of message to a risk's owner, by the link it carries (no sign-in)"""
    said = owner_notices.read_off_token(args["token"])
    if said is None or not owner_notices.turn_off(*said):
        raise APIError(422, "This link is not one of ours: nothing was changed.",
                       errors={"token": ["Not a link of a Riskscan message."]})
    kind = said[1]
    return {"detail": f"You will no longer get mail {owner_notices.WHAT[kind]}. Turn it on "
                      "again in your account's settings.", "kind": kind}
