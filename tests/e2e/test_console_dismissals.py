"""Dismissals in Chromium (issue #61): the choice when dismissing, "this report only" (the
default) or "this report and later ones"; a later finding a dismissal hid, folded on its
report's page with who dismissed what and when, restored in one click; Changes counting
what was hidden; the register page listing the dismissals and lifting one.

The project's two reports (tests/e2e/driver.py) state the vendor risk in two wordings that
the real model labels `vendor` and the real encoder matches (they join one register entry
when nothing is dismissed): here a member says the first is not a risk.
"""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.driver import (
    PROJECT_REPORTS,
    VENDOR_REWORDED,
    VENDOR_RISK,
    accessibility_violations,
    call_api,
    finding_item,
    marked,
    seed,
    sign_in,
    tab_to,
    unnamed_controls,
)

pytestmark = pytest.mark.slow

LATER = "not a risk: this report and later ones"
ONLY_THIS = "not a risk: this report only"


def risks_of(app, seeded) -> list[str]:
    return [e["risk"] for e in call_api(app, seeded, "GET",
                                        f"/projects/{seeded.project_id}/risks")["items"]]


def dismissals_of(app, seeded) -> list[dict]:
    return call_api(app, seeded, "GET", f"/projects/{seeded.project_id}/dismissals")["items"]


def test_dismissed_for_later_reports_a_restatement_is_folded_counted_and_restored(
        page, console_app, axe_script):
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    seeded = seed(console_app, email, project="Billing migration", reports=PROJECT_REPORTS[:1])
    sign_in(page, email)

    # Week 12: the member says the vendor sentence is not a risk, in later reports too.
    page.goto(f"/app/scans/{seeded.scan_ids[0]}")
    select = finding_item(page, VENDOR_RISK).get_by_label("Category", exact=True)
    options = select.locator("option").all_inner_texts()
    assert options[-2:] == [ONLY_THIS, LATER]
    select.select_option(label=LATER)
    with page.expect_response(lambda r: "/findings/" in r.url) as answer:
        finding_item(page, VENDOR_RISK).get_by_role("button", name="Save").click()
    assert answer.value.status == 204
    (dismissal,) = dismissals_of(console_app, seeded)
    assert dismissal["risk"] == VENDOR_RISK
    page.reload()  # the choice stands on the page
    assert finding_item(page, VENDOR_RISK).get_by_label(
        "Category", exact=True).evaluate("s => s.selectedOptions[0].text") == LATER

    # Week 13 states it in other words: folded, unmarked, out of the count and the register.
    week_13 = call_api(console_app, seeded, "POST", "/scans", status=201, json={
        "text": PROJECT_REPORTS[1], "project_id": seeded.project_id})
    page.goto(f"/app/scans/{week_13['scan_id']}")
    folded = page.locator("details.dismissed-findings")
    assert folded.locator("summary").inner_text().strip() == "Hidden by dismissals (1)"
    assert accessibility_violations(page, axe_script) == []
    assert folded.get_attribute("open") is None  # folded
    item = folded.locator("li").filter(has_text=VENDOR_REWORDED)
    assert not item.is_visible()
    assert VENDOR_REWORDED not in marked(page)
    risks = risks_of(console_app, seeded)
    assert VENDOR_REWORDED not in risks and VENDOR_RISK not in risks
    found = len(week_13["data"]) - 1
    assert page.locator("p.meta").inner_text().startswith(
        f"{found} risk found" if found == 1 else f"{found} risks found")

    folded.locator("summary").click()
    assert item.is_visible()
    assert (f"Hidden by your dismissal of “{VENDOR_RISK}” on "
            f"{dismissal['created_at'][:10]}") in item.inner_text()
    assert unnamed_controls(page) == []
    assert accessibility_violations(page, axe_script) == []  # the fold open

    # Changes counts what was hidden, and leads to it.
    page.goto(f"/app/projects/{seeded.project_id}/changes")
    hidden = page.locator("section").filter(has=page.get_by_role(
        "heading", name="Hidden by dismissals"))
    assert "1 finding hidden" in hidden.inner_text()
    assert accessibility_violations(page, axe_script) == []
    with page.expect_navigation():
        hidden.get_by_role("link", name="see it on the report's page").click()

    # One click restores it into the register; the dismissal stays for the next reports.
    page.locator("details.dismissed-findings summary").click()
    with page.expect_navigation():
        item.get_by_role("button", name="Restore to the register").click()
    # Said beside the finding restored, where the page lands.
    finding_item(page, VENDOR_REWORDED).locator("p.said", has_text="Restored").wait_for()
    assert page.locator(".flash").count() == 0
    assert page.locator("details.dismissed-findings").count() == 0
    assert marked(page)[VENDOR_REWORDED] == "vendor"
    assert finding_item(page, VENDOR_REWORDED).get_by_role(
        "link", name="Its register entry").is_visible()
    assert VENDOR_REWORDED in risks_of(console_app, seeded)
    assert [d["kept_out"] for d in dismissals_of(console_app, seeded)] == [0]


