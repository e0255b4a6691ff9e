"""A new colleague invited, in Chromium (issue #74, item 6): the owner of a project with two
weeks of reports invites an email that has no account, sees the invitation pending with its
expiry, and a second try refused beside the form with the email kept. The colleague signs
up through the link and lands in the project as its editor, reading the register, which the
invitation left as it was. (tests/test_invitations.py and test_console_invitations.py hold
every rule and refusal in detail; this holds what the browser shows.)"""

from __future__ import annotations

import re

import pytest

from tests.e2e.driver import (
    PASSWORD,
    PROJECT_REPORTS,
    BrowserErrors,
    accessibility_violations,
    add_member,
    call_api,
    new_page,
    seed,
    sign_in,
)

pytestmark = pytest.mark.slow

PROJECT = "Falcon rollout"
COLLEAGUE = "new.colleague@example.com"


@pytest.fixture(scope="module")
def owner(console_app):
    """A PM's project with its first two weekly reports in the register."""
    return seed(console_app, "owner-invites@example.com", project=PROJECT,
                reports=PROJECT_REPORTS)


def register_of(app, seeded) -> list[tuple]:
    listing = call_api(app, seeded, "GET", f"/projects/{seeded.project_id}/risks",
                       query_string={"per_page": 100})
    return sorted((e["id"], e["risk"], e["category"], e["status"], e["occurrences"])
                  for e in listing["items"])


def test_the_owner_invites_a_new_colleague_who_signs_up_and_lands_in_the_project(
        browser, console_url, console_app, owner, axe_script):
    before = register_of(console_app, owner)
    assert before, "the reports put risks in the register"
    errors = BrowserErrors()
    page = new_page(browser, console_url, errors)
    colleague = new_page(browser, console_url, errors)
    try:
        sign_in(page, owner.email)
        members = add_member(page, owner.project_id, COLLEAGUE, "editor")
        said = page.locator("#invitation-link-said")
        assert re.fullmatch(rf"No account has {re.escape(COLLEAGUE)} yet: invited as editor "
                            r"until \d{1,2} \w{3} \d{4}\. Hand them this link to sign up "
                            r"with; it is shown this once \(this deployment sends no mail\)\.",
                            said.locator("p").first.inner_text())
        link = page.get_by_label(f"Invitation link for {COLLEAGUE}").input_value()
        assert link.startswith(f"{console_url}/app/register?invitation=")
        pending = page.locator("#invitations tbody tr")
        assert pending.count() == 1
        row = pending.first.inner_text()
        assert COLLEAGUE in row and "editor" in row and owner.email in row
        assert re.search(r"\d{1,2} \w{3} \d{4}", row)  # its expiry
        assert page.get_by_role("button", name=f"Revoke the invitation of {COLLEAGUE}"
                                ).is_visible()
        assert page.locator(".flash").count() == 0  # said beside the form, not on top
        assert accessibility_violations(page, axe_script) == []

        # Invited again: refused beside the form, the email as typed kept in the field.
        page.get_by_label("Email", exact=True).fill(COLLEAGUE.upper())
        page.get_by_role("button", name="Add member").click()
        page.wait_for_load_state()
        field = page.get_by_label("Email", exact=True)
        assert field.input_value() == COLLEAGUE.upper()
        assert field.get_attribute("aria-invalid") == "true"
        refusal = page.locator("#member-email-error").inner_text()
        assert "is invited to this project already" in refusal
        assert page.locator(".flash").count() == 0
        assert accessibility_violations(page, axe_script) == []

        # The colleague, in a browser of their own, follows the link.
        colleague.goto(link)
        # The form says where the link leads and carries the invited email (issue #85).
        assert colleague.get_by_text(
            f"You were invited to {PROJECT} as editor, as {COLLEAGUE}").is_visible()
        assert colleague.get_by_label("Email", exact=True).input_value() == COLLEAGUE
        assert accessibility_violations(colleague, axe_script) == []
        colleague.get_by_label("Email", exact=True).fill(COLLEAGUE)
        colleague.get_by_label("Password", exact=True).fill(PASSWORD)
        colleague.get_by_role("button", name="Register", exact=True).click()

        colleague.wait_for_url(f"**/app/projects/{owner.project_id}")
        assert colleague.locator(".flash").inner_text().strip() == (
            f"You joined {PROJECT} as editor.")
        for _, risk, *_ in before:  # the register, read by its new editor
            assert colleague.get_by_text(risk, exact=True).first.is_visible()

        page.goto(members)
        assert page.locator("#invitations").get_by_text("None.").is_visible()
        assert "editor" in page.locator("tr", has_text=COLLEAGUE).inner_text()
    finally:
        page.context.close()
        colleague.context.close()
    errors.assert_none(allowing=("status of 409",))  # the refused second invitation
    assert register_of(console_app, owner) == before  # inviting changed no entry
