"""Projects and their members, as a user of the API sees them: who may do what, what is
listed afterwards, scans that join a project, hostile input, and the audit trail.

The register itself (matching, reopening, export, changes, trend) is tests/test_register.py.
Findings come from the keyword stand-in (tests/scanning.py): a sentence with "budget",
"vendor", "slip" or "password" is a finding.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote

import pytest

from service.config import current_settings
from service.projects.membership import LAST_OWNER
from tests.helpers import RACE_TIMEOUT_S, Accounts, assert_problem
from tests.projects import add_member, audit_events, make_project, register_of, scan_into
from tests.scanning import download, nothing_stored, post_file, post_text, without_request_id

PROJECTS = "/api/v1/projects"
SCANS = "/api/v1/scans"
AUDIT = "/api/v1/admin/audit-events"

RISKY = "The budget is overrun by a third. The vendor may not deliver the licences."
REPORT = b"The go-live may slip by two weeks. The test team met on Monday.\n"


def missing_id() -> str:
    return str(uuid.uuid4())


def project_url(project_id: str, *rest: str) -> str:
    return "/".join((PROJECTS, project_id, *rest))


def listed(client, headers, url=PROJECTS, **args) -> dict:
    response = client.get(url, query_string={"per_page": 100, **args}, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def names(page: dict) -> list[str]:
    return [item["name"] for item in page["items"]]


def member_roles(client, headers, project_id) -> dict[str, str]:
    page = listed(client, headers, project_url(project_id, "members"))
    return {member["user_id"]: member["role"] for member in page["items"]}


def scan_ids(client, headers, **args) -> set[str]:
    return {item["scan_id"] for item in listed(client, headers, SCANS, **args)["items"]}


def same_404(*responses) -> dict:
    """Every response is the same 404 problem, request id aside."""
    for response in responses:
        assert_problem(response, 404)
    bodies = [without_request_id(response) for response in responses]
    assert all(body == bodies[0] for body in bodies), bodies
    return bodies[0]


# Projects


def test_creating_a_project_makes_you_its_owner(client, accounts):
    _, headers = accounts.user()
    response = client.post(PROJECTS, json={"name": "  Billing migration  ",
                                           "description": "Move billing off the mainframe."},
                           headers=headers)
    assert response.status_code == 201, response.get_json()
    project = response.get_json()
    assert project["name"] == "Billing migration"  # trimmed
    assert project["description"] == "Move billing off the mainframe."
    assert project["role"] == "owner"
    assert project["id"] and project["created_at"] and project["updated_at"]
    assert client.get(project_url(project["id"]), headers=headers).get_json() == project


def test_a_project_without_a_description_has_none(client, accounts):
    _, headers = accounts.user()
    assert make_project(client, headers, "Plain")["description"] is None


def test_the_list_shows_only_the_projects_you_are_a_member_of(team, client):
    make_project(client, team.outsider_h, "Outsider's own")

    assert names(listed(client, team.owner_h)) == ["Billing migration"]
    assert [p["role"] for p in listed(client, team.editor_h)["items"]] == ["editor"]
    assert [p["role"] for p in listed(client, team.viewer_h)["items"]] == ["viewer"]
    outsider = listed(client, team.outsider_h)
    assert names(outsider) == ["Outsider's own"] and outsider["total"] == 1


def test_the_list_pages_through_your_projects(client, accounts):
    _, headers = accounts.user()
    made = {make_project(client, headers, f"Project {n}")["id"] for n in range(5)}

    pages = [listed(client, headers, page=page, per_page=2) for page in (1, 2, 3, 4)]
    assert [len(p["items"]) for p in pages] == [2, 2, 1, 0]
    assert all(p["total"] == 5 and p["per_page"] == 2 for p in pages)
    seen = [item["id"] for p in pages for item in p["items"]]
    assert len(seen) == 5 and set(seen) == made


def test_q_filters_by_part_of_the_name(client, accounts):
    _, headers = accounts.user()
    for name in ("Billing migration", "Data centre exit", "Billing archive"):
        make_project(client, headers, name)
    assert sorted(names(listed(client, headers, q="Billing"))) == ["Billing archive",
                                                                  "Billing migration"]
    assert names(listed(client, headers, q="centre")) == ["Data centre exit"]
    assert listed(client, headers, q="nothing like it")["total"] == 0


@pytest.mark.parametrize("q, expected", [
    ("%", ["100% done"]),
    ("_", ["a_b"]),
    ("/", ["x/y"]),
    ("0%", ["100% done"]),
    ("a_", ["a_b"]),
])
def test_q_matches_percent_underscore_and_slash_literally(client, accounts, q, expected):
    _, headers = accounts.user()
    for name in ("100% done", "1000 done", "a_b", "axb", "x/y", "xy"):
        make_project(client, headers, name)
    assert names(listed(client, headers, q=q)) == expected


def test_getting_a_project_shows_your_role_in_it(team, client):
    for headers, role in ((team.owner_h, "owner"), (team.editor_h, "editor"),
                          (team.viewer_h, "viewer")):
        response = client.get(project_url(team.id), headers=headers)
        assert response.status_code == 200
        assert response.get_json()["role"] == role
        assert response.get_json()["name"] == "Billing migration"


def test_an_editor_may_rename_a_project_and_change_its_description(team, client):
    response = client.patch(project_url(team.id), headers=team.editor_h,
                            json={"name": " Billing cut-over ", "description": "Phase two."})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["name"] == "Billing cut-over"
    assert response.get_json()["role"] == "editor"

    seen = client.get(project_url(team.id), headers=team.viewer_h).get_json()
    assert (seen["name"], seen["description"]) == ("Billing cut-over", "Phase two.")

    cleared = client.patch(project_url(team.id), json={"description": None},
                           headers=team.owner_h)
    assert cleared.status_code == 200
    assert cleared.get_json()["description"] is None
    assert cleared.get_json()["name"] == "Billing cut-over"  # what was not sent stays


def test_a_viewer_may_not_change_a_project(team, client):
    response = client.patch(project_url(team.id), json={"name": "Mine now"},
                            headers=team.viewer_h)
    assert_problem(response, 403)
    assert client.get(project_url(team.id), headers=team.owner_h).get_json()["name"] == (
        "Billing migration")


@pytest.mark.parametrize("method, rest, body", [
    ("GET", (), None),
    ("PATCH", (), {"name": "Taken over"}),
    ("DELETE", (), None),
    ("GET", ("members",), None),
    ("POST", ("members",), {"email": "someone@example.com", "role": "viewer"}),
    ("GET", ("risks",), None),
    ("GET", ("risks", "export"), None),
    ("GET", ("changes",), None),
    ("GET", ("trend",), None),
])
def test_an_outsider_gets_the_same_404_as_for_a_missing_or_malformed_id(
        team, client, method, rest, body):
    def call(project_id):
        return client.open(project_url(project_id, *rest), method=method, json=body,
                           headers=team.outsider_h)

    same_404(call(team.id), call(missing_id()), call("not-a-project"))
    # and nothing changed
    assert client.get(project_url(team.id), headers=team.owner_h).get_json()["name"] == (
        "Billing migration")


def test_only_an_owner_may_delete_a_project(team, client):
    assert_problem(client.delete(project_url(team.id), headers=team.editor_h), 403)
    assert_problem(client.delete(project_url(team.id), headers=team.viewer_h), 403)
    assert_problem(client.delete(project_url(team.id), headers=team.outsider_h), 404)
    assert client.get(project_url(team.id), headers=team.viewer_h).status_code == 200

    assert client.delete(project_url(team.id), headers=team.owner_h).status_code == 204
    for headers in (team.owner_h, team.editor_h, team.viewer_h):
        assert_problem(client.get(project_url(team.id), headers=headers), 404)
        assert listed(client, headers)["total"] == 0
    assert_problem(client.delete(project_url(team.id), headers=team.owner_h), 404)


def test_deleting_a_project_leaves_its_scans_with_their_owners_outside_any_project(
        team, client):
    mine = scan_into(client, team.owner_h, team.id, RISKY)
    uploaded = post_file(client, team.editor_h, REPORT, "week-1.txt", project_id=team.id)
    assert uploaded.status_code == 201, uploaded.get_json()
    theirs = uploaded.get_json()
    assert register_of(client, team.owner_h, team.id)

    assert client.delete(project_url(team.id), headers=team.owner_h).status_code == 204

    for headers, scan in ((team.owner_h, mine), (team.editor_h, theirs)):
        kept = client.get(f"{SCANS}/{scan['scan_id']}", headers=headers)
        assert kept.status_code == 200
        assert kept.get_json()["project_id"] is None
        # The findings as they were, out of the deleted project's register.
        assert kept.get_json()["data"] == [{**f, "risk_id": None} for f in scan["data"]]
        assert scan_ids(client, headers) == {scan["scan_id"]}
    assert download(client, theirs["scan_id"], team.editor_h) == (200, REPORT)
    # The other members lost them with the project.
    assert_problem(client.get(f"{SCANS}/{theirs['scan_id']}", headers=team.viewer_h), 404)
    assert download(client, theirs["scan_id"], team.owner_h)[0] == 404
    # The register is gone with it.
    for rest in (("risks",), ("trend",), ("members",)):
        assert_problem(client.get(project_url(team.id, *rest), headers=team.owner_h), 404)
    assert_problem(client.get(project_url(team.id, "risks"), headers=team.admin_h), 404)


def test_an_admin_may_read_any_project_its_members_its_register_and_its_scans(team, client):
    scan = scan_into(client, team.editor_h, team.id, RISKY)

    project = client.get(project_url(team.id), headers=team.admin_h)
    assert project.status_code == 200
    assert project.get_json()["role"] is None  # not a member
    assert project.get_json()["name"] == "Billing migration"
    assert len(member_roles(client, team.admin_h, team.id)) == 3
    assert len(register_of(client, team.admin_h, team.id)) == 2
    assert scan_ids(client, team.admin_h, project_id=team.id) == {scan["scan_id"]}
    assert client.get(f"{SCANS}/{scan['scan_id']}", headers=team.admin_h).status_code == 200
    # Reading is not membership: the admin's own list holds no project; `every` lists it,
    # with no role (issue #85 item 5), and is refused to anyone else.
    assert listed(client, team.admin_h)["total"] == 0
    own = make_project(client, team.admin_h, name="Admin's own")
    every = client.get(PROJECTS, headers=team.admin_h, query_string={"every": "true"})
    assert [(p["id"], p["role"]) for p in every.get_json()["items"]] == [
        (own["id"], "owner"), (team.id, None)]
    assert every.get_json()["total"] == 2
    named = client.get(PROJECTS, headers=team.admin_h, query_string={"every": "1", "q": "Bill"})
    assert [p["id"] for p in named.get_json()["items"]] == [team.id]
    assert_problem(client.get(PROJECTS, headers=team.owner_h, query_string={"every": "true"}),
                   403)
    assert_problem(client.get(PROJECTS, headers=team.admin_h, query_string={"every": "maybe"}),
                   422)


def test_an_admin_may_not_change_a_project_of_others(team, client):
    """An admin who is not a member reads the project, so a change is a 403 that says why,
    not the outsider's 404; leaving a project one is not in is the 404 of no such member."""
    admin = team.admin_h
    url = project_url(team.id)
    for response in (
        client.patch(url, json={"name": "Admin's"}, headers=admin),
        client.delete(url, headers=admin),
        client.post(f"{url}/members", json={"email": team.admin["email"], "role": "owner"},
                    headers=admin),
        client.patch(f"{url}/members/{team.viewer['id']}", json={"role": "owner"},
                     headers=admin),
        client.delete(f"{url}/members/{team.viewer['id']}", headers=admin),
        post_text(client, admin, RISKY, project_id=team.id),
    ):
        assert_problem(response, 403)
    assert_problem(client.delete(f"{url}/members/{team.admin['id']}", headers=admin), 404)
    assert client.get(url, headers=team.owner_h).get_json()["name"] == "Billing migration"
    assert len(member_roles(client, team.owner_h, team.id)) == 3
    assert listed(client, team.owner_h, SCANS, project_id=team.id)["total"] == 0


