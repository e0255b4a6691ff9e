"""Riskscan writes to people (issue #87), tested against a real SMTP server on loopback
(tests/mail_relay.py, aiosmtpd): an invitation's link and a password reset's link arrive
with the right headers and parts; with STARTTLS and a login; a relay that is down, then back,
gets each message exactly once; a request never waits on the relay; without SMTP_HOST
nothing is written. Each test waits on the relay's messages and the engine's idleness,
never on a clock.
"""

from __future__ import annotations

import re
import socket
from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy import select

from service.config import ConfigError, Settings
from service.db import AuditEvent, MailMessage
from service.extensions import db
from testkit.webhook_receiver import certificate
from tests.helpers import PASSWORD, Accounts, assert_problem
from tests.mail_relay import Relay, free_port

NEWCOMER = "newcomer@example.com"
LINK = re.compile(r"https?://\S+/app/register\?invitation=([\w-]+)")
RESET = re.compile(r"https?://\S+/app/password/reset\?token=([\w.-]+)")


def settled(app) -> None:
    assert app.extensions["riskscan.jobs"].mail_later.wait_idle(60), "a message never settled"


def rows(app) -> list[MailMessage]:
    with app.app_context():
        found = db.session.scalars(select(MailMessage).order_by(MailMessage.created_at)).all()
        db.session.expunge_all()
        db.session.remove()
        return found


def project_of(client, headers) -> dict:
    made = client.post("/api/v1/projects", json={"name": "Billing\r\nBcc: all@example.com"},
                       headers=headers)
    assert made.status_code == 201, made.get_json()
    return made.get_json()


def invite(client, headers, project_id, email=NEWCOMER):
    return client.post(f"/api/v1/projects/{project_id}/invitations", headers=headers,
                       json={"email": email, "role": "editor"})


def test_an_invitation_is_mailed_with_its_link_in_both_parts(make_app, relay):
    app = make_app(**relay.settings())
    client = app.test_client()
    owner, headers = Accounts(app, client).user()
    project = project_of(client, headers)
    answer = invite(client, headers, project["id"])
    assert answer.status_code == 201 and answer.get_json()["emailed"] is True
    recipients, message = relay.next()
    assert recipients == [NEWCOMER] and message["To"] == NEWCOMER
    assert message["From"] == "Riskscan <riskscan@example.com>"
    # The project's name carried a line break: one subject line, no header injected.
    assert message["Subject"] == (f"{owner['email']} invited you to Billing Bcc: "
                                  "all@example.com on Riskscan")
    assert message["Bcc"] is None and message["Message-ID"] and message["Date"]
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    token = answer.get_json()["token"]
    assert LINK.search(text)[1] == token and f"invitation={token}" in html
    # The link signs the newcomer up into the project.
    joined = client.post("/api/v1/auth/register", json={
        "email": NEWCOMER, "password": PASSWORD, "invitation": LINK.search(text)[1]})
    assert joined.status_code == 201
    assert joined.get_json()["joined"][0]["project_id"] == project["id"]
    settled(app)
    assert relay.nothing_more()
    [row] = rows(app)
    assert (row.status, row.attempts, row.kind, row.error) == ("sent", 1, "invitation", None)


def test_a_resend_mails_a_new_link_and_the_old_one_claims_nothing(make_app, relay):
    app = make_app(**relay.settings())
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    project = project_of(client, headers)
    first = invite(client, headers, project["id"]).get_json()
    relay.next()
    again = client.post(f"/api/v1/projects/{project['id']}/invitations/{first['id']}/resend",
                        headers=headers)
    assert again.status_code == 200 and again.get_json()["emailed"] is True
    _, message = relay.next()
    new_token = LINK.search(message.get_body(("plain",)).get_content())[1]
    assert new_token == again.get_json()["token"] != first["token"]
    stale = client.post("/api/v1/auth/register", json={
        "email": NEWCOMER, "password": PASSWORD, "invitation": first["token"]})
    assert_problem(stale, 422, "invitation")
    revoked = client.delete(f"/api/v1/projects/{project['id']}/invitations/{first['id']}",
                            headers=headers)
    assert revoked.status_code == 204
    assert client.post(f"/api/v1/projects/{project['id']}/invitations/{first['id']}/resend",
                       headers=headers).status_code == 404


@pytest.fixture
def tls_relay(tmp_path):
    """A relay that offers STARTTLS (a certificate for localhost) and requires a login."""
    started = Relay(free_port(), tls=certificate(tmp_path, "localhost")).start()
    yield started
    started.stop()


