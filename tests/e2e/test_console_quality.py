"""The console with a keyboard, a screen reader's names and a small screen, in Chromium; and
its error pages."""

from __future__ import annotations

import ipaddress
import re
from types import SimpleNamespace

import pytest

from tests.e2e.driver import (
    PHONE,
    PROJECT_REPORTS,
    STATUS_REPORT,
    accessibility_violations,
    call_api,
    has_horizontal_scroll,
    make_admin,
    new_page,
    scan_text,
    seed,
    sign_in,
    unnamed_controls,
)

pytestmark = pytest.mark.slow

EMAIL = "grace@example.com"


@pytest.fixture(scope="module")
def console_settings() -> dict:
    """A webhook on loopback may be made (it is switched off: nothing is ever sent)."""
    return {"WEBHOOK_ALLOWED_NETWORKS": (ipaddress.ip_network("127.0.0.0/8"),)}


@pytest.fixture(scope="module")
def user(console_app):
    """A user with a project of two reports scanned into it, and a webhook of the project
    with a failed delivery (the deliveries table, with its "Redeliver")."""
    from service.db import WebhookDelivery, utcnow
    from service.extensions import db

    seeded = seed(console_app, EMAIL, project="Warehouse robots", reports=PROJECT_REPORTS)
    webhook = call_api(console_app, seeded, "POST", f"/projects/{seeded.project_id}/webhooks",
                       201, json={"url": "http://127.0.0.1:9/hook", "active": False,
                                  "events": ["risk.created", "risk.rated"]})
    with console_app.app_context():
        db.session.add(WebhookDelivery(
            webhook_id=webhook["id"], event="ping", body="{}", status="failed", attempts=1,
            response_status=500, duration_ms=12, error="Answered 500.",
            last_attempt_at=utcnow(), retry_until=utcnow()))
        db.session.commit()
    seeded.webhook_id = webhook["id"]
    return seeded


@pytest.fixture(scope="module")
def job_page(console_app, user) -> str:
    """A batch job of the user's (two reports, into no project): its page's path."""
    import io

    files = [(io.BytesIO(report.encode()), f"week-{n}.txt")
             for n, report in enumerate(PROJECT_REPORTS, 12)]
    job = call_api(console_app, user, "POST", "/jobs", 202, data={"files": files},
                   content_type="multipart/form-data")
    return f"/app/jobs/{job['job_id']}"


@pytest.fixture(scope="module")
def desktop(browser, console_url, user):
    page = new_page(browser, console_url)
    sign_in(page, EMAIL)
    scan_text(page, STATUS_REPORT)
    href = page.get_by_role("link", name="permanent link").get_attribute("href")
    yield SimpleNamespace(page=page, scan_url=href)
    page.context.close()


@pytest.fixture(scope="module")
def phone(browser, console_url, user):
    page = new_page(browser, console_url, viewport=PHONE)
    sign_in(page, EMAIL)
    yield page
    page.context.close()


def focused(page) -> dict:
    return page.evaluate("""() => {
      const el = document.activeElement;
      const box = el.getBoundingClientRect();
      return {tag: el.tagName, id: el.id, text: (el.textContent || '').trim(),
              left: box.left, top: box.top, right: box.right, bottom: box.bottom,
              width: box.width, height: box.height};
    }""")


@pytest.mark.parametrize("path", ["/app/scan", "/app/scans"])
def test_the_skip_link_comes_first_shows_itself_and_moves_focus_to_main(desktop, path):
    from playwright.sync_api import expect  # here: the browser fixture skips without Playwright

    page = desktop.page
    page.goto(path)
    page.keyboard.press("Tab")
    skip = focused(page)
    assert skip["tag"] == "A" and skip["text"] == "Skip to content", skip
    # Visible, on the screen, while it has the focus.
    assert page.locator(".skip-link").is_visible()
    viewport = page.viewport_size
    assert skip["width"] > 1 and skip["height"] > 1, skip
    assert 0 <= skip["left"] and skip["right"] <= viewport["width"], skip
    assert 0 <= skip["top"] and skip["bottom"] <= viewport["height"], skip

    page.keyboard.press("Enter")
    # The fragment navigation lands after the key press returns: wait for it, as a user would.
    expect(page).to_have_url(re.compile(r"#content$"))
    expect(page.locator("main#content")).to_be_focused()
    # The next Tab goes on from the page's content, past the header's links.
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.getElementById('content')"
                         ".contains(document.activeElement)")


def test_the_skip_link_comes_first_when_signed_out(browser, console_url):
    from playwright.sync_api import expect

    page = new_page(browser, console_url)
    try:
        page.goto("/app/sign-in")
        page.keyboard.press("Tab")
        assert focused(page)["text"] == "Skip to content"
        page.keyboard.press("Enter")
        expect(page.locator("main#content")).to_be_focused()
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.id") == "email"
    finally:
        page.context.close()


def pages_with_forms(desktop, user, job_page) -> list[str]:
    project = f"/app/projects/{user.project_id}"
    return ["/app/scan", desktop.scan_url, "/app/scans", "/app/projects", project,
            f"{project}/changes", f"{project}/members", f"{project}/webhooks",
            f"{project}/webhooks/{user.webhook_id}", "/app/review", "/app/account",
            "/app/account/keys", "/app/jobs", job_page]


def test_every_control_has_an_accessible_name(desktop, user, job_page, browser, console_url):
    page = desktop.page
    problems = {}
    for path in pages_with_forms(desktop, user, job_page):
        assert page.goto(path).status == 200, path
        if found := unnamed_controls(page):
            problems[path] = found
    anonymous = new_page(browser, console_url)
    try:
        for path in ("/app/sign-in", "/app/register"):
            anonymous.goto(path)
            if found := unnamed_controls(anonymous):
                problems[path] = found
    finally:
        anonymous.context.close()
    assert problems == {}


