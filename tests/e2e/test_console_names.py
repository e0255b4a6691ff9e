"""Names where a person looks for them, in Chromium: an owner renames a project on its
Members page (the API's refusal beside the field, the keyboard alone enough), and the
admin's audit log links a project and a register entry by their names; axe-core finds
nothing on the new states. (tests/test_console_projects.py and test_console_audit.py hold
every refusal and fallback in detail; this holds what the browser shows.)"""

from __future__ import annotations

import pytest

from tests.e2e.driver import (
    BrowserErrors,
    accessibility_violations,
    call_api,
    new_page,
    seed,
    sign_in,
)

pytestmark = pytest.mark.slow

PROJECT = "Payroll migration"


@pytest.fixture(scope="module")
def owner(console_app):
    return seed(console_app, "owner-names@example.com", project=PROJECT)


@pytest.fixture
def page(refused_page, owner):
    """The owner's page; a refused form's status (422) is the one error it may log."""
    sign_in(refused_page, owner.email)
    return refused_page


def test_an_owner_renames_the_project_the_refusal_said_beside_the_field(
        page, console_app, owner, axe_script):
    page.goto(f"/app/projects/{owner.project_id}/members")
    field = page.get_by_label("Project name")
    assert field.input_value() == PROJECT
    field.fill("")
    field.press("Enter")  # the keyboard alone: Enter in the field sends its form
    page.wait_for_load_state()
    error = page.locator("#project-name-error")
    assert error.inner_text() == "Must not be blank."
    assert field.get_attribute("aria-invalid") == "true"
    assert "project-name-error" in field.get_attribute("aria-describedby")
    assert accessibility_violations(page, axe_script) == []  # the refusal beside the field

    page.get_by_label("Project name").fill("Payroll cut-over 2027")
    page.get_by_role("button", name="Rename").click()
    page.wait_for_url(f"**/app/projects/{owner.project_id}/members#project-name")
    said = page.locator("#project-name ~ p.said")
    assert said.inner_text() == "Renamed: the project is “Payroll cut-over 2027” now."
    assert page.locator(".project-name").inner_text() == "Payroll cut-over 2027"
    assert page.get_by_label("Project name").input_value() == "Payroll cut-over 2027"
    assert accessibility_violations(page, axe_script) == []  # the result beside it
    assert call_api(console_app, owner, "GET", f"/projects/{owner.project_id}")[
        "name"] == "Payroll cut-over 2027"


def test_the_audit_log_links_a_project_and_an_entry_by_their_names(
        browser, console_url, console_app, axe_script):
    from tests.e2e.driver import STATUS_REPORT, make_admin

    admin = seed(console_app, "admin-names@example.com", project="Depot audit",
                 reports=[STATUS_REPORT])
    make_admin(console_app, admin.email)
    [entry, *_] = call_api(console_app, admin, "GET",
                           f"/projects/{admin.project_id}/risks")["items"]
    call_api(console_app, admin, "PATCH", f"/projects/{admin.project_id}/risks/{entry['id']}",
             json={"status": "mitigating"})
    errors = BrowserErrors()
    page = new_page(browser, console_url, errors)
    try:
        sign_in(page, admin.email)
        page.goto("/app/admin/audit?event=project_created")
        assert page.get_by_role("link", name="Project Depot audit").count() == 1
        page.goto("/app/admin/audit?event=risk_updated")
        wording = entry["risk"] if len(entry["risk"]) <= 60 else entry["risk"][:59]
        link = page.get_by_role("link", name=f"“{wording.rstrip()}", exact=False)
        assert link.count() == 1 and page.get_by_role("link", name="Entry #").count() == 0
        assert accessibility_violations(page, axe_script) == []
        link.click()
        page.wait_for_url(f"**/app/projects/{admin.project_id}/risks/{entry['id']}")
    finally:
        page.context.close()
    errors.assert_none()
