"""The register page's weekly work (issue #51 items 5 and 6, issue #74 item 5), driven as a
browser would: a row's status, rating, owner and due date saved with its one form, status,
owner and rating set on several entries at once, a risk added by hand, the heat map's links
landing on the list, and a viewer's page with none of it.

Every change goes through the API as the signed-in user, so what is checked here is what
the API then stores (read back through the API) and what the page says about it.
"""

from __future__ import annotations

import html
import re

import pytest

from tests.console_browser import (
    WEEK_1,
    WEEK_2,
    Browser,
    console_scan,
    csrf_token,
    error_page,
    flashes,
    form,
    form_of,
    rows_of,
    said_in,
    text_of,
)
from tests.projects import make_project, register_of, scan_into


@pytest.fixture
def people(team, keyword_app):
    return {who: Browser(keyword_app, getattr(team, who)["email"])
            for who in ("owner", "editor", "viewer")}


@pytest.fixture
def reported(team, people):
    """Two weekly reports scanned into the team's project: budget, schedule, vendor."""
    console_scan(people["owner"], team.id, WEEK_1)
    console_scan(people["editor"], team.id, WEEK_2)
    return {e["category"]: e for e in register_of(team.client, team.owner_h, team.id)}


def stored(team, risk_id: int) -> dict:
    response = team.client.get(f"/api/v1/projects/{team.id}/risks/{risk_id}",
                               headers=team.owner_h)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def register_page(team) -> str:
    return f"/app/projects/{team.id}"


# --- one form a row -----------------------------------------------------------------------

def test_a_rows_status_and_rating_are_saved_in_one_submit_and_said_beside_it(
        team, people, reported):
    """Issue #74 item 5: the row had a form for its status and one for its rating; Save
    dropped the rating, Rate the status, and either said "Risk updated."."""
    editor, here = people["editor"], register_page(team)
    budget = reported["budget"]
    action = f"{here}/risks/{budget['id']}"
    page = editor.page(here)
    row = rows_of(page)[budget["id"]]
    assert f'aria-label="Likelihood of: {budget["risk"]}"' in row
    assert f'aria-label="Impact of: {budget["risk"]}"' in row
    assert ">3 Possible</option>" in row and ">5 Severe</option>" in row
    assert row.count("<form") == 1 and row.count('type="submit"') == 1  # one form, one Save
    row_form = form(page, action)
    assert {"status", "likelihood", "impact", "owner_id", "due_date"} <= {
        name for name, _ in row_form.fields}  # each control of the row is of its form
    sent = row_form.data(status="mitigating", likelihood="4", impact="5",
                                   due_date="2026-12-18")
    response = editor.post_form(here, action, sent, follow=False)
    assert response.status_code == 302
    assert response.headers["Location"] == f"{here}#risk-{budget['id']}"
    entry = stored(team, budget["id"])
    assert (entry["status"], entry["likelihood"], entry["impact"], entry["score"],
            entry["due_date"]) == ("mitigating", 4, 5, 20, "2026-12-18")
    page = editor.page(here)
    row = rows_of(page)[budget["id"]]
    assert flashes(page) == []  # said in the row, where the page lands, not at its top
    assert said_in(row) == [
        "Status set to mitigating, rated 4 × 5 = 20 (critical), due 2026-12-18."]
    assert 'data-band="critical">20 critical</span>' in row
    assert re.search(r'name="likelihood"[^>]*>.*?<option value="4" selected>', row, re.DOTALL)
    assert '<option value="mitigating" selected>' in row

    # Cleared: both levels empty; a level out of the scale is the API's words beside the
    # row, and nothing of that submit is stored (its status neither).
    refused = text_of(editor.post_form(here, action, form(page, action).data(
        likelihood="9", status="closed")))
    [said] = said_in(rows_of(refused)[budget["id"]])
    assert said.startswith("Not saved:") and "Must be greater than or equal to 1" in said
    assert (stored(team, budget["id"])["score"], stored(team, budget["id"])["status"]) == (
        20, "mitigating")
    page = text_of(editor.post_form(here, action, form(refused, action).data(
        likelihood="", impact="")))
    assert stored(team, budget["id"])["score"] is None
    assert said_in(rows_of(page)[budget["id"]]) == ["Rating removed."]
    page = text_of(editor.post_form(here, action, form(page, action).data(likelihood="2")))
    assert said_in(rows_of(page)[budget["id"]]) == [
        "Likelihood 2, impact not rated (no score until both are rated)."]


