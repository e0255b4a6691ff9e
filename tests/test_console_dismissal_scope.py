"""The console's dismissal forms as each member's browser posts them (issue #61): the scope
chosen in the category select, the register page's list of dismissals, and who may lift
one. Chromium drives the same pages in tests/e2e/test_console_dismissals.py."""

from __future__ import annotations

import html
import re

import pytest

from tests.console_browser import Browser, csrf_token, error_page, flashes, said_at, text_of
from tests.dismissals import BOILERPLATE, WEEK_1, dismissals_of
from tests.projects import scan_into


@pytest.fixture
def people(team, keyword_app):
    """The team's owner, editor, viewer and outsider, each at their own browser."""
    return {who: Browser(keyword_app, getattr(team, who)["email"])
            for who in ("owner", "editor", "viewer", "outsider")}


def correct_form(browser, scan: dict, risk: str, data: dict, **kwargs):
    finding = next(f for f in scan["data"] if f["risk"] == risk)
    return browser.post_form(f"/app/scans/{scan['scan_id']}",
                             f"/app/scans/{scan['scan_id']}/findings/{finding['id']}",
                             data, **kwargs)


def test_the_select_says_the_scope_and_the_register_lists_what_viewers_may_not_lift(
        team, people, keyword_app):
    scan = scan_into(team.client, team.owner_h, team.id, WEEK_1)
    page = text_of(correct_form(people["owner"], scan, BOILERPLATE,
                                {"category": "none:later", "scoped": "1"}))
    finding = next(f for f in scan["data"] if f["risk"] == BOILERPLATE)
    assert flashes(page) == [] and said_at(page, f"finding-{finding['id']}") == [  # beside it
        (f"Saved: “{BOILERPLATE}” is not a risk, in this report and later ones (the model "
         "said vendor).")]
    assert '<option value="none:later" selected>' in page
    (dismissal,) = dismissals_of(team.client, team.owner_h, team.id)

    register = f"/app/projects/{team.id}"
    viewer_page = html.unescape(re.sub(r"<(?!/?section|[^>]*id=)[^>]+>", "",
                                       people["viewer"].page(register)))
    listed = viewer_page[viewer_page.index('id="dismissals"'):]
    assert f"“{BOILERPLATE}”" in listed
    assert f"Dismissed by {team.owner['email']} on {dismissal['created_at'][:10]}" in listed
    assert "0 later findings hidden" in listed
    lift = f"/app/projects/{team.id}/dismissals/{dismissal['id']}/restore"
    assert lift not in people["viewer"].page(register)  # no "Lift" for a viewer
    refused = people["viewer"].post_form(register, lift, {"risk": BOILERPLATE})
    assert "viewer" in error_page(refused, 403)
    outsider = people["outsider"]
    error_page(outsider.get(register), 404)
    error_page(outsider.post_form("/app/projects", lift, {"risk": BOILERPLATE}), 404)
    assert len(dismissals_of(team.client, team.owner_h, team.id)) == 1

    owner_page = people["owner"].page(register)
    assert lift in owner_page
    assert "Lift<span class=\"visually-hidden\"> the dismissal of:" in owner_page
    page = text_of(people["editor"].post_form(register, lift, {"risk": BOILERPLATE}))
    [said] = said_at(page, "dismissals")  # beside the list the page lands at
    assert flashes(page) == [] and said.startswith(f"Dismissal of “{BOILERPLATE}” lifted")
    assert "None: no dismissal keeps later findings out" in page
    assert dismissals_of(team.client, team.owner_h, team.id) == []


def test_this_report_only_chosen_again_lifts_and_a_bad_scope_is_said_in_words(
        team, people, keyword_app):
    scan = scan_into(team.client, team.owner_h, team.id, WEEK_1)
    owner = people["owner"]
    correct_form(owner, scan, BOILERPLATE, {"category": "none:later", "scoped": "1"})
    assert len(dismissals_of(team.client, team.owner_h, team.id)) == 1
    # Review's "not a risk" (no `scoped`) keeps the scope; the scan page's select lifts it.
    correct_form(owner, scan, BOILERPLATE, {"category": "none"})
    assert len(dismissals_of(team.client, team.owner_h, team.id)) == 1
    page = text_of(correct_form(owner, scan, BOILERPLATE, {"category": "none", "scoped": "1"}))
    finding = next(f for f in scan["data"] if f["risk"] == BOILERPLATE)
    assert any("is not a risk, in this report only" in said
               for said in said_at(page, f"finding-{finding['id']}"))
    assert dismissals_of(team.client, team.owner_h, team.id) == []

    token_page = owner.client.get(f"/app/scans/{scan['scan_id']}").get_data(as_text=True)
    answer = owner.client.post(
        f"/app/scans/{scan['scan_id']}/findings/{finding['id']}",
        data={"category": "none:forever", "scoped": "1", "csrf_token": csrf_token(token_page)},
        headers={"Accept": "application/json"})
    assert answer.status_code == 422
    assert "scope is report (this report only) or later" in answer.get_json()["detail"]
