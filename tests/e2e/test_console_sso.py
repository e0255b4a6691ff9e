"""OpenID Connect in Chromium: the sign-in page's button leads through the real provider's
own pages (tests/sso/) and back to the console, with the role the provider's groups give;
signing out passes by the provider's logout and returns to the sign-in page. The console
is the provider's public, native client here (PKCE only, any loopback port)."""

from __future__ import annotations

import re

import pytest

from tests.e2e.driver import BrowserErrors, accessibility_violations, new_page
from tests.sso.provider import ADMINS, ALLOWED, CONSOLE_CLIENT_ID

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def console_settings(oidc_provider):
    oidc_provider.reset_accounts()
    return {"OIDC_ISSUER": oidc_provider.issuer, "OIDC_CLIENT_ID": CONSOLE_CLIENT_ID,
            "OIDC_NAME": "Example SSO", "OIDC_ALLOWED_GROUPS": (ALLOWED,),
            "OIDC_ADMIN_GROUPS": (ADMINS,)}


@pytest.fixture
def page(browser, console_url, oidc_provider):
    """As conftest's ``page``, but what the provider's own pages report (their web fonts,
    unreachable here, and favicon) is the provider's: the console's pages stay error-free."""
    errors = BrowserErrors()
    page = new_page(browser, console_url, errors)
    yield page
    page.context.close()
    ours = [e for e in errors.errors if not e.startswith(oidc_provider.issuer + "/")]
    assert not ours, "the browser reported errors:\n" + "\n".join(ours)


def at_the_provider(page, provider, login: str) -> None:
    """The provider's login and consent pages, as a person fills them in."""
    page.wait_for_url(re.compile(re.escape(provider.issuer) + "/interaction/"))
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("anything")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()


def test_an_admin_signs_in_through_the_provider_and_out_again(page, oidc_provider):
    page.goto("/app/sign-in")
    page.get_by_role("link", name="Sign in with Example SSO").click()
    at_the_provider(page, oidc_provider, "grace")
    page.wait_for_url(re.compile(r"/app/scan$"))
    assert page.locator(".who").inner_text() == "grace@example.com"
    page.get_by_role("link", name="Admin", exact=True).click()
    page.wait_for_url(re.compile(r"/app/admin/users$"))
    assert page.get_by_role("cell", name="grace@example.com").count() == 1

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(re.escape(oidc_provider.issuer) + "/session/end"))
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(re.compile(r"/app/sign-in"))
    page.goto("/app/scan")
    page.wait_for_url(re.compile(r"/app/sign-in"))  # signed out of Riskscan


def test_a_user_lands_without_the_admin_pages(page, oidc_provider):
    page.goto("/app/projects")
    page.wait_for_url(re.compile(r"/app/sign-in"))
    page.get_by_role("link", name="Sign in with Example SSO").click()
    at_the_provider(page, oidc_provider, "ada")
    page.wait_for_url(re.compile(r"/app/projects$"))  # where it was going
    assert page.locator(".who").inner_text() == "ada@example.com"
    assert page.get_by_role("link", name="Admin", exact=True).count() == 0


def test_the_sign_in_page_with_the_button_is_accessible(page, axe_script):
    page.goto("/app/sign-in")
    assert page.get_by_role("link", name="Sign in with Example SSO").is_visible()
    assert accessibility_violations(page, axe_script) == []
