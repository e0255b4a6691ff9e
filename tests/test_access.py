"""Who may reach a scan or a job (issue #48), on every route that reaches one: a person with no
role in a project changes nothing in it, the legacy routes and the jobs answer by the v1 rule
(service/projects/access.py), an idempotent replay is authorized before it is answered, and
the member checks hold under concurrent requests. On SQLite and MariaDB.

Findings come from the keyword stand-in (tests/scanning.py): a sentence with "budget" or
"vendor" is a finding.
"""

from __future__ import annotations

import io
import uuid

import pytest

from service.db import Dismissal, Job, Scan
from tests.helpers import Accounts, api_key_headers, assert_problem, together
from tests.projects import add_member, make_project, register_of, scan_into
from tests.scanning import count_rows, download, post_file, without_request_id

SCANS = "/api/v1/scans"
LEGACY = "/api/scans"
JOBS = "/api/v1/jobs"
SETTINGS = "/api/v1/auth/me/settings"
RISKY = "The budget is overrun by a third. The vendor may not deliver the licences."
REPORT = b"The budget may slip by two weeks. The test team met on Monday.\n"
READ_ONLY = "You are not a member of this scan's project: you may read it, not change it."
VIEWER = "Your role in this scan's project is viewer: it may not change it."


def project_url(project_id: str, *rest: str) -> str:
    return "/".join(("/api/v1/projects", project_id, *rest))


def refused(response, scope: str) -> None:
    assert assert_problem(response, 403)["detail"] == f"This API key lacks the scope {scope}."


def leave(team, how: str) -> None:
    """The editor leaves the project: removed by its owner, or by their own hand."""
    headers = team.owner_h if how == "removed" else team.editor_h
    response = team.client.delete(project_url(team.id, "members", team.editor["id"]),
                                  headers=headers)
    assert response.status_code == 204, response.get_json()


def queued_job(client, headers, **form) -> dict:
    response = client.post(JOBS, headers=headers, content_type="multipart/form-data",
                           data={"files": [(io.BytesIO(REPORT), "a.txt")], **form})
    assert response.status_code == 202, response.get_json()
    return response.get_json()


@pytest.fixture
def no_workers(monkeypatch):
    """Jobs stay queued: what is asked here is who may read them, not what they become."""
    monkeypatch.setattr("service.jobs.queue.enqueue", lambda document_ids: None)


# A person with no role in a project changes nothing in it


@pytest.mark.parametrize("how", ["removed", "left"])
def test_a_former_member_changes_nothing_through_their_own_scans(team, client, how):
    scan = scan_into(client, team.editor_h, team.id, RISKY)
    url = f"{SCANS}/{scan['scan_id']}"
    budget = next(f["id"] for f in scan["data"] if f["category"] == "budget")
    elsewhere = make_project(client, team.editor_h, name="Elsewhere")["id"]
    register = register_of(client, team.owner_h, team.id)
    leave(team, how)

    headers = team.editor_h
    attempts = [
        client.patch(f"{url}/findings/{budget}", json={"category": "none"}, headers=headers),
        client.patch(f"{url}/findings/{budget}", json={"category": "schedule"},
                     headers=headers),
        client.patch(url, json={"project_id": None}, headers=headers),
        client.patch(url, json={"project_id": elsewhere}, headers=headers),
        client.delete(url, headers=headers),
        client.delete(f"{LEGACY}/{scan['scan_id']}", headers=headers),
    ]
    for response in attempts:
        assert assert_problem(response, 403)["detail"] == READ_ONLY

    # Nothing written: the register as it was, no dismissal, the scan where it was, theirs
    # to read; the other project untouched.
    assert register_of(client, team.owner_h, team.id) == register
    assert count_rows(client.application, Dismissal) == 0
    kept = client.get(url, headers=headers)
    assert kept.status_code == 200
    assert kept.get_json()["project_id"] == team.id and kept.get_json()["data"] == scan["data"]
    assert register_of(client, team.editor_h, elsewhere) == []
    # The scan stays the project's: its editors still change it.
    corrected = client.patch(f"{url}/findings/{budget}", json={"category": "none"},
                             headers=team.owner_h)
    assert corrected.status_code == 200, corrected.get_json()
    assert [e["category"] for e in register_of(client, team.owner_h, team.id)] == ["vendor"]