@pytest.mark.parametrize("in_project", [True, False])
def test_an_admin_deleting_or_correcting_a_scan_of_others_gets_the_404_of_a_missing_one(
        team, client, in_project):
    scan = (scan_into(client, team.editor_h, team.id, RISKY) if in_project
            else post_text(client, team.editor_h, RISKY).get_json())
    finding = scan["data"][0]["id"]

    def attempts(scan_id):
        url = f"{SCANS}/{scan_id}"
        return [client.delete(url, headers=team.admin_h),
                client.patch(f"{url}/findings/{finding}", json={"category": "none"},
                             headers=team.admin_h)]

    for theirs, missing in zip(attempts(scan["scan_id"]), attempts(missing_id()), strict=True):
        same_404(theirs, missing)
    kept = client.get(f"{SCANS}/{scan['scan_id']}", headers=team.editor_h).get_json()
    assert kept["data"] == scan["data"]


def test_an_admin_may_not_move_a_scan_of_others(team, client):
    """The code answers 403, as to a member who is not the scan's creator."""
    scan = scan_into(client, team.editor_h, team.id, RISKY)
    assert_problem(client.patch(f"{SCANS}/{scan['scan_id']}", json={"project_id": None},
                                headers=team.admin_h), 403)
    kept = client.get(f"{SCANS}/{scan['scan_id']}", headers=team.editor_h).get_json()
    assert kept["project_id"] == team.id


# Members


def test_an_owner_adds_a_member_by_email_in_any_case(team, client, keyword_app):
    newcomer, newcomer_h = Accounts(keyword_app, client).user()
    response = client.post(project_url(team.id, "members"), headers=team.owner_h,
                           json={"email": newcomer["email"].upper(), "role": "editor"})
    assert response.status_code == 201, response.get_json()
    member = response.get_json()
    assert (member["user_id"], member["email"], member["role"]) == (
        newcomer["id"], newcomer["email"], "editor")
    assert member["added_at"]
    assert [p["role"] for p in listed(client, newcomer_h)["items"]] == ["editor"]
    assert client.get(project_url(team.id), headers=newcomer_h).status_code == 200


