"""The Account page's sessions, as a browser uses them: each sign-in is listed with this one
marked, ending another stops its tokens while this one carries on, "End all other sessions"
keeps only this one, another user's session id changes nothing, and a form without its CSRF
token is refused."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import update

from service.db import AuthSession, utcnow
from service.extensions import db
from tests.console_browser import REFUSED_FORM, csrf_of, html, sign_in

ACCOUNT = "/app/account"
END = re.compile(r'<form method="post" action="(/app/account/sessions/[^"]+/end)"')


def _browser(app, email, agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"):
    browser = app.test_client()
    browser.environ_base["HTTP_USER_AGENT"] = agent
    assert sign_in(browser, email).status_code == 302
    return browser


def _end(browser, action, **data):
    return browser.post(action, data={"csrf_token": csrf_of(browser, ACCOUNT), **data})


def _refreshes(client, tokens) -> int:
    return client.post("/api/v1/auth/refresh",
                       json={"refresh_token": tokens["refresh_token"]}).status_code


def test_two_sign_ins_are_two_sessions_and_ending_the_other_stops_it(app, client, accounts):
    user = accounts.register()
    other = _browser(app, user["email"], agent="Mozilla/5.0 (iPhone) <b>Safari</b>")
    mine = _browser(app, user["email"])

    page = html(mine.get(ACCOUNT))
    section = page.split('id="sessions-heading"')[1].split("</section>")[0]
    assert section.count("<tr>") == 3  # the header and two sessions
    assert section.count("This session") == 1
    assert "<strong>Firefox on Linux</strong> · last active" in section
    assert "Mobile Safari UI/WKWebView on iOS" in section  # parsed, never the raw string
    assert "<b>" not in section and "&lt;b&gt;" not in section
    [action] = END.findall(section)  # this one has no "End" button, the other has

    ended = _end(mine, action)

    assert ended.status_code == 302 and ended.headers["Location"] == ACCOUNT
    assert "Session ended: it is signed out." in html(mine.get(ACCOUNT))
    assert other.get(ACCOUNT).headers["Location"].startswith("/app/sign-in")
    assert mine.get(ACCOUNT).status_code == 200
    assert END.findall(html(mine.get(ACCOUNT))) == []


def test_each_session_says_its_browser_and_when_it_was_last_active(app, accounts):
    user = accounts.register()
    _browser(app, user["email"], agent="curl/8.5.0")
    _browser(app, user["email"], agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64) "
             "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36")
    _browser(app, user["email"], agent="made-up/1 (nothing known)")
    mine = _browser(app, user["email"])
    with app.app_context():
        db.session.execute(update(AuthSession).where(AuthSession.user_id == user["id"])
                           .values(last_active_at=utcnow() - timedelta(minutes=5, seconds=5)))
        db.session.commit()

    section = html(mine.get(ACCOUNT)).split('id="sessions-heading"')[1]

    assert "<strong>Chrome on Windows</strong> · last active <time" in section
    assert section.count(">5 min ago</time>") == 3  # the others; this one is just now
    assert ">just now</time>" in section
    assert "<strong>curl</strong>" in section
    assert "<strong>made-up/1 (nothing known)</strong>" in section


def test_another_users_sessions_are_not_listed(app, accounts):
    victim = accounts.register()
    _browser(app, victim["email"], agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0")
    attacker = accounts.register()
    browser = _browser(app, attacker["email"])

    section = html(browser.get(ACCOUNT)).split('id="sessions-heading"')[1].split("</section>")[0]

    assert section.count("<tr>") == 2 and "Chrome on Linux" not in section


def test_ending_the_other_sessions_stops_their_refresh_tokens(app, client, accounts):
    user = accounts.register()
    api_login = accounts.login(user["email"])
    mine = _browser(app, user["email"])

    ended = mine.post("/app/account/sessions/end-others",
                      data={"csrf_token": csrf_of(mine, ACCOUNT)})

    assert ended.status_code == 302
    assert "Your other sessions have ended." in html(mine.get(ACCOUNT))
    assert _refreshes(client, api_login) == 401
    assert mine.get(ACCOUNT).status_code == 200


def test_another_users_session_is_a_404_that_changes_nothing(app, client, accounts):
    victim = accounts.register()
    theirs = accounts.login(victim["email"])
    session_id = client.get("/api/v1/auth/sessions", headers={
        "Authorization": f"Bearer {theirs['access_token']}"}).get_json()["items"][0]["id"]
    attacker, _ = accounts.user()
    browser = _browser(app, attacker["email"])

    for target in (session_id, "not-a-session", "%3Fx=1"):
        refused = _end(browser, f"/app/account/sessions/{target}/end")
        assert refused.status_code == 404, target
        assert "No such session." in html(refused)
    assert _refreshes(client, theirs) == 200


def test_forms_without_their_csrf_token_change_nothing(app, client, accounts):
    user = accounts.register()
    api_login = accounts.login(user["email"])
    browser = _browser(app, user["email"])
    [action] = END.findall(html(browser.get(ACCOUNT)))

    for path in (action, "/app/account/sessions/end-others"):
        refused = browser.post(path, data={})
        assert refused.status_code == 400 and f"<p>{REFUSED_FORM}</p>" in html(refused)
    assert _refreshes(client, api_login) == 200


def test_a_stranger_is_sent_to_sign_in(app):
    stranger = app.test_client()
    for path in ("/app/account/sessions/end-others",
                 "/app/account/sessions/00000000-0000-0000-0000-000000000000/end"):
        token = csrf_of(stranger, "/app/sign-in")
        sent = stranger.post(path, data={"csrf_token": token})
        assert sent.status_code == 302 and sent.headers["Location"].startswith("/app/sign-in")
