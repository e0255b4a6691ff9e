"""The console's side of invitations (service/console/member_views.py, auth_views.py):
"Add member or invite" on a project's Members page, the pending invitations with their
expiry and Revoke, the link shown once, and the sign-up through it. Driven as a browser
would through Flask's test client; each result is said beside the form it is about."""

from __future__ import annotations

import html
import re

import pytest

from service.projects import invitations as rules
from tests.console_browser import (
    Browser,
    csrf_of,
    error_page,
    flashes,
    said_at,
    text_of,
)
from tests.helpers import PASSWORD
from tests.projects import make_project

NEWCOMER = "new.colleague@example.com"
LINK = re.compile(r'<input id="invitation-link" type="text" readonly value="([^"]+)"')


@pytest.fixture
def people(team, keyword_app):
    return {who: Browser(keyword_app, getattr(team, who)["email"])
            for who in ("owner", "editor", "viewer")}


def section(page: str, section_id: str) -> str:
    return re.search(rf'<section id="{section_id}".*?</section>', page, re.DOTALL)[0]


def invite(browser, team, email=NEWCOMER, role="editor", *, follow=False):
    members = f"/app/projects/{team.id}/members"
    return browser.post_form(members, members, {"email": email, "role": role},
                             follow=follow)


def invited_link(people, team, email=NEWCOMER, role="editor") -> str:
    sent = invite(people["owner"], team, email, role)
    assert sent.status_code == 303, text_of(sent)
    page = text_of(people["owner"].get(f"/app/projects/{team.id}/members"))
    return html.unescape(LINK.search(page)[1])


def test_an_owner_invites_an_email_without_an_account_and_sees_it_pending(team, people):
    owner = people["owner"]
    members = f"/app/projects/{team.id}/members"

    sent = invite(owner, team, "New.Colleague@Example.com", "viewer")

    assert sent.status_code == 303 and sent.headers["Location"].endswith("#add-member")
    shown = owner.get(members)
    assert shown.headers["Cache-Control"] == "no-store"
    page = text_of(shown)
    added = section(page, "add-member")
    assert (f"No account has {NEWCOMER} yet: invited as viewer until" in added
            and "it is shown this once" in added)
    link = html.unescape(LINK.search(added)[1])
    assert re.fullmatch(r"http://localhost/app/register\?invitation=[A-Za-z0-9_-]{40,}", link)
    assert flashes(page) == []
    row = re.search(r"<tr>\s*<th scope=\"row\" class=\"wrap\">"
                    + re.escape(NEWCOMER) + r"</th>.*?</tr>",
                    section(page, "invitations"), re.DOTALL)[0]
    assert "<td>viewer</td>" in row and team.owner["email"] in row
    [expires] = team.client.get(f"/api/v1/projects/{team.id}/invitations",
                                headers=team.owner_h).get_json()["items"]
    day = expires["expires_at"][:10]
    assert re.search(rf'<time datetime="{day}[^"]*">\d+ \w{{3}} {day[:4]}</time>', row)
    assert f'Revoke<span class="visually-hidden"> the invitation of {NEWCOMER}' in row

    again = text_of(owner.get(members))  # shown once: gone from the next page
    assert LINK.search(again) is None and NEWCOMER in section(again, "invitations")


def test_a_refused_invitation_is_said_beside_the_form_with_the_email_kept(team, people):
    owner = people["owner"]
    invite(owner, team)
    for typed, role, status, words in (
            (NEWCOMER.upper(), "viewer", 409, "is invited to this project already"),
            ("not an email", "viewer", 422, "Not a valid email address."),
            ("x" * 250 + "@example.com", "owner", 422, "Longer than maximum length 254.")):
        refused = invite(owner, team, typed, role)
        assert refused.status_code == status, text_of(refused)
        page = text_of(refused)
        added = section(page, "add-member")
        said = re.search(r'<p class="field-error" id="member-email-error">(.*?)</p>', added)
        assert words in html.unescape(said[1])
        assert f'value="{html.escape(typed)}"' in added
        assert f"<option selected>{role}</option>" in added
        assert flashes(page) == [] and LINK.search(page) is None
    assert [i["email"] for i in team.client.get(
        f"/api/v1/projects/{team.id}/invitations",
        headers=team.owner_h).get_json()["items"]] == [NEWCOMER]


