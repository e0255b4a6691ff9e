"""Merging register entries by hand: two entries of one risk become one that keeps every
finding, every wording and what people curated, its old ids redirecting to it; and the
weekly flow a merge mends (tests/curating.py has the reports).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import select

from service.db import Project, RegisterEntry, RegisterVector
from service.extensions import db
from service.projects.register import direction_snapshots
from tests.curating import (
    BADGES,
    HOSTING,
    LICENCES,
    TRAINING,
    UAT,
    VAULT,
    WEEKS,
    audited,
    by_wording,
    changes,
    merge,
    two_entries,
)
from tests.helpers import MISSING, RACE_TIMEOUT_S, api_key_headers, assert_problem, at_once
from tests.projects import register_of, scan_into
from tests.scanning import without_request_id


def test_a_restated_risk_stays_one_entry_across_three_weekly_reports(team, client):
    """The weekly flow through the API: restatements the matcher knows join their entry;
    the one it misses is merged by hand, which the changes show at once, and from then on
    the next restatement of either wording joins the merged entry: one entry per thread,
    and "persisting" is what both reports state."""
    week_1, week_2 = (scan_into(client, team.editor_h, team.id, text, reported_on=day)
                      for text, day in WEEKS[:2])
    entries = register_of(client, team.owner_h, team.id)
    assert len(entries) == 5  # four threads, the hosting one twice
    hosting_1, hosting_2 = by_wording(entries, HOSTING[0]), by_wording(entries, HOSTING[1])
    licences, uat, vault = (by_wording(entries, wording)
                            for wording in (LICENCES[1], UAT[1], VAULT[1]))
    assert [e["occurrences"] for e in (licences, uat, vault)] == [2, 2, 2]
    assert changes(client, team) == {
        "new": [hosting_2["id"]], "gone": [hosting_1["id"]],
        "persisting": sorted([licences["id"], uat["id"], vault["id"]])}

    merged = merge(client, team, hosting_1["id"], [hosting_2["id"]])
    assert merged.status_code == 200, merged.get_json()
    hosting = merged.get_json()
    assert (hosting["id"], hosting["occurrences"], hosting["risk"]) == (
        hosting_1["id"], 2, HOSTING[1])  # the latest wording
    assert (hosting["first_seen"], hosting["last_seen"]) == ("2026-03-06", "2026-03-13")
    assert [f["scan_id"] for f in hosting["findings"]] == [week_1["scan_id"],
                                                           week_2["scan_id"]]
    # The changes are recomputed from the merged register.
    assert changes(client, team) == {
        "new": [], "gone": [],
        "persisting": sorted([hosting["id"], licences["id"], uat["id"], vault["id"]])}

    week_3 = scan_into(client, team.editor_h, team.id, WEEKS[2][0], reported_on=WEEKS[2][1])
    entries = register_of(client, team.owner_h, team.id)
    assert len(entries) == 5  # one per thread
    hosting = next(e for e in entries if e["id"] == hosting["id"])
    assert (hosting["occurrences"], hosting["risk"], hosting["last_seen"]) == (
        3, HOSTING[2], "2026-03-20")
    assert next(e for e in entries if e["id"] == licences["id"])["occurrences"] == 3
    badges = by_wording(entries, BADGES[0])
    assert changes(client, team) == {
        "new": [badges["id"]], "gone": sorted([uat["id"], vault["id"]]),
        "persisting": sorted([hosting["id"], licences["id"]])}
    assert week_3["reported_on"] == "2026-03-20"

    # The trend counts from the merged state: the hosting risk once a week.
    trend = client.get(f"/api/v1/projects/{team.id}/trend", headers=team.viewer_h).get_json()
    assert [w["open"] for w in trend["weeks"][:3]] == [
        {"budget": 1, "schedule": 1, "security": 1, "vendor": 1},
        {"budget": 1, "schedule": 1, "security": 1, "vendor": 1},
        {"budget": 1, "schedule": 1, "security": 1, "vendor": 2}]
    assert [s["stated"] for s in trend["scans"]] == [
        {"budget": 1, "schedule": 1, "security": 1, "vendor": 1},
        {"budget": 1, "schedule": 1, "security": 1, "vendor": 1},
        {"budget": 1, "vendor": 2}]


def test_a_merge_keeps_every_finding_and_curated_field_by_its_rule(team, client):
    keep, other = two_entries(client, team)
    url = f"/api/v1/projects/{team.id}/risks"
    client.patch(f"{url}/{keep['id']}", headers=team.owner_h,
                 json={"status": "closed", "notes": "Covered by the Q2 budget.",
                       "likelihood": 2, "impact": 3})
    client.patch(f"{url}/{other['id']}", headers=team.owner_h,
                 json={"status": "mitigating", "owner_id": team.editor["id"],
                       "due_date": "2026-04-30", "notes": "Ask finance.",
                       "likelihood": 4, "impact": 4})
    merged = merge(client, team, keep["id"], [other["id"]])
    assert merged.status_code == 200, merged.get_json()
    entry = merged.get_json()
    # A settled entry stated by a report after it was settled is open again, as the
    # register would have it had the finding joined it when scanned: week 2's report is
    # dated before today's close, so it stays closed.
    assert (entry["status"], entry["reopened"]) == ("closed", False)
    # The most serious rating; owner and due date filled from the merged entry; notes both.
    assert (entry["likelihood"], entry["impact"], entry["score"]) == (4, 4, 16)
    assert (entry["owner_id"], entry["due_date"]) == (team.editor["id"], "2026-04-30")
    assert entry["notes"] == "Covered by the Q2 budget.\n\nAsk finance."
    assert entry["occurrences"] == 2 and len(entry["findings"]) == 2
    assert register_of(client, team.owner_h, team.id) == [entry]

    # The merged id answers 301 to the entry that holds it now; a write to it is a 409.
    gone = client.get(f"{url}/{other['id']}", headers=team.viewer_h)
    assert gone.status_code == 301
    assert gone.headers["Location"].endswith(f"{url}/{keep['id']}")
    assert_problem(client.patch(f"{url}/{other['id']}", json={"status": "open"},
                                headers=team.owner_h), 409)
    # Non-members learn nothing of it: the 404 of a missing project.
    foreign = client.get(f"{url}/{other['id']}", headers=team.outsider_h)
    missing = client.get(f"/api/v1/projects/{MISSING}/risks/{other['id']}",
                         headers=team.outsider_h)
    assert foreign.status_code == missing.status_code == 404
    assert without_request_id(foreign) == without_request_id(missing)


def test_merging_an_open_finding_into_a_risk_closed_before_its_report_reopens_it(team,
                                                                                  client):
    scan_into(client, team.editor_h, team.id, HOSTING[0], reported_on="2026-03-06")
    (keep,) = register_of(client, team.owner_h, team.id)
    client.patch(f"/api/v1/projects/{team.id}/risks/{keep['id']}", json={"status": "closed"},
                 headers=team.owner_h)
    today = datetime.now(UTC).date().isoformat()
    scan_into(client, team.editor_h, team.id, HOSTING[1], reported_on=today)
    other = by_wording(register_of(client, team.owner_h, team.id), HOSTING[1])
    entry = merge(client, team, keep["id"], [other["id"]]).get_json()
    assert (entry["status"], entry["reopened"]) == ("open", True)


def test_two_merges_of_the_same_entries_at_once_one_wins_the_others_409(team, client,
                                                                        keyword_app):
    keep, other = two_entries(client, team)
    responses = at_once(keyword_app, "POST",
                        f"/api/v1/projects/{team.id}/risks/{keep['id']}/merge",
                        parallel=3, headers=team.editor_h, json={"from": [other["id"]]})
    assert sorted(r.status_code for r in responses) == [200, 409, 409], [
        r.get_json() for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert_problem(response, 409)
    (entry,) = register_of(client, team.owner_h, team.id)
    assert entry["occurrences"] == 2
    assert len(audited(keyword_app, "risk_merged")) == 1


def test_two_merges_of_two_entries_into_each_other_at_once_one_wins(team, client,
                                                                    keyword_app):
    first, second = two_entries(client, team)
    # Bounds that only a deadlock reaches: the test fails on one instead of hanging.
    barrier = threading.Barrier(2, timeout=RACE_TIMEOUT_S)
    responses = {}

    def send(into, source):
        test_client = keyword_app.test_client()
        barrier.wait()
        responses[into] = merge(test_client, team, into, [source])

    threads = [threading.Thread(target=send, args=pair, daemon=True)
               for pair in ((first["id"], second["id"]), (second["id"], first["id"]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=RACE_TIMEOUT_S)
        assert not thread.is_alive(), f"a merge still running after {RACE_TIMEOUT_S} s"
    assert sorted(r.status_code for r in responses.values()) == [200, 409]
    (entry,) = register_of(client, team.owner_h, team.id)
    assert entry["occurrences"] == 2


def test_only_editors_and_owners_merge_split_or_add(team, client):
    keep, other = two_entries(client, team)
    finding = other["findings"][0]["finding_id"]
    url = f"/api/v1/projects/{team.id}/risks"
    calls = (("merge", lambda h, p=team.id: client.post(
                 f"/api/v1/projects/{p}/risks/{keep['id']}/merge",
                 json={"from": [other["id"]]}, headers=h)),
             ("split", lambda h, p=team.id: client.post(
                 f"/api/v1/projects/{p}/risks/{other['id']}/split",
                 json={"findings": [finding]}, headers=h)),
             ("add", lambda h, p=team.id: client.post(
                 f"/api/v1/projects/{p}/risks", json={"risk": "The vendor may fold.",
                                                      "category": "vendor"}, headers=h)))
    before = register_of(client, team.owner_h, team.id)
    read_only = api_key_headers(client, team.owner_h, "projects:read")
    for name, call in calls:
        assert_problem(call(team.viewer_h), 403)
        assert_problem(call(team.admin_h), 403)  # admins read, members change
        assert_problem(call(read_only), 403)  # a key needs projects:write
        foreign, missing = call(team.outsider_h), call(team.outsider_h, MISSING)
        assert_problem(foreign, 404)
        assert without_request_id(foreign) == without_request_id(missing), name
    assert register_of(client, team.owner_h, team.id) == before
    assert client.get(f"{url}/{keep['id']}", headers=team.viewer_h).status_code == 200


@pytest.mark.parametrize("body, why", [
    ({"from": []}, "empty"),
    ({}, "missing"),
    ({"from": "12"}, "not a list"),
    ({"from": ["12"]}, "a string id"),
    ({"from": [1.5]}, "not an integer"),
    ({"from": [True]}, "a boolean"),
    ({"from": [2 ** 70]}, "beyond any id"),
    ({"from": list(range(1, 102))}, "over the cap"),
    ({"from": [1], "into": 2}, "an unknown field"),
])
def test_a_malformed_merge_is_a_422_and_changes_nothing(team, client, body, why):
    keep, _other = two_entries(client, team)
    before = register_of(client, team.owner_h, team.id)
    response = client.post(f"/api/v1/projects/{team.id}/risks/{keep['id']}/merge", json=body,
                           headers=team.editor_h)
    assert_problem(response, 422)
    assert register_of(client, team.owner_h, team.id) == before, why


def test_merging_what_cannot_be_merged_is_refused_and_changes_nothing(team, client):
    keep, other = two_entries(client, team)
    scan_into(client, team.editor_h, team.id, "The vendor may slip the delivery.")
    vendor = by_wording(register_of(client, team.owner_h, team.id),
                        "The vendor may slip the delivery.")
    elsewhere = client.post("/api/v1/projects", json={"name": "Other"},
                            headers=team.owner_h).get_json()["id"]
    scan_into(client, team.owner_h, elsewhere, HOSTING[1])
    theirs = register_of(client, team.owner_h, elsewhere)[0]
    before = register_of(client, team.owner_h, team.id)
    cases = (([keep["id"]], 422, "itself"), ([other["id"], other["id"]], 422, "twice"),
             ([987654321], 422, "no such risk"), ([theirs["id"]], 422, "another project's"),
             ([vendor["id"]], 422, "another category"))
    bodies = {}
    for ids, status, why in cases:
        response = merge(client, team, keep["id"], ids)
        bodies[why] = assert_problem(response, status, "from")
    # Another project's risk reads exactly as one that does not exist.
    assert bodies["another project's"]["errors"]["from"] == [
        f"No such risk in this project: {theirs['id']}."]
    assert bodies["no such risk"]["errors"]["from"] == [
        "No such risk in this project: 987654321."]
    missing = merge(client, team, 987654321, [other["id"]])
    assert_problem(missing, 404)
    assert register_of(client, team.owner_h, team.id) == before
    assert register_of(client, team.owner_h, elsewhere) == [theirs]


def test_a_merged_id_still_leads_to_its_entry_once_no_report_states_it(team, client):
    keep, other = two_entries(client, team)
    merge(client, team, keep["id"], [other["id"]])
    for finding in register_of(client, team.owner_h, team.id)[0]["findings"]:
        client.delete(f"/api/v1/scans/{finding['scan_id']}", headers=team.owner_h)
    url = f"/api/v1/projects/{team.id}/risks"
    assert register_of(client, team.owner_h, team.id) == []  # withdrawn from the list
    moved = client.get(f"{url}/{other['id']}", headers=team.owner_h)
    assert moved.status_code == 301
    assert moved.headers["Location"].endswith(f"{url}/{keep['id']}")
    kept = client.get(f"{url}/{keep['id']}", headers=team.owner_h)
    assert (kept.status_code, kept.get_json()["occurrences"]) == (200, 0)


def test_a_merge_of_a_merged_entry_moves_its_redirect_along(team, client):
    first, second = two_entries(client, team)
    scan_into(client, team.editor_h, team.id, TRAINING, reported_on="2026-03-20")
    third = next(e for e in register_of(client, team.owner_h, team.id)
                 if e["id"] not in (first["id"], second["id"]))
    assert merge(client, team, second["id"], [first["id"]]).status_code == 200
    assert merge(client, team, third["id"], [second["id"]]).status_code == 200
    url = f"/api/v1/projects/{team.id}/risks"
    for old in (first["id"], second["id"]):
        response = client.get(f"{url}/{old}", headers=team.owner_h)
        assert response.status_code == 301
        assert response.headers["Location"].endswith(f"{url}/{third['id']}")
    assert_problem(merge(client, team, third["id"], [first["id"]]), 409, "from")


def test_merged_entries_keep_every_wording_in_the_directions_kept_between_scans(
        team, client, keyword_app):
    """A merge leaves this process's snapshot stale; the next scan reads the merged entry's
    wordings from the database, and the snapshot it keeps holds a row for each."""
    keep, other = two_entries(client, team)
    merge(client, team, keep["id"], [other["id"]])
    scan_into(client, team.editor_h, team.id, TRAINING)  # a budget risk: its entries read
    with keyword_app.app_context():
        version = db.session.scalar(select(Project.register_version)
                                    .where(Project.id == team.id))
        snapshot = direction_snapshots.current(db.session(), team.id, version + 1)
        stored = db.session.scalar(select(RegisterVector.total)
                                   .where(RegisterVector.entry_id == keep["id"]))
        category = db.session.get(RegisterEntry, keep["id"]).category
        db.session.remove()
    assert snapshot is not None
    rows = np.frombuffer(stored, dtype="<f4").reshape(-1, snapshot.dimensions)
    assert len(rows) == 2
    held = [index for index, key in enumerate(snapshot.ids[category]) if key == keep["id"]]
    assert len(held) == 2
    expected = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    assert np.allclose(snapshot.matrices[category][held], expected, atol=1e-6)


def test_a_new_entry_that_gets_a_merged_entrys_id_is_itself(team, client):
    """SQLite gives a deleted last row's id to the next row: a new entry holding an id once
    merged is read, changed and merged as itself, not redirected."""
    keep, other = two_entries(client, team)
    assert other["id"] > keep["id"]
    merge(client, team, keep["id"], [other["id"]])
    scan_into(client, team.editor_h, team.id, TRAINING)
    new = by_wording(register_of(client, team.owner_h, team.id), TRAINING)
    url = f"/api/v1/projects/{team.id}/risks/{new['id']}"
    assert client.get(url, headers=team.owner_h).get_json() == new
    assert client.patch(url, json={"notes": "Mine."}, headers=team.owner_h).status_code == 200
    merged = merge(client, team, keep["id"], [new["id"]])
    assert merged.status_code == 200, merged.get_json()
    assert merged.get_json()["occurrences"] == 3
    gone = client.get(url, headers=team.owner_h)
    assert gone.status_code == 301 and gone.headers["Location"].endswith(f"/{keep['id']}")
