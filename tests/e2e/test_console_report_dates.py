"""A report's date in Chromium (issue #61, item 2): found in the report's title when the Scan
page's date is left empty, typed there otherwise, corrected on the scan's page with the
keyboard and its own Save (the answer beside it), and followed by Changes, History and the
register; a date no report can have is refused beside the field.

Two weekly reports of one project (tests/e2e/driver.py) with a date in their first line.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime

import pytest

from tests.e2e.driver import (
    REPORT_LINES,
    accessibility_violations,
    call_api,
    new_page,
    seed,
    sign_in,
    submit_scan,
    unnamed_controls,
)

pytestmark = pytest.mark.slow

WEEK_12 = "\n".join(("Status report, week 12 – 6 March 2026.", *REPORT_LINES[0][1:]))
WEEK_13 = "\n".join(REPORT_LINES[1])  # no date of its own: the person types it


def _report_date(page):
    return page.get_by_label("Report date", exact=True)


def _type_date(page, field, day: date) -> None:
    """Type ``day`` into a date field with the keys alone, in the order the field shows it:
    Chromium orders it by its own language (month first in en-US), whatever the page's."""
    for order in ("%m%d%Y", "%d%m%Y"):
        field.focus()
        page.keyboard.type(day.strftime(order))
        if field.input_value() == day.isoformat():
            return
    raise AssertionError(f"could not type {day} into the field: {field.input_value()}")


def _tab_to(page, name: str) -> None:
    """Tab on from the focused element to the control named ``name`` (a date field's
    calendar button comes first in Chromium)."""
    focused = []
    for _ in range(3):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("() => document.activeElement.outerHTML.slice(0, 80)"))
        if page.evaluate("() => document.activeElement.textContent.trim()") == name:
            return
    raise AssertionError(f"{name} not reached by Tab: {focused}")


def _changes_compare(page, project_id: str) -> str:
    page.goto(f"/app/projects/{project_id}/changes")
    return page.locator("p.meta", has_text="Comparing").inner_text()


def test_a_reports_date_found_typed_corrected_and_followed(page, console_app, axe_script):
    email = f"pm-{uuid.uuid4().hex[:8]}@example.com"
    seeded = seed(console_app, email, project="Billing migration")
    sign_in(page, email)
    page.goto(f"/app/scan?project_id={seeded.project_id}")
    assert accessibility_violations(page, axe_script) == []  # axe loads on every page now
    field = page.get_by_label("Report date (optional)")
    assert field.input_value() == ""
    assert "title or first lines" in page.locator("#reported_on-help").inner_text()

    # Left empty: the report's first line dates it, and the scan's page says so first.
    assert submit_scan(page, text=WEEK_12).status == 303
    week_12 = page.url.rsplit("/", 1)[1]
    assert _report_date(page).input_value() == "2026-03-06"
    assert "Found in the document's title" in page.locator("#report-date-help").inner_text()
    assert "uploaded" in page.locator("p.meta").inner_text()
    assert accessibility_violations(page, axe_script) == []

    # Typed on the Scan page: that date, whatever the document says.
    page.goto(f"/app/scan?project_id={seeded.project_id}")
    page.get_by_label("Report date (optional)").fill("2026-03-13")
    assert submit_scan(page, text=WEEK_13).status == 303
    assert _report_date(page).input_value() == "2026-03-13"
    assert page.locator("#report-date-help").inner_text().startswith("Set by a person.")
    assert "the report of 6 Mar 2026" in _changes_compare(page, seeded.project_id)

    # Week 12's report was in fact of 20 March: corrected with the keyboard only.
    page.goto(f"/app/scans/{week_12}")
    _type_date(page, _report_date(page), date(2026, 3, 20))
    _tab_to(page, "Save date")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert re.search(rf"/app/scans/{week_12}#report-date$", page.url)
    saved = page.locator("#report-date .saved")
    assert saved.inner_text() == "Saved: the report is dated 20 Mar 2026."
    assert page.locator(".flash").count() == 0  # said beside the field, not at the top
    assert _report_date(page).input_value() == "2026-03-20"
    assert accessibility_violations(page, axe_script) == []

    # Changes, History and the register follow the report's date, not the upload's.
    compare = _changes_compare(page, seeded.project_id)
    assert compare.index("the report of 13 Mar 2026") < compare.index(
        "the report of 20 Mar 2026"), compare
    assert page.get_by_label("Later report").locator("option").nth(1).inner_text().startswith(
        "20 Mar 2026")
    page.goto("/app/scans")
    headers = page.locator("thead th").all_inner_texts()
    assert headers[:2] == ["Report date", "Uploaded"]
    assert [cell.strip() for cell in page.locator("tbody tr td:first-child")
            .all_inner_texts()] == ["13 Mar 2026", "20 Mar 2026"]  # latest upload first
    entries = call_api(console_app, seeded, "GET",
                       f"/projects/{seeded.project_id}/risks")["items"]
    vendor = [e for e in entries if len(e["findings"]) == 2]
    assert vendor and (vendor[0]["first_seen"], vendor[0]["last_seen"]) == (
        "2026-03-13", "2026-03-20")
    page.goto(f"/app/projects/{seeded.project_id}/risks/{vendor[0]['id']}")
    reports = page.locator("ul.stated li").all_inner_texts()
    assert reports[0].startswith("The report of 13 Mar 2026") and reports[1].startswith(
        "The report of 20 Mar 2026"), reports


def test_a_date_no_report_can_have_is_refused_beside_the_field(browser, console_url,
                                                              console_app, axe_script):
    """The field's min and max keep a person from sending it; one who removes them (or a
    browser without them) gets the API's words beside the field, and the date stays. (A
    page of its own, unwatched: the browser logs the 422 it is meant to get.)"""
    page = new_page(browser, console_url)
    try:
        _refused(page, console_app, axe_script)
    finally:
        page.context.close()


def _refused(page, console_app, axe_script) -> None:
    email = f"pm-{uuid.uuid4().hex[:8]}@example.com"
    seeded = seed(console_app, email, project="Billing migration", reports=(WEEK_13,))
    sign_in(page, email)
    page.goto(f"/app/scans/{seeded.scan_ids[0]}")
    assert accessibility_violations(page, axe_script) == []
    today = datetime.now(UTC).date().isoformat()
    assert _report_date(page).input_value() == today
    assert "No date found" in page.locator("#report-date-help").inner_text()
    _report_date(page).evaluate("(el) => { el.removeAttribute('min'); }")
    _report_date(page).fill("0001-01-01")
    with page.expect_response(lambda r: r.url.endswith("/date")) as answer:
        page.get_by_role("button", name="Save date").click()
    assert answer.value.status == 422
    page.wait_for_load_state()
    error = page.locator("#report-date-error")
    assert "1900" in error.inner_text()
    assert _report_date(page).get_attribute("aria-invalid") == "true"
    assert page.locator(".flash").count() == 0
    assert unnamed_controls(page) == []
    assert accessibility_violations(page, axe_script) == []
    assert call_api(console_app, seeded, "GET",
                    f"/scans/{seeded.scan_ids[0]}")["reported_on"] == today
