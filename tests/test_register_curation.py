"""What a person does to the register by hand: merge entries the matcher kept apart, split
findings it joined wrongly, add a risk no report stated; and the weekly flow they mend.

Findings come from the keyword stand-in (tests/scanning.py), matched by the real sentence
encoder, as in tests/test_register.py: which restatements join is the encoder's answer,
measured for these sentences (cosines in the comments).
"""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime

import numpy as np
import pytest
from sqlalchemy import select

from service.extensions import db
from service.models import AuditEvent, Project, RegisterEntry, RegisterVector
from service.projects import directions
from tests.helpers import api_key_headers, assert_problem, at_once
from tests.projects import Team, register_of, scan_into
from tests.scanning import KeywordAnalyzer, without_request_id
from tests.webhook_receiver import Receiver

# Three weekly reports of one project: four threads, one new in week 3. The hosting risk is
# restated in other words each week: week 2's wording is 0.57 alike to week 1's (below the
# threshold, 0.62: a second entry), week 3's is 0.72 alike to week 2's and 0.31 to week 1's
# (0.58 to their mean: only an entry that keeps both wordings knows it).
HOSTING = ("Cloud hosting costs are running 25% above the budget estimate.",
           "Hosting spend is still well above the budget forecast this month.",
           "Our spending this month is still well above the budget forecast.")
LICENCES = ("The vendor may not deliver the database licences before the cut-over.",
            "The licences from the vendor are still not delivered and could miss the cut-over.",
            "The database licences have still not arrived from the vendor.")
UAT = ("User acceptance testing may slip two weeks because the test environment is not ready.",
       "The test environment is late, so acceptance testing could slip.")
VAULT = ("The password vault has no second administrator.",
         "Only one person can administer the password vault.")
BADGES = ("The vendor may not deliver the badge readers before the cut-over.",
          "The badge readers have still not arrived from the vendor.")
WEEKS = ((" ".join((HOSTING[0], LICENCES[0], UAT[0], VAULT[0])), "2026-03-06"),
         (" ".join((HOSTING[1], LICENCES[1], UAT[1], VAULT[1])), "2026-03-13"),
         (" ".join((HOSTING[2], LICENCES[2], BADGES[0])), "2026-03-20"))
TRAINING = "The budget for the training rooms was cut by the finance committee."
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
MISSING = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture
def hooks_team(make_app, monkeypatch, receiver):
    """A team whose project has a webhook on every event, to the receiver on loopback."""
    app = make_app(WEBHOOK_ALLOWED_NETWORKS=LOOPBACK)
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", KeywordAnalyzer())
    team = Team(app, app.test_client())
    team.app = app
    from service.models import WEBHOOK_EVENTS

    made = team.client.post(f"/api/v1/projects/{team.id}/webhooks", headers=team.owner_h,
                            json={"url": f"{receiver.url}/hook", "events": list(WEBHOOK_EVENTS)})
    assert made.status_code == 201, made.get_json()
    return team


def received(app, receiver) -> list[dict]:
    """The bodies the receiver got, once the engine has sent all it had."""
    assert app.extensions["riskscan.jobs"].later.wait_idle(30), "a delivery never settled"
    bodies = []
    while not receiver.nothing_more():
        bodies.append(json.loads(receiver.next().body))
    return bodies


def audited(app, event) -> list[AuditEvent]:
    with app.app_context():
        events = db.session.scalars(select(AuditEvent).where(AuditEvent.event == event)
                                    .order_by(AuditEvent.id)).all()
        db.session.remove()
        return events


def by_wording(entries, wording) -> dict:
    return next(e for e in entries if e["risk"] == wording)


def changes(client, team, **args) -> dict:
    response = client.get(f"/api/v1/projects/{team.id}/changes", headers=team.viewer_h,
                          query_string=args)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    return {kind: sorted(e["id"] for e in body[kind]) for kind in ("new", "persisting", "gone")}


def merge(client, team, into, ids, headers=None):
    return client.post(f"/api/v1/projects/{team.id}/risks/{into}/merge", json={"from": ids},
                       headers=headers or team.editor_h)


