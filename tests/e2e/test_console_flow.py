"""A project manager's journey through the console, in Chromium, step by step.

Register; scan a pasted status report and see its risks highlighted; correct one (the page's
script saves it, no reload) and find the correction kept; upload a .docx; find both scans in
the history, download the original, delete one; create a project, scan two reports into
it, change a risk's status in the register, see what changed, export the register; review;
sign out. The steps share one page and run in order: each starts where the last ended.
The journey's screenshots (1280×800) are the ones docs/console/ shows.
"""

from __future__ import annotations

import csv
import io
import json
import re
from types import SimpleNamespace

import pytest

from testkit.documents import make_docx
from tests.e2e.driver import (
    BUDGET_RISK,
    CATEGORIES,
    CSV_HEADER,
    DOCX_PARAGRAPHS,
    PLAIN_LINE,
    PROJECT_REPORTS,
    RESOURCE_RISK,
    SCHEDULE_RISK,
    SECURITY_RISK,
    STATUS_REPORT,
    VENDOR_REWORDED,
    VENDOR_RISK,
    create_project,
    finding_item,
    marked,
    new_page,
    register,
    scan_id,
    section_text,
    submit_scan,
)

pytestmark = pytest.mark.slow

EMAIL = "ada@example.com"
DOCX_NAME = "risk-review.docx"
PROJECT = "Billing migration"
TITLE = re.compile(r"^([a-z]+) · score (\d{1,3})%$")

# Seen after the form's own submit handler (console.js): what the page showed while the
# scan ran, kept in sessionStorage for the result page to read.
WATCH_PROGRESS_JS = """() => {
  const form = document.querySelector('form.scan-form');
  form.addEventListener('submit', () => {
    const progress = form.querySelector('.progress');
    const button = form.querySelector('button[type=submit]');
    sessionStorage.setItem('progress', JSON.stringify({
      shown: !progress.hidden && progress.getClientRects().length > 0,
      text: progress.textContent.trim(), disabled: button.disabled}));
  });
}"""
PSEUDO_CONTENT_JS = "(el) => getComputedStyle(el, '::after').content"
# Out of sight (clipped to nothing, or a box of at most 1 px) but still in the page.
VISUALLY_HIDDEN_JS = """(el) => {
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  return style.display !== 'none' && (style.clip === 'rect(0px, 0px, 0px, 0px)'
    || (box.width <= 1 && box.height <= 1));
}"""


@pytest.fixture(scope="module")
def journey(browser, console_url, browser_errors):
    page = new_page(browser, console_url, browser_errors)
    yield SimpleNamespace(page=page, scans={}, docx=None, project_id=None, vendor_entry=None)
    page.context.close()