def test_this_report_only_by_default_and_a_dismissal_lifted_by_keyboard(
        page, console_app, axe_script):
    email = f"bea-{uuid.uuid4().hex[:8]}@example.com"
    seeded = seed(console_app, email, project="Data centre move", reports=PROJECT_REPORTS[:1])
    sign_in(page, email)
    page.goto(f"/app/scans/{seeded.scan_ids[0]}")
    select = finding_item(page, VENDOR_RISK).get_by_label("Category", exact=True)
    select_id = select.get_attribute("id")

    # With the keyboard only: Tab to the finding's category, the last choice is "later",
    # and only its Save sends it (nothing saves on input).
    tab_to(page, lambda el: el["id"] == select_id)
    page.keyboard.press("End")
    assert dismissals_of(console_app, seeded) == []
    with page.expect_response(lambda r: "/findings/" in r.url) as answer:
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
    assert answer.value.status == 204
    finding_item(page, VENDOR_RISK).locator("p.said", has_text="Saved").wait_for()
    assert page.locator(".flash").count() == 0  # beside the finding, not at the top
    assert [d["risk"] for d in dismissals_of(console_app, seeded)] == [VENDOR_RISK]
    # Back to "this report only" (one up): the dismissal is lifted.
    expect(page.locator(f"#{select_id}")).to_be_focused()
    page.keyboard.press("ArrowUp")
    with page.expect_response(lambda r: "/findings/" in r.url) as answer:
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
    assert answer.value.status == 204
    assert dismissals_of(console_app, seeded) == []

    # Week 13 then counts its restatement: nothing hidden.
    week_13 = call_api(console_app, seeded, "POST", "/scans", status=201, json={
        "text": PROJECT_REPORTS[1], "project_id": seeded.project_id})
    assert not any(f["dismissed"] for f in week_13["data"])
    assert VENDOR_REWORDED in risks_of(console_app, seeded)

    # The register page lists the dismissals: none, said in words; one made, it is listed
    # with who and when, and lifted with the keyboard.
    page.goto(f"/app/projects/{seeded.project_id}")
    dismissals = page.locator("section#dismissals")
    assert "None: no dismissal keeps later findings out" in dismissals.inner_text()
    finding = next(f for f in week_13["data"] if f["risk"] == VENDOR_REWORDED)
    call_api(console_app, seeded, "PATCH",
             f"/scans/{week_13['scan_id']}/findings/{finding['id']}",
             json={"category": "none", "scope": "later"})
    page.reload()
    (listed,) = dismissals.locator("li").all()
    (dismissal,) = dismissals_of(console_app, seeded)
    assert f"“{VENDOR_REWORDED}”" in listed.inner_text()
    assert (f"Dismissed by you on {dismissal['created_at'][:10]} in its report · "
            "0 later findings hidden") in listed.inner_text()
    assert unnamed_controls(page) == []
    assert accessibility_violations(page, axe_script) == []
    tab_to(page, lambda el: el["text"].startswith("Lift the dismissal of"))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    said = page.locator("section#dismissals p.said", has_text="lifted")
    said.wait_for()
    expect(said).to_be_in_viewport()  # beside the list the page lands at
    assert dismissals_of(console_app, seeded) == []
    assert "None: no dismissal" in page.locator("section#dismissals").inner_text()
    # Lifted, the dismissal hides nothing more; its own sentence stays not a risk.
    assert VENDOR_REWORDED not in risks_of(console_app, seeded)
