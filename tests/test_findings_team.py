"""GET /api/v1/findings for a team (issue #61, item 5): a project's editors and owners find
every member's findings of it in their queue and may answer them; a viewer and an admin who
is not a member read one project's findings with `project_id`, none answerable; no one
else's scan is ever listed or counted."""

from __future__ import annotations

import pytest

from tests.findings import (
    EDITORS,
    OUTSIDERS,
    OWNERS,
    PRIVATE,
    VIEWERS,
    correct,
    listed,
    risks,
    scanned_team,
)
from tests.helpers import api_key_headers, assert_problem


@pytest.fixture
def team(app, client, monkeypatch):
    return scanned_team(app, client, monkeypatch)


def answerable(body) -> dict[str, bool]:
    return {item["risk"]: item["answerable"] for item in body["items"]}


def test_editors_and_owners_find_every_members_findings_and_may_answer_them(team, client):
    shared = {OWNERS: True, EDITORS: True, VIEWERS: True}
    assert answerable(listed(client, team.owner_h, sort="newest")) == shared
    # The editor's queue: the project's and their own scan outside it, nobody else's.
    mine = listed(client, team.editor_h, sort="newest")
    assert answerable(mine) == {**shared, PRIVATE: True} and mine["total"] == 4
    # What the queue offers, the correction route takes: the owner's finding by the editor.
    owners = team.scans["owner"]
    correct(client, team.editor_h, owners["scan_id"], owners["data"][0]["id"], "legal")
    assert risks(listed(client, team.owner_h, corrected="true")) == [OWNERS]
    assert risks(listed(client, team.owner_h, corrected="false", sort="newest")) == [
        VIEWERS, EDITORS]
    # One project's alone: the editor's private scan is not in it.
    assert risks(listed(client, team.editor_h, project_id=team.id, sort="newest")) == [
        VIEWERS, EDITORS, OWNERS]


def test_a_viewer_reads_the_project_with_project_id_and_answers_nothing(team, client):
    # Their own queue keeps their own scan (read only now) and not the others'.
    assert answerable(listed(client, team.viewer_h)) == {VIEWERS: False}
    body = listed(client, team.viewer_h, project_id=team.id, sort="newest")
    assert answerable(body) == {VIEWERS: False, EDITORS: False, OWNERS: False}
    editors = team.scans["editor"]
    refused = client.patch(f"/api/v1/scans/{editors['scan_id']}/findings/"
                           f"{editors['data'][0]['id']}", json={"category": "none"},
                           headers=team.viewer_h)
    assert_problem(refused, 403)
    assert listed(client, team.viewer_h, project_id=team.id, corrected="true")["total"] == 0


def test_an_admin_reads_any_project_with_project_id_and_answers_only_as_a_member(team, client):
    assert listed(client, team.admin_h)["total"] == 0  # a member of nothing, no scans
    body = listed(client, team.admin_h, project_id=team.id)
    assert set(answerable(body)) == {OWNERS, EDITORS, VIEWERS}
    assert not any(answerable(body).values())
    # Outside projects an admin's queue never holds another user's scan.
    assert PRIVATE not in risks(listed(client, team.admin_h, per_page=100))


def test_an_outsider_sees_nothing_of_the_project_not_even_in_counts(team, client):
    assert risks(listed(client, team.outsider_h)) == [OUTSIDERS]
    for args in ({"category": "vendor"}, {"corrected": "false"}, {"max_score": 1},
                 {"source": "model"}):
        assert listed(client, team.outsider_h, **args)["total"] <= 1
    assert listed(client, team.outsider_h, category="vendor")["total"] == 0
    # The project is a 404, as a missing one; a well-formed id of no project is the same.
    for project_id in (team.id, "00000000-0000-4000-8000-000000000000"):
        missing = client.get("/api/v1/findings", query_string={"project_id": project_id},
                             headers=team.outsider_h)
        assert_problem(missing, 404)
    # And the team never sees the outsider's scan.
    for headers in (team.owner_h, team.editor_h, team.viewer_h, team.admin_h):
        assert OUTSIDERS not in risks(listed(client, headers, per_page=100))


def test_one_who_leaves_the_project_keeps_only_their_own_findings(team, client):
    removed = client.delete(f"/api/v1/projects/{team.id}/members/{team.editor['id']}",
                            headers=team.owner_h)
    assert removed.status_code == 204
    # Their scan stays the project's, read only for them; the others are gone.
    assert answerable(listed(client, team.editor_h, sort="newest")) == {
        EDITORS: False, PRIVATE: True}
    assert_problem(client.get("/api/v1/findings", query_string={"project_id": team.id},
                              headers=team.editor_h), 404)


def test_a_key_reads_the_team_queue_only_with_projects_read(team, client):
    own = api_key_headers(client, team.editor_h, "scans:read")
    # Its user's own scans alone (theirs in the project too), and nothing to answer.
    assert answerable(listed(client, own)) == {PRIVATE: False, EDITORS: False}
    assert_problem(client.get("/api/v1/findings", query_string={"project_id": team.id},
                              headers=own), 403)
    reader = api_key_headers(client, team.editor_h, "scans:read", "projects:read")
    assert listed(client, reader)["total"] == 4
    assert not any(answerable(listed(client, reader)).values())
    writer = api_key_headers(client, team.editor_h, "scans:read", "scans:write",
                             "projects:read", "projects:write")
    assert all(answerable(listed(client, writer, project_id=team.id)).values())


@pytest.mark.parametrize("value", ["abc", "", "' OR 1=1 --", "0" * 37,
                                   "00000000-0000-4000-8000-00000000000g"])
def test_a_malformed_project_id_is_a_422_naming_it(team, client, value):
    response = client.get("/api/v1/findings", query_string={"project_id": value},
                          headers=team.owner_h)
    assert_problem(response, 422, "project_id")


def test_no_token_is_a_401_with_a_project_id_too(team, client):
    assert_problem(client.get("/api/v1/findings", query_string={"project_id": team.id}), 401)