def test_an_owner_revokes_an_invitation_and_a_stale_revoke_says_so(team, people):
    owner = people["owner"]
    members = f"/app/projects/{team.id}/members"
    invite(owner, team)
    [pending] = team.client.get(f"/api/v1/projects/{team.id}/invitations",
                                headers=team.owner_h).get_json()["items"]
    revoke = f"/app/projects/{team.id}/invitations/{pending['id']}/revoke"
    page = text_of(owner.get(members))
    assert f'data-confirm="Revoke the invitation of {NEWCOMER}? Its link stops working."' in page

    done = owner.post_form(members, revoke, {"email": NEWCOMER}, follow=False)

    assert done.status_code == 303 and done.headers["Location"].endswith("#invitations")
    page = text_of(owner.get(members))
    assert said_at(page, "invitations") == [
        f"Invitation of {NEWCOMER} revoked: its link no longer works."]
    assert NEWCOMER not in section(page, "invitations").split("</p>", 1)[1]
    page = text_of(owner.post_form(members, revoke, {"email": NEWCOMER}))
    assert said_at(page, "invitations") == [
        (f"The invitation of {NEWCOMER} was no longer pending: it was claimed, revoked or "
         "expired.")]
    error_page(people["editor"].post_form(members, revoke, {"email": NEWCOMER}), 403)


def test_editors_see_pending_invitations_viewers_do_not_and_neither_invites(team, people):
    invite(people["owner"], team)
    members = f"/app/projects/{team.id}/members"
    editor = people["editor"].page(members)
    assert NEWCOMER in section(editor, "invitations") and "Revoke" not in section(
        editor, "invitations")
    assert 'id="add-member"' not in editor
    viewer = people["viewer"].page(members)
    assert 'id="invitations"' not in viewer and NEWCOMER not in viewer
    error_page(invite(people["editor"], team, "other@example.com"), 403)


def test_the_invited_person_signs_up_through_the_link_and_lands_in_the_project(
        team, people, keyword_app):
    link = invited_link(people, team, role="viewer")
    path = link.removeprefix("http://localhost")
    browser = keyword_app.test_client()
    form = text_of(browser.get(path))
    token = link.split("invitation=", 1)[1]
    assert f'<input type="hidden" name="invitation" value="{token}">' in form
    # The form carries the invited email and says where it leads (issue #85 item 5).
    assert (f"You were invited to Billing migration as viewer, as {NEWCOMER}"
            in html.unescape(form))
    assert re.search(rf'<input[^>]*name="email"[^>]*value="{re.escape(NEWCOMER)}"', form) or \
        re.search(rf'<input[^>]*value="{re.escape(NEWCOMER)}"[^>]*name="email"', form)

    joined = browser.post("/app/register", data={
        "email": NEWCOMER, "password": PASSWORD, "invitation": token,
        "csrf_token": csrf_of(browser, path)})

    assert joined.status_code == 302
    assert joined.headers["Location"].endswith(f"/app/projects/{team.id}")
    landed = text_of(browser.get(joined.headers["Location"]))
    assert flashes(landed) == ["You joined Billing migration as viewer."]
    members = team.client.get(f"/api/v1/projects/{team.id}/members", headers=team.owner_h,
                              query_string={"q": NEWCOMER}).get_json()["items"]
    assert [(m["email"], m["role"]) for m in members] == [(NEWCOMER, "viewer")]


