"""The newest pages' refusals in Chromium, as a person meets them: another user's job and
webhooks are the 404 page, a viewer reads a project's webhooks page with no control and gets
no project of theirs offered for a job, a user's Models page is the 403 page, and a page's
script that posts without the CSRF token changes nothing. (The Flask tests of each page
hold every refusal in detail; these hold what the browser shows.)"""

from __future__ import annotations

import io
import ipaddress

import pytest

from tests.e2e.driver import call_api, new_page, seed, sign_in

pytestmark = pytest.mark.slow

PROJECT = "Payroll migration"


@pytest.fixture(scope="module")
def console_settings() -> dict:
    """A webhook on loopback may be made (nothing listens there: nothing is delivered)."""
    return {"WEBHOOK_ALLOWED_NETWORKS": (ipaddress.ip_network("127.0.0.0/8"),)}


@pytest.fixture(scope="module")
def team(console_app):
    """An owner with a webhook of the project and a job (into no project: no event reaches
    the webhook), a viewer of the project, and a stranger."""
    owner = seed(console_app, "owner-refusals@example.com", project=PROJECT)
    viewer = seed(console_app, "viewer-refusals@example.com")
    stranger = seed(console_app, "stranger-refusals@example.com")
    call_api(console_app, owner, "POST", f"/projects/{owner.project_id}/members", 201,
             json={"email": viewer.email, "role": "viewer"})
    webhook = call_api(console_app, owner, "POST", f"/projects/{owner.project_id}/webhooks",
                       201, json={"url": "http://127.0.0.1:9/hook",
                                  "events": ["risk.created"]})
    job = call_api(console_app, owner, "POST", "/jobs", 202,
                   data={"files": [(io.BytesIO(b"The vendor may slip."), "week-1.txt")]},
                   content_type="multipart/form-data")
    return {"owner": owner, "viewer": viewer, "stranger": stranger,
            "webhook_id": webhook["id"], "job_id": job["job_id"]}


def signed_in(browser, console_url, seeded):
    page = new_page(browser, console_url)
    sign_in(page, seeded.email)
    return page


def test_a_stranger_gets_the_not_found_page_for_anothers_job_and_webhooks(
        browser, console_url, team):
    project = f"/app/projects/{team['owner'].project_id}"
    page = signed_in(browser, console_url, team["stranger"])
    try:
        for path in (f"/app/jobs/{team['job_id']}", f"{project}/webhooks",
                     f"{project}/webhooks/{team['webhook_id']}"):
            assert page.goto(path).status == 404, path
            assert page.get_by_role("heading", level=1).inner_text() == "Not found", path
            assert page.get_by_role("button", name="Send a ping").count() == 0
            assert page.get_by_role("button", name="Cancel the job").count() == 0
    finally:
        page.context.close()


def test_a_viewer_reads_the_webhooks_page_with_no_control_and_no_project_for_a_job(
        browser, console_url, team):
    project = f"/app/projects/{team['owner'].project_id}"
    page = signed_in(browser, console_url, team["viewer"])
    try:
        assert page.goto(f"{project}/webhooks").status == 200
        main = page.get_by_role("main")
        assert "you are a viewer of it" in main.inner_text()
        assert main.locator("form, button, input, select").count() == 0
        assert page.goto("/app/jobs").status == 200
        offered = page.get_by_label("Project", exact=True).locator("option").all_inner_texts()
        assert PROJECT not in offered
    finally:
        page.context.close()


def test_a_user_gets_the_not_allowed_page_for_models(browser, console_url, team):
    page = signed_in(browser, console_url, team["owner"])
    try:
        assert page.goto("/app/admin/models").status == 403
        assert page.get_by_role("heading", level=1).inner_text() == "Not allowed"
    finally:
        page.context.close()


def test_a_ping_posted_without_the_csrf_token_sends_nothing(browser, console_url,
                                                            console_app, team):
    owner = team["owner"]
    webhook = f"/app/projects/{owner.project_id}/webhooks/{team['webhook_id']}"
    page = signed_in(browser, console_url, owner)
    try:
        page.goto(webhook)
        action = page.locator("form", has=page.get_by_role(
            "button", name="Send a ping")).get_attribute("action")
        status = page.evaluate("""async (action) => (await fetch(action, {
            method: 'POST', body: new URLSearchParams({})})).status""", action)
        assert status == 400
    finally:
        page.context.close()
    deliveries = call_api(console_app, owner, "GET",
                          f"/projects/{owner.project_id}/webhooks/{team['webhook_id']}"
                          "/deliveries")
    assert deliveries["items"] == []
