"""The console's browser-side defences, in Chromium: the CSP on every page and no page that
breaks it, scanned markup shown as text, cross-site forms refused, the session cookie out of
scripts' reach.
"""

from __future__ import annotations

import contextlib
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest

from tests.e2e.driver import (
    CONSOLE_CSP,
    PROJECT_REPORTS,
    SECURITY_RISK,
    STATUS_REPORT,
    new_page,
    scan_text,
    seed,
    sign_in,
)

pytestmark = pytest.mark.slow

VICTIM = "victim@example.com"
SCRIPT = "<script>alert(1)</script>"
IMAGE = "<img src=x onerror=alert(1)>"
MARKUP_REPORT = "\n".join([f"Someone pasted {SCRIPT} into the wiki page.",
                           f"The template now shows {IMAGE} on every page.", SECURITY_RISK])
REFUSED = "This form was not sent from a page of this console"


@pytest.fixture(scope="module")
def victim(browser, console_url, console_app, browser_errors):
    """A signed-in user with a project of two reports and a scan of their own; their page
    is watched for browser errors."""
    seeded = seed(console_app, VICTIM, project="Data centre move", reports=PROJECT_REPORTS)
    page = new_page(browser, console_url, browser_errors)
    sign_in(page, VICTIM)
    scan_text(page, STATUS_REPORT)
    scan_id = re.search(r"/app/scans/([^/\"]+)\"",
                        page.locator(".meta").inner_html()).group(1)
    yield SimpleNamespace(page=page, project_id=seeded.project_id, scan_id=scan_id)
    page.context.close()


def console_pages(victim) -> list[str]:
    project = f"/app/projects/{victim.project_id}"
    return ["/app/scan", f"/app/scan?project_id={victim.project_id}",
            f"/app/scans/{victim.scan_id}", "/app/scans", "/app/projects", project,
            f"{project}/changes", f"{project}/members", f"{project}/webhooks", "/app/review",
            "/app/jobs", "/app/account", "/app/account/keys"]


def test_every_console_page_is_answered_with_the_csp(victim, browser, console_url):
    page = victim.page
    documents = []

    def keep(response):
        if response.request.resource_type == "document":
            documents.append(response)

    page.on("response", keep)
    try:
        for path in console_pages(victim):
            assert page.goto(path).status == 200, path
        answer = scan_text(page, "The vendor may not renew the support contract.")
        assert answer.status == 303
    finally:
        page.remove_listener("response", keep)

    anonymous = new_page(browser, console_url)
    try:
        anonymous.on("response", keep)
        for path, status in (("/app/sign-in", 200), ("/app/register", 200),
                             ("/app/does-not-exist", 404)):
            assert anonymous.goto(path).status == status, path
        anonymous.goto("/app/projects")  # 302 to the sign-in page: both answers count
    finally:
        anonymous.context.close()
    # What a non-admin's page of administration is: a refusal, with the same headers.
    refused = page.request.get("/app/admin/users")
    assert refused.status == 403 and refused.headers["content-type"].startswith("text/html")

    assert len(documents) >= len(console_pages(victim)) + 5
    for response in documents + [refused]:
        headers = response.headers
        where = f"{response.url} ({response.status})"
        assert urlsplit(response.url).path.startswith("/app"), where
        assert headers.get("content-security-policy") == CONSOLE_CSP, where
        assert headers.get("x-frame-options") == "DENY", where
        assert headers.get("x-content-type-options") == "nosniff", where
        assert headers.get("referrer-policy") == "same-origin", where
        assert headers.get("cache-control") == "no-store", where


def test_the_console_pages_cause_no_browser_errors(victim, browser_errors):
    """Every page the victim saw (the CSP above enforced) ran without a console error: no
    inline script or style, no resource refused or missing, no uncaught exception."""
    page = victim.page
    for path in console_pages(victim):
        page.goto(path)
        page.wait_for_load_state("load")
    browser_errors.assert_none()


