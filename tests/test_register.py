"""The risk register: findings of a project's reports joined into distinct risks.

The findings come from the keyword stand-in (tests/scanning.py), so that each test chooses
its risks; they are matched by the real sentence encoder, which is what is tested here. The
weekly flow with the real model is the demo project of test_seed.py.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

import pytest
from marshmallow import fields
from openpyxl import load_workbook

from service.db import RegisterEntry, RegisterLink
from service.projects.register_export import to_csv
from service.projects.schemas import ChangesSchema, RiskPageSchema, RiskSchema, TrendSchema
from tests.helpers import MISSING, assert_problem
from tests.projects import Team, register_of, scan_into
from tests.register_reports import OTHER, WEEK_1, WEEK_2, same_404
from tests.scanning import count_rows


def test_a_reworded_risk_joins_its_entry_and_a_different_one_opens_a_new_entry(team, client):
    first = scan_into(client, team.owner_h, team.id, WEEK_1, reported_on="2026-11-02")
    entries = register_of(client, team.owner_h, team.id)
    assert sorted(e["category"] for e in entries) == ["budget", "vendor"]
    assert all(e["occurrences"] == 1 and e["status"] == "open" for e in entries)

    second = scan_into(client, team.editor_h, team.id, WEEK_2, reported_on="2026-11-09")
    entries = register_of(client, team.owner_h, team.id)
    assert len(entries) == 2, [e["risk"] for e in entries]
    for entry in entries:
        assert entry["occurrences"] == 2
        assert [f["scan_id"] for f in entry["findings"]] == [first["scan_id"],
                                                             second["scan_id"]]
        # The latest wording, and the dates of the first and last reports stating it.
        assert entry["risk"] in WEEK_2
        assert (entry["first_seen"], entry["last_seen"]) == ("2026-11-02", "2026-11-09")

    scan_into(client, team.owner_h, team.id, OTHER)
    entries = register_of(client, team.owner_h, team.id)
    assert len(entries) == 4
    assert sorted(e["occurrences"] for e in entries) == [1, 1, 2, 2]


def test_the_same_words_in_another_category_are_another_risk(team, client):
    scan_into(client, team.owner_h, team.id, "The vendor may slip.")  # vendor (keyword order)
    scan_into(client, team.owner_h, team.id, "The schedule may slip.")  # schedule
    assert sorted(e["category"] for e in register_of(client, team.owner_h, team.id)) == [
        "schedule", "vendor"]


def test_a_closed_risk_stated_again_is_reopened_and_audited(team, client):
    scan_into(client, team.owner_h, team.id, WEEK_1, reported_on="2026-11-02")
    entry = next(e for e in register_of(client, team.owner_h, team.id)
                 if e["category"] == "vendor")
    url = f"/api/v1/projects/{team.id}/risks/{entry['id']}"
    closed = client.patch(url, json={"status": "closed", "notes": "Licences arrived."},
                          headers=team.editor_h)
    assert closed.status_code == 200, closed.get_json()
    assert closed.get_json()["status"] == "closed"
    assert closed.get_json()["reopened"] is False

    # The same report again, or one of the same day, reopens nothing: only a later one.
    scan_into(client, team.owner_h, team.id, WEEK_2, reported_on="2026-11-02")
    assert client.get(url, headers=team.viewer_h).get_json()["status"] == "closed"
    scan_into(client, team.owner_h, team.id, WEEK_2, reported_on="2026-11-09")
    again = client.get(url, headers=team.viewer_h).get_json()
    assert again["status"] == "open"
    assert again["reopened"] is True
    assert again["notes"] == "Licences arrived."  # what people wrote stays
    events = client.get("/api/v1/admin/audit-events", query_string={"event": "risk_reopened"},
                        headers=team.admin_h).get_json()["items"]
    assert [e["target_id"] for e in events] == [str(entry["id"])]


def test_an_accepted_risk_also_reopens_but_an_open_one_just_gains_an_occurrence(team, client):
    scan_into(client, team.owner_h, team.id, WEEK_1, reported_on="2026-11-02")
    budget, vendor = sorted(register_of(client, team.owner_h, team.id),
                            key=lambda e: e["category"])
    client.patch(f"/api/v1/projects/{team.id}/risks/{budget['id']}",
                 json={"status": "accepted"}, headers=team.owner_h)
    client.patch(f"/api/v1/projects/{team.id}/risks/{vendor['id']}",
                 json={"status": "mitigating"}, headers=team.owner_h)
    scan_into(client, team.owner_h, team.id, WEEK_2, reported_on="2026-11-09")
    budget, vendor = sorted(register_of(client, team.owner_h, team.id),
                            key=lambda e: e["category"])
    assert (budget["status"], budget["reopened"]) == ("open", True)
    assert (vendor["status"], vendor["reopened"]) == ("mitigating", False)
    assert vendor["occurrences"] == 2


def test_deleting_a_scan_takes_its_findings_out_and_empty_entries_are_withdrawn(
        team, client, keyword_app):
    first = scan_into(client, team.owner_h, team.id, WEEK_1, reported_on="2026-11-02")
    second = scan_into(client, team.owner_h, team.id, WEEK_2 + " " + OTHER,
                       reported_on="2026-11-09")
    assert len(register_of(client, team.owner_h, team.id)) == 4

    def total():
        return client.get(f"/api/v1/projects/{team.id}/risks",
                          headers=team.owner_h).get_json()["total"]

    assert total() == 4
    assert client.delete(f"/api/v1/scans/{second['scan_id']}",
                         headers=team.owner_h).status_code == 204
    entries = register_of(client, team.owner_h, team.id)
    assert len(entries) == 2 == total()  # the page kept by version moved with it
    for entry in entries:  # back to the first report's wording and dates
        assert entry["occurrences"] == 1
        assert entry["risk"] in WEEK_1
        assert entry["last_seen"] == first["reported_on"] == "2026-11-02"
        assert [f["scan_id"] for f in entry["findings"]] == [first["scan_id"]]

    assert client.delete(f"/api/v1/scans/{first['scan_id']}",
                         headers=team.owner_h).status_code == 204
    assert register_of(client, team.owner_h, team.id) == []
    assert total() == 0
    assert count_rows(keyword_app, RegisterLink) == 0
    # Withdrawn, not gone: each still answers at its URL, stated by no report, and its
    # history says why.
    for entry in entries:
        url = f"/api/v1/projects/{team.id}/risks/{entry['id']}"
        kept = client.get(url, headers=team.viewer_h).get_json()
        assert (kept["id"], kept["occurrences"], kept["findings"]) == (entry["id"], 0, [])
        latest = client.get(f"{url}/history", headers=team.viewer_h).get_json()["items"][0]
        assert (latest["kind"], latest["cause"]) == ("unstated", "deletion")
        assert "was deleted" in latest["note"]


def test_correcting_a_finding_to_none_takes_it_out_and_back_brings_it_back(team, client):
    scan = scan_into(client, team.owner_h, team.id, WEEK_1)
    finding = next(f for f in scan["data"] if f["category"] == "vendor")
    url = f"/api/v1/scans/{scan['scan_id']}/findings/{finding['id']}"

    assert client.patch(url, json={"category": "none"}, headers=team.editor_h).status_code == 200
    assert [e["category"] for e in register_of(client, team.owner_h, team.id)] == ["budget"]

    assert client.patch(url, json={"category": "legal"},
                        headers=team.owner_h).status_code == 200
    assert sorted(e["category"] for e in register_of(client, team.owner_h, team.id)) == [
        "budget", "legal"]


def test_a_corrected_finding_moves_to_the_entry_of_its_new_category(team, client):
    scan_into(client, team.owner_h, team.id, "The budget for external testers may run out.")
    scan = scan_into(client, team.owner_h, team.id,
                     "The vendor may run out of budget for external testers.")
    # The stand-in calls it budget (its first keyword): it joins the budget entry.
    entries = register_of(client, team.owner_h, team.id)
    assert [(e["category"], e["occurrences"]) for e in entries] == [("budget", 2)]
    finding = scan["data"][0]
    client.patch(f"/api/v1/scans/{scan['scan_id']}/findings/{finding['id']}",
                 json={"category": "vendor"}, headers=team.owner_h)
    entries = sorted(register_of(client, team.owner_h, team.id), key=lambda e: e["category"])
    assert [(e["category"], e["occurrences"]) for e in entries] == [("budget", 1), ("vendor", 1)]


def test_an_entrys_corrected_category_is_the_one_new_findings_match(team, client):
    scan_into(client, team.owner_h, team.id, "The budget for the data centre move may slip.")
    (entry,) = register_of(client, team.owner_h, team.id)
    assert entry["category"] == "budget"
    client.patch(f"/api/v1/projects/{team.id}/risks/{entry['id']}",
                 json={"category": "schedule"}, headers=team.owner_h)
    # Stated again, and labelled schedule this time: it joins the corrected entry.
    scan_into(client, team.owner_h, team.id, "The data centre move may slip.")
    (entry,) = register_of(client, team.owner_h, team.id)
    assert (entry["category"], entry["occurrences"]) == ("schedule", 2)


def test_moving_a_scan_in_and_out_of_a_project(team, client):
    free = client.post("/api/v1/scans", json={"text": WEEK_1}, headers=team.owner_h).get_json()
    assert free["project_id"] is None
    assert register_of(client, team.owner_h, team.id) == []

    moved = client.patch(f"/api/v1/scans/{free['scan_id']}", json={"project_id": team.id},
                         headers=team.owner_h)
    assert moved.status_code == 200, moved.get_json()
    assert moved.get_json()["project_id"] == team.id
    assert len(register_of(client, team.owner_h, team.id)) == 2

    out = client.patch(f"/api/v1/scans/{free['scan_id']}", json={"project_id": None},
                       headers=team.owner_h)
    assert out.status_code == 200
    assert out.get_json()["project_id"] is None
    assert register_of(client, team.owner_h, team.id) == []


def test_changes_between_two_reports(team, client):
    first = scan_into(client, team.owner_h, team.id, WEEK_1)
    # Next week: the vendor risk again, the budget one gone, a new one.
    second = scan_into(client, team.owner_h, team.id,
                       "The licences from the vendor are still not delivered and could miss "
                       "the cut-over. The password vault has no second administrator.")
    changes = client.get(f"/api/v1/projects/{team.id}/changes", headers=team.viewer_h)
    assert changes.status_code == 200, changes.get_json()
    body = changes.get_json()
    assert (body["from_scan"], body["to_scan"]) == (first["scan_id"], second["scan_id"])
    assert [e["category"] for e in body["new"]] == ["security"]
    assert [e["category"] for e in body["persisting"]] == ["vendor"]
    assert [e["category"] for e in body["gone"]] == ["budget"]

    backwards = client.get(f"/api/v1/projects/{team.id}/changes", headers=team.viewer_h,
                           query_string={"from_scan": second["scan_id"],
                                         "to_scan": first["scan_id"]}).get_json()
    assert [e["category"] for e in backwards["new"]] == ["budget"]
    assert [e["category"] for e in backwards["gone"]] == ["security"]
    only_first = client.get(f"/api/v1/projects/{team.id}/changes", headers=team.viewer_h,
                            query_string={"to_scan": first["scan_id"]}).get_json()
    assert only_first["from_scan"] is None
    assert sorted(e["category"] for e in only_first["new"]) == ["budget", "vendor"]


def test_changes_refuse_a_scan_of_another_project(team, client):
    """The same 404 as for a scan that does not exist: the project's changes tell nothing
    of a scan outside it."""
    other = client.post("/api/v1/scans", json={"text": WEEK_1}, headers=team.owner_h).get_json()
    url = f"/api/v1/projects/{team.id}/changes"
    for name in ("to_scan", "from_scan"):
        same_404(client.get(url, headers=team.owner_h,
                            query_string={name: other["scan_id"]}),
                 client.get(url, headers=team.owner_h, query_string={name: MISSING}))


def test_an_empty_project_has_no_changes_and_no_trend(team, client):
    body = client.get(f"/api/v1/projects/{team.id}/changes", headers=team.owner_h).get_json()
    assert body == {"from_scan": None, "to_scan": None, "new": [], "persisting": [], "gone": [],
                    "kept_out": 0, "suggested": {}}
    trend = client.get(f"/api/v1/projects/{team.id}/trend", headers=team.owner_h).get_json()
    assert trend == {"weeks": [], "scans": []}


def test_the_trend_counts_open_risks_per_week_and_what_each_report_states(keyword_app, client):
    import time_machine

    # Weeks pass: the team works through an API key, which outlives access tokens.
    with time_machine.travel("2026-11-02 09:00Z", tick=False) as clock:
        team = Team(keyword_app, client)
        key = client.post("/api/v1/auth/api-keys", headers=team.owner_h, json={
            "name": "weekly", "scopes": ["scans:write", "projects:read", "projects:write"]})
        headers = {"Authorization": f"Bearer {key.get_json()['key']}"}
        first = scan_into(client, headers, team.id, WEEK_1)
        clock.move_to("2026-11-09 09:00Z")
        second = scan_into(client, headers, team.id, WEEK_2 + " " + OTHER)
        vendor = next(e for e in register_of(client, headers, team.id)
                      if e["category"] == "vendor" and e["occurrences"] == 2)
        clock.move_to("2026-11-17 09:00Z")
        client.patch(f"/api/v1/projects/{team.id}/risks/{vendor['id']}",
                     json={"status": "closed"}, headers=headers)
        clock.move_to("2026-11-25 09:00Z")
        trend = client.get(f"/api/v1/projects/{team.id}/trend", headers=headers).get_json()
    # Up to the week of the register's latest news (the closing, W47), not to today's (W48):
    # nothing is known of the weeks after (issue #85 item 5).
    assert [w["week"] for w in trend["weeks"]] == ["2026-W45", "2026-W46", "2026-W47"]
    assert [w["open"] for w in trend["weeks"]] == [
        {"budget": 1, "vendor": 1},
        {"budget": 2, "vendor": 2},
        # Closed on the Tuesday of W47, at the report of 9 November: it counts from that
        # report, not the click, so a back-filled project's closures fall in their weeks.
        {"budget": 2, "vendor": 1},
    ]
    assert [(s["scan_id"], s["stated"]) for s in trend["scans"]] == [
        (first["scan_id"], {"budget": 1, "vendor": 1}),
        (second["scan_id"], {"budget": 2, "vendor": 2}),
    ]


def test_the_list_filters_sorts_and_pages(team, client):
    scan_into(client, team.owner_h, team.id, WEEK_1)
    scan_into(client, team.owner_h, team.id, WEEK_2 + " " + OTHER)
    entries = register_of(client, team.owner_h, team.id)
    target = next(e for e in entries if e["category"] == "vendor" and e["occurrences"] == 2)
    client.patch(f"/api/v1/projects/{team.id}/risks/{target['id']}",
                 json={"owner_id": team.editor["id"], "status": "mitigating",
                       "due_date": "2026-12-15", "notes": "Chasing 100% of the licences."},
                 headers=team.owner_h)
    def ids(**args):
        return [e["id"] for e in register_of(client, team.owner_h, team.id, **args)]

    assert ids(status="mitigating") == [target["id"]]
    assert ids(owner_id=team.editor["id"]) == [target["id"]]
    assert ids(q="100%") == [target["id"]]  # notes too; % is a character, not a wildcard
    assert ids(q="%") == [target["id"]]
    assert len(ids(category="budget")) == 2
    by_occurrences = register_of(client, team.owner_h, team.id, sort="-occurrences")
    assert [e["occurrences"] for e in by_occurrences] == [2, 2, 1, 1]
    page = client.get(f"/api/v1/projects/{team.id}/risks",
                      query_string={"per_page": 3, "page": 2}, headers=team.owner_h).get_json()
    assert (page["total"], len(page["items"]), page["page"]) == (4, 1, 2)
    for bad in ({"sort": "risk; drop table"}, {"status": "done"}, {"category": "none"},
                {"per_page": 0}, {"unknown": 1}):
        response = client.get(f"/api/v1/projects/{team.id}/risks", query_string=bad,
                              headers=team.owner_h)
        assert list(assert_problem(response, 422, *bad)["errors"]) == list(bad)


def test_the_prepared_json_is_what_the_schema_would_write(team, client, keyword_app):
    """queries.py writes the register's JSON by hand (speed); the schema documents it."""
    from service.extensions import db
    from service.projects.schemas import RiskSchema

    scan_into(client, team.owner_h, team.id, WEEK_1)
    (entry, _) = register_of(client, team.owner_h, team.id)
    client.patch(f"/api/v1/projects/{team.id}/risks/{entry['id']}",
                 json={"due_date": "2027-01-31", "owner_id": team.owner["id"]},
                 headers=team.owner_h)
    served = client.get(f"/api/v1/projects/{team.id}/risks/{entry['id']}",
                        headers=team.owner_h).get_json()
    with keyword_app.app_context():
        row = db.session.get(RegisterEntry, entry["id"])
        row.findings = [{"scan_id": link.scan_id, "finding_id": link.finding_id,
                         "joined_by": link.joined_by, "alike": link.alike}
                        for link in row.links]
        row.says_closed_in = None  # computed from its findings: none of them says closed
        assert RiskSchema().dump(row) == served
        db.session.rollback()