def test_a_rows_save_sends_only_what_was_changed_on_it(team, people, reported):
    """Two people with the register open: one sets the owner, the other (on the page as
    it was) the status. The second save keeps the first one's owner."""
    owner, editor, here = people["owner"], people["editor"], register_page(team)
    vendor = reported["vendor"]
    action = f"{here}/risks/{vendor['id']}"
    stale = editor.page(here)
    page = owner.page(here)
    owner.post_form(here, action, form(page, action).data(owner_id=team.owner["id"]))
    page = text_of(editor.post_form(here, action, form(stale, action).data(status="accepted")))
    assert said_in(rows_of(page)[vendor["id"]]) == ["Status set to accepted."]
    entry = stored(team, vendor["id"])
    assert (entry["status"], entry["owner_id"]) == ("accepted", team.owner["id"])


# --- bulk status, owner and rating ---------------------------------------------------------

def test_bulk_status_owner_and_rating_change_every_entry_selected(team, people, reported):
    editor, here = people["editor"], register_page(team)
    page = editor.page(here)
    assert 'id="bulk-form"' in page
    chosen = [reported["budget"]["id"], reported["vendor"]["id"]]
    response = editor.post_form(here, f"{here}/risks/bulk",
                                {"risk": [str(i) for i in chosen], "status": "mitigating",
                                 "owner_id": team.editor["id"], "likelihood": "3",
                                 "impact": "4", "next": here}, follow=False)
    assert response.status_code == 302
    assert response.headers["Location"] == f"{here}#register"
    for risk_id in chosen:
        entry = stored(team, risk_id)
        assert (entry["status"], entry["owner_id"], entry["score"]) == (
            "mitigating", team.editor["id"], 12)
    untouched = stored(team, reported["schedule"]["id"])
    assert (untouched["status"], untouched["owner_id"], untouched["score"]) == (
        "open", None, None)
    page = editor.page(here)
    said = said_in(form_of(page, "bulk-form"))
    assert flashes(page) == [] and said == [
        (f"Status set to mitigating, rated 3 × 4 = 12 (high), owner set to "
         f"{team.editor['email']} on 2 risks: “{reported['budget']['risk']}”, "
         f"“{reported['vendor']['risk']}”.")]
    # Again, with the schedule risk too: only it changes, and the others are said so.
    chosen.append(reported["schedule"]["id"])
    page = text_of(editor.post_form(here, f"{here}/risks/bulk", {
        "risk": [str(i) for i in chosen], "status": "mitigating", "next": here}))
    assert said_in(form_of(page, "bulk-form")) == [
        (f"Status set to mitigating on 1 risk: “{reported['schedule']['risk']}”; "
         f"“{reported['budget']['risk']}”, “{reported['vendor']['risk']}” were already so.")]
    # One level alone: the others keep their own impact.
    page = text_of(editor.post_form(here, f"{here}/risks/bulk", {
        "risk": str(reported["budget"]["id"]), "likelihood": "-", "next": here}))
    assert said_in(form_of(page, "bulk-form")) == [
        f"Likelihood removed on 1 risk: “{reported['budget']['risk']}”."]
    entry = stored(team, reported["budget"]["id"])
    assert (entry["likelihood"], entry["impact"], entry["status"]) == (None, 4, "mitigating")