def test_scanned_markup_is_shown_as_text_and_runs_nothing(victim, console_url):
    """Were the markup run, the image would be fetched (img-src 'self' allows /app/…/x)
    and its onerror would alert before the page's load event; neither happens."""
    page = victim.page
    dialogs, fetched = [], []

    def on_dialog(dialog):
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_request(request):
        if request.resource_type != "document":
            fetched.append(request.url)

    page.on("dialog", on_dialog)
    page.on("request", on_request)
    try:
        answer = scan_text(page, MARKUP_REPORT)
        assert answer.status == 303
        page.wait_for_load_state("load")
        document = page.locator(".text").inner_text()
        assert SCRIPT in document and IMAGE in document
        assert page.locator("main script, main img").count() == 0
        scan_id = re.search(r"/app/scans/([^/\"]+)\"",
                            page.locator(".meta").inner_html()).group(1)

        page.goto(f"/app/scans/{scan_id}")  # the findings in their contexts; waits for load
        assert page.locator("main script, main img").count() == 0
        assert SECURITY_RISK in page.locator("main").inner_text()
    finally:
        page.remove_listener("dialog", on_dialog)
        page.remove_listener("request", on_request)
    assert dialogs == []
    # Only the console's own stylesheet and script, whatever the cache kept of them.
    assert set(fetched) <= {f"{console_url}/app/static/console.css",
                            f"{console_url}/app/static/console.js"}, fetched


class _Attacker(BaseHTTPRequestHandler):
    """Another site: a page whose form posts to the console by itself (its own script)."""

    form = ""

    def do_GET(self):  # http.server's name for it
        if self.path == "/submit.js":
            body, kind = b"document.getElementById('attack').submit();\n", "text/javascript"
        else:
            body = (f"<!doctype html><title>Win a prize</title>{self.form}"
                    f"<script src='/submit.js'></script>").encode()
            kind = "text/html; charset=utf-8"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def attacker_site(form: str):
    handler = type("Attacker", (_Attacker,), {"form": form})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def scan_ids_in_history(page) -> set[str]:
    page.goto("/app/scans")
    hrefs = page.locator("table a[href*='/app/scans/']").evaluate_all(
        "(links) => links.map((a) => a.getAttribute('href'))")
    return {m.group(1) for href in hrefs if (m := re.search(r"/app/scans/([^/]+)$", href))}


# 127.0.0.1 on another port is another origin of the same site: the Lax cookie goes along,
# and the missing CSRF token alone refuses the form. localhost is another site: the
# browser does not even send the cookie.
@pytest.mark.parametrize("attacker_host", ["127.0.0.1", "localhost"])
@pytest.mark.parametrize("target", ["delete", "scan"])
def test_a_cross_site_form_post_is_refused(victim, console_url, attacker_host, target):
    page = victim.page
    before = scan_ids_in_history(page)
    assert victim.scan_id in before
    if target == "delete":
        action = f"{console_url}/app/scans/{victim.scan_id}/delete"
        fields = ""
    else:
        action = f"{console_url}/app/scan"
        fields = "<textarea name='text'>The attacker's vendor risk report.</textarea>"
    form = f"<form id='attack' method='post' action='{action}'>{fields}</form>"

    # The victim, signed in, opens the attacker's page in a tab of the same browser.
    attack = page.context.new_page()
    try:
        with attacker_site(form) as port:
            with attack.expect_response(lambda r: r.url == action) as refused:
                attack.goto(f"http://{attacker_host}:{port}/")
            attack.wait_for_load_state()
            response = refused.value
            cookie_sent = "riskscan_console=" in (response.request.all_headers().get("cookie")
                                                  or "")
            assert response.status == 400
            assert response.headers["content-type"].startswith("text/html")
            assert REFUSED in attack.locator("main").inner_text()
    finally:
        attack.close()
    assert cookie_sent == (attacker_host == "127.0.0.1")

    assert scan_ids_in_history(page) == before  # nothing deleted, nothing scanned
    assert page.goto(f"/app/scans/{victim.scan_id}").status == 200


def test_the_page_script_cannot_post_without_the_csrf_token(victim):
    """The correction's fetch carries the token in a header; one without it is refused."""
    page = victim.page
    page.goto(f"/app/scans/{victim.scan_id}")
    action = page.locator("form.correct-form").first.get_attribute("action")
    status = page.evaluate("""async (action) => (await fetch(action, {
        method: 'POST', body: new URLSearchParams({category: 'none'}),
        headers: {'Accept': 'application/json'}})).status""", action)
    assert status == 400
    first = page.locator("form.correct-form select").first
    page.reload()
    assert first.input_value() != "none"


def test_the_session_cookie_is_httponly_and_samesite_lax(victim, console_url):
    page = victim.page
    page.goto("/app/scan")
    cookies = {c["name"]: c for c in page.context.cookies(console_url + "/app/")}
    session = cookies["riskscan_console"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert session["path"] == "/app"
    assert "riskscan_console" not in page.evaluate("() => document.cookie")
