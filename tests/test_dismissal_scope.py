"""What a dismissal covers, chosen when dismissing: "this report only" (`scope: report`,
the default) or "this report and later ones" (`scope: later`).

Issue #61: a member marked one report's sentence not a risk, and two weeks later a real
restatement of it was kept out of the scan's count, the register and Changes, with nothing
said when dismissing. Now the default keeps nothing out of later reports; a later finding
kept out is still in its scan's answer (`dismissed`, with the dismissal's wording, author
and date), Changes counts it, and a risk label on it restores it into the register alone.
The sentences and the keyword stand-in are those of test_dismissals.py.
"""

from __future__ import annotations

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
from tests.helpers import assert_problem, audit_rows
from tests.projects import register_of, scan_into


def finding_of(scan: dict, risk: str) -> dict:
    return next(f for f in scan["data"] if f["risk"] == risk)


def correct(client, headers, scan, risk, body, status=200):
    finding = finding_of(scan, risk)
    response = client.patch(f"/api/v1/scans/{scan['scan_id']}/findings/{finding['id']}",
                            json=body, headers=headers)
    assert response.status_code == status, response.get_json()
    return response


def changes_of(client, headers, project_id) -> dict:
    response = client.get(f"/api/v1/projects/{project_id}/changes", headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_this_report_only_is_the_default_and_keeps_nothing_of_later_reports_out(
        team, client, keyword_app):
    first = scan_into(client, team.owner_h, team.id, WEEK_1)
    answer = dismiss(client, team.editor_h, first, BOILERPLATE, scope=None).get_json()
    assert (answer["corrected_category"], answer["dismissal_scope"]) == ("none", "report")
    assert [e["risk"] for e in register_of(client, team.owner_h, team.id)] == [LICENCES]
    assert dismissals_of(client, team.owner_h, team.id) == []
    assert audit_rows(keyword_app, "finding_dismissed") == []

    second = scan_into(client, team.owner_h, team.id, WEEK_2)
    assert [(f["risk"], f["dismissed"]) for f in second["data"]] == [
        (REWORDED, False), (BADGES, False)]
    assert second["counts"] == {"vendor": 2}
    assert sorted(e["risk"] for e in register_of(client, team.owner_h, team.id)) == sorted([
        REWORDED, BADGES, LICENCES])
    changes = changes_of(client, team.viewer_h, team.id)
    assert sorted(e["risk"] for e in changes["new"]) == sorted([REWORDED, BADGES])
    assert changes["kept_out"] == 0
    # The dismissed finding itself says so when read again.
    again = client.get(f"/api/v1/scans/{first['scan_id']}", headers=team.viewer_h).get_json()
    assert finding_of(again, BOILERPLATE)["dismissal_scope"] == "report"
    assert finding_of(again, LICENCES)["dismissal_scope"] is None


def test_a_later_restatement_is_shown_kept_out_counted_in_changes_and_restored_alone(
        team, client, keyword_app):
    first = scan_into(client, team.owner_h, team.id, WEEK_1)
    answer = dismiss(client, team.editor_h, first, BOILERPLATE, scope="later").get_json()
    assert answer["dismissal_scope"] == "later"
    (dismissal,) = dismissals_of(client, team.owner_h, team.id)

    second = scan_into(client, team.owner_h, team.id, WEEK_2)
    hidden = finding_of(second, REWORDED)  # still in the scan's answer, kept out
    assert hidden["dismissed"] is True and hidden["risk_id"] is None
    assert hidden["dismissal"] == {"id": dismissal["id"], "risk": BOILERPLATE,
                                   "dismissed_by": team.editor["id"],
                                   "created_at": dismissal["created_at"]}
    assert second["counts"] == {"vendor": 1}
    changes = changes_of(client, team.viewer_h, team.id)
    assert [e["risk"] for e in changes["new"]] == [BADGES]
    assert changes["kept_out"] == 1

    # One finding restored: a risk label on it puts it into the register.
    restored = correct(client, team.editor_h, second, REWORDED,
                       {"category": "vendor"}).get_json()
    assert (restored["dismissed"], restored["dismissal"]) == (False, None)
    assert restored["risk_id"] is not None
    assert REWORDED in {e["risk"] for e in register_of(client, team.owner_h, team.id)}
    again = client.get(f"/api/v1/scans/{second['scan_id']}", headers=team.owner_h).get_json()
    assert again["counts"] == {"vendor": 2}
    assert changes_of(client, team.viewer_h, team.id)["kept_out"] == 0
    # The dismissal stays (it is lifted on the register's page), and the first report's
    # finding stays not a risk.
    (still,) = dismissals_of(client, team.owner_h, team.id)
    assert (still["id"], still["kept_out"]) == (dismissal["id"], 0)
    assert audit_rows(keyword_app, "dismissal_deleted") == []
    # Moved out of the project and back, a finding a person labelled stays in.
    for project_id in (None, team.id):
        moved = client.patch(f"/api/v1/scans/{second['scan_id']}",
                             json={"project_id": project_id}, headers=team.owner_h)
        assert moved.status_code == 200, moved.get_json()
    assert finding_of(moved.get_json(), REWORDED)["dismissed"] is False


def test_the_scope_of_a_finding_already_dismissed_changes_and_left_out_is_kept(
        team, client, keyword_app):
    first = scan_into(client, team.owner_h, team.id, WEEK_1)
    dismiss(client, team.owner_h, first, BOILERPLATE, scope="report")
    answer = dismiss(client, team.owner_h, first, BOILERPLATE, scope="later").get_json()
    assert answer["dismissal_scope"] == "later"
    (dismissal,) = dismissals_of(client, team.owner_h, team.id)
    assert dismissal["risk"] == BOILERPLATE
    assert len(audit_rows(keyword_app, "finding_dismissed")) == 1
    queue = client.get("/api/v1/findings", headers=team.owner_h).get_json()["items"]
    assert {f["risk"]: f["dismissal_scope"] for f in queue} == {
        BOILERPLATE: "later", LICENCES: None}
    # `none` again without a scope (as Review's "not a risk" sends it) changes nothing.
    answer = dismiss(client, team.owner_h, first, BOILERPLATE, scope=None).get_json()
    assert answer["dismissal_scope"] == "later"
    assert len(dismissals_of(client, team.owner_h, team.id)) == 1
    second = scan_into(client, team.owner_h, team.id, REWORDED)
    assert second["data"][0]["dismissed"] is True
    # Back to "this report only": the dismissal is lifted (audited), what it hid joins.
    answer = dismiss(client, team.editor_h, first, BOILERPLATE, scope="report").get_json()
    assert (answer["corrected_category"], answer["dismissal_scope"]) == ("none", "report")
    assert dismissals_of(client, team.owner_h, team.id) == []
    (event,) = audit_rows(keyword_app, "dismissal_deleted")
    assert (event.actor_id, event.details["restored"]) == (team.editor["id"], 1)
    assert REWORDED in {e["risk"] for e in register_of(client, team.owner_h, team.id)}
    assert BOILERPLATE not in {e["risk"] for e in register_of(client, team.owner_h, team.id)}


def test_a_scan_outside_any_project_takes_a_scope_and_keeps_nothing(team, client, keyword_app):
    first = scan_into(client, team.owner_h, team.id, WEEK_1)
    dismiss(client, team.owner_h, first, BOILERPLATE, scope="later")
    # A scan outside any project takes a scope and has none to keep.
    free = client.post("/api/v1/scans", json={"text": WEEK_1}, headers=team.owner_h)
    answer = dismiss(client, team.owner_h, free.get_json(), BOILERPLATE,
                     scope="later").get_json()
    assert answer["dismissal_scope"] is None
    assert len(dismissals_of(client, team.owner_h, team.id)) == 1


def test_a_bad_scope_is_refused_with_words_and_changes_nothing(team, client, keyword_app):
    first = scan_into(client, team.owner_h, team.id, WEEK_1)
    for body in ({"category": "none", "scope": "forever"},
                 {"category": "none", "scope": 1},
                 {"category": "none", "scope": None},
                 {"category": "vendor", "scope": "later"}):
        response = correct(client, team.owner_h, first, BOILERPLATE, body, status=422)
        assert_problem(response, 422, "scope")
    words = correct(client, team.owner_h, first, BOILERPLATE,
                    {"category": "none", "scope": "forever"}, status=422).get_json()
    assert words["errors"]["scope"] == [
        "scope is report (this report only) or later (this report and later ones)."]
    words = correct(client, team.owner_h, first, BOILERPLATE,
                    {"category": "vendor", "scope": "report"}, status=422).get_json()
    assert words["errors"]["scope"] == ["scope goes with category none only."]
    assert dismissals_of(client, team.owner_h, team.id) == []
    scan = client.get(f"/api/v1/scans/{first['scan_id']}", headers=team.owner_h).get_json()
    assert finding_of(scan, BOILERPLATE)["corrected_category"] is None


def test_viewers_may_not_choose_a_scope_and_outsiders_see_no_finding(team, client,
                                                                     keyword_app):
    first = scan_into(client, team.owner_h, team.id, WEEK_1)
    body = {"category": "none", "scope": "later"}
    refused = correct(client, team.viewer_h, first, BOILERPLATE, body, status=403)
    assert "viewer" in assert_problem(refused, 403)["detail"]
    assert_problem(correct(client, team.outsider_h, first, BOILERPLATE, body, status=404), 404)
    assert_problem(correct(client, team.admin_h, first, BOILERPLATE, body, status=404), 404)
    assert dismissals_of(client, team.owner_h, team.id) == []
    assert audit_rows(keyword_app, "finding_dismissed") == []
    # The dismissal's scan read by an outsider: the same 404.
    dismiss(client, team.owner_h, first, BOILERPLATE, scope="later")
    second = scan_into(client, team.owner_h, team.id, REWORDED)
    response = client.get(f"/api/v1/scans/{second['scan_id']}", headers=team.outsider_h)
    assert_problem(response, 404)
    unauthorized = client.patch(
        f"/api/v1/scans/{second['scan_id']}/findings/{second['data'][0]['id']}", json=body)
    assert_problem(unauthorized, 401)


def test_later_ones_are_later_by_the_reports_dates_not_by_when_they_arrive(team, client):
    """A report dated before the dismissed one, uploaded after the dismissal (a late
    upload, a back-filled archive), still counts its restatement; one dated after is kept
    out."""
    week_2 = scan_into(client, team.owner_h, team.id, WEEK_1, reported_on="2026-10-30")
    dismiss(client, team.editor_h, week_2, BOILERPLATE, scope="later")
    week_1 = scan_into(client, team.owner_h, team.id, WEEK_2, reported_on="2026-10-23")
    assert finding_of(week_1, REWORDED)["dismissed"] is False
    assert REWORDED in [e["risk"] for e in register_of(client, team.owner_h, team.id)]
    week_3 = scan_into(client, team.owner_h, team.id, WEEK_2, reported_on="2026-11-06")
    assert finding_of(week_3, REWORDED)["dismissed"] is True
    same_day = scan_into(client, team.owner_h, team.id, WEEK_2, reported_on="2026-10-30")
    assert finding_of(same_day, REWORDED)["dismissed"] is True