def _same_fields(schema, value) -> None:
    """``value`` has the schema's fields and no others, nested ones too."""
    assert list(value) == list(schema.fields), type(schema).__name__
    for name, field in schema.fields.items():
        inner = field.inner if isinstance(field, fields.List) else field
        if isinstance(inner, fields.Nested):
            for item in value[name] if isinstance(field, fields.List) else [value[name]]:
                _same_fields(inner.schema, item)


def assert_as_its_schema_writes(schema, response) -> None:
    """A hand-built (``Written``) answer is what its schema would write: the same fields in
    the schema's order, each of the field's type and spelling (loaded through the schema and
    dumped again, it reads the same, byte for byte: 0 is not false)."""
    assert response.status_code == 200, response.get_json()
    served = response.get_json()
    _same_fields(schema, served)
    assert json.dumps(schema.dump(schema.load(served))) == json.dumps(served)


def test_every_hand_built_answer_of_the_register_is_what_its_schema_writes(team, client):
    first = scan_into(client, team.owner_h, team.id, WEEK_1)
    second = scan_into(client, team.editor_h, team.id, OTHER)
    entry = register_of(client, team.owner_h, team.id)[0]
    url = f"/api/v1/projects/{team.id}"
    changed = client.patch(f"{url}/risks/{entry['id']}", headers=team.owner_h,
                           json={"due_date": "2027-01-31", "owner_id": team.editor["id"],
                                 "notes": "Escalated.", "status": "closed"})
    assert_as_its_schema_writes(RiskSchema(), changed)
    scan_into(client, team.owner_h, team.id, WEEK_2)  # reopens it
    assert_as_its_schema_writes(RiskSchema(), client.get(f"{url}/risks/{entry['id']}",
                                                         headers=team.viewer_h))
    page = client.get(f"{url}/risks", query_string={"per_page": 3}, headers=team.viewer_h)
    assert_as_its_schema_writes(RiskPageSchema(), page)
    assert page.get_json()["total"] == 4
    for args in ({}, {"from_scan": first["scan_id"], "to_scan": second["scan_id"]}):
        changes = client.get(f"{url}/changes", query_string=args, headers=team.viewer_h)
        assert_as_its_schema_writes(ChangesSchema(), changes)
    assert changes.get_json()["gone"] and changes.get_json()["new"]
    trend = client.get(f"{url}/trend", headers=team.viewer_h)
    assert_as_its_schema_writes(TrendSchema(), trend)
    assert len(trend.get_json()["scans"]) == 3 and trend.get_json()["weeks"]


