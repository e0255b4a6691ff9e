"""The console's Jobs pages (/app/jobs, /app/jobs/{id}), as a browser uses them through Flask's
test client, on SQLite and MariaDB: documents sent into a project become one job, its page
follows it until it ends and then links each document's scan or says its error; the list is
one's own jobs; a job is cancelled; and every refusal is the API's, said once, in words.

The app's job engine runs nothing by itself (test_jobs.Inert): the test runs each document
as either engine would (test_jobs.run_document), so it knows what the page must say before
and after, without waiting on threads.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from markupsafe import escape

from service.db import today
from tests.console_browser import REFUSED_FORM, csrf_of, html, sign_in
from tests.jobs import KEYWORDS, Inert, document_ids, make_zip, run_document
from tests.projects import Team

JOBS = "/app/jobs"
JOB_LINK = re.compile(r'href="/app/jobs/([0-9a-f-]+)"')


@pytest.fixture
def team(keyword_app):
    """An owner, editor, viewer and outsider of a project, on an app whose engine only hears
    of documents (the test runs them)."""
    keyword_app.extensions["riskscan.jobs"] = Inert()
    return Team(keyword_app, keyword_app.test_client())


def browser_of(app, user):
    client = app.test_client()
    assert sign_in(client, user["email"]).status_code == 302
    return client


def send(client, files=(), archive=None, csrf=True, **form):
    """The Jobs form posted with ``files`` (name, bytes) as its documents."""
    data = {"files": [(io.BytesIO(content), name) for name, content in files], **form}
    if archive is not None:
        data["archive"] = (io.BytesIO(archive), "reports.zip")
    if csrf:
        data["csrf_token"] = csrf_of(client, JOBS)
    return client.post(JOBS, data=data, content_type="multipart/form-data")


def jobs_of(client, headers) -> list[dict]:
    answer = client.get("/api/v1/jobs", headers=headers)
    assert answer.status_code == 200
    return answer.get_json()["items"]


def job_of(client, headers, job_id) -> dict:
    answer = client.get(f"/api/v1/jobs/{job_id}", headers=headers)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def said_once(page: str, words: str) -> None:
    """``words`` are on the page exactly once (as Jinja escapes them)."""
    shown = str(escape(words))
    assert page.count(shown) == 1, (page.count(shown), words)


# ----------------------------------------------------------------------------- the flow


def test_documents_sent_into_a_project_become_a_job_its_page_follows_to_the_end(
        keyword_app, team):
    browser = browser_of(keyword_app, team.editor)
    form = html(browser.get(JOBS))
    assert re.search(rf'<option value="{team.id}"\s*>Billing migration</option>', form)
    sent = send(browser, [("week-2026-03-14.txt", KEYWORDS), ("empty.txt", b"")],
                project_id=team.id)
    assert sent.status_code == 303
    (listed,) = jobs_of(team.client, team.editor_h)
    assert sent.headers["Location"] == f"/app/jobs/{listed['job_id']}"
    assert (listed["project_id"], listed["total"]) == (team.id, 2)

    waiting = html(browser.get(sent.headers["Location"]))
    assert 'class="job-progress" data-follow="3"' in waiting  # the script asks again
    assert "Waiting to start." in waiting and "0 of 2 documents scanned" in waiting
    assert '<progress id="job-bar" max="2" value="0"' in waiting
    assert "Cancel the job" in waiting and waiting.count("Waiting</td>") == 2

    for document_id in document_ids(keyword_app, listed["job_id"]):
        run_document(keyword_app, document_id)
    job = job_of(team.client, team.editor_h, listed["job_id"])
    scanned, failed = job["documents"]
    assert (scanned["status"], failed["status"]) == ("done", "failed")

    ended = html(browser.get(sent.headers["Location"]))
    assert "data-follow" not in ended and "Check again" not in ended
    assert "Finished (1 failed)." in ended and "1 of 2 documents scanned, 1 failed" in ended
    assert '<progress id="job-bar" max="2" value="2"' in ended
    assert (f'<a href="/app/scans/{scanned["scan_id"]}">Open the scan<span '
            f'class="visually-hidden"> of week-2026-03-14.txt</span></a>') in ended
    assert f"Failed: {failed['error']}" in ended and failed["error"]
    assert '<time datetime="2026-03-14">2026-03-14</time>' in ended  # from its name
    # The other failed before its scan could read a date in it: it has none (issue #74).
    assert failed["reported_on"] is None and f'<time datetime="{today()}">' not in ended
    assert "Cancel the job" not in ended
    assert f'href="/app/projects/{team.id}">Billing migration</a>' in ended
    scan = team.client.get(f"/api/v1/scans/{scanned['scan_id']}", headers=team.editor_h)
    assert scan.get_json()["project_id"] == team.id
    # The list: the job, its project and its counts, linked to its page.
    jobs = html(browser.get(JOBS))
    assert JOB_LINK.findall(jobs) == [listed["job_id"]]
    assert "1 of 2 scanned, 1 failed" in jobs and "Finished (1 failed)" in jobs


def test_a_zip_and_a_report_date_for_every_document(keyword_app, team):
    team.client.patch("/api/v1/auth/me/settings", json={"project_id": team.id},
                      headers=team.owner_h)
    browser = browser_of(keyword_app, team.owner)
    archive = make_zip([("reports/a.txt", KEYWORDS), ("reports/b.md", KEYWORDS)])
    sent = send(browser, archive=archive, project_id="", reported_on="2026-02-01")
    assert sent.status_code == 303
    (listed,) = jobs_of(team.client, team.owner_h)
    job = job_of(team.client, team.owner_h, listed["job_id"])
    assert job["project_id"] is None  # "No project" chosen, not the default project
    assert [(d["filename"], d["reported_on"]) for d in job["documents"]] == [
        ("a.txt", "2026-02-01"), ("b.md", "2026-02-01")]


def test_the_form_starts_at_the_default_project_and_a_link_names_another(keyword_app, team):
    other = team.client.post("/api/v1/projects", json={"name": "Second"},
                             headers=team.owner_h).get_json()
    team.client.patch("/api/v1/auth/me/settings", json={"project_id": team.id},
                      headers=team.owner_h)
    browser = browser_of(keyword_app, team.owner)
    assert f'<option value="{team.id}" selected>' in html(browser.get(JOBS))
    named = html(browser.get(JOBS, query_string={"project_id": other["id"]}))
    assert f'<option value="{other["id"]}" selected>' in named
    project = html(browser.get(f"/app/projects/{team.id}"))
    assert f'<a href="/app/jobs?project_id={team.id}">Upload several reports</a>' in project


def test_cancelling_on_the_page_stops_what_has_not_started(keyword_app, team):
    browser = browser_of(keyword_app, team.owner)
    sent = send(browser, [("a.txt", KEYWORDS), ("b.txt", KEYWORDS)])
    page = sent.headers["Location"]
    token = csrf_of(browser, page)
    cancelled = browser.post(f"{page}/cancel", data={"csrf_token": token})
    assert cancelled.status_code == 303 and cancelled.headers["Location"] == page
    after = html(browser.get(page))
    assert "Job cancelled: 2 documents will not be scanned." in after
    assert after.count("Cancelled before it started") == 2
    assert "Cancel the job" not in after and "data-follow" not in after
    (listed,) = jobs_of(team.client, team.owner_h)
    assert listed["status"] == "cancelled"


def test_the_list_and_the_job_name_each_document_and_its_risks_in_agreeing_words(
        keyword_app, team):
    """Each document's file name and its risks in words that agree ("1 risk", "2 risks",
    "0 risks"), on the job's page and in the list (its first five documents there, a link
    to the rest); nothing for one not scanned, and a hostile name is text. Another user's
    list names none of them."""
    browser = browser_of(keyword_app, team.editor)
    hostile = "<script>x.txt"
    # Each text its own: a text the project holds already is skipped (test_job_register.py).
    files = [("two.txt", KEYWORDS), ("one.txt", b"The budget is overrun."),
             ("none.txt", b"Lunch was at noon."), ("empty.txt", b""),
             (hostile, KEYWORDS + b" Coffee was at ten."),
             ("sixth.txt", KEYWORDS + b" Tea was at four."),
             ("seventh.txt", KEYWORDS + b" Dinner was at eight.")]
    page = send(browser, files, project_id=team.id).headers["Location"]
    job_id = page.rsplit("/", 1)[1]
    for document_id in document_ids(keyword_app, job_id)[:5]:
        run_document(keyword_app, document_id)
    shown = html(browser.get(page))
    assert "0 of 7 documents" not in shown and "4 of 7 documents scanned, 1 failed" in shown
    assert '<th scope="col">Risks found</th>' in shown
    rows = re.findall(r'<th scope="row" class="wrap">(.*?)</th>\s*<td>.*?</td>\s*'
                      r'<td>(.*?)</td>', shown, re.DOTALL)
    assert rows == [("two.txt", "2 risks"), ("one.txt", "1 risk"), ("none.txt", "0 risks"),
                    ("empty.txt", ""), ("&lt;script&gt;x.txt", "2 risks"),
                    ("sixth.txt", ""), ("seventh.txt", "")]
    listed = html(browser.get(JOBS))
    items = re.search(r'<ul class="job-documents">(.*?)</ul>', listed, re.DOTALL)[1]
    assert [re.sub(r"<[^>]+>", "", item).strip() for item in re.findall(
        r"<li>(.*?)</li>", items, re.DOTALL)] == [
        "two.txt: 2 risks", "one.txt: 1 risk", "none.txt: 0 risks", "empty.txt",
        "&lt;script&gt;x.txt: 2 risks", "2 more documents of this job"]
    assert f'<a href="{page}">2 more documents' in items and "<script>x" not in listed
    assert "two.txt" not in html(browser_of(keyword_app, team.outsider).get(JOBS))


# ---------------------------------------------------------------------------- refusals


def test_a_form_without_its_csrf_token_sends_no_job_and_cancels_nothing(keyword_app, team):
    browser = browser_of(keyword_app, team.owner)
    refused = send(browser, [("a.txt", KEYWORDS)], csrf=False)
    assert refused.status_code == 400 and REFUSED_FORM in html(refused)
    assert jobs_of(team.client, team.owner_h) == []
    page = send(browser, [("a.txt", KEYWORDS)]).headers["Location"]
    refused = browser.post(f"{page}/cancel", data={})
    assert refused.status_code == 400 and REFUSED_FORM in html(refused)
    assert jobs_of(team.client, team.owner_h)[0]["status"] == "queued"


def test_another_users_job_is_a_404_page_and_cannot_be_cancelled(keyword_app, team):
    owner = browser_of(keyword_app, team.owner)
    page = send(owner, [("a.txt", KEYWORDS)]).headers["Location"]
    stranger = browser_of(keyword_app, team.outsider)
    shown = stranger.get(page)
    assert shown.status_code == 404 and "No such job." in html(shown)
    cancel = stranger.post(f"{page}/cancel", data={"csrf_token": csrf_of(stranger, JOBS)})
    assert cancel.status_code == 404 and "No such job." in html(cancel)
    assert JOB_LINK.findall(html(stranger.get(JOBS))) == []
    assert jobs_of(team.client, team.owner_h)[0]["status"] == "queued"
    unlike = stranger.get("/app/jobs/a%3Fb")  # no id: not sent to the API
    assert unlike.status_code == 404 and "No such job." in html(unlike)


def test_a_viewer_is_not_offered_the_project_and_is_refused_it_in_the_apis_words(
        keyword_app, team):
    browser = browser_of(keyword_app, team.viewer)
    form = html(browser.get(JOBS))
    assert f'value="{team.id}"' not in form and "viewed-note" not in form
    linked = html(browser.get(JOBS, query_string={"project_id": team.id}))
    assert f'value="{team.id}"' not in linked
    assert ("You are a viewer of Billing migration: only its editors and owners add "
            "reports to it.") in linked
    assert "Upload several reports" not in html(browser.get(f"/app/projects/{team.id}"))
    refused = send(browser, [("a.txt", KEYWORDS)], project_id=team.id)
    assert refused.status_code == 403
    page = html(refused)
    said_once(page, "Your role in this project is viewer")
    assert 'role="alert" id="job-error"' in page and "Upload and scan" in page  # the form
    assert jobs_of(team.client, team.viewer_h) == []


def test_a_project_one_is_not_a_member_of_is_the_apis_404_on_the_form(keyword_app, team):
    browser = browser_of(keyword_app, team.outsider)
    refused = send(browser, [("a.txt", KEYWORDS)], project_id=team.id)
    assert refused.status_code == 404
    page = html(refused)
    said_once(page, "No such project.")
    assert 'role="alert" id="job-error"' in page and "Upload and scan" in page  # the form
    assert jobs_of(team.client, team.outsider_h) == []


@pytest.mark.parametrize(("fields", "status", "words"), [
    ({"archive": b"this is not a zip"}, 422, "The archive is not a readable .zip file."),
    ({}, 422, "Send one or more files (field files) or a .zip (field archive)."),
    ({"files": [("a.txt", KEYWORDS)], "archive": make_zip([("b.txt", KEYWORDS)])}, 422,
     "Send either files or one archive, not both."),
    ({"files": [("a.txt", KEYWORDS)], "reported_on": "14/03/2026"}, 422,
     "Not a date (YYYY-MM-DD)."),
], ids=["not-a-zip", "nothing", "both", "not-a-date"])
def test_a_malformed_upload_is_the_form_again_with_the_apis_words_said_once(
        keyword_app, team, fields, status, words):
    browser = browser_of(keyword_app, team.owner)
    refused = send(browser, fields.get("files", ()), archive=fields.get("archive"),
                   reported_on=fields.get("reported_on", ""))
    assert refused.status_code == status
    page = html(refused)
    said_once(page, words)
    assert 'role="alert" id="job-error"' in page and "Upload and scan" in page
    assert jobs_of(team.client, team.owner_h) == []


def test_a_date_after_tomorrow_is_said_once(keyword_app, team):
    browser = browser_of(keyword_app, team.owner)
    late = (today() + timedelta(days=5)).isoformat()
    refused = send(browser, [("a.txt", KEYWORDS)], reported_on=late)
    assert refused.status_code == 422
    page = html(refused)
    said_once(page, "A report's date from 1900-01-01 to tomorrow")
    assert f'value="{late}"' in page  # the date kept, to be corrected
    assert 'aria-invalid="true"' in page.split('id="job-reported-on"')[1].split(">")[0]


@pytest.fixture
def small_app(make_app, monkeypatch):
    """Documents of at most 10 KB, jobs of at most 50 KB."""
    app = make_app(MAX_UPLOAD_MB=0.01, MAX_JOB_MB=0.05)
    app.extensions["riskscan.jobs"] = Inert()
    return app


def test_an_oversized_document_or_upload_is_refused_in_words_once(small_app):
    team = Team(small_app, small_app.test_client())
    browser = browser_of(small_app, team.owner)
    big = send(browser, [("a.txt", KEYWORDS), ("big.txt", b"risk " * 4000)])
    assert big.status_code == 413
    page = html(big)
    said_once(page, "big.txt is larger than 0.01 MB.")
    assert "MAX_UPLOAD_MB" not in page  # the setting's name is for operators
    # Beyond what a job may hold in all, the console refuses it before reading it.
    whole = send(browser, [(f"{n}.txt", b"risk " * 1900) for n in range(16)])
    assert whole.status_code == 413
    said_once(html(whole), "The upload is larger than 0.05 MB in all: send the documents "
                           "in several jobs.")
    assert jobs_of(team.client, team.owner_h) == []
