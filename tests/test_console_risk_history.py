"""A risk's page tells its history (issue #74, item 1): each change in words, with its cause,
who made it and the report it came from, as a PM reads it after a multi-week project."""

from __future__ import annotations

import re

import pytest

from tests.console_browser import Browser
from tests.projects import register_of, scan_into
from tests.register_reports import WEEK_1, WEEK_2


@pytest.fixture
def owner(team, keyword_app):
    return Browser(keyword_app, team.owner["email"])


def history_of(page: str) -> list[str]:
    section = re.search(r'<section aria-labelledby="history-heading" id="history">(.*?)</section>',
                        page, re.DOTALL)[1]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", item)).strip()
            for item in re.findall(r"<li>(.*?)</li>", section, re.DOTALL)]


def test_a_risks_page_lists_each_change_with_its_cause_newest_first(team, owner, client):
    first = scan_into(client, team.owner_h, team.id, WEEK_1, reported_on="2026-03-06")
    vendor = next(e for e in register_of(client, team.owner_h, team.id)
                  if e["category"] == "vendor")
    scan_into(client, team.editor_h, team.id, WEEK_2, reported_on="2026-03-13")
    client.patch(f"/api/v1/projects/{team.id}/risks/{vendor['id']}", headers=team.owner_h,
                 json={"status": "mitigating", "likelihood": 3, "impact": 4})
    finding = next(f for f in first["data"] if f["category"] == "vendor")
    # The second report's finding is in the entry too: a correction takes only this one out.
    client.patch(f"/api/v1/scans/{first['scan_id']}/findings/{finding['id']}",
                 json={"category": "none"}, headers=team.editor_h)

    lines = history_of(owner.page(f"/app/projects/{team.id}/risks/{vendor['id']}"))
    assert len(lines) == 4
    corrected, edited, stated, opened = lines
    assert "Changed by a correction of a finding" in corrected
    assert team.editor["email"] in corrected and "findings 2 → 1" in corrected
    assert "Changed by hand" in edited and team.owner["email"] in edited
    assert "status open → mitigating" in edited and "likelihood none → 3" in edited
    assert "Stated again by a report" in stated and "the report" in stated
    assert "Opened by a report" in opened and team.owner["email"] in opened
    # Every change the API records is said (issue #85 item 3): the restatement moved the
    # last-seen date and counted a finding, and it says so.
    assert "last seen 2026-03-06 → 2026-03-13" in stated and "findings 1 → 2" in stated


def test_a_change_made_by_a_batch_job_names_the_job(team, owner, client, keyword_app):
    from service.db import RegisterEvent
    from service.extensions import db

    scan_into(client, team.owner_h, team.id, WEEK_1, reported_on="2026-03-06")
    vendor = next(e for e in register_of(client, team.owner_h, team.id)
                  if e["category"] == "vendor")
    with keyword_app.app_context():  # a job's report, as service/jobs/work.py records it
        event = db.session.scalars(db.select(RegisterEvent).where(
            RegisterEvent.entry_id == vendor["id"])).first()
        event.job_id = "0d7f6c2e-1111-4a4a-9b9b-000000000001"
        db.session.commit()
    [line] = history_of(owner.page(f"/app/projects/{team.id}/risks/{vendor['id']}"))
    assert "in a batch job" in line
    page = owner.page(f"/app/projects/{team.id}/risks/{vendor['id']}")
    assert 'href="/app/jobs/0d7f6c2e-1111-4a4a-9b9b-000000000001"' in page


def test_a_note_naming_a_hostile_report_title_is_text(team, owner, client):
    scan = scan_into(client, team.owner_h, team.id,
                     "<script>alert(1)</script>\nThe vendor may slip the delivery.",
                     reported_on="2026-03-06")
    (entry,) = register_of(client, team.owner_h, team.id)
    # Moved out, the report still is: the note names it (a deletion's names no title).
    assert client.patch(f"/api/v1/scans/{scan['scan_id']}", json={"project_id": None},
                        headers=team.owner_h).status_code == 200
    page = owner.page(f"/app/projects/{team.id}/risks/{entry['id']}")
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert "No report states it any more by a deletion" in history_of(page)[0]


def test_the_history_is_shown_to_members_only(team, keyword_app, client):
    scan_into(client, team.owner_h, team.id, WEEK_1, reported_on="2026-03-06")
    entry = register_of(client, team.owner_h, team.id)[0]
    outsider = Browser(keyword_app, team.outsider["email"])
    response = outsider.get(f"/app/projects/{team.id}/risks/{entry['id']}")
    assert response.status_code == 404
    assert 'id="history"' not in response.get_data(as_text=True)


def test_a_merged_risks_events_say_whose_they_are(team, owner, client):
    """Issue #85 item 3: after a merge the page read two identical "Opened by a report"
    lines; the merged risk's own events now say they are its."""
    scan_into(client, team.owner_h, team.id, WEEK_1, reported_on="2026-03-06")
    vendor = next(e for e in register_of(client, team.owner_h, team.id)
                  if e["category"] == "vendor")
    added = client.post(f"/api/v1/projects/{team.id}/risks", headers=team.owner_h,
                        json={"risk": "Customs may hold the servers.", "category": "vendor"})
    assert added.status_code == 201
    other = added.get_json()["id"]
    merged = client.post(f"/api/v1/projects/{team.id}/risks/{vendor['id']}/merge",
                         json={"from": [other]}, headers=team.owner_h)
    assert merged.status_code == 200, merged.get_json()
    lines = history_of(owner.page(f"/app/projects/{team.id}/risks/{vendor['id']}"))
    theirs = [line for line in lines if f"Risk {other} (merged into this one later)" in line]
    assert theirs and all("added by hand" in line or "Merged" in line for line in theirs)
    assert sum("Opened by a report" in line for line in lines) == 1
