"""The web console's core, as a browser uses it through Flask's test client: signing in and
out, the session cookie and its end, CSRF, the scan page and its result, corrections,
history, and the HTML error pages. Chromium drives the same pages in tests/e2e/."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from docx import Document

from service.analysis.labels import LABELS, RISK_LABELS
from service.scans.titles import title_of
from tests.console_browser import CSRF, REFUSED_FORM, UNSAFE_TARGETS, csrf_of, html, sign_in
from tests.helpers import PASSWORD, Accounts

RISKY = ("Our only supplier of the sensor chips is in financial trouble and may stop "
         "deliveries. The team had lunch together on Friday.")
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


@pytest.fixture
def browser(app, accounts):
    """A signed-in browser: (test client with the console cookie, the user)."""
    user, _ = accounts.user()
    client = app.test_client()
    assert sign_in(client, user["email"]).status_code == 302
    return client, user


@pytest.fixture
def scan_browser(scan_app):
    user = Accounts(scan_app, scan_app.test_client()).register()
    client = scan_app.test_client()
    assert sign_in(client, user["email"]).status_code == 302
    return client, user


# --------------------------------------------------------------------- signing in and out


def test_the_root_leads_to_the_sign_in_page_when_signed_out(client):
    assert client.get("/").headers["Location"] == "/app/"
    assert client.get("/app/").headers["Location"] == "/app/sign-in"
    page = html(client.get("/app/sign-in"))
    assert '<label for="email">Email</label>' in page
    assert '<label for="password">Password</label>' in page


def test_a_protected_page_sends_to_sign_in_and_back_after_it(app, accounts):
    user = accounts.register()
    client = app.test_client()
    response = client.get("/app/scans?q=report")
    assert response.status_code == 302
    assert response.headers["Location"] == "/app/sign-in?next=/app/scans?q%3Dreport"
    signed = sign_in(client, user["email"], next="/app/scans?q=report")
    assert signed.headers["Location"] == "/app/scans?q=report"


@pytest.mark.parametrize("target", UNSAFE_TARGETS)
def test_sign_in_never_sends_the_browser_elsewhere(app, accounts, target):
    user = accounts.register()
    client = app.test_client()
    response = sign_in(client, user["email"], next=target)
    assert response.status_code == 302
    assert response.headers["Location"] == "/app/scan"
    assert client.get("/app/scans").status_code == 200  # signed in all the same


def test_a_wrong_password_is_said_in_words_and_signs_nobody_in(app, accounts):
    user = accounts.register()
    client = app.test_client()
    response = sign_in(client, user["email"], password="not the password at all")
    assert response.status_code == 401
    assert ('<p class="form-error" role="alert" id="sign-in-error">Incorrect email or '
            'password.</p>') in html(response)
    assert client.get("/app/scan").status_code == 302


def test_registering_signs_in_and_a_weak_password_is_refused_in_words(app):
    client = app.test_client()
    token = csrf_of(client, "/app/register")
    weak = client.post("/app/register", data={"email": "new@example.com",
                                              "password": "password", "csrf_token": token})
    assert weak.status_code == 422
    assert 'id="password-error"' in html(weak)
    token = csrf_of(client, "/app/register")
    made = client.post("/app/register", data={"email": "new@example.com",
                                              "password": PASSWORD, "csrf_token": token})
    assert made.headers["Location"] == "/app/scan"
    assert "new@example.com" in html(client.get("/app/scan"))


def test_the_session_cookie_is_httponly_lax_and_scoped_to_the_console(app, accounts):
    user = accounts.register()
    response = sign_in(app.test_client(), user["email"])
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("riskscan_console=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/app" in cookie
    assert "Secure" not in cookie  # plain HTTP here: a Secure cookie would never come back


def test_the_cookie_is_secure_behind_a_trusted_tls_proxy(make_app):
    app = make_app(TRUSTED_PROXIES=1)
    user = Accounts(app, app.test_client()).register()
    client = app.test_client()
    page = client.get("/app/sign-in", headers={"X-Forwarded-Proto": "https"})
    token = CSRF.search(html(page)).group(1)
    response = client.post("/app/sign-in", data={"email": user["email"], "password": PASSWORD,
                                                 "csrf_token": token},
                           headers={"X-Forwarded-Proto": "https",
                                    "Referer": "https://localhost/app/sign-in"})
    assert response.status_code == 302, html(response)
    assert "Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"]


def test_the_api_neither_reads_nor_sets_the_console_cookie(browser):
    client, _ = browser
    response = client.get("/api/v1/auth/me")
    assert response.status_code == 401  # the cookie is not a credential of the API
    assert "Set-Cookie" not in response.headers
    assert client.get("/health").headers.get("Set-Cookie") is None


def test_signing_out_ends_the_login_for_the_api_too(app, accounts):
    user = accounts.register()
    client = app.test_client()
    sign_in(client, user["email"])
    token = csrf_of(client)
    assert client.post("/app/sign-out", data={"csrf_token": token}).status_code == 302
    assert client.get("/app/scan").status_code == 302
    with client.session_transaction("/app/") as cookie:
        assert "token" not in cookie


def test_a_deactivated_user_is_signed_out_on_the_next_page(app, accounts, browser):
    client, user = browser
    _, admin = accounts.user("admin")
    response = app.test_client().patch(f"/api/v1/users/{user['id']}", headers=admin,
                                       json={"active": False})
    assert response.status_code == 200
    assert client.get("/app/scans").headers["Location"].startswith("/app/sign-in")


def test_a_password_change_ends_every_console_session(app, browser):
    client, user = browser
    tokens = Accounts(app, app.test_client()).login(user["email"])
    response = app.test_client().patch(
        f"/api/v1/users/{user['id']}", headers={"Authorization": f"Bearer {tokens['access_token']}"},
        json={"password": "a-whole-new-passphrase-9", "current_password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    assert client.get("/app/scans").headers["Location"].startswith("/app/sign-in")


def test_an_expired_access_token_is_renewed_for_the_same_login(app, accounts):
    user = accounts.register()
    client = app.test_client()
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        sign_in(client, user["email"])
        with client.session_transaction("/app/") as cookie:
            first = cookie["token"]
        clock.shift(timedelta(minutes=31))  # past the 30-minute access token
        assert client.get("/app/scans").status_code == 200
        with client.session_transaction("/app/") as cookie:
            assert cookie["token"] != first
        # Idle past a refresh token's lifetime (14 days): sign in again.
        clock.shift(timedelta(days=15))
        assert client.get("/app/scans").headers["Location"].startswith("/app/sign-in")


def test_a_login_ended_elsewhere_is_not_renewed(app, browser):
    client, _ = browser
    with client.session_transaction("/app/") as cookie:
        token = cookie["token"]
    assert app.test_client().post("/api/v1/auth/logout",
                                  headers={"Authorization": f"Bearer {token}"}).status_code == 204
    assert client.get("/app/scans").headers["Location"].startswith("/app/sign-in")


def test_a_forged_cookie_signs_nobody_in(app, accounts):
    client = app.test_client()
    client.set_cookie("riskscan_console", "eyJ0b2tlbiI6ImZvcmdlZCJ9.AAAAAA.forged", path="/app")
    assert client.get("/app/scans").headers["Location"].startswith("/app/sign-in")


# ----------------------------------------------------------------------------- CSRF


def test_a_form_without_its_csrf_token_is_refused_with_a_page(browser):
    client, _ = browser
    response = client.post("/app/sign-out")
    assert response.status_code == 400
    assert f"<p>{REFUSED_FORM}</p>" in html(response)
    assert client.get("/app/scans").status_code == 200  # still signed in


def test_a_token_of_another_session_is_refused(app, accounts, browser):
    client, _ = browser
    other = app.test_client()
    foreign = csrf_of(other, "/app/sign-in")
    response = client.post("/app/sign-out", data={"csrf_token": foreign})
    assert response.status_code == 400
    assert f"<p>{REFUSED_FORM}</p>" in html(response)
    assert client.get("/app/scans").status_code == 200  # still signed in


def test_the_sign_in_form_is_csrf_protected_too(app, accounts):
    """Login CSRF: another site must not sign a visitor in to the attacker's account."""
    user = accounts.register()
    client = app.test_client()
    response = client.post("/app/sign-in", data={"email": user["email"], "password": PASSWORD})
    assert response.status_code == 400
    assert f"<p>{REFUSED_FORM}</p>" in html(response)
    assert client.get("/app/scans").headers["Location"] == "/app/sign-in?next=/app/scans"


