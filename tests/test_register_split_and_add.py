"""Splitting findings out of a register entry, adding a risk no report stated, and what
each change by hand leaves behind: an audit event and a webhook event (tests/curating.py
has the reports).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from service.db import WEBHOOK_EVENTS
from testkit.webhook_receiver import Receiver
from tests.curating import (
    BADGES,
    LICENCES,
    LOOPBACK,
    audited,
    merge,
    received,
    split,
    two_entries,
)
from tests.helpers import assert_problem, at_once
from tests.projects import Team, register_of, scan_into
from tests.scanning import KeywordAnalyzer


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
    made = team.client.post(f"/api/v1/projects/{team.id}/webhooks", headers=team.owner_h,
                            json={"url": f"{receiver.url}/hook", "events": list(WEBHOOK_EVENTS)})
    assert made.status_code == 201, made.get_json()
    return team


def test_merge_and_split_are_audited_and_each_sends_its_webhook_event(hooks_team, receiver):
    team, client, app = hooks_team, hooks_team.client, hooks_team.app
    keep, other = two_entries(client, team, LICENCES[0], BADGES[0])
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


def test_a_split_takes_findings_out_into_a_new_entry_that_the_matcher_then_knows(team,
                                                                                  client):
    """A wrong merge undone: the badge readers were merged into the licences' entry; split
    out, they are an entry of their own again, and the next report that states them joins
    it, not the licences' entry."""
    licences, badges = two_entries(client, team, LICENCES[0], BADGES[0])
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
    licences, badges = two_entries(client, team, LICENCES[0], BADGES[0])
    merge(client, team, licences["id"], [badges["id"]])
    finding = badges["findings"][0]["finding_id"]
    responses = at_once(keyword_app, "POST",
                        f"/api/v1/projects/{team.id}/risks/{licences['id']}/split",
                        parallel=3, headers=team.editor_h, json={"findings": [finding]})
    assert sorted(r.status_code for r in responses) == [201, 409, 409], [
        r.get_json() for r in responses]
    assert len(register_of(client, team.owner_h, team.id)) == 2


def test_a_split_that_cannot_be_is_refused_and_changes_nothing(team, client):
    licences, badges = two_entries(client, team, LICENCES[0], BADGES[0])
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


@pytest.mark.parametrize("risk", ["The vendor may \u202eloaf yam\u202c fold.",
                                  "The vendor may fold.\x00", "The \u2067vendor\u2069 may fold."])
def test_a_risk_by_hand_with_a_nul_or_a_direction_override_is_a_422(team, client, risk):
    """A hand-added wording is shown in the register, its export and webhooks' bodies: a
    bidi override makes it read in another order than it displays (NUL is cut or refused
    downstream). Accents, dashes and line breaks stay welcome."""
    url = f"/api/v1/projects/{team.id}/risks"
    refused = client.post(url, json={"risk": risk, "category": "vendor"},
                          headers=team.editor_h)
    assert_problem(refused, 422, "risk")
    assert register_of(client, team.owner_h, team.id) == []
    fine = client.post(url, json={"risk": "Le fournisseur peut échouer —\nà la bascule.",
                                  "category": "vendor"}, headers=team.editor_h)
    assert fine.status_code == 201, fine.get_json()