def test_patching_a_risk_checks_every_field_and_audits_the_change(team, client):
    scan_into(client, team.owner_h, team.id, WEEK_1)
    entry = register_of(client, team.owner_h, team.id)[0]
    url = f"/api/v1/projects/{team.id}/risks/{entry['id']}"
    for bad in ({"status": "done"}, {"category": "none"}, {"due_date": "tomorrow"},
                {"due_date": "0001-01-01"}, {"notes": "x" * 5001}, {"owner_id": 7},
                {"risk": "rewritten"}, {"owner_id": team.outsider["id"]}):
        response = client.patch(url, json=bad, headers=team.owner_h)
        assert list(assert_problem(response, 422, *bad)["errors"]) == list(bad)
    assert assert_problem(client.patch(url, json={"status": "closed"}, headers=team.viewer_h),
                          403)["detail"] == ("Your role in this project is viewer: it may not "
                                             "change it (that takes editor).")
    same_404(client.patch(url, json={"status": "closed"}, headers=team.outsider_h),
             client.patch(f"/api/v1/projects/{MISSING}/risks/{entry['id']}",
                          json={"status": "closed"}, headers=team.outsider_h))
    assert client.get(url, headers=team.owner_h).get_json() == {**entry}

    changed = client.patch(url, json={"owner_id": team.viewer["id"], "status": "mitigating"},
                           headers=team.editor_h)
    assert changed.status_code == 200
    events = client.get("/api/v1/admin/audit-events", query_string={"event": "risk_updated"},
                        headers=team.admin_h).get_json()["items"]
    assert events[0]["actor_id"] == team.editor["id"]
    assert events[0]["details"]["changes"] == {
        "owner_id": {"from": None, "to": team.viewer["id"]},
        "status": {"from": "open", "to": "mitigating"}}


