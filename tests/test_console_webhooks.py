"""The console's webhooks pages (/app/projects/{id}/webhooks…, issue #52), driven as a browser
would, against a real receiver on loopback (the app allows loopback, as the webhook tests'
apps do): an owner makes a webhook and sees its secret once, pings it, reads and redelivers
its deliveries, rotates the secret (the overlap said), pauses, resumes and edits it, and
deletes it. Editors and viewers see no control, and a forged form gets the API's 403 in
words; a stranger gets 404 pages; a form without its CSRF token changes nothing; the API's
refusals of a URL are said once."""

from __future__ import annotations

import html
import json
import re

import pytest

from service.console import webhook_views
from service.db import WEBHOOK_EVENTS
from service.webhooks.targets import NOT_ALLOWED
from tests import webhooks
from tests.console_browser import (
    REFUSED_FORM,
    Browser,
    cookie_contents,
    csrf_token,
    error_page,
    flashes,
    text_of,
)
from tests.projects import Team, scan_into
from tests.webhooks import (
    SECRET,
    TWO_RISKS,
    audit_events,
    deliveries_of,
    hooks_page,
    made,
    make,
    rows,
    settled,
    the_webhook,
    verify,
)

make_hooks_app, hooks_app, receiver = (webhooks.make_hooks_app, webhooks.hooks_app,
                                       webhooks.receiver)
# The project of hooks_app as ``team``, and its members' browsers.
team, people = webhooks.hooks, webhooks.people

TAKES_OWNER = "Your role in this project is {}: it may not manage it (that takes owner)."


def test_the_consoles_events_are_the_apis():
    assert tuple(webhook_views.EVENTS) == WEBHOOK_EVENTS


def test_an_owner_makes_a_webhook_from_the_project_and_sees_its_secret_once(
        hooks_app, team, people, receiver):
    owner = people["owner"]
    assert f'href="{hooks_page(team)}"' in owner.page(f"/app/projects/{team.id}")
    assert "This project has no webhooks." in owner.page(hooks_page(team))
    response = make(owner, team, f"{receiver.url}/hook", ["risk.created", "risk.rated"])
    webhook = the_webhook(team)
    assert response.status_code == 302
    assert response.headers["Location"] == f"{hooks_page(team)}/{webhook['id']}"
    assert (webhook["url"], webhook["events"]) == (f"{receiver.url}/hook",
                                                   ["risk.created", "risk.rated"])
    shown = owner.get(response.headers["Location"])
    assert shown.headers["Cache-Control"] == "no-store"
    [secret] = set(SECRET.findall(text_of(shown)))
    # The secret shown is the one deliveries are signed with.
    owner.post_form(response.headers["Location"],
                    f"{hooks_page(team)}/{webhook['id']}/ping", {})
    assert verify(secret, receiver.next())
    settled(hooks_app)
    again = owner.page(response.headers["Location"])
    assert SECRET.search(again) is None and secret not in again
    listed = owner.page(hooks_page(team))
    assert f"{receiver.url}/hook" in listed and SECRET.search(listed) is None
    assert 'href="{}/{}"'.format(hooks_page(team), webhook["id"]) in listed


def test_a_ping_and_a_redelivery_reach_the_receiver_and_their_rows_say_how(
        hooks_app, team, people, receiver):
    owner = people["owner"]
    page, secret = made(owner, team, receiver)
    webhook = the_webhook(team)
    pinged = owner.post_form(page, f"{page}/ping", {})
    assert pinged.status_code == 200  # the webhook's page, redirected to
    assert any(message.startswith("Ping sent") for message in flashes(text_of(pinged)))
    request = receiver.next()
    assert verify(secret, request) and json.loads(request.body)["type"] == "ping"
    settled(hooks_app)
    [delivery] = deliveries_of(team, webhook["id"])
    row = re.search(rf'<tr id="delivery-{delivery["id"]}">(.*?)</tr>', owner.page(page),
                    re.DOTALL)[1]
    cells = [re.sub(r"<[^>]+>", "", cell).strip()
             for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.DOTALL)]
    assert cells[:3] == ["ping", "delivered", "1"]
    assert cells[3].startswith("204 in ")
    assert cells[4] == delivery["created_at"][:19].replace("T", " ") + " UTC"
    assert "Redeliver" in row

    redelivered = owner.post_form(page, f"{page}/deliveries/{delivery['id']}/redeliver", {})
    assert any(message.startswith("Sent again") for message in flashes(text_of(redelivered)))
    again = receiver.next()
    assert again.headers["webhook-id"] == request.headers["webhook-id"] == delivery["id"]
    settled(hooks_app)
    [delivery] = deliveries_of(team, webhook["id"])
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 2)
    assert len(audit_events(hooks_app, "webhook_redelivered")) == 1

    # The API's 409s are said on the page: a webhook switched off is not pinged.
    team.client.patch(f"/api/v1/projects/{team.id}/webhooks/{webhook['id']}",
                      headers=team.owner_h, json={"active": False})
    refused = owner.post_form(page, f"{page}/ping", {})
    assert flashes(text_of(refused)) == [
        "This webhook is switched off (active: false): switch it on to ping it."]
    assert "Switched off" in text_of(refused)
    settled(hooks_app)
    assert receiver.nothing_more()