def test_starttls_and_a_login_to_the_relay(make_app, tls_relay):
    app = make_app(**tls_relay.settings())
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    project = project_of(client, headers)
    assert invite(client, headers, project["id"]).status_code == 201
    recipients, message = tls_relay.next()
    assert recipients == [NEWCOMER] and "invitation=" in message.get_body(
        ("plain",)).get_content()
    settled(app)  # the client said QUIT: the relay stops with no connection open


def test_a_refused_login_is_kept_as_the_error_and_retried(make_app, tls_relay):
    app = make_app(**tls_relay.settings(SMTP_PASSWORD="wrong-password-0123"))
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    project = project_of(client, headers)
    assert invite(client, headers, project["id"]).status_code == 201
    settled(app)
    [row] = rows(app)
    assert row.status == "pending" and row.attempts == 1
    assert row.error.startswith("The relay refused the login")
    assert tls_relay.nothing_more()


def test_a_relay_down_then_back_gets_each_message_once(make_app, relay):
    app = make_app(**relay.settings())
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    project = project_of(client, headers)
    relay.stop()
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        for n in range(3):  # each answered at once, the relay down
            assert invite(client, headers, project["id"],
                          f"person{n}@example.com").status_code == 201
        settled(app)
        assert {(row.status, row.attempts) for row in rows(app)} == {("pending", 1)}
        assert all("could not be reached" in row.error for row in rows(app))
        relay.start()
        clock.move_to(max(row.next_attempt_at for row in rows(app)))
        app.extensions["riskscan.jobs"].mail_later.wake()
        settled(app)
    got = sorted(relay.next()[0][0] for _ in range(3))
    assert got == [f"person{n}@example.com" for n in range(3)]
    assert relay.nothing_more()
    assert {(row.status, row.attempts) for row in rows(app)} == {("sent", 2)}


def given_up(make_app, relay):
    """(the app, its client, a member's headers, an admin and the admin's headers) once an
    invitation's one attempt failed, the relay down, with no hours left to retry it."""
    app = make_app(**relay.settings(MAIL_RETRY_HOURS=0.0))
    client = app.test_client()
    accounts = Accounts(app, client)
    _, headers = accounts.user()
    admin, admin_headers = accounts.user(role="admin")
    project = project_of(client, headers)
    relay.stop()
    assert invite(client, headers, project["id"]).status_code == 201
    settled(app)
    return app, client, headers, admin, admin_headers


def test_a_message_is_given_up_after_mail_retry_hours_and_shown_to_admins(make_app, relay):
    app, client, headers, _, admin = given_up(make_app, relay)
    [row] = rows(app)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 1, None)
    assert "could not be reached" in row.error
    # An admin reads it, with why, but never its body (the link is in it).
    listed = client.get("/api/v1/admin/mail", headers=admin, query_string={"status": "failed"})
    assert listed.status_code == 200
    [shown] = listed.get_json()["items"]
    assert (shown["to_address"], shown["kind"], shown["status"]) == (
        NEWCOMER, "invitation", "failed")
    assert "could not be reached" in shown["error"] and "text_body" not in shown
    assert client.get("/api/v1/admin/mail", headers=headers).status_code == 403
    assert client.get("/api/v1/admin/mail").status_code == 401
    assert client.get("/api/v1/admin/mail", headers=admin,
                      query_string={"status": "lost"}).status_code == 422


def test_the_console_mail_page_shows_an_admin_the_failed_message_and_why(make_app, relay):
    from tests.console_browser import html, signed_in_client

    app, _, _, admin, _ = given_up(make_app, relay)
    relay.start()
    page = html(signed_in_client(app, admin["email"]).get("/app/admin/mail",
                                                          query_string={"status": "failed"}))
    assert "1 messages" in page and NEWCOMER in page and "invitation" in page
    row = re.search(r"<tbody>(.*?)</tbody>", page, re.DOTALL)[1]
    assert '<th scope="row">failed</th>' in row and "could not be reached" in row
    assert "/app/register?invitation=" not in page  # the words, with the link, are never shown
    sent = html(signed_in_client(app, admin["email"]).get("/app/admin/mail",
                                                          query_string={"status": "sent"}))
    assert "No message matches." in sent


