"""Suggested restatements in the console (issue #85 item 1), driven as a browser would: week
2's risk read under another category is offered on Changes ("1 new, 1 may restate known
risks") and on its page, with both wordings; "Same risk: merge" merges it into the known,
closed risk in one click and reopens it; "Not the same" is never offered again; a viewer
reads the suggestions with no control. Every decision goes through the API as the signed-in
user: what is checked is what the API then stores.
"""

from __future__ import annotations

import html

import pytest

from tests.console_browser import Browser, flashes, form
from tests.curating import ACCEPTANCE as UAT
from tests.curating import ACCEPTANCE_AGAIN as UAT_AGAIN
from tests.curating import SUGGESTED_WEEK_1 as WEEK_1
from tests.curating import SUGGESTED_WEEK_2 as WEEK_2
from tests.projects import register_of, scan_into


@pytest.fixture
def people(team, keyword_app):
    return {who: Browser(keyword_app, getattr(team, who)["email"])
            for who in ("editor", "viewer")}


@pytest.fixture
def weeks(team):
    """Week 1's UAT slip, closed; week 2 restates it under another category."""
    scan_into(team.client, team.editor_h, team.id, WEEK_1[0], reported_on=WEEK_1[1])
    uat = next(e for e in register_of(team.client, team.owner_h, team.id) if e["risk"] == UAT)
    closed = team.client.patch(f"/api/v1/projects/{team.id}/risks/{uat['id']}",
                               json={"status": "closed"}, headers=team.editor_h)
    assert closed.status_code == 200
    scan_into(team.client, team.editor_h, team.id, WEEK_2[0], reported_on=WEEK_2[1])
    new = next(e for e in register_of(team.client, team.owner_h, team.id)
               if e["risk"] == UAT_AGAIN)
    return uat, new


def test_changes_offers_the_known_risk_and_one_click_merges_and_reopens_it(team, people, weeks):
    uat, new = weeks
    editor, changes = people["editor"], f"/app/projects/{team.id}/changes"
    page = editor.page(changes)
    assert "1 new, 1 may restate known risks." in page
    assert f"“{UAT}”" in html.unescape(page) and f"“{UAT_AGAIN}”" in html.unescape(page)
    action = f"/app/projects/{team.id}/risks/{new['id']}/suggestions/{uat['id']}"
    merge = form(page, action)
    response = editor.post_form(changes, action, merge.data(decision="merge"), follow=True)
    said = " ".join(flashes(response.get_data(as_text=True)))
    assert f"Risk {new['id']} merged into risk {uat['id']}" in said and "reopened" in said
    kept = team.client.get(f"/api/v1/projects/{team.id}/risks/{uat['id']}",
                           headers=team.viewer_h).get_json()
    assert (kept["status"], kept["reopened"], kept["occurrences"]) == ("open", True, 2)


def test_not_the_same_on_the_risks_page_is_never_offered_again(team, people, weeks):
    uat, new = weeks
    editor, here = people["editor"], f"/app/projects/{team.id}/risks/{new['id']}"
    page = editor.page(here)
    assert "May restate" in page and f"Risk {uat['id']}:" in page
    assert "% alike; in the report before)" in page  # week 1 is the report before week 2
    action = f"/app/projects/{team.id}/risks/{new['id']}/suggestions/{uat['id']}"
    response = editor.post_form(here, action, form(page, action).data(decision="dismiss"))
    page = response.get_data(as_text=True)
    assert f"Risks {new['id']} and {uat['id']} are not the same: never suggested again." in \
        flashes(page)
    assert "May restate" not in page
    assert len(register_of(team.client, team.owner_h, team.id)) == 3  # nothing merged


def test_a_viewer_reads_the_suggestions_and_cannot_decide(team, people, weeks):
    uat, new = weeks
    viewer = people["viewer"]
    page = viewer.page(f"/app/projects/{team.id}/risks/{new['id']}")
    assert "May restate" in page and f"Risk {uat['id']}:" in page
    assert "% alike; in the report before)" in page  # week 1 is the report before week 2
    assert "Same risk: merge" not in page
    action = f"/app/projects/{team.id}/risks/{new['id']}/suggestions/{uat['id']}"
    forged = viewer.post_form(f"/app/projects/{team.id}/changes", action,
                              {"decision": "merge"}, follow=False)
    assert forged.status_code == 403
    assert len(register_of(team.client, team.owner_h, team.id)) == 3


def test_a_report_that_says_a_risk_is_closed_offers_the_close_on_changes(team, people):
    shared = "The shared admin password in staging is known to everyone on the team."
    closed = ("The shared admin password in staging has been replaced by a vault-managed "
              "credential and we have closed that risk.")
    scan_into(team.client, team.editor_h, team.id, shared, reported_on="2026-03-06")
    scan_into(team.client, team.editor_h, team.id, closed, reported_on="2026-03-13")
    [risk] = register_of(team.client, team.owner_h, team.id)
    editor, changes = people["editor"], f"/app/projects/{team.id}/changes"
    page = editor.page(changes)
    assert "This report says it is closed: close it?" in page
    action = f"/app/projects/{team.id}/risks/{risk['id']}/close"
    response = editor.post_form(changes, action, form(page, action).data())
    assert f"Risk {risk['id']} closed, as its latest report says." in flashes(
        response.get_data(as_text=True))
    stored = register_of(team.client, team.owner_h, team.id)[0]
    assert (stored["status"], stored["risk"]) == ("closed", shared)
    assert "close it?" not in editor.page(changes)
    viewer = people["viewer"].page(f"/app/projects/{team.id}/risks/{risk['id']}")
    assert "Close risk" not in viewer