def split(client, team, risk_id, findings, headers=None):
    return client.post(f"/api/v1/projects/{team.id}/risks/{risk_id}/split",
                       json={"findings": findings}, headers=headers or team.editor_h)


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


def _two_entries(client, team, first=HOSTING[0], second=HOSTING[1]):
    scan_into(client, team.editor_h, team.id, first, reported_on="2026-03-06")
    scan_into(client, team.editor_h, team.id, second, reported_on="2026-03-13")
    entries = register_of(client, team.owner_h, team.id)
    return by_wording(entries, first), by_wording(entries, second)


def test_a_merge_keeps_every_finding_and_curated_field_by_its_rule(team, client):
    keep, other = _two_entries(client, team)
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


def test_merge_and_split_are_audited_and_each_sends_its_webhook_event(hooks_team, receiver):
    team, client, app = hooks_team, hooks_team.client, hooks_team.app
    keep, other = _two_entries(client, team, LICENCES[0], BADGES[0])
    received(app, receiver)  # the risk.created of each
    merged = merge(client, team, keep["id"], [other["id"]])
    assert merged.status_code == 200, merged.get_json()
    [event] = audited(app, "risk_merged")
    assert (event.actor_id, event.target_id) == (team.editor["id"], str(keep["id"]))
    assert event.details["merged"] == [other["id"]]
    assert event.details["entries"][str(other["id"])]["risk"] == BADGES[0]
    [body] = received(app, receiver)
    assert (body["type"], body["data"]["risk"]["id"], body["data"]["merged"],
            body["data"]["actor_id"]) == ("risk.merged", keep["id"], [other["id"]],
                                          team.editor["id"])

    badge_finding = other["findings"][0]["finding_id"]
    response = split(client, team, keep["id"], [badge_finding])
    assert response.status_code == 201, response.get_json()
    new = response.get_json()
    assert response.headers["Location"].endswith(f"/risks/{new['id']}")
    [event] = audited(app, "risk_split")
    assert (event.target_id, event.details["split_from"], event.details["findings"]) == (
        str(new["id"]), keep["id"], [badge_finding])
    [body] = received(app, receiver)
    assert (body["type"], body["data"]["risk"]["id"], body["data"]["split_from"],
            body["data"]["findings"]) == ("risk.split", new["id"], keep["id"],
                                          [badge_finding])