def test_sign_in_page_then_registration_lands_on_the_scan_page(journey, screenshots):
    page = journey.page
    page.goto("/app/")
    page.wait_for_url(re.compile(r"/app/sign-in$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Sign in"
    assert page.get_by_role("button", name="Sign in", exact=True).is_visible()
    screenshots.take(page, "sign-in")

    page.get_by_role("link", name="Register").click()
    page.wait_for_url(re.compile(r"/app/register$"))
    register(page, EMAIL)

    assert page.get_by_role("heading", level=1).inner_text() == "Scan a document"
    nav = page.get_by_role("navigation", name="Main")
    for name in ("Scan", "History", "Projects", "Review"):
        assert nav.get_by_role("link", name=name, exact=True).is_visible(), name
    assert nav.get_by_role("link", name="Admin").count() == 0  # not an admin
    assert nav.get_by_role("link", name="Scan", exact=True).get_attribute(
        "aria-current") == "page"
    assert page.get_by_role("button", name="Sign out").is_visible()
    assert EMAIL in page.locator("header").inner_text()


def test_a_pasted_report_is_scanned_with_its_risks_highlighted(journey, screenshots):
    page = journey.page
    page.get_by_label("Text", exact=True).fill(STATUS_REPORT)
    page.evaluate(WATCH_PROGRESS_JS)
    response = submit_scan(page)

    assert response.status == 201
    progress = json.loads(page.evaluate("() => sessionStorage.getItem('progress')"))
    assert progress["shown"] and "Scanning…" in progress["text"] and progress["disabled"]
    assert page.get_by_role("heading", level=1).inner_text() == "Scan result"
    journey.scans["pasted"] = scan_id(page)

    marks = marked(page)
    assert {VENDOR_RISK, SCHEDULE_RISK, SECURITY_RISK} <= marks.keys(), marks
    assert PLAIN_LINE not in marks
    assert marks[VENDOR_RISK] == "vendor" and marks[SECURITY_RISK] == "security", marks
    for i in range(page.locator("mark").count()):
        mark = page.locator("mark").nth(i)
        title = TITLE.match(mark.get_attribute("title") or "")
        assert title, mark.get_attribute("title")
        assert title.group(1) == mark.get_attribute("data-category") in CATEGORIES
        assert mark.get_attribute("data-score") == title.group(2) + "%"
        assert mark.get_attribute("tabindex") == "0"
    # The whole document is shown, its plain lines too.
    assert page.locator(".text").inner_text().strip() == STATUS_REPORT

    findings = page.get_by_role("region", name="Findings by category")
    headings = [h.strip() for h in findings.get_by_role("heading", level=3).all_inner_texts()]
    for category in set(marks.values()):
        count = list(marks.values()).count(category)
        assert f"{category} ({count})" in headings, headings

    # Hovering a mark shows its category and score; so does reaching it with the keyboard.
    vendor = page.locator("mark", has_text=VENDOR_RISK)
    vendor.hover()
    assert "score" in vendor.evaluate(PSEUDO_CONTENT_JS)
    page.mouse.move(0, 0)
    assert vendor.evaluate(PSEUDO_CONTENT_JS) == "none"
    # From the top of the page (nothing has had the focus yet), Tab until a mark has it.
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.tagName") == "MARK":
            break
    first = page.locator("mark").first
    assert first.evaluate("(el) => el === document.activeElement")
    assert "score" in first.evaluate(PSEUDO_CONTENT_JS)
    page.keyboard.press("Tab")
    assert page.locator("mark").nth(1).evaluate("(el) => el === document.activeElement")

    screenshots.take(page, "scan-result")


def test_a_correction_is_saved_by_the_page_and_kept(journey):
    page = journey.page
    item = finding_item(page, VENDOR_RISK)
    select = item.get_by_label("Category", exact=True)
    options = dict(zip(select.locator("option").evaluate_all("(os) => os.map(o => o.value)"),
                       select.locator("option").all_inner_texts(), strict=True))
    assert set(CATEGORIES) <= options.keys() and options["none"].strip() == "not a risk"
    assert select.input_value() == "vendor"
    # With the script, the choice saves itself: the Save button is for pages without it.
    assert item.get_by_role("button", name="Save").evaluate(VISUALLY_HIDDEN_JS)
    url = page.url

    with page.expect_response(lambda r: "/findings/" in r.url) as answer:
        select.select_option("budget")
    assert answer.value.status == 204
    live = page.locator("#live")
    live.filter(has_text="Saved: budget").wait_for()
    assert page.url == url  # no page load
    assert page.locator("mark", has_text=VENDOR_RISK).get_attribute("data-category") == "budget"

    page.goto(f"/app/scans/{journey.scans['pasted']}")
    item = finding_item(page, VENDOR_RISK)
    assert item.get_by_label("Category", exact=True).input_value() == "budget"
    assert page.locator("mark", has_text=VENDOR_RISK).get_attribute("data-category") == "budget"


def test_an_uploaded_docx_is_scanned(journey, tmp_path_factory):
    page = journey.page
    journey.docx = make_docx(DOCX_PARAGRAPHS)
    path = tmp_path_factory.mktemp("upload") / DOCX_NAME
    path.write_bytes(journey.docx)

    page.goto("/app/scan")
    response = submit_scan(page, file=path)

    assert response.status == 201
    assert page.get_by_role("heading", level=1).inner_text() == DOCX_NAME
    marks = marked(page)
    assert {RESOURCE_RISK, BUDGET_RISK} <= marks.keys(), marks
    assert page.get_by_role("link", name="download the original").is_visible()
    journey.scans["docx"] = scan_id(page)


def test_the_history_lists_both_scans_downloads_and_deletes(journey, screenshots):
    page = journey.page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="History").click()
    page.wait_for_url(re.compile(r"/app/scans$"))
    table = page.locator("table")
    pasted = table.get_by_role("link", name="Pasted text", exact=True)
    document = table.get_by_role("link", name=DOCX_NAME, exact=True)
    assert pasted.get_attribute("href").endswith(f"/app/scans/{journey.scans['pasted']}")
    assert document.get_attribute("href").endswith(f"/app/scans/{journey.scans['docx']}")
    screenshots.take(page, "history")

    with page.expect_download() as download:
        table.get_by_role("link", name=f"download {DOCX_NAME}").click()
    assert download.value.suggested_filename == DOCX_NAME
    with open(download.value.path(), "rb") as original:
        assert original.read() == journey.docx

    row = table.locator("tbody tr").filter(
        has=page.get_by_role("link", name=DOCX_NAME, exact=True))
    delete = row.get_by_role("button", name=re.compile(r"^Delete"))
    questions = []

    def answer(dialog, accept):
        questions.append((dialog.type, dialog.message))
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, accept=False))
    delete.click()
    page.wait_for_timeout(200)
    assert questions == [("confirm", ("Delete this scan and its findings? This cannot be "
                                      "undone."))]
    assert document.count() == 1  # dismissed: nothing happened

    page.once("dialog", lambda dialog: answer(dialog, accept=True))
    with page.expect_navigation():
        delete.click()
    page.wait_for_url(re.compile(r"/app/scans$"))
    assert len(questions) == 2
    assert page.locator(".flash").inner_text().strip() == "Scan deleted."
    assert table.get_by_role("link", name=DOCX_NAME, exact=True).count() == 0
    assert pasted.count() == 1
    gone = page.request.get(f"/app/scans/{journey.scans['docx']}")
    assert gone.status == 404 and gone.headers["content-type"].startswith("text/html")