def test_a_removed_member_is_still_refused_after_rejoining_as_a_viewer(team, client):
    scan = scan_into(client, team.editor_h, team.id, RISKY)
    leave(team, "removed")
    add_member(client, team.owner_h, team.id, team.editor["email"], "viewer")
    for response in (client.delete(f"{SCANS}/{scan['scan_id']}", headers=team.editor_h),
                     client.patch(f"{SCANS}/{scan['scan_id']}", json={"project_id": None},
                                  headers=team.editor_h)):
        assert assert_problem(response, 403)["detail"] == VIEWER
    assert len(register_of(client, team.owner_h, team.id)) == 2


# The legacy routes and the jobs answer by the v1 rule


@pytest.mark.parametrize("path", [SCANS, LEGACY])
def test_a_viewer_deletes_not_even_their_own_project_scan_on_either_path(team, client, path):
    scan = scan_into(client, team.editor_h, team.id, RISKY)
    demoted = client.patch(project_url(team.id, "members", team.editor["id"]),
                           json={"role": "viewer"}, headers=team.owner_h)
    assert demoted.status_code == 200, demoted.get_json()

    response = client.delete(f"{path}/{scan['scan_id']}", headers=team.editor_h)
    assert assert_problem(response, 403)["detail"] == VIEWER
    assert client.get(f"{SCANS}/{scan['scan_id']}", headers=team.owner_h).status_code == 200
    assert len(register_of(client, team.owner_h, team.id)) == 2


@pytest.mark.parametrize("path", [SCANS, LEGACY])
def test_a_scans_write_key_deletes_a_project_scan_only_with_projects_write(team, client, path):
    scan = scan_into(client, team.editor_h, team.id, RISKY)
    writer = api_key_headers(client, team.editor_h, "scans:write")

    refused(client.delete(f"{path}/{scan['scan_id']}", headers=writer), "projects:write")
    assert client.get(f"{SCANS}/{scan['scan_id']}", headers=team.owner_h).status_code == 200
    assert len(register_of(client, team.owner_h, team.id)) == 2

    both = api_key_headers(client, team.editor_h, "scans:write", "projects:write")
    assert client.delete(f"{path}/{scan['scan_id']}", headers=both).status_code == 204
    assert register_of(client, team.owner_h, team.id) == []


@pytest.mark.parametrize("path", [SCANS, LEGACY])
def test_an_admins_key_reads_another_users_scan_only_with_admin_read(team, client, path):
    scan = post_file(client, team.outsider_h, REPORT, "week-1.txt").get_json()
    url = f"{path}/{scan['scan_id']}"
    reader = api_key_headers(client, team.admin_h, "scans:read")

    refused(client.get(url, headers=reader), "admin:read")
    both = api_key_headers(client, team.admin_h, "scans:read", "admin:read")
    response = client.get(url, headers=both)
    assert response.status_code == 200 and response.get_json()["scan_id"] == scan["scan_id"]
    assert client.get(url, headers=team.admin_h).status_code == 200  # an access token
    if path == SCANS:
        refused(client.get(f"{url}/file", headers=reader), "admin:read")
        assert download(client, scan["scan_id"], both) == (200, REPORT)


