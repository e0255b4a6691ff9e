"""Review for a team in Chromium (issue #61, item 5): an editor answers the owner's findings
with the mouse, each row updating in place; the owner answers with the keys alone (a digit
per category, `n`, `c`), which never fire in a field; a viewer reads the project's findings
and answers nothing. axe-core on each new state."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.e2e.driver import (
    CATEGORIES,
    PROJECT_REPORTS,
    STATUS_REPORT,
    accessibility_violations,
    call_api,
    seed,
    sign_in,
    tab_to,
)

pytestmark = pytest.mark.slow

READ_ONLY = "Read only: only the project's editors and owners answer"


def email(who: str) -> str:
    return f"{who}-{uuid.uuid4().hex[:8]}@example.com"


def member(app, owner, role: str):
    """A new user made a member of ``owner``'s project with ``role``."""
    person = seed(app, email(role))
    call_api(app, owner, "POST", f"/projects/{owner.project_id}/members", 201,
             json={"email": person.email, "role": role})
    return person


def answers(app, seeded) -> dict[str, str | None]:
    """The project's findings as the API stores them: sentence -> its answer."""
    items = call_api(app, seeded, "GET", "/findings",
                     query_string={"project_id": seeded.project_id, "per_page": 100})["items"]
    return {item["risk"]: item["corrected_category"] for item in items}


def saved(page, action):
    """Do ``action`` and wait for the answer the page's script sends (no navigation)."""
    with page.expect_response(lambda r: r.request.method == "POST"
                              and "/findings/" in r.url) as answer:
        action()
    assert answer.value.status == 200, answer.value.text()