def test_a_project_gets_two_reports(journey):
    page = journey.page
    journey.project_id = create_project(page, PROJECT, "Moving billing to the new platform.")
    assert page.get_by_role("heading", level=1).inner_text().strip() == PROJECT

    page.get_by_role("link", name="Scan a report into this project").first.click()
    page.wait_for_url(re.compile(rf"/app/scan\?project_id={journey.project_id}$"))
    assert page.get_by_label("Project", exact=True).input_value() == journey.project_id
    first = submit_scan(page, text=PROJECT_REPORTS[0])
    assert first.status == 201
    assert page.get_by_role("link", name="Its register entry").count() >= 2
    assert page.get_by_role("link", name="its project's register").is_visible()

    page.goto(f"/app/scan?project_id={journey.project_id}")
    second = submit_scan(page, text=PROJECT_REPORTS[1])
    assert second.status == 201
    assert {VENDOR_REWORDED, BUDGET_RISK} <= marked(page).keys()


def test_the_register_keeps_a_changed_status(journey, screenshots):
    page = journey.page
    page.goto(f"/app/projects/{journey.project_id}")
    nav_links = [page.get_by_role("link", name=name, exact=True)
                 for name in ("Register", "Changes", "Members")]
    assert all(link.count() >= 1 for link in nav_links)
    table = page.get_by_role("table", name="Risk register")
    # A column's heading may carry its sort order (an arrow after the name).
    columns = [c.strip() for c in table.locator("thead th").all_inner_texts()]
    for column in ("Risk", "Category", "Status", "Owner", "Due date", "Last seen", "Seen"):
        assert any(c.startswith(column) for c in columns), columns
    rows = table.locator("tbody tr")
    assert rows.count() == 3  # the vendor risk (stated twice), the schedule and budget risks
    # The vendor risk's entry, in either of its two wordings.
    vendor_row = rows.filter(has=page.locator('[data-category="vendor"]'))
    wording = vendor_row.locator("td").first.inner_text().strip()
    assert wording in (VENDOR_RISK, VENDOR_REWORDED), wording
    journey.vendor_entry = wording
    seen_at = next(i for i, c in enumerate(columns) if c.startswith("Seen"))
    seen = vendor_row.locator("td, th").nth(seen_at).inner_text()
    assert "2" in seen, seen
    assert page.locator('svg[role="img"]').count() >= 1  # the trend chart
    heading = page.get_by_role("heading", name="Register", level=2)  # the register's own
    screenshots.take(page, "register", top=heading if heading.count() == 1 else table)

    label = f"Status of: {wording}"
    status = page.get_by_label(label, exact=True)
    assert status.input_value() == "open"
    with page.expect_navigation():
        status.select_option("mitigating")  # the form sends itself
    page.locator(".flash", has_text="Risk updated.").wait_for()
    assert page.get_by_label(label, exact=True).input_value() == "mitigating"
    page.reload()
    assert page.get_by_label(label, exact=True).input_value() == "mitigating"