def database_rows(app) -> dict[str, list[str]]:
    """Every row of every table, as text: what a refused form must leave as it was."""
    from sqlalchemy import select

    from service.extensions import db

    with app.app_context():
        rows = {table.name: sorted(map(repr, db.session.execute(select(table)).all()))
                for table in db.metadata.sorted_tables}
        db.session.remove()
    return rows


def test_every_state_changing_console_route_refuses_a_form_without_its_token(keyword_app,
                                                                              team):
    """Walks the URL map, so that a route added later is held to it too: each POST, PUT,
    PATCH or DELETE under /app, from a signed-in admin who owns everything it names, with
    a form that would change something, is the refusal page (no token, a token of another
    session, a made-up one) and leaves every row of the database as it was."""
    from tests.jobs import Inert
    from tests.projects import register_of, scan_into

    client = team.client
    keyword_app.extensions["riskscan.jobs"] = Inert()  # the job below stays as it is
    promoted = client.patch(f"/api/v1/users/{team.owner['id']}", headers=team.admin_h,
                            json={"role": "admin"})
    assert promoted.status_code == 200, promoted.get_json()
    scan = scan_into(client, team.owner_h, team.id, "The vendor may not deliver. "
                                                    "The budget is overrun.")
    dismissed = client.patch(f"/api/v1/scans/{scan['scan_id']}/findings/"
                             f"{scan['data'][1]['id']}",
                             json={"category": "none", "scope": "later"}, headers=team.owner_h)
    assert dismissed.status_code == 200, dismissed.get_json()
    dismissals = client.get(f"/api/v1/projects/{team.id}/dismissals",
                            headers=team.owner_h).get_json()["items"]
    values = {"project_id": team.id, "scan_id": scan["scan_id"],
              "dismissal_id": dismissals[0]["id"],
              "invitation_id": client.post(
                  f"/api/v1/projects/{team.id}/invitations", headers=team.owner_h,
                  json={"email": "invited@example.com", "role": "viewer"}).get_json()["id"],
              "finding_id": scan["data"][0]["id"], "user_id": team.viewer["id"],
              "risk_id": register_of(client, team.owner_h, team.id)[0]["id"],
              "other_id": register_of(client, team.owner_h, team.id)[-1]["id"],
              "version": "minilm-any",  # the forms refuse before looking for it
              "webhook_id": "0f2b8e5c-6a34-4c1e-9d7a-3b5f1e2a4c6d",  # nor for these
              "delivery_id": "1f2b8e5c-6a34-4c1e-9d7a-3b5f1e2a4c6d",
              "session_id": client.get("/api/v1/auth/sessions", headers=team.owner_h
                                       ).get_json()["items"][0]["id"],
              "key_id": client.post("/api/v1/auth/api-keys", headers=team.owner_h, json={
                  "name": "kept", "scopes": ["scans:read"]}).get_json()["id"],
              "job_id": client.post("/api/v1/jobs", headers=team.owner_h, data={
                  "files": [(io.BytesIO(b"The vendor may slip."), "a.txt")]},
                  content_type="multipart/form-data").get_json()["job_id"],
              "token": off_link(keyword_app, team.owner["id"])}  # a real link's, not one-click
    form = {"text": "The budget is overrun again.", "name": "Sneaky", "description": "x",
            "email": "sneaky@example.com", "password": PASSWORD, "role": "owner",
            "status": "closed", "category": "legal", "notes": "forged"}
    browser = keyword_app.test_client()
    assert sign_in(browser, team.owner["email"]).status_code == 302
    foreign = csrf_of(keyword_app.test_client(), "/app/sign-in")

    routes = [(rule, method) for rule in keyword_app.url_map.iter_rules()
              if rule.rule.startswith("/app/") for method in sorted(rule.methods & STATE_CHANGING)]
    assert {rule.endpoint for rule, _ in routes} >= {
        "console.sign_in_page", "console.scan", "console.project_risk_update",
        "console.admin_delete_user"}, routes
    for rule, method in routes:
        missing = set(rule.arguments) - values.keys()
        assert not missing, f"{rule.rule}: give {sorted(missing)} a value above"
        path = rule.build(values, append_unknown=False)[1]
        before = database_rows(keyword_app)
        for token in ({}, {"csrf_token": foreign}, {"csrf_token": "made-up"}):
            response = browser.open(path, method=method, data={**form, **token})
            assert response.status_code == 400, (method, path, token, response.status_code)
            assert f"<p>{REFUSED_FORM}</p>" in html(response), (method, path)
        assert database_rows(keyword_app) == before, (method, path)
    assert browser.get("/app/scans").status_code == 200  # still signed in, as before