def test_an_editor_answers_the_owners_findings_each_row_in_place(page, console_app,
                                                                  axe_script):
    from playwright.sync_api import expect

    owner = seed(console_app, email("owner"), project="Billing migration",
                 reports=PROJECT_REPORTS[:1])
    editor = member(console_app, owner, "editor")
    first, second = owner.scans[0]["data"][:2]
    sign_in(page, editor.email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Review").click()
    page.wait_for_url(re.compile(r"/app/review$"))
    # axe-core now (it reloads the page to load), then on each state the script makes.
    assert accessibility_violations(page, axe_script) == []
    assert page.get_by_label("Answered", exact=True).input_value() == "false"
    row = page.locator("tr.review-row").filter(has_text=first["risk"])
    other = "legal" if first["category"] != "legal" else "scope"

    # Choosing saves nothing (WCAG 3.2.2); Save does, and the row says it in place.
    row.get_by_label(re.compile(r"^Category of: ")).select_option(other)
    assert answers(console_app, owner)[first["risk"]] is None
    saved(page, lambda: row.get_by_role("button", name=re.compile(r"^Save")).click())
    expect(row.locator(".review-answer")).to_have_text(f"Corrected: {other}")
    expect(row.locator(".review-said")).to_contain_text(f"corrected to {other}")
    expect(row.get_by_role("button", name=re.compile(r"^Confirm"))).to_have_count(0)
    assert page.url.endswith("/app/review")  # no reload: the queue stays as it was
    assert answers(console_app, owner)[first["risk"]] == other
    assert accessibility_violations(page, axe_script) == []

    # Confirm on the next: said, and never offered again on that row.
    row = page.locator("tr.review-row").filter(has_text=second["risk"])
    saved(page, lambda: row.get_by_role("button", name=re.compile(r"^Confirm")).click())
    expect(row.locator(".review-answer")).to_have_text("Confirmed")
    expect(row.get_by_role("button", name=re.compile(r"^Confirm"))).to_have_count(0)
    expect(row.locator(".review-mark a")).to_be_focused()  # the focus not lost with Confirm
    assert answers(console_app, owner)[second["risk"]] == second["category"]

    # Next visit: not answered first, so both are gone; "All" shows them answered.
    page.reload()
    assert page.locator("tr.review-row").filter(has_text=first["risk"]).count() == 0
    page.get_by_label("Answered", exact=True).select_option("")
    with page.expect_navigation():
        page.get_by_role("button", name="Filter", exact=True).click()
    expect(page.locator("tr.review-row").filter(has_text=first["risk"])
           .locator(".review-answer")).to_have_text(f"Corrected: {other}")


def test_the_owner_answers_with_the_keys_alone(page, console_app, axe_script):
    from playwright.sync_api import expect

    owner = seed(console_app, email("keys"), project="Keys", reports=[STATUS_REPORT])
    sign_in(page, owner.email)
    page.goto("/app/review")
    assert accessibility_violations(page, axe_script) == []  # loads axe-core: a reload
    keys = page.get_by_role("region", name="Keys")
    expect(keys).to_contain_text("1 schedule")
    expect(keys).to_contain_text("n not a risk")
    rows = page.locator("tr.review-row")
    risks = [rows.nth(i).locator(".review-mark a").inner_text() for i in range(rows.count())]
    assert len(risks) >= 3, risks
    model = {f["risk"]: f["category"] for f in owner.scans[0]["data"]}

    posts = []  # every answer the page sends, in the order sent
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)

    # Typing in a field answers nothing: the digit is the field's.
    tab_to(page, lambda el: el["id"] == "f-max-score")
    page.keyboard.type("1")
    assert page.get_by_label("Maximum score", exact=True).input_value() == "1"

    # Tab to the first row's sentence; a digit answers it, and the focus moves on.
    tab_to(page, lambda el: el["text"] == risks[0])
    wanted = "budget" if model[risks[0]] != "budget" else "legal"
    digit = str((CATEGORIES.index(wanted) + 1) % 10)
    saved(page, lambda: page.keyboard.press(digit))
    expect(rows.nth(0).locator(".review-answer")).to_have_text(f"Corrected: {wanted}")
    expect(rows.nth(1).locator(".review-mark a")).to_be_focused()
    # In the row's select a key is the select's: `n` chooses "not a risk", unsaved.
    page.keyboard.press("Tab")
    expect(rows.nth(1).locator("select")).to_be_focused()
    page.keyboard.press("n")
    page.keyboard.press("Shift+Tab")
    saved(page, lambda: page.keyboard.press("c"))  # the row's confirm, after the `n`
    expect(rows.nth(1).locator(".review-answer")).to_have_text("Confirmed")
    expect(rows.nth(1).get_by_role("button", name=re.compile(r"^Confirm"))).to_have_count(0)
    assert len(posts) == 2, posts  # the digit and `c`: not the field's 1, nor the select's n
    saved(page, lambda: page.keyboard.press("n"))
    expect(rows.nth(2).locator(".review-answer")).to_have_text("Not a risk")
    expect(page.locator("#live")).to_contain_text("is not a risk")
    assert accessibility_violations(page, axe_script) == []
    stored = answers(console_app, owner)
    assert (stored[risks[0]], stored[risks[1]], stored[risks[2]]) == (
        wanted, model[risks[1]], "none")

    # `c` on a row already answered sends nothing: it would undo the answer.
    rows.nth(0).locator(".review-mark a").focus()
    page.keyboard.press("c")
    expect(page.locator("#live")).to_have_text("Already answered: choose a category to "
                                               "change it.")
    assert answers(console_app, owner)[risks[0]] == wanted and len(posts) == 3


def test_a_viewer_reads_the_project_and_answers_nothing(page, console_app, axe_script):
    from playwright.sync_api import expect

    owner = seed(console_app, email("owner"), project="Read only",
                 reports=PROJECT_REPORTS[:1])
    viewer = member(console_app, owner, "viewer")
    sign_in(page, viewer.email)
    page.goto(f"/app/projects/{owner.project_id}")
    page.get_by_role("link", name="Read its findings in Review").click()
    page.wait_for_url(re.compile(r"/app/review\?project_id="))
    rows = page.locator("tr.review-row")
    expect(rows).to_have_count(len(owner.scans[0]["data"]))
    expect(rows.first).to_contain_text(READ_ONLY)
    assert page.locator("table.review-table form").count() == 0
    risk = rows.first.locator(".review-mark a").inner_text()
    tab_to(page, lambda el: el["text"] == risk)
    page.keyboard.press("n")
    expect(page.locator("#live")).to_contain_text("Read only")
    assert set(answers(console_app, owner).values()) == {None}
    assert accessibility_violations(page, axe_script) == []