@pytest.mark.parametrize("risk_id", ["%C2%B3", "%D9%A3", "1e3", "0x1", "-1", "9" * 19])
def test_a_risk_id_that_is_no_plain_number_is_404_not_a_server_error(team, client, risk_id):
    """"³" and "٣" are digits to str.isdigit but not to int(): schemathesis sent one."""
    scan_into(client, team.owner_h, team.id, WEEK_1)
    url = f"/api/v1/projects/{team.id}/risks/{risk_id}"
    missing = f"/api/v1/projects/{team.id}/risks/999999"
    same_404(client.get(url, headers=team.owner_h), client.get(missing, headers=team.owner_h))
    same_404(client.patch(url, json={"status": "closed"}, headers=team.owner_h),
             client.patch(missing, json={"status": "closed"}, headers=team.owner_h))


def test_another_projects_risk_is_the_404_of_a_missing_one(team, client):
    """A risk id is a number: one of another project, through this project's path, is the
    same 404 as one that does not exist, and stays as it was."""
    other = client.post("/api/v1/projects", json={"name": "Other"}, headers=team.owner_h)
    other_id = other.get_json()["id"]
    scan_into(client, team.owner_h, other_id, WEEK_1)
    theirs = register_of(client, team.owner_h, other_id)[0]
    url, missing = (f"/api/v1/projects/{team.id}/risks/{theirs['id']}",
                    f"/api/v1/projects/{team.id}/risks/999999")
    same_404(client.get(url, headers=team.owner_h), client.get(missing, headers=team.owner_h))
    same_404(client.patch(url, json={"notes": "mine"}, headers=team.owner_h),
             client.patch(missing, json={"notes": "mine"}, headers=team.owner_h))
    assert register_of(client, team.owner_h, other_id)[0] == theirs


