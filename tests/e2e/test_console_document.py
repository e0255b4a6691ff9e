"""The document view in Chromium: a scan's page shows the report whole with its findings
marked where they stand, a sentence the model left alone is marked as a risk by clicking
it, and a near miss (asked for with "Include possible risks") is confirmed in the category the person chooses.
"""

from __future__ import annotations

import dataclasses
import re
import uuid

import pytest
from playwright.sync_api import expect

from service.config import current_settings
from tests.e2e.driver import (
    CATEGORIES,
    PLAIN_LINE,
    SECURITY_RISK,
    STATUS_REPORT,
    VENDOR_RISK,
    BrowserErrors,
    accessibility_violations,
    create_project,
    marked,
    new_page,
    register,
    submit_scan,
    unnamed_controls,
)

pytestmark = pytest.mark.slow

REPORT = "# Weekly status\n\n## 4. Risks\n" + STATUS_REPORT


@pytest.fixture
def page(browser, console_url):
    errors = BrowserErrors()
    page = new_page(browser, console_url, errors)
    register(page, f"doc-{uuid.uuid4().hex[:8]}@example.com")
    yield page
    page.context.close()
    errors.assert_none()


def test_the_document_is_whole_and_a_sentence_is_marked_as_a_risk(page):
    submit_scan(page, text=REPORT)
    document = page.locator(".document .text")
    assert document.get_by_role("heading", name="4. Risks").count() == 1
    assert "##" not in document.inner_text()
    marks = marked(page)
    assert VENDOR_RISK in marks and SECURITY_RISK in marks

    document.locator(".sentence", has_text=PLAIN_LINE).click()  # chooses it in the form
    assert page.get_by_label("Sentence", exact=True).input_value() != ""
    page.locator("#mark-category").select_option("quality")
    page.get_by_role("button", name="Mark as risk", exact=True).click()
    page.wait_for_load_state()
    finding = re.search(r"#(finding-\d+)$", page.url)[1]
    assert marked(page)[PLAIN_LINE] == "quality"
    # Said beside the new finding, where the page lands, not at the page's top.
    said = page.locator(f"#{finding} p.said")
    assert "marked as a risk (quality)" in said.inner_text()
    expect(said).to_be_in_viewport()
    assert page.locator(".flash").count() == 0
    assert unnamed_controls(page) == []


def test_a_possible_risk_is_marked_lightly_and_confirmed_in_a_chosen_category(
        page, console_app, monkeypatch, axe_script):
    # The small test model is sure of this report's sentences either way: from a floor of
    # 0, every plain sentence is a near miss, and the test needs just one.
    monkeypatch.setitem(console_app.config, "SETTINGS", dataclasses.replace(
        current_settings(console_app), POSSIBLE_FLOOR=0.0))
    project_id = create_project(page, f"Near misses {uuid.uuid4().hex[:6]}")
    page.goto("/app/scan")
    page.get_by_label("Include possible risks").check()
    submit_scan(page, text=STATUS_REPORT, project_id=project_id)
    assert accessibility_violations(page, axe_script) == []  # loads axe-core (a reload)
    possible = page.locator("mark.possible")
    assert possible.count() >= 1, page.content()
    sentence = possible.first.inner_text().strip()
    folded = page.locator("details.possible-findings")
    summary = folded.locator("summary")
    assert re.fullmatch(r"\d+ possible risks?", summary.inner_text().strip())
    summary.click()
    item = folded.locator("li").filter(has_text=sentence)
    choice = item.get_by_label("Category", exact=True)
    model = choice.input_value()  # the model's category, chosen already
    assert model == possible.first.get_attribute("data-category")
    assert accessibility_violations(page, axe_script) == []  # the fold open, its selects
    chosen = next(label for label in CATEGORIES if label != model)
    choice.select_option(chosen)  # nothing is sent on choosing: the button confirms
    assert page.locator(".flash").count() == 0
    item.get_by_role("button", name=re.compile(r"^Confirm")).click()
    page.wait_for_load_state()
    finding = re.search(r"#(finding-\d+)$", page.url)[1]
    assert f"corrected to {chosen} (the model said {model})" in page.locator(
        f"#{finding} p.said").inner_text()
    assert page.locator(".flash").count() == 0
    assert page.locator("mark.possible").filter(has_text=sentence).count() == 0
    assert marked(page)[sentence] == chosen
    page.goto(f"/app/projects/{project_id}")  # one entry, in the category chosen
    rows = page.locator(".register-table tbody tr").filter(has_text=sentence)
    assert rows.count() == 1 and chosen in rows.inner_text()


def test_a_correction_redraws_the_counts_and_groups_and_says_saved(page):
    submit_scan(page, text=STATUS_REPORT)
    meta = page.locator("main .meta").first
    before = int(re.match(r"(\d+) risks? found", meta.inner_text().strip()).group(1))
    item = page.locator("li[id^='finding-']").filter(has_text=SECURITY_RISK)
    item.get_by_label("Category", exact=True).select_option("none")
    with page.expect_response(lambda r: "/findings/" in r.url) as answer:
        item.get_by_role("button", name="Save").click()
    assert answer.value.status == 204
    # Said beside the finding (now in the "not a risk" group), never at the page's top.
    said = page.locator(f"#{item.get_attribute('id')} p.said")
    said.filter(has_text="Saved: not a risk").wait_for()
    expect(said).to_be_in_viewport()
    assert page.locator(".flash").count() == 0
    meta = page.locator("main .meta").first
    assert re.match(rf"{before - 1} risks? found", meta.inner_text().strip())
    group = page.locator(".findings h3").filter(has_text="not a risk")
    assert group.count() == 1 and "(1)" in group.inner_text()
    assert page.locator(".model-label").filter(has_text="The model said").count() == 1
