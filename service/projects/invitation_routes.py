"""An invitation link read before sign-up: what it invites to (the project, the role) and
the email it was made for, so that the sign-up form carries that email (issue #85 item 5).
The token is the secret the owner handed over: it goes in the body, never a URL that the
access log keeps, and a token that is no pending invitation is the same 404 whether it was
used, revoked, mistyped or never made (an expired one says so)."""

from __future__ import annotations

from apifairy import other_responses, response
from flask import Blueprint
from marshmallow import fields, validate

from service.api import json_body
from service.extensions import ma
from service.projects import invitations

invitation_links = Blueprint("invitation_links", __name__)


class InvitationTokenSchema(ma.Schema):
    token = fields.String(required=True, validate=validate.Length(min=1, max=128),
                          metadata={"description": "the token of the invitation link"})


class InvitationLinkSchema(ma.Schema):
    email = fields.String(metadata={"description": "the email it was made for: the sign-up's"})
    role = fields.String()
    project_name = fields.String()
    expires_at = fields.DateTime()


@invitation_links.route("/lookup", methods=["POST"])
@json_body(InvitationTokenSchema)
@response(InvitationLinkSchema)
@other_responses({404: "Not a pending invitation (used, revoked, mistyped), or expired",
                  422: "No token, or one over 128 characters"})
def lookup(args):
    """What an invitation link invites to, and the email to sign up with (no sign-in)"""
    return invitations.of_link(args["token"])