def off_link(app, user_id: str) -> str:
    from service.projects.owner_notices import off_token

    with app.app_context():
        return off_token(user_id, "risk_owner")


# --------------------------------------------------------------------- pages and errors


def test_console_pages_carry_a_strict_csp_and_the_api_keeps_its_own(browser):
    client, _ = browser
    page = client.get("/app/scan")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and "form-action 'self'" in csp
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert page.headers["Cache-Control"] == "no-store"
    api = client.get("/api/v1/nope")
    assert api.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert api.headers["Referrer-Policy"] == "no-referrer"


def test_no_page_has_an_inline_script_or_style(browser):
    client, _ = browser
    for path in ("/app/sign-in", "/app/scan", "/app/scans"):
        page = html(client.get(path))
        assert not re.search(r"<script(?![^>]*\bsrc=)", page), path
        assert " style=" not in page and "<style" not in page, path


def test_unknown_console_paths_are_html_pages_and_api_paths_stay_problems(browser):
    client, _ = browser
    page = client.get("/app/no-such-page")
    assert page.status_code == 404
    assert "Not found" in html(page) and 'href="/app/"' in html(page)
    assert client.get("/api/v1/no-such-thing").mimetype == "application/problem+json"
    assert client.post("/api/v1/auth/me").headers["Allow"]  # 405 keeps its Allow header