def test_an_admins_key_reads_a_project_scan_with_projects_read_not_admin_read(team, client):
    """The admin:read branch covers scans outside projects; a project's scans are read as a
    project's are, with projects:read, by an admin who is not a member too."""
    scan = post_file(client, team.editor_h, REPORT, "week-1.txt", project_id=team.id)
    scan_id = scan.get_json()["scan_id"]
    admin_key = api_key_headers(client, team.admin_h, "scans:read", "admin:read")
    project_key = api_key_headers(client, team.admin_h, "scans:read", "projects:read")

    for path in (f"{SCANS}/{scan_id}", f"{SCANS}/{scan_id}/file", f"{LEGACY}/{scan_id}"):
        refused(client.get(path, headers=admin_key), "projects:read")
    assert client.get(f"{LEGACY}/{scan_id}", headers=project_key).status_code == 200
    assert download(client, scan_id, project_key) == (200, REPORT)


def test_a_scans_read_key_downloads_another_members_file_only_with_projects_read(team, client):
    theirs = post_file(client, team.editor_h, REPORT, "theirs.txt", project_id=team.id)
    mine = post_file(client, team.owner_h, b"The vendor is late.", "mine.txt")
    theirs, mine = theirs.get_json()["scan_id"], mine.get_json()["scan_id"]
    reader = api_key_headers(client, team.owner_h, "scans:read")

    refused(client.get(f"{SCANS}/{theirs}/file", headers=reader), "projects:read")
    assert download(client, mine, reader) == (200, b"The vendor is late.")
    both = api_key_headers(client, team.owner_h, "scans:read", "projects:read")
    assert download(client, theirs, both) == (200, REPORT)


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_the_legacy_read_answers_as_v1(team, client, who):
    scan_id = scan_into(client, team.editor_h, team.id, RISKY)["scan_id"]
    headers = getattr(team, f"{who}_h")
    v1, legacy = (client.get(f"{path}/{scan_id}", headers=headers) for path in (SCANS, LEGACY))
    assert v1.status_code == legacy.status_code == (200 if who == "viewer" else 404)
    if who == "outsider":
        assert without_request_id(legacy) == without_request_id(
            client.get(f"{LEGACY}/{uuid.uuid4()}", headers=headers))


def test_an_admins_key_reads_another_users_job_only_with_admin_read(team, client, no_workers):
    job_id = queued_job(client, team.outsider_h)["job_id"]
    url = f"{JOBS}/{job_id}"

    refused(client.get(url, headers=api_key_headers(client, team.admin_h, "scans:read")),
            "admin:read")
    both = api_key_headers(client, team.admin_h, "scans:read", "admin:read")
    response = client.get(url, headers=both)
    assert response.status_code == 200
    assert [d["filename"] for d in response.get_json()["documents"]] == ["a.txt"]
    own = api_key_headers(client, team.outsider_h, "scans:read")
    assert client.get(url, headers=own).status_code == 200
    assert_problem(client.get(url, headers=team.editor_h), 404)


# An idempotent replay is authorized first

KEY = "Idempotency-Key"


def test_a_replayed_project_scan_needs_projects_write(team, client):
    body = {"text": RISKY, "project_id": team.id}
    first = client.post(SCANS, json=body, headers={**team.editor_h, KEY: "week-1"})
    assert first.status_code == 201, first.get_json()
    writer = api_key_headers(client, team.editor_h, "scans:write")

    refused(client.post(SCANS, json=body, headers=writer), "projects:write")
    refused(client.post(SCANS, json=body, headers={**writer, KEY: "week-1"}), "projects:write")
    assert count_rows(client.application, Scan) == 1
    again = client.post(SCANS, json=body, headers={**team.editor_h, KEY: "week-1"})
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.get_data() == first.get_data()


def test_a_replayed_scan_into_the_default_project_needs_projects_write(team, client):
    """A key's scans take no default project, so the same body is the same request for the
    key and for the token: the kept answer decides what the replay needs."""
    saved = client.patch(SETTINGS, json={"project_id": team.id}, headers=team.editor_h)
    assert saved.status_code == 200, saved.get_json()
    first = client.post(SCANS, json={"text": RISKY}, headers={**team.editor_h, KEY: "k"})
    assert first.get_json()["project_id"] == team.id
    writer = api_key_headers(client, team.editor_h, "scans:write")

    refused(client.post(SCANS, json={"text": RISKY}, headers={**writer, KEY: "k"}),
            "projects:write")
    assert count_rows(client.application, Scan) == 1