def test_rotating_shows_the_new_secret_once_and_the_overlap_both_sign(
        hooks_app, team, people, receiver):
    owner = people["owner"]
    page, old = made(owner, team, receiver)
    assert 'data-confirm="Rotate the secret of the webhook to' in owner.page(page)
    rotated = owner.post_form(page, f"{page}/rotate", {})
    shown = text_of(rotated)
    [new] = set(SECRET.findall(shown))
    assert new != old
    overlap = html.unescape(re.search(r'<p id="overlap">(.*?)</p>', shown, re.DOTALL)[1])
    until = the_webhook(team)["previous_secrets_until"]
    assert re.sub(r"<[^>]+>", "", overlap).startswith(
        f"For 24 hours, until {until[:16].replace('T', ' ')} UTC, every delivery carries two "
        "signatures: one under this secret and one under the secret it replaced.")
    assert SECRET.search(owner.page(page)) is None  # once
    owner.post_form(page, f"{page}/ping", {})
    request = receiver.next()
    settled(hooks_app)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert verify(new, request) and verify(old, request)


def test_with_no_overlap_the_page_says_the_old_secret_signs_no_more(make_hooks_app, receiver):
    app = make_hooks_app(WEBHOOK_SECRET_OVERLAP_HOURS=0)
    team = Team(app, app.test_client())
    owner = Browser(app, team.owner["email"])
    page, _ = made(owner, team, receiver)
    shown = text_of(owner.post_form(page, f"{page}/rotate", {}))
    assert re.search(r'<p id="overlap">The secret it replaced signs nothing more', shown)


def test_deleting_asks_first_and_deletes_the_webhook_with_its_deliveries(
        hooks_app, team, people, receiver):
    owner = people["owner"]
    page, _ = made(owner, team, receiver)
    webhook = the_webhook(team)
    owner.post_form(page, f"{page}/ping", {})
    receiver.next()
    settled(hooks_app)
    assert re.search(r'data-confirm="Delete the webhook to [^"]*/hook and its deliveries\?',
                     owner.page(page))
    deleted = owner.post_form(page, f"{page}/delete", {}, follow=False)
    assert deleted.status_code == 302 and deleted.headers["Location"] == hooks_page(team)
    listed = owner.page(hooks_page(team))
    assert flashes(listed) == [
        "Webhook deleted, with its deliveries: nothing more is sent to it."]
    assert "This project has no webhooks." in listed
    assert rows(hooks_app, webhook["id"]) == []
    error_page(owner.get(page), 404)


def test_forms_without_their_csrf_token_change_nothing(hooks_app, team, people, receiver):
    owner = people["owner"]
    page, _ = made(owner, team, receiver)
    webhook = the_webhook(team)
    for action, data in ((hooks_page(team), {"url": f"{receiver.url}/forged",
                                             "events": ["risk.created"]}),
                         (f"{page}/ping", {}), (f"{page}/rotate", {}), (f"{page}/delete", {})):
        refused = owner.client.post(action, data=data)
        assert refused.status_code == 400, action
        assert f"<p>{REFUSED_FORM}</p>" in text_of(refused)
    settled(hooks_app)
    assert receiver.nothing_more() and rows(hooks_app, webhook["id"]) == []
    assert the_webhook(team) == webhook  # not rotated, not deleted; no other made


