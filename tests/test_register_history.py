"""The register never changes without telling (issue #74): every change to an entry is an
event with its cause, an entry never vanishes or renumbers because of its findings, and
report dates, never upload order, decide what reopens.

A PM's project over several weeks, through the API, with the keyword stand-in's findings
(tests/scanning.py) and the real sentence encoder's matching.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from service.db import RegisterEntry, RegisterEvent
from service.extensions import db
from service.projects.register.entry_events import Uncaused, caused_by
from tests.helpers import assert_problem
from tests.projects import audit_events, register_of, scan_into
from tests.register_reports import OTHER, WEEK_1, WEEK_2

OLD = "2026-03-06"
WEEK = "2026-03-13"
LATER = "2026-03-20"


def _url(team, risk_id, tail=""):
    return f"/api/v1/projects/{team.id}/risks/{risk_id}{tail}"


def history(client, team, risk_id, headers=None) -> list[dict]:
    response = client.get(_url(team, risk_id, "/history"), query_string={"per_page": 100},
                          headers=headers or team.viewer_h)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def by_category(client, team) -> dict[str, dict]:
    return {entry["category"]: entry for entry in register_of(client, team.owner_h, team.id)}


def test_every_change_of_a_pms_weeks_is_an_event_with_its_cause(team, client, keyword_app):
    first = scan_into(client, team.owner_h, team.id, WEEK_1, reported_on=OLD)
    vendor = by_category(client, team)["vendor"]
    scan_into(client, team.editor_h, team.id, WEEK_2, reported_on=WEEK)
    response = client.patch(_url(team, vendor["id"]), headers=team.editor_h, json={
        "status": "mitigating", "owner_id": team.editor["id"], "likelihood": 4, "impact": 5})
    assert response.status_code == 200, response.get_json()

    events = history(client, team, vendor["id"])
    assert [(e["kind"], e["cause"]) for e in events] == [
        ("edited", "edit"), ("stated", "report"), ("opened", "report")]
    edit, stated, opened = events
    assert edit["actor_id"] == team.editor["id"]
    assert edit["changes"]["status"] == {"from": "open", "to": "mitigating"}
    assert edit["changes"]["likelihood"] == {"from": None, "to": 4}
    assert stated["changes"]["occurrences"] == {"from": 1, "to": 2}
    assert opened["scan_id"] == first["scan_id"]

    # Every entry of the project has events, and every event names its cause.
    with keyword_app.app_context():
        entries = db.session.scalars(select(RegisterEntry.id)).all()
        causes = db.session.execute(select(RegisterEvent.entry_id, RegisterEvent.cause)).all()
        db.session.remove()
    assert set(entries) <= {entry_id for entry_id, _ in causes}
    assert all(cause for _, cause in causes)
    # The audit log: one row for the report's statements, the edit's own rows.
    stated_rows = audit_events(client, team.admin_h, "risks_stated")
    assert [row["details"]["kinds"] for row in stated_rows] == [{"opened": 2}, {"stated": 2}]
    assert audit_events(client, team.admin_h, "risk_updated")


def test_history_is_for_members_only_and_a_merged_id_leads_to_the_holders(team, client):
    scan_into(client, team.owner_h, team.id, WEEK_1, reported_on=OLD)
    scan_into(client, team.owner_h, team.id, OTHER, reported_on=WEEK)
    budgets = [e for e in register_of(client, team.owner_h, team.id) if e["category"] == "budget"]
    keep, other = budgets
    merged = client.post(_url(team, keep["id"], "/merge"), json={"from": [other["id"]]},
                         headers=team.owner_h)
    assert merged.status_code == 200, merged.get_json()

    moved = client.get(_url(team, other["id"], "/history"), headers=team.viewer_h)
    assert moved.status_code == 301
    assert moved.headers["Location"].endswith(_url(team, keep["id"], "/history"))
    events = history(client, team, keep["id"])
    assert {e["entry_id"] for e in events} == {keep["id"], other["id"]}
    assert events[0]["cause"] == "merge"

    assert_problem(client.get(_url(team, keep["id"], "/history"), headers=team.outsider_h), 404)
    assert_problem(client.get(_url(team, keep["id"], "/history")), 401)
    assert_problem(client.get(_url(team, 999999, "/history"), headers=team.owner_h), 404)
    assert_problem(client.get(_url(team, "1e3", "/history"), headers=team.owner_h), 404)
    bad_page = client.get(_url(team, keep["id"], "/history"), headers=team.owner_h,
                          query_string={"per_page": 10**6})
    assert bad_page.status_code == 422


def test_a_category_correction_moves_the_entry_keeping_what_people_gave_it(team, client):
    scan = scan_into(client, team.owner_h, team.id, WEEK_1, reported_on=OLD)
    vendor = by_category(client, team)["vendor"]
    client.patch(_url(team, vendor["id"]), headers=team.owner_h, json={
        "status": "closed", "notes": "Licences arrived.", "owner_id": team.editor["id"],
        "likelihood": 2, "impact": 3})
    finding = next(f for f in scan["data"] if f["category"] == "vendor")
    url = f"/api/v1/scans/{scan['scan_id']}/findings/{finding['id']}"

    assert client.patch(url, json={"category": "legal"}, headers=team.editor_h).status_code == 200
    moved = client.get(_url(team, vendor["id"]), headers=team.viewer_h)
    assert moved.status_code == 200  # the same id: never 404, never a new entry
    kept = moved.get_json()
    assert (kept["category"], kept["status"], kept["notes"], kept["owner_id"],
            kept["likelihood"], kept["impact"]) == (
        "legal", "closed", "Licences arrived.", team.editor["id"], 2, 3)
    latest = history(client, team, vendor["id"])[0]
    assert (latest["kind"], latest["cause"], latest["actor_id"]) == (
        "moved", "correction", team.editor["id"])
    assert latest["changes"]["category"] == {"from": "vendor", "to": "legal"}
    changed = audit_events(client, team.admin_h, "risk_changed")
    assert [row["target_id"] for row in changed] == [str(vendor["id"])]

    # Corrected back, it moves back: still one entry, still closed.
    assert client.patch(url, json={"category": "vendor"}, headers=team.editor_h).status_code == 200
    back = client.get(_url(team, vendor["id"]), headers=team.viewer_h).get_json()
    assert (back["category"], back["status"]) == ("vendor", "closed")
    assert len(register_of(client, team.owner_h, team.id)) == 2


def test_a_correction_to_not_a_risk_withdraws_the_entry_and_a_restatement_brings_it_back(
        team, client):
    scan = scan_into(client, team.owner_h, team.id, WEEK_1, reported_on=OLD)
    vendor = by_category(client, team)["vendor"]
    client.patch(_url(team, vendor["id"]), headers=team.owner_h,
                 json={"owner_id": team.editor["id"], "likelihood": 4, "impact": 4})
    finding = next(f for f in scan["data"] if f["category"] == "vendor")
    client.patch(f"/api/v1/scans/{scan['scan_id']}/findings/{finding['id']}",
                 json={"category": "none"}, headers=team.owner_h)
    assert "vendor" not in by_category(client, team)
    latest = history(client, team, vendor["id"])[0]
    assert (latest["kind"], latest["cause"]) == ("unstated", "correction")
    assert "Not a risk" in latest["note"]

    # A later report states it again: the entry comes back with its owner and rating.
    scan_into(client, team.owner_h, team.id, WEEK_2, reported_on=WEEK)
    back = by_category(client, team)["vendor"]
    assert (back["id"], back["owner_id"], back["score"]) == (vendor["id"], team.editor["id"], 16)


def test_report_dates_decide_what_reopens_never_upload_order(team, client):
    scan_into(client, team.owner_h, team.id, WEEK_1, reported_on=WEEK)
    vendor = by_category(client, team)["vendor"]
    client.patch(_url(team, vendor["id"]), json={"status": "closed"}, headers=team.owner_h)

    # A report found late (older) and the same week's report sent again reopen nothing.
    scan_into(client, team.owner_h, team.id, WEEK_2, reported_on=OLD)
    scan_into(client, team.owner_h, team.id, WEEK_1, reported_on=WEEK)
    entry = client.get(_url(team, vendor["id"]), headers=team.viewer_h).get_json()
    assert (entry["status"], entry["occurrences"]) == ("closed", 3)
    assert not audit_events(client, team.admin_h, "risk_reopened")

    later = scan_into(client, team.owner_h, team.id, WEEK_2, reported_on=LATER)
    entry = client.get(_url(team, vendor["id"]), headers=team.viewer_h).get_json()
    assert (entry["status"], entry["reopened"]) == ("open", True)
    latest = history(client, team, vendor["id"])[0]
    assert (latest["kind"], latest["scan_id"]) == ("reopened", later["scan_id"])


def test_a_change_outside_a_cause_fails_instead_of_changing_the_register(team, client,
                                                                           keyword_app):
    scan_into(client, team.owner_h, team.id, WEEK_1, reported_on=OLD)
    with keyword_app.app_context():
        entry = db.session.scalars(select(RegisterEntry)).first()
        entry.status = "closed"
        with pytest.raises(Uncaused):
            db.session.flush()
        db.session.rollback()
        with caused_by("edit", actor_id=team.owner["id"]):
            entry = db.session.get(RegisterEntry, entry.id)
            entry.notes = "Seen by the steering committee."
        db.session.commit()
        kinds = db.session.scalars(select(RegisterEvent.kind).where(
            RegisterEvent.entry_id == entry.id).order_by(RegisterEvent.id)).all()
        db.session.remove()
    assert kinds == ["opened", "edited"]


def test_a_rejected_correction_puts_back_what_it_changed_and_its_undo_reapplies_it(
        team, client):
    from tests.corrections import REVIEW, decide_ids

    scan = scan_into(client, team.owner_h, team.id, WEEK_1, reported_on=OLD)
    vendor = by_category(client, team)["vendor"]
    client.patch(_url(team, vendor["id"]), headers=team.owner_h,
                 json={"status": "mitigating", "notes": "Chasing the licences."})
    finding = next(f for f in scan["data"] if f["category"] == "vendor")
    corrected = client.patch(f"/api/v1/scans/{scan['scan_id']}/findings/{finding['id']}",
                             json={"category": "legal"}, headers=team.editor_h)
    assert corrected.get_json()["review"] == "pending"
    assert by_category(client, team)["legal"]["id"] == vendor["id"]

    # A reviewer rejects it: the model's label stands again, in the register and the counts.
    assert decide_ids(client, team.admin_h, [finding["id"]], "reject").status_code == 200
    back = by_category(client, team)
    assert "legal" not in back
    assert (back["vendor"]["id"], back["vendor"]["status"], back["vendor"]["notes"]) == (
        vendor["id"], "mitigating", "Chasing the licences.")
    stored = client.get(f"/api/v1/scans/{scan['scan_id']}", headers=team.owner_h).get_json()
    assert stored["counts"] == {"vendor": 1, "budget": 1}
    assert [f["review"] for f in stored["data"] if f["id"] == finding["id"]] == ["rejected"]
    latest = history(client, team, vendor["id"])[0]
    assert (latest["kind"], latest["cause"], latest["actor_id"]) == (
        "moved", "review", team.admin["id"])
    assert "rejected the correction to legal" in latest["note"]

    # Undone, the correction stands again: the entry moves back to legal, the same id.
    undone = client.post(f"{REVIEW}/undo", headers=team.admin_h,
                         json={"findings": [{"id": finding["id"], "label": "legal"}]})
    assert undone.status_code == 200, undone.get_json()
    assert by_category(client, team)["legal"]["id"] == vendor["id"]


def test_a_rejected_not_a_risk_brings_its_entry_back(team, client):
    from tests.corrections import decide_ids

    scan = scan_into(client, team.owner_h, team.id, WEEK_1, reported_on=OLD)
    vendor = by_category(client, team)["vendor"]
    finding = next(f for f in scan["data"] if f["category"] == "vendor")
    client.patch(f"/api/v1/scans/{scan['scan_id']}/findings/{finding['id']}",
                 json={"category": "none", "scope": "later"}, headers=team.editor_h)
    assert "vendor" not in by_category(client, team)
    assert client.get(f"/api/v1/projects/{team.id}/dismissals",
                      headers=team.owner_h).get_json()["total"] == 1

    assert decide_ids(client, team.admin_h, [finding["id"]], "reject").status_code == 200
    assert by_category(client, team)["vendor"]["id"] == vendor["id"]
    # Its dismissal went with it: later reports that state it count again.
    assert client.get(f"/api/v1/projects/{team.id}/dismissals",
                      headers=team.owner_h).get_json()["total"] == 0