@pytest.mark.parametrize("email", ["nobody@example.com", "inactive"])
def test_adding_an_unknown_or_inactive_email_is_404_on_email(team, client, email):
    """404 with errors.email: no such user (422 until 494cf37, which made it 404 because
    the request is schema-valid); a malformed email is still 422."""
    if email == "inactive":
        email = "dormant@example.com"
        made = client.post("/api/v1/users", headers=team.admin_h, json={
            "email": email, "password": "correct horse battery", "active": False})
        assert made.status_code == 201, made.get_json()
    response = client.post(project_url(team.id, "members"), headers=team.owner_h,
                           json={"email": email, "role": "viewer"})
    assert_problem(response, 404, "email")
    assert len(member_roles(client, team.owner_h, team.id)) == 3


@pytest.mark.parametrize("who", ["viewer", "owner"])
def test_adding_a_member_again_is_409_and_keeps_their_role(team, client, who):
    user = getattr(team, who)
    response = client.post(project_url(team.id, "members"), headers=team.owner_h,
                           json={"email": user["email"], "role": "editor"})
    assert_problem(response, 409)
    assert member_roles(client, team.owner_h, team.id)[user["id"]] == who


@pytest.mark.parametrize("role", ["admin", "Owner", "", " viewer", None, 1, ["viewer"]])
def test_a_bad_role_is_422(team, client, role):
    response = client.post(project_url(team.id, "members"), headers=team.owner_h,
                           json={"email": team.outsider["email"], "role": role})
    assert_problem(response, 422, "role")
    changed = client.patch(project_url(team.id, "members", team.viewer["id"]),
                           headers=team.owner_h, json={"role": role})
    assert_problem(changed, 422, "role")
    roles = member_roles(client, team.owner_h, team.id)
    assert team.outsider["id"] not in roles and roles[team.viewer["id"]] == "viewer"


@pytest.mark.parametrize("body, field", [
    ({"role": "viewer"}, "email"),
    ({"email": "not an email", "role": "viewer"}, "email"),
    ({"email": 42, "role": "viewer"}, "email"),
    ({"email": "a@example.com"}, "role"),
    ({"email": "a@example.com", "role": "viewer", "user_id": "x"}, "user_id"),
])
def test_a_bad_member_body_is_422_on_its_field(team, client, body, field):
    response = client.post(project_url(team.id, "members"), headers=team.owner_h, json=body)
    assert_problem(response, 422, field)


def test_only_owners_add_members(team, client):
    body = {"email": team.outsider["email"], "role": "viewer"}
    url = project_url(team.id, "members")
    assert_problem(client.post(url, json=body, headers=team.editor_h), 403)
    assert_problem(client.post(url, json=body, headers=team.viewer_h), 403)
    assert_problem(client.post(url, json=body, headers=team.outsider_h), 404)
    assert team.outsider["id"] not in member_roles(client, team.owner_h, team.id)


def test_members_are_listed_owners_first_then_editors_then_viewers_by_email(
        team, client, keyword_app):
    accounts = Accounts(keyword_app, client)
    late, _ = accounts.user(email="aaa-late@example.com")
    early, _ = accounts.user(email="zzz-early@example.com")
    add_member(client, team.owner_h, team.id, early["email"], "viewer")
    add_member(client, team.owner_h, team.id, late["email"], "viewer")

    page = listed(client, team.viewer_h, project_url(team.id, "members"))
    assert page["total"] == 5
    assert [m["role"] for m in page["items"]] == ["owner", "editor", "viewer", "viewer",
                                                  "viewer"]
    viewers = [m["email"] for m in page["items"] if m["role"] == "viewer"]
    assert viewers == sorted(viewers)

    client.patch(project_url(team.id, "members", early["id"]), json={"role": "owner"},
                 headers=team.owner_h)
    page = listed(client, team.viewer_h, project_url(team.id, "members"))
    assert [m["role"] for m in page["items"]][:2] == ["owner", "owner"]
    assert early["id"] in {m["user_id"] for m in page["items"][:2]}


def test_the_member_list_pages(team, client):
    url = project_url(team.id, "members")
    first = listed(client, team.owner_h, url, per_page=2)
    second = listed(client, team.owner_h, url, per_page=2, page=2)
    assert (len(first["items"]), len(second["items"]), first["total"]) == (2, 1, 3)
    assert {m["user_id"] for m in first["items"] + second["items"]} == {
        team.owner["id"], team.editor["id"], team.viewer["id"]}


def test_an_owner_changes_a_members_role(team, client):
    response = client.patch(project_url(team.id, "members", team.viewer["id"]),
                            json={"role": "editor"}, headers=team.owner_h)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["role"] == "editor"
    assert client.get(project_url(team.id), headers=team.viewer_h).get_json()["role"] == (
        "editor")
    renamed = client.patch(project_url(team.id), json={"name": "Now I may"},
                           headers=team.viewer_h)
    assert renamed.status_code == 200

    demoted = client.patch(project_url(team.id, "members", team.editor["id"]),
                           json={"role": "viewer"}, headers=team.owner_h)
    assert demoted.get_json()["role"] == "viewer"
    assert_problem(client.patch(project_url(team.id), json={"name": "Not any more"},
                                headers=team.editor_h), 403)


def test_only_owners_change_roles(team, client):
    url = project_url(team.id, "members", team.viewer["id"])
    assert_problem(client.patch(url, json={"role": "owner"}, headers=team.editor_h), 403)
    assert_problem(client.patch(url, json={"role": "owner"}, headers=team.viewer_h), 403)
    assert_problem(client.patch(url, json={"role": "owner"}, headers=team.outsider_h), 404)
    assert member_roles(client, team.owner_h, team.id)[team.viewer["id"]] == "viewer"


def test_the_last_owner_cannot_be_demoted_or_leave(team, client):
    me = project_url(team.id, "members", team.owner["id"])
    assert_problem(client.patch(me, json={"role": "editor"}, headers=team.owner_h), 409)
    assert_problem(client.delete(me, headers=team.owner_h), 409)
    assert member_roles(client, team.owner_h, team.id)[team.owner["id"]] == "owner"
    # Staying owner is no demotion.
    assert client.patch(me, json={"role": "owner"}, headers=team.owner_h).status_code == 200


def test_with_a_second_owner_the_first_may_step_down_or_leave(team, client):
    promoted = client.patch(project_url(team.id, "members", team.editor["id"]),
                            json={"role": "owner"}, headers=team.owner_h)
    assert promoted.status_code == 200
    me = project_url(team.id, "members", team.owner["id"])
    assert client.patch(me, json={"role": "editor"}, headers=team.owner_h).status_code == 200
    # Now the editor is the last owner.
    last = project_url(team.id, "members", team.editor["id"])
    assert_problem(client.patch(last, json={"role": "viewer"}, headers=team.editor_h), 409)
    assert client.delete(me, headers=team.owner_h).status_code == 204
    assert_problem(client.get(project_url(team.id), headers=team.owner_h), 404)
    assert member_roles(client, team.editor_h, team.id) == {team.editor["id"]: "owner",
                                                           team.viewer["id"]: "viewer"}