def test_an_unexpected_error_is_a_page_with_its_error_id(browser, monkeypatch, caplog):
    from service.console import session

    client, _ = browser

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(session.client, "call", broken)
    response = client.get("/app/scans")
    assert response.status_code == 500
    error_id = re.search(r"<code>([0-9a-f]{32})</code>", html(response)).group(1)
    assert "boom" not in html(response)
    assert error_id in caplog.text


def test_an_apis_refusal_is_said_in_one_sentence_with_its_fields_and_wait():
    """pages.words: what a flash, a form and the error page say of an answer that failed."""
    from werkzeug.datastructures import Headers

    from service.console.client import Answer
    from service.console.pages import words

    refused = Answer(422, Headers(), b"", {"detail": "Validation failed.", "errors": {
        "due_date": ["Not a valid date."], "color": "Unknown field."}},
        errors={"due_date": ["Not a valid date."], "color": "Unknown field."})
    assert words(refused) == "Validation failed. Due date: Not a valid date.; color: Unknown field."
    limited = Answer(429, Headers({"Retry-After": "17"}), b"", {"detail": "Slow down."})
    assert words(limited) == "Slow down. Try again in 17 seconds."
    refused = Answer(401, Headers({"Retry-After": "60"}), b"", {"detail": "Wrong."})
    assert words(refused) == "Wrong."  # a limited route's header, not a wait
    assert words(Answer(502, Headers(), b"<html>", None)) == "The service answered 502."
    # Each thing said once: a field's words that the detail (or another field) already
    # says are not said again ("The file is binary. Document: The file is binary.").
    binary = "The file is binary, not a text document."
    doubled = Answer(422, Headers(), b"", {"detail": binary},
                     errors={"document": [binary], "file": [binary, "Too big."]})
    assert words(doubled) == f"{binary} Document: Too big."
    # A setting the API's words name for whoever runs the service is left out, alone in its
    # parentheses or with words of its own; another parenthesis stays.
    ssrf = ("The URL is not allowed: its host must be public (WEBHOOK_ALLOWED_NETWORKS may "
            "allow others).")
    refused = Answer(422, Headers(), b"", {"detail": ssrf}, errors={"url": [ssrf]})
    assert words(refused) == "The URL is not allowed: its host must be public."
    limit = Answer(413, Headers(), b"", {"detail": "Over 10 (MAX_DOCUMENT_CHARS) (in all)."})
    assert words(limit) == "Over 10 (in all)."


