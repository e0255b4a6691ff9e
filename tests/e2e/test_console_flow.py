"""A project manager's steps through the console, in Chromium.

Register; scan a pasted status report and see its risks highlighted; correct one (the page's
script saves it, no reload) and find the correction kept; upload a .docx; find scans in the
history, download the original, delete one; create a project and scan two reports into it;
change a risk's status in the register, see what changed, export the register; review; sign
out. Each test stands on its own: a user of its own, made through the API with what the
step needs (tests/e2e/driver.py: seed), and a page of its own, whose browser errors fail
the test. Only the browser and the served app are shared. The screenshots (1280×800) are
the ones docs/console/ shows.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid

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
    STATUS_LINES,
    STATUS_REPORT,
    VENDOR_REWORDED,
    VENDOR_RISK,
    call_api,
    create_project,
    finding_item,
    marked,
    register,
    scan_id,
    section_text,
    seed,
    sign_in,
    submit_scan,
    upload,
)

pytestmark = pytest.mark.slow

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


@pytest.fixture
def email() -> str:
    return f"ada-{uuid.uuid4().hex[:8]}@example.com"


@pytest.fixture
def user(console_app, email):
    """A user of the test's own, made through the API."""
    return seed(console_app, email)


@pytest.fixture
def project(console_app, email):
    """A user of the test's own with a project and its two reports, made through the API:
    the vendor risk persists, the schedule risk is gone, the budget risk is new."""
    return seed(console_app, email, project=PROJECT, reports=PROJECT_REPORTS)


def user_scans(page) -> list[str]:
    """The ids of the scans the history page lists."""
    page.goto("/app/scans")
    hrefs = page.locator("table a[href^='/app/scans/']").evaluate_all(
        "(links) => links.map((a) => a.getAttribute('href'))")
    return [m.group(1) for href in hrefs if (m := re.fullmatch(r"/app/scans/([^/]+)", href))]


@pytest.fixture(scope="module")
def read_only_project(console_app):
    """The same, made once for the tests that only read it (no test changes it): two model
    scans fewer per test."""
    return seed(console_app, f"ada-{uuid.uuid4().hex[:8]}@example.com", project=PROJECT,
                reports=PROJECT_REPORTS)


def register_entry(app, seeded, category: str) -> dict:
    """The project's register entry of ``category`` (the API's, as ``seeded``)."""
    entries = call_api(app, seeded, "GET", f"/projects/{seeded.project_id}/risks")["items"]
    [entry] = [e for e in entries if e["category"] == category]
    return entry