def _export(client, team, fmt, **args):
    response = client.get(f"/api/v1/projects/{team.id}/risks/export",
                          query_string={"format": fmt, **args}, headers=team.viewer_h)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def test_the_csv_export_is_the_register_as_a_sheet(team, client):
    scan_into(client, team.owner_h, team.id, WEEK_1)
    scan_into(client, team.owner_h, team.id, WEEK_2)
    entries = sorted(register_of(client, team.owner_h, team.id), key=lambda e: e["id"])
    client.patch(f"/api/v1/projects/{team.id}/risks/{entries[0]['id']}",
                 json={"owner_id": team.editor["id"], "due_date": "2026-12-15",
                       "notes": "=HYPERLINK(\"http://evil\")", "likelihood": 4, "impact": 5},
                 headers=team.owner_h)
    response = _export(client, team, "csv")
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"  # the charset once
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="Billing-migration-risks.csv"')
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0] == ["id", "risk", "category", "status", "likelihood", "impact", "score",
                       "band", "owner", "due date", "first seen", "last seen", "occurrences",
                       "notes"]
    assert [int(row[0]) for row in rows[1:]] == [e["id"] for e in entries]
    first, unrated = rows[1], rows[2]
    assert first[1] == entries[0]["risk"] and first[2] == entries[0]["category"]
    assert first[4:8] == ["4", "5", "20", "critical"]
    assert unrated[4:8] == ["", "", "", ""]
    assert first[8] == team.editor["email"] and first[9] == "2026-12-15"
    assert first[12] == "2"
    assert first[13] == "'=HYPERLINK(\"http://evil\")"  # never a formula
    assert len(_export(client, team, "csv", category="budget").get_data(
        as_text=True).strip().splitlines()) == 2