ADMIN_PAGES = ("/app/admin/users", "/app/admin/audit", "/app/admin/llm-calls",
               "/app/admin/mail", "/app/admin/models")


def test_axe_finds_nothing_serious_on_any_page(desktop, user, job_page, browser, console_url,
                                                console_app, axe_script):
    """axe-core (its npm package) injected into every page a person or an admin reaches:
    no serious or critical violation of WCAG 2.1 A/AA. (A job's page while the job runs:
    tests/e2e/test_console_jobs.py.)"""
    problems = {}
    page = desktop.page
    for path in pages_with_forms(desktop, user, job_page):
        assert page.goto(path).status == 200, path
        if found := accessibility_violations(page, axe_script):
            problems[path] = found
    admin = seed(console_app, "axe-admin@example.com")
    make_admin(console_app, admin.email)
    anonymous, admin_page = new_page(browser, console_url), new_page(browser, console_url)
    try:
        for path in ("/app/sign-in", "/app/register"):
            anonymous.goto(path)
            if found := accessibility_violations(anonymous, axe_script):
                problems[path] = found
        sign_in(admin_page, admin.email)
        for path in ADMIN_PAGES:
            assert admin_page.goto(path).status == 200, path
            if found := accessibility_violations(admin_page, axe_script):
                problems[path] = found
    finally:
        anonymous.context.close()
        admin_page.context.close()
    assert problems == {}


def test_an_admin_has_the_admin_pages(browser, console_url, console_app, user):
    admin = seed(console_app, "admin@example.com")
    make_admin(console_app, admin.email)
    page = new_page(browser, console_url)
    try:
        sign_in(page, admin.email)
        nav = page.get_by_role("navigation", name="Main")
        nav.get_by_role("link", name="Admin", exact=True).click()
        page.wait_for_url(re.compile(r"/app/admin/users"))
        users = page.locator("main table").first.inner_text()
        assert admin.email in users and EMAIL in users
        assert unnamed_controls(page) == []
        page.get_by_role("link", name="Audit log", exact=True).click()
        page.get_by_label("Person (email, by or about)").fill(admin.email)
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url(re.compile(r"/app/admin/audit\?"))
        events = page.locator("main table").first.inner_text()
        assert admin.email in events and EMAIL not in events
        assert unnamed_controls(page) == []
    finally:
        page.context.close()


def test_the_sign_in_page_says_what_went_wrong_in_words(browser, console_url, user):
    page = new_page(browser, console_url)
    try:
        page.goto("/app/sign-in")
        page.get_by_label("Email", exact=True).fill(EMAIL)
        page.get_by_label("Password", exact=True).fill("not the password at all")
        page.get_by_role("button", name="Sign in", exact=True).click()
        alert = page.get_by_role("alert")
        assert alert.is_visible()
        assert len(alert.inner_text().strip().split()) >= 3, alert.inner_text()
        assert page.get_by_label("Email", exact=True).input_value() == EMAIL
    finally:
        page.context.close()


@pytest.mark.parametrize("screen", ["scan", "result", "history", "register", "changes",
                                    "review", "account", "keys", "jobs", "webhook"])
def test_no_horizontal_scroll_on_a_small_screen(phone, user, screen):
    """At 360×740 a page fits its width: a wide table scrolls within its own box."""
    project = f"/app/projects/{user.project_id}"
    if screen == "result":
        assert scan_text(phone, STATUS_REPORT).status == 303
    else:
        path = {"scan": "/app/scan", "history": "/app/scans", "register": project,
                "changes": f"{project}/changes", "review": "/app/review",
                "account": "/app/account", "keys": "/app/account/keys",
                "jobs": "/app/jobs",
                "webhook": f"{project}/webhooks/{user.webhook_id}"}[screen]
        assert phone.goto(path).status == 200
    if screen == "register":
        assert phone.get_by_role("table", name="Risk register").count() == 1
    phone.wait_for_load_state("load")
    assert phone.viewport_size == PHONE
    widths = phone.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert not has_horizontal_scroll(phone), f"{screen}: scrollWidth, innerWidth = {widths}"


def test_an_unknown_page_is_an_html_404_with_a_way_back(desktop):
    page = desktop.page
    response = page.goto("/app/does-not-exist")
    assert response.status == 404
    assert response.headers["content-type"].startswith("text/html")
    assert page.get_by_role("heading", level=1).inner_text() == "Not found"
    back = page.get_by_role("link", name="Back to the console")
    back.click()
    page.wait_for_url(re.compile(r"/app/scan$"))  # signed in: the console's first page


def test_a_protected_page_sends_a_stranger_to_sign_in_and_back(browser, console_url, user):
    page = new_page(browser, console_url)
    try:
        response = page.goto("/app/projects")
        assert re.search(r"/app/sign-in\?next=(/|%2F)app(/|%2F)projects$", page.url), page.url
        assert response.status == 200 and response.request.redirected_from is not None
        assert response.request.redirected_from.response().status == 302
        page.get_by_label("Email", exact=True).fill(EMAIL)
        page.get_by_label("Password", exact=True).fill("correct horse battery")
        page.get_by_role("button", name="Sign in", exact=True).click()
        page.wait_for_url(re.compile(r"/app/projects$"))  # where the stranger wanted to go
        assert page.get_by_role("heading", level=1).inner_text().strip() == "Projects"
    finally:
        page.context.close()
