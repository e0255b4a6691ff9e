"""The console says where an account signs in: an SSO person's Account page sends them to
their provider for their password, and the admin's Users page lists each account's source."""

from __future__ import annotations

import re

import pytest

from service.auth import identities
from service.auth.identities import GroupRules, Identity
from service.auth.tokens import issue_tokens, start_session
from service.extensions import db
from tests.console_browser import sign_in
from tests.helpers import Accounts

PROVIDER = Identity(source="oidc", subject="https://idp.example 77", email="grace@example.com",
                    email_verified=True, groups=frozenset())


@pytest.fixture
def sso_browser(app):
    """A console client whose session holds the access token of a provider's person."""
    with app.test_request_context():
        user = identities.sign_in(PROVIDER, GroupRules())
        token = issue_tokens(user, start_session(user)).access_token
        db.session.commit()
    browser = app.test_client()
    with browser.session_transaction("/app/") as session:
        session["token"] = token
    return browser


def test_an_sso_account_page_sends_the_password_to_the_provider(sso_browser):
    page = sso_browser.get("/app/account").get_data(as_text=True)
    assert "Signed in as <strong>grace@example.com</strong>, through your company's " \
           "identity provider." in page.replace("&#39;", "'")
    assert "Change password" not in page and "current-password" not in page


def test_a_local_account_page_keeps_its_password_form(app, client):
    Accounts(app, client).register("ada@example.com")
    browser = app.test_client()
    sign_in(browser, "ada@example.com")
    page = browser.get("/app/account").get_data(as_text=True)
    assert "Change password" in page and "through your company" not in page.replace("&#39;", "'")


def test_the_users_page_says_how_each_account_signs_in(app, client, sso_browser):
    accounts = Accounts(app, client)
    admin, _ = accounts.user(role="admin", email="root@example.com")
    browser = app.test_client()
    sign_in(browser, admin["email"])
    page = browser.get("/app/admin/users").get_data(as_text=True)
    rows = {re.search(r'class="admin-email">([^<]+)', row)[1].strip(): row
            for row in re.findall(r"<tr>.*?</tr>", page, re.DOTALL) if "admin-email" in row}
    assert "<td>identity provider</td>" in rows["grace@example.com"]
    assert "<td>password</td>" in rows["root@example.com"]


def test_with_a_provider_and_a_directory_the_directorys_form_is_not_folded_away(make_app):
    """Local accounts off, OpenID and LDAP both on: the directory's people sign in with the
    password form, so it is the page's own, not the break-glass admins' folded one."""
    app = make_app(AUTH_LOCAL=False, OIDC_ISSUER="https://idp.example", OIDC_NAME="Acme",
                   OIDC_CLIENT_ID="riskscan", LDAP_URL="ldaps://ldap.example")
    page = app.test_client().get("/app/sign-in").get_data(as_text=True)
    assert "Sign in with Acme" in page and "Email or username" in page
    assert "Or with your company directory&#39;s password:" in page
    assert "break-glass" not in page and "Register" not in page
