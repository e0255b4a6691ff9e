"""The document view in Chromium: a scan's page shows the report whole with its findings
marked where they stand, a sentence the model left alone is marked as a risk by clicking
it, and a near miss (asked for with "Include possible risks") is confirmed in one click.
"""

from __future__ import annotations

import dataclasses
import re
import uuid

import pytest

from tests.e2e.driver import (
    PLAIN_LINE,
    SECURITY_RISK,
    STATUS_REPORT,
    VENDOR_RISK,
    BrowserErrors,
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
    assert re.search(r"#finding-\d+$", page.url)
    assert marked(page)[PLAIN_LINE] == "quality"
    assert page.locator(".flash").filter(has_text="marked as a risk (quality)").count() == 1
    assert unnamed_controls(page) == []


def test_a_possible_risk_is_marked_lightly_and_confirmed_in_one_click(page, console_app,
                                                                       monkeypatch):
    # The small test model is sure of this report's sentences either way: from a floor of
    # 0, every plain sentence is a near miss, and the test needs just one.
    monkeypatch.setitem(console_app.config, "SETTINGS", dataclasses.replace(
        console_app.config["SETTINGS"], POSSIBLE_FLOOR=0.0))
    page.goto("/app/scan")
    page.get_by_label("Include possible risks").check()
    submit_scan(page, text=STATUS_REPORT)
    possible = page.locator("mark.possible")
    assert possible.count() >= 1, page.content()
    sentence = possible.first.inner_text().strip()
    folded = page.locator("details.possible-findings")
    summary = folded.locator("summary")
    assert re.fullmatch(r"\d+ possible risks?", summary.inner_text().strip())
    summary.click()
    item = folded.locator("li").filter(has_text=sentence)
    item.get_by_role("button", name=re.compile(r"^Confirm")).click()
    page.wait_for_load_state()
    assert page.locator(".flash").filter(has_text="confirmed as").count() == 1
    assert page.locator("mark.possible").filter(has_text=sentence).count() == 0
    assert sentence in marked(page)


def test_a_correction_redraws_the_counts_and_groups_and_says_saved(page):
    submit_scan(page, text=STATUS_REPORT)
    meta = page.locator("main .meta").first
    before = int(re.match(r"(\d+) risks? found", meta.inner_text().strip()).group(1))
    item = page.locator("li[id^='finding-']").filter(has_text=SECURITY_RISK)
    item.get_by_label("Category", exact=True).select_option("none")
    with page.expect_response(lambda r: "/findings/" in r.url) as answer:
        item.get_by_role("button", name="Save").click()
    assert answer.value.status == 204
    page.locator(".flash").filter(has_text="Saved: not a risk").wait_for()
    meta = page.locator("main .meta").first
    assert re.match(rf"{before - 1} risks? found", meta.inner_text().strip())
    group = page.locator(".findings h3").filter(has_text="not a risk")
    assert group.count() == 1 and "(1)" in group.inner_text()
    assert page.locator(".model-label").filter(has_text="The model said").count() == 1