def test_a_rate_limited_sign_in_says_when_to_retry(make_app):
    app = make_app(RATE_LIMIT_LOGIN_ACCOUNT="2 per minute")
    user = Accounts(app, app.test_client()).register()
    client = app.test_client()
    for _ in range(2):
        sign_in(client, user["email"], password="wrong password, twice")
    response = sign_in(client, user["email"])
    assert response.status_code == 429
    assert re.search(r"Try again in \d+ seconds", html(response))


# ------------------------------------------------------------- scanning and correcting


def test_a_pasted_text_comes_back_with_its_risks_marked(scan_browser):
    client, _ = scan_browser
    token = csrf_of(client)
    response = client.post("/app/scan", data={"text": RISKY, "csrf_token": token},
                           follow_redirects=True)
    assert response.status_code == 200
    page = html(response)
    marks = re.findall(r'<mark id="mark-\d+" data-category="(\w+)" data-score="(\d+%)"'
                       r'[^>]*>([^<]*)</mark>', page)
    assert marks, page
    assert any("supplier" in sentence for _, _, sentence in marks)
    assert "The team had lunch together on Friday." in page
    assert "Findings by category" in page


def stored_scans(app, user_id: str) -> int:
    from sqlalchemy import func, select

    from service.db import Scan
    from service.extensions import db

    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(Scan).where(
            Scan.user_id == user_id))
        db.session.remove()
    return count


def test_a_scan_redirects_to_its_page_and_a_reload_stores_no_second_scan(scan_app,
                                                                           scan_browser):
    """Post/Redirect/Get: the browser lands on the scan's own page, which a reload asks for
    again instead of posting the form a second time."""
    client, user = scan_browser
    posted = client.post("/app/scan", data={"text": RISKY, "csrf_token": csrf_of(client)})

    assert posted.status_code == 303
    assert re.fullmatch(r"/app/scans/[0-9a-f-]{36}", posted.headers["Location"])
    landed = client.get(posted.headers["Location"])  # the page right after: the whole text
    assert landed.status_code == 200
    assert "The team had lunch together on Friday." in html(landed)
    reloaded = client.get(posted.headers["Location"])  # a reload is that GET again
    assert reloaded.status_code == 200 and "Findings by category" in html(reloaded)
    assert stored_scans(scan_app, user["id"]) == 1


def test_hostile_text_is_shown_not_run(scan_browser):
    client, _ = scan_browser
    text = RISKY + ' <script>alert(1)</script> <img src=x onerror="alert(1)">'
    response = client.post("/app/scan", data={"text": text, "csrf_token": csrf_of(client)},
                           follow_redirects=True)
    page = html(response)
    assert "<script>alert(1)" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_an_empty_text_is_the_form_again_with_the_apis_words(scan_browser):
    client, _ = scan_browser
    response = client.post("/app/scan", data={"text": "  ", "csrf_token": csrf_of(client)})
    assert response.status_code == 422
    # Said once, beside the field: the API's sentence, not the field's shorter words for it.
    assert ('<p class="field-error" id="text-error">There is no text to analyse: the text is '
            'empty or whitespace.</p>') in html(response)
    assert "Empty or whitespace only." not in html(response)
    assert 'role="alert"' not in html(response)


@pytest.fixture
def limited_browser(make_app, scan_model_dir):
    """A signed-in browser of an app whose texts may have 300 characters at most."""
    app = make_app(MODEL_DIR=str(scan_model_dir), MAX_DOCUMENT_CHARS=300)
    user = Accounts(app, app.test_client()).register()
    client = app.test_client()
    assert sign_in(client, user["email"]).status_code == 302
    return app, client, user


