"""Riskscan writes to people, in Chromium, with a real SMTP server on loopback (issue #87):
an owner invites a colleague, who follows the emailed link, signs up with the email it
carries and lands in the project; a person who forgot their password asks for a link on
the sign-in page, follows the emailed link, chooses a new one and signs in with it.

The links are followed by their path and query on the served app: the message names the
address the request that made it came in by (PUBLIC_URL empty), which for the console's
in-process API call is not the browser's."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from tests.e2e.driver import (
    PASSWORD,
    BrowserErrors,
    accessibility_violations,
    add_member,
    new_page,
    seed,
    sign_in,
)
from tests.mail_relay import Relay, free_port

pytestmark = pytest.mark.slow

PROJECT = "Heron migration"
COLLEAGUE = "heron.colleague@example.com"
LINK = re.compile(r"https?://\S+(/app/(?:register\?invitation|password/reset\?token)=[\w.-]+)")


@pytest.fixture(scope="module")
def relay():
    """The module's relay: its app's settings name it, and the app is the module's."""
    started = Relay(free_port()).start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def console_settings(relay) -> dict:
    return relay.settings()


def emailed_link(relay, to: str) -> str:
    recipients, message = relay.next()
    assert recipients == [to]
    return LINK.search(message.get_body(("plain",)).get_content())[1]


def test_an_invited_colleague_follows_the_emailed_link_and_lands_in_the_project(
        browser, console_url, console_app, relay, axe_script):
    owner = seed(console_app, "owner-mails@example.com", project=PROJECT)
    errors = BrowserErrors()
    page = new_page(browser, console_url, errors)
    colleague = new_page(browser, console_url, errors)
    try:
        sign_in(page, owner.email)
        add_member(page, owner.project_id, COLLEAGUE, "viewer")
        said = page.locator("#invitation-link-said").inner_text()
        assert "emailed" in said.lower(), said

        colleague.goto(emailed_link(relay, COLLEAGUE))
        assert colleague.get_by_text(
            f"You were invited to {PROJECT} as viewer, as {COLLEAGUE}").is_visible()
        assert colleague.get_by_label("Email", exact=True).input_value() == COLLEAGUE
        colleague.get_by_label("Password", exact=True).fill(PASSWORD)
        colleague.get_by_role("button", name="Register", exact=True).click()
        colleague.wait_for_url(f"**/app/projects/{owner.project_id}")
        assert colleague.locator(".flash").inner_text().strip() == (
            f"You joined {PROJECT} as viewer.")
        assert accessibility_violations(colleague, axe_script) == []
    finally:
        page.context.close()
        colleague.context.close()
    errors.assert_none()


def test_a_forgotten_password_is_chosen_again_from_the_emailed_link(
        browser, console_url, console_app, relay, axe_script):
    person = seed(console_app, "forgetful@example.com")
    errors = BrowserErrors()
    page = new_page(browser, console_url, errors)
    try:
        page.goto("/app/sign-in")
        page.get_by_role("link", name="Forgot your password?").click()
        page.get_by_label("Email", exact=True).fill(person.email)
        page.get_by_role("button", name="Send me a link").click()
        assert page.locator(".said").inner_text().startswith("If an account has this email")
        assert accessibility_violations(page, axe_script) == []

        link = emailed_link(relay, person.email)
        assert urlsplit(link).path == "/app/password/reset"
        page.goto(link)
        new_password = PASSWORD + "-renewed"
        page.get_by_label("New password", exact=True).fill(new_password)
        page.get_by_role("button", name="Change my password").click()
        page.wait_for_url("**/app/sign-in")
        sign_in(page, person.email, new_password)
        assert page.url.endswith("/app/scan")
    finally:
        page.context.close()
    errors.assert_none()