@pytest.mark.parametrize("who", ["editor", "viewer"])
def test_editors_and_viewers_see_no_control_and_a_forged_form_gets_the_apis_403(
        hooks_app, team, people, receiver, who):
    page, _ = made(people["owner"], team, receiver)
    webhook = the_webhook(team)
    member = people[who]
    assert hooks_page(team) not in member.page(f"/app/projects/{team.id}")
    for other in ("changes", "members"):
        assert hooks_page(team) not in member.page(f"/app/projects/{team.id}/{other}")
    listed = member.page(hooks_page(team))
    assert "Only the project's owners see and manage its webhooks" in listed
    assert receiver.url not in listed
    assert re.findall(r'<form\b[^>]*\baction="([^"]*)"', listed) == ["/app/sign-out"]
    assert TAKES_OWNER.format(who) in error_page(member.get(page), 403)
    token = csrf_token(listed)  # a token of their own session: only the role refuses
    for action, data in ((hooks_page(team), {"url": f"{receiver.url}/mine",
                                             "events": ["risk.created"]}),
                         (f"{page}/ping", {}), (f"{page}/rotate", {}), (f"{page}/delete", {}),
                         (f"{page}/deliveries/{'0' * 8}-0000-4000-8000-{'0' * 12}/redeliver",
                          {})):
        refused = member.client.post(action, data={**data, "csrf_token": token})
        assert TAKES_OWNER.format(who) in html.unescape(error_page(refused, 403)), action
    settled(hooks_app)
    assert receiver.nothing_more() and rows(hooks_app, webhook["id"]) == []
    assert the_webhook(team) == webhook
    assert audit_events(hooks_app, "webhook_secret_rotated") == []


def test_a_stranger_gets_404_pages_and_another_projects_webhook_is_one(
        hooks_app, team, people, receiver):
    page, _ = made(people["owner"], team, receiver)
    webhook = the_webhook(team)
    stranger = people["outsider"]
    for path in (hooks_page(team), page):
        assert "No such project." in error_page(stranger.get(path), 404)
    token = csrf_token(stranger.page("/app/projects"))
    for action in (hooks_page(team), f"{page}/ping", f"{page}/rotate", f"{page}/delete"):
        refused = stranger.client.post(action, data={
            "csrf_token": token, "url": f"{receiver.url}/x", "events": ["risk.created"]})
        assert "No such project." in error_page(refused, 404), action
    # The owner of another project, with this webhook's id under their own project.
    other = Team(hooks_app, hooks_app.test_client())
    theirs = Browser(hooks_app, other.owner["email"])
    foreign = f"{hooks_page(other)}/{webhook['id']}"
    assert "No such webhook." in error_page(theirs.get(foreign), 404)
    token = csrf_token(theirs.page(hooks_page(other)))
    for action in (f"{foreign}/ping", f"{foreign}/rotate", f"{foreign}/delete"):
        refused = theirs.client.post(action, data={"csrf_token": token})
        assert "No such webhook." in error_page(refused, 404), action
    error_page(theirs.get(f"{hooks_page(other)}/not..an%2Fid"), 404)
    settled(hooks_app)
    assert receiver.nothing_more() and the_webhook(team) == webhook


@pytest.mark.parametrize("url", ["http://10.0.0.7/hook", "http://169.254.169.254/latest",
                                 "http://[::1]:8080/hook"])  # private, metadata, loopback
def test_a_url_the_ssrf_guard_refuses_is_said_once_on_the_form(team, people, url):
    owner = people["owner"]
    refused = make(owner, team, url)
    assert refused.status_code == 422
    page = html.unescape(text_of(refused))
    # The API's words, once, less the setting they name for whoever runs the service.
    said = NOT_ALLOWED.removesuffix(" (WEBHOOK_ALLOWED_NETWORKS may allow others).") + "."
    assert said != NOT_ALLOWED and page.count(said) == 1
    assert "WEBHOOK_ALLOWED_NETWORKS" not in page
    # Beside the URL, as every form of the console says a field's refusal; no alert.
    assert re.search(r'<p class="field-error" id="webhook-url-error">[^<]*'
                     + re.escape(said), page)
    assert 'role="alert"' not in page
    assert re.search(r'<input id="webhook-url" [^>]*aria-describedby="webhook-url-help '
                     r'webhook-url-error" aria-invalid="true"', page)
    assert f'value="{url}"' in page  # what was typed, to correct
    assert team.client.get(f"/api/v1/projects/{team.id}/webhooks",
                           headers=team.owner_h).get_json()["total"] == 0


