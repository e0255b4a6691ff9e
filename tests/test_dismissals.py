"""Dismissals: a finding a member corrected to `none` for "this report and later ones"
(`scope: later`) stays dismissed in later reports (test_dismissal_scope.py: the choice).

As in test_register.py, the keyword stand-in (tests/scanning.py) chooses the findings and the
real sentence encoder matches them: a reworded repeat of a dismissed statement must be kept
out, a different risk of the same category must not.
"""

from __future__ import annotations

from sqlalchemy import func, select

from service.db import Dismissal, DismissedFinding
from service.extensions import db
from tests.dismissals import (
    BADGES,
    BOILERPLATE,
    LICENCES,
    REWORDED,
    WEEK_1,
    WEEK_2,
    dismiss,
    dismissals_of,
)
from tests.helpers import assert_problem, at_once, audit_rows
from tests.projects import Team, register_of, scan_into
from tests.scanning import without_request_id


def count(app, model) -> int:
    with app.app_context():
        found = db.session.scalar(select(func.count()).select_from(model))
        db.session.remove()
    return found


def test_a_reworded_repeat_of_a_dismissed_finding_stays_out_and_a_different_risk_joins(
        team, client, keyword_app):
    first = scan_into(client, team.owner_h, team.id, WEEK_1)
    dismiss(client, team.editor_h, first, BOILERPLATE)
    assert [e["risk"] for e in register_of(client, team.owner_h, team.id)] == [LICENCES]
    (dismissal,) = dismissals_of(client, team.viewer_h, team.id)
    assert {k: dismissal[k] for k in ("risk", "category", "dismissed_by", "scan_id",
                                      "kept_out")} == {
        "risk": BOILERPLATE, "category": "vendor", "dismissed_by": team.editor["id"],
        "scan_id": first["scan_id"], "kept_out": 0}
    (event,) = audit_rows(keyword_app, "finding_dismissed")
    assert (event.actor_id, event.target_id) == (team.editor["id"], str(dismissal["id"]))

    second = scan_into(client, team.owner_h, team.id, WEEK_2)
    kept_out, badges = second["data"]
    assert (kept_out["risk"], kept_out["dismissed"]) == (REWORDED, True)
    assert kept_out["dismissal"] == {"id": dismissal["id"], "risk": BOILERPLATE,
                                     "dismissed_by": team.editor["id"],
                                     "created_at": dismissal["created_at"]}
    assert kept_out["risk_id"] is None
    assert (badges["risk"], badges["dismissed"], badges["dismissal"]) == (BADGES, False, None)
    assert badges["risk_id"] is not None
    # Out of the scan's counts (its answer, its page and the list), the register, the changes.
    assert second["counts"] == {"vendor": 1}
    again = client.get(f"/api/v1/scans/{second['scan_id']}", headers=team.viewer_h).get_json()
    assert again["counts"] == {"vendor": 1} and again["data"][0]["dismissed"] is True
    listed = client.get("/api/v1/scans", query_string={"project_id": team.id},
                        headers=team.owner_h).get_json()["items"]
    assert [s["counts"] for s in listed] == [{"vendor": 1}, {"vendor": 1}]
    assert sorted(e["risk"] for e in register_of(client, team.owner_h, team.id)) == sorted([
        BADGES, LICENCES])
    changes = client.get(f"/api/v1/projects/{team.id}/changes", headers=team.owner_h).get_json()
    assert [e["risk"] for e in changes["new"]] == [BADGES]
    assert [e["risk"] for e in changes["gone"]] == [LICENCES]
    assert changes["persisting"] == []
    assert dismissals_of(client, team.owner_h, team.id)[0]["kept_out"] == 1
    queue = client.get("/api/v1/findings", headers=team.owner_h).get_json()["items"]
    queued = {item["risk"]: item for item in queue}
    assert (queued[REWORDED]["dismissed"], queued[REWORDED]["dismissal"]) == (
        True, kept_out["dismissal"])
    assert (queued[BADGES]["dismissed"], queued[BADGES]["dismissal"]) == (False, None)