def test_a_bulk_edit_naming_another_projects_entry_changes_nothing_of_it(
        team, people, reported):
    other = make_project(team.client, team.owner_h, name="Elsewhere")
    scan_into(team.client, team.owner_h, other["id"], WEEK_1)
    foreign = register_of(team.client, team.owner_h, other["id"])[0]
    editor, here = people["editor"], register_page(team)
    budget = reported["budget"]
    page = text_of(editor.post_form(here, f"{here}/risks/bulk",
                                    {"risk": [str(budget["id"]), str(foreign["id"]), "abc"],
                                     "status": "closed", "next": here}))
    assert stored(team, budget["id"])["status"] == "closed"
    after = next(e for e in register_of(team.client, team.owner_h, other["id"])
                 if e["id"] == foreign["id"])
    assert after["status"] == "open"
    assert said_in(form_of(page, "bulk-form")) == [
        f"Status set to closed on 1 risk: “{budget['risk']}”.",
        f"Risk {foreign['id']} not changed: No such risk.",
        "Risk abc not changed: No such risk."]


def test_a_bulk_edit_with_nothing_chosen_says_so(team, people, reported):
    editor, here = people["editor"], register_page(team)
    def said(data: dict) -> list[str]:
        return said_in(form_of(text_of(editor.post_form(here, f"{here}/risks/bulk",
                                                        {**data, "next": here})), "bulk-form"))

    assert said({"status": "closed"}) == ["Select at least one risk."]
    assert said({"risk": str(reported["budget"]["id"])}) == [
        "Choose a status, an owner or a rating to set."]
    assert said({"risk": str(reported["budget"]["id"]), "status": "open"}) == [
        "Nothing changed: “" + reported["budget"]["risk"] + "” was already so."]
    # A level out of the scale: the API's words once, not once an entry; nothing changed.
    ids = [str(e["id"]) for e in reported.values()]
    [refused] = said({"risk": ids, "likelihood": "9", "status": "closed"})
    assert refused.startswith("Not changed: ") and "Likelihood: Must be" in refused
    too_many = [str(i) for i in range(1, 102)]
    assert said({"risk": too_many, "status": "closed"}) == [
        "Select at most 100 risks at once."]
    assert register_of(team.client, team.owner_h, team.id, status="closed") == []


# --- a risk added by hand ------------------------------------------------------------------

def test_add_risk_creates_an_entry_marked_as_added_by_hand(team, people, reported):
    editor, here = people["editor"], register_page(team)
    assert "Add risk</button>" in editor.page(here)
    wording = "The only DBA retires in March and nobody else knows the failover."
    response = editor.post_form(here, f"{here}/risks/add",
                                {"risk": wording, "category": "resource",
                                 "status": "mitigating", "owner_id": team.owner["id"]},
                                follow=False)
    assert response.status_code == 302
    added = next(e for e in register_of(team.client, team.owner_h, team.id)
                 if e["risk"] == wording)
    assert response.headers["Location"] == f"{here}#risk-{added['id']}"
    assert added["added_by_user"] is True and added["occurrences"] == 0
    assert (added["category"], added["status"], added["owner_id"]) == (
        "resource", "mitigating", team.owner["id"])
    page = editor.page(here)
    assert said_in(rows_of(page)[added["id"]]) == [f"Added “{wording}” by hand."]
    assert '<span class="tag by-hand">added by hand</span>' in rows_of(page)[added["id"]]
    # Refused: no wording; the API's words, nothing added.
    page = text_of(editor.post_form(here, f"{here}/risks/add",
                                    {"risk": "  ", "category": "resource"}))
    refusal = said_in(form_of(page, "add-risk"))
    assert refusal[0].startswith("The risk was not added.") and "Risk:" in refusal[0]
    assert len(register_of(team.client, team.owner_h, team.id)) == 4


# --- viewers, CSRF -------------------------------------------------------------------------

def test_a_viewer_sees_the_register_read_only(team, people, reported):
    viewer, here = people["viewer"], register_page(team)
    page = viewer.page(here)
    rows = rows_of(page)
    assert set(rows) == {e["id"] for e in reported.values()}
    for row in rows.values():
        assert "<select" not in row and "<input" not in row and "<form" not in row
    section = re.search(r'<section class="register".*?</section>', page, re.DOTALL)[0]
    assert 'id="bulk-form"' not in section and "Add risk" not in section
    assert "<form" not in section.replace('<form method="get"', "")  # none would answer 403
    assert "read the register" in page  # and the page says why
    assert "Scan a report into this project" not in page  # a viewer's scan is a 403 too