@pytest.mark.parametrize("sent", ["project_id", "default project"])
@pytest.mark.parametrize("how", ["removed", "left"])
def test_a_former_member_gets_no_replay_of_a_project_scan(team, client, sent, how):
    body = {"text": RISKY}
    if sent == "project_id":
        body["project_id"] = team.id
    else:
        client.patch(SETTINGS, json={"project_id": team.id}, headers=team.editor_h)
    first = client.post(SCANS, json=body, headers={**team.editor_h, KEY: "week-1"})
    assert first.get_json()["project_id"] == team.id
    leave(team, how)

    again = client.post(SCANS, json=body, headers={**team.editor_h, KEY: "week-1"})
    assert assert_problem(again, 404)["detail"] == "No such project."
    assert "Idempotent-Replayed" not in again.headers
    assert count_rows(client.application, Scan) == 1


def test_a_replayed_project_job_needs_projects_write_and_membership(team, client, no_workers):
    form = {"project_id": team.id}
    first = client.post(JOBS, headers={**team.editor_h, KEY: "batch"},
                        content_type="multipart/form-data",
                        data={"files": [(io.BytesIO(REPORT), "a.txt")], **form})
    assert first.status_code == 202, first.get_json()
    writer = api_key_headers(client, team.editor_h, "scans:write")

    def again(headers):
        return client.post(JOBS, headers={**headers, KEY: "batch"},
                           content_type="multipart/form-data",
                           data={"files": [(io.BytesIO(REPORT), "a.txt")], **form})

    refused(again(writer), "projects:write")
    leave(team, "removed")
    assert_problem(again(team.editor_h), 404)
    assert count_rows(client.application, Job) == 1


# Member checks under concurrent requests


def test_a_risk_assigned_while_its_owner_is_removed_is_owned_by_no_one(team, client,
                                                                       keyword_app):
    """The owner's membership is checked under the register's lock: checked before it, an
    assignment that waited for a removal to commit made the ex-member the risk's owner."""
    scan_into(client, team.owner_h, team.id, RISKY)
    risk = str(register_of(client, team.owner_h, team.id)[0]["id"])
    member = Accounts(keyword_app, client).user()[0]
    answers = []
    for _ in range(20):
        add_member(client, team.owner_h, team.id, member["email"], "editor")
        # Released together; bounded, so that a deadlock fails the test instead of hanging it.
        assigned, removed = together(
            keyword_app,
            ("PATCH", project_url(team.id, "risks", risk), team.owner_h,
             {"owner_id": member["id"]}),
            ("DELETE", project_url(team.id, "members", member["id"]), team.owner_h, None))
        assert removed.status_code == 204, removed.get_json()
        if assigned.status_code != 200:
            assert_problem(assigned, 422, "owner_id")
        answers.append(assigned.status_code)
        owners = [e["owner_id"] for e in register_of(client, team.owner_h, team.id)]
        assert owners == [None, None], (len(answers), answers)


def test_the_member_cap_holds_when_adds_race(make_app):
    app = make_app(MAX_PROJECT_MEMBERS=5)
    client = app.test_client()
    accounts = Accounts(app, client)
    _, owner_h = accounts.user()
    users = [accounts.user()[0] for _ in range(8)]
    for _ in range(3):
        project_id = make_project(client, owner_h)["id"]
        # Released together, bounded like every race (a deadlock fails, never hangs).
        answers = together(app, *[("POST", project_url(project_id, "members"), owner_h,
                                   {"email": user["email"], "role": "viewer"})
                                  for user in users])
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [201] * 4 + [409] * 4, [a.get_json() for a in answers]
        members = client.get(project_url(project_id, "members"), headers=owner_h)
        assert members.get_json()["total"] == 5
