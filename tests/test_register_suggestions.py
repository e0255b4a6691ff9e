"""The register proposes, the PM decides (issue #85, service/projects/register/suggestions.py): a risk
the model read under another category opens an entry of its own, and the register offers
the known risk it may restate, across categories; one click merges it into the known one,
reopened when it was closed; "not the same" is never offered again, and both decisions are
pairs for the matching. Findings come from the keyword stand-in (tests/scanning.py), matched
and compared by the real sentence encoder.
"""

from __future__ import annotations

import json

import pytest

from tests.curating import ACCEPTANCE as UAT
from tests.curating import ACCEPTANCE_AGAIN as UAT_AGAIN
from tests.curating import SUGGESTED_WEEK_1 as WEEK_1
from tests.curating import SUGGESTED_WEEK_2 as WEEK_2
from tests.curating import VAULT_ALONE as VAULT
from tests.curating import audited, by_wording
from tests.projects import register_of, scan_into
from tests.scanning import statements_run


def risks(team) -> str:
    return f"/api/v1/projects/{team.id}/risks"


def two_weeks(team, *, close_first=False) -> tuple[dict, dict, dict]:
    """(the UAT entry, the vault's, week 2's new entry), the UAT entry closed in between
    when ``close_first``."""
    client = team.client
    scan_into(client, team.editor_h, team.id, WEEK_1[0], reported_on=WEEK_1[1])
    entries = register_of(client, team.owner_h, team.id)
    uat, vault = by_wording(entries, UAT), by_wording(entries, VAULT)
    if close_first:
        closed = client.patch(f"{risks(team)}/{uat['id']}", json={"status": "closed"},
                              headers=team.editor_h)
        assert closed.status_code == 200, closed.get_json()
    scan_into(client, team.editor_h, team.id, WEEK_2[0], reported_on=WEEK_2[1])
    new = by_wording(register_of(client, team.owner_h, team.id), UAT_AGAIN)
    assert (uat["category"], new["category"]) == ("schedule", "vendor")
    return uat, vault, new


def suggestions(team, risk_id, headers=None) -> list[dict]:
    response = team.client.get(f"{risks(team)}/{risk_id}/suggestions",
                               headers=headers or team.viewer_h)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def test_a_restatement_read_under_another_category_is_suggested_with_both_wordings(team):
    uat, _, new = two_weeks(team)
    offered = suggestions(team, new["id"])
    assert 1 <= len(offered) <= 3
    first = offered[0]
    assert (first["risk_id"], first["title"], first["category"], first["status"]) == (
        uat["id"], UAT, "schedule", "open")
    assert first["wording"] == UAT_AGAIN and 0.5 <= first["alike"] <= 1
    assert first["previous_report"] is True  # week 1 is the report before week 2
    # Changes says it too: week 2's new risk may restate the known one.
    changed = team.client.get(f"/api/v1/projects/{team.id}/changes", headers=team.viewer_h)
    body = changed.get_json()
    assert [e["id"] for e in body["new"]] == [new["id"]]
    assert body["suggested"][str(new["id"])][0]["risk_id"] == uat["id"]


def test_one_click_merges_it_into_the_known_risk_and_reopens_it(team):
    uat, _, new = two_weeks(team, close_first=True)
    response = team.client.post(f"{risks(team)}/{new['id']}/suggestions/{uat['id']}/merge",
                                headers=team.editor_h)
    assert response.status_code == 200, response.get_json()
    kept = response.get_json()
    # The known risk stays with its id and category, holds both findings, and is open again:
    # week 2's report is dated after it was closed.
    assert (kept["id"], kept["category"], kept["status"], kept["reopened"]) == (
        uat["id"], "schedule", "open", True)
    assert kept["occurrences"] == 2 and kept["risk"] == UAT_AGAIN
    gone = team.client.get(f"{risks(team)}/{new['id']}", headers=team.viewer_h)
    assert gone.status_code == 301 and gone.headers["Location"].endswith(f"/risks/{uat['id']}")
    assert [e["merged"] for e in (event.details for event in audited(team.client.application,
                                                                       "risk_merged"))] == [
        [new["id"]]]
    # A suggestion's merge is a merge: the pair no longer offers anything.
    assert all(item["risk_id"] != new["id"] for item in suggestions(team, uat["id"]))


def test_not_the_same_is_never_suggested_again(team):
    uat, _, new = two_weeks(team)
    path = f"{risks(team)}/{new['id']}/suggestions/{uat['id']}/dismiss"
    response = team.client.post(path, headers=team.editor_h)
    assert response.status_code == 200 and response.get_json() == {"dismissed": True}
    assert uat["id"] not in [item["risk_id"] for item in suggestions(team, new["id"])]
    assert new["id"] not in [item["risk_id"] for item in suggestions(team, uat["id"])]
    again = team.client.post(f"{risks(team)}/{uat['id']}/suggestions/{new['id']}/dismiss",
                             headers=team.owner_h)
    assert again.get_json() == {"dismissed": False}  # said already, in either order
    [event] = audited(team.client.application, "risk_suggestion_dismissed")
    assert event.details["other"] == uat["id"]
    assert event.details["wordings"] == {str(new["id"]): UAT_AGAIN, str(uat["id"]): UAT}
    # Both entries stay as they were.
    entries = register_of(team.client, team.owner_h, team.id)
    assert {e["id"] for e in entries} >= {uat["id"], new["id"]}


