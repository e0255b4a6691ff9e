"""The register's weekly work in Chromium (issue #51 item 6): a row rated in place, then two
entries given a status at once by ticking them, each checked in what the API then stores."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.e2e.driver import PROJECT_REPORTS, call_api, seed, sign_in

pytestmark = pytest.mark.slow


@pytest.fixture
def project(console_app):
    return seed(console_app, f"ada-{uuid.uuid4().hex[:8]}@example.com",
                project="Billing migration", reports=PROJECT_REPORTS)


def entries(app, seeded) -> dict[str, dict]:
    items = call_api(app, seeded, "GET", f"/projects/{seeded.project_id}/risks")["items"]
    return {entry["category"]: entry for entry in items}


def test_a_row_is_rated_in_place_and_two_rows_get_a_status_at_once(page, console_app,
                                                                    project):
    before = entries(console_app, project)
    vendor, budget, schedule = before["vendor"], before["budget"], before["schedule"]
    sign_in(page, project.email)
    page.goto(f"/app/projects/{project.project_id}")

    row = page.locator(f"#risk-{vendor['id']}")
    page.get_by_label(f"Likelihood of: {vendor['risk']}", exact=True).select_option("4")
    page.get_by_label(f"Impact of: {vendor['risk']}", exact=True).select_option("3")
    with page.expect_navigation():
        row.get_by_role("button", name="Rate", exact=True).click()
    assert page.url.endswith(f"#risk-{vendor['id']}")
    # said in the row the page lands at, not at the top of the page, out of view
    assert row.locator("p.said").inner_text() == (
        f'Rated "{vendor["risk"]}": likelihood 4 × impact 3 = 12 (high).')
    assert page.locator(".flash").count() == 0
    assert page.locator(f"#risk-{vendor['id']} td.rating .score").inner_text() == (
        "12 high (4×3)")
    rated = entries(console_app, project)["vendor"]
    assert (rated["likelihood"], rated["impact"], rated["score"]) == (4, 3, 12)

    for entry in (vendor, budget):
        page.get_by_label(f"Select: {entry['risk']}", exact=True).check()
    page.get_by_label("Status of the selected", exact=True).select_option("mitigating")
    with page.expect_navigation():
        page.get_by_role("button", name="Apply to selected", exact=True).click()
    assert re.search(r"#register$", page.url)
    said = page.locator("#bulk-form p.said")
    assert said.inner_text().startswith("Changed 2 risks") and said.is_visible()
    assert page.evaluate("window.scrollY") > 0  # landed at the register, its message in view
    after = entries(console_app, project)
    assert {after[c]["status"] for c in ("vendor", "budget")} == {"mitigating"}
    assert after["schedule"]["status"] == schedule["status"] == "open"
    status = page.get_by_label(f"Status of: {budget['risk']}", exact=True)
    assert status.input_value() == "mitigating"
