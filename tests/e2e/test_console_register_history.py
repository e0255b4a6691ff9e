"""A PM's three weeks in Chromium (issue #74, items 1, 3 and 4): a risk closed by hand at the
report of 6 March; the quarter's reports sent again as a job, one of them already in the
project; the job's page says which report was skipped and what each did to the register;
the risk reopened only by the later report, and its page tells why, change by change.

The session's real trained model reads the reports (tests/e2e/driver.py's lines)."""

from __future__ import annotations

import io
import re

import pytest

from tests.e2e.driver import (
    BUDGET_RISK,
    PLAIN_LINE,
    VENDOR_REWORDED,
    VENDOR_RISK,
    accessibility_violations,
    call_api,
    seed,
    sign_in,
    unnamed_controls,
)

pytestmark = pytest.mark.slow

TIMEOUT_MS = 60_000
WEEK_10 = f"Falcon status, week 10.\n{PLAIN_LINE}\n{VENDOR_RISK}".encode()
WEEK_12 = f"Falcon status, week 12.\n{PLAIN_LINE}\n{VENDOR_REWORDED}\n{BUDGET_RISK}".encode()


def _register(app, user) -> dict[str, dict]:
    items = call_api(app, user, "GET", f"/projects/{user.project_id}/risks")["items"]
    return {entry["risk"]: entry for entry in items}


def test_a_job_skips_a_held_report_and_only_a_later_one_reopens_a_closed_risk(
        page, console_app, axe_script, tmp_path, screenshots):
    from playwright.sync_api import expect

    user = seed(console_app, "falcon-pm@example.com", project="Falcon")
    call_api(console_app, user, "POST", "/scans", status=201,
             content_type="multipart/form-data",
             data={"file": (io.BytesIO(WEEK_10), "Falcon status week 10.txt"),
                   "project_id": user.project_id, "reported_on": "2026-03-06"})
    (vendor,) = [entry for text, entry in _register(console_app, user).items()
                 if "supplier" in text]

    # Closed by hand on the risk's page: one form, its answer beside it.
    sign_in(page, user.email)
    page.goto(f"/app/projects/{user.project_id}/risks/{vendor['id']}")
    page.get_by_label("Status", exact=True).select_option("closed")
    page.locator("#edit").get_by_role("button", name="Save").click()
    expect(page.locator("#edit .said")).to_be_visible()
    before = call_api(console_app, user, "GET", f"/projects/{user.project_id}/risks/{vendor['id']}")
    assert before["status"] == "closed"

    # The quarter's reports as a job: week 10 again (held already) and week 12, dated by name.
    files = [tmp_path / "Falcon status week 10.txt", tmp_path / "week-2026-03-20.txt"]
    files[0].write_bytes(WEEK_10)
    files[1].write_bytes(WEEK_12)
    page.goto("/app/jobs")
    page.get_by_label("Documents (txt, md, html, pdf, docx)").set_input_files(
        [str(path) for path in files])
    page.get_by_label("Project", exact=True).select_option(label="Falcon")
    page.get_by_role("button", name="Upload and scan").click()
    page.wait_for_url(re.compile(r"/app/jobs/[0-9a-f-]+$"))
    expect(page.locator("#job-status")).to_contain_text("Finished.", timeout=TIMEOUT_MS)
    page.reload()
    status = page.locator("#job-status").inner_text()
    assert "1 of 2 documents scanned" in status and "1 skipped" in status, status
    rows = page.get_by_role("table").get_by_role("row")
    held, later = rows.nth(1).inner_text(), rows.nth(2).inner_text()
    assert "Skipped: the project holds this report already" in held, held
    assert "1 reopened" in later and "1 new" in later, later
    assert accessibility_violations(page, axe_script) == []
    assert unnamed_controls(page) == []

    # The register after: reopened by the later report, and seen twice, not three times.
    after = call_api(console_app, user, "GET", f"/projects/{user.project_id}/risks/{vendor['id']}")
    assert (after["status"], after["reopened"], after["occurrences"]) == ("open", True, 2)

    # Its page tells why, newest first.
    page.goto(f"/app/projects/{user.project_id}/risks/{vendor['id']}")
    history = page.locator("#history li")
    expect(history.first).to_contain_text("Reopened by a report")
    lines = [history.nth(n).inner_text() for n in range(history.count())]
    assert "Changed by hand" in lines[1] and "status open → closed" in lines[1], lines
    assert user.email in lines[1]
    assert "Opened by a report" in lines[-1]
    assert accessibility_violations(page, axe_script) == []
    screenshots.take(page, "risk-history", top=page.get_by_role("heading", name="History"))