def test_a_viewers_post_to_each_form_is_refused_and_nothing_changes(team, people, reported):
    viewer, here = people["viewer"], register_page(team)
    budget = reported["budget"]
    token = csrf_token(viewer.page("/app/projects"))  # the list has a form: its token
    for action, data in ((f"{here}/risks/{budget['id']}", {"likelihood": "5", "impact": "5"}),
                         (f"{here}/risks/bulk", {"risk": str(budget["id"]),
                                                 "status": "closed"}),
                         (f"{here}/risks/add", {"risk": "A risk of a viewer.",
                                                "category": "budget"})):
        response = viewer.client.post(action, data={**data, "csrf_token": token})
        assert "Your role in this project is viewer" in error_page(response, 403), action
    assert register_of(team.client, team.owner_h, team.id) == register_of(
        team.client, team.owner_h, team.id, status="open")
    assert len(register_of(team.client, team.owner_h, team.id)) == 3
    assert stored(team, budget["id"])["score"] is None


def test_the_forms_without_their_csrf_token_are_refused(team, people, reported):
    editor, here = people["editor"], register_page(team)
    budget = reported["budget"]
    for action, data in ((f"{here}/risks/{budget['id']}", {"likelihood": "5", "impact": "5"}),
                         (f"{here}/risks/bulk", {"risk": str(budget["id"]),
                                                 "status": "closed"}),
                         (f"{here}/risks/add", {"risk": "Sneaky.", "category": "budget"})):
        error_page(editor.client.post(action, data=data), 400)
    entries = register_of(team.client, team.owner_h, team.id)
    assert len(entries) == 3 and {e["status"] for e in entries} == {"open"}
    assert stored(team, budget["id"])["score"] is None


# --- the heat map's links ------------------------------------------------------------------

def test_the_heat_maps_links_land_on_the_register(team, people, reported):
    response = team.client.patch(f"/api/v1/projects/{team.id}/risks/{reported['budget']['id']}",
                                 json={"likelihood": 2, "impact": 4}, headers=team.owner_h)
    assert response.status_code == 200
    page = people["viewer"].page(register_page(team))
    assert '<section class="register" id="register"' in page
    table = re.search(r'<table class="matrix-table".*?</table>', page, re.DOTALL)[0]
    links = [html.unescape(href) for href in re.findall(r'<a href="([^"]+)"', table)]
    assert links == [f"/app/projects/{team.id}?status=active&likelihood=2&impact=4#register"]
    unrated = html.unescape(re.search(r'Not rated: <a href="([^"]+)">', page)[1])
    assert unrated == f"/app/projects/{team.id}?status=active&rated=false#register"
    filtered = people["viewer"].page(links[0].split("#")[0])
    all_ratings = html.unescape(re.search(r'<a href="([^"]+)">all ratings</a>', filtered)[1])
    assert all_ratings == f"/app/projects/{team.id}?status=active#register"


def test_an_outsiders_post_to_each_form_is_the_404_page(team, keyword_app, people, reported):
    outsider = Browser(keyword_app, team.outsider["email"])
    here, budget = register_page(team), reported["budget"]
    token = csrf_token(outsider.page("/app/projects"))
    for action, data in ((f"{here}/risks/{budget['id']}", {"likelihood": "5", "impact": "5"}),
                         (f"{here}/risks/bulk", {"risk": str(budget["id"]),
                                                 "status": "closed"}),
                         (f"{here}/risks/add", {"risk": "An outsider's risk.",
                                                "category": "budget"})):
        page = error_page(outsider.client.post(action, data={**data, "csrf_token": token}),
                          404)
        assert budget["risk"] not in page and "Billing migration" not in page
    entries = register_of(team.client, team.owner_h, team.id)
    assert len(entries) == 3 and {e["status"] for e in entries} == {"open"}
    assert stored(team, budget["id"])["score"] is None