def test_the_register_exports_as_csv_and_excel(journey, tmp_path_factory):
    import openpyxl

    page = journey.page
    page.goto(f"/app/projects/{journey.project_id}")
    with page.expect_download() as csv_download:
        page.get_by_role("link", name="Export CSV").click()
    assert csv_download.value.suggested_filename.endswith(".csv")
    with open(csv_download.value.path(), encoding="utf-8-sig", newline="") as sheet:
        text = sheet.read()
    assert text.splitlines()[0] == CSV_HEADER
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["risk"]: row["status"] for row in rows}[journey.vendor_entry] == "mitigating"
    assert {row["category"] for row in rows} == {"vendor", "schedule", "budget"}

    with page.expect_download() as xlsx_download:
        page.get_by_role("link", name="Export Excel").click()
    assert xlsx_download.value.suggested_filename.endswith(".xlsx")
    path = tmp_path_factory.mktemp("export") / "register.xlsx"
    xlsx_download.value.save_as(str(path))
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        cells = [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
    finally:
        book.close()
    assert ",".join(cells[0]) == CSV_HEADER
    assert {row[1]: row[3] for row in cells[1:]}[journey.vendor_entry] == "mitigating"


def test_the_changes_page_says_what_is_new_persisting_and_gone(journey, screenshots):
    page = journey.page
    page.goto(f"/app/projects/{journey.project_id}")
    page.get_by_role("link", name="Changes", exact=True).first.click()
    page.wait_for_url(re.compile(rf"/app/projects/{journey.project_id}/changes"))
    assert page.get_by_role("heading", level=1).inner_text().strip() == \
        "What changed since the last report"
    new, persisting, gone = (section_text(page, name) for name in
                             ("New", "Persisting", "Gone"))
    assert new is not None and BUDGET_RISK in new, new
    assert persisting is not None and (VENDOR_RISK in persisting
                                       or VENDOR_REWORDED in persisting), persisting
    assert gone is not None and SCHEDULE_RISK in gone, gone
    screenshots.take(page, "changes")


def test_the_members_page_lists_the_owner(journey):
    page = journey.page
    page.get_by_role("link", name="Members", exact=True).first.click()
    page.wait_for_url(re.compile(rf"/app/projects/{journey.project_id}/members"))
    assert EMAIL in page.locator("main table").inner_text()
    assert page.get_by_text("Add member").count() >= 1


def test_the_review_page_lists_findings_and_exports_corrections(journey, screenshots):
    page = journey.page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Review").click()
    page.wait_for_url(re.compile(r"/app/review"))
    assert page.get_by_role("heading", level=1).inner_text().strip() == "Review"
    table = page.get_by_role("table", name="Findings to review")
    assert table.is_visible()
    # Every score, not only the doubtful ones the page starts with.
    page.get_by_label("Maximum score").fill("")
    with page.expect_navigation():
        page.get_by_role("search").get_by_role("button", name="Filter").click()
    assert table.locator("tbody tr").filter(has_text=VENDOR_RISK).count() >= 1
    assert table.locator("tbody tr").filter(has_text=SECURITY_RISK).count() >= 1
    screenshots.take(page, "review")

    with page.expect_download() as download:
        page.get_by_role("link", name="Export feedback (JSONL)").click()
    with open(download.value.path(), encoding="utf-8") as feedback:
        lines = [json.loads(line) for line in feedback if line.strip()]
    assert {line["text"]: line["label"] for line in lines}.get(VENDOR_RISK) == "budget", lines


def test_signing_out_ends_the_session(journey):
    page = journey.page
    page.goto("/app/scan")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/app/sign-in$"))
    page.goto("/app/scans")
    assert re.search(r"/app/sign-in\?next=(/|%2F)app(/|%2F)scans$", page.url), page.url
    assert page.get_by_role("heading", level=1).inner_text() == "Sign in"


def test_the_journey_caused_no_browser_console_errors(journey, browser_errors):
    browser_errors.assert_none()