def test_restoring_puts_what_it_kept_out_into_the_register_and_lets_the_next_scan_in(
        team, client, keyword_app):
    first = scan_into(client, team.owner_h, team.id, WEEK_1)
    dismiss(client, team.owner_h, first, BOILERPLATE)
    second = scan_into(client, team.owner_h, team.id, WEEK_2)
    (dismissal,) = dismissals_of(client, team.owner_h, team.id)

    url = f"/api/v1/projects/{team.id}/dismissals/{dismissal['id']}"
    response = client.delete(url, headers=team.editor_h)
    assert response.status_code == 204, response.get_json()
    assert dismissals_of(client, team.owner_h, team.id) == []
    (event,) = audit_rows(keyword_app, "dismissal_deleted")
    assert (event.actor_id, event.target_id) == (team.editor["id"], str(dismissal["id"]))
    assert event.details["restored"] == 1
    # The finding it kept out is in the register now, and counted again.
    scan = client.get(f"/api/v1/scans/{second['scan_id']}", headers=team.owner_h).get_json()
    assert [(f["risk"], f["dismissed"]) for f in scan["data"]] == [(REWORDED, False),
                                                                   (BADGES, False)]
    assert scan["counts"] == {"vendor": 2}
    entries = {e["risk"]: e for e in register_of(client, team.owner_h, team.id)}
    assert set(entries) == {REWORDED, BADGES, LICENCES}
    # And the next report stating it joins that entry; the corrected finding stays `none`.
    scan_into(client, team.owner_h, team.id, BOILERPLATE)
    entries = {e["risk"]: e for e in register_of(client, team.owner_h, team.id)}
    assert entries[BOILERPLATE]["occurrences"] == 2
    assert count(keyword_app, DismissedFinding) == 0

    assert_problem(client.delete(url, headers=team.editor_h), 404)
    assert len(audit_rows(keyword_app, "dismissal_deleted")) == 1


def test_correcting_a_dismissed_finding_back_restores_what_it_kept_out(team, client):
    first = scan_into(client, team.owner_h, team.id, WEEK_1)
    dismiss(client, team.owner_h, first, BOILERPLATE)
    second = scan_into(client, team.owner_h, team.id, REWORDED)
    assert second["data"][0]["dismissed"] is True
    finding = next(f for f in first["data"] if f["risk"] == BOILERPLATE)
    back = client.patch(f"/api/v1/scans/{first['scan_id']}/findings/{finding['id']}",
                        json={"category": "vendor"}, headers=team.owner_h)
    assert back.status_code == 200, back.get_json()
    assert dismissals_of(client, team.owner_h, team.id) == []
    entries = register_of(client, team.owner_h, team.id)
    boilerplate = next(e for e in entries if e["risk"] in (REWORDED, BOILERPLATE))
    assert boilerplate["occurrences"] == 2  # both statements, in one entry
    assert len(entries) == 2


def test_another_project_is_unaffected(team, client, keyword_app):
    first = scan_into(client, team.owner_h, team.id, WEEK_1)
    dismiss(client, team.owner_h, first, BOILERPLATE)
    other = Team(keyword_app, client)
    scan = scan_into(client, other.owner_h, other.id, WEEK_2)
    assert [f["dismissed"] for f in scan["data"]] == [False, False]
    assert sorted(e["risk"] for e in register_of(client, other.owner_h, other.id)) == sorted([
        BADGES, REWORDED])
    assert dismissals_of(client, other.owner_h, other.id) == []
    # A scan outside any project: nothing is dismissed either.
    free = client.post("/api/v1/scans", json={"text": REWORDED}, headers=team.owner_h)
    assert free.get_json()["data"][0]["dismissed"] is False


def test_viewers_neither_dismiss_nor_restore_outsiders_see_nothing(team, client, keyword_app):
    first = scan_into(client, team.owner_h, team.id, WEEK_1)
    refused = dismiss(client, team.viewer_h, first, BOILERPLATE, status=403)
    assert "viewer" in assert_problem(refused, 403)["detail"]
    assert count(keyword_app, Dismissal) == 0
    assert audit_rows(keyword_app, "finding_dismissed") == []

    dismiss(client, team.owner_h, first, BOILERPLATE)
    (dismissal,) = dismissals_of(client, team.viewer_h, team.id)
    url = f"/api/v1/projects/{team.id}/dismissals/{dismissal['id']}"
    body = assert_problem(client.delete(url, headers=team.viewer_h), 403)
    assert "viewer" in body["detail"]
    body = assert_problem(client.delete(url, headers=team.admin_h), 403)
    assert body["detail"] == "Admins read every project; only its members change it."
    assert len(dismissals_of(client, team.admin_h, team.id)) == 1  # admins read
    missing = client.get(f"/api/v1/projects/{team.id}x/dismissals", headers=team.owner_h)
    for response in (client.get(f"/api/v1/projects/{team.id}/dismissals",
                                headers=team.outsider_h),
                     client.delete(url, headers=team.outsider_h)):
        assert_problem(response, 404)
        assert without_request_id(response) == without_request_id(missing)
    assert count(keyword_app, Dismissal) == 1
    assert audit_rows(keyword_app, "dismissal_deleted") == []


