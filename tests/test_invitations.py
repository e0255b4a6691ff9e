"""Invitations (service/projects/invitations.py): an owner invites an email without an
account; the person joins with the invited role at their first sign-in, by the link's token
on a local sign-up or through single sign-on (a real OpenID provider on loopback). On both
databases, through the API as a client meets it."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from service.db import Invitation, ProjectMember, User, utcnow
from service.extensions import db
from service.projects import invitations as rules
from tests.helpers import MISSING, PASSWORD, Accounts, assert_problem, audit_rows, together
from tests.projects import add_member, make_project
from tests.sso.console import come_back, signed_in_as

NEWCOMER = "new.colleague@example.com"


def invitations_url(project_id: str, invitation_id: str | None = None) -> str:
    url = f"/api/v1/projects/{project_id}/invitations"
    return f"{url}/{invitation_id}" if invitation_id else url


def invite(client, headers, project_id, email=NEWCOMER, role="editor"):
    return client.post(invitations_url(project_id), headers=headers,
                       json={"email": email, "role": role})


def invited(client, headers, project_id, email=NEWCOMER, role="editor") -> dict:
    response = invite(client, headers, project_id, email, role)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def sign_up(client, email=NEWCOMER, invitation=None, password=PASSWORD):
    body = {"email": email, "password": password}
    if invitation is not None:
        body["invitation"] = invitation
    return client.post("/api/v1/auth/register", json=body)


def pending(client, headers, project_id) -> list[dict]:
    response = client.get(invitations_url(project_id), headers=headers,
                          query_string={"per_page": 100})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def roles(client, headers, project_id) -> dict[str, str]:
    listing = client.get(f"/api/v1/projects/{project_id}/members", headers=headers,
                         query_string={"per_page": 100}).get_json()
    return {member["email"]: member["role"] for member in listing["items"]}


def account_of(app, email):
    with app.app_context():
        return db.session.scalar(select(User.id).where(User.email == email))


def expire_all(app) -> None:
    """The clock moved past every invitation's expiry: their rows say so."""
    with app.app_context():
        db.session.execute(update(Invitation).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()


# --- invite, list, revoke ------------------------------------------------------------------

def test_an_owner_invites_an_email_without_an_account_and_it_is_pending(team, client):
    before = utcnow()
    response = invite(client, team.owner_h, team.id, "New.Colleague@Example.com", "editor")
    assert response.status_code == 201, response.get_json()
    made = response.get_json()
    assert (made["email"], made["role"], made["invited_by"], made["invited_by_email"]) == (
        NEWCOMER, "editor", team.owner["id"], team.owner["email"])
    assert len(made["token"]) >= 40
    expires = made["expires_at"]
    assert timedelta(days=14) <= _instant(expires) - before <= timedelta(days=14, minutes=1)

    for headers in (team.owner_h, team.editor_h):  # editors read them too, never the token
        [listed] = pending(client, headers, team.id)
        assert listed == {key: value for key, value in made.items()
                          if key not in ("token", "emailed")}
    assert made["emailed"] is False  # no SMTP_HOST: the owner hands the link over
    assert_problem(client.get(invitations_url(team.id), headers=team.viewer_h), 403)
    assert_problem(client.get(invitations_url(team.id), headers=team.outsider_h), 404)
    with team.client.application.app_context():  # only its digest is kept
        stored = db.session.scalar(select(Invitation))
        assert stored.token_hash == rules.digest(made["token"]) != made["token"]

    [event] = audit_rows(team.client.application, "invitation_created")
    assert (event.actor_id, event.target_id) == (team.owner["id"], made["id"])
    assert event.details == {"project_id": team.id, "email": NEWCOMER, "role": "editor",
                             "expires_at": _instant(expires).isoformat()}


def test_the_time_an_invitation_waits_is_a_setting(make_app):
    app = make_app(INVITATION_TTL_DAYS=2)
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    project = make_project(client, headers)
    made = invited(client, headers, project["id"])
    waits = _instant(made["expires_at"]) - _instant(made["created_at"])
    assert waits == timedelta(days=2)


def test_only_owners_invite_and_nothing_is_pending_after_a_refusal(team, client):
    for headers in (team.editor_h, team.viewer_h, team.admin_h):
        assert_problem(invite(client, headers, team.id), 403)
    assert_problem(invite(client, team.outsider_h, team.id), 404)
    assert_problem(invite(client, team.owner_h, MISSING), 404)
    assert pending(client, team.owner_h, team.id) == []
    assert audit_rows(team.client.application, "invitation_created") == []


@pytest.mark.parametrize("body, field", [
    ({"email": "not-an-email", "role": "editor"}, "email"),
    ({"email": "", "role": "editor"}, "email"),
    ({"email": "a" * 250 + "@example.com", "role": "editor"}, "email"),
    ({"email": "x@example.com\r\nBcc: all@example.com", "role": "editor"}, "email"),
    ({"email": ["x@example.com"], "role": "editor"}, "email"),
    ({"role": "editor"}, "email"),
    ({"email": NEWCOMER, "role": "admin"}, "role"),
    ({"email": NEWCOMER}, "role"),
    ({"email": NEWCOMER, "role": "editor", "token": "mine"}, "token"),
])
def test_a_malformed_or_oversized_invitation_is_422_on_its_field(team, client, body, field):
    response = client.post(invitations_url(team.id), headers=team.owner_h, json=body)
    assert_problem(response, 422, field)
    assert pending(client, team.owner_h, team.id) == []


def test_an_email_with_an_account_is_added_as_a_member_not_invited(team, client):
    response = invite(client, team.owner_h, team.id, team.outsider["email"].upper())
    body = assert_problem(response, 409, "email")
    assert "add it as a member" in body["detail"]
    assert pending(client, team.owner_h, team.id) == []
    add_member(client, team.owner_h, team.id, team.outsider["email"], "viewer")  # as today
    assert roles(client, team.owner_h, team.id)[team.outsider["email"]] == "viewer"


def test_an_email_invited_already_is_409_until_that_invitation_is_revoked(team, client):
    first = invited(client, team.owner_h, team.id)
    body = assert_problem(invite(client, team.owner_h, team.id, NEWCOMER.upper(), "viewer"),
                          409, "email")
    assert "invited to this project already" in body["detail"]
    assert [i["role"] for i in pending(client, team.owner_h, team.id)] == ["editor"]

    assert client.delete(invitations_url(team.id, first["id"]),
                         headers=team.owner_h).status_code == 204
    assert pending(client, team.owner_h, team.id) == []
    again = invited(client, team.owner_h, team.id, role="viewer")
    assert again["token"] != first["token"]
    [event] = audit_rows(team.client.application, "invitation_revoked")
    assert (event.actor_id, event.target_id, event.details) == (
        team.owner["id"], first["id"],
        {"project_id": team.id, "email": NEWCOMER, "role": "editor"})


def test_only_owners_revoke_and_only_their_projects_invitations(team, client, keyword_app):
    made = invited(client, team.owner_h, team.id)
    for headers in (team.editor_h, team.viewer_h):
        assert_problem(client.delete(invitations_url(team.id, made["id"]), headers=headers),
                       403)
    # Another project's owner, through their own project: the 404 of a missing one.
    other_h = Accounts(keyword_app, client).user()[1]
    other = make_project(client, other_h, "Other")
    mine = invited(client, other_h, other["id"], "someone.else@example.com")
    for invitation_id in (made["id"], MISSING, "1 OR 1=1", "x" * 300):
        assert_problem(client.delete(invitations_url(other["id"], invitation_id),
                                     headers=other_h), 404)
    assert [i["id"] for i in pending(client, other_h, other["id"])] == [mine["id"]]
    assert [i["id"] for i in pending(client, team.owner_h, team.id)] == [made["id"]]
    assert_problem(client.delete(invitations_url(team.id, made["id"]), headers=other_h), 404)


# --- joining: a local sign-up --------------------------------------------------------------

def test_the_invited_person_signs_up_with_the_link_and_joins_with_the_role(team, client):
    made = invited(client, team.owner_h, team.id, role="viewer")

    response = sign_up(client, NEWCOMER.upper(), made["token"])

    assert response.status_code == 201, response.get_json()
    account = response.get_json()
    assert account["email"] == NEWCOMER
    assert account["joined"] == [{"project_id": team.id, "project_name": "Billing migration",
                                  "role": "viewer"}]
    assert roles(client, team.owner_h, team.id)[NEWCOMER] == "viewer"
    headers = {"Authorization": "Bearer " + Accounts(team.client.application, client).login(
        NEWCOMER)["access_token"]}
    assert client.get(f"/api/v1/projects/{team.id}", headers=headers).get_json()[
        "role"] == "viewer"
    assert pending(client, team.owner_h, team.id) == []
    [event] = audit_rows(team.client.application, "invitation_accepted")
    assert (event.actor_id, event.target_id, event.details) == (
        account["id"], made["id"],
        {"project_id": team.id, "email": NEWCOMER, "role": "viewer", "via": "link"})
    # Used: the link claims nothing again, and makes no account.
    body = assert_problem(sign_up(client, "another@example.com", made["token"]), 422,
                          "invitation")
    assert body["detail"] == rules.UNKNOWN
    assert account_of(team.client.application, "another@example.com") is None


def test_a_sign_up_without_the_link_claims_nothing(team, client):
    """The attack the token stops: whoever registers the invited email first, with no
    proof that it is theirs, gets an account and nothing of the project."""
    invited(client, team.owner_h, team.id)
    response = sign_up(client, NEWCOMER)
    assert response.status_code == 201 and response.get_json()["joined"] == []
    assert NEWCOMER not in roles(client, team.owner_h, team.id)
    assert [i["email"] for i in pending(client, team.owner_h, team.id)] == [NEWCOMER]
    assert audit_rows(team.client.application, "invitation_accepted") == []


def test_the_link_under_another_email_is_422_and_makes_no_account(team, client):
    made = invited(client, team.owner_h, team.id)
    body = assert_problem(sign_up(client, "forwarded@example.com", made["token"]), 422,
                          "email")
    assert body["detail"] == rules.OTHER_EMAIL
    assert account_of(team.client.application, "forwarded@example.com") is None
    assert [i["email"] for i in pending(client, team.owner_h, team.id)] == [NEWCOMER]


@pytest.mark.parametrize("token", ["", "x" * 129, "not-a-token", ["list"], 7])
def test_a_malformed_or_unknown_token_is_422_and_makes_no_account(team, client, token):
    invited(client, team.owner_h, team.id)
    assert_problem(sign_up(client, NEWCOMER, token), 422, "invitation")
    assert account_of(team.client.application, NEWCOMER) is None


def test_a_revoked_invitations_link_claims_nothing(team, client):
    made = invited(client, team.owner_h, team.id)
    assert client.delete(invitations_url(team.id, made["id"]),
                         headers=team.owner_h).status_code == 204
    assert_problem(client.delete(invitations_url(team.id, made["id"]),
                                 headers=team.owner_h), 404)
    assert_problem(sign_up(client, NEWCOMER, made["token"]), 422, "invitation")
    assert account_of(team.client.application, NEWCOMER) is None


def test_an_expired_invitation_claims_nothing_and_its_expiry_is_audited_once(team, client):
    made = invited(client, team.owner_h, team.id)
    expire_all(team.client.application)

    body = assert_problem(sign_up(client, NEWCOMER, made["token"]), 422, "invitation")
    assert body["detail"] == rules.EXPIRED
    assert account_of(team.client.application, NEWCOMER) is None
    assert pending(client, team.owner_h, team.id) == []
    assert pending(client, team.editor_h, team.id) == []
    assert_problem(client.delete(invitations_url(team.id, made["id"]),
                                 headers=team.owner_h), 404)
    [event] = audit_rows(team.client.application, "invitation_expired")
    assert (event.actor_id, event.target_id) == (None, made["id"])
    assert event.details["email"] == NEWCOMER and event.details["project_id"] == team.id
    again = invited(client, team.owner_h, team.id)  # the email may be invited again
    assert again["id"] != made["id"]


def test_an_invitation_and_its_link_go_with_the_project(team, client):
    made = invited(client, team.owner_h, team.id)
    assert client.delete(f"/api/v1/projects/{team.id}", headers=team.owner_h).status_code == 204
    assert_problem(sign_up(client, NEWCOMER, made["token"]), 422, "invitation")


def test_pending_invitations_count_against_max_project_members(make_app):
    app = make_app(MAX_PROJECT_MEMBERS=2)
    client = app.test_client()
    accounts = Accounts(app, client)
    _, headers = accounts.user()
    colleague = accounts.register()
    project = make_project(client, headers)
    made = invited(client, headers, project["id"])

    assert "MAX_PROJECT_MEMBERS" in assert_problem(
        invite(client, headers, project["id"], "third@example.com"), 409)["detail"]
    full = client.post(f"/api/v1/projects/{project['id']}/members", headers=headers,
                       json={"email": colleague["email"], "role": "viewer"})
    assert "MAX_PROJECT_MEMBERS" in assert_problem(full, 409)["detail"]
    # Claimed, it is a member in its seat; the project is as full as it was.
    assert sign_up(client, NEWCOMER, made["token"]).status_code == 201
    assert_problem(invite(client, headers, project["id"], "third@example.com"), 409)


def test_invitations_draw_on_registrations_budget(make_app):
    """An invitation's answer, like registration's 409, tells whether an email has an
    account: each one made spends the per-address budget of registrations."""
    app = make_app(RATE_LIMIT_REGISTER_ADDRESS="3 per hour")
    client = app.test_client()
    _, headers = Accounts(app, client).user()  # 1
    project = make_project(client, headers)
    for n in range(2):  # 3
        invited(client, headers, project["id"], f"n{n}@example.com")
    blocked = invite(client, headers, project["id"], "n3@example.com")
    assert_problem(blocked, 429)
    assert int(blocked.headers["Retry-After"]) > 0
    with app.app_context():
        assert db.session.query(Invitation).count() == 2


# --- racing --------------------------------------------------------------------------------

def test_two_sign_ups_with_one_link_make_one_account_and_one_member(team, client):
    made = invited(client, team.owner_h, team.id)
    register = ("POST", "/api/v1/auth/register", None,
                {"email": NEWCOMER, "password": PASSWORD, "invitation": made["token"]})
    answers = together(team.client.application, register, register)
    assert sorted(a.status_code for a in answers) == [201, 409], [a.get_json() for a in answers]
    assert roles(client, team.owner_h, team.id)[NEWCOMER] == "editor"
    assert len(audit_rows(team.client.application, "invitation_accepted")) == 1


def test_a_sign_up_racing_a_revocation_either_joins_or_makes_no_account(team, client):
    for n in range(5):
        email = f"racer-{n}@example.com"
        made = invited(client, team.owner_h, team.id, email)
        joined, revoked = together(
            team.client.application,
            ("POST", "/api/v1/auth/register", None,
             {"email": email, "password": PASSWORD, "invitation": made["token"]}),
            ("DELETE", invitations_url(team.id, made["id"]), team.owner_h, None))
        outcome = (joined.status_code, revoked.status_code)
        assert outcome in ((201, 404), (422, 204)), [joined.get_json(), revoked.get_data()]
        member = email in roles(client, team.owner_h, team.id)
        assert member == (outcome == (201, 404))
        assert (account_of(team.client.application, email) is not None) == member
    assert not pending(client, team.owner_h, team.id)


def test_two_owners_inviting_one_email_at_once_make_one_invitation(team, client):
    co_owner, co_owner_h = Accounts(team.client.application, client).user()
    add_member(client, team.owner_h, team.id, co_owner["email"], "owner")
    body = {"email": NEWCOMER, "role": "viewer"}
    answers = together(team.client.application,
                       ("POST", invitations_url(team.id), team.owner_h, body),
                       ("POST", invitations_url(team.id), co_owner_h, body))
    assert sorted(a.status_code for a in answers) == [201, 409]
    assert len(pending(client, team.owner_h, team.id)) == 1


# --- joining: single sign-on ---------------------------------------------------------------

def test_a_first_single_sign_on_joins_every_project_that_invited_the_email(
        sso, oidc_provider):
    """The provider vouched for the email (a verified one): no link is needed. Projects
    that invited other emails, and an expired invitation, stay as they were."""
    app, browser = sso()
    client = app.test_client()
    accounts = Accounts(app, client)
    _, first_h = accounts.user()
    _, second_h = accounts.user()
    first, second = make_project(client, first_h, "First"), make_project(client, second_h)
    stale = make_project(client, second_h, "Stale")
    invited(client, first_h, first["id"], "Ada@Example.com", "editor")
    invited(client, second_h, second["id"], "ada@example.com", "viewer")
    invited(client, second_h, second["id"], "grace@example.com", "owner")
    invited(client, second_h, stale["id"], "ada@example.com", "owner")
    with app.app_context():
        db.session.execute(update(Invitation).where(Invitation.project_id == stale["id"])
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()

    back = come_back(browser, oidc_provider, "ada")

    assert back.status_code == 302 and signed_in_as(browser) == "ada@example.com"
    assert roles(client, first_h, first["id"])["ada@example.com"] == "editor"
    assert roles(client, second_h, second["id"])["ada@example.com"] == "viewer"
    assert "ada@example.com" not in roles(client, second_h, stale["id"])
    assert [i["email"] for i in pending(client, second_h, second["id"])] == [
        "grace@example.com"]
    accepted = audit_rows(app, "invitation_accepted")
    assert sorted((e.details["project_id"], e.details["via"]) for e in accepted) == sorted(
        [(first["id"], "oidc"), (second["id"], "oidc")])
    assert [e.details["project_id"] for e in audit_rows(app, "invitation_expired")] == [
        stale["id"]]


def test_a_local_account_made_first_loses_its_sessions_when_sso_takes_it_over(
        sso, oidc_provider):
    """Someone registers the invited email with a password before its owner arrives (no
    email is verified here): nothing joins. When the operator lets single sign-on take over
    such an account and the provider's person signs in, the project is theirs alone: every
    session made with the password ends first."""
    app, browser = sso(OIDC_LINK_LOCAL_ACCOUNTS=True)
    client = app.test_client()
    accounts = Accounts(app, client)
    _, owner_h = accounts.user()
    project = make_project(client, owner_h)
    invited(client, owner_h, project["id"], "ada@example.com", "editor")
    squatter = accounts.register("ada@example.com")
    squatter_h = {"Authorization": "Bearer " + accounts.login("ada@example.com")[
        "access_token"]}
    assert_problem(client.get(f"/api/v1/projects/{project['id']}", headers=squatter_h), 404)

    come_back(browser, oidc_provider, "ada")

    assert roles(client, owner_h, project["id"])["ada@example.com"] == "editor"
    assert_problem(client.get(f"/api/v1/projects/{project['id']}", headers=squatter_h), 401)
    with app.app_context():
        assert db.session.get(User, squatter["id"]).auth_source == "oidc"
        assert db.session.get(ProjectMember, (project["id"], squatter["id"])).role == "editor"


def _instant(value: str):
    from datetime import datetime

    return datetime.fromisoformat(re.sub(r"Z$", "+00:00", value))


LOOKUP = "/api/v1/invitations/lookup"


def test_a_link_says_what_it_invites_to_and_as_which_email(team, client):
    """Issue #85 item 5: the sign-up from an invitation did not carry the invited email.
    The link's token, sent in the body, reads the project, the role and the email; the same
    404 for a token revoked, used or never made, and the expiry said as such."""
    made = invited(client, team.owner_h, team.id, role="viewer")
    looked = client.post(LOOKUP, json={"token": made["token"]})
    assert looked.status_code == 200, looked.get_json()
    assert {k: v for k, v in looked.get_json().items() if k != "expires_at"} == {
        "email": NEWCOMER, "role": "viewer", "project_name": team.project["name"]}
    unknown = assert_problem(client.post(LOOKUP, json={"token": "no-such-token"}), 404)
    assert unknown["detail"] == rules.UNKNOWN
    for body in ({}, {"token": ""}, {"token": "x" * 129}, {"token": 5}, [1], "token"):
        assert client.post(LOOKUP, json=body).status_code in (400, 422), body
    expire_all(team.client.application)
    assert assert_problem(client.post(LOOKUP, json={"token": made["token"]}),
                          404)["detail"] == rules.EXPIRED
    fresh = invited(client, team.owner_h, team.id)
    assert sign_up(client, NEWCOMER, fresh["token"]).status_code == 201
    assert assert_problem(client.post(LOOKUP, json={"token": fresh["token"]}),
                          404)["detail"] == rules.UNKNOWN  # used: one-time