@pytest.mark.parametrize(("data", "field", "said"), [
    ({"url": "not a url", "events": ["risk.created"]}, "url", "Not a valid URL."),
    ({"url": "ftp://127.0.0.1/hook", "events": ["risk.created"]}, "url", "Not a valid URL."),
    ({"url": "", "events": ["risk.created"]}, "url", None),
    ({"url": "http://127.0.0.1/hook", "events": []}, "events", None),
    ({"url": "http://127.0.0.1/hook", "events": ["risk.deleted"]}, "events", "Must be one of"),
])
def test_a_malformed_webhook_is_the_form_again_naming_the_field(team, people, data, field,
                                                                said):
    refused = make(people["owner"], team, data["url"], data["events"])
    assert refused.status_code == 422
    page = html.unescape(text_of(refused))
    assert "The request has invalid or missing fields." in page
    error = re.search(rf'<p class="field-error" id="webhook-{field}-error">([^<]+)</p>', page)
    assert error, page
    if said:
        assert said in error[1]
    assert team.client.get(f"/api/v1/projects/{team.id}/webhooks",
                           headers=team.owner_h).get_json()["total"] == 0


def test_signed_out_the_page_sends_to_sign_in(hooks_app, team):
    response = hooks_app.test_client().get(hooks_page(team))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/app/sign-in?next=")


def test_a_new_or_rotated_secret_never_travels_in_the_session_cookie(hooks_app, team, people,
                                                                    receiver):
    """The cookie is only signed: a secret in it is readable by whoever sees the cookie.
    It waits on the server behind a one-time id, as a new API key does."""


    owner = people["owner"]
    response = make(owner, team, f"{receiver.url}/hook")
    assert response.status_code == 302
    contents = cookie_contents(hooks_app, response)
    page = response.headers["Location"]
    [secret] = set(SECRET.findall(owner.page(page)))
    assert "whsec_" not in contents and secret.split("_", 1)[1][:20] not in contents
    rotated = owner.client.post(f"{page}/rotate", data={"csrf_token": csrf_token(
        owner.page(page))})
    assert rotated.status_code == 302
    assert "whsec_" not in cookie_contents(hooks_app, rotated)
    assert SECRET.search(owner.page(page))


# --- edit, pause, resume (issue #61 item 8) ---------------------------------------------------

def said_at(page: str, anchor: str) -> list[str]:
    """What the page says beside the control at ``anchor`` (pages.flash_at)."""
    part = re.search(rf'id="{anchor}"(.*?)</(?:dd|section)>', page, re.DOTALL)
    assert part, anchor
    return [html.unescape(m) for m in re.findall(r'<p class="said" role="status">([^<]*)</p>',
                                                  part[1])]


def test_an_owner_pauses_and_resumes_a_webhook_and_nothing_is_sent_while_paused(
        hooks_app, team, people, receiver):
    owner = people["owner"]
    page, _ = made(owner, team, receiver)
    webhook = the_webhook(team)
    shown = owner.page(page)
    assert ">Pause</button>" in shown and ">Resume</button>" not in shown
    paused = owner.post_form(page, f"{page}/active", {"active": "false"}, follow=False)
    assert paused.status_code == 302
    assert paused.headers["Location"] == f"{page}#webhook-state"
    assert the_webhook(team)["active"] is False
    shown = owner.page(page)
    assert said_at(shown, "webhook-state")[0].startswith("Paused: nothing is sent to it")
    assert flashes(shown) == []  # beside the button, not at the top
    assert ">Resume</button>" in shown and ">Pause</button>" not in shown
    assert "Switched off: it is sent nothing" in shown
    scan_into(team.client, team.owner_h, team.id, TWO_RISKS)  # two risk.created events
    settled(hooks_app)
    assert receiver.nothing_more() and deliveries_of(team, webhook["id"]) == []

    resumed = owner.post_form(page, f"{page}/active", {"active": "true"})
    assert said_at(text_of(resumed), "webhook-state")[0].startswith("Resumed:")
    assert the_webhook(team)["active"] is True
    assert ">Pause</button>" in text_of(resumed)
    assert [row["event"] for row in deliveries_of(team, webhook["id"])] == []  # none replayed


