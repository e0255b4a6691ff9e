"""A report that closes a risk (issue #85 item 2, service/projects/register/closing.py): "... and we
have closed that risk." joins the entry it speaks of, but is never its title and reopens
nothing; the entry says which report says it is closed, until a person closes it. Findings
come from the keyword stand-in (tests/scanning.py: "password" is security), matched by the
real sentence encoder.
"""

from __future__ import annotations

import pytest

from service.projects.register.closing import says_closed
from tests.projects import register_of, scan_into

SHARED = "The shared admin password in staging is known to everyone on the team."
CLOSED = ("The shared admin password in staging has been replaced by a vault-managed "
          "credential and we have closed that risk.")


def entry(team) -> dict:
    [only] = register_of(team.client, team.owner_h, team.id)
    return only


def test_a_closing_sentence_joins_but_is_not_the_title_and_offers_the_close(team):
    scan_into(team.client, team.editor_h, team.id, SHARED, reported_on="2026-03-06")
    week_2 = scan_into(team.client, team.editor_h, team.id, CLOSED, reported_on="2026-03-13")
    risk = entry(team)
    assert risk["risk"] == SHARED and risk["status"] == "open" and risk["occurrences"] == 2
    assert [f["joined_by"] for f in risk["findings"]] == ["opened", "closing"]
    assert risk["says_closed_in"] == week_2["scan_id"]
    closed = team.client.patch(f"/api/v1/projects/{team.id}/risks/{risk['id']}",
                               json={"status": "closed"}, headers=team.editor_h)
    assert closed.status_code == 200
    assert closed.get_json()["says_closed_in"] is None
    # Its title stays the risk's words when the register recomputes it (a report deleted).
    later = scan_into(team.client, team.editor_h, team.id, SHARED, reported_on="2026-03-20")
    assert team.client.delete(f"/api/v1/scans/{later['scan_id']}",
                              headers=team.editor_h).status_code == 204
    assert entry(team)["risk"] == SHARED


def test_a_closing_sentence_never_reopens_a_closed_risk(team):
    scan_into(team.client, team.editor_h, team.id, SHARED, reported_on="2026-03-06")
    risk = entry(team)
    assert team.client.patch(f"/api/v1/projects/{team.id}/risks/{risk['id']}",
                             json={"status": "closed"}, headers=team.editor_h).status_code == 200
    scan_into(team.client, team.editor_h, team.id, CLOSED, reported_on="2026-03-13")
    after = entry(team)
    assert (after["status"], after["reopened"], after["risk"]) == ("closed", False, SHARED)
    assert after["says_closed_in"] is None  # closed already: nothing to offer
    # A restatement that is a risk still reopens it.
    scan_into(team.client, team.editor_h, team.id, SHARED, reported_on="2026-03-20")
    assert entry(team)["status"] == "open"


@pytest.mark.parametrize("sentence", [
    CLOSED, "The licence risk has been resolved.", "This is no longer a risk.",
    "The vendor issue was resolved last week.", "We closed the risk after the audit.",
    "Hosting costs: status: closed."])
def test_what_reads_as_closed(sentence):
    assert says_closed(sentence)


@pytest.mark.parametrize("sentence", [
    SHARED, "The risk of a late delivery has not been resolved.",
    "We have not closed the risk yet.", "The issue should be resolved by June.",
    "If the vendor has resolved the issue by June, we can go live.",
    "Once the team has fixed the issue, we will deploy.",
    "The supplier may deliver the servers late.", "x" * 5000, "closed " * 2000])
def test_what_does_not(sentence):
    assert not says_closed(sentence)


def test_a_closing_sentence_finds_its_risk_in_another_category(team):
    """The risk was filed under another category than the model reads the closing
    sentence in: it still speaks of that risk, and joins it (never opening one titled "...
    we have closed that risk")."""
    scan_into(team.client, team.editor_h, team.id, SHARED, reported_on="2026-03-06")
    risk = entry(team)
    assert team.client.patch(f"/api/v1/projects/{team.id}/risks/{risk['id']}",
                             json={"category": "legal"},
                             headers=team.editor_h).status_code == 200
    week_2 = scan_into(team.client, team.editor_h, team.id, CLOSED, reported_on="2026-03-13")
    after = entry(team)  # still one entry
    assert (after["id"], after["category"], after["risk"]) == (risk["id"], "legal", SHARED)
    assert after["findings"][-1]["joined_by"] == "closing"
    assert after["says_closed_in"] == week_2["scan_id"]
