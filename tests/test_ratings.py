"""Likelihood × impact on the register's entries, and the heat map (issue #41, items 1–2).

The findings come from the keyword stand-in (tests/scanning.py), as in test_register.py;
ratings, filters and the matrix are read through the API on SQLite and MariaDB.
"""

from __future__ import annotations

import threading

import pytest

from service import rating
from service.config import ConfigError, Settings
from service.db import RegisterEntry
from service.projects.register import entries
from tests.helpers import MISSING, RACE_TIMEOUT_S, assert_problem, at_once, together
from tests.projects import Team, register_of, scan_into
from tests.register_reports import OTHER, WEEK_1, WEEK_2, same_404


def _risks(client, team) -> list[dict]:
    """The team's project with four entries (two budget, two vendor), by id."""
    scan_into(client, team.owner_h, team.id, WEEK_1)
    scan_into(client, team.owner_h, team.id, WEEK_2 + " " + OTHER)
    return sorted(register_of(client, team.owner_h, team.id), key=lambda e: e["id"])


def _patch(client, team, risk_id, body, headers=None):
    return client.patch(f"/api/v1/projects/{team.id}/risks/{risk_id}", json=body,
                        headers=headers or team.editor_h)


def _rated_events(client, team) -> list[dict]:
    return client.get("/api/v1/admin/audit-events", query_string={"event": "risk_rated"},
                      headers=team.admin_h).get_json()["items"]


def test_every_product_of_two_levels_falls_in_one_band():
    bands = {l * i: rating.band(l * i) for l in rating.LEVELS for i in rating.LEVELS}
    assert bands == {1: "low", 2: "low", 3: "low", 4: "medium", 5: "medium", 6: "medium",
                     8: "high", 9: "high", 10: "high", 12: "high", 15: "critical",
                     16: "critical", 20: "critical", 25: "critical"}
    assert rating.score(3, None) is None and rating.band(None) is None


def test_a_rating_is_scored_banded_kept_apart_and_cleared_with_null(team, client):
    entry = _risks(client, team)[0]
    assert (entry["likelihood"], entry["impact"], entry["score"], entry["band"]) == (
        None, None, None, None)
    rated = _patch(client, team, entry["id"], {"likelihood": 4, "impact": 3})
    assert rated.status_code == 200
    assert {k: rated.get_json()[k] for k in ("likelihood", "impact", "score", "band")} == {
        "likelihood": 4, "impact": 3, "score": 12, "band": "high"}
    # a field left out stays as it is; another field's change keeps the rating
    notes = _patch(client, team, entry["id"], {"notes": "Escalated to the vendor."})
    assert (notes.get_json()["likelihood"], notes.get_json()["impact"]) == (4, 3)
    cleared = _patch(client, team, entry["id"], {"likelihood": None}).get_json()
    assert (cleared["likelihood"], cleared["impact"], cleared["score"], cleared["band"]) == (
        None, 3, None, None)
    events = _rated_events(client, team)
    assert [e["actor_id"] for e in events] == [team.editor["id"]] * 2
    assert events[1]["target_id"] == str(entry["id"])
    assert events[1]["details"] == {"project_id": team.id, "changes": {
        "likelihood": {"from": None, "to": 4}, "impact": {"from": None, "to": 3},
        "score": {"from": None, "to": 12}, "band": {"from": None, "to": "high"}}}
    assert events[0]["details"]["changes"]["score"] == {"from": 12, "to": None}
    # the rating is its own event: risk_updated holds the notes alone
    updated = client.get("/api/v1/admin/audit-events", query_string={"event": "risk_updated"},
                         headers=team.admin_h).get_json()["items"]
    assert [list(e["details"]["changes"]) for e in updated] == [["notes"]]


def test_a_level_that_is_no_integer_from_1_to_5_is_422_and_changes_nothing(team, client):
    entry = _risks(client, team)[0]
    for name in ("likelihood", "impact"):
        for value in (0, 6, -1, 2.5, 3.0, "3", "", True, [3], {"v": 3}, 2**63):
            response = _patch(client, team, entry["id"], {name: value, "notes": "not kept"})
            body = assert_problem(response, 422, name)
            assert list(body["errors"]) == [name], (name, value)
    assert client.get(f"/api/v1/projects/{team.id}/risks/{entry['id']}",
                      headers=team.owner_h).get_json() == entry
    assert _rated_events(client, team) == []