# What each of two owners asks at the same moment: (method, whose membership, body).
TWO_OWNERS_RACE = {
    "both step down": lambda me, other: ("PATCH", me, {"role": "viewer"}),
    "both leave": lambda me, other: ("DELETE", me, None),
    "demote each other": lambda me, other: ("PATCH", other, {"role": "viewer"}),
}
DEMOTED = "Your role in this project is viewer: it may not manage it (that takes owner)."


@pytest.mark.parametrize("race", TWO_OWNERS_RACE)
def test_two_owners_racing_to_step_aside_leave_one_owner(app, client, accounts, race):
    """Both requests read two owners before either commits, unless the owners are read
    under the project's lock: on SQLite, where FOR UPDATE locks nothing, both passed.
    The loser is the last owner's 409; when demoting each other, a loser whose request is
    authorised after its own demotion committed is that demotion's 403 instead."""
    first, first_h = accounts.user()
    second, second_h = accounts.user()
    for _ in range(10):
        project_id = make_project(client, first_h)["id"]
        add_member(client, first_h, project_id, second["email"], "owner")
        start = threading.Barrier(2, timeout=RACE_TIMEOUT_S)  # a hang guard

        def step_aside(me, other, headers, project_id=project_id, start=start):
            method, user_id, body = TWO_OWNERS_RACE[race](me["id"], other["id"])
            start.wait()
            return app.test_client().open(project_url(project_id, "members", user_id),
                                          method=method, json=body, headers=headers)

        with ThreadPoolExecutor(2) as pool:
            answers = [pool.submit(step_aside, me, other, headers).result
                       for me, other, headers in ((first, second, first_h),
                                                  (second, first, second_h))]
            answers = [answer(timeout=RACE_TIMEOUT_S) for answer in answers]

        done = [answer for answer in answers if answer.status_code < 300]
        refused = [answer for answer in answers if answer.status_code >= 300]
        assert len(done) == len(refused) == 1, [answer.get_json() for answer in answers]
        assert done[0].status_code == (204 if race == "both leave" else 200)
        if refused[0].status_code == 403 and race == "demote each other":
            assert assert_problem(refused[0], 403)["detail"] == DEMOTED
        else:
            assert assert_problem(refused[0], 409)["detail"] == LAST_OWNER
        stays = first_h if answers[0] is refused[0] else second_h
        roles = member_roles(client, stays, project_id)
        assert list(roles.values()).count("owner") == 1, roles


def test_an_owner_removes_a_member_and_no_one_else_may(team, client):
    url = project_url(team.id, "members", team.viewer["id"])
    assert_problem(client.delete(url, headers=team.editor_h), 403)
    assert_problem(client.delete(url, headers=team.outsider_h), 404)
    assert client.delete(url, headers=team.owner_h).status_code == 204
    assert member_roles(client, team.owner_h, team.id) == {team.owner["id"]: "owner",
                                                          team.editor["id"]: "editor"}
    assert_problem(client.delete(url, headers=team.owner_h), 404)  # not a member now


@pytest.mark.parametrize("who", ["editor", "viewer"])
def test_any_member_may_leave(team, client, who):
    user, headers = getattr(team, who), getattr(team, f"{who}_h")
    assert client.delete(project_url(team.id, "members", user["id"]),
                         headers=headers).status_code == 204
    assert_problem(client.get(project_url(team.id), headers=headers), 404)
    assert listed(client, headers)["total"] == 0
    assert user["id"] not in member_roles(client, team.owner_h, team.id)


def test_a_removed_member_loses_access_at_once(team, client):
    scan = post_file(client, team.owner_h, REPORT, "week-1.txt", project_id=team.id)
    scan_id = scan.get_json()["scan_id"]
    assert download(client, scan_id, team.viewer_h) == (200, REPORT)

    removed = client.delete(project_url(team.id, "members", team.viewer["id"]),
                            headers=team.owner_h)
    assert removed.status_code == 204

    headers = team.viewer_h  # the same token as before
    same_404(client.get(project_url(team.id), headers=headers),
             client.get(project_url(missing_id()), headers=headers))
    for rest in (("members",), ("risks",), ("trend",), ("changes",)):
        assert_problem(client.get(project_url(team.id, *rest), headers=headers), 404)
    assert_problem(client.get(SCANS, query_string={"project_id": team.id}, headers=headers),
                   404)
    same_404(client.get(f"{SCANS}/{scan_id}", headers=headers),
             client.get(f"{SCANS}/{missing_id()}", headers=headers))
    assert download(client, scan_id, headers)[0] == 404


@pytest.mark.parametrize("user_id", ["outsider", "missing", "not-a-user", "1 OR 1=1"])
def test_changing_or_removing_someone_who_is_not_a_member_is_404(team, client, user_id):
    user_id = {"outsider": team.outsider["id"], "missing": missing_id()}.get(user_id, user_id)
    url = project_url(team.id, "members", quote(user_id))
    assert_problem(client.patch(url, json={"role": "editor"}, headers=team.owner_h), 404)
    assert_problem(client.delete(url, headers=team.owner_h), 404)
    assert len(member_roles(client, team.owner_h, team.id)) == 3


def test_a_removed_member_no_longer_owns_the_projects_risks(team, client):
    scan_into(client, team.owner_h, team.id, RISKY)
    entry = register_of(client, team.owner_h, team.id)[0]
    owned = client.patch(project_url(team.id, "risks", str(entry["id"])),
                         json={"owner_id": team.viewer["id"]}, headers=team.owner_h)
    assert owned.status_code == 200 and owned.get_json()["owner_id"] == team.viewer["id"]

    client.delete(project_url(team.id, "members", team.viewer["id"]), headers=team.owner_h)

    assert [e["owner_id"] for e in register_of(client, team.owner_h, team.id)] == [None, None]


def test_deleting_the_last_owners_account_leaves_the_project_an_owner(team, client):
    refused = client.delete(f"/api/v1/users/{team.owner['id']}", headers=team.admin_h)
    assert "Billing migration" in assert_problem(refused, 409)["detail"]
    assert "owner" in member_roles(client, team.editor_h, team.id).values()
    # Once another member is owner, the account goes, and the project stays with them.
    client.patch(project_url(team.id, "members", team.editor["id"]), json={"role": "owner"},
                 headers=team.owner_h)
    assert client.delete(f"/api/v1/users/{team.owner['id']}",
                         headers=team.admin_h).status_code == 204
    assert member_roles(client, team.editor_h, team.id) == {team.editor["id"]: "owner",
                                                            team.viewer["id"]: "viewer"}


def test_a_project_whose_only_member_is_deleted_goes_with_them(keyword_app, client):
    accounts = Accounts(keyword_app, client)
    alone, alone_h = accounts.user()
    _, admin_h = accounts.user(role="admin")
    project = make_project(client, alone_h, name="Solo")
    scan_into(client, alone_h, project["id"], RISKY)
    assert client.delete(f"/api/v1/users/{alone['id']}", headers=admin_h).status_code == 204
    assert client.get(project_url(project["id"]), headers=admin_h).status_code == 404