def test_who_may_decide_and_what_is_refused(team):
    uat, vault, new = two_weeks(team)
    client = team.client
    merge = f"{risks(team)}/{new['id']}/suggestions/{uat['id']}/merge"
    dismiss = f"{risks(team)}/{new['id']}/suggestions/{uat['id']}/dismiss"
    for path in (merge, dismiss):
        assert client.post(path).status_code == 401
        assert client.post(path, headers=team.viewer_h).status_code == 403
        assert client.post(path, headers=team.outsider_h).status_code == 404
    assert client.get(f"{risks(team)}/{new['id']}/suggestions",
                      headers=team.outsider_h).status_code == 404
    assert client.get(f"{risks(team)}/{new['id']}/suggestions").status_code == 401
    itself = client.post(f"{risks(team)}/{new['id']}/suggestions/{new['id']}/dismiss",
                         headers=team.editor_h)
    assert itself.status_code == 422
    for other in ("999999", "x", "1e3", "-1", "9" * 40):
        answer = client.post(f"{risks(team)}/{new['id']}/suggestions/{other}/merge",
                             headers=team.editor_h)
        assert answer.status_code == 404, other
    # Another project's risk is no risk of this one.
    other_project = client.post("/api/v1/projects", json={"name": "Other"},
                                headers=team.outsider_h).get_json()
    scan_into(client, team.outsider_h, other_project["id"], UAT)
    theirs = register_of(client, team.outsider_h, other_project["id"])[0]
    answer = client.post(f"{risks(team)}/{new['id']}/suggestions/{theirs['id']}/merge",
                         headers=team.editor_h)
    assert answer.status_code == 404
    assert theirs["id"] not in [item["risk_id"] for item in suggestions(team, new["id"])]
    # Merged once, the pair cannot be merged or dismissed again: 409.
    assert client.post(merge, headers=team.editor_h).status_code == 200
    assert client.post(merge, headers=team.editor_h).status_code == 409
    assert client.post(dismiss, headers=team.editor_h).status_code == 409
    # Nothing was merged for the refused calls: the vault is untouched.
    assert by_wording(register_of(client, team.owner_h, team.id), VAULT)["id"] == vault["id"]