def test_a_viewer_may_not_rate_and_anothers_risk_is_the_404_of_a_missing_one(
        team, client, keyword_app):
    entry = _risks(client, team)[0]
    refused = _patch(client, team, entry["id"], {"likelihood": 5}, headers=team.viewer_h)
    assert assert_problem(refused, 403)["detail"] == (
        "Your role in this project is viewer: it may not change it (that takes editor).")
    same_404(_patch(client, team, entry["id"], {"likelihood": 5}, headers=team.outsider_h),
             client.patch(f"/api/v1/projects/{MISSING}/risks/{entry['id']}",
                          json={"likelihood": 5}, headers=team.outsider_h))
    other = client.post("/api/v1/projects", json={"name": "Other"},
                        headers=team.owner_h).get_json()["id"]
    scan_into(client, team.owner_h, other, WEEK_1)
    theirs = register_of(client, team.owner_h, other)[0]
    same_404(_patch(client, team, theirs["id"], {"impact": 5}, headers=team.owner_h),
             _patch(client, team, 999999, {"impact": 5}, headers=team.owner_h))
    assert register_of(client, team.owner_h, other)[0] == theirs
    assert _rated_events(client, team) == []
    with keyword_app.app_context():
        from service.extensions import db

        assert db.session.get(RegisterEntry, entry["id"]).likelihood is None


def test_racing_ratings_change_it_once_and_audit_it_once(team, client, keyword_app):
    """Each request reads the entry again under the register's lock: the first one rates
    it, the others find it rated already and record nothing."""
    entry = _risks(client, team)[0]
    responses = at_once(keyword_app, "PATCH", f"/api/v1/projects/{team.id}/risks/{entry['id']}",
                        parallel=6, headers=team.editor_h, json={"likelihood": 2, "impact": 5})
    assert [r.status_code for r in responses] == [200] * 6
    assert {r.get_json()["score"] for r in responses} == {10}
    events = _rated_events(client, team)
    assert len(events) == 1
    assert events[0]["details"]["changes"]["score"] == {"from": None, "to": 10}


