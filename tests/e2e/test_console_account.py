"""The account's pages in Chromium: an API key made, used, shown once and revoked after a
confirmation; the password changed while this browser stays signed in."""

from __future__ import annotations

import re

import pytest

from tests.e2e.driver import PASSWORD, accessibility_violations, seed, sign_in

pytestmark = pytest.mark.slow

KEY = re.compile(r"^rsk_[0-9a-f]{12}_[A-Za-z0-9_-]+$")


def test_a_key_is_made_shown_once_used_and_revoked(page, console_app, console_url):
    user = seed(console_app, "keys@example.com")
    sign_in(page, user.email)
    page.get_by_role("link", name="Account", exact=True).click()
    page.get_by_role("link", name="your API keys").click()
    page.wait_for_url(re.compile(r"/app/account/keys$"))
    page.get_by_label("Name").fill("nightly export")
    page.get_by_label("scans:read").check()
    page.get_by_role("button", name="Make the key").click()
    page.wait_for_url(re.compile(r"/app/account/keys$"))
    key = page.get_by_label("The key").input_value()
    assert KEY.match(key), key
    bearer = {"Authorization": f"Bearer {key}"}
    assert page.request.get("/api/v1/scans", headers=bearer).status == 200
    page.reload()
    assert page.get_by_label("The key").count() == 0
    assert key not in page.content()

    row = page.get_by_role("row").filter(has_text="nightly export")
    questions, posts = [], []
    page.on("request", lambda request: request.method == "POST" and posts.append(request.url))

    def answer(dialog, accept):
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, accept=False))
    row.get_by_role("button", name=re.compile("^Revoke")).click()
    page.evaluate("() => new Promise((done) => setTimeout(done, 0))")
    assert len(questions) == 1 and questions[0].startswith("Revoke the key nightly export")
    assert posts == []
    page.once("dialog", lambda dialog: answer(dialog, accept=True))
    with page.expect_navigation():
        row.get_by_role("button", name=re.compile("^Revoke")).click()
    assert "Key nightly export revoked" in page.locator(".flash").inner_text()
    assert page.request.get("/api/v1/scans", headers=bearer).status == 401


def test_the_password_is_changed_and_this_browser_stays_signed_in(page, console_app):
    user = seed(console_app, "changes@example.com")
    sign_in(page, user.email)
    page.goto("/app/account")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password", exact=True).fill("a brand new violet staircase")
    page.get_by_label("New password again").fill("a brand new violet staircase")
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url(re.compile(r"/app/account$"))
    assert "Password changed" in page.locator(".flash").inner_text()
    assert page.goto("/app/scans").status == 200
    assert page.url.endswith("/app/scans")  # not sent to sign in
    assert page.request.get("/api/v1/auth/me", headers=user.headers).status == 401


def test_another_session_is_seen_and_ended_while_this_one_carries_on(page, console_app):
    user = seed(console_app, "sessions@example.com")  # its API login is the other session
    sign_in(page, user.email)
    page.goto("/app/account")
    table = page.get_by_role("table", name=re.compile("^Your sessions"))
    mine = table.get_by_role("row").filter(has_text="This session")
    assert "Chrome" in mine.inner_text()
    other = table.get_by_role("row").filter(has=page.get_by_role("button", name=re.compile(
        "^End the session")))
    assert other.count() == 1
    with page.expect_navigation():
        other.get_by_role("button").click()
    assert "Session ended" in page.locator(".flash").inner_text()
    assert page.request.get("/api/v1/auth/me", headers=user.headers).status == 401
    assert table.get_by_role("row").count() == 2  # the header and this session
    assert page.goto("/app/scans").status == 200 and page.url.endswith("/app/scans")


FIREFOX_ON_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 "
                      "Firefox/140.0")


def test_sessions_say_browser_system_and_last_activity(page, browser, console_app,
                                                        console_url, axe_script):
    from datetime import timedelta

    from sqlalchemy import update

    from service.db import AuthSession, User, utcnow
    from service.extensions import db

    user = seed(console_app, "activity@example.com")
    elsewhere = browser.new_context(base_url=console_url, user_agent=FIREFOX_ON_WINDOWS)
    try:
        sign_in(elsewhere.new_page(), user.email)
    finally:
        elsewhere.close()
    with console_app.app_context():  # the other sign-ins were last used five minutes ago
        db.session.execute(update(AuthSession).where(
            AuthSession.user_id == User.id, User.email == user.email)
            .values(last_active_at=utcnow() - timedelta(minutes=5, seconds=5)))
        db.session.commit()
    sign_in(page, user.email)
    page.goto("/app/account")

    table = page.get_by_role("table", name=re.compile("^Your sessions"))
    mine = table.get_by_role("row").filter(has_text="This session")
    firefox = table.get_by_role("row").filter(has_text="Firefox")
    assert "HeadlessChrome on Linux · last active just now" in mine.inner_text()
    assert "Firefox on Windows · last active 5 min ago" in firefox.inner_text()
    assert "Gecko/20100101" not in table.inner_text()  # no raw User-Agent
    assert accessibility_violations(page, axe_script) == []