def test_sign_in_page_then_registration_lands_on_the_scan_page(page, email, screenshots):
    page.goto("/app/")
    page.wait_for_url(re.compile(r"/app/sign-in$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Sign in"
    assert page.get_by_role("button", name="Sign in", exact=True).is_visible()
    screenshots.take(page, "sign-in")

    page.get_by_role("link", name="Register").click()
    page.wait_for_url(re.compile(r"/app/register$"))
    register(page, email)

    assert page.get_by_role("heading", level=1).inner_text() == "Scan a document"
    nav = page.get_by_role("navigation", name="Main")
    for name in ("Scan", "History", "Projects", "Review"):
        assert nav.get_by_role("link", name=name, exact=True).is_visible(), name
    assert nav.get_by_role("link", name="Admin").count() == 0  # not an admin
    assert nav.get_by_role("link", name="Scan", exact=True).get_attribute(
        "aria-current") == "page"
    assert page.get_by_role("button", name="Sign out").is_visible()
    assert email in page.locator("header").inner_text()


def test_a_pasted_report_is_scanned_with_its_risks_highlighted(page, user, screenshots):
    sign_in(page, user.email)
    page.get_by_label("Text", exact=True).fill(STATUS_REPORT)
    page.evaluate(WATCH_PROGRESS_JS)
    response = submit_scan(page)

    assert response.status == 303  # to the scan's own page (Post/Redirect/Get)
    assert re.search(r"/app/scans/[^/]+$", page.url), page.url
    progress = json.loads(page.evaluate("() => sessionStorage.getItem('progress')"))
    assert progress["shown"] is True and progress["disabled"] is True, progress
    assert "Scanning…" in progress["text"], progress
    # Named by its first line, the title the API stored with it (service/scans/titles.py).
    assert page.get_by_role("heading", level=1).inner_text() == STATUS_LINES[0]

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
    counts = {category: list(marks.values()).count(category) for category in marks.values()}
    assert sorted(headings) == sorted(f"{c} ({n})" for c, n in counts.items()), headings

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

    # A reload asks for the scan's page again: no form posted a second time, no new scan.
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    shown = scan_id(page)
    with page.expect_response(lambda r: r.request.resource_type == "document") as reloaded:
        page.reload()
    assert reloaded.value.request.method == "GET" and reloaded.value.status == 200
    assert dialogs == []
    assert user_scans(page) == [shown]


def test_a_correction_is_saved_by_the_page_and_kept(page, console_app, email):
    seeded = seed(console_app, email, reports=[STATUS_REPORT])
    sign_in(page, email)
    page.goto(f"/app/scans/{seeded.scan_ids[0]}")
    item = finding_item(page, VENDOR_RISK)
    select = item.get_by_label("Category", exact=True)
    options = dict(zip(select.locator("option").evaluate_all("(os) => os.map(o => o.value)"),
                       select.locator("option").all_inner_texts(), strict=True))
    assert set(CATEGORIES) <= options.keys() and options["none"].strip() == "not a risk"
    assert select.input_value() == "vendor"
    # Nothing saves on input: the keyboard changes the select, Save sends it (by the
    # script, the page staying where it is).
    url = page.url
    select.focus()
    page.keyboard.press("ArrowDown")
    assert select.input_value() != "vendor"
    page.reload()
    item = finding_item(page, VENDOR_RISK)
    select = item.get_by_label("Category", exact=True)
    assert select.input_value() == "vendor"  # nothing was saved
    select.select_option("budget")
    with page.expect_response(lambda r: "/findings/" in r.url) as answer:
        item.get_by_role("button", name="Save").focus()
        page.keyboard.press("Enter")
    assert answer.value.status == 204
    page.locator("#live").filter(has_text="Saved: budget").wait_for()
    assert page.url == url  # no page load
    assert page.locator("mark", has_text=VENDOR_RISK).get_attribute("data-category") == "budget"

    page.goto(f"/app/scans/{seeded.scan_ids[0]}")
    item = finding_item(page, VENDOR_RISK)
    assert item.get_by_label("Category", exact=True).input_value() == "budget"
    assert page.locator("mark", has_text=VENDOR_RISK).get_attribute("data-category") == "budget"


def test_an_uploaded_docx_is_scanned(page, user, tmp_path):
    path = tmp_path / DOCX_NAME
    path.write_bytes(make_docx(DOCX_PARAGRAPHS))
    sign_in(page, user.email)
    response = submit_scan(page, file=path)

    assert response.status == 303
    assert page.get_by_role("heading", level=1).inner_text() == DOCX_NAME
    marks = marked(page)
    assert {RESOURCE_RISK, BUDGET_RISK} <= marks.keys(), marks
    assert page.get_by_role("link", name="download the original").is_visible()
    assert scan_id(page) in user_scans(page)


def test_the_history_lists_both_scans_downloads_and_deletes(page, console_app, console_url,
                                                            email, screenshots):
    seeded = seed(console_app, email, reports=[STATUS_REPORT])
    docx = make_docx(DOCX_PARAGRAPHS)
    pasted_id, docx_id = seeded.scan_ids[0], upload(console_app, seeded, DOCX_NAME,
                                                    docx)["scan_id"]
    sign_in(page, email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="History").click()
    page.wait_for_url(re.compile(r"/app/scans$"))
    table = page.locator("table")
    pasted = table.get_by_role("link", name=STATUS_LINES[0], exact=True)  # its title
    document = table.get_by_role("link", name=DOCX_NAME, exact=True)
    assert pasted.get_attribute("href") == f"/app/scans/{pasted_id}"
    assert document.get_attribute("href") == f"/app/scans/{docx_id}"
    screenshots.take(page, "history")

    with page.expect_download() as download:
        table.get_by_role("link", name=f"download {DOCX_NAME}").click()
    assert download.value.suggested_filename == DOCX_NAME
    with open(download.value.path(), "rb") as original:
        assert original.read() == docx

    row = table.locator("tbody tr").filter(
        has=page.get_by_role("link", name=DOCX_NAME, exact=True))
    delete = row.get_by_role("button", name=re.compile(r"^Delete"))
    questions, posts = [], []

    def answer(dialog, accept):
        questions.append((dialog.type, dialog.message))
        dialog.accept() if accept else dialog.dismiss()

    def record(request):
        if request.method == "POST":
            posts.append(request.url)

    page.on("request", record)
    page.once("dialog", lambda dialog: answer(dialog, accept=False))
    # A click returns once a navigation it started has begun; a dismissed confirm starts
    # none, so after it (and a round trip through the page's script) no POST was sent.
    delete.click()
    page.evaluate("() => new Promise((done) => setTimeout(done, 0))")
    assert questions == [("confirm", ("Delete this scan and its findings? This cannot be "
                                      "undone."))]
    assert posts == []
    assert document.count() == 1

    page.once("dialog", lambda dialog: answer(dialog, accept=True))
    with page.expect_navigation():
        delete.click()
    page.wait_for_url(re.compile(r"/app/scans$"))
    assert len(questions) == 2
    assert posts == [f"{console_url}/app/scans/{docx_id}/delete"]
    assert page.locator(".flash").inner_text().strip() == "Scan deleted."
    assert table.get_by_role("link", name=DOCX_NAME, exact=True).count() == 0
    assert pasted.count() == 1
    gone = page.request.get(f"/app/scans/{docx_id}")
    assert gone.status == 404 and gone.headers["content-type"].startswith("text/html")


def test_a_project_gets_two_reports(page, user):
    sign_in(page, user.email)
    project_id = create_project(page, PROJECT, "Moving billing to the new platform.")
    assert page.get_by_role("heading", level=1).inner_text().strip() == PROJECT

    page.get_by_role("link", name="Scan a report into this project").first.click()
    page.wait_for_url(re.compile(rf"/app/scan\?project_id={project_id}$"))
    assert page.get_by_label("Project", exact=True).input_value() == project_id
    first = submit_scan(page, text=PROJECT_REPORTS[0])
    assert first.status == 303
    assert page.get_by_role("link", name="Its register entry").count() >= 2
    assert page.get_by_role("link", name="its project's register").is_visible()

    page.goto(f"/app/scan?project_id={project_id}")
    second = submit_scan(page, text=PROJECT_REPORTS[1])
    assert second.status == 303
    assert {VENDOR_REWORDED, BUDGET_RISK} <= marked(page).keys()


def test_the_register_keeps_a_changed_status(page, console_app, project, screenshots):
    sign_in(page, project.email)
    page.goto(f"/app/projects/{project.project_id}")
    for name in ("Register", "Changes", "Members"):
        assert page.get_by_role("link", name=name, exact=True).count() >= 1, name
    table = page.get_by_role("table", name="Risk register")
    # A column's heading may carry its sort order (an arrow after the name).
    columns = [c.strip() for c in table.locator("thead th").all_inner_texts()]
    for column in ("Risk", "Category", "Status", "Owner", "Due date", "Last seen", "Seen"):
        assert any(c.startswith(column) for c in columns), columns
    rows = table.locator("tbody tr")
    assert rows.count() == 3  # the vendor risk (stated twice), the schedule and budget risks
    vendor = register_entry(console_app, project, "vendor")
    vendor_row = rows.filter(has=page.locator('[data-category="vendor"]'))
    assert vendor_row.locator("td.risk-text").inner_text().strip() == vendor["risk"]
    seen_at = next(i for i, c in enumerate(columns) if c.startswith("Seen"))
    assert vendor_row.locator("td, th").nth(seen_at).inner_text().strip() == "2"
    assert page.locator('svg[role="img"]').count() == 1  # the trend chart
    heading = page.get_by_role("heading", name="Register", level=2)  # the register's own
    screenshots.take(page, "register", top=heading if heading.count() == 1 else table)

    label = f"Status of: {vendor['risk']}"
    status = page.get_by_label(label, exact=True)
    assert status.input_value() == "open"
    # The keyboard on a closed select changes its value, and nothing is saved (WCAG 3.2.2):
    # the row's Save sends it, and the result is said beside it, where the page lands.
    status.focus()
    page.keyboard.press("ArrowDown")
    assert status.input_value() == "mitigating"
    assert register_entry(console_app, project, "vendor")["status"] == "open"
    assert page.url.endswith(f"/app/projects/{project.project_id}")  # no navigation
    save = page.get_by_role("button", name=f"Save status, rating, owner and due date of: "
                                           f"{vendor['risk']}", exact=True)
    save.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    row = page.locator(f"#risk-{vendor['id']}")
    assert row.locator("p.said").inner_text() == "Status set to mitigating."
    assert page.locator(".flash").count() == 0
    assert page.get_by_label(label, exact=True).input_value() == "mitigating"
    page.reload()
    assert page.get_by_label(label, exact=True).input_value() == "mitigating"
    assert register_entry(console_app, project, "vendor")["status"] == "mitigating"


def test_the_heat_map_leads_to_its_risks_and_the_risk_page_rates(page, console_app, project,
                                                                 screenshots):
    """Two risks rated through the API fill one cell of the 5×5 table, one of them being
    mitigated (still counted: the map counts every status but closed); the filter narrows
    it to one status; clicking a count opens the register filtered to its risks; the third,
    unrated, is rated on its own page."""
    vendor, budget, schedule = (register_entry(console_app, project, category)
                                for category in ("vendor", "budget", "schedule"))
    for entry in (vendor, budget):
        call_api(console_app, project, "PATCH",
                 f"/projects/{project.project_id}/risks/{entry['id']}",
                 json={"likelihood": 4, "impact": 5})
    call_api(console_app, project, "PATCH",
             f"/projects/{project.project_id}/risks/{budget['id']}", json={"status": "mitigating"})
    sign_in(page, project.email)
    page.goto(f"/app/projects/{project.project_id}")
    matrix = page.get_by_role("table", name="Risks that are open, mitigating or accepted, by "
                                            "likelihood (rows) and impact (columns)")
    assert matrix.locator("thead th[scope=col]").all_inner_texts() == [
        "1 Negligible", "2 Minor", "3 Moderate", "4 Major", "5 Severe"]
    assert matrix.locator("tbody th[scope=row]").all_inner_texts() == [
        "5 Almost certain", "4 Likely", "3 Possible", "2 Unlikely", "1 Rare"]
    row = matrix.locator("tbody tr").nth(1)  # likelihood 4
    cell = row.locator("td").nth(4)  # impact 5
    assert cell.inner_text().split() == ["2", "critical"]  # the band in words, not colour only
    assert matrix.locator("td a").count() == 1
    page.get_by_text("Not rated: 1 risk").wait_for()
    screenshots.take(page, "heat-map", top=page.get_by_role("heading", name="Heat map"))

    page.get_by_label("Counts risks that are").select_option("mitigating")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    narrowed = page.get_by_role("table", name="Risks that are mitigating, by likelihood (rows) "
                                              "and impact (columns)")
    assert narrowed.locator("tbody tr").nth(1).locator("td").nth(4).inner_text().split() == [
        "1", "critical"]
    assert page.get_by_label("Counts risks that are").input_value() == "mitigating"
    page.goto(f"/app/projects/{project.project_id}")

    with page.expect_navigation():
        cell.get_by_role("link", name="2 risks (open, mitigating or accepted), likelihood "
                                       "Likely, impact Severe, score 20 (critical)").click()
    assert re.search(r"[?&]likelihood=4(&|#)", page.url) and re.search(r"[?&]impact=5(&|#)",
                                                                       page.url)
    # The list, not the top of the page: the register's anchor, scrolled to.
    assert page.url.endswith("#register") and page.evaluate("window.scrollY") > 0
    table = page.get_by_role("table", name="Risk register")
    texts = table.locator("tbody td.risk-text").all_inner_texts()
    assert sorted(t.strip() for t in texts) == sorted([vendor["risk"], budget["risk"]])
    assert table.locator("tbody td.rating .score").all_inner_texts() == [
        "20 critical (4×5)"] * 2

    page.goto(f"/app/projects/{project.project_id}")
    with page.expect_navigation():
        page.get_by_role("link", name="1 risk", exact=True).click()
    assert [t.strip() for t in page.get_by_role("table", name="Risk register").locator(
        "tbody td.risk-text").all_inner_texts()] == [schedule["risk"]]

    page.goto(f"/app/projects/{project.project_id}/risks/{schedule['id']}")
    page.get_by_label("Likelihood", exact=True).select_option("3")
    page.get_by_label("Impact", exact=True).select_option("2")
    with page.expect_navigation():
        page.get_by_role("button", name="Save", exact=True).click()
    assert page.locator("#edit p.said").inner_text() == "Rated 3 × 2 = 6 (medium)."
    rated = register_entry(console_app, project, "schedule")
    assert (rated["likelihood"], rated["impact"], rated["band"]) == (3, 2, "medium")


def test_the_register_exports_as_csv_and_excel(page, console_app, project, tmp_path):
    import openpyxl

    vendor = register_entry(console_app, project, "vendor")
    call_api(console_app, project, "PATCH",
             f"/projects/{project.project_id}/risks/{vendor['id']}",
             json={"status": "mitigating"})
    sign_in(page, project.email)
    page.goto(f"/app/projects/{project.project_id}")
    with page.expect_download() as csv_download:
        page.get_by_role("link", name="Export CSV").click()
    assert csv_download.value.suggested_filename.endswith(".csv")
    with open(csv_download.value.path(), encoding="utf-8-sig", newline="") as sheet:
        text = sheet.read()
    assert text.splitlines()[0] == CSV_HEADER
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["risk"]: row["status"] for row in rows}[vendor["risk"]] == "mitigating"
    assert sorted(row["category"] for row in rows) == ["budget", "schedule", "vendor"]

    with page.expect_download() as xlsx_download:
        page.get_by_role("link", name="Export Excel").click()
    assert xlsx_download.value.suggested_filename.endswith(".xlsx")
    path = tmp_path / "register.xlsx"
    xlsx_download.value.save_as(str(path))
    book = openpyxl.load_workbook(path, read_only=True)
    try:
        cells = [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]
    finally:
        book.close()
    assert ",".join(cells[0]) == CSV_HEADER
    assert {row[1]: row[3] for row in cells[1:]}[vendor["risk"]] == "mitigating"


def test_the_changes_page_says_what_is_new_persisting_and_gone(page, console_app,
                                                               read_only_project, screenshots):
    project = read_only_project
    sign_in(page, project.email)
    page.goto(f"/app/projects/{project.project_id}")
    page.get_by_role("link", name="Changes", exact=True).first.click()
    page.wait_for_url(re.compile(rf"/app/projects/{project.project_id}/changes"))
    assert page.get_by_role("heading", level=1).inner_text().strip() == \
        "What changed since the last report"
    new, persisting, gone = (section_text(page, name) for name in
                             ("New", "Persisting", "Gone"))
    assert new is not None and BUDGET_RISK in new, new
    vendor = register_entry(console_app, project, "vendor")  # in either of its wordings
    assert persisting is not None and vendor["risk"] in persisting, persisting
    assert gone is not None and SCHEDULE_RISK in gone, gone
    screenshots.take(page, "changes")


def test_the_members_page_lists_the_owner(page, read_only_project):
    project = read_only_project
    sign_in(page, project.email)
    page.goto(f"/app/projects/{project.project_id}")
    page.get_by_role("link", name="Members", exact=True).first.click()
    page.wait_for_url(re.compile(rf"/app/projects/{project.project_id}/members$"))
    table = page.locator("main table")
    assert table.locator("tbody tr").count() == 1
    assert project.email in table.inner_text() and "owner" in table.inner_text()
    assert page.get_by_role("button", name="Add member").is_visible()


def test_the_review_page_lists_findings_and_exports_corrections(page, console_app, email,
                                                                 screenshots):
    seeded = seed(console_app, email, reports=[STATUS_REPORT])
    [vendor] = [f for f in seeded.scans[0]["data"] if f["risk"] == VENDOR_RISK]
    call_api(console_app, seeded, "PATCH",
             f"/scans/{seeded.scan_ids[0]}/findings/{vendor['id']}", json={"category": "budget"})
    sign_in(page, email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Review").click()
    page.wait_for_url(re.compile(r"/app/review$"))
    assert page.get_by_role("heading", level=1).inner_text().strip() == "Review"
    table = page.get_by_role("table", name="Findings to review")
    assert table.is_visible()
    # Every score from the start, nearest the operating point first; not answered first,
    # so the vendor risk, corrected already, waits under "Answered".
    assert table.locator("tbody tr").filter(has_text=VENDOR_RISK).count() == 0
    security = table.locator("tbody tr").filter(has_text=SECURITY_RISK)
    assert security.count() == 1
    [security_label] = [f["category"] for f in seeded.scans[0]["data"]
                        if f["risk"] == SECURITY_RISK]
    screenshots.take(page, "review")
    with page.expect_response(lambda r: r.request.method == "POST"):
        security.get_by_role("button", name=re.compile(r"^Confirm")).click()
    # Said in the row, which updates in place (tests/e2e/test_console_review.py).
    row = table.locator("tbody tr").filter(has_text=SECURITY_RISK)
    row.get_by_role("cell", name="Confirmed", exact=True).wait_for()
    assert row.locator(".review-said").inner_text().startswith("Saved:")

    with page.expect_download() as download:
        page.get_by_role("link", name="Export feedback (JSONL)").click()
    with open(download.value.path(), encoding="utf-8") as feedback:
        lines = [json.loads(line) for line in feedback if line.strip()]
    assert sorted((line["text"], line["label"]) for line in lines) == sorted(
        [(VENDOR_RISK, "budget"), (SECURITY_RISK, security_label)]), lines


def test_signing_out_ends_the_session(page, user):
    sign_in(page, user.email)
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/app/sign-in$"))
    page.goto("/app/scans")
    assert re.search(r"/app/sign-in\?next=(/|%2F)app(/|%2F)scans$", page.url), page.url
    assert page.get_by_role("heading", level=1).inner_text() == "Sign in"
