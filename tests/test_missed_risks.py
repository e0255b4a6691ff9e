"""Risks the model missed, added by a person (POST /api/v1/scans/{id}/findings), on SQLite
and MariaDB: snapped to the service's own sentence, refused with a problem naming the field
when the offsets point at nothing or at another finding, allowed to whoever may correct the
scan, counted, in the register, in the feedback export and the webhooks like a model's
finding, and gone from all of them when deleted. The keyword stand-in (tests/scanning.py)
chooses the model's findings; the register matches with the real sentence encoder."""

from __future__ import annotations

import ipaddress
import json
import threading
from collections import Counter

import pytest
from sqlalchemy import func, select, update

from service.db import Dismissal, Scan, ScanFinding
from service.extensions import db
from service.scans import missed
from testkit.webhook_receiver import Receiver
from tests.corrections import decide_all
from tests.helpers import (
    RACE_TIMEOUT_S,
    Accounts,
    api_key_headers,
    assert_problem,
    at_once,
    audit_rows,
)
from tests.projects import Team, register_of, scan_into
from tests.scanning import KeywordAnalyzer

# The stand-in finds the vendor sentence only; the person adds the steering committee.
TEXT = ("# Status\nThe vendor may slip the delivery. The steering committee has not met "
        "since March.\nTwo of our three testers leave in May. Lunch was at noon.")
MISSED = "The steering committee has not met since March."
TESTERS = "Two of our three testers leave in May."


def add(client, headers, scan_id, start, end, category="stakeholder", **extra):
    return client.post(f"/api/v1/scans/{scan_id}/findings", headers=headers,
                       json={"start": start, "end": end, "category": category, **extra})


def span(sentence: str, text: str = TEXT) -> tuple[int, int]:
    start = text.index(sentence)
    return start, start + len(sentence)


