from marshmallow import ValidationError, fields, validate, validates_schema

from service.auth.passwords import MAX_LENGTH, POLICY_LENGTH, password_problem
from service.extensions import ma

# A bound on the raw input before any work; the policy (PasswordPolicy) counts characters
# after normalisation, which can lengthen a string. Refused, it says the policy's lengths,
# as every form's hint does, never this bound's.
PASSWORD = validate.Length(min=1, max=4 * MAX_LENGTH, error=POLICY_LENGTH)
PASSWORD_RULE = ("8–128 characters counted after Unicode NFKC normalisation, and not easily "
                 "guessed: a common or weak password is a 422 that says why")


class PasswordPolicy(ma.Schema):
    """A new ``password`` must meet the policy (service/auth/passwords.py); the ``email`` of
    the same request counts as a known word."""

    @validates_schema(skip_on_field_errors=False)  # a bad email must not hide a bad password
    def _password_policy(self, data, **_kwargs):
        if "password" in data:
            problem = password_problem(data["password"], email=data.get("email"))
            if problem:
                raise ValidationError(problem, field_name="password")


class UserSchema(ma.Schema):
    """A user as the API shows it: never the password hash."""

    id = fields.String(dump_only=True)
    email = fields.Email(dump_only=True)
    role = fields.String(dump_only=True)
    active = fields.Boolean(dump_only=True)
    auth_source = fields.String(dump_only=True, metadata={
        "description": "how they sign in: local (a Riskscan password), oidc (the company's "
                       "identity provider) or ldap (its directory)"})
    must_change_password = fields.Boolean(dump_only=True, metadata={
        "description": "an admin set their password (a one-time password): until they "
                       "choose their own (POST /auth/password) every other route but "
                       "/auth/me and logout answers 403"})
    created_at = fields.DateTime(dump_only=True)
    updated_at = fields.DateTime(dump_only=True)


class RegisterSchema(PasswordPolicy):
    email = fields.Email(required=True, validate=validate.Length(max=254))
    password = fields.String(required=True, load_only=True, validate=PASSWORD,
                             metadata={"description": PASSWORD_RULE})
    invitation = fields.String(
        load_default=None, allow_none=True, load_only=True,
        validate=validate.Length(min=1, max=128), metadata={
            "description": "the token of a project's invitation of this email, from the "
                           "link its owner handed over: the account joins the project with "
                           "the invited role (422 when it is not a pending invitation of "
                           "this email, and no account is made)"})


class JoinedSchema(ma.Schema):
    project_id = fields.String()
    project_name = fields.String()
    role = fields.String()


class RegisteredSchema(UserSchema):
    joined = fields.List(fields.Nested(JoinedSchema), metadata={
        "description": "the projects the invitation made the account a member of"})


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


class ChangePasswordSchema(ma.Schema):
    """The policy is judged by the view, with the caller's email as a known word."""

    current_password = fields.String(load_default="", load_only=True,
                                     validate=validate.Length(max=MAX_LENGTH))
    new_password = fields.String(
        required=True, load_only=True, metadata={"description": PASSWORD_RULE},
        validate=validate.Length(max=4 * MAX_LENGTH, error=POLICY_LENGTH))


class ForgotPasswordSchema(ma.Schema):
    email = fields.Email(required=True, validate=validate.Length(max=254))


class ResetPasswordSchema(ma.Schema):
    """The policy is judged by the view, with the account's email as a known word."""

    token = fields.String(required=True, load_only=True,
                          validate=validate.Length(min=1, max=512))
    password = fields.String(
        required=True, load_only=True, metadata={"description": PASSWORD_RULE},
        validate=validate.Length(max=4 * MAX_LENGTH, error=POLICY_LENGTH))


class AcceptedSchema(ma.Schema):
    detail = fields.String()