def test_deleting_a_members_account_takes_their_findings_out_of_the_register(team, client):
    scan_into(client, team.editor_h, team.id, RISKY)  # budget and vendor
    scan_into(client, team.owner_h, team.id, "The budget is overrun by a third.")
    assert sorted((e["category"], e["occurrences"])
                  for e in register_of(client, team.owner_h, team.id)) == [
        ("budget", 2), ("vendor", 1)]

    deleted = client.delete(f"/api/v1/users/{team.editor['id']}", headers=team.admin_h)
    assert deleted.status_code == 204

    entries = register_of(client, team.owner_h, team.id)
    assert [(e["category"], e["occurrences"], len(e["findings"])) for e in entries] == [
        ("budget", 1, 1)]


# Scans in projects


def test_a_json_scan_with_a_project_id_joins_the_project(team, client):
    scan = scan_into(client, team.editor_h, team.id, RISKY)
    assert scan["project_id"] == team.id
    assert sorted(f["category"] for f in scan["data"]) == ["budget", "vendor"]
    assert sorted(e["category"] for e in register_of(client, team.viewer_h, team.id)) == [
        "budget", "vendor"]


def test_a_json_scan_without_a_project_id_stays_out_of_projects(team, client):
    for body in ({"text": RISKY}, {"text": RISKY, "project_id": None}):
        response = client.post(SCANS, json=body, headers=team.owner_h)
        assert response.status_code == 201
        assert response.get_json()["project_id"] is None
    assert register_of(client, team.owner_h, team.id) == []


def test_a_multipart_upload_with_a_project_id_joins_the_project(team, client):
    response = post_file(client, team.owner_h, REPORT, "week-1.txt", project_id=team.id)
    assert response.status_code == 201, response.get_json()
    scan = response.get_json()
    assert scan["project_id"] == team.id and scan["filename"] == "week-1.txt"
    assert [f["category"] for f in scan["data"]] == ["schedule"]
    assert [e["category"] for e in register_of(client, team.viewer_h, team.id)] == ["schedule"]
    assert download(client, scan["scan_id"], team.viewer_h) == (200, REPORT)


def test_a_multipart_text_field_with_a_project_id_joins_the_project(team, client):
    response = client.post(SCANS, data={"text": RISKY, "project_id": f" {team.id} "},
                           headers=team.editor_h, content_type="multipart/form-data")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["project_id"] == team.id


def test_a_blank_multipart_project_id_means_no_project(team, client):
    response = post_file(client, team.owner_h, REPORT, "week-1.txt", project_id="  ")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["project_id"] is None
    assert register_of(client, team.owner_h, team.id) == []


@pytest.mark.parametrize("how", ["json", "multipart"])
def test_a_viewer_cannot_scan_into_the_project_and_nothing_is_stored(
        team, client, keyword_app, how):
    if how == "json":
        response = post_text(client, team.viewer_h, RISKY, project_id=team.id)
    else:
        response = post_file(client, team.viewer_h, REPORT, "week-1.txt", project_id=team.id)
    assert_problem(response, 403)
    nothing_stored(keyword_app)
    assert scan_ids(client, team.viewer_h) == set()
    assert register_of(client, team.owner_h, team.id) == []


@pytest.mark.parametrize("how", ["json", "multipart"])
def test_an_outsider_or_an_unknown_project_gets_the_same_404_and_nothing_is_stored(
        team, client, keyword_app, how):
    def send(project_id):
        if how == "json":
            return post_text(client, team.outsider_h, RISKY, project_id=project_id)
        return post_file(client, team.outsider_h, REPORT, "week-1.txt", project_id=project_id)

    same_404(send(team.id), send(missing_id()), send("not-a-project"))
    nothing_stored(keyword_app)
    assert register_of(client, team.owner_h, team.id) == []


def test_the_project_list_of_scans_has_every_members_scans_of_it_and_only_them(team, client):
    owners = scan_into(client, team.owner_h, team.id, RISKY)["scan_id"]
    editors = scan_into(client, team.editor_h, team.id, "The vendor went bust.")["scan_id"]
    own_free = post_text(client, team.owner_h, RISKY).get_json()["scan_id"]
    elsewhere = make_project(client, team.outsider_h, "Elsewhere")
    scan_into(client, team.outsider_h, elsewhere["id"], RISKY)
    post_text(client, team.outsider_h, RISKY)

    for headers in (team.owner_h, team.editor_h, team.viewer_h):
        page = listed(client, headers, SCANS, project_id=team.id)
        assert {item["scan_id"] for item in page["items"]} == {owners, editors}
        assert page["total"] == 2
        assert all(item["project_id"] == team.id for item in page["items"])
    # Without project_id: your own scans, in a project or not.
    assert scan_ids(client, team.owner_h) == {owners, own_free}
    assert scan_ids(client, team.viewer_h) == set()
    # Filters still apply.
    assert scan_ids(client, team.viewer_h, project_id=team.id, category="budget") == {owners}


def test_an_outsider_cannot_list_a_projects_scans(team, client):
    scan_into(client, team.owner_h, team.id, RISKY)

    def listing(project_id):
        return client.get(SCANS, query_string={"project_id": project_id},
                          headers=team.outsider_h)

    same_404(listing(team.id), listing(missing_id()), listing("not-a-project"))


def test_members_read_a_project_scan_and_download_its_file(team, client):
    scan = post_file(client, team.owner_h, REPORT, "week-1.txt", project_id=team.id).get_json()
    for headers in (team.editor_h, team.viewer_h):
        response = client.get(f"{SCANS}/{scan['scan_id']}", headers=headers)
        assert response.status_code == 200
        assert response.get_json()["data"] == scan["data"]
        assert download(client, scan["scan_id"], headers) == (200, REPORT)


def test_a_viewer_may_not_delete_or_correct_a_project_scan(team, client):
    scan = scan_into(client, team.owner_h, team.id, RISKY)
    finding = scan["data"][0]
    url = f"{SCANS}/{scan['scan_id']}"

    assert_problem(client.delete(url, headers=team.viewer_h), 403)
    assert_problem(client.patch(f"{url}/findings/{finding['id']}", json={"category": "none"},
                                headers=team.viewer_h), 403)
    kept = client.get(url, headers=team.owner_h).get_json()
    assert kept["data"] == scan["data"]
    assert len(register_of(client, team.owner_h, team.id)) == 2


def test_a_viewer_may_not_take_their_own_scan_out_of_the_project(team, client):
    """The scan's findings are the register's: taking them out drops entries with their
    curated status and notes, which is a change, and a viewer's change is a 403."""
    scan = scan_into(client, team.editor_h, team.id, RISKY)
    url = f"{SCANS}/{scan['scan_id']}"
    entry = register_of(client, team.owner_h, team.id)[0]
    client.patch(project_url(team.id, "risks", str(entry["id"])), headers=team.owner_h,
                 json={"status": "mitigating", "notes": "Escalated to the board."})
    register = register_of(client, team.owner_h, team.id)
    demoted = client.patch(project_url(team.id, "members", team.editor["id"]),
                           json={"role": "viewer"}, headers=team.owner_h)
    assert demoted.status_code == 200, demoted.get_json()

    refused = [client.patch(url, json={"project_id": None}, headers=team.editor_h),
               client.delete(url, headers=team.editor_h),
               client.patch(f"{url}/findings/{scan['data'][0]['id']}",
                            json={"category": "none"}, headers=team.editor_h)]
    for response in refused:
        assert assert_problem(response, 403)["detail"] == (
            "Your role in this scan's project is viewer: it may not change it.")
    kept = client.get(url, headers=team.owner_h).get_json()
    assert kept["project_id"] == team.id and kept["data"] == scan["data"]
    assert register_of(client, team.owner_h, team.id) == register
    assert audit_events(client, team.admin_h, "scan_moved") == []


