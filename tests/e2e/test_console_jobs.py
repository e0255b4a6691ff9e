"""A batch job in Chromium: two reports uploaded into a project from the Jobs page; the job's
page, checked by axe-core while its documents are being scanned, follows the job in place
(the page's script, no reload) until it ends, and links each document's scan.

The model is held at a gate (each document waits there until the test opens it), so that
the page is seen, and checked, while the job runs, whatever the machine's speed.
"""

from __future__ import annotations

import re
import threading

import pytest

from tests.e2e.driver import (
    PROJECT_REPORTS,
    SECURITY_RISK,
    STATUS_REPORT,
    VENDOR_RISK,
    accessibility_violations,
    call_api,
    marked,
    seed,
    sign_in,
    unnamed_controls,
)

pytestmark = pytest.mark.slow

TIMEOUT_S = 60
PROJECT = "Depot upgrade"
NAMES = ("week-2026-03-14.txt", "week-2026-03-21.md")


class Gate:
    """The app's model, each document held before it is analysed until ``open``."""

    def __init__(self, model):
        self.model = model
        self.arrived = threading.Semaphore(0)
        self.opened = threading.Event()

    def analyze(self, text, **kwargs):
        self.arrived.release()
        assert self.opened.wait(TIMEOUT_S), "the test never opened the gate"
        return self.model.analyze(text, **kwargs)

    def __getattr__(self, name):  # version, min_score, …: the model's own
        return getattr(self.model, name)


@pytest.fixture
def gate(console_app, monkeypatch):
    analyzers = console_app.extensions["riskscan.analyzers"]
    held = Gate(analyzers.model)
    monkeypatch.setattr(analyzers, "model", held)
    yield held
    held.opened.set()  # a document still held goes on, whatever the test did


def test_two_reports_become_a_job_whose_page_follows_it_to_each_scan(
        page, console_app, gate, axe_script, tmp_path, screenshots):
    from playwright.sync_api import expect

    user = seed(console_app, "batch@example.com", project=PROJECT)
    files = [tmp_path / NAMES[0], tmp_path / NAMES[1]]
    files[0].write_text(STATUS_REPORT)
    files[1].write_text(PROJECT_REPORTS[0])
    sign_in(page, user.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Jobs").click()
    page.wait_for_url(re.compile(r"/app/jobs$"))
    page.get_by_label("Documents (txt, md, html, pdf, docx)").set_input_files(
        [str(path) for path in files])
    page.get_by_label("Project", exact=True).select_option(label=PROJECT)
    page.get_by_role("button", name="Upload and scan").click()
    page.wait_for_url(re.compile(r"/app/jobs/[0-9a-f-]+$"))

    # Both documents are at the model (two threads), held: the job runs.
    for _ in NAMES:
        assert gate.arrived.acquire(timeout=TIMEOUT_S), "a document never reached the model"
    page.reload()
    assert accessibility_violations(page, axe_script) == []  # while it runs
    assert unnamed_controls(page) == []
    status = page.locator("#job-status")
    assert "0 of 2 documents scanned" in status.inner_text()
    rows = page.get_by_role("table").get_by_role("row")
    assert [rows.nth(n).get_by_role("rowheader").inner_text() for n in (1, 2)] == list(NAMES)
    assert page.get_by_role("cell", name="Scanning…").count() == 2
    assert page.get_by_role("button", name="Cancel the job").is_visible()

    page.evaluate("() => { window.notReloaded = true; }")
    gate.opened.set()
    expect(status).to_contain_text("Finished.", timeout=TIMEOUT_S * 1000)
    assert page.evaluate("() => window.notReloaded === true")  # followed in place
    assert "2 of 2 documents scanned" in status.inner_text()
    expect(page.locator("#live")).to_contain_text("2 of 2 documents scanned")
    assert page.get_by_role("button", name="Cancel the job").count() == 0
    assert page.locator("progress#job-bar").get_attribute("value") == "2"
    assert page.get_by_role("cell", name="2026-03-14", exact=True).count() == 1  # the names' dates
    assert page.get_by_role("cell", name="2026-03-21", exact=True).count() == 1
    # Each document's risks in words that agree with the count, as its scan counts them.
    risks = {}
    for n, name in enumerate(NAMES, start=1):
        said = rows.nth(n).get_by_role("cell").nth(1).inner_text().strip()
        assert re.fullmatch(r"1 risk|([02-9]|\d\d+) risks", said), said
        risks[name] = said
    job = call_api(console_app, user, "GET", f"/jobs/{page.url.rsplit('/', 1)[1]}")
    assert [f"{d['risks']} risk" for d in job["documents"]] == [
        risks[name].removesuffix("s") for name in NAMES]
    screenshots.take(page, "job")
    assert accessibility_violations(page, axe_script) == []  # once it has ended

    page.get_by_role("link", name=f"Open the scan of {NAMES[0]}").click()
    page.wait_for_url(re.compile(r"/app/scans/[0-9a-f-]+$"))
    found = marked(page)
    assert VENDOR_RISK in found and SECURITY_RISK in found, found
    page.go_back()
    page.get_by_role("link", name=f"Open the scan of {NAMES[1]}").click()
    page.wait_for_url(re.compile(r"/app/scans/[0-9a-f-]+$"))
    assert VENDOR_RISK in marked(page)
    page.goto("/app/jobs")
    listed = page.get_by_role("table").get_by_role("row").nth(1).inner_text()
    assert PROJECT in listed and "2 of 2 scanned" in listed and "Finished" in listed
    assert all(f"{name}: {risks[name]}" in listed for name in NAMES), listed
    assert accessibility_violations(page, axe_script) == []  # the list, its documents named