def test_the_xlsx_export_has_a_header_widths_a_filter_and_no_formulas(team, client):
    scan_into(client, team.owner_h, team.id, WEEK_1)
    entry = register_of(client, team.owner_h, team.id)[0]
    client.patch(f"/api/v1/projects/{team.id}/risks/{entry['id']}",
                 json={"notes": "=1+1", "likelihood": 2, "impact": 3}, headers=team.owner_h)
    response = _export(client, team, "xlsx")
    assert response.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    assert [cell.value for cell in sheet[1]] == ["id", "risk", "category", "status",
                                                 "likelihood", "impact", "score", "band",
                                                 "owner", "due date", "first seen", "last seen",
                                                 "occurrences", "notes"]
    assert sheet.max_row == 3
    assert sheet.auto_filter.ref == "A1:N3"
    assert sheet.column_dimensions["B"].width > 40
    cells = {row[0].value: row for row in sheet.iter_rows(min_row=2)}
    # numbers a spreadsheet sorts and sums, and the band in words
    assert [cell.value for cell in cells[entry["id"]][4:8]] == [2, 3, 6, "medium"]
    assert [cell.data_type for cell in cells[entry["id"]][4:7]] == ["n", "n", "n"]
    notes = cells[entry["id"]][13]
    assert notes.value == "=1+1" and notes.data_type == "s"  # text, not a formula


def test_a_cell_starting_with_any_control_character_is_never_a_formula():
    """LF, VT and NUL as much as tab and CR (docs/register.md: any control character)."""
    controls = [chr(code) for code in (*range(32), *range(127, 160))]
    row = {"id": 1, "risk": "", "category": "budget", "status": "open", "likelihood": None,
           "impact": None, "owner_email": None,
           "due_date": None, "first_seen": datetime(2026, 1, 5), "last_seen":
           datetime(2026, 1, 5), "occurrences": 1, "notes": ""}
    rows = [{**row, "id": index, "risk": f"{control}=cmd|' /C calc'!A0"}
            for index, control in enumerate(controls)]
    cells = list(csv.reader(io.StringIO(to_csv(rows).decode("utf-8").lstrip("\ufeff"),
                                        newline="")))[1:]
    assert [cell[1] for cell in cells] == [f"'{control}=cmd|' /C calc'!A0"
                                           for control in controls]


# (name, the ASCII filename, the UTF-8 filename* or None)
EXPORT_NAMES = [
    ("Billing migration", "Billing-migration", None),
    ("日本", "project", "%E6%97%A5%E6%9C%AC"),
    ("Проект Ы", "project", "%D0%9F%D1%80%D0%BE%D0%B5%D0%BA%D1%82-%D0%AB"),
    ("Café 🚀", "Cafe", "Caf%C3%A9--"),
]


@pytest.mark.parametrize("name, plain, encoded", EXPORT_NAMES)
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_a_project_named_in_any_script_exports_under_an_encoded_file_name(team, client, name,
                                                                         plain, encoded, fmt):
    """Header values are Latin-1: 日本 in filename= was a 500 from waitress."""
    renamed = client.patch(f"/api/v1/projects/{team.id}", json={"name": name},
                           headers=team.owner_h)
    assert renamed.status_code == 200, renamed.get_json()
    header = _export(client, team, fmt).headers["Content-Disposition"]
    expected = f'attachment; filename="{plain}-risks.{fmt}"'
    if encoded is not None:
        expected += f"; filename*=UTF-8''{encoded}-risks.{fmt}"
    assert header == expected
    assert header.encode("ascii")


def test_a_control_character_in_the_name_leaves_the_sheet_readable(team, client):
    """A control character in the sheet's name made a workbook Excel called corrupt."""
    client.patch(f"/api/v1/projects/{team.id}", headers=team.owner_h,
                 json={"name": "Q1\x07 plan\x1b[31m: [draft]/*?\\ \x00end"})
    scan_into(client, team.owner_h, team.id, WEEK_1)
    book = load_workbook(io.BytesIO(_export(client, team, "xlsx").get_data()))
    assert book.sheetnames == ["Q1  plan  31m   draft       end"]
    assert book.active.max_row == 3


@pytest.mark.parametrize("args", [{"format": "pdf"}, {"format": "csv", "status": "x"},
                                  {"format": "csv", "extra": "1"}])
def test_a_bad_export_request_is_422(team, client, args):
    response = client.get(f"/api/v1/projects/{team.id}/risks/export", query_string=args,
                          headers=team.owner_h)
    field = "extra" if "extra" in args else "status" if "status" in args else "format"
    assert list(assert_problem(response, 422, field)["errors"]) == [field]