def test_a_reviewers_not_the_same_is_a_pair_for_the_matching(team, keyword_app, tmp_path):
    """Trusted as a merge is: a reviewer's "not the same" is exported by `flask
    export-register-pairs` as the two wordings they read, `different`."""
    promoted = team.client.patch(f"/api/v1/users/{team.editor['id']}",
                                 json={"role": "reviewer"}, headers=team.admin_h)
    assert promoted.status_code == 200, promoted.get_json()
    uat, _, new = two_weeks(team)
    response = team.client.post(f"{risks(team)}/{new['id']}/suggestions/{uat['id']}/dismiss",
                                headers=team.editor_h)
    assert response.status_code == 200, response.get_json()
    out = tmp_path / "pairs.jsonl"
    result = keyword_app.test_cli_runner().invoke(
        args=["export-register-pairs", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] == [
        {"a": UAT_AGAIN, "b": UAT, "relation": "different", "source": "not same",
         "project": team.id}]


# Week 3's new vendor risk, and two known risks only partly like it (cosines 0.50 and 0.37).
SHIPPING = "The vendor has not confirmed when the replacement servers will ship."
SERVER_BUDGET = "The budget for the server upgrade is not yet approved."
SLOW_VENDOR = "The vendor support team answers tickets slowly."


def third_week(team, second: str) -> dict:
    """Week 1 states SERVER_BUDGET and SLOW_VENDOR, week 2 ``second``, week 3 SHIPPING: the
    suggestions of week 3's new entry."""
    for text, day in ((f"{SERVER_BUDGET} {SLOW_VENDOR}", "2026-03-06"),
                      (second, "2026-03-13"), (SHIPPING, "2026-03-20")):
        scan_into(team.client, team.editor_h, team.id, text, reported_on=day)
    new = by_wording(register_of(team.client, team.owner_h, team.id), SHIPPING)
    return {item["title"]: item for item in suggestions(team, new["id"])}


def test_a_known_risk_of_the_same_category_is_offered_where_another_is_not(team):
    """Neither known risk was in the report before; the vendor risk, as alike as 0.37, is
    offered for its category, the budget risk, 0.50 alike, is not."""
    offered = third_week(team, VAULT)
    assert list(offered) == [SLOW_VENDOR]
    assert offered[SLOW_VENDOR]["previous_report"] is False
    assert offered[SLOW_VENDOR]["alike"] < 0.45


def test_a_known_risk_stated_in_the_report_before_is_offered_across_categories(team):
    """Week 2 states the budget risk again: in week 3 it is offered, said to be of the
    report before, and first (it is the more alike of the two)."""
    offered = third_week(team, SERVER_BUDGET)
    assert list(offered) == [SERVER_BUDGET, SLOW_VENDOR]
    assert (offered[SERVER_BUDGET]["category"], offered[SERVER_BUDGET]["previous_report"]) == (
        "budget", True)
    assert offered[SLOW_VENDOR]["previous_report"] is False


def test_the_ranking_is_the_one_chosen_on_real_restatements(capsys):
    """suggestions' FLOOR, SAME and RECENT are what `python -m ml.suggested` chooses on the
    dev projects of the real restatement pairs; the held-out projects' restatements are in
    the top three at least 80% of the time (the issue's target), and a risk that restates
    nothing is offered fewer than the cosine alone offered it."""
    from ml import suggested
    from service.projects.register import suggestions as shipped

    assert suggested.main([]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert (figures["floor"], figures["same"], figures["recent"], figures["most"]) == (
        shipped.FLOOR, shipped.SAME, shipped.RECENT, shipped.MOST)
    assert figures["test"]["at floor"]["recall@3"] >= 0.8
    assert (figures["test"]["at floor"]["offered to new risks"]
            < figures["cosine alone"]["test"]["offered to new risks"])


def test_suggestions_read_from_the_last_scans_directions_are_those_the_database_gives(
        team, keyword_app, monkeypatch):
    """A report's suggestions rank the register's directions from this process's snapshot
    when it is of the register's version (the last scan's), the rest from the database:
    the same answer as reading every row, and a stale snapshot is never used."""
    from service.projects.register import direction_snapshots

    _, _, new = two_weeks(team)
    used = []
    latest = direction_snapshots.latest
    monkeypatch.setattr(direction_snapshots, "latest",
                        lambda *args: used.append(latest(*args)) or used[-1])

    from_snapshot = suggestions(team, new["id"])
    with keyword_app.app_context():  # this process forgets its directions: all are read
        keyword_app.extensions[direction_snapshots.KEPT].clear()
    from_database = suggestions(team, new["id"])

    assert used[0] is not None and used[1] is None  # each path was taken once
    assert from_snapshot == from_database and from_snapshot
    assert from_snapshot[0]["title"] == UAT


def test_after_a_scan_the_suggestions_read_no_direction_from_the_database(team, keyword_app):
    """The last scan's snapshot holds every category, those of no entry too, so a report's
    suggestions rank from it alone: no read of the register's vectors (at 10,000 entries,
    even a read that finds none walks the project's index)."""
    _, _, new = two_weeks(team)
    with statements_run(keyword_app) as read:
        offered = suggestions(team, new["id"])
    assert offered and offered[0]["title"] == UAT
    assert read and not [s for s in read if "register_vectors" in s]


def test_the_whole_array_ranking_is_the_closest_pair_of_wordings_entry_by_entry():
    """suggestions._closest, on parts as the register holds them (entries of several
    wordings, adjacent rows, parts of different sizes), gives for each asked entry every
    entry's closest pair of wordings: the same figures as comparing them one by one."""
    import numpy as np

    from service.projects.register import direction_snapshots, suggestions

    rng = np.random.default_rng(85)
    parts, wordings, kind = [], {}, {}
    next_id = 1
    for part, size in enumerate((7, 1, 12)):
        owners, rows = [], []
        for _ in range(size):
            count = int(rng.integers(1, 4))
            directions = rng.standard_normal((count, 16)).astype(np.float32)
            directions /= np.linalg.norm(directions, axis=1, keepdims=True)
            wordings[next_id] = directions
            kind[next_id] = part if part < 2 else next_id % 3  # the last: entries' own
            owners += [next_id] * count
            rows.append(directions)
            next_id += 1
        owner = np.asarray(owners)
        starts = direction_snapshots.first_rows(owner)
        # As a snapshot's category holds them (one code), or the database's rows (a code each).
        code = (np.asarray(part) if part < 2
                else np.asarray([kind[key] for key in owner[starts].tolist()]))
        parts.append(suggestions.Part(owner, starts, np.vstack(rows), code))
    asked = [3, 8, 15, 999]  # one in each part, and one the register does not hold

    keys, categories, alike = suggestions._closest(parts, asked)

    assert sorted(keys.tolist()) == sorted(wordings)
    assert {int(key): int(category) for key, category in zip(keys, categories)} == kind
    for column, entry_id in enumerate(asked):
        for row, key in enumerate(keys.tolist()):
            expected = (float((wordings[key] @ wordings[entry_id].T).max())
                        if entry_id in wordings else -np.inf)
            assert alike[row, column] == pytest.approx(expected, abs=1e-6), (entry_id, key)