def test_a_corrected_category_moves_the_closed_risk_keeping_its_id_and_a_rejection_moves_it_back(
        page, console_app, axe_script):
    """Issue #74, item 2: an editor's correction on the scan's page moves the one entry its
    finding states (the same id, still closed, its notes kept; its history says why), and a
    reviewer's rejection puts it back."""
    from playwright.sync_api import expect

    from tests.e2e.driver import finding_item, make_admin

    owner = seed(console_app, "falcon-owner@example.com", project="Falcon 2")
    week = call_api(console_app, owner, "POST", "/scans", status=201, json={
        "text": WEEK_10.decode(), "project_id": owner.project_id, "reported_on": "2026-03-06"})
    (vendor,) = [entry for text, entry in _register(console_app, owner).items()
                 if "supplier" in text]
    risk = f"/projects/{owner.project_id}/risks/{vendor['id']}"
    call_api(console_app, owner, "PATCH", risk, json={"status": "closed", "notes": "Signed off."})

    sign_in(page, owner.email)
    page.goto(f"/app/scans/{week['scan_id']}")
    item = finding_item(page, VENDOR_RISK)
    item.get_by_label("Category", exact=True).select_option("legal")
    with page.expect_response(lambda r: "/findings/" in r.url):
        item.get_by_role("button", name="Save").click()
    moved = call_api(console_app, owner, "GET", risk)
    assert (moved["id"], moved["category"], moved["status"], moved["notes"]) == (
        vendor["id"], "legal", "closed", "Signed off.")
    page.goto(f"/app{risk}")
    expect(page.locator("#history li").first).to_contain_text(
        "Moved to another category by a correction of a finding")
    assert "category vendor → legal" in page.locator("#history li").first.inner_text()
    assert accessibility_violations(page, axe_script) == []

    # The owner is no reviewer: an admin rejects the correction, and the risk moves back.
    make_admin(console_app, "falcon-owner@example.com")
    finding = next(f for f in week["data"] if f["risk"] == VENDOR_RISK)
    call_api(console_app, owner, "POST", "/corrections/review", json={
        "decision": "reject", "findings": [{"id": finding["id"], "label": "legal"}]})
    back = call_api(console_app, owner, "GET", risk)
    assert (back["id"], back["category"], back["status"]) == (vendor["id"], "vendor", "closed")
    page.reload()
    expect(page.locator("#history li").first).to_contain_text("by a review of a correction")


def test_the_trend_counts_a_closure_from_its_report_and_draws_each_category_apart(
        page, console_app):
    """Issue #74, item 7: a project back-filled with three weekly reports, a risk closed by
    hand today at the report of 13 March: the trend counts it open until that report's week,
    not until today's; and the chart's categories are drawn in colours told apart."""
    from tests.e2e.driver import BUDGET_RISK, SCHEDULE_RISK

    user = seed(console_app, "falcon-trend@example.com", project="Falcon trend")
    reports = (("2026-03-06", f"Falcon week 10.\n{VENDOR_RISK}\n{SCHEDULE_RISK}"),
               ("2026-03-13", f"Falcon week 11.\n{VENDOR_REWORDED}\n{BUDGET_RISK}"))
    for day, text in reports:
        call_api(console_app, user, "POST", "/scans", status=201,
                 json={"text": text, "project_id": user.project_id, "reported_on": day})
    (vendor,) = [entry for text, entry in _register(console_app, user).items()
                 if "supplier" in text or "vendor" in text]
    sign_in(page, user.email)
    page.goto(f"/app/projects/{user.project_id}/risks/{vendor['id']}")
    page.get_by_label("Status", exact=True).select_option("closed")
    page.locator("#edit").get_by_role("button", name="Save").click()
    page.locator("#edit .said").wait_for()
    call_api(console_app, user, "POST", "/scans", status=201, json={
        "text": f"Falcon week 12.\n{BUDGET_RISK}", "project_id": user.project_id,
        "reported_on": "2026-03-20"})

    page.goto(f"/app/projects/{user.project_id}")
    table = page.locator("table", has=page.locator("caption", has_text="by category"))
    headers = table.locator("thead th").all_inner_texts()
    column = headers.index("vendor")
    weeks = {row.locator("th").inner_text().split(" ")[0]:
             row.locator("th, td").nth(column).inner_text()
             for row in table.locator("tbody tr").all()}
    assert (weeks["2026-W10"], weeks["2026-W11"], weeks["2026-W12"]) == ("1", "1", "0")
    assert list(weeks.values())[-1] == "0"  # not open until the week of the click
    colours = page.locator(".legend .swatch").evaluate_all(
        "(swatches) => swatches.map(s => getComputedStyle(s).backgroundColor)")
    assert len(colours) >= 3 and len(set(colours)) == len(colours), colours