def test_racing_levels_of_one_entry_keep_both_and_audit_each(team, client, keyword_app,
                                                              monkeypatch):
    """A likelihood and an impact sent at once: the second request rates from what the
    first left (read again under the lock), so the entry ends rated 2 × 5 = 10, and the
    two audit events are the first level alone, then the second onto it. A request that
    rated from its own earlier read would audit a score that never was. Both have read the
    entry before either takes the register's lock (a barrier there)."""
    entry = _risks(client, team)[0]
    path = f"/api/v1/projects/{team.id}/risks/{entry['id']}"
    both_read = threading.Barrier(2, timeout=RACE_TIMEOUT_S)
    lock = entries.lock

    def lock_once_both_read(*args, **kwargs):  # each has read the entry before either locks
        both_read.wait()
        return lock(*args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(entries, "lock", lock_once_both_read)
        answers = together(keyword_app, ("PATCH", path, team.editor_h, {"likelihood": 2}),
                           ("PATCH", path, team.owner_h, {"impact": 5}))
    assert [a.status_code for a in answers] == [200, 200], [a.get_json() for a in answers]
    stored = client.get(path, headers=team.viewer_h).get_json()
    assert {k: stored[k] for k in ("likelihood", "impact", "score", "band")} == {
        "likelihood": 2, "impact": 5, "score": 10, "band": "high"}

    second, first = _rated_events(client, team)  # newest first
    actors = {team.editor["id"]: "likelihood", team.owner["id"]: "impact"}
    first_level, second_level = actors[first["actor_id"]], actors[second["actor_id"]]
    assert {first_level, second_level} == {"likelihood", "impact"}
    answered = dict(zip(("likelihood", "impact"), answers, strict=True))
    assert answered[second_level].get_json()["score"] == 10  # the first's may read either
    levels = {"likelihood": 2, "impact": 5}
    assert first["details"]["changes"] == {
        first_level: {"from": None, "to": levels[first_level]},
        second_level: {"from": None, "to": None},
        "score": {"from": None, "to": None}, "band": {"from": None, "to": None}}
    assert second["details"]["changes"] == {
        first_level: {"from": levels[first_level], "to": levels[first_level]},
        second_level: {"from": None, "to": levels[second_level]},
        "score": {"from": None, "to": 10}, "band": {"from": None, "to": "high"}}


def test_the_listing_filters_and_sorts_by_rating(team, client):
    budget_1, vendor_1, budget_2, vendor_2 = _risks(client, team)
    for entry, levels in ((budget_1, (5, 4)), (vendor_1, (2, 2)), (budget_2, (3, None))):
        assert _patch(client, team, entry["id"], dict(zip(("likelihood", "impact"), levels,
                                                          strict=True))).status_code == 200

    def ids(**args):
        return [e["id"] for e in register_of(client, team.owner_h, team.id, **args)]

    assert sorted(ids(min_score=4)) == sorted([budget_1["id"], vendor_1["id"]])
    assert ids(min_score=5) == [budget_1["id"]]
    assert ids(min_score=25) == []
    assert sorted(ids(rated="false")) == sorted([budget_2["id"], vendor_2["id"]])  # half-rated
    assert sorted(ids(rated="true")) == sorted([budget_1["id"], vendor_1["id"]])
    assert ids(likelihood=5, impact=4) == [budget_1["id"]]
    assert ids(likelihood=3) == [budget_2["id"]]
    assert ids(sort="-score") == [budget_1["id"], vendor_1["id"], vendor_2["id"],
                                  budget_2["id"]]  # unrated last, then by id descending
    assert ids(sort="score")[2:] == [vendor_1["id"], budget_1["id"]]
    page = client.get(f"/api/v1/projects/{team.id}/risks", headers=team.owner_h,
                      query_string={"min_score": 4, "per_page": 1}).get_json()
    assert page["total"] == 2
    for bad in ({"min_score": 0}, {"min_score": 26}, {"min_score": "2.5"},
                {"rated": "yes"}, {"rated": "1"}, {"likelihood": 6}, {"impact": 0},
                {"likelihood": "high"}, {"sort": "band"}):
        response = client.get(f"/api/v1/projects/{team.id}/risks", query_string=bad,
                              headers=team.owner_h)
        assert list(assert_problem(response, 422, *bad)["errors"]) == list(bad)


def test_the_export_filters_by_rating_too(team, client):
    entry = _risks(client, team)[0]
    _patch(client, team, entry["id"], {"likelihood": 1, "impact": 1})
    response = client.get(f"/api/v1/projects/{team.id}/risks/export",
                          query_string={"rated": "true"}, headers=team.viewer_h)
    lines = response.get_data(as_text=True).strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith(f"{entry['id']},")
    assert lines[1].split(",")[-10:-6] == ["1", "1", "1", "low"]


def test_the_matrix_counts_entries_not_closed_per_cell_and_the_unrated_beside(team, client):
    budget_1, vendor_1, budget_2, vendor_2 = _risks(client, team)
    _patch(client, team, budget_1["id"], {"likelihood": 5, "impact": 4})
    _patch(client, team, vendor_1["id"], {"likelihood": 5, "impact": 4})
    _patch(client, team, budget_2["id"], {"likelihood": 1, "impact": 2, "status": "closed"})
    _patch(client, team, vendor_2["id"], {"likelihood": 4})  # half-rated: unrated
    url = f"/api/v1/projects/{team.id}/matrix"
    matrix = client.get(url, headers=team.viewer_h)
    assert matrix.status_code == 200
    body = matrix.get_json()
    assert [(c["likelihood"], c["impact"]) for c in body["cells"]] == [
        (likelihood, impact) for likelihood in (5, 4, 3, 2, 1) for impact in (1, 2, 3, 4, 5)]
    full = {(c["likelihood"], c["impact"]): c for c in body["cells"] if c["count"]}
    assert full == {(5, 4): {"likelihood": 5, "impact": 4, "score": 20, "band": "critical",
                             "count": 2, "risk_ids": [budget_1["id"], vendor_1["id"]]}}
    assert body["unrated"] == {"count": 1, "risk_ids": [vendor_2["id"]]}  # closed: not counted
    assert (body["status"], body["statuses"]) == ("active", ["open", "mitigating", "accepted"])
    assert body["scale"]["likelihood"][0] == {"value": 1, "label": "Rare"}
    assert body["scale"]["impact"][4] == {"value": 5, "label": "Severe"}
    assert body["scale"]["bands"][3] == {"band": "critical", "min_score": 15, "max_score": 25}
    # a critical risk being mitigated, or accepted, is still on the map; closed, it leaves
    def cell(**query):
        body = client.get(url, query_string=query, headers=team.viewer_h).get_json()
        return next(c["risk_ids"] for c in body["cells"]
                    if (c["likelihood"], c["impact"]) == (5, 4))

    _patch(client, team, vendor_1["id"], {"status": "mitigating"})
    _patch(client, team, budget_1["id"], {"status": "accepted"})
    assert cell() == [budget_1["id"], vendor_1["id"]]
    assert cell(status="mitigating") == [vendor_1["id"]]  # narrowed to one status
    assert cell(status="open") == []
    _patch(client, team, budget_1["id"], {"status": "closed"})
    assert cell() == [vendor_1["id"]] and cell(status="closed") == [budget_1["id"]]
    # each cell's ids are the listing's filter of it
    assert [e["id"] for e in register_of(client, team.owner_h, team.id, status="active",
                                         likelihood=5, impact=4)] == [vendor_1["id"]]
    for bad in ("opened", "", "active,closed", "x" * 5000):
        assert list(assert_problem(client.get(url, query_string={"status": bad},
                                              headers=team.viewer_h), 422)["errors"]) == [
            "status"]
    same_404(client.get(url, headers=team.outsider_h),
             client.get(f"/api/v1/projects/{MISSING}/matrix", headers=team.outsider_h))
    assert_problem(client.get(url), 401)


def test_an_empty_project_has_an_empty_matrix(team, client):
    body = client.get(f"/api/v1/projects/{team.id}/matrix", headers=team.owner_h).get_json()
    assert len(body["cells"]) == 25 and not any(c["count"] for c in body["cells"])
    assert body["unrated"] == {"count": 0, "risk_ids": []}


def test_the_trend_counts_by_rating_band(team, client):
    budget_1, vendor_1, _, _ = _risks(client, team)
    _patch(client, team, budget_1["id"], {"likelihood": 5, "impact": 5})
    _patch(client, team, vendor_1["id"], {"likelihood": 1, "impact": 2})
    url = f"/api/v1/projects/{team.id}/trend"
    trend = client.get(url, query_string={"by": "band"}, headers=team.viewer_h).get_json()
    assert trend["weeks"][-1]["open"] == {"critical": 1, "low": 1, "unrated": 2}
    assert [s["stated"] for s in trend["scans"]] == [
        {"critical": 1, "low": 1}, {"critical": 1, "low": 1, "unrated": 2}]
    by_category = client.get(url, headers=team.viewer_h).get_json()
    assert by_category["weeks"][-1]["open"] == {"budget": 2, "vendor": 2}
    assert list(assert_problem(client.get(url, query_string={"by": "score"},
                                          headers=team.viewer_h), 422, "by")["errors"]) == ["by"]


def test_a_deployment_names_the_levels_in_its_own_words(make_app):
    app = make_app(RISK_LIKELIHOOD_LABELS=("Seltenst", "Selten", "Möglich", "Wahrscheinlich",
                                           "Fast sicher"))
    client = app.test_client()
    team = Team(app, client)
    body = client.get(f"/api/v1/projects/{team.id}/matrix", headers=team.owner_h).get_json()
    assert [level["label"] for level in body["scale"]["likelihood"]] == [
        "Seltenst", "Selten", "Möglich", "Wahrscheinlich", "Fast sicher"]
    assert body["scale"]["impact"][0]["label"] == "Negligible"


@pytest.mark.parametrize("value", ["a,b,c,d", "a,b,c,d,e,f", "a,,c,d,e", "a,b,c,d," + "e" * 41])
def test_labels_that_are_not_five_short_words_stop_the_start(value):
    with pytest.raises(ConfigError, match="RISK_IMPACT_LABELS"):
        Settings.from_env({"RISK_IMPACT_LABELS": value, "RISKSCAN_ENV": "development"})
    assert Settings.from_env({"RISK_IMPACT_LABELS": " 1, 2 ,3,4,5",
                              "RISKSCAN_ENV": "development"}).RISK_IMPACT_LABELS == (
        "1", "2", "3", "4", "5")