def _snapshot_agrees_with_the_database(app, project_id):
    """The process's snapshot of the project's directions, if it is current, holds exactly
    the entries the database holds, in their categories, pointing where their vectors do."""
    import numpy as np
    from sqlalchemy import select

    from service.db import Project, RegisterVector
    from service.extensions import db
    from service.projects.register import direction_snapshots

    with app.app_context():
        version = db.session.scalar(select(Project.register_version)
                                    .where(Project.id == project_id))
        snapshot = direction_snapshots.current(db.session(), project_id, version + 1)
        rows = db.session.execute(
            select(RegisterEntry.id, RegisterEntry.category, RegisterVector.total)
            .join(RegisterVector, RegisterVector.entry_id == RegisterEntry.id)
            .where(RegisterEntry.project_id == project_id)).all()
        db.session.remove()
    if snapshot is None:
        return False
    for category, ids in snapshot.ids.items():
        stored = {row.id: np.frombuffer(row.total, dtype="<f4") for row in rows
                  if row.category == category}
        assert sorted(ids) == sorted(stored), category
        for index, entry_id in enumerate(ids):
            direction = stored[entry_id] / np.linalg.norm(stored[entry_id])
            assert np.allclose(snapshot.matrices[category][index], direction, atol=1e-6)
    return True


def test_the_directions_kept_between_scans_never_disagree_with_the_database(
        team, client, keyword_app):
    """Every change to a register either keeps this process's snapshot exact or leaves it
    stale (never used); a rolled-back scan leaves nothing of itself in it."""

    kept = []
    first = scan_into(client, team.owner_h, team.id, WEEK_1)
    kept.append(_snapshot_agrees_with_the_database(keyword_app, team.id))
    second = scan_into(client, team.owner_h, team.id, WEEK_2 + " " + OTHER)
    kept.append(_snapshot_agrees_with_the_database(keyword_app, team.id))
    assert kept == [True, True]  # scans keep it

    client.delete(f"/api/v1/scans/{second['scan_id']}", headers=team.owner_h)
    assert _snapshot_agrees_with_the_database(keyword_app, team.id)  # so does a deletion
    finding = first["data"][0]
    client.patch(f"/api/v1/scans/{first['scan_id']}/findings/{finding['id']}",
                 json={"category": "legal"}, headers=team.owner_h)
    assert _snapshot_agrees_with_the_database(keyword_app, team.id)  # and a correction
    entry = register_of(client, team.owner_h, team.id)[0]
    client.patch(f"/api/v1/projects/{team.id}/risks/{entry['id']}", json={"category": "scope"},
                 headers=team.owner_h)
    # An entry's new category leaves the snapshot stale: the next scan reads the database.
    assert not _snapshot_agrees_with_the_database(keyword_app, team.id)
    again = scan_into(client, team.owner_h, team.id, WEEK_2)
    assert _snapshot_agrees_with_the_database(keyword_app, team.id)

    # A scan whose commit fails: its entries never reach the snapshot.
    from service.scans import create

    def broken(*_args, **_kwargs):
        raise OSError("disk full")

    before = register_of(client, team.owner_h, team.id)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(create, "store_original", broken)
        failed = client.post("/api/v1/scans", headers=team.owner_h,
                             content_type="multipart/form-data",
                             data={"file": (io.BytesIO(OTHER.encode()), "other.txt"),
                                   "project_id": team.id})
    assert failed.status_code == 500
    assert register_of(client, team.owner_h, team.id) == before
    assert _snapshot_agrees_with_the_database(keyword_app, team.id)
    # And the same text scanned for real opens its entries (no phantom joined).
    scan_into(client, team.owner_h, team.id, OTHER)
    assert len(register_of(client, team.owner_h, team.id)) == len(before) + 2
    assert again["scan_id"]

    # Another process changing the register makes this one's snapshot stale, not wrong.
    with keyword_app.app_context():
        from sqlalchemy import update

        from service.db import Project
        from service.extensions import db

        db.session.execute(update(Project).where(Project.id == team.id)
                           .values(register_version=Project.register_version + 1))
        db.session.commit()
    assert not _snapshot_agrees_with_the_database(keyword_app, team.id)