def test_a_browsers_line_breaks_count_once_against_the_text_limit(limited_browser):
    """A browser sends a text area's line breaks as CRLF: 21 lines of 13 characters are 293
    characters to scan (within 300), not 313."""
    app, client, user = limited_browser
    text = "\r\n".join([RISKY[:13]] * 21)

    posted = client.post("/app/scan", data={"text": text, "csrf_token": csrf_of(client)})

    assert posted.status_code == 303, html(posted)
    from sqlalchemy import select

    from service.db import Scan
    from service.extensions import db

    with app.app_context():
        stored = db.session.scalars(select(Scan.text_length).where(
            Scan.user_id == user["id"])).all()
        db.session.remove()
    assert stored == [293]


def test_a_text_over_the_limit_is_said_in_words_without_the_settings_name(limited_browser):
    _, client, _ = limited_browser
    text = "The vendor may miss the deadline. " * 10  # 340 characters

    refused = client.post("/app/scan", data={"text": text, "csrf_token": csrf_of(client)})

    assert refused.status_code == 413
    page = html(refused)
    assert ('<p class="form-error" role="alert">The text has 340 characters; the limit is '
            '300.</p>') in page
    assert "MAX_DOCUMENT_CHARS" not in page
    assert text in page  # the form again, with the text to shorten


def test_a_file_and_a_text_together_are_refused_as_the_api_refuses_them(scan_app,
                                                                        scan_browser):
    client, user = scan_browser
    refused = client.post("/app/scan", content_type="multipart/form-data", data={
        "csrf_token": csrf_of(client), "text": RISKY,
        "file": (io.BytesIO(RISKY.encode()), "week-1.txt")})

    assert refused.status_code == 422
    assert ('<p class="field-error" id="text-error">Send either text or a file, not both.</p>'
            in html(refused))
    assert "Leave empty when a file is sent." not in html(refused)  # said once
    assert stored_scans(scan_app, user["id"]) == 0


def test_an_oversized_upload_is_refused_in_words(make_app, scan_model_dir):
    app = make_app(MODEL_DIR=str(scan_model_dir), MAX_UPLOAD_MB=0.01)
    user = Accounts(app, app.test_client()).register()
    client = app.test_client()
    sign_in(client, user["email"])
    token = csrf_of(client)
    response = client.post("/app/scan", data={
        "csrf_token": token, "file": (io.BytesIO(b"x" * 20_000), "big.txt")},
        content_type="multipart/form-data")
    assert response.status_code == 413
    assert "Too large" in html(response)


def test_a_docx_is_scanned_and_its_original_downloads(scan_browser):
    client, _ = scan_browser
    document = Document()
    document.add_paragraph(RISKY)
    data = io.BytesIO()
    document.save(data)
    response = client.post("/app/scan", data={
        "csrf_token": csrf_of(client), "file": (io.BytesIO(data.getvalue()), "week-1.docx")},
        content_type="multipart/form-data", follow_redirects=True)
    assert response.status_code == 200, html(response)
    page = html(response)
    assert "week-1.docx" in page and "<mark" in page
    scan_id = re.search(r"/app/scans/([0-9a-f-]{36})/file", page).group(1)
    original = client.get(f"/app/scans/{scan_id}/file")
    assert original.status_code == 200 and original.data == data.getvalue()
    assert "week-1.docx" in original.headers["Content-Disposition"]


def _scan(client) -> tuple[str, str]:
    page = html(client.post("/app/scan", data={"text": RISKY, "csrf_token": csrf_of(client)},
                            follow_redirects=True))
    scan_id = re.search(r'/app/scans/([0-9a-f-]{36})"', page).group(1)
    finding = re.search(r"/findings/(\d+)", page).group(1)
    return scan_id, finding