def added(response) -> dict:
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def scan_of(client, headers, text=TEXT, **fields) -> dict:
    response = client.post("/api/v1/scans", json={"text": text, **fields}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def get_scan(client, headers, scan_id) -> dict:
    response = client.get(f"/api/v1/scans/{scan_id}", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()




def findings_stored(app) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(ScanFinding))
        db.session.remove()
    return count


def feedback(client, headers) -> list[dict]:
    response = client.get("/api/v1/findings/feedback", headers=headers)
    assert response.status_code == 200
    return [json.loads(line) for line in response.get_data(as_text=True).splitlines()]


@pytest.fixture
def owner(keyword_app, client):
    return Accounts(keyword_app, client).user()


def test_the_offsets_snap_to_the_sentence_they_overlap_most(keyword_app, client, owner):
    user, headers = owner
    scan = scan_of(client, headers)
    assert [f["risk"] for f in scan["data"]] == ["The vendor may slip the delivery."]
    # From "committee" into the next line's first word: mostly the committee's sentence.
    start, end = TEXT.index("committee"), TEXT.index("Two") + 3
    response = add(client, headers, scan["scan_id"], start, end)
    finding = added(response)
    assert (finding["risk"], finding["category"], finding["corrected_category"]) == (
        MISSED, "stakeholder", "stakeholder")
    assert TEXT[finding["start"]:finding["end"]] == MISSED
    assert (finding["added_by_user"], finding["score"], finding["possible"]) == (
        True, None, False)
    assert MISSED in finding["context"] and finding["context"] in TEXT
    assert response.headers["Location"].endswith(
        f"/api/v1/scans/{scan['scan_id']}/findings/{finding['id']}")
    assert client.get(response.headers["Location"], headers=headers).get_json() == finding

    # It counts like the model's finding, in the text's order.
    stored = get_scan(client, headers, scan["scan_id"])
    assert [f["risk"] for f in stored["data"]] == ["The vendor may slip the delivery.", MISSED]
    assert stored["counts"] == {"vendor": 1, "stakeholder": 1}
    listed = client.get("/api/v1/scans", query_string={"category": "stakeholder"},
                        headers=headers).get_json()
    assert [(s["scan_id"], s["counts"]) for s in listed["items"]] == [
        (scan["scan_id"], {"vendor": 1, "stakeholder": 1})]
    # A later sentence lands after it: the findings keep the order of the text.
    third = added(add(client, headers, scan["scan_id"], *span(TESTERS), category="resource"))
    assert [f["id"] for f in get_scan(client, headers, scan["scan_id"])["data"]] == [
        scan["data"][0]["id"], finding["id"], third["id"]]
    (event, _) = audit_rows(keyword_app, "finding_added")
    assert (event.actor_id, event.target_id) == (user["id"], str(finding["id"]))
    assert (event.details["scan_id"], event.details["category"]) == (scan["scan_id"],
                                                                     "stakeholder")


def test_the_findings_keep_the_order_of_the_text_after_a_deletion(keyword_app, client,
                                                                   owner):
    _, headers = owner
    scan = scan_of(client, headers)
    path = f"/api/v1/scans/{scan['scan_id']}/findings"
    missed_one = added(add(client, headers, scan["scan_id"], *span(MISSED)))
    added(add(client, headers, scan["scan_id"], *span(TESTERS), category="resource"))
    assert client.delete(f"{path}/{missed_one['id']}", headers=headers).status_code == 204
    added(add(client, headers, scan["scan_id"], *span("Lunch was at noon."), category="scope"))
    added(add(client, headers, scan["scan_id"], *span(MISSED), category="schedule"))
    starts = [f["start"] for f in get_scan(client, headers, scan["scan_id"])["data"]]
    assert starts == sorted(starts) and len(starts) == 4


BAD_SPANS = [
    ({"start": 0, "end": len(TEXT) + 1}, "end"),  # past the text
    ({"start": len(TEXT) + 5, "end": len(TEXT) + 9}, "end"),
    ({"start": -1, "end": 3}, "start"),
    ({"start": 20, "end": 20}, "end"),  # empty
    ({"start": 30, "end": 10}, "end"),
    ({"start": 2, "end": 8}, "start"),  # the heading "Status": never a finding
    ({"start": TEXT.index(" The steering"), "end": TEXT.index(" The steering") + 1},
     "start"),  # a space between sentences
    ({"start": TEXT.index("slip"), "end": TEXT.index("slip") + 4}, "start"),  # the model's
    ({"start": "3", "end": 10}, "start"),
    ({"start": True, "end": 10}, "start"),
    ({"start": 3.5, "end": 10}, "start"),
    ({"start": 3, "end": 10**30}, "end"),
    ({"end": 10}, "start"),
    ({"start": 3, "end": 10, "category": "none"}, "category"),
    ({"start": 3, "end": 10, "category": "weather"}, "category"),
    ({"start": 3, "end": 10, "category": None}, "category"),
    ({"start": 3, "end": 10, "score": 0.9}, "score"),
]


@pytest.mark.parametrize(("body", "field"), BAD_SPANS)
def test_offsets_outside_the_text_over_no_sentence_or_inside_a_finding_are_422(
        keyword_app, client, owner, body, field):
    _, headers = owner
    scan = scan_of(client, headers)
    before = findings_stored(keyword_app)
    response = client.post(f"/api/v1/scans/{scan['scan_id']}/findings", headers=headers,
                           json={"category": "stakeholder", **body})
    assert_problem(response, 422, field)
    assert findings_stored(keyword_app) == before
    assert get_scan(client, headers, scan["scan_id"])["counts"] == {"vendor": 1}


def test_a_sentence_already_added_is_inside_that_finding(keyword_app, client, owner):
    _, headers = owner
    scan = scan_of(client, headers)
    first = added(add(client, headers, scan["scan_id"], *span(MISSED)))
    body = assert_problem(add(client, headers, scan["scan_id"], TEXT.index("March"),
                              TEXT.index("March") + 5, category="schedule"), 422, "start")
    assert str(first["id"]) in body["errors"]["start"][0]


def test_a_scan_stored_before_texts_were_kept_is_a_409(keyword_app, client, owner):
    _, headers = owner
    scan = scan_of(client, headers)
    with keyword_app.app_context():
        db.session.execute(update(Scan).where(Scan.id == scan["scan_id"]).values(text=None))
        db.session.commit()
    assert_problem(add(client, headers, scan["scan_id"], *span(MISSED)), 409)


def test_only_who_may_correct_the_scan_may_add_to_it(team, client):
    scan = scan_into(client, team.editor_h, team.id, TEXT)
    path = f"/api/v1/scans/{scan['scan_id']}/findings"
    body = {"start": span(MISSED)[0], "end": span(MISSED)[1], "category": "stakeholder"}
    assert_problem(client.post(path, json=body), 401)
    assert_problem(client.post(path, json=body, headers=team.viewer_h), 403)
    assert_problem(client.post(path, json=body, headers=team.outsider_h), 404)
    assert_problem(client.post(path, json=body, headers=team.admin_h), 404)  # not a member
    reader = api_key_headers(client, team.editor_h, "scans:read")
    assert_problem(client.post(path, json=body, headers=reader), 403)
    # A scans:write key reaches no register without projects:write.
    writer = api_key_headers(client, team.editor_h, "scans:write")
    assert_problem(client.post(path, json=body, headers=writer), 403)
    assert get_scan(client, team.owner_h, scan["scan_id"])["counts"] == {"vendor": 1}

    both = api_key_headers(client, team.editor_h, "scans:write", "projects:write")
    assert added(client.post(path, json=body, headers=both))["risk"] == MISSED
    testers = added(client.post(path, headers=team.owner_h, json={  # the project's owner
        "start": span(TESTERS)[0], "end": span(TESTERS)[1], "category": "resource"}))
    one = f"{path}/{testers['id']}"
    assert client.get(one, headers=team.viewer_h).get_json() == testers
    assert_problem(client.get(one, headers=team.outsider_h), 404)
    assert_problem(client.delete(one, headers=team.viewer_h), 403)
    assert_problem(client.delete(one, headers=team.outsider_h), 404)
    assert_problem(client.delete(one, headers=writer), 403)
    assert client.delete(one, headers=team.editor_h).status_code == 204


def test_another_users_scan_is_the_404_of_a_missing_one(keyword_app, client, owner):
    _, headers = owner
    scan = scan_of(client, headers)
    _, other = Accounts(keyword_app, client).user()
    foreign = add(client, other, scan["scan_id"], *span(MISSED))
    missing = add(client, other, "00000000-0000-4000-8000-000000000000", *span(MISSED))
    assert assert_problem(foreign, 404)["detail"] == assert_problem(missing, 404)["detail"]
    finding = added(add(client, headers, scan["scan_id"], *span(MISSED)))
    path = f"/api/v1/scans/{scan['scan_id']}/findings/{finding['id']}"
    assert_problem(client.delete(path, headers=other), 404)
    assert_problem(client.get(path, headers=other), 404)
    assert len(get_scan(client, headers, scan["scan_id"])["data"]) == 2


def test_in_a_project_it_joins_the_register_and_the_feedback_and_leaves_both(
        keyword_app, team, client, tmp_path):
    scan = scan_into(client, team.owner_h, team.id, TEXT)
    assert [e["category"] for e in register_of(client, team.owner_h, team.id)] == ["vendor"]
    finding = added(add(client, team.editor_h, scan["scan_id"], *span(MISSED)))
    entries = {e["category"]: e for e in register_of(client, team.viewer_h, team.id)}
    assert entries.keys() == {"vendor", "stakeholder"}
    entry = entries["stakeholder"]
    assert (entry["risk"], entry["occurrences"], entry["status"]) == (MISSED, 1, "open")
    assert entry["findings"] == [{"scan_id": scan["scan_id"], "finding_id": finding["id"],
                                  "joined_by": "opened", "alike": None}]
    assert finding["risk_id"] == entry["id"]
    assert get_scan(client, team.owner_h, scan["scan_id"])["counts"] == {
        "vendor": 1, "stakeholder": 1}
    csv = client.get(f"/api/v1/projects/{team.id}/risks/export", headers=team.viewer_h,
                     query_string={"format": "csv"}).get_data(as_text=True)
    assert MISSED in csv
    # The scan's owner's feedback holds it as a positive row, as the CLI writes it.
    row = {"text": MISSED, "label": "stakeholder", "source": f"feedback/{scan['scan_id']}"}
    assert feedback(client, team.owner_h) == [row]
    # The export is what a training learns: the editor's row once a reviewer accepts it.
    out = tmp_path / "feedback.jsonl"
    exported = []
    for _ in range(2):
        result = keyword_app.test_cli_runner().invoke(args=["export-corrections", "--out",
                                                            str(out)])
        assert result.exit_code == 0, result.output
        exported.append(out.read_text(encoding="utf-8"))
        _, reviewer = Accounts(keyword_app, client).user(role="reviewer")
        assert decide_all(client, reviewer, team.editor["id"], "accept").status_code == 200
    assert exported == ["", json.dumps(row, ensure_ascii=False) + "\n"]
    review = client.get("/api/v1/findings", headers=team.owner_h).get_json()["items"]
    assert [(i["risk"], i["added_by_user"], i["score"]) for i in review][-1] == (
        MISSED, True, None)  # no score: after every scored finding

    path = f"/api/v1/scans/{scan['scan_id']}/findings/{finding['id']}"
    assert client.delete(path, headers=team.editor_h).status_code == 204
    # The entry it alone stated stays, as one added by hand (the next test: why).
    entries = {e["category"]: e for e in register_of(client, team.owner_h, team.id)}
    assert (entries["stakeholder"]["id"], entries["stakeholder"]["added_by_user"],
            entries["stakeholder"]["occurrences"], entries["stakeholder"]["findings"]) == (
        entry["id"], True, 0, [])
    assert feedback(client, team.owner_h) == []
    assert get_scan(client, team.owner_h, scan["scan_id"])["counts"] == {"vendor": 1}
    assert_problem(client.get(path, headers=team.owner_h), 404)
    assert_problem(client.delete(path, headers=team.editor_h), 404)
    (event,) = audit_rows(keyword_app, "finding_removed")
    assert (event.actor_id, event.target_id) == (team.editor["id"], str(finding["id"]))
    assert event.details["project_id"] == team.id


def test_a_models_finding_is_corrected_not_deleted(keyword_app, team, client):
    scan = scan_into(client, team.owner_h, team.id, TEXT)
    model = scan["data"][0]
    path = f"/api/v1/scans/{scan['scan_id']}/findings/{model['id']}"
    assert_problem(client.delete(path, headers=team.owner_h), 409)
    assert get_scan(client, team.owner_h, scan["scan_id"])["data"] == scan["data"]
    assert len(register_of(client, team.owner_h, team.id)) == 1
    assert audit_rows(keyword_app, "finding_removed") == []


def test_an_added_risk_is_corrected_like_any_finding(keyword_app, team, client):
    scan = scan_into(client, team.owner_h, team.id, TEXT)
    finding = added(add(client, team.editor_h, scan["scan_id"], *span(MISSED)))
    path = f"/api/v1/scans/{scan['scan_id']}/findings/{finding['id']}"
    moved = client.patch(path, json={"category": "schedule"}, headers=team.editor_h)
    assert moved.status_code == 200, moved.get_json()
    assert (moved.get_json()["category"], moved.get_json()["corrected_category"]) == (
        "stakeholder", "schedule")
    assert Counter(e["category"] for e in register_of(client, team.owner_h, team.id)) == {
        "vendor": 1, "schedule": 1}
    dismissed = client.patch(path, json={"category": "none"}, headers=team.editor_h)
    assert dismissed.get_json()["risk_id"] is None
    assert [e["category"] for e in register_of(client, team.owner_h, team.id)] == ["vendor"]
    with keyword_app.app_context():  # "this report only", the default: no dismissal
        assert db.session.scalars(select(Dismissal.risk)).all() == []
        db.session.remove()
    later = client.patch(path, json={"category": "none", "scope": "later"},
                         headers=team.editor_h)
    assert later.get_json()["dismissal_scope"] == "later"
    with keyword_app.app_context():
        assert db.session.scalars(select(Dismissal.risk)).all() == [MISSED]
        db.session.remove()
    assert feedback(client, team.owner_h)[0]["label"] == "none"


@pytest.mark.parametrize("in_project", [False, True])
def test_racing_adds_of_one_sentence_make_one_finding(keyword_app, team, client, in_project,
                                                      monkeypatch):
    scan = (scan_into(client, team.owner_h, team.id, TEXT) if in_project
            else scan_of(client, team.owner_h))
    start, end = span(MISSED)
    # Every request has read the scan and found no such finding before any takes it.
    ready, lock = threading.Barrier(4, timeout=RACE_TIMEOUT_S), missed.lock

    def together(*args):
        ready.wait()
        return lock(*args)

    monkeypatch.setattr(missed, "lock", together)
    responses = at_once(keyword_app, "POST", f"/api/v1/scans/{scan['scan_id']}/findings",
                        parallel=4, headers=team.owner_h,
                        json={"start": start, "end": end, "category": "stakeholder"})
    assert sorted(r.status_code for r in responses) == [201, 422, 422, 422], [
        r.get_json() for r in responses]
    stored = get_scan(client, team.owner_h, scan["scan_id"])
    assert [f["risk"] for f in stored["data"]].count(MISSED) == 1
    assert stored["counts"] == {"vendor": 1, "stakeholder": 1}
    if in_project:
        (entry,) = [e for e in register_of(client, team.owner_h, team.id)
                    if e["category"] == "stakeholder"]
        assert entry["occurrences"] == 1


def test_a_retry_with_its_idempotency_key_gets_the_first_answer(keyword_app, client, owner):
    _, headers = owner
    scan = scan_of(client, headers)
    keyed = {**headers, "Idempotency-Key": "add-missed-1"}
    first = add(client, keyed, scan["scan_id"], *span(MISSED))
    again = add(client, keyed, scan["scan_id"], *span(MISSED))
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (again.get_json(), again.headers["Location"]) == (first.get_json(),
                                                             first.headers["Location"])
    assert len(get_scan(client, headers, scan["scan_id"])["data"]) == 2


def test_an_added_risk_reaches_the_projects_webhooks(make_app, monkeypatch):
    app = make_app(WEBHOOK_ALLOWED_NETWORKS=(ipaddress.ip_network("127.0.0.0/8"),))
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", KeywordAnalyzer())
    client = app.test_client()
    team = Team(app, client)
    with Receiver() as receiver:
        made = client.post(f"/api/v1/projects/{team.id}/webhooks", headers=team.owner_h,
                           json={"url": f"{receiver.url}/hook", "events": ["risk.created"]})
        assert made.status_code == 201, made.get_json()
        scan = scan_into(client, team.owner_h, team.id, TEXT)
        assert json.loads(receiver.next().body)["data"]["risk"]["category"] == "vendor"
        finding = added(add(client, team.editor_h, scan["scan_id"], *span(MISSED)))
        body = json.loads(receiver.next().body)
        assert body["type"] == "risk.created"
        assert (body["data"]["risk"]["id"], body["data"]["risk"]["risk"]) == (
            finding["risk_id"], MISSED)
        assert body["data"]["scan_id"] == scan["scan_id"]
        assert app.extensions["riskscan.jobs"].later.wait_idle(30)
        assert receiver.nothing_more()


def test_deleting_the_one_added_finding_of_a_risk_keeps_the_risk_people_curated(
        make_app, monkeypatch):
    """A risk a person added, then rated, assigned a status and notes: deleting the finding
    (a wrong sentence, say) must not delete what people wrote about the risk, silently. The
    entry stays, as one added by hand with the sentence as its wording (a later report
    stating it joins it), and the change is audited and sent to the project's webhooks."""
    app = make_app(WEBHOOK_ALLOWED_NETWORKS=(ipaddress.ip_network("127.0.0.0/8"),))
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", KeywordAnalyzer())
    client = app.test_client()
    team = Team(app, client)
    with Receiver() as receiver:
        made = client.post(f"/api/v1/projects/{team.id}/webhooks", headers=team.owner_h,
                           json={"url": f"{receiver.url}/hook",
                                 "events": ["risk.finding_removed"]})
        assert made.status_code == 201, made.get_json()
        scan = scan_into(client, team.owner_h, team.id, TEXT)
        finding = added(add(client, team.editor_h, scan["scan_id"], *span(MISSED)))
        risk = f"/api/v1/projects/{team.id}/risks/{finding['risk_id']}"
        curated = {"status": "mitigating", "notes": "The sponsor chases the chair.",
                   "owner_id": team.editor["id"], "likelihood": 3, "impact": 4}
        patched = client.patch(risk, json=curated, headers=team.editor_h)
        assert patched.status_code == 200, patched.get_json()

        path = f"/api/v1/scans/{scan['scan_id']}/findings/{finding['id']}"
        assert client.delete(path, headers=team.editor_h).status_code == 204
        kept = client.get(risk, headers=team.viewer_h)
        assert kept.status_code == 200, kept.get_json()
        kept = kept.get_json()
        assert {name: kept[name] for name in curated} == curated
        assert (kept["risk"], kept["category"], kept["added_by_user"], kept["occurrences"],
                kept["findings"]) == (MISSED, "stakeholder", True, 0, [])

        body = json.loads(receiver.next().body)
        assert body["type"] == "risk.finding_removed"
        assert (body["data"]["finding_id"], body["data"]["scan_id"],
                body["data"]["actor_id"]) == (finding["id"], scan["scan_id"], team.editor["id"])
        assert (body["data"]["risk"]["id"], body["data"]["risk"]["status"],
                body["data"]["risk"]["added_by_user"]) == (finding["risk_id"], "mitigating", True)
        assert app.extensions["riskscan.jobs"].later.wait_idle(30)
        assert receiver.nothing_more()
    (event,) = [e for e in audit_rows(app, "risk_updated") if "finding_removed" in e.details]
    assert (event.actor_id, event.target_id, event.details["finding_removed"]) == (
        team.editor["id"], str(finding["risk_id"]), finding["id"])
    assert event.details["changes"]["added_by_user"] == {"from": False, "to": True}
    assert event.details["changes"]["occurrences"] == {"from": 1, "to": 0}

    # Its wording is the sentence: stated again, it joins the same risk.
    again = scan_into(client, team.owner_h, team.id, TEXT)
    joined = added(add(client, team.editor_h, again["scan_id"], *span(MISSED)))
    assert joined["risk_id"] == finding["risk_id"]
    assert client.get(risk, headers=team.viewer_h).get_json()["occurrences"] == 1


def test_deleting_an_added_finding_from_a_risk_others_state_is_audited_on_the_risk(
        keyword_app, team, client):
    """Where other findings state the risk too, it loses one occurrence, as its audit
    trail says; it stays the reports' risk (not one added by hand)."""
    first = scan_into(client, team.owner_h, team.id, TEXT)
    second = scan_into(client, team.owner_h, team.id, TEXT)
    one = added(add(client, team.editor_h, first["scan_id"], *span(MISSED)))
    two = added(add(client, team.editor_h, second["scan_id"], *span(MISSED)))
    assert one["risk_id"] == two["risk_id"]
    path = f"/api/v1/scans/{second['scan_id']}/findings/{two['id']}"
    assert client.delete(path, headers=team.editor_h).status_code == 204
    kept = client.get(f"/api/v1/projects/{team.id}/risks/{one['risk_id']}",
                      headers=team.viewer_h).get_json()
    assert (kept["added_by_user"], kept["occurrences"], kept["findings"]) == (
        False, 1, [{"scan_id": first["scan_id"], "finding_id": one["id"],
                    "joined_by": "opened", "alike": None}])
    (event,) = [e for e in audit_rows(keyword_app, "risk_updated")
                if "finding_removed" in e.details]
    assert (event.target_id, event.details["finding_removed"]) == (str(one["risk_id"]), two["id"])
    assert event.details["changes"] == {"occurrences": {"from": 2, "to": 1}}


def test_the_route_is_in_the_openapi_spec(client):
    spec = client.get("/openapi.json").get_json()
    path = spec["paths"]["/api/v1/scans/{scan_id}/findings"]["post"]
    assert {"201", "401", "403", "404", "409", "422"} <= set(path["responses"])
    assert path["requestBody"]["content"]["application/json"]
    one = spec["paths"]["/api/v1/scans/{scan_id}/findings/{finding_id}"]
    assert {"get", "patch", "delete"} <= set(one)
    assert {"204", "409"} <= set(one["delete"]["responses"])
    finding = spec["components"]["schemas"]["Finding"]["properties"]
    assert {"added_by_user", "possible"} <= set(finding)