def test_an_owner_edits_the_url_and_events(hooks_app, team, people, receiver):
    owner = people["owner"]
    page, _ = made(owner, team, receiver)
    shown = owner.page(page)
    form = re.search(r'<form [^>]*action="([^"]*/edit)"(.*?)</form>', shown, re.DOTALL)
    assert form and form[1] == f"{page}/edit"
    assert f'value="{receiver.url}/hook"' in form[2]  # the form starts from the webhook
    assert re.search(r'value="risk.created"[^>]*checked', form[2])
    assert ">Save the webhook</button>" in form[2]
    saved = owner.post_form(page, f"{page}/edit", {
        "url": f"{receiver.url}/moved", "events": ["risk.rated", "risk.merged"]},
        follow=False)
    assert saved.headers["Location"] == f"{page}#edit-webhook"
    webhook = the_webhook(team)
    assert (webhook["url"], webhook["events"], webhook["active"]) == (
        f"{receiver.url}/moved", ["risk.rated", "risk.merged"], True)
    shown = owner.page(page)
    assert said_at(shown, "edit-webhook") == [
        "Saved: the events from now on are sent to this URL."]
    assert audit_events(hooks_app, "webhook_updated")[0].details["fields"] == [
        "events", "url"]
    owner.post_form(page, f"{page}/ping", {})
    assert receiver.next().path == "/moved"
    settled(hooks_app)


@pytest.mark.parametrize(("data", "field", "said"), [
    ({"url": "http://10.0.0.7/hook", "events": ["risk.created"]}, "url",
     NOT_ALLOWED.removesuffix(" (WEBHOOK_ALLOWED_NETWORKS may allow others).") + "."),
    ({"url": "not a url", "events": ["risk.created"]}, "url", "Not a valid URL."),
    ({"url": "http://127.0.0.1/hook", "events": []}, "events", None),
])
def test_a_refused_edit_is_said_on_the_form_and_changes_nothing(
        hooks_app, team, people, receiver, data, field, said):
    owner = people["owner"]
    page, _ = made(owner, team, receiver)
    webhook = the_webhook(team)
    refused = owner.post_form(page, f"{page}/edit", data)
    assert refused.status_code == 422
    shown = html.unescape(text_of(refused))
    error = re.search(rf'<p class="field-error" id="webhook-{field}-error">([^<]+)</p>', shown)
    assert error, shown
    if said:
        assert said in error[1] and shown.count(said) == 1
    assert "WEBHOOK_ALLOWED_NETWORKS" not in shown
    assert f'value="{data["url"]}"' in shown  # what was typed, to correct
    assert the_webhook(team) == webhook


def test_edit_pause_and_resume_are_refused_without_csrf_to_members_and_strangers(
        hooks_app, team, people, receiver):
    page, _ = made(people["owner"], team, receiver)
    webhook = the_webhook(team)
    forms = ((f"{page}/edit", {"url": f"{receiver.url}/forged", "events": ["risk.rated"]}),
             (f"{page}/active", {"active": "false"}))
    for action, data in forms:
        refused = people["owner"].client.post(action, data=data)
        assert refused.status_code == 400, action
        assert f"<p>{REFUSED_FORM}</p>" in text_of(refused)
    editor = people["editor"]
    token = csrf_token(editor.page(hooks_page(team)))
    for action, data in forms:
        refused = editor.client.post(action, data={**data, "csrf_token": token})
        assert TAKES_OWNER.format("editor") in html.unescape(error_page(refused, 403)), action
    stranger = people["outsider"]
    token = csrf_token(stranger.page("/app/projects"))
    for action, data in forms:
        refused = stranger.client.post(action, data={**data, "csrf_token": token})
        assert "No such project." in error_page(refused, 404), action
    assert the_webhook(team) == webhook
    assert audit_events(hooks_app, "webhook_updated") == []
