"""An admin's users in Chromium: a user made from the Users page with a one-time password
shown once; that person signs in with it and is sent to choose their own before anything
else; a forgotten password reset after a confirmation. axe-core clean on each page."""

from __future__ import annotations

import re

import pytest

from tests.e2e.driver import accessibility_violations, make_admin, new_page, seed, sign_in

pytestmark = pytest.mark.slow

ONE_TIME = re.compile(r"^[a-z2-9]{4}(-[a-z2-9]{4}){3}$")
CHOSEN = "a brand new violet staircase"


def _made_and_shown(page, axe_script, email: str) -> str:
    """Make ``email`` from the Users page; the one-time password the page shows."""
    page.goto("/app/admin/users")
    page.get_by_text("New user", exact=True).click()
    form = page.locator("details.new-user")
    form.get_by_label("Email", exact=True).fill(email)
    form.get_by_label("Role", exact=True).select_option("reviewer")
    form.get_by_role("button", name="Create user").click()
    page.wait_for_url(re.compile(r"/app/admin/users$"))
    once = page.get_by_label("One-time password").input_value()
    assert ONE_TIME.match(once), once
    assert accessibility_violations(page, axe_script) == []
    return once


def test_a_new_user_chooses_their_password_at_first_sign_in(page, browser, console_app,
                                                           console_url, axe_script,
                                                           screenshots):
    admin = seed(console_app, "admin.users@example.com")
    make_admin(console_app, admin.email)
    page.add_init_script(path=str(axe_script))  # axe without a reload: the password is once
    sign_in(page, admin.email)

    once = _made_and_shown(page, axe_script, "priya@example.com")
    screenshots.take(page, "admin-new-user")
    page.reload()
    assert page.get_by_label("One-time password").count() == 0
    assert once not in page.content()

    person = new_page(browser, console_url)
    try:
        person.add_init_script(path=str(axe_script))
        person.goto("/app/sign-in")
        person.get_by_label("Email", exact=True).fill("priya@example.com")
        person.get_by_label("Password", exact=True).fill(once)
        person.get_by_role("button", name="Sign in", exact=True).click()
        person.wait_for_url(re.compile(r"/app/account/first-password$"))
        assert person.get_by_role("heading", name="Choose your password").is_visible()
        assert accessibility_violations(person, axe_script) == []
        person.goto("/app/projects")
        assert person.url.endswith("/app/account/first-password")
        person.get_by_label("One-time password").fill(once)
        person.get_by_label("New password", exact=True).fill(CHOSEN)
        person.get_by_label("New password again").fill(CHOSEN)
        person.get_by_role("button", name="Set my password").click()
        person.wait_for_url(re.compile(r"/app/scan$"))
        assert "Your password is set" in person.locator(".flash").inner_text()
        assert person.goto("/app/projects").status == 200
    finally:
        person.context.close()


def test_a_forgotten_password_is_reset_after_a_confirmation(page, console_app, axe_script):
    admin = seed(console_app, "admin.resets@example.com")
    make_admin(console_app, admin.email)
    forgetful = seed(console_app, "forgetful@example.com")
    page.add_init_script(path=str(axe_script))
    sign_in(page, admin.email)
    page.goto("/app/admin/users")
    row = page.get_by_role("row").filter(has_text="forgetful@example.com")
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    with page.expect_navigation():
        row.get_by_role("button", name=re.compile("^Reset password")).click()

    assert questions[0].startswith("Reset the password of forgetful@example.com?")
    assert "Password reset for forgetful@example.com" in page.content()
    assert ONE_TIME.match(page.get_by_label("One-time password").input_value())
    assert accessibility_violations(page, axe_script) == []
    assert page.request.get("/api/v1/auth/me", headers=forgetful.headers).status == 401
