"""A report's date (``reported_on``): what a scan carries besides its upload time, and what
the register, its changes and its trend order reports by.

A project manager scans each week's report, sometimes late, sometimes an old one found
afterwards: the register must say what the reports say as of their dates, not as of the
day someone uploaded them. The findings come from the keyword stand-in (tests/scanning.py),
matched by the real sentence encoder, as in tests/test_register.py.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from testkit.documents import make_docx
from tests.helpers import assert_problem
from tests.jobs import Inert, accepted, document_ids, get_job, post_job, run_document
from tests.projects import register_of, scan_into
from tests.register_reports import WEEK_1, WEEK_2, WEEK_3, job_dates, risks_by_category
from tests.scanning import post_file


def test_a_scan_carries_its_reports_date_from_json_or_a_form_and_else_the_upload_day(
        team, client):
    dated = scan_into(client, team.owner_h, team.id, WEEK_1, reported_on="2026-03-06")
    assert dated["reported_on"] == "2026-03-06"
    assert client.get(f"/api/v1/scans/{dated['scan_id']}",
                      headers=team.viewer_h).get_json()["reported_on"] == "2026-03-06"

    form = post_file(client, team.owner_h, WEEK_2.encode(), "status.txt",
                     project_id=team.id, reported_on="2026-03-13")
    assert form.status_code == 201, form.get_json()
    assert form.get_json()["reported_on"] == "2026-03-13"

    undated = scan_into(client, team.owner_h, team.id, WEEK_3)
    uploaded = datetime.fromisoformat(undated["timestamp"]).astimezone(UTC).date()
    assert undated["reported_on"] == uploaded.isoformat()
    empty = post_file(client, team.owner_h, b"The vendor may slip.", "notes.txt",
                      reported_on="")
    assert empty.get_json()["reported_on"] == uploaded.isoformat()
    null = client.post("/api/v1/scans", headers=team.owner_h,
                       json={"text": "The vendor may slip.", "reported_on": None})
    assert null.status_code == 201 and null.get_json()["reported_on"] == uploaded.isoformat()

    # The list says it too, each scan's own.
    listed = client.get("/api/v1/scans", query_string={"project_id": team.id},
                        headers=team.owner_h).get_json()["items"]
    assert sorted(s["reported_on"] for s in listed) == ["2026-03-06", "2026-03-13",
                                                       uploaded.isoformat()]


def test_the_legacy_scan_route_takes_the_date_too(team, client):
    response = post_file(client, team.owner_h, b"The vendor may slip the delivery.",
                         "status.txt", path="/api/scan", reported_on="2026-02-27")
    assert response.status_code == 201, response.get_json()
    scan = client.get(f"/api/v1/scans/{response.get_json()['scan_id']}",
                      headers=team.owner_h).get_json()
    assert scan["reported_on"] == "2026-02-27"


@pytest.mark.parametrize("value", ["tomorrow", "2026-02-30", "1899-12-31", "14/03/2026",
                                   "2026-03-14T09:00:00", 20260314, "0001-01-01"])
def test_a_date_that_is_no_plausible_report_date_is_a_422_and_nothing_is_stored(
        team, client, value):
    response = client.post("/api/v1/scans", headers=team.owner_h,
                           json={"text": WEEK_1, "project_id": team.id, "reported_on": value})
    assert list(assert_problem(response, 422, "reported_on")["errors"]) == ["reported_on"]
    if isinstance(value, str):
        form = post_file(client, team.owner_h, WEEK_1.encode(), "w.txt", project_id=team.id,
                         reported_on=value)
        assert list(assert_problem(form, 422, "reported_on")["errors"]) == ["reported_on"]
    assert register_of(client, team.owner_h, team.id) == []


def test_a_report_dated_after_tomorrow_is_refused(team, client):
    """A report cannot be dated ahead of its upload (a day's grace for time zones ahead of
    UTC): a typo of a year would otherwise stay "the latest report" for good."""
    today = datetime.now(UTC).date()
    for ahead, status in ((1, 201), (2, 422), (3650, 422)):
        day = (today + timedelta(days=ahead)).isoformat()
        response = client.post("/api/v1/scans", headers=team.owner_h,
                               json={"text": "The vendor may slip.", "reported_on": day})
        assert response.status_code == status, (ahead, response.get_json())


def test_first_and_last_seen_are_the_reports_dates_not_the_upload_days(team, client):
    first = scan_into(client, team.owner_h, team.id, WEEK_1, reported_on="2026-03-06")
    second = scan_into(client, team.owner_h, team.id, WEEK_2, reported_on="2026-03-13")
    for entry in risks_by_category(client, team).values():
        assert (entry["first_seen"], entry["last_seen"]) == ("2026-03-06", "2026-03-13")
        assert [f["scan_id"] for f in entry["findings"]] == [first["scan_id"],
                                                             second["scan_id"]]


def test_an_old_report_scanned_late_changes_nothing_newer_reports_say(team, client):
    """Weeks 2 and 3 are scanned, the vendor risk is closed; then week 1's report turns up
    and is scanned. It adds its findings and moves first_seen back, but the wording stays
    the newest report's, last_seen stays week 3, the closed risk stays closed, and the
    changes compare weeks 2 and 3 still."""
    second = scan_into(client, team.owner_h, team.id, WEEK_2, reported_on="2026-03-13")
    third = scan_into(client, team.owner_h, team.id, WEEK_3, reported_on="2026-03-20")
    vendor = risks_by_category(client, team)["vendor"]
    closed = client.patch(f"/api/v1/projects/{team.id}/risks/{vendor['id']}",
                          json={"status": "closed"}, headers=team.editor_h)
    assert closed.status_code == 200, closed.get_json()

    first = scan_into(client, team.owner_h, team.id, WEEK_1, reported_on="2026-03-06")
    risks = risks_by_category(client, team)
    assert (risks["vendor"]["status"], risks["vendor"]["reopened"]) == ("closed", False)
    assert risks["vendor"]["risk"] == WEEK_3.split(". ")[0] + "."
    assert (risks["vendor"]["first_seen"], risks["vendor"]["last_seen"]) == ("2026-03-06",
                                                                             "2026-03-20")
    assert [f["scan_id"] for f in risks["vendor"]["findings"]] == [
        first["scan_id"], second["scan_id"], third["scan_id"]]
    assert risks["budget"]["risk"] in WEEK_2  # its newest report is week 2, not week 1
    assert (risks["budget"]["first_seen"], risks["budget"]["last_seen"]) == ("2026-03-06",
                                                                             "2026-03-13")

    changes = client.get(f"/api/v1/projects/{team.id}/changes", headers=team.viewer_h)
    body = changes.get_json()
    assert (body["from_scan"], body["to_scan"]) == (second["scan_id"], third["scan_id"])
    assert [e["category"] for e in body["gone"]] == ["budget"]
    assert [e["category"] for e in body["new"]] == ["security"]
    assert [e["category"] for e in body["persisting"]] == ["vendor"]
    # to_scan alone: the report before it by date, whenever it was scanned.
    before_second = client.get(f"/api/v1/projects/{team.id}/changes", headers=team.viewer_h,
                               query_string={"to_scan": second["scan_id"]}).get_json()
    assert before_second["from_scan"] == first["scan_id"]
    assert sorted(e["category"] for e in before_second["persisting"]) == ["budget", "vendor"]


def test_a_report_stating_a_closed_risk_reopens_it_only_if_dated_after_the_close(
        team, client):
    """Closed at the report of 6 March: only a report dated after it is news."""
    scan_into(client, team.owner_h, team.id, "The vendor may slip the delivery.",
              reported_on="2026-03-06")
    (vendor,) = register_of(client, team.owner_h, team.id)
    url = f"/api/v1/projects/{team.id}/risks/{vendor['id']}"
    assert client.patch(url, json={"status": "closed"}, headers=team.owner_h).status_code == 200
    # An older report found late, and another of the same date: however late scanned.
    for day in ("2026-02-27", "2026-03-06"):
        scan_into(client, team.owner_h, team.id, "The vendor may still slip the delivery.",
                  reported_on=day)
        assert client.get(url, headers=team.owner_h).get_json()["status"] == "closed"
    # Dated after the report it was closed at: news, even though written before the click.
    scan_into(client, team.owner_h, team.id, "The vendor may yet slip the delivery.",
              reported_on="2026-03-13")
    again = client.get(url, headers=team.owner_h).get_json()
    assert (again["status"], again["reopened"]) == ("open", True)


def test_changes_by_default_compare_the_two_latest_reports_by_date_then_upload(team, client):
    """Uploaded out of order: the default pair is the two latest by report date; two
    reports of one date are ordered by their upload."""
    late = scan_into(client, team.owner_h, team.id, WEEK_3, reported_on="2026-03-20")
    early = scan_into(client, team.owner_h, team.id, WEEK_1, reported_on="2026-03-06")
    same_day = scan_into(client, team.owner_h, team.id, WEEK_2, reported_on="2026-03-20")
    body = client.get(f"/api/v1/projects/{team.id}/changes", headers=team.owner_h).get_json()
    assert (body["from_scan"], body["to_scan"]) == (late["scan_id"], same_day["scan_id"])
    before = client.get(f"/api/v1/projects/{team.id}/changes", headers=team.owner_h,
                        query_string={"to_scan": late["scan_id"]}).get_json()
    assert before["from_scan"] == early["scan_id"]


def test_the_trend_runs_over_the_reports_weeks(team, client):
    """Three weekly reports scanned on one day make three weeks, not one bar; the scans'
    points are in report order, each with its date."""
    dates = ["2026-03-06", "2026-03-13", "2026-03-20"]
    scans = [scan_into(client, team.owner_h, team.id, text, reported_on=day)
             for text, day in zip((WEEK_3, WEEK_1, WEEK_2), ["2026-03-20", *dates[:2]])]
    trend = client.get(f"/api/v1/projects/{team.id}/trend", headers=team.viewer_h).get_json()
    weeks = trend["weeks"]
    assert [w["week"] for w in weeks[:3]] == ["2026-W10", "2026-W11", "2026-W12"]
    assert [w["open"] for w in weeks[:3]] == [
        {"budget": 1, "vendor": 1},
        {"budget": 1, "vendor": 1},
        {"budget": 1, "security": 1, "vendor": 1},
    ]
    assert [(s["scan_id"], s["reported_on"]) for s in trend["scans"]] == [
        (scans[1]["scan_id"], dates[0]), (scans[2]["scan_id"], dates[1]),
        (scans[0]["scan_id"], dates[2])]


# Batch jobs: the date per document, from a field or from the file's name.


@pytest.fixture
def jobs_team(team, keyword_app):
    keyword_app.extensions["riskscan.jobs"] = Inert()
    return team


def test_a_job_takes_each_documents_date_from_its_name_or_else_the_upload_day(
        jobs_team, keyword_app, client):
    today = datetime.now(UTC).date().isoformat()
    files = [("week-2026-03-14.docx", make_docx(["The vendor may slip."])),
             ("2026-03-07-status.md", b"The budget is overrun."),
             ("minutes_2026_02_27.txt", b"The vendor may slip again."),
             ("status.txt", b"The password vault is shared."),
             ("2026-02-30-typo.txt", b"The budget may slip."),  # no such day
             ("2026-03-01-to-2026-03-07.txt", b"The vendor is late."),  # which one?
             ("build-20260314.txt", b"The budget is tight.")]  # not a date we read
    assert job_dates(keyword_app, client, jobs_team, files) == {
        "week-2026-03-14.docx": "2026-03-14", "2026-03-07-status.md": "2026-03-07",
        "minutes_2026_02_27.txt": "2026-02-27", "status.txt": today,
        "2026-02-30-typo.txt": today, "2026-03-01-to-2026-03-07.txt": today,
        "build-20260314.txt": today}


def test_a_jobs_document_without_a_date_in_its_name_is_dated_by_its_title_as_a_scan_is(
        jobs_team, keyword_app, client):
    """Issue #74: a zip's "Falcon status week 2.docx" was dated the upload day, where the
    Scan page dated the same file 13 March from its title; the job made it the project's
    latest report and reopened risks closed since."""
    today = datetime.now(UTC).date().isoformat()
    files = [("Falcon status week 2.docx", make_docx(["Falcon status – 13 March 2026",
                                                      "The vendor may slip."])),
             ("Falcon status week 3.txt", b"# Falcon status, 2026-03-20\n\nThe budget is over."),
             ("notes.txt", b"The vendor may slip again.")]
    assert job_dates(keyword_app, client, jobs_team, files) == {
        "Falcon status week 2.docx": "2026-03-13", "Falcon status week 3.txt": "2026-03-20",
        "notes.txt": today}


def test_a_jobs_field_dates_every_document_or_each_in_turn(jobs_team, keyword_app, client):
    files = [("week-2026-03-14.txt", b"The vendor may slip."),
             ("notes.txt", b"The budget is overrun.")]
    # One date: every document, whatever its name says.
    assert job_dates(keyword_app, client, jobs_team, files, reported_on="2026-01-09") == {
        "week-2026-03-14.txt": "2026-01-09", "notes.txt": "2026-01-09"}
    # One per document, in order; an empty one leaves that document to its name. (Texts
    # of their own: the same ones again would be skipped, held by the project already.)
    files = [(name, text + b" Again.") for name, text in files]
    assert job_dates(keyword_app, client, jobs_team, files,
                      reported_on=["", "2026-01-16"]) == {
        "week-2026-03-14.txt": "2026-03-14", "notes.txt": "2026-01-16"}


@pytest.mark.parametrize("dates", [["2026-01-09", "2026-01-16", "2026-01-23"], ["2026-13-01"],
                                   [(datetime.now(UTC).date() + timedelta(days=30)).isoformat()]])
def test_a_jobs_dates_that_do_not_fit_are_a_422_and_no_job(jobs_team, keyword_app, client,
                                                            dates):
    files = [("a.txt", b"The vendor may slip."), ("b.txt", b"The budget is overrun.")]
    response = post_job(client, jobs_team.editor_h, files, project_id=jobs_team.id,
                        reported_on=dates)
    assert list(assert_problem(response, 422, "reported_on")["errors"]) == ["reported_on"]
    assert client.get("/api/v1/jobs", headers=jobs_team.editor_h).get_json()["total"] == 0


def test_an_archives_members_are_dated_by_their_names(jobs_team, keyword_app, client):
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("reports/2026-03-06-status.txt", "The vendor may slip.")
        archive.writestr("reports/status.txt", "The budget is overrun.")
    job = post_job(client, jobs_team.editor_h, archive=buffer.getvalue(),
                   project_id=jobs_team.id)
    job_id = accepted(job, total=2)
    for document_id in document_ids(keyword_app, job_id):
        run_document(keyword_app, document_id)
    documents = get_job(client, jobs_team.editor_h, job_id)["documents"]
    assert [d["reported_on"] for d in documents] == [
        "2026-03-06", datetime.now(UTC).date().isoformat()]


@pytest.mark.parametrize("value", ["20260301", "2026-W09-7"])
def test_a_json_date_is_yyyy_mm_dd_as_a_forms_and_a_jobs(team, client, value):
    """The rule is YYYY-MM-DD; Python's ISO reader also takes the basic and week forms,
    which a form and a job refuse: one door must not accept what the others refuse."""
    response = client.post("/api/v1/scans", headers=team.owner_h,
                           json={"text": WEEK_1, "project_id": team.id, "reported_on": value})
    assert list(assert_problem(response, 422, "reported_on")["errors"]) == ["reported_on"]
    form = post_file(client, team.owner_h, WEEK_1.encode(), "w.txt", project_id=team.id,
                     reported_on=value)
    assert list(assert_problem(form, 422, "reported_on")["errors"]) == ["reported_on"]
    assert register_of(client, team.owner_h, team.id) == []
