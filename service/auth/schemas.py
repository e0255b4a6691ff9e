from marshmallow import fields, validate

from service.extensions import ma
from service.users.schemas import PASSWORD, PASSWORD_RULE, PasswordPolicy


class RegisterSchema(PasswordPolicy):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, load_only=True, validate=PASSWORD,
                             metadata={"description": PASSWORD_RULE})


class LoginSchema(ma.Schema):
    # Lengths are bounded but not policed: a login never says why it failed.
    email = fields.String(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=128))


class TokenSchema(ma.Schema):
    access_token = fields.String()
    token_type = fields.String(metadata={"example": "bearer"})
    expires_in = fields.Integer(metadata={"description": "seconds until the access token expires"})
    refresh_token = fields.String()


class RefreshSchema(ma.Schema):
    refresh_token = fields.String(required=True, validate=validate.Length(min=1, max=256))


class LogoutSchema(ma.Schema):
    refresh_token = fields.String(validate=validate.Length(max=256),
                                  metadata={"description": "also revoke this refresh token"})