def test_two_merges_of_the_same_entries_at_once_one_wins_the_others_409(team, client,
                                                                        keyword_app):
    keep, other = _two_entries(client, team)
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
    import threading

    first, second = _two_entries(client, team)
    barrier = threading.Barrier(2)
    responses = {}

    def send(into, source):
        test_client = keyword_app.test_client()
        barrier.wait()
        responses[into] = merge(test_client, team, into, [source])

    threads = [threading.Thread(target=send, args=pair)
               for pair in ((first["id"], second["id"]), (second["id"], first["id"]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in responses.values()) == [200, 409]
    (entry,) = register_of(client, team.owner_h, team.id)
    assert entry["occurrences"] == 2


def test_only_editors_and_owners_merge_split_or_add(team, client):
    keep, other = _two_entries(client, team)
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
    keep, _other = _two_entries(client, team)
    before = register_of(client, team.owner_h, team.id)
    response = client.post(f"/api/v1/projects/{team.id}/risks/{keep['id']}/merge", json=body,
                           headers=team.editor_h)
    assert_problem(response, 422)
    assert register_of(client, team.owner_h, team.id) == before, why


def test_merging_what_cannot_be_merged_is_refused_and_changes_nothing(team, client):
    keep, other = _two_entries(client, team)
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


def test_a_merged_id_once_its_entry_is_gone_is_404(team, client):
    keep, other = _two_entries(client, team)
    merge(client, team, keep["id"], [other["id"]])
    for finding in register_of(client, team.owner_h, team.id)[0]["findings"]:
        client.delete(f"/api/v1/scans/{finding['scan_id']}", headers=team.owner_h)
    url = f"/api/v1/projects/{team.id}/risks"
    assert register_of(client, team.owner_h, team.id) == []
    assert_problem(client.get(f"{url}/{other['id']}", headers=team.owner_h), 404)
    assert_problem(client.get(f"{url}/{keep['id']}", headers=team.owner_h), 404)


def test_a_merge_of_a_merged_entry_moves_its_redirect_along(team, client):
    first, second = _two_entries(client, team)
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


def test_a_split_takes_findings_out_into_a_new_entry_that_the_matcher_then_knows(team,
                                                                                  client):
    """A wrong merge undone: the badge readers were merged into the licences' entry; split
    out, they are an entry of their own again, and the next report that states them joins
    it, not the licences' entry."""
    licences, badges = _two_entries(client, team, LICENCES[0], BADGES[0])
    scan_into(client, team.editor_h, team.id, LICENCES[1], reported_on="2026-03-20")
    merged = merge(client, team, licences["id"], [badges["id"]]).get_json()
    assert merged["occurrences"] == 3
    badge_finding = badges["findings"][0]["finding_id"]

    response = split(client, team, licences["id"], [badge_finding])
    assert response.status_code == 201, response.get_json()
    new = response.get_json()
    assert (new["risk"], new["category"], new["status"], new["occurrences"]) == (
        BADGES[0], "vendor", "open", 1)
    assert [f["finding_id"] for f in new["findings"]] == [badge_finding]
    assert (new["first_seen"], new["last_seen"]) == ("2026-03-13", "2026-03-13")
    kept = client.get(f"/api/v1/projects/{team.id}/risks/{licences['id']}",
                      headers=team.owner_h).get_json()
    assert (kept["risk"], kept["occurrences"], kept["first_seen"], kept["last_seen"]) == (
        LICENCES[1], 2, "2026-03-06", "2026-03-20")
    assert len(register_of(client, team.owner_h, team.id)) == 2

    scan_into(client, team.editor_h, team.id, BADGES[1], reported_on="2026-03-27")
    after = {e["id"]: e for e in register_of(client, team.owner_h, team.id)}
    assert (len(after), after[new["id"]]["occurrences"],
            after[licences["id"]]["occurrences"]) == (2, 2, 2)


def test_two_identical_splits_at_once_make_one_entry(team, client, keyword_app):
    licences, badges = _two_entries(client, team, LICENCES[0], BADGES[0])
    merge(client, team, licences["id"], [badges["id"]])
    finding = badges["findings"][0]["finding_id"]
    responses = at_once(keyword_app, "POST",
                        f"/api/v1/projects/{team.id}/risks/{licences['id']}/split",
                        parallel=3, headers=team.editor_h, json={"findings": [finding]})
    assert sorted(r.status_code for r in responses) == [201, 409, 409], [
        r.get_json() for r in responses]
    assert len(register_of(client, team.owner_h, team.id)) == 2


def test_a_split_that_cannot_be_is_refused_and_changes_nothing(team, client):
    licences, badges = _two_entries(client, team, LICENCES[0], BADGES[0])
    scan_into(client, team.editor_h, team.id, LICENCES[1], reported_on="2026-03-20")
    licences = client.get(f"/api/v1/projects/{team.id}/risks/{licences['id']}",
                          headers=team.owner_h).get_json()
    own = [f["finding_id"] for f in licences["findings"]]
    elsewhere = client.post("/api/v1/projects", json={"name": "Other"},
                            headers=team.owner_h).get_json()["id"]
    theirs = scan_into(client, team.owner_h, elsewhere, BADGES[1])["data"][0]["id"]
    before = register_of(client, team.owner_h, team.id)
    cases = (({"findings": []}, 422), ({"findings": own}, 422),  # all of them
             ({"findings": [own[0], own[0]]}, 422), ({"findings": [987654321]}, 422),
             ({"findings": [theirs]}, 422), ({"findings": ["1"]}, 422),
             ({"findings": list(range(1, 102))}, 422), ({}, 422),
             ({"findings": [badges["findings"][0]["finding_id"]]}, 409))  # another entry's
    for body, status in cases:
        response = client.post(f"/api/v1/projects/{team.id}/risks/{licences['id']}/split",
                               json=body, headers=team.editor_h)
        assert_problem(response, status)
    assert register_of(client, team.owner_h, team.id) == before


# Adding a risk by hand


def test_a_risk_added_by_hand_is_marked_audited_sent_and_joined_by_later_reports(
        hooks_team, receiver):
    team, client, app = hooks_team, hooks_team.client, hooks_team.app
    url = f"/api/v1/projects/{team.id}/risks"
    response = client.post(url, headers=team.editor_h,
                           json={"risk": "  The data centre lease ends before go-live. ",
                                 "category": "scope"})
    assert response.status_code == 201, response.get_json()
    added = response.get_json()
    assert response.headers["Location"].endswith(f"{url}/{added['id']}")
    today = datetime.now(UTC).date().isoformat()
    assert (added["risk"], added["category"], added["status"], added["added_by_user"],
            added["occurrences"], added["findings"], added["first_seen"],
            added["last_seen"]) == ("The data centre lease ends before go-live.", "scope",
                                    "open", True, 0, [], today, today)
    assert client.get(f"{url}/{added['id']}", headers=team.viewer_h).get_json() == added
    [event] = audited(app, "risk_added")
    assert (event.actor_id, event.target_id) == (team.editor["id"], str(added["id"]))
    [body] = received(app, receiver)
    assert (body["type"], body["data"]["risk"]["id"], body["data"]["scan_id"],
            body["data"]["actor_id"]) == ("risk.created", added["id"], None,
                                          team.editor["id"])

    # A report that states it later (the stand-in calls "slip" schedule: correct the entry
    # to the report's category first, as a person would) joins it; its wording stays the
    # one typed, and taking the report out leaves the entry as it was added.
    client.patch(f"{url}/{added['id']}", json={"category": "schedule"}, headers=team.owner_h)
    scan = scan_into(client, team.editor_h, team.id,
                     "The lease of the data centre ends before go-live and may slip it.",
                     reported_on="2026-03-20")
    (entry,) = register_of(client, team.owner_h, team.id)
    assert (entry["id"], entry["risk"], entry["occurrences"], entry["first_seen"],
            entry["last_seen"]) == (added["id"], added["risk"], 1, "2026-03-20", today)
    client.delete(f"/api/v1/scans/{scan['scan_id']}", headers=team.owner_h)
    (entry,) = register_of(client, team.owner_h, team.id)
    assert (entry["id"], entry["occurrences"], entry["first_seen"]) == (added["id"], 0, today)


@pytest.mark.parametrize("body", [
    {}, {"risk": "The vendor may fold."}, {"category": "vendor"},
    {"risk": "", "category": "vendor"}, {"risk": " \u200b\t", "category": "vendor"},
    {"risk": "x" * 1001, "category": "vendor"}, {"risk": "The vendor may fold.",
                                                  "category": "none"},
    {"risk": "The vendor may fold.", "category": "weather"},
    {"risk": 7, "category": "vendor"},
    {"risk": "The vendor may fold.", "category": "vendor", "status": "closed"},
])
def test_a_malformed_risk_by_hand_is_a_422_and_adds_nothing(team, client, body):
    response = client.post(f"/api/v1/projects/{team.id}/risks", json=body,
                           headers=team.editor_h)
    assert_problem(response, 422)
    assert register_of(client, team.owner_h, team.id) == []


def test_merged_entries_keep_every_wording_in_the_directions_kept_between_scans(
        team, client, keyword_app):
    """A merge leaves this process's snapshot stale; the next scan reads the merged entry's
    wordings from the database, and the snapshot it keeps holds a row for each."""
    keep, other = _two_entries(client, team)
    merge(client, team, keep["id"], [other["id"]])
    scan_into(client, team.editor_h, team.id, TRAINING)  # a budget risk: its entries read
    with keyword_app.app_context():
        version = db.session.scalar(select(Project.register_version)
                                    .where(Project.id == team.id))
        snapshot = directions.current(db.session(), team.id, version + 1)
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
    keep, other = _two_entries(client, team)
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
