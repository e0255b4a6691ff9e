"""What the tests of the register mended by hand share (test_register_merge.py,
test_register_split_and_add.py): three weekly reports of one project and their threads,
what the audit log and the project's webhooks got, and calls of the routes.

Findings come from the keyword stand-in (tests/scanning.py), matched by the real sentence
encoder: which restatements join is the encoder's answer, measured for these sentences
(cosines in the comments).
"""

from __future__ import annotations

import ipaddress
import json

from sqlalchemy import select

from service.db import AuditEvent
from service.extensions import db
from tests.projects import register_of, scan_into

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
# The suggestions' weeks (test_register_suggestions.py): week 1 holds the UAT slip (schedule: "slip") and the vault (security). Week 2 says the UAT slip
# again, naming the vendor: the keyword stand-in reads it `vendor`, as the model read the
# real report `quality`, so it cannot join the schedule entry and opens one of its own.
ACCEPTANCE = "The test environment is late, so user acceptance testing could slip."
VAULT_ALONE = "The password vault has no second administrator."
ACCEPTANCE_AGAIN = ("User acceptance testing is late again because the vendor has not delivered "
             "the test environment.")
SUGGESTED_WEEK_1 = (f"{ACCEPTANCE} {VAULT_ALONE}", "2026-03-06")
SUGGESTED_WEEK_2 = (ACCEPTANCE_AGAIN, "2026-03-13")
TRAINING = "The budget for the training rooms was cut by the finance committee."
LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)


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


def two_entries(client, team, first=HOSTING[0], second=HOSTING[1]):
    scan_into(client, team.editor_h, team.id, first, reported_on="2026-03-06")
    scan_into(client, team.editor_h, team.id, second, reported_on="2026-03-13")
    entries = register_of(client, team.owner_h, team.id)
    return by_wording(entries, first), by_wording(entries, second)