def test_a_message_left_pending_by_a_stopped_process_is_sent_once_by_the_next(make_app,
                                                                            relay):
    from service.jobs.queue import resume

    first = make_app(**relay.settings())
    first.extensions["riskscan.jobs"].shutdown()  # the process stops before it sends
    client = first.test_client()
    _, headers = Accounts(first, client).user()
    assert invite(client, headers, project_of(client, headers)["id"]).status_code == 201
    assert [m.status for m in rows(first)] == ["pending"]

    second = make_app(**relay.settings())  # the next start, on the same database
    resume(second)
    recipients, message = relay.next()
    assert recipients == [NEWCOMER] and LINK.search(message.get_body(("plain",)).get_content())
    settled(second)
    assert [(m.status, m.attempts) for m in rows(second)] == [("sent", 1)]
    assert relay.nothing_more()


def test_without_smtp_host_nothing_is_written_and_the_owner_hands_the_link_over(make_app):
    app = make_app()
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    project = project_of(client, headers)
    answer = invite(client, headers, project["id"])
    assert answer.status_code == 201 and answer.get_json()["emailed"] is False
    assert rows(app) == []
    assert_problem(client.post("/api/v1/auth/password/forgot",
                               json={"email": "someone@example.com"}), 404)


@pytest.mark.parametrize("settings", [
    {"SMTP_HOST": "relay.example.com", "SMTP_SECURITY": "none",
     "MAIL_FROM": "r@example.com"},
    {"SMTP_HOST": "relay.example.com", "SMTP_SECURITY": "ssl", "MAIL_FROM": "r@example.com"},
    {"SMTP_HOST": "relay.example.com", "MAIL_FROM": ""},
    {"SMTP_HOST": "relay.example.com", "MAIL_FROM": "r@example.com", "SMTP_PORT": "70000"},
])
def test_a_relay_setting_that_cannot_work_stops_start_up(settings):
    with pytest.raises(ConfigError):
        Settings.from_env({"RISKSCAN_ENV": "development", **settings})


# --- forgotten passwords ---------------------------------------------------------------------

def forgot(client, email):
    return client.post("/api/v1/auth/password/forgot", json={"email": email})


def test_a_forgotten_password_is_reset_once_by_the_mailed_link_and_ends_every_session(
        make_app, relay):
    app = make_app(**relay.settings())
    client = app.test_client()
    accounts = Accounts(app, client)
    user, headers = accounts.user()
    key = client.post("/api/v1/auth/api-keys", headers=headers,
                      json={"name": "ci", "scopes": ["scans:read"]}).get_json()["key"]
    answer = forgot(client, user["email"].upper())
    assert answer.status_code == 202
    unknown = forgot(client, "nobody@example.com")
    assert (unknown.status_code, unknown.get_json()) == (202, answer.get_json())  # the same
    recipients, message = relay.next()
    assert recipients == [user["email"]] and message["Subject"] == "Reset your Riskscan password"
    token = RESET.search(message.get_body(("plain",)).get_content())[1]
    settled(app)
    assert relay.nothing_more()  # nothing for the unknown address
    weak = client.post("/api/v1/auth/password/reset", json={"token": token, "password": "x"})
    assert_problem(weak, 422, "password")
    new = "a brand new passphrase 42"
    done = client.post("/api/v1/auth/password/reset", json={"token": token, "password": new})
    assert done.status_code == 200, done.get_json()
    # Every session and key ended; the new password signs in; the link works once.
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 401
    assert client.get("/api/v1/scans", headers={"Authorization": f"Bearer {key}"}
                      ).status_code == 401
    assert accounts.login(user["email"], new)["access_token"]
    again = client.post("/api/v1/auth/password/reset",
                        json={"token": token, "password": "yet another passphrase 7"})
    assert_problem(again, 422, "token")
    for bad in ("", "x" * 600, "not.a.token", token[:-2] + "zz"):
        refused = client.post("/api/v1/auth/password/reset",
                              json={"token": bad, "password": new})
        assert refused.status_code == 422, bad


def test_a_reset_link_expires_after_thirty_minutes(make_app, relay):
    app = make_app(**relay.settings())
    client = app.test_client()
    user, _ = Accounts(app, client).user()
    with time_machine.travel(datetime.now(UTC), tick=False) as clock:
        assert forgot(client, user["email"]).status_code == 202
        token = RESET.search(relay.next()[1].get_body(("plain",)).get_content())[1]
        clock.shift(31 * 60)
        expired = client.post("/api/v1/auth/password/reset",
                              json={"token": token, "password": "a brand new passphrase 42"})
    assert_problem(expired, 422, "token")