def test_an_editor_may_correct_and_delete_another_members_project_scan(team, client):
    scan = scan_into(client, team.owner_h, team.id, RISKY)
    finding = next(f for f in scan["data"] if f["category"] == "budget")
    url = f"{SCANS}/{scan['scan_id']}"

    corrected = client.patch(f"{url}/findings/{finding['id']}", json={"category": "none"},
                             headers=team.editor_h)
    assert corrected.status_code == 200, corrected.get_json()
    assert corrected.get_json()["corrected_category"] == "none"
    assert [e["category"] for e in register_of(client, team.owner_h, team.id)] == ["vendor"]

    assert client.delete(url, headers=team.editor_h).status_code == 204
    assert_problem(client.get(url, headers=team.owner_h), 404)
    assert register_of(client, team.owner_h, team.id) == []


def test_an_outsider_gets_the_same_404_for_a_project_scan_whatever_they_do(team, client):
    scan = post_file(client, team.owner_h, REPORT, "week-1.txt", project_id=team.id).get_json()
    finding = scan["data"][0]["id"]

    def attempts(scan_id):
        url = f"{SCANS}/{scan_id}"
        return [client.get(url, headers=team.outsider_h),
                client.get(f"{url}/file", headers=team.outsider_h),
                client.delete(url, headers=team.outsider_h),
                client.patch(url, json={"project_id": None}, headers=team.outsider_h),
                client.patch(f"{url}/findings/{finding}", json={"category": "none"},
                             headers=team.outsider_h)]

    for theirs, missing in zip(attempts(scan["scan_id"]), attempts(missing_id()), strict=True):
        same_404(theirs, missing)
    kept = client.get(f"{SCANS}/{scan['scan_id']}", headers=team.owner_h).get_json()
    assert kept["project_id"] == team.id and kept["data"] == scan["data"]


def test_only_the_scans_creator_may_move_it(team, client):
    editors = scan_into(client, team.editor_h, team.id, RISKY)["scan_id"]
    url = f"{SCANS}/{editors}"
    # Not even the project's owner.
    assert_problem(client.patch(url, json={"project_id": None}, headers=team.owner_h), 403)
    assert_problem(client.patch(url, json={"project_id": None}, headers=team.viewer_h), 403)
    assert client.get(url, headers=team.editor_h).get_json()["project_id"] == team.id

    moved = client.patch(url, json={"project_id": None}, headers=team.editor_h)
    assert moved.status_code == 200
    assert moved.get_json()["project_id"] is None
    assert editors not in scan_ids(client, team.owner_h, project_id=team.id)


def test_moving_into_a_project_where_you_are_a_viewer_is_403(team, client):
    scan_id = post_text(client, team.viewer_h, RISKY).get_json()["scan_id"]
    response = client.patch(f"{SCANS}/{scan_id}", json={"project_id": team.id},
                            headers=team.viewer_h)
    assert_problem(response, 403)
    assert client.get(f"{SCANS}/{scan_id}", headers=team.viewer_h).get_json()[
        "project_id"] is None
    assert register_of(client, team.owner_h, team.id) == []


def test_moving_into_a_project_you_are_not_a_member_of_is_404(team, client):
    scan_id = post_text(client, team.outsider_h, RISKY).get_json()["scan_id"]

    def move(project_id):
        return client.patch(f"{SCANS}/{scan_id}", json={"project_id": project_id},
                            headers=team.outsider_h)

    same_404(move(team.id), move(missing_id()), move("not-a-project"))
    assert client.get(f"{SCANS}/{scan_id}", headers=team.outsider_h).get_json()[
        "project_id"] is None
    assert register_of(client, team.owner_h, team.id) == []


def test_an_editor_moves_their_scan_into_the_project(team, client):
    scan_id = post_text(client, team.editor_h, RISKY).get_json()["scan_id"]
    moved = client.patch(f"{SCANS}/{scan_id}", json={"project_id": team.id},
                         headers=team.editor_h)
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["project_id"] == team.id
    assert scan_ids(client, team.viewer_h, project_id=team.id) == {scan_id}


@pytest.mark.parametrize("body, field", [
    ({"project_id": None, "owner": "me"}, "owner"),
    ({"project_id": None, "user_id": "someone"}, "user_id"),
    ({}, "project_id"),
    ({"project_id": 42}, "project_id"),
    ({"project_id": "x" * 37}, "project_id"),
    ({"project_id": ["a"]}, "project_id"),
])
def test_a_bad_move_is_422_on_its_field(team, client, body, field):
    scan = scan_into(client, team.owner_h, team.id, RISKY)
    response = client.patch(f"{SCANS}/{scan['scan_id']}", json=body, headers=team.owner_h)
    assert_problem(response, 422, field)
    assert client.get(f"{SCANS}/{scan['scan_id']}", headers=team.owner_h).get_json()[
        "project_id"] == team.id


# Hostile input


BAD_NAMES = ["", " ", "\t\n  ", "x" * 201, None, 123, ["Billing"], {"name": "Billing"}, True]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_bad_name_is_422_on_create(client, accounts, name):
    _, headers = accounts.user()
    assert_problem(client.post(PROJECTS, json={"name": name}, headers=headers), 422, "name")
    assert listed(client, headers)["total"] == 0


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_bad_name_is_422_on_update(team, client, name):
    response = client.patch(project_url(team.id), json={"name": name}, headers=team.owner_h)
    assert_problem(response, 422, "name")
    assert client.get(project_url(team.id), headers=team.owner_h).get_json()["name"] == (
        "Billing migration")


def test_a_missing_name_is_422(client, accounts):
    _, headers = accounts.user()
    assert_problem(client.post(PROJECTS, json={"description": "x"}, headers=headers), 422,
                   "name")


def test_a_name_of_200_characters_and_a_description_of_5000_are_fine(client, accounts):
    _, headers = accounts.user()
    project = make_project(client, headers, "n" * 200, description="d" * 5000)
    assert (len(project["name"]), len(project["description"])) == (200, 5000)
    fetched = client.get(project_url(project["id"]), headers=headers).get_json()
    assert fetched["name"] == "n" * 200 and fetched["description"] == "d" * 5000


def test_a_name_is_stored_as_sent_whatever_its_characters(client, accounts):
    _, headers = accounts.user()
    name = "Robert'); DROP TABLE projects;-- <script>alert(1)</script> ☃ 数据"
    project = make_project(client, headers, name)
    assert project["name"] == name
    assert names(listed(client, headers, q="DROP TABLE")) == [name]
    assert names(listed(client, headers, q="数据")) == [name]


