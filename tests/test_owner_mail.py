"""A risk's owner told by mail (issue #87 item 4), against a real SMTP server on loopback
(tests/mail_relay.py): made the owner by someone else, a report that reopens the risk, its
due date reached (once a date); each kind turned off in the settings, or by the link the
message carries, without signing in, also as a mail client's one-click unsubscribe.

What a message says is read off the relay; that nothing was sent is read off the outbox,
which the change's own transaction writes (so it is final when the request has answered).
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from service.db import MailMessage
from service.extensions import db
from service.projects.owner_notices import tell_due
from tests.curating import HOSTING, LICENCES, UAT
from tests.helpers import Accounts
from tests.projects import Team, register_of, scan_into
from tests.scanning import KeywordAnalyzer

OFF_LINK = re.compile(r"https?://\S+(/app/mail/off/[\w.-]+)")


@pytest.fixture
def mailing_team(make_app, relay, monkeypatch):
    app = make_app(**relay.settings())
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", KeywordAnalyzer())
    return Team(app, app.test_client()), app


def the_risk(team) -> dict:
    """The licences risk of week 1's report, scanned by the editor."""
    scan_into(team.client, team.editor_h, team.id, LICENCES[0], reported_on="2026-03-06")
    (risk,) = register_of(team.client, team.owner_h, team.id)
    return risk