def test_asking_is_rate_limited_per_email_whatever_its_case(make_app, relay):
    app = make_app(**relay.settings(RATE_LIMIT_ENABLED=True,
                                    RATE_LIMIT_REGISTER_EMAIL="2 per hour"))
    client = app.test_client()
    user, _ = Accounts(app, client).user()
    assert forgot(client, user["email"]).status_code == 202
    assert forgot(client, user["email"].upper()).status_code == 202
    assert forgot(client, user["email"]).status_code == 429
    settled(app)
    assert [relay.next()[0] for _ in range(2)] == [[user["email"]]] * 2
    assert relay.nothing_more()  # the third ask mailed nothing


def test_the_console_resets_a_forgotten_password_from_the_mailed_link(make_app, relay):
    """"Forgot your password?" on the sign-in page, the link from the relay's message, a new
    password chosen on its page, and a sign-in with it (the console's forms, CSRF and all)."""
    from tests.console_browser import csrf_of, flashes, sign_in

    app = make_app(**relay.settings())
    user, _ = Accounts(app, app.test_client()).user()
    browser = app.test_client()
    assert 'href="/app/password/forgot"' in browser.get("/app/sign-in").get_data(as_text=True)
    asked = browser.post("/app/password/forgot", data={
        "email": user["email"], "csrf_token": csrf_of(browser, "/app/password/forgot")})
    assert "a message is on its way" in asked.get_data(as_text=True)
    link = RESET.search(relay.next()[1].get_body(("plain",)).get_content())[0]
    page = link.removeprefix("http://localhost")
    form = browser.get(page)
    assert form.status_code == 200 and form.headers["Cache-Control"] == "no-store"
    done = browser.post("/app/password/reset", data={
        "token": RESET.search(link)[1], "password": "a brand new passphrase 42",
        "csrf_token": csrf_of(browser, page)}, follow_redirects=True)
    assert any("Your password is changed" in said for said in flashes(
        done.get_data(as_text=True)))
    signed = sign_in(app.test_client(), user["email"], "a brand new passphrase 42")
    assert signed.status_code == 302
    settled(app)


def test_a_relay_that_never_answers_ends_the_attempt_not_the_request(make_app):
    """A relay that takes the connection and says nothing: the invitation is answered at
    once (the request never waits on the relay), and the attempt ends at SMTP_TIMEOUT_S
    with the error kept, to be tried again."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        app = make_app(SMTP_HOST="127.0.0.1", SMTP_PORT=silent.getsockname()[1],
                       SMTP_SECURITY="none", MAIL_FROM="riskscan@example.com",
                       SMTP_TIMEOUT_S=0.5)
        client = app.test_client()
        _, headers = Accounts(app, client).user()
        project = project_of(client, headers)
        assert invite(client, headers, project["id"]).status_code == 201
        settled(app)
    [row] = rows(app)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "timed out" in row.error


@pytest.mark.parametrize("address", ["\"quoted local\"@example.com",
                                     "person@bücher.example"])
def test_addresses_of_odd_forms_reach_the_relay_as_it_reads_them(make_app, relay, address):
    app = make_app(**relay.settings())
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    project = project_of(client, headers)
    answer = invite(client, headers, project["id"], address)
    if answer.status_code == 422:  # the API refuses it as an email: nothing is queued
        assert rows(app) == []
        return
    assert answer.status_code == 201, answer.get_json()
    recipients, _ = relay.next()
    assert recipients == [address.replace("bücher.example", "xn--bcher-kva.example")]
    settled(app)


def test_one_link_used_by_four_requests_at_once_resets_once(make_app, relay):
    """A reset link works once, also when four requests use it at the same moment: one
    changes the password, the others are the link's 422."""
    from tests.helpers import at_once

    app = make_app(**relay.settings())
    client = app.test_client()
    user, _ = Accounts(app, client).user()
    assert forgot(client, user["email"]).status_code == 202
    token = RESET.search(relay.next()[1].get_body(("plain",)).get_content())[1]
    settled(app)
    answers = at_once(app, "POST", "/api/v1/auth/password/reset", parallel=4,
                      json={"token": token, "password": "a brand new passphrase 42"})
    assert sorted(answer.status_code for answer in answers) == [200, 422, 422, 422]
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(
            AuditEvent.event == "password_reset_by_link")).all()
        db.session.remove()
    assert len(events) == 1