def test_a_dismissal_id_of_another_project_or_malformed_is_the_404_of_a_missing_one(
        team, client, keyword_app):
    other = Team(keyword_app, client)
    theirs = scan_into(client, other.owner_h, other.id, WEEK_1)
    dismiss(client, other.owner_h, theirs, BOILERPLATE)
    (foreign,) = dismissals_of(client, other.owner_h, other.id)
    base = f"/api/v1/projects/{team.id}/dismissals/"
    missing = client.delete(base + "987654321", headers=team.owner_h)
    assert assert_problem(missing, 404)["detail"] == "No such dismissal."
    for bad in (str(foreign["id"]), "1 OR 1=1", "³", "-1", "9" * 19, "1.0"):
        response = client.delete(base + bad, headers=team.owner_h)
        assert without_request_id(response) == without_request_id(missing), bad
    assert count(keyword_app, Dismissal) == 1
    for args in ({"per_page": 101}, {"page": 0}, {"page": "x"}, {"sort": "id"}):
        response = client.get(f"/api/v1/projects/{team.id}/dismissals", query_string=args,
                              headers=team.owner_h)
        assert_problem(response, 422, next(iter(args)))


def test_racing_dismissals_of_one_finding_make_one(team, client, keyword_app):
    first = scan_into(client, team.owner_h, team.id, WEEK_1)
    finding = next(f for f in first["data"] if f["risk"] == BOILERPLATE)
    responses = at_once(keyword_app, "PATCH",
                        f"/api/v1/scans/{first['scan_id']}/findings/{finding['id']}",
                        parallel=4, headers=team.owner_h,
                        json={"category": "none", "scope": "later"})
    assert [r.status_code for r in responses] == [200] * 4, [r.get_json() for r in responses]
    assert count(keyword_app, Dismissal) == 1
    assert len(audit_rows(keyword_app, "finding_dismissed")) == 1
    assert [e["risk"] for e in register_of(client, team.owner_h, team.id)] == [LICENCES]


def test_racing_restores_of_one_dismissal_restore_once(team, client, keyword_app):
    first = scan_into(client, team.owner_h, team.id, WEEK_1)
    dismiss(client, team.owner_h, first, BOILERPLATE)
    scan_into(client, team.owner_h, team.id, WEEK_2)
    (dismissal,) = dismissals_of(client, team.owner_h, team.id)
    responses = at_once(keyword_app, "DELETE",
                        f"/api/v1/projects/{team.id}/dismissals/{dismissal['id']}",
                        parallel=4, headers=team.editor_h)
    assert sorted(r.status_code for r in responses) == [204, 404, 404, 404]
    assert len(audit_rows(keyword_app, "dismissal_deleted")) == 1
    entries = register_of(client, team.owner_h, team.id)
    assert sorted(e["occurrences"] for e in entries) == [1, 1, 1]  # the finding joined once


def test_a_scan_moved_out_takes_its_kept_out_findings_and_a_deleted_one_leaves_the_dismissal(
        team, client, keyword_app):
    first = scan_into(client, team.owner_h, team.id, WEEK_1)
    dismiss(client, team.owner_h, first, BOILERPLATE)
    second = scan_into(client, team.owner_h, team.id, WEEK_2)
    assert count(keyword_app, DismissedFinding) == 1
    moved = client.patch(f"/api/v1/scans/{second['scan_id']}", json={"project_id": None},
                         headers=team.owner_h)
    assert moved.status_code == 200, moved.get_json()
    assert [f["dismissed"] for f in moved.get_json()["data"]] == [False, False]
    assert count(keyword_app, DismissedFinding) == 0
    # Moved back in: kept out again.
    back = client.patch(f"/api/v1/scans/{second['scan_id']}", json={"project_id": team.id},
                        headers=team.owner_h)
    assert [f["dismissed"] for f in back.get_json()["data"]] == [True, False]

    assert client.delete(f"/api/v1/scans/{first['scan_id']}",
                         headers=team.owner_h).status_code == 204
    (dismissal,) = dismissals_of(client, team.owner_h, team.id)
    assert (dismissal["risk"], dismissal["scan_id"], dismissal["finding_id"]) == (
        BOILERPLATE, None, None)
    assert dismissal["kept_out"] == 1
