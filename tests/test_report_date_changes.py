"""A report's date found in the document, and changed afterwards (issue #61, item 2).

A project manager scans the 23 October report on 27 November: without a date of its own the
scan must say 23 October (its title says so), not the upload day, and where the guess is
wrong a person corrects it later; the register's first and last seen, the changes' default
pair and the trend then follow the corrected date. Findings come from the keyword stand-in,
matched by the real sentence encoder (tests/test_report_dates.py does the same).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from tests.helpers import assert_problem
from tests.jobs import Inert
from tests.projects import audit_events, register_of, scan_into
from tests.register_reports import WEEK_1, WEEK_2, WEEK_3, job_dates, risks_by_category
from tests.scanning import post_file

BODY = "The vendor may slip the delivery."


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _dated(response) -> tuple[str, str]:
    assert response.status_code == 201, response.get_json()
    scan = response.get_json()
    return scan["reported_on"], scan["reported_on_from"]


@pytest.mark.parametrize(("text", "expected"), [
    ("Weekly report – 23 October 2026\n\n" + BODY, ("2026-10-23", "document")),
    ("# Status report\nProject Atlas\nDate: 2026-10-16\n\n" + BODY, ("2026-10-16", "document")),
    ("Steering committee, October 9, 2026\n" + BODY, ("2026-10-09", "document")),
    ("Status, Fri 2nd Oct. 2026\n" + BODY, ("2026-10-02", "document")),
    # Day or month first in digits: 03/04 is March to one reader and April to another.
    ("Weekly report 23/10/2026\n" + BODY, (None, "upload_day")),
    ("Week 2026-10-01 to 2026-10-07\n" + BODY, (None, "upload_day")),  # which one?
    ("Report 2026-02-30\n" + BODY, (None, "upload_day")),  # no such day
    ("Report 9999-12-31\n" + BODY, (None, "upload_day")),  # not yet
    ("Report\n" + "\n".join(f"Line {n}." for n in range(6)) + "\n2026-10-23\n" + BODY,
     (None, "upload_day")),  # in the body, not the first lines
])
def test_a_scan_sent_without_a_date_takes_the_one_its_first_lines_state(
        team, client, text, expected):
    day, source = expected
    response = client.post("/api/v1/scans", headers=team.owner_h, json={"text": text})
    assert _dated(response) == (day or _today(), source)
    scan = client.get(f"/api/v1/scans/{response.get_json()['scan_id']}",
                      headers=team.owner_h).get_json()
    assert (scan["reported_on"], scan["reported_on_from"]) == (day or _today(), source)


def test_the_document_then_the_file_name_then_the_upload_day_and_a_given_date_wins(
        team, client):
    titled = b"Weekly report - 23 October 2026\n" + BODY.encode()
    assert _dated(post_file(client, team.owner_h, titled, "status-2026-10-30.txt")) == (
        "2026-10-23", "document")
    assert _dated(post_file(client, team.owner_h, BODY.encode(), "status-2026-10-30.txt")) == (
        "2026-10-30", "filename")
    assert _dated(post_file(client, team.owner_h, BODY.encode(), "status.txt")) == (
        _today(), "upload_day")
    assert _dated(post_file(client, team.owner_h, titled, "status-2026-10-30.txt",
                            reported_on="2026-10-02")) == ("2026-10-02", "given")
    assert _dated(post_file(client, team.owner_h, titled, "s.txt", reported_on="")) == (
        "2026-10-23", "document")  # an empty field (the console's) gives none
    assert _dated(client.post("/api/v1/scans", headers=team.owner_h, json={
        "text": titled.decode(), "reported_on": "2026-10-02"})) == ("2026-10-02", "given")
    listed = client.get("/api/v1/scans", headers=team.owner_h).get_json()["items"]
    assert [(s["reported_on"], s["reported_on_from"]) for s in listed][:2] == [
        ("2026-10-02", "given"), ("2026-10-23", "document")]


def _patch(client, headers, scan_id, **body):
    return client.patch(f"/api/v1/scans/{scan_id}", json=body, headers=headers)


def test_a_scans_date_changed_moves_first_and_last_seen_the_changes_and_the_trend(
        team, client):
    """Week 3's report was dated 20 March by mistake: it is the report of 27 February. Once
    corrected, it is the first report: the entries it states were first seen then, the
    wording of the vendor risk is week 2's, and the changes compare weeks 1 and 2."""
    first = scan_into(client, team.owner_h, team.id, WEEK_1, reported_on="2026-03-06")
    second = scan_into(client, team.owner_h, team.id, WEEK_2, reported_on="2026-03-13")
    third = scan_into(client, team.owner_h, team.id, WEEK_3, reported_on="2026-03-20")
    before = client.get(f"/api/v1/projects/{team.id}/changes", headers=team.viewer_h)
    assert before.get_json()["to_scan"] == third["scan_id"]

    changed = _patch(client, team.editor_h, third["scan_id"], reported_on="2026-02-27")
    assert changed.status_code == 200, changed.get_json()
    assert (changed.get_json()["reported_on"], changed.get_json()["reported_on_from"]) == (
        "2026-02-27", "given")
    risks = risks_by_category(client, team)
    assert (risks["vendor"]["first_seen"], risks["vendor"]["last_seen"]) == ("2026-02-27",
                                                                             "2026-03-13")
    assert risks["vendor"]["risk"] in WEEK_2  # the latest report's wording
    assert (risks["security"]["first_seen"], risks["security"]["last_seen"]) == (
        "2026-02-27", "2026-02-27")
    body = client.get(f"/api/v1/projects/{team.id}/changes", headers=team.viewer_h).get_json()
    assert (body["from_scan"], body["to_scan"]) == (first["scan_id"], second["scan_id"])
    assert (body["new"], body["gone"]) == ([], [])  # week 3's security risk is older news
    assert sorted(e["category"] for e in body["persisting"]) == ["budget", "vendor"]
    trend = client.get(f"/api/v1/projects/{team.id}/trend", headers=team.viewer_h).get_json()
    assert [(s["scan_id"], s["reported_on"]) for s in trend["scans"]] == [
        (third["scan_id"], "2026-02-27"), (first["scan_id"], "2026-03-06"),
        (second["scan_id"], "2026-03-13")]
    assert trend["weeks"][0]["week"] == "2026-W09"
    assert trend["weeks"][0]["open"] == {"security": 1, "vendor": 1}
    (event,) = audit_events(client, team.admin_h, "scan_redated")
    assert event["details"] == {"from": "2026-03-20", "to": "2026-02-27",
                                "project_id": team.id}