def test_the_pages_kept_by_version_are_what_the_database_says_after_every_kind_of_change(
        team, client, keyword_app):
    """Pages of the register are kept by register_version: every change to what a page shows
    must move the version, or a listing would show the register as it was."""
    from service.projects.bounded_map import forget
    from tests.projects import add_member

    url = f"/api/v1/projects/{team.id}/risks"

    def listed():
        return [client.get(url, headers=team.owner_h, query_string=args).get_json()
                for args in ({}, {"status": "open"}, {"sort": "occurrences"})]

    def agrees(what):
        kept = listed()  # the second read of a version comes from the kept pages
        forget(keyword_app)
        assert kept == listed(), what

    scan = scan_into(client, team.owner_h, team.id, WEEK_1)
    listed()
    agrees("a scan")
    entry = register_of(client, team.owner_h, team.id)[0]
    risk = f"{url}/{entry['id']}"
    for change in ({"status": "mitigating"}, {"owner_id": team.editor["id"]},
                   {"notes": "Chasing."}, {"due_date": "2027-01-31"}, {"category": "scope"},
                   {"status": "closed"}):
        listed()
        assert client.patch(risk, json=change, headers=team.owner_h).status_code == 200
        agrees(change)
    listed()
    scan_into(client, team.owner_h, team.id, WEEK_2)  # reopens the closed one
    agrees("a reopening scan")
    listed()
    finding = scan["data"][0]
    client.patch(f"/api/v1/scans/{scan['scan_id']}/findings/{finding['id']}",
                 json={"category": "none"}, headers=team.owner_h)
    agrees("a correction")
    listed()
    client.patch(risk, json={"owner_id": team.editor["id"]}, headers=team.owner_h)
    client.delete(f"/api/v1/projects/{team.id}/members/{team.editor['id']}",
                  headers=team.owner_h)
    agrees("a member who owned a risk removed")
    add_member(client, team.owner_h, team.id, team.outsider["email"], "editor")
    client.patch(risk, json={"owner_id": team.outsider["id"]}, headers=team.owner_h)
    listed()
    assert client.delete(f"/api/v1/users/{team.outsider['id']}",
                         headers=team.admin_h).status_code == 204
    agrees("an owner's account deleted")
    listed()
    client.patch(f"/api/v1/scans/{scan['scan_id']}", json={"project_id": None},
                 headers=team.owner_h)
    agrees("a scan moved out")
    listed()
    client.delete(f"/api/v1/scans/{scan['scan_id']}", headers=team.owner_h)
    agrees("a scan deleted")


def test_a_reopen_is_audited_with_its_cause_and_the_wording_of_the_moment(team, client,
                                                                          keyword_app):
    """Issue #85 item 4: a correction that reopened an entry was audited as "A new report
    reopened a register entry", and the entry was named by its wording of today."""
    from service.console.audit_views import SENTENCES, links

    licences = "The vendor may not deliver the database licences before the cut-over."
    scan_into(client, team.owner_h, team.id, licences, reported_on="2026-11-02")
    [vendor] = register_of(client, team.owner_h, team.id)
    client.patch(f"/api/v1/projects/{team.id}/risks/{vendor['id']}",
                 json={"status": "closed"}, headers=team.editor_h)
    # Week 2 says it again, but the stand-in reads it `budget`; an editor corrects it.
    again = ("The budget review found the database licences from the vendor may miss the "
             "cut-over.")
    week_2 = scan_into(client, team.owner_h, team.id, again, reported_on="2026-11-09")
    [finding] = week_2["data"]
    corrected = client.patch(f"/api/v1/scans/{week_2['scan_id']}/findings/{finding['id']}",
                             json={"category": "vendor"}, headers=team.editor_h)
    assert corrected.status_code == 200, corrected.get_json()
    reopened = client.get(f"/api/v1/projects/{team.id}/risks/{vendor['id']}",
                          headers=team.viewer_h).get_json()
    assert reopened["status"] == "open" and reopened["occurrences"] == 2
    [event] = client.get("/api/v1/admin/audit-events", query_string={"event": "risk_reopened"},
                         headers=team.admin_h).get_json()["items"]
    assert event["details"]["cause"] == "correction"
    assert SENTENCES["risk_reopened"](event["details"]).startswith("A correction of a finding")
    # A later report changes the entry's wording: the event still names it as it was.
    scan_into(client, team.owner_h, team.id, "The vendor licences are late again.",
              reported_on="2026-11-16")
    [event] = client.get("/api/v1/admin/audit-events", query_string={"event": "risk_reopened"},
                         headers=team.admin_h).get_json()["items"]
    with keyword_app.test_request_context():
        named = links(event)[0][0]
    assert event["details"]["wording"] == again and again[:40] in named


def test_withdrawn_entries_are_counted_and_listed_apart(team, client, keyword_app):
    """Issue #85 item 3: entries withdrawn by corrections left the register with no word
    (12 became 10). They are listed with `withdrawn=true`, and the register page says how
    many, linked to that list."""
    from tests.console_browser import Browser

    scanned = scan_into(client, team.owner_h, team.id, WEEK_1)
    vendor = next(f for f in scanned["data"] if f["category"] == "vendor")
    client.patch(f"/api/v1/scans/{scanned['scan_id']}/findings/{vendor['id']}",
                 json={"category": "none"}, headers=team.editor_h)
    listed = register_of(client, team.owner_h, team.id)
    gone = register_of(client, team.owner_h, team.id, withdrawn="true")
    assert [e["category"] for e in listed] == ["budget"]
    assert [(e["category"], e["occurrences"]) for e in gone] == [("vendor", 0)]
    page = Browser(keyword_app, team.owner["email"]).page(f"/app/projects/{team.id}")
    assert 'withdrawn=true#register">1 withdrawn</a>' in page
