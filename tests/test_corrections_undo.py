"""A reviewer's decisions say who made them and can be undone (issue #74 item 8):
POST /api/v1/corrections/undo puts accepted or rejected corrections back to pending, bound
to the labels the reviewer was shown (as a decision is), audited; a reviewer undoes their
own decisions, an admin anyone's. On SQLite and MariaDB, with the keyword stand-in for
the model (tests/scanning.py): each test knows its findings.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from service.db import AuditEvent, ScanFinding
from service.extensions import db
from service.serving import corrections
from tests.console_browser import Browser, flashes, said_at, text_of
from tests.corrections import REVIEW
from tests.helpers import Accounts, api_key_headers, assert_problem, at_once

UNDO = f"{REVIEW}/undo"
REPORT = ("The budget may be cut again. The vendor may deliver late. The schedule may slip. "
          "The password policy is weak.")


@pytest.fixture
def review(keyword_app, client):
    """A contributor's four corrections (each finding said to be not a risk), and who
    decides them: two reviewers and an admin, each with their headers."""
    accounts = Accounts(keyword_app, client)
    contributor, contributor_h = accounts.user()
    scanned = client.post("/api/v1/scans", headers=contributor_h, json={"text": REPORT})
    assert scanned.status_code == 201, scanned.get_json()
    scanned = scanned.get_json()
    assert len(scanned["data"]) == 4
    for finding in scanned["data"]:
        answer = client.patch(f"/api/v1/scans/{scanned['scan_id']}/findings/{finding['id']}",
                              headers=contributor_h, json={"category": "none"})
        assert answer.status_code == 200, answer.get_json()
    people = {name: accounts.user(role=role) for name, role in (
        ("ada", "reviewer"), ("bo", "reviewer"), ("admin", "admin"))}
    return {"client": client, "app": keyword_app, "scan": scanned, "people": people,
            "contributor": (contributor, contributor_h),
            "ids": [finding["id"] for finding in scanned["data"]]}


def decide(review, who: str, decision: str, ids: list[int]):
    client, (_, headers) = review["client"], review["people"][who]
    answer = client.post(f"{REVIEW}/review", headers=headers, json={
        "decision": decision, "findings": [{"id": i, "label": "none"} for i in ids]})
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def undo(review, who: str, ids: list[int], label: str = "none"):
    client, (_, headers) = review["client"], review["people"][who]
    return client.post(UNDO, headers=headers,
                       json={"findings": [{"id": i, "label": label} for i in ids]})


def listed(review, state: str) -> dict[int, dict]:
    client, (_, headers) = review["client"], review["people"]["admin"]
    answer = client.get(REVIEW, headers=headers, query_string={"review": state})
    assert answer.status_code == 200, answer.get_json()
    return {item["finding_id"]: item for item in answer.get_json()["items"]}


def undone_events(review) -> list[dict]:
    with review["app"].app_context():
        return [(event.actor_id, event.details) for event in db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "corrections_undone")
            .order_by(AuditEvent.id))]


def test_a_decision_says_who_made_it_and_its_reviewer_undoes_it(review):
    ada, _ = review["people"]["ada"]
    first, second, *rest = review["ids"]
    decide(review, "ada", "accept", [first])
    decide(review, "ada", "reject", [second])
    accepted, rejected = listed(review, "accepted"), listed(review, "rejected")
    assert (accepted[first]["reviewed_by"], accepted[first]["reviewer_email"]) == (
        ada["id"], ada["email"])
    assert rejected[second]["reviewer_email"] == ada["email"]
    assert listed(review, "pending")[rest[0]]["reviewer_email"] is None  # nobody decided yet
    with review["app"].app_context():
        assert [row["text"] for row in corrections.training_rows()] == [
            review["scan"]["data"][0]["risk"]]

    answer = undo(review, "ada", [first, second])
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json() == {"undone": 2, "accepted": 1, "rejected": 1, "pending": 4}
    pending = listed(review, "pending")
    assert set(pending) == set(review["ids"])
    assert all(pending[i]["reviewed_by"] is None and pending[i]["reviewed_at"] is None
               for i in (first, second))
    with review["app"].app_context():
        assert list(corrections.training_rows()) == []  # it teaches nothing until decided
    assert undone_events(review) == [(ada["id"], {"changed": 2, "accepted": 1,
                                                  "rejected": 1})]
    # Decided again, it is a decision like any other.
    assert decide(review, "bo", "accept", [first])["changed"] == 1


def test_undo_is_for_reviewers_and_admins_only(review):
    client = review["client"]
    first = review["ids"][0]
    decide(review, "ada", "accept", [first])
    body = {"findings": [{"id": first, "label": "none"}]}
    assert_problem(client.post(UNDO, json=body), 401)
    _, contributor_h = review["contributor"]
    assert_problem(client.post(UNDO, headers=contributor_h, json=body), 403)
    # A key without the review's scope may not, though its owner may.
    _, admin_h = review["people"]["admin"]
    keyed = api_key_headers(client, admin_h, "scans:read")
    assert_problem(client.post(UNDO, headers=keyed, json=body), 403)
    assert set(listed(review, "accepted")) == {first}
    assert undone_events(review) == []


def test_another_reviewers_decision_is_refused_whole_and_an_admin_undoes_it(review):
    first, second = review["ids"][:2]
    decide(review, "ada", "accept", [first])
    decide(review, "bo", "reject", [second])
    refused = assert_problem(undo(review, "bo", [first, second]), 403, "decided_by_another")
    assert refused["errors"]["decided_by_another"] == [first]
    assert "nothing was undone" in refused["detail"]
    # Nothing of the request was done, Bo's own decision neither.
    assert set(listed(review, "accepted")) == {first}
    assert set(listed(review, "rejected")) == {second}
    answer = undo(review, "admin", [first, second])
    assert answer.status_code == 200 and answer.get_json()["undone"] == 2
    admin, _ = review["people"]["admin"]
    assert undone_events(review) == [(admin["id"], {"changed": 2, "accepted": 1,
                                                    "rejected": 1})]


def test_a_correction_changed_since_it_was_shown_refuses_the_whole_undo(review):
    first, second = review["ids"][:2]
    decide(review, "ada", "accept", [first, second])
    # The contributor changes their mind on the second: it is a new correction, pending.
    _, contributor_h = review["contributor"]
    scan_id = review["scan"]["scan_id"]
    answer = review["client"].patch(f"/api/v1/scans/{scan_id}/findings/{second}",
                                    headers=contributor_h, json={"category": "legal"})
    assert answer.status_code == 200
    refused = assert_problem(undo(review, "ada", [first, second]), 409, "changed_since")
    assert refused["errors"]["changed_since"] == [second]
    assert set(listed(review, "accepted")) == {first}  # nothing was undone
    assert listed(review, "pending")[second]["label"] == "legal"
    assert undone_events(review) == []


def test_two_undos_at_once_put_a_decision_back_once(review):
    first = review["ids"][0]
    decide(review, "ada", "accept", [first])
    _, headers = review["people"]["ada"]
    answers = at_once(review["app"], "POST", UNDO, parallel=2, headers=headers,
                      json={"findings": [{"id": first, "label": "none"}]})
    assert sorted(answer.status_code for answer in answers) == [200, 200]
    assert sorted(answer.get_json()["undone"] for answer in answers) == [0, 1]
    ada, _ = review["people"]["ada"]
    assert undone_events(review) == [(ada["id"], {"changed": 1, "accepted": 1,
                                                  "rejected": 0})]
    with review["app"].app_context():
        finding = db.session.get(ScanFinding, first)
        assert (finding.review, finding.reviewed_by) == ("pending", None)


@pytest.mark.parametrize("body", [
    {}, {"findings": []}, {"findings": [{"id": 1, "label": "none"}] * 501},
    {"findings": [{"id": "1; drop", "label": "none"}]},
    {"findings": [{"id": 1, "label": "<script>"}]}, {"findings": "all"},
    {"findings": [{"id": 1}]},
])
def test_a_malformed_undo_is_a_422_and_undoes_nothing(review, body):
    first = review["ids"][0]
    decide(review, "ada", "accept", [first])
    _, headers = review["people"]["ada"]
    assert_problem(review["client"].post(UNDO, headers=headers, json=body), 422)
    assert set(listed(review, "accepted")) == {first}


def test_what_is_pending_or_unknown_is_left_as_it_is(review):
    first = review["ids"][0]
    answer = undo(review, "ada", [first, 2 ** 62])
    assert answer.status_code == 200
    assert answer.get_json() == {"undone": 0, "accepted": 0, "rejected": 0, "pending": 4}
    assert undone_events(review) == []


# --- the console: who decided, and "Undo" beside the decision ------------------------------

def test_the_console_says_who_decided_and_undoes_ones_own_decision(review):
    """Corrections, accepted: each row says who accepted it; Ada's rows have "Undo", Bo
    sees who did but gets no button for hers; Ada's Undo puts it back to pending and says
    so above the list, where the page lands."""
    first, second = review["ids"][:2]
    decide(review, "ada", "accept", [first])
    decide(review, "bo", "accept", [second])
    (ada, _), (bo, _) = review["people"]["ada"], review["people"]["bo"]
    accepted = "/app/corrections?review=accepted"
    ada_browser, bo_browser = Browser(review["app"], ada["email"]), Browser(review["app"],
                                                                             bo["email"])
    page = ada_browser.page(accepted)
    rows = rows_by_finding(page)
    assert ">you, <time" in rows[first] and f">{bo['email']}, <time" in rows[second]
    assert f'name="finding" value="{first}:none"' in rows[first]
    assert 'name="finding"' not in rows[second]  # Bo's decision: his to undo, or an admin's
    assert f">{ada['email']}, <time" in rows_by_finding(bo_browser.page(accepted))[first]

    response = ada_browser.post_form(accepted, "/app/corrections/undo",
                                     {"finding": f"{first}:none", "review": "accepted"},
                                     follow=False)
    assert response.status_code == 303
    assert response.headers["Location"] == "/app/corrections?review=accepted#decided"
    page = ada_browser.page(response.headers["Location"])
    assert flashes(page) == [] and said_at(page, "decided") == [
        "Undid 1 acceptance: it waits for a reviewer again."]
    assert set(rows_by_finding(page)) == {second}
    assert first in rows_by_finding(ada_browser.page("/app/corrections"))  # pending again

    # Bo's, posted by Ada all the same: the API's words, nothing undone.
    page = text_of(ada_browser.post_form(accepted, "/app/corrections/undo",
                                         {"finding": f"{second}:none", "review": "accepted"}))
    [said] = said_at(page, "decided")
    assert said.startswith("1 decision of another reviewer") and "nothing was undone" in said
    assert set(listed(review, "accepted")) == {second}


def rows_by_finding(page: str) -> dict[int, str]:
    return {int(i): row for i, row in re.findall(
        r'<tr id="correction-(\d+)">(.*?)</tr>', page, re.DOTALL)}


def test_a_decided_correction_is_changed_only_by_an_undo(review):
    """Issue #86: after Ada accepted a correction, Bo's review rejected it (200, changed
    1) and Ada's undo was then refused as another reviewer's. A decision is changed only by
    an undo: deciding it otherwise is a 409 that names who decided it and who may undo it,
    and nothing of the request is decided; the same decision again changes nothing."""
    client = review["client"]
    ada, _ = review["people"]["ada"]
    _, bo_h = review["people"]["bo"]
    first, second = review["ids"][:2]
    decide(review, "ada", "accept", [first])

    def reviewed(headers, decision, ids):
        return client.post(f"{REVIEW}/review", headers=headers, json={
            "decision": decision, "findings": [{"id": i, "label": "none"} for i in ids]})

    refused = assert_problem(reviewed(bo_h, "reject", [first, second]), 409, "decided")
    assert refused["errors"]["decided"] == [first]
    assert "decided already" in refused["detail"] and ada["email"] in refused["detail"]
    assert "undo" in refused["detail"] and "nothing was decided" in refused["detail"]
    assert set(listed(review, "accepted")) == {first}
    assert listed(review, "accepted")[first]["reviewed_by"] == ada["id"]
    assert second in listed(review, "pending")  # the pending one was not decided either
    # Ada's own decision too: she undoes it first.
    _, ada_h = review["people"]["ada"]
    assert_problem(reviewed(ada_h, "reject", [first]), 409, "decided")
    # The same decision again (a second click, two reviewers agreeing) changes nothing.
    again = reviewed(bo_h, "accept", [first])
    assert again.status_code == 200 and again.get_json()["changed"] == 0
    assert listed(review, "accepted")[first]["reviewed_by"] == ada["id"]

    assert undo(review, "ada", [first]).get_json()["undone"] == 1
    assert decide(review, "bo", "reject", [first])["changed"] == 1
    with review["app"].app_context():
        assert [(event.actor_id, event.details["decision"]) for event in db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "corrections_reviewed")
            .order_by(AuditEvent.id))] == [
            (ada["id"], "accepted"), (review["people"]["bo"][0]["id"], "accepted"),
            (review["people"]["bo"][0]["id"], "rejected")]
