"""The register proposes, the PM decides (issue #85), over three weeks in Chromium: a risk
whose category a person had set otherwise is stated again in week 2, read under the model's
category: it opens an entry of its own, and Changes says it may restate the known, closed
risk; "Same risk: merge" merges it in one click and reopens the known one. Week 3 says the
risk is closed: Changes offers to close it, and one click does. axe-core on each page.
"""

from __future__ import annotations

import uuid

import pytest

from tests.e2e.driver import (
    VENDOR_RISK,
    accessibility_violations,
    call_api,
    seed,
    sign_in,
    unnamed_controls,
)

pytestmark = pytest.mark.slow

CLOSED = ("Our main supplier has delivered the servers, and we have closed the risk of a "
          "late delivery.")


def scan(app, seeded, text: str, day: str) -> dict:
    return call_api(app, seeded, "POST", "/scans", status=201,
                    json={"text": text, "project_id": seeded.project_id, "reported_on": day})


def entries(app, seeded) -> list[dict]:
    return call_api(app, seeded, "GET", f"/projects/{seeded.project_id}/risks")["items"]


def test_a_restatement_under_another_category_is_merged_in_one_click_and_reopens_the_risk(
        page, console_app, axe_script):
    seeded = seed(console_app, f"pm-{uuid.uuid4().hex[:8]}@example.com", project="Go-live")
    scan(console_app, seeded, VENDOR_RISK, "2026-11-02")
    [known] = [e for e in entries(console_app, seeded) if e["risk"] == VENDOR_RISK]
    # The PM files it under legal (the contract's penalties) and closes it for now.
    call_api(console_app, seeded, "PATCH", f"/projects/{seeded.project_id}/risks/{known['id']}",
             json={"category": "legal", "status": "closed"})
    scan(console_app, seeded, VENDOR_RISK, "2026-11-09")  # read under the model's category
    new = next(e for e in entries(console_app, seeded) if e["id"] != known["id"])
    assert new["category"] != "legal"

    sign_in(page, seeded.email)
    page.goto(f"/app/projects/{seeded.project_id}/changes")
    assert page.locator("#changes-summary").inner_text() == (
        "1 new, 1 may restate known risks.")
    assert unnamed_controls(page) == []
    assert accessibility_violations(page, axe_script) == []
    with page.expect_navigation():
        page.get_by_role("button", name="Same risk: merge").click()
    said = page.locator(".flash").inner_text()
    assert f"Risk {new['id']} merged into risk {known['id']}" in said and "reopened" in said
    kept = call_api(console_app, seeded, "GET",
                    f"/projects/{seeded.project_id}/risks/{known['id']}")
    assert (kept["category"], kept["status"], kept["reopened"], kept["occurrences"]) == (
        "legal", "open", True, 2)

    # Week 3: the report says it is closed; Changes offers the close, and one click does it.
    scan(console_app, seeded, CLOSED, "2026-11-16")
    page.goto(f"/app/projects/{seeded.project_id}/changes")
    offer = page.locator(".close-offer")
    assert "This report says it is closed: close it?" in offer.inner_text()
    assert accessibility_violations(page, axe_script) == []
    with page.expect_navigation():
        offer.get_by_role("button", name=f"Close risk {known['id']}").click()
    closed = call_api(console_app, seeded, "GET",
                      f"/projects/{seeded.project_id}/risks/{known['id']}")
    assert (closed["status"], closed["risk"]) == ("closed", VENDOR_RISK)
