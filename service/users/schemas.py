from marshmallow import fields, validate

from service.api import StrictBoolean
from service.auth.schemas import PASSWORD, PASSWORD_RULE, PasswordPolicy, UserSchema
from service.db import ROLES
from service.extensions import ma
from service.scans.schemas import ScanOptions


class NewUserSchema(PasswordPolicy):
    """An admin creates a user."""

    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(load_only=True, validate=PASSWORD, metadata={
        "description": f"{PASSWORD_RULE}. Leave it out for a one-time password, in the "
                       "answer once, that the person replaces at first sign-in"})
    role = fields.String(load_default="user", validate=validate.OneOf(ROLES))
    active = StrictBoolean(load_default=True)


class NewUserAnswerSchema(UserSchema):
    one_time_password = fields.String(allow_none=True, metadata={
        "description": "the password to hand the person, shown this once (null when the "
                       "request chose one); they must replace it at first sign-in"})


class OneTimePasswordSchema(ma.Schema):
    one_time_password = fields.String(metadata={
        "description": "the password to hand the person, shown this once; they must "
                       "replace it at first sign-in"})


class OwnUpdateSchema(PasswordPolicy):
    """What a user may change of their own record; role and id are not among it."""

    email = fields.Email(validate=validate.Length(max=254))
    password = fields.String(load_only=True, validate=PASSWORD,
                             metadata={"description": PASSWORD_RULE})
    current_password = fields.String(
        load_only=True, validate=validate.Length(max=128),
        metadata={"description": "required to change your own email or password"},
    )


class AdminUpdateSchema(OwnUpdateSchema):
    """What an admin may change of any user."""

    role = fields.String(validate=validate.OneOf(ROLES))
    active = StrictBoolean()


class UserFilterSchema(ma.Schema):
    role = fields.String(validate=validate.OneOf(ROLES))
    email = fields.String(validate=validate.Length(max=254),
                          metadata={"description": "part of the email"})


class SettingsSchema(ScanOptions):
    """A user's defaults for the scan request's fields of the same names (scans and jobs
    that leave one out), judged by the same rules. PATCH changes the fields it sends, and
    null clears one. force_llm applies where an LLM is configured; project_id must be a
    project you edit or own, and is cleared when you no longer do."""

    mail_risk_owner = StrictBoolean(metadata={
        "description": "mail me when I am made the owner of a risk (default true)"})
    mail_risk_due = StrictBoolean(metadata={
        "description": "mail me when a risk I own reaches its due date (default true)"})
    mail_risk_reopened = StrictBoolean(metadata={
        "description": "mail me when a report reopens a risk I own (default true)"})
    mail_digest = StrictBoolean(metadata={
        "description": "mail me each week a digest of each of my projects' registers "
                       "(default false)"})