def test_a_link_that_claims_nothing_is_said_on_the_sign_up_form(team, people, keyword_app):
    link = invited_link(people, team)
    token = link.split("invitation=", 1)[1]
    browser = keyword_app.test_client()
    path = link.removeprefix("http://localhost")

    other = browser.post("/app/register", data={
        "email": "someone.else@example.com", "password": PASSWORD, "invitation": token,
        "csrf_token": csrf_of(browser, path)})
    assert other.status_code == 422
    assert html.unescape(re.search(r'<p class="field-error" id="email-error">(.*?)</p>',
                                   text_of(other))[1]) == rules.OTHER_EMAIL
    made = browser.post("/app/register", data={
        "email": NEWCOMER, "password": PASSWORD, "invitation": "mistyped",
        "csrf_token": csrf_of(browser, path)})
    assert made.status_code == 422
    assert html.unescape(re.search(r'<p class="field-error" id="invitation-error">(.*?)</p>',
                                   text_of(made))[1]) == rules.UNKNOWN
    assert team.client.post("/api/v1/auth/login", json={
        "email": NEWCOMER, "password": PASSWORD}).status_code == 401  # no account made


def test_another_projects_owner_cannot_revoke_through_their_project(team, people, keyword_app,
                                                                    client):
    invite(people["owner"], team)
    [pending] = team.client.get(f"/api/v1/projects/{team.id}/invitations",
                                headers=team.owner_h).get_json()["items"]
    other = make_project(client, team.editor_h, "Editor's own")
    members = f"/app/projects/{other['id']}/members"
    page = text_of(people["editor"].post_form(
        members, f"/app/projects/{other['id']}/invitations/{pending['id']}/revoke",
        {"email": NEWCOMER}))
    assert "was no longer pending" in said_at(page, "invitations")[0]
    assert len(team.client.get(f"/api/v1/projects/{team.id}/invitations",
                               headers=team.owner_h).get_json()["items"]) == 1


def test_the_audit_log_says_each_invitations_story_in_words(team, people, keyword_app):
    """Made, revoked, claimed, expired: a sentence each on the admin's audit page, with the
    project it is about linked."""
    from sqlalchemy import update

    from service.db import Invitation, utcnow
    from service.extensions import db

    invite(people["owner"], team, "revoked@example.com", "viewer")
    [revoked] = team.client.get(f"/api/v1/projects/{team.id}/invitations",
                                headers=team.owner_h).get_json()["items"]
    people["owner"].post_form(f"/app/projects/{team.id}/members",
                              f"/app/projects/{team.id}/invitations/{revoked['id']}/revoke",
                              {"email": "revoked@example.com"})
    link = invited_link(people, team)
    browser = keyword_app.test_client()
    browser.post("/app/register", data={
        "email": NEWCOMER, "password": PASSWORD, "invitation": link.split("=", 1)[1],
        "csrf_token": csrf_of(browser, "/app/register")})
    invite(people["owner"], team, "late@example.com", "owner")
    with keyword_app.app_context():
        db.session.execute(update(Invitation).values(expires_at=utcnow()))
        db.session.commit()
    people["owner"].get(f"/app/projects/{team.id}/members")  # lists them: it expires

    admin = Browser(keyword_app, team.admin["email"])
    said = {}
    for row in re.findall(r"<tr>\s*<td><time.*?</tr>", admin.page("/app/admin/audit"),
                          re.DOTALL):
        event = re.search(r'<th scope="row">([^<]+)</th>', row)[1]
        if event.startswith("invitation"):
            said.setdefault(event, []).append(
                html.unescape(re.search(r"<td><p>(.*?)</p>", row)[1]))
            assert f'href="/app/projects/{team.id}">Project Billing migration</a>' in row
    assert said == {
        "invitation created": ["Invited late@example.com to a project as owner.",
                               f"Invited {NEWCOMER} to a project as editor.",
                               "Invited revoked@example.com to a project as viewer."],
        "invitation revoked": ["Revoked the invitation of revoked@example.com (viewer)."],
        "invitation accepted": ["Joined a project as editor through an invitation link."],
        "invitation expired": [("The invitation of late@example.com (owner) expired "
                                "unclaimed.")]}
