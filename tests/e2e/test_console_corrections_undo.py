"""Corrections in Chromium (issue #74 item 8): a reviewer accepts a project manager's
correction, the accepted list says who decided it, and "Undo" beside the decision puts it
back to pending, said above the list the page lands at; another reviewer sees who decided
and has no Undo for it. Checked in what the API then stores, and with axe-core."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.sync_api import expect

from tests.e2e.driver import (
    PROJECT_REPORTS,
    BrowserErrors,
    accessibility_violations,
    call_api,
    new_page,
    seed,
    sign_in,
)

pytestmark = pytest.mark.slow


def with_role(app, email: str, role: str) -> None:
    """Give ``email`` ``role``, as an admin would."""
    from sqlalchemy import select

    from service.db import User
    from service.extensions import db

    with app.app_context():
        db.session.scalars(select(User).filter_by(email=email)).one().role = role
        db.session.commit()


def review_of(app, reviewer, state: str) -> dict[int, dict]:
    items = call_api(app, reviewer, "GET", "/corrections",
                     query_string={"review": state, "per_page": 100})["items"]
    return {item["finding_id"]: item for item in items}


def test_a_reviewers_decision_says_who_made_it_and_is_undone_beside_it(
        page, browser, console_url, console_app, axe_script):
    pm = seed(console_app, f"pm-{uuid.uuid4().hex[:8]}@example.com",
              project="Billing migration", reports=PROJECT_REPORTS[:1])
    finding = pm.scans[0]["data"][0]
    call_api(console_app, pm, "PATCH", f"/scans/{pm.scan_ids[0]}/findings/{finding['id']}",
             json={"category": "none"})
    ada = seed(console_app, f"ada-{uuid.uuid4().hex[:8]}@example.com")
    bo = seed(console_app, f"bo-{uuid.uuid4().hex[:8]}@example.com")
    for reviewer in (ada, bo):
        with_role(console_app, reviewer.email, "reviewer")
    sign_in(page, ada.email)

    page.goto("/app/corrections")
    row = page.get_by_role("row").filter(has_text=finding["risk"])
    row.get_by_label("Decide on this correction").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Accept ticked", exact=True).click()
    assert finding["id"] in review_of(console_app, ada, "accepted")

    page.goto("/app/corrections?review=accepted")
    row = page.get_by_role("row").filter(has_text=finding["risk"])
    assert "not a risk" in row.inner_text() and "you, " in row.inner_text()
    assert accessibility_violations(page, axe_script) == []

    # Bo sees who decided it, and no Undo for it.
    errors = BrowserErrors()
    other = new_page(browser, console_url, errors)
    try:
        sign_in(other, bo.email)
        other.goto("/app/corrections?review=accepted")
        theirs = other.get_by_role("row").filter(has_text=finding["risk"])
        assert ada.email in theirs.inner_text()
        assert theirs.get_by_role("button").count() == 0
    finally:
        other.context.close()
    errors.assert_none()

    with page.expect_navigation():
        row.get_by_role("button", name=re.compile("^Undo the accepted decision on: ")).click()
    assert page.url.endswith("/app/corrections?review=accepted#decided")
    said = page.locator("#decided p.said")
    assert said.inner_text() == "Undid 1 acceptance: it waits for a reviewer again."
    expect(said).to_be_in_viewport()
    assert page.locator(".flash").count() == 0
    assert page.get_by_role("row").filter(has_text=finding["risk"]).count() == 0
    pending = review_of(console_app, ada, "pending")[finding["id"]]
    assert (pending["review"], pending["reviewed_by"], pending["label"]) == (
        "pending", None, "none")
    assert accessibility_violations(page, axe_script) == []