@pytest.mark.parametrize("description", ["d" * 5001, 5, ["notes"]])
def test_a_bad_description_is_422(team, client, description):
    created = client.post(PROJECTS, json={"name": "X", "description": description},
                          headers=team.owner_h)
    assert_problem(created, 422, "description")
    patched = client.patch(project_url(team.id), json={"description": description},
                           headers=team.owner_h)
    assert_problem(patched, 422, "description")
    assert listed(client, team.owner_h)["total"] == 1


@pytest.mark.parametrize("body, field", [
    ({"name": "X", "role": "owner"}, "role"),
    ({"name": "X", "id": "0" * 36}, "id"),
    ({"name": "X", "created_by": "someone"}, "created_by"),
    ({"name": "X", "members": []}, "members"),
])
def test_unknown_fields_are_422(team, client, body, field):
    assert_problem(client.post(PROJECTS, json=body, headers=team.owner_h), 422, field)
    assert_problem(client.patch(project_url(team.id), json=body, headers=team.owner_h), 422,
                   field)
    member = client.patch(project_url(team.id, "members", team.viewer["id"]),
                          json={"role": "editor", field: "x"}, headers=team.owner_h)
    assert_problem(member, 422, field)
    assert listed(client, team.owner_h)["total"] == 1


@pytest.mark.parametrize("body", [[], ["name"], "Billing", 42, None])
def test_a_json_body_that_is_not_an_object_is_422(client, accounts, body):
    _, headers = accounts.user()
    response = client.post(PROJECTS, data=json.dumps(body),
                           content_type="application/json", headers=headers)
    assert_problem(response, 422)


def _writes(team) -> list[tuple[str, str]]:
    """(method, url) of every project route that takes a JSON body."""
    return [("POST", PROJECTS), ("PATCH", project_url(team.id)),
            ("POST", project_url(team.id, "members")),
            ("PATCH", project_url(team.id, "members", team.viewer["id"]))]


@pytest.mark.parametrize("content_type, data", [
    ("text/plain", '{"name": "X"}'),
    ("application/x-www-form-urlencoded", "name=X"),
    ("application/xml", "<name>X</name>"),
])
def test_a_body_that_is_not_json_is_415(team, client, content_type, data):
    for method, url in _writes(team):
        response = client.open(url, method=method, data=data, content_type=content_type,
                               headers=team.owner_h)
        assert_problem(response, 415)
    assert listed(client, team.owner_h)["total"] == 1


@pytest.mark.parametrize("data", ['{"name": ', "{name: 'X'}", '{"name": "X"', "\x00\xff"])
def test_malformed_json_is_400(team, client, data):
    for method, url in _writes(team):
        response = client.open(url, method=method, data=data, content_type="application/json",
                               headers=team.owner_h)
        assert_problem(response, 400)
    assert listed(client, team.owner_h)["total"] == 1


def test_a_body_over_max_json_kb_is_413(team, client, keyword_app):
    limit = current_settings(keyword_app).MAX_JSON_KB * 1024
    big = {"name": "X", "description": "d" * limit}
    for method, url in _writes(team):
        response = client.open(url, method=method, json=big, headers=team.owner_h)
        assert_problem(response, 413)
    assert listed(client, team.owner_h)["total"] == 1


SQLISH_IDS = ["1' OR '1'='1", "1; DROP TABLE projects", "%", "_", "' UNION SELECT * FROM users --",
              "0", "-1", "9" * 4000, "a" * 37, "..", "NULL"]


@pytest.mark.parametrize("project_id", SQLISH_IDS)
def test_ids_that_are_sql_ish_or_huge_are_404(team, client, project_id):
    url = project_url(quote(project_id, safe=""))
    for response in (client.get(url, headers=team.owner_h),
                     client.patch(url, json={"name": "X"}, headers=team.owner_h),
                     client.delete(url, headers=team.owner_h),
                     client.get(f"{url}/members", headers=team.owner_h),
                     client.get(f"{url}/risks", headers=team.owner_h),
                     client.get(f"{SCANS}/{quote(project_id, safe='')}", headers=team.owner_h)):
        assert_problem(response, 404)
    assert listed(client, team.owner_h)["total"] == 1


def test_an_upper_case_spelling_of_a_project_id_is_404(team, client):
    same_404(client.get(project_url(team.id.upper()), headers=team.owner_h),
             client.get(project_url(missing_id()), headers=team.owner_h))


@pytest.mark.parametrize("project_id", ["1' OR '1'='1", "%", "NULL"])
def test_a_sql_ish_project_id_in_a_scan_or_a_filter_is_404(team, client, keyword_app,
                                                           project_id):
    assert_problem(post_text(client, team.owner_h, RISKY, project_id=project_id), 404)
    assert_problem(post_file(client, team.owner_h, REPORT, "r.txt", project_id=project_id),
                   404)
    assert_problem(client.get(SCANS, query_string={"project_id": project_id},
                              headers=team.owner_h), 404)
    nothing_stored(keyword_app)


def test_a_project_id_longer_than_an_id_is_422_in_a_scan_or_a_filter(team, client,
                                                                     keyword_app):
    huge = "9" * 37
    assert_problem(post_text(client, team.owner_h, RISKY, project_id=huge), 422, "project_id")
    assert_problem(post_text(client, team.owner_h, RISKY, project_id=42), 422, "project_id")
    assert_problem(post_file(client, team.owner_h, REPORT, "r.txt", project_id=huge), 422,
                   "project_id")
    assert_problem(client.get(SCANS, query_string={"project_id": huge}, headers=team.owner_h),
                   422, "project_id")
    nothing_stored(keyword_app)


@pytest.mark.parametrize("args, field", [
    ({"per_page": 101}, "per_page"),
    ({"per_page": 0}, "per_page"),
    ({"per_page": "ten"}, "per_page"),
    ({"page": 0}, "page"),
    ({"page": -1}, "page"),
    ({"page": 2**31}, "page"),
    ({"q": "x" * 255}, "q"),
    ({"sort": "name"}, "sort"),
])
def test_bad_list_arguments_are_422(team, client, args, field):
    for url in (PROJECTS, project_url(team.id, "members")):
        response = client.get(url, query_string=args, headers=team.owner_h)
        assert_problem(response, 422, field)


def test_per_page_of_100_is_the_most(team, client):
    for url in (PROJECTS, project_url(team.id, "members")):
        response = client.get(url, query_string={"per_page": 100}, headers=team.owner_h)
        assert response.status_code == 200
        assert response.get_json()["per_page"] == 100


def test_the_members_list_filters_by_part_of_the_email_literally(team, client, keyword_app):
    odd, _ = Accounts(keyword_app, client).user(email="odd_one%out@example.com")
    add_member(client, team.owner_h, team.id, odd["email"], "viewer")
    url = project_url(team.id, "members")
    for q in ("_one%", "ODD_ONE"):
        assert [m["email"] for m in listed(client, team.owner_h, url, q=q)["items"]] == [
            odd["email"]]
    assert listed(client, team.owner_h, url, q="%")["total"] == 1