def change(team, risk, headers, **fields) -> dict:
    answer = team.client.patch(f"/api/v1/projects/{team.id}/risks/{risk['id']}", json=fields,
                               headers=headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def outbox(app, kind: str) -> list[MailMessage]:
    with app.app_context():
        found = db.session.scalars(select(MailMessage).where(MailMessage.kind == kind)
                                   .order_by(MailMessage.created_at)).all()
        db.session.expunge_all()
        return found


def test_an_owner_made_by_someone_else_is_mailed_the_risk_and_a_link_to_stop(mailing_team,
                                                                            relay):
    team, _ = mailing_team
    risk = the_risk(team)
    change(team, risk, team.owner_h, owner_id=team.editor["id"], due_date="2026-04-01")

    recipients, message = relay.next()
    assert recipients == [team.editor["email"]]
    assert message["Subject"] == "You own a risk in Billing migration"
    text = message.get_body(("plain",)).get_content()
    assert f"{team.owner['email']} made you the owner" in text
    assert LICENCES[0] in text and "due 2026-04-01" in text
    assert f"/app/projects/{team.id}/risks/{risk['id']}" in text
    html = message.get_body(("html",)).get_content()
    assert f'/app/projects/{team.id}/risks/{risk["id"]}"' in html
    off = OFF_LINK.search(text)[1]
    assert message["List-Unsubscribe"].endswith(f"{off}>")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_making_yourself_the_owner_tells_nobody(mailing_team):
    team, app = mailing_team
    risk = the_risk(team)
    change(team, risk, team.editor_h, owner_id=team.editor["id"])
    assert outbox(app, "risk_owner") == []


def test_a_kind_turned_off_in_the_settings_is_not_sent_and_the_others_are(mailing_team):
    team, app = mailing_team
    client = team.client
    off = client.patch("/api/v1/auth/me/settings", json={"mail_risk_owner": False},
                       headers=team.editor_h)
    assert off.status_code == 200, off.get_json()
    assert (off.get_json()["mail_risk_owner"], off.get_json()["mail_risk_due"]) == (False, True)
    risk = the_risk(team)
    change(team, risk, team.owner_h, owner_id=team.editor["id"],
           due_date=date.today().isoformat())
    assert outbox(app, "risk_owner") == []
    with app.app_context():
        assert tell_due() == 1
    (due,) = outbox(app, "risk_due")
    assert due.to_address == team.editor["email"]

    from tests.console_browser import html, signed_in_client

    page = html(signed_in_client(app, team.editor["email"]).get("/app/account"))
    assert 'name="mail_risk_owner" value="on" >' in page  # off, as saved
    assert "This service sends no mail" not in page
    fresh = Accounts(app, client).user()[1]
    assert client.get("/api/v1/auth/me/settings", headers=fresh).get_json()[
        "mail_risk_owner"] is True  # nothing saved: every kind on
    refused = client.patch("/api/v1/auth/me/settings", json={"mail_risk_due": None},
                           headers=team.editor_h)
    assert refused.status_code == 422


def test_the_link_stops_its_kind_without_signing_in_also_in_one_click(mailing_team, relay):
    team, app = mailing_team
    risk = the_risk(team)
    change(team, risk, team.owner_h, owner_id=team.editor["id"])
    _, message = relay.next()
    path = OFF_LINK.search(message.get_body(("plain",)).get_content())[1]

    stranger = app.test_client()  # no session, no token
    page = stranger.get(path)
    assert page.status_code == 200 and "Stop these messages" in page.get_data(as_text=True)
    assert stranger.post(path).status_code == 400  # a form post still needs its form token
    done = stranger.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200
    assert "no longer get mail when you are made the owner of a risk" in done.get_data(
        as_text=True)
    settings = team.client.get("/api/v1/auth/me/settings", headers=team.editor_h).get_json()
    assert (settings["mail_risk_owner"], settings["mail_risk_reopened"]) == (False, True)

    change(team, risk, team.owner_h, owner_id=team.owner["id"])
    change(team, risk, team.owner_h, owner_id=team.editor["id"])
    assert len(outbox(app, "risk_owner")) == 1  # the first, before the link was used


@pytest.mark.parametrize("token", ["", "x" * 301, "forged.token", None])
def test_a_link_not_ours_changes_nothing(mailing_team, token):
    _, app = mailing_team
    answer = app.test_client().post("/api/v1/notices/off", json={"token": token})
    assert answer.status_code == 422
    if token == "forged.token":
        assert answer.get_json()["errors"] == {"token": ["Not a link of a Riskscan message."]}
        page = app.test_client().post("/app/mail/off/forged.token",
                                      data={"List-Unsubscribe": "One-Click"})
        assert page.status_code == 422 and "not one of ours" in page.get_data(as_text=True)


def test_a_report_that_reopens_a_risk_tells_its_owner(mailing_team, relay):
    team, _ = mailing_team
    risk = the_risk(team)
    change(team, risk, team.editor_h, owner_id=team.editor["id"], status="closed")
    scan_into(team.client, team.owner_h, team.id, LICENCES[1], reported_on="2026-03-13")
    (reopened,) = register_of(team.client, team.owner_h, team.id)
    assert reopened["status"] == "open" and reopened["reopened"] is True

    recipients, message = relay.next()
    assert recipients == [team.editor["email"]]
    assert message["Subject"] == "A risk you own was reopened by a report: Billing migration"
    assert LICENCES[1] in message.get_body(("plain",)).get_content()


def test_a_due_date_is_told_once_and_again_for_a_new_date(mailing_team, relay):
    team, app = mailing_team
    risk = the_risk(team)
    yesterday = date.today() - timedelta(days=1)
    change(team, risk, team.owner_h, owner_id=team.owner["id"], due_date=yesterday.isoformat())
    with app.app_context():
        assert (tell_due(), tell_due()) == (1, 0)
    recipients, message = relay.next()
    assert recipients == [team.owner["email"]]
    assert message["Subject"] == "A risk you own is due: Billing migration"

    change(team, risk, team.owner_h, due_date=date.today().isoformat())
    result = app.test_cli_runner().invoke(args=["tell-due-owners"])
    assert result.exit_code == 0 and "1 owners told" in result.output
    assert [m.notice_key for m in outbox(app, "risk_due")] == [
        f"risk_due:{risk['id']}:{yesterday.isoformat()}",
        f"risk_due:{risk['id']}:{date.today().isoformat()}"]

    change(team, risk, team.owner_h, status="closed", due_date=yesterday.isoformat())
    with app.app_context():
        assert tell_due() == 0  # closed: nothing is due


def test_without_mail_nothing_is_written(make_app, monkeypatch):
    app = make_app()
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", KeywordAnalyzer())
    team = Team(app, app.test_client())
    risk = the_risk(team)
    change(team, risk, team.owner_h, owner_id=team.editor["id"],
           due_date=date.today().isoformat())
    with app.app_context():
        assert tell_due() == 0
    assert outbox(app, "risk_owner") == [] and outbox(app, "risk_due") == []


# --- a project's weekly digest (issue #87 item 5) ------------------------------------------

def _digests(app, on: date) -> int:
    from service.projects import digest

    with app.app_context():
        return digest.send(on)


def test_a_member_who_asked_gets_the_weeks_digest_once(mailing_team, relay):
    team, app = mailing_team
    asked = team.client.patch("/api/v1/auth/me/settings", json={"mail_digest": True},
                              headers=team.editor_h)
    assert asked.status_code == 200 and asked.get_json()["mail_digest"] is True
    text = " ".join((LICENCES[0], HOSTING[0], UAT[0]))
    scan_into(team.client, team.editor_h, team.id, text, reported_on="2026-03-06")
    entries = {e["category"]: e for e in register_of(team.client, team.owner_h, team.id)}
    change(team, entries["budget"], team.owner_h, status="closed")
    change(team, entries["vendor"], team.owner_h, owner_id=team.owner["id"],
           due_date=(date.today() - timedelta(days=1)).isoformat(), likelihood=4, impact=5)
    next_week = date.today() + timedelta(days=7)

    assert (_digests(app, next_week), _digests(app, next_week)) == (1, 0)
    recipients, message = relay.next()
    assert recipients == [team.editor["email"]]  # the others did not ask for it
    assert message["Subject"] == "This week in Billing migration"
    text = message.get_body(("plain",)).get_content()
    assert "New risks (3)" in text and "Closed (1)" in text and "Overdue (1)" in text
    assert LICENCES[0] in text and f"{team.owner['email']}, due" in text
    assert "  4 |   0  0  0  0  1" in text  # the rated risk in the heat map's row 4, impact 5
    assert "not rated yet: 1" in text  # the closed one is not active
    html = message.get_body(("html",)).get_content()
    assert f'/app/projects/{team.id}/risks/{entries["vendor"]["id"]}"' in html
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert [m.to_address for m in outbox(app, "digest")] == [team.editor["email"]]


def test_a_quiet_week_sends_nothing_and_a_long_section_says_how_many_more(mailing_team,
                                                                         monkeypatch):
    from service.projects import digest

    team, app = mailing_team
    team.client.patch("/api/v1/auth/me/settings", json={"mail_digest": True},
                      headers=team.owner_h)
    scan_into(team.client, team.editor_h, team.id, " ".join((LICENCES[0], HOSTING[0])),
              reported_on="2026-03-06")
    assert _digests(app, date.today() + timedelta(days=14)) == 0  # the week after: quiet

    monkeypatch.setattr(digest, "MOST", 1)
    assert _digests(app, date.today() + timedelta(days=7)) == 1
    (sent,) = outbox(app, "digest")
    assert "New risks (2)" in sent.text_body and "- and 1 more in the register" in sent.text_body
