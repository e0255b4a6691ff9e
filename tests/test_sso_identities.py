"""What single sign-on does once a provider has vouched for a person (service/auth/identities.py),
and local accounts turned off (AUTH_LOCAL=false): on both databases, through the API where a
client meets it. The providers themselves are tested against real ones in test_sso_oidc.py
and test_sso_ldap.py."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from service.auth import identities
from service.auth.identities import GroupRules, Identity, SignInRefused
from service.auth.tokens import issue_tokens, start_session
from service.db import AuditEvent, User
from service.extensions import db
from tests.helpers import PASSWORD, Accounts, assert_problem

RULES = GroupRules(allowed=frozenset({"riskscan"}), admins=frozenset({"riskscan-admins"}))
ME = "/api/v1/auth/me"


def ada(**changes) -> Identity:
    return Identity(**{"source": "oidc", "subject": "https://idp.example 1234",
                       "email": "Ada@Example.com", "email_verified": True,
                       "groups": frozenset({"riskscan"}), **changes})


def events(name: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def signed_in(app, identity: Identity, **kwargs) -> tuple[str, dict]:
    """The id of the user ``identity`` signs in as, and headers with the access token it gets."""
    with app.test_request_context():
        try:
            user = identities.sign_in(identity, RULES, **kwargs)
        except SignInRefused:
            db.session.commit()  # as every caller does: the audit row and ended sessions stay
            raise
        tokens = issue_tokens(user, start_session(user))
        db.session.commit()
        return user.id, {"Authorization": f"Bearer {tokens.access_token}"}


def test_a_first_sign_in_makes_the_account_and_the_next_finds_it(app, client):
    user_id, headers = signed_in(app, ada())
    me = client.get(ME, headers=headers).get_json()
    assert (me["email"], me["role"], me["auth_source"]) == ("ada@example.com", "user", "oidc")

    again, _ = signed_in(app, ada(email="ada.lovelace@example.com"))  # renamed at the provider
    assert again == user_id
    with app.app_context():
        assert db.session.get(User, user_id).email == "ada.lovelace@example.com"
        assert len(events("sso_user_created")) == 1 and len(events("sso_login")) == 2


def test_roles_follow_the_groups_at_every_sign_in_and_are_audited(app, client):
    user_id, headers = signed_in(app, ada(groups=frozenset({"riskscan-admins"})))
    assert client.get(ME, headers=headers).get_json()["role"] == "admin"
    signed_in(app, ada(groups=frozenset({"riskscan"})))
    with app.app_context():
        assert db.session.get(User, user_id).role == "user"
        changes = [(e.details["old"], e.details["new"]) for e in events("role_change")]
    assert changes == [("user", "admin"), ("admin", "user")]


def test_a_reviewer_made_in_riskscan_stays_one(app):
    user_id, _ = signed_in(app, ada())
    with app.app_context():
        db.session.get(User, user_id).role = "reviewer"
        db.session.commit()
    signed_in(app, ada())
    with app.app_context():
        assert db.session.get(User, user_id).role == "reviewer"


def test_a_person_out_of_the_allowed_groups_is_refused_and_loses_every_session(app, client):
    _, headers = signed_in(app, ada())
    assert client.get(ME, headers=headers).status_code == 200
    with pytest.raises(SignInRefused) as refused:
        signed_in(app, ada(groups=frozenset({"marketing"})))
    assert refused.value.words == identities.NOT_ALLOWED
    assert client.get(ME, headers=headers).status_code == 401  # the old session ended
    with app.app_context():
        assert [e.details["reason"] for e in events("sso_refused")] == ["not in an allowed group"]


def test_an_unverified_email_is_refused_and_makes_no_account(app):
    with pytest.raises(SignInRefused, match="not verified"):
        signed_in(app, ada(email_verified=False))
    with app.app_context():
        assert db.session.scalar(select(User).where(User.email == "ada@example.com")) is None


def test_a_person_without_an_email_is_refused(app):
    """A directory entry without ``mail``: no account is made with an empty email."""
    with pytest.raises(SignInRefused, match="did not tell Riskscan your email"):
        signed_in(app, ada(email="", source="ldap", subject="uid=ada,ou=people,dc=x"))
    with app.app_context():
        assert db.session.scalar(select(User).where(User.auth_source == "ldap")) is None


def test_an_email_of_a_local_account_is_never_taken_over_silently(app, client):
    local = Accounts(app, client).register("ada@example.com")
    with pytest.raises(SignInRefused) as refused:
        signed_in(app, ada())
    assert refused.value.words == identities.TAKEN
    with app.app_context():
        stored = db.session.get(User, local["id"])
        assert (stored.auth_source, stored.external_id) == ("local", None)


def test_linking_a_local_account_when_the_operator_allows_it(app, client):
    local = Accounts(app, client).register("ada@example.com")
    user_id, _ = signed_in(app, ada(), link_local=True)
    assert user_id == local["id"]
    with app.app_context():
        assert db.session.get(User, user_id).auth_source == "oidc"
        assert len(events("sso_linked")) == 1
    # Its old password no longer signs in: the provider does.
    assert_problem(client.post("/api/v1/auth/login",
                               json={"email": "ada@example.com", "password": PASSWORD}), 401)


def test_a_deactivated_account_is_refused(app):
    user_id, _ = signed_in(app, ada())
    with app.app_context():
        db.session.get(User, user_id).active = False
        db.session.commit()
    with pytest.raises(SignInRefused, match="deactivated"):
        signed_in(app, ada())


def test_an_sso_account_has_no_password_that_signs_in(app, client):
    user_id, _ = signed_in(app, ada())
    with app.app_context():
        from service.auth.passwords import hash_password
        db.session.get(User, user_id).password_hash = hash_password(PASSWORD)
        db.session.commit()
    assert_problem(client.post("/api/v1/auth/login",
                               json={"email": "ada@example.com", "password": PASSWORD}), 401)


def test_with_local_accounts_off_only_a_break_glass_admin_signs_in_with_a_password(
        make_app):
    app = make_app()
    client = app.test_client()
    accounts = Accounts(app, client)
    admin, _ = accounts.user(role="admin", email="root@example.com")
    other_admin, _ = accounts.user(role="admin", email="other@example.com")
    user = accounts.register("someone@example.com")
    closed = make_app(AUTH_LOCAL=False, AUTH_BREAK_GLASS_ADMINS=("root@example.com",))
    client = closed.test_client()

    body = assert_problem(client.post("/api/v1/auth/register", json={
        "email": "new@example.com", "password": PASSWORD}), 403)
    assert "identity provider" in body["detail"]
    assert client.post("/api/v1/auth/login", json={
        "email": admin["email"], "password": PASSWORD}).status_code == 200
    for refused in (other_admin, user):
        assert_problem(client.post("/api/v1/auth/login", json={
            "email": refused["email"], "password": PASSWORD}), 401)