def test_max_projects_per_user_is_409_and_deleting_one_frees_a_place(make_app):
    app = make_app(MAX_PROJECTS_PER_USER=2)
    client = app.test_client()
    accounts = Accounts(app, client)
    _, headers = accounts.user()
    _, other_h = accounts.user()
    first = make_project(client, headers, "One")
    make_project(client, headers, "Two")

    body = assert_problem(client.post(PROJECTS, json={"name": "Three"}, headers=headers), 409)
    assert "MAX_PROJECTS_PER_USER" in body["detail"]
    assert sorted(names(listed(client, headers))) == ["One", "Two"]
    make_project(client, other_h, "Someone else's")  # the limit is per person

    assert client.delete(project_url(first["id"]), headers=headers).status_code == 204
    make_project(client, headers, "Three")


def test_max_project_members_is_409_counting_the_owner(make_app):
    app = make_app(MAX_PROJECT_MEMBERS=3)
    client = app.test_client()
    accounts = Accounts(app, client)
    _, owner_h = accounts.user()
    others = [accounts.user()[0] for _ in range(3)]
    project = make_project(client, owner_h)
    add_member(client, owner_h, project["id"], others[0]["email"], "editor")
    add_member(client, owner_h, project["id"], others[1]["email"], "viewer")

    response = client.post(project_url(project["id"], "members"), headers=owner_h,
                           json={"email": others[2]["email"], "role": "viewer"})
    body = assert_problem(response, 409)
    assert "MAX_PROJECT_MEMBERS" in body["detail"]
    assert listed(client, owner_h, project_url(project["id"], "members"))["total"] == 3

    assert client.delete(project_url(project["id"], "members", others[1]["id"]),
                         headers=owner_h).status_code == 204
    add_member(client, owner_h, project["id"], others[2]["email"], "viewer")


def _project_routes(app, project_id) -> list[tuple[str, str]]:
    """(method, url) of every route under /api/v1/projects, with ids filled in."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PROJECTS):
            continue
        url = rule.rule
        for argument in rule.arguments:
            value = project_id if argument == "project_id" else missing_id()
            url = re.sub(rf"<(?:[^:>]+:)?{argument}>", value, url)
        routes += [(method, url) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return routes


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic dXNlcjpwYXNz",
                                           "Bearer "])
def test_every_project_route_needs_a_token(team, client, keyword_app, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    routes = _project_routes(keyword_app, team.id)
    assert len(routes) >= 14, routes  # projects, members, the register
    for method, url in routes:
        response = client.open(url, method=method, json={"name": "X"}, headers=headers)
        assert_problem(response, 401)
    assert client.get(project_url(team.id), headers=team.owner_h).get_json()["name"] == (
        "Billing migration")


# Audit events


def test_project_and_member_changes_are_audited_with_actor_and_target(team, client):
    owner, editor, viewer = team.owner["id"], team.editor["id"], team.viewer["id"]
    created = audit_events(client, team.admin_h, "project_created")
    assert [(e["actor_id"], e["target_id"]) for e in created] == [(owner, team.id)]

    added = audit_events(client, team.admin_h, "member_added")
    assert [(e["actor_id"], e["target_id"], e["details"]) for e in added] == [
        (owner, editor, {"project_id": team.id, "role": "editor"}),
        (owner, viewer, {"project_id": team.id, "role": "viewer"})]

    client.patch(project_url(team.id, "members", viewer), json={"role": "editor"},
                 headers=team.owner_h)
    updated = audit_events(client, team.admin_h, "member_updated")
    assert [(e["actor_id"], e["target_id"], e["details"]) for e in updated] == [
        (owner, viewer, {"project_id": team.id, "role": "editor", "was": "viewer"})]

    client.delete(project_url(team.id, "members", editor), headers=team.owner_h)
    client.delete(project_url(team.id, "members", viewer), headers=team.viewer_h)  # leaves
    removed = audit_events(client, team.admin_h, "member_removed")
    assert [(e["actor_id"], e["target_id"], e["details"]) for e in removed] == [
        (owner, editor, {"project_id": team.id, "role": "editor"}),
        (viewer, viewer, {"project_id": team.id, "role": "editor"})]

    client.delete(project_url(team.id), headers=team.owner_h)
    deleted = audit_events(client, team.admin_h, "project_deleted")
    assert [(e["actor_id"], e["target_id"], e["details"]) for e in deleted] == [
        (owner, team.id, {"name": "Billing migration"})]
    assert all(e["ip"] == "127.0.0.1" and e["created_at"]
               for e in created + added + updated + removed + deleted)


def test_renaming_a_project_is_audited(team, client):
    client.patch(project_url(team.id), json={"name": "Renamed"}, headers=team.editor_h)
    updated = audit_events(client, team.admin_h, "project_updated")
    assert [(e["actor_id"], e["target_id"], e["details"]) for e in updated] == [
        (team.editor["id"], team.id, {"fields": ["name"]})]


def test_moving_a_scan_is_audited_with_where_from_and_to(team, client):
    scan_id = post_text(client, team.editor_h, RISKY).get_json()["scan_id"]
    url = f"{SCANS}/{scan_id}"
    client.patch(url, json={"project_id": team.id}, headers=team.editor_h)
    client.patch(url, json={"project_id": team.id}, headers=team.editor_h)  # no move
    client.patch(url, json={"project_id": None}, headers=team.editor_h)

    moved = audit_events(client, team.admin_h, "scan_moved")
    assert [(e["actor_id"], e["target_id"], e["details"]) for e in moved] == [
        (team.editor["id"], scan_id, {"from": None, "to": team.id}),
        (team.editor["id"], scan_id, {"from": team.id, "to": None})]


def test_a_refused_change_leaves_no_audit_event(team, client):
    scan_id = post_text(client, team.viewer_h, RISKY).get_json()["scan_id"]
    owner = project_url(team.id, "members", team.owner["id"])
    refused = {
        409: client.post(project_url(team.id, "members"), headers=team.owner_h,
                         json={"email": team.viewer["email"], "role": "editor"}),
        403: client.post(project_url(team.id, "members"), headers=team.editor_h,
                         json={"email": team.outsider["email"], "role": "editor"}),
    }
    assert assert_problem(refused[409], 409)["detail"] == (
        "This user is already a member; change their role instead.")
    assert assert_problem(refused[403], 403)["detail"] == (
        "Your role in this project is editor: it may not manage it (that takes owner).")
    for response in (client.patch(owner, json={"role": "viewer"}, headers=team.owner_h),
                     client.delete(owner, headers=team.owner_h)):
        assert assert_problem(response, 409)["detail"] == LAST_OWNER
    assert assert_problem(client.delete(project_url(team.id), headers=team.editor_h),
                          403)["detail"] == (
        "Your role in this project is editor: it may not manage it (that takes owner).")
    assert assert_problem(client.patch(f"{SCANS}/{scan_id}", json={"project_id": team.id},
                                       headers=team.viewer_h), 403)["detail"] == (
        "Your role in this project is viewer: it may not change it (that takes editor).")

    assert len(audit_events(client, team.admin_h, "member_added")) == 2  # the team's
    for event in ("member_updated", "member_removed", "project_deleted", "scan_moved"):
        assert audit_events(client, team.admin_h, event) == [], event