def test_a_correction_is_saved_from_the_script_and_from_the_form(scan_browser):
    client, _ = scan_browser
    scan_id, finding = _scan(client)
    token = csrf_of(client)
    path = f"/app/scans/{scan_id}/findings/{finding}"
    by_script = client.post(path, data={"category": "legal"},
                            headers={"Accept": "application/json", "X-CSRFToken": token})
    assert by_script.status_code == 204
    by_form = client.post(path, data={"category": "none", "csrf_token": token})
    assert by_form.headers["Location"] == f"/app/scans/{scan_id}#finding-{finding}"
    page = html(client.get(f"/app/scans/{scan_id}"))
    assert "is not a risk (the model said" in page  # what the answer recorded
    chosen = re.search(rf'id="category-{finding}".*?<option value="(\w+)" selected', page, re.DOTALL)
    assert chosen.group(1) == "none"
    refused = client.post(path, data={"category": "nonsense"},
                          headers={"Accept": "application/json", "X-CSRFToken": token})
    assert refused.status_code == 422
    assert refused.get_json() == {"detail": "The request has invalid or missing fields. "
                                            "Category: Must be one of: " + ", ".join(LABELS)
                                            + "."}
    page = html(client.get(f"/app/scans/{scan_id}"))
    chosen = re.search(rf'id="category-{finding}".*?<option value="(\w+)" selected', page, re.DOTALL)
    assert chosen.group(1) == "none"  # as it was


def test_another_users_scan_is_a_404_page(scan_app, scan_browser):
    client, _ = scan_browser
    scan_id, finding = _scan(client)
    stranger = Accounts(scan_app, scan_app.test_client()).register()
    other = scan_app.test_client()
    sign_in(other, stranger["email"])
    token = csrf_of(other)
    assert other.get(f"/app/scans/{scan_id}").status_code == 404
    assert other.get(f"/app/scans/{scan_id}/file").status_code == 404
    assert other.post(f"/app/scans/{scan_id}/delete", data={"csrf_token": token}
                      ).status_code == 404
    assert other.post(f"/app/scans/{scan_id}/findings/{finding}",
                      data={"category": "none", "csrf_token": token}).status_code == 404
    assert client.get(f"/app/scans/{scan_id}").status_code == 200  # still the owner's


def test_history_lists_filters_and_deletes(scan_browser):
    client, _ = scan_browser
    scan_id, _ = _scan(client)
    listing = html(client.get("/app/scans"))
    assert scan_id in listing and f">{title_of(RISKY)}</a>" in listing  # named by its text
    today = datetime.now(UTC).date()
    assert scan_id in html(client.get(f"/app/scans?created_after={today}&created_before={today}"))
    later = today + timedelta(days=1)
    assert scan_id not in html(client.get(f"/app/scans?created_after={later}"))
    refused = client.get("/app/scans?category=weather")
    assert refused.status_code == 422
    assert ('<p class="form-error" role="alert">The request has invalid or missing fields. '
            f'Category: Must be one of: {", ".join(RISK_LABELS)}.</p>') in html(refused)
    token = csrf_of(client)
    deleted = client.post(f"/app/scans/{scan_id}/delete", data={"csrf_token": token})
    assert deleted.headers["Location"] == "/app/scans"
    assert scan_id not in html(client.get("/app/scans"))
    assert client.get(f"/app/scans/{scan_id}").status_code == 404


@pytest.mark.parametrize(("query", "label"), [
    ("created_before=9999-12-31", "Until"),  # until the day's end: the day after overflows
    ("created_after=0001-01-01T00:00:00%2B00:01", "From"),  # as typed, for the API to judge
])
def test_a_date_filter_out_of_range_is_the_forms_error(browser, query, label):
    client, _ = browser
    refused = client.get(f"/app/scans?{query}")

    assert refused.status_code == 422
    error = re.search(r'<p class="form-error" role="alert">(.*?)</p>', html(refused))
    assert error and f"{label}: " in error.group(1), html(refused)


def test_a_pages_api_call_is_logged_under_the_pages_request_id(scan_browser, caplog):
    """A log search for one request id finds the page and the API call it made."""
    client, user = scan_browser
    caplog.set_level("INFO", logger="riskscan.access")
    client.get("/app/scans", headers={"X-Request-ID": "page-1234567890"})
    lines = [record.fields for record in caplog.records if hasattr(record, "fields")]
    mine = {line["path"]: line for line in lines if line["request_id"] == "page-1234567890"}
    assert set(mine) >= {"/app/scans", "/api/v1/scans"}, lines
    assert mine["/api/v1/scans"]["user_id"] == user["id"]
