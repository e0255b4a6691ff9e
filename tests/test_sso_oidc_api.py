"""The OpenID provider's JWT access tokens on the API (OIDC_API_AUDIENCE,
service/auth/oidc.py), beside Riskscan's own tokens and API keys: a token from the real
provider of tests/sso/ (its client-credentials client, whose tokens name a person) is
accepted; tokens signed with the provider's key but wrong in one way, or not signed by it,
are a 401. On both databases."""

from __future__ import annotations

import time

import pytest
from joserfc.jwk import RSAKey
from sqlalchemy import select

from service.config import ConfigError, Settings
from service.db import User
from service.extensions import db
from tests.helpers import Accounts, api_key_headers, assert_problem
from tests.sso.console import events
from tests.sso.provider import API_AUDIENCE, ROBOT_EMAIL

ME = "/api/v1/auth/me"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_a_token_of_the_provider_for_the_api_is_accepted_and_makes_the_user(
        sso, oidc_provider):
    app, client = sso()
    token = oidc_provider.robot_token()
    me = client.get(ME, headers=bearer(token))
    assert me.status_code == 200, me.get_data(as_text=True)
    assert (me.get_json()["email"], me.get_json()["auth_source"]) == (ROBOT_EMAIL, "oidc")
    assert client.get("/api/v1/projects", headers=bearer(token)).status_code == 200
    # One sign-in per token, not one per request.
    assert len(events(app, "sso_login")) == 1 and len(events(app, "sso_user_created")) == 1


def test_a_person_signed_in_at_the_console_is_the_same_user_on_the_api(sso, oidc_provider):
    from tests.sso.console import come_back

    app, client = sso()
    come_back(client, oidc_provider, "grace")
    token = oidc_provider.sign(sub="grace", aud=API_AUDIENCE, email="grace@example.com",
                               groups=["riskscan-admins"])
    me = client.get(ME, headers=bearer(token)).get_json()
    assert (me["email"], me["role"]) == ("grace@example.com", "admin")
    with app.app_context():
        assert len(db.session.scalars(select(User)).all()) == 1


def _forgeries(provider):
    now = int(time.time())
    other_key = RSAKey.generate_key(2048, parameters={"kid": "not-the-providers"})

    good = {"aud": API_AUDIENCE}
    return {
        "another audience": provider.sign(aud="https://other.example"),  # an ID token's
        "another issuer": provider.sign(good, iss="https://evil.example"),
        "expired": provider.sign(good, iat=now - 7200, exp=now - 3600),
        "not yet valid": provider.sign(good, nbf=now + 3600),
        "alg none": provider.unsigned(good),
        "HS256 with the public key": provider.hs256_with_public_key(good),
        "an unknown key": provider.sign(good, key=other_key,
                                        header={"kid": "not-the-providers"}),
        "a tampered signature": provider.sign(good)[:-8] + "AAAAAAAA",
        "out of the groups": provider.sign(good, groups=["marketing"]),
        "an unverified email": provider.sign(good, email_verified=False),
    }


FORGERIES = ["another audience", "another issuer", "expired", "not yet valid", "alg none",
             "HS256 with the public key", "an unknown key", "a tampered signature",
             "out of the groups", "an unverified email"]


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_token_wrong_in_one_way_is_a_401(sso, oidc_provider, forgery):
    _, client = sso()
    assert client.get(ME, headers=bearer(oidc_provider.sign(aud=API_AUDIENCE))
                      ).status_code == 200  # the same, right, is accepted
    _, client = sso()  # an app of its own: nothing remembered of that token
    assert_problem(client.get(ME, headers=bearer(_forgeries(oidc_provider)[forgery])), 401)


def test_entra_ids_verified_domain_claim_stands_for_email_verified(sso, oidc_provider):
    """Entra ID sends ``xms_edov`` (its optional claim) and no ``email_verified``."""
    _, client = sso()
    entra = {"aud": API_AUDIENCE, "email_verified": None}
    assert client.get(ME, headers=bearer(oidc_provider.sign(entra, xms_edov=True))
                      ).status_code == 200
    _, client = sso()
    for unverified in (oidc_provider.sign(entra), oidc_provider.sign(entra, xms_edov="true")):
        assert_problem(client.get(ME, headers=bearer(unverified)), 401)


def test_a_deactivated_user_is_refused_on_the_next_request_with_the_same_token(
        sso, oidc_provider):
    app, client = sso()
    token = oidc_provider.sign(aud=API_AUDIENCE)
    assert client.get(ME, headers=bearer(token)).status_code == 200
    with app.app_context():
        db.session.scalar(select(User).where(User.email == "ada@example.com")).active = False
        db.session.commit()
    assert_problem(client.get(ME, headers=bearer(token)), 401)


def test_a_refused_token_retried_is_refused_once_in_the_audit_log(sso, oidc_provider):
    app, client = sso()
    token = oidc_provider.sign(aud=API_AUDIENCE, groups=["marketing"])
    for _ in range(3):
        assert_problem(client.get(ME, headers=bearer(token)), 401)
    assert len(events(app, "sso_refused")) == 1


def test_without_an_api_audience_the_providers_tokens_are_not_taken(sso, oidc_provider):
    _, client = sso(OIDC_API_AUDIENCE="")
    assert_problem(client.get(ME, headers=bearer(oidc_provider.robot_token())), 401)


def test_an_api_audience_without_a_provider_is_a_configuration_error():
    with pytest.raises(ConfigError, match="OIDC_API_AUDIENCE"):
        Settings.from_env({"OIDC_API_AUDIENCE": API_AUDIENCE, "SECRET_KEY": "x" * 32})


def test_riskscans_own_tokens_and_api_keys_work_as_before(sso):
    app, client = sso()
    _, headers = Accounts(app, client).user()
    assert client.get(ME, headers=headers).status_code == 200
    keyed = api_key_headers(client, headers, "projects:read")
    assert client.get("/api/v1/projects", headers=keyed).status_code == 200
    assert_problem(client.get(ME, headers=bearer("not-a-token")), 401)
