"""Whether a directory's email claims invitations (issue #86, item 2): LDAP_EMAIL_VERIFIED.

A bind proves the person, not their ``mail``: in a directory where people edit their own
``mail``, anyone could type an invited address into it. Off (the default), an LDAP
sign-in makes or finds the account as before and claims no invitation; on (the operator
says the directory's mail is the company's own), it claims them as a provider's
``email_verified`` does. The directory itself is faked here: test_sso_ldap.py meets a real
slapd."""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager

import pytest

from service.auth import identities, ldap
from service.auth.identities import GroupRules, Identity
from service.extensions import db
from tests.helpers import Accounts
from tests.projects import make_project

EMAIL = "ada@example.com"


def directory_person(monkeypatch, settings, **overrides) -> Identity:
    """ldap.authenticate against a directory that finds Ada and lets her bind."""

    @contextmanager
    def connection(*_args, **_kwargs):
        yield None

    monkeypatch.setattr(ldap, "_connection", connection)
    monkeypatch.setattr(ldap, "_find", lambda *_: ("uid=ada,ou=people,dc=example,dc=com",
                                                   {"mail": [EMAIL]}))
    monkeypatch.setattr(ldap, "_groups", lambda *_: frozenset())
    return ldap.authenticate("ada", "her password",
                             dataclasses.replace(settings, LDAP_URL="ldaps://ldap:636",
                                                 **overrides))


def test_the_setting_is_off_by_default(settings):
    assert settings.LDAP_EMAIL_VERIFIED is False


@pytest.mark.parametrize("verified", [False, True])
def test_a_directory_email_is_vouched_for_only_when_the_setting_says(
        monkeypatch, settings, verified):
    person = directory_person(monkeypatch, settings, LDAP_EMAIL_VERIFIED=verified)
    assert (person.source, person.email, person.email_verified) == ("ldap", EMAIL, verified)


@pytest.mark.parametrize("verified", [False, True])
def test_an_ldap_sign_in_claims_invitations_only_with_a_vouched_email(
        app, client, verified):
    accounts = Accounts(app, client)
    _, owner_h = accounts.user()
    project = make_project(client, owner_h)
    assert client.post(f"/api/v1/projects/{project['id']}/invitations", headers=owner_h,
                       json={"email": EMAIL, "role": "editor"}).status_code == 201
    person = Identity(source="ldap", subject="uid=ada,ou=people,dc=example,dc=com",
                      email=EMAIL, email_verified=verified, groups=frozenset())

    with app.test_request_context():
        user = identities.sign_in(person, GroupRules())  # signed in either way
        db.session.commit()
        assert (user.email, user.auth_source) == (EMAIL, "ldap")

    members = client.get(f"/api/v1/projects/{project['id']}/members",
                         headers=owner_h).get_json()["items"]
    invitations = client.get(f"/api/v1/projects/{project['id']}/invitations",
                             headers=owner_h).get_json()["items"]
    assert (EMAIL in {m["email"] for m in members}) is verified
    assert [i["email"] for i in invitations] == ([] if verified else [EMAIL])


def test_an_openid_providers_unverified_email_is_still_refused(app):
    person = Identity(source="oidc", subject="https://idp.example 1", email=EMAIL,
                      email_verified=False, groups=frozenset())
    with app.test_request_context(), pytest.raises(identities.SignInRefused):
        identities.sign_in(person, GroupRules())
