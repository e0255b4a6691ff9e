"""The register's weekly work in Chromium (issue #51 item 6, issue #74 item 5): a project
manager's row edited, status, due date and rating in one Save, each kept after a reload
and what changed said beside the row; then entries given a status and a rating at once by
ticking them, each checked in what the API then stores.

Before issue #74 the row had two forms: Save dropped the rating, Rate dropped the status
and due date, and either said "Risk updated.".
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.driver import PROJECT_REPORTS, call_api, seed, sign_in

pytestmark = pytest.mark.slow


@pytest.fixture
def project(console_app):
    """A project manager's project of two weekly reports (the vendor risk stated twice,
    the schedule and budget risks once each)."""
    return seed(console_app, f"pm-{uuid.uuid4().hex[:8]}@example.com",
                project="Billing migration", reports=PROJECT_REPORTS)


def entries(app, seeded) -> dict[str, dict]:
    items = call_api(app, seeded, "GET", f"/projects/{seeded.project_id}/risks")["items"]
    return {entry["category"]: entry for entry in items}


def kept(entry: dict) -> tuple:
    return (entry["status"], entry["due_date"], entry["likelihood"], entry["impact"],
            entry["owner_id"])


def test_a_rows_status_due_date_and_rating_are_saved_by_one_save_and_kept(
        page, console_app, project):
    before = entries(console_app, project)
    vendor = before["vendor"]
    assert kept(vendor) == ("open", None, None, None, None)
    sign_in(page, project.email)
    page.goto(f"/app/projects/{project.project_id}")

    row = page.locator(f"#risk-{vendor['id']}")
    assert row.get_by_role("button").count() == 1  # one Save a row, no Rate
    page.get_by_label(f"Status of: {vendor['risk']}", exact=True).select_option("mitigating")
    page.get_by_label(f"Due date of: {vendor['risk']}", exact=True).fill("2026-12-18")
    page.get_by_label(f"Likelihood of: {vendor['risk']}", exact=True).select_option("4")
    page.get_by_label(f"Impact of: {vendor['risk']}", exact=True).select_option("5")
    with page.expect_navigation():
        row.get_by_role("button", name=f"Save status, rating, owner and due date of: "
                                       f"{vendor['risk']}", exact=True).click()

    # Said in the row the page lands at, in view; nothing at the top of the page.
    assert page.url.endswith(f"#risk-{vendor['id']}")
    said = row.locator("p.said")
    assert said.inner_text() == (
        "Status set to mitigating, rated 4 × 5 = 20 (critical), due 2026-12-18.")
    expect(said).to_be_in_viewport()
    assert page.locator(".flash").count() == 0
    after = entries(console_app, project)
    assert kept(after["vendor"]) == ("mitigating", "2026-12-18", 4, 5, None)
    for other in ("schedule", "budget"):  # the other rows as they were
        assert kept(after[other]) == kept(before[other])

    page.reload()
    assert page.get_by_label(f"Status of: {vendor['risk']}", exact=True).input_value() == (
        "mitigating")
    assert page.get_by_label(f"Due date of: {vendor['risk']}", exact=True).input_value() == (
        "2026-12-18")
    assert page.get_by_label(f"Likelihood of: {vendor['risk']}",
                             exact=True).input_value() == "4"
    assert page.get_by_label(f"Impact of: {vendor['risk']}", exact=True).input_value() == "5"
    assert row.locator("td.rating .score").inner_text() == "20 critical (4×5)"

    # Saved again as it is: nothing is sent, and the row says so.
    with page.expect_navigation():
        row.get_by_role("button", name=re.compile("^Save ")).click()
    assert row.locator("p.said").inner_text() == "Nothing changed."
    assert kept(entries(console_app, project)["vendor"]) == kept(after["vendor"])


def test_two_rows_get_a_status_and_a_rating_at_once(page, console_app, project):
    before = entries(console_app, project)
    vendor, budget, schedule = before["vendor"], before["budget"], before["schedule"]
    sign_in(page, project.email)
    page.goto(f"/app/projects/{project.project_id}")

    for entry in (vendor, budget):
        page.get_by_label(f"Select: {entry['risk']}", exact=True).check()
    page.get_by_label("Status of the selected", exact=True).select_option("mitigating")
    page.get_by_label("Likelihood of the selected", exact=True).select_option("3")
    page.get_by_label("Impact of the selected", exact=True).select_option("4")
    with page.expect_navigation():
        page.get_by_role("button", name="Apply to selected", exact=True).click()
    assert re.search(r"#register$", page.url)
    said = page.locator("#bulk-form p.said")
    assert said.inner_text().startswith(
        "Status set to mitigating, rated 3 × 4 = 12 (high) on 2 risks: ")
    expect(said).to_be_in_viewport()
    assert page.evaluate("window.scrollY") > 0  # landed at the register, its message in view
    after = entries(console_app, project)
    for category in ("vendor", "budget"):
        assert (after[category]["status"], after[category]["score"]) == ("mitigating", 12)
    assert kept(after["schedule"]) == kept(schedule)
    status = page.get_by_label(f"Status of: {budget['risk']}", exact=True)
    assert status.input_value() == "mitigating"
