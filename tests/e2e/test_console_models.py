"""The admin Models page in Chromium: activate a version after its confirmation, roll back,
start and end a shadow trial; a plain user is refused; axe-core on a model's page and on the
activation and rollback confirmations.

The module's app serves from the registry tests' models root (tests/registry.py:
``v1`` serves, ``v2`` is the same model at another operating point), on a SQLite database
of its own, so that its activations are this module's alone.
"""

from __future__ import annotations

import re
import uuid

import pytest

from tests.e2e.driver import (
    accessibility_violations,
    call_api,
    make_admin,
    seed,
    sign_in,
    unnamed_controls,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def console_settings(models_root) -> dict:
    """tests/e2e/conftest.py's app, serving from the models root."""
    return {"MODEL_DIR": str(models_root), "MODEL_SYNC_S": 0}


def test_an_admin_activates_rolls_back_and_runs_a_shadow_trial(page, console_app):
    email = f"admin-{uuid.uuid4().hex[:8]}@example.com"
    seeded = seed(console_app, email)
    make_admin(console_app, email)
    sign_in(page, email)

    page.get_by_role("link", name="Admin", exact=True).click()
    page.get_by_role("navigation", name="Administration").get_by_role(
        "link", name="Models").click()
    page.wait_for_url("**/app/admin/models")
    assert page.locator("#model-v1 td").nth(1).inner_text() == "Active: serving"
    assert unnamed_controls(page) == []  # docs/console/models.png: ..._models_screenshot.py

    page.get_by_role("link", name="Activate… v2").click()
    assert page.locator("main p").first.inner_text() == (
        "Serving now: v1. After this, v2 serves every scan.")
    with page.expect_navigation():
        page.get_by_role("button", name="Activate v2").click()
    page.locator(".flash", has_text="Model v2 serves now (it replaced v1").wait_for()
    assert call_api(console_app, seeded, "GET", "/admin/models")["active"] == "v2"

    page.get_by_role("link", name="Roll back to v1…").click()
    assert page.locator("main p").first.inner_text() == (
        "Serving now: v2. After this, v1 serves every scan.")
    with page.expect_navigation():
        page.get_by_role("button", name="Roll back to v1").click()
    page.locator(".flash", has_text="Rolled back: model v1 serves now").wait_for()
    assert call_api(console_app, seeded, "GET", "/admin/models")["active"] == "v1"

    page.get_by_role("link", name="v2", exact=True).click()
    page.get_by_label("Share of the scans (0 to 1)").fill("1")
    page.get_by_label("Up to (scans)").fill("10")
    with page.expect_navigation():
        page.get_by_role("button", name="Start the trial").click()
    page.get_by_role("heading", name="Shadow trial: running").wait_for()
    assert unnamed_controls(page) == []
    with page.expect_navigation():
        page.get_by_role("button", name="End the trial").click()
    page.get_by_role("heading", name="Shadow trial: ended (deleted)").wait_for()
    report = call_api(console_app, seeded, "GET", "/admin/models/v2/shadow")
    assert (report["running"], report["ended_why"], report["limit"]) == (False, "deleted", 10)


def test_a_user_has_no_models_page(page, console_app):
    email = f"user-{uuid.uuid4().hex[:8]}@example.com"
    seed(console_app, email)
    sign_in(page, email)
    assert page.get_by_role("link", name="Admin", exact=True).count() == 0
    # Fetched with the page's cookies, not opened: a 403 document is a console error.
    refused = page.request.get("/app/admin/models")
    assert refused.status == 403 and "<h1>Not allowed</h1>" in refused.text()
    # No version is named in the page's text (its attributes hold a random nonce, which
    # once read "…t3v20…").
    assert not re.search(r"\bv[12]\b", re.sub(r"<[^>]*>", " ", refused.text()))


def test_axe_finds_nothing_serious_on_a_models_pages(page, console_app, axe_script):
    """axe-core (as tests/e2e/test_console_quality.py runs it on every other page) on the
    Models page, a model's page (the serving one and a candidate) and the two
    confirmations an admin reads before the serving model changes: no serious or critical
    violation of WCAG 2.1 A/AA. The rollback confirmation needs a version to go back to:
    v2 is activated for it, and rolled back after, as the module found it."""
    email = f"axe-{uuid.uuid4().hex[:8]}@example.com"
    seeded = seed(console_app, email)
    make_admin(console_app, email)
    sign_in(page, email)
    problems = {}

    def check(path):
        assert page.goto(path).status == 200, path
        if found := accessibility_violations(page, axe_script):
            problems[path] = found

    for path in ("/app/admin/models", "/app/admin/models/v1", "/app/admin/models/v2",
                 "/app/admin/models/v2/activate"):
        check(path)
    call_api(console_app, seeded, "POST", "/admin/models/v2/activate")
    try:
        check("/app/admin/models/rollback")
        assert "After this, v1 serves every scan." in page.locator("main").inner_text()
    finally:
        call_api(console_app, seeded, "POST", "/admin/models/rollback")
    assert problems == {}