def test_a_scan_moved_into_a_project_with_a_new_date_joins_its_register_on_that_date(
        team, client):
    scan = client.post("/api/v1/scans", headers=team.owner_h, json={"text": WEEK_1})
    moved = _patch(client, team.owner_h, scan.get_json()["scan_id"], project_id=team.id,
                   reported_on="2026-01-09")
    assert moved.status_code == 200, moved.get_json()
    assert {(e["first_seen"], e["last_seen"]) for e in register_of(
        client, team.owner_h, team.id)} == {("2026-01-09", "2026-01-09")}
    # The same day again is no change to the register, but a person confirmed it.
    again = _patch(client, team.owner_h, moved.get_json()["scan_id"], reported_on="2026-01-09")
    assert again.status_code == 200 and again.get_json()["reported_on_from"] == "given"


@pytest.mark.parametrize("value", ["2026-02-30", "0001-01-01", "1899-12-31", "9999-12-31",
                                   "23/10/2026", "20261023", "2026-10-23T00:00:00", "",
                                   None, 20261023, ["2026-10-23"], "2" * 10_000])
def test_a_date_that_is_no_report_date_is_a_422_and_changes_nothing(team, client, value):
    scan = scan_into(client, team.owner_h, team.id, WEEK_1, reported_on="2026-03-06")
    response = _patch(client, team.owner_h, scan["scan_id"], reported_on=value)
    assert list(assert_problem(response, 422, "reported_on")["errors"]) == ["reported_on"]
    assert {e["first_seen"] for e in register_of(client, team.owner_h, team.id)} == {
        "2026-03-06"}


def test_a_date_after_tomorrow_is_refused_and_an_empty_change_is_a_422(team, client):
    scan = scan_into(client, team.owner_h, team.id, WEEK_1, reported_on="2026-03-06")
    ahead = (date.today() + timedelta(days=3)).isoformat()
    assert_problem(_patch(client, team.owner_h, scan["scan_id"], reported_on=ahead), 422,
                   "reported_on")
    assert_problem(_patch(client, team.owner_h, scan["scan_id"]), 422, "project_id",
                   "reported_on")
    assert_problem(_patch(client, team.owner_h, scan["scan_id"], reported_on="2026-03-01",
                          title="x"), 422)


def test_who_may_date_a_report_again(team, client):
    """Its owner and the project's editors and owners; a viewer is a 403, someone outside
    the project a 404 (as for any change to a scan), no token a 401; a scan outside any
    project is its owner's alone."""
    scan = scan_into(client, team.editor_h, team.id, WEEK_1, reported_on="2026-03-06")
    url = f"/api/v1/scans/{scan['scan_id']}"
    assert_problem(_patch(client, team.viewer_h, scan["scan_id"], reported_on="2026-03-01"),
                   403)
    assert_problem(_patch(client, team.outsider_h, scan["scan_id"], reported_on="2026-03-01"),
                   404)
    assert_problem(client.patch(url, json={"reported_on": "2026-03-01"}), 401)
    assert client.get(url, headers=team.owner_h).get_json()["reported_on"] == "2026-03-06"
    assert _patch(client, team.owner_h, scan["scan_id"],
                  reported_on="2026-03-02").status_code == 200  # the project's owner

    own = client.post("/api/v1/scans", headers=team.viewer_h, json={"text": WEEK_1}).get_json()
    assert_problem(_patch(client, team.owner_h, own["scan_id"], reported_on="2026-03-01"), 404)
    assert _patch(client, team.viewer_h, own["scan_id"],
                  reported_on="2026-03-01").get_json()["reported_on"] == "2026-03-01"


@pytest.fixture
def jobs_team(team, keyword_app):
    keyword_app.extensions["riskscan.jobs"] = Inert()  # the test runs each document
    return team


def test_a_jobs_documents_are_dated_by_the_jobs_rule_and_say_so(jobs_team, keyword_app,
                                                                 client):
    """A job dates its documents itself (its field, else each file's name, else the day it
    was sent: docs/jobs.md); their scans say so, and a person corrects one like any scan."""
    files = [("week-2026-03-14.txt", b"Weekly report - 6 March 2026\nThe vendor may slip.")]
    assert job_dates(keyword_app, client, jobs_team, files) == {
        "week-2026-03-14.txt": "2026-03-14"}
    (scan,) = client.get("/api/v1/scans", headers=jobs_team.editor_h).get_json()["items"]
    assert scan["reported_on_from"] == "job"
    corrected = _patch(client, jobs_team.editor_h, scan["scan_id"], reported_on="2026-03-06")
    assert (corrected.get_json()["reported_on"], corrected.get_json()["reported_on_from"]) == (
        "2026-03-06", "given")
