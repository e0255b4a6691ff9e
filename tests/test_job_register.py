"""A job into a project, as a PM sends the quarter's reports at once (issue #74, item 4):
a report the project holds already is skipped and says so, and each document says what it
did to the register; report dates, never upload order, decide what reopens."""

from __future__ import annotations

import pytest

from tests.helpers import assert_problem
from tests.jobs import Inert, accepted, document_ids, get_job, post_job, run_document
from tests.projects import register_of, scan_into

WEEK_1 = b"Falcon status - 6 March 2026\nThe vendor may slip the delivery of the servers."
WEEK_2 = (b"Falcon status - 13 March 2026\nThe vendor may still slip the server delivery. "
          b"The budget is overrun by a fifth.")


@pytest.fixture
def jobs_team(team, keyword_app):
    keyword_app.extensions["riskscan.jobs"] = Inert()  # the test runs each document
    return team


def run_job(app, client, team, files) -> dict:
    job_id = accepted(post_job(client, team.editor_h, files, project_id=team.id),
                      total=len(files))
    for document_id in document_ids(app, job_id):
        run_document(app, document_id)
    return get_job(client, team.editor_h, job_id)


def test_a_report_held_already_is_skipped_and_each_document_says_what_it_did(
        jobs_team, keyword_app, client):
    team = jobs_team
    first = scan_into(client, team.owner_h, team.id, WEEK_1.decode(), reported_on="2026-03-06")
    (vendor,) = register_of(client, team.owner_h, team.id)
    url = f"/api/v1/projects/{team.id}/risks/{vendor['id']}"
    assert client.patch(url, json={"status": "closed"}, headers=team.owner_h).status_code == 200

    # The quarter's zip again: week 1 (held already, by its text) and week 2, dated by title.
    job = run_job(keyword_app, client, team, [("Falcon status week 1.docx.txt", WEEK_1),
                                              ("Falcon status week 2.txt", WEEK_2)])
    week_1, week_2 = job["documents"]
    assert (job["done"], job["skipped"], job["failed"]) == (1, 1, 0)
    assert (week_1["status"], week_1["duplicate_of"], week_1["scan_id"]) == (
        "skipped", first["scan_id"], None)
    assert "holds this report already" in week_1["error"]
    assert week_2["reported_on"] == "2026-03-13"
    # Week 2 is dated after the report the vendor risk was closed at: it reopens it.
    assert week_2["register"] == {"opened": 1, "stated": 0, "reopened": 1, "kept_out": 0}
    entries = register_of(client, team.owner_h, team.id)
    assert sorted((e["category"], e["occurrences"]) for e in entries) == [
        ("budget", 1), ("vendor", 2)]  # seen once each, not doubled by the repeat


def test_two_copies_in_one_job_make_one_scan_and_an_older_report_reopens_nothing(
        jobs_team, keyword_app, client):
    team = jobs_team
    scan_into(client, team.owner_h, team.id, WEEK_2.decode(), reported_on="2026-03-13")
    vendor = next(e for e in register_of(client, team.owner_h, team.id)
                  if e["category"] == "vendor")
    url = f"/api/v1/projects/{team.id}/risks/{vendor['id']}"
    client.patch(url, json={"status": "closed"}, headers=team.owner_h)

    job = run_job(keyword_app, client, team, [("a.txt", WEEK_1), ("b.txt", WEEK_1)])
    statuses = [document["status"] for document in job["documents"]]
    assert statuses == ["done", "skipped"]
    assert job["documents"][1]["duplicate_of"] == job["documents"][0]["scan_id"]
    # Week 1 was found late: dated before the report the risk was closed at.
    assert job["documents"][0]["register"]["reopened"] == 0
    assert client.get(url, headers=team.viewer_h).get_json()["status"] == "closed"


def test_outcomes_are_for_the_jobs_owner_only(jobs_team, keyword_app, client):
    team = jobs_team
    job = run_job(keyword_app, client, team, [("a.txt", WEEK_1)])
    assert_problem(client.get(f"/api/v1/jobs/{job['job_id']}", headers=team.outsider_h), 404)
    assert_problem(client.get(f"/api/v1/jobs/{job['job_id']}"), 401)
