"""A dismissed finding in Chromium: dismissed once on one report's page, folded on the next
report's page, and restored from there.

The project's two reports (tests/e2e/driver.py) state the vendor risk in two wordings that
the real model labels `vendor` and the real encoder matches (they join one register entry
when nothing is dismissed): here a member says the first is not a risk.
"""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.driver import (
    PROJECT_REPORTS,
    VENDOR_REWORDED,
    VENDOR_RISK,
    call_api,
    finding_item,
    marked,
    seed,
    sign_in,
    unnamed_controls,
)

pytestmark = pytest.mark.slow


def test_a_dismissed_finding_is_folded_on_the_next_report_and_restored(page, console_app):
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    seeded = seed(console_app, email, project="Billing migration", reports=PROJECT_REPORTS[:1])
    sign_in(page, email)

    # Week 12: the member says the vendor sentence is not a risk; the page's script saves it.
    page.goto(f"/app/scans/{seeded.scan_ids[0]}")
    select = finding_item(page, VENDOR_RISK).get_by_label("Category", exact=True)
    with page.expect_response(lambda r: "/findings/" in r.url) as answer:
        select.select_option("none")
    assert answer.value.status == 204
    (dismissal,) = call_api(console_app, seeded, "GET",
                            f"/projects/{seeded.project_id}/dismissals")["items"]
    assert dismissal["risk"] == VENDOR_RISK

    # Week 13 states it in other words: folded, unmarked, out of the count and the register.
    week_13 = call_api(console_app, seeded, "POST", "/scans", status=201, json={
        "text": PROJECT_REPORTS[1], "project_id": seeded.project_id})
    page.goto(f"/app/scans/{week_13['scan_id']}")
    folded = page.locator("details.dismissed-findings")
    assert folded.locator("summary").inner_text().strip() == "Dismissed before (1)"
    assert folded.get_attribute("open") is None  # folded
    item = folded.locator("li").filter(has_text=VENDOR_REWORDED)
    assert not item.is_visible()
    assert VENDOR_REWORDED not in marked(page)
    risks = [e["risk"] for e in call_api(console_app, seeded, "GET",
                                         f"/projects/{seeded.project_id}/risks")["items"]]
    assert VENDOR_REWORDED not in risks and VENDOR_RISK not in risks
    found = len(week_13["data"]) - 1
    assert page.locator("p.meta").inner_text().startswith(
        f"{found} risk found" if found == 1 else f"{found} risks found")

    folded.locator("summary").click()
    assert item.is_visible()
    assert f"Matches the dismissed “{VENDOR_RISK}”" in item.inner_text()
    assert unnamed_controls(page) == []
    with page.expect_navigation():
        item.get_by_role("button", name="Restore").click()
    page.locator(".flash", has_text="Restored").wait_for()
    assert page.locator("details.dismissed-findings").count() == 0
    assert marked(page)[VENDOR_REWORDED] == "vendor"
    assert finding_item(page, VENDOR_REWORDED).get_by_role(
        "link", name="Its register entry").is_visible()
    risks = [e["risk"] for e in call_api(console_app, seeded, "GET",
                                         f"/projects/{seeded.project_id}/risks")["items"]]
    assert VENDOR_REWORDED in risks
    assert call_api(console_app, seeded, "GET",
                    f"/projects/{seeded.project_id}/dismissals")["items"] == []
