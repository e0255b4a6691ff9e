"""The console's project pages (issue #18), driven as a browser would: get a page, read its
form's CSRF token, post the form, follow the redirect, read what the page then says.

The reports are scanned through the console's own scan form into the project; their
findings come from the keyword stand-in (tests/scanning.py), so that each test knows which
risks the register holds, and join entries through the real sentence encoder.
"""

from __future__ import annotations

import csv
import html
import io
import re

import pytest
from openpyxl import load_workbook

from service.console import project_views
from service.console.trend import trend_chart
from service.db import PROJECT_ROLES, RISK_STATUSES
from service.projects.membership import LAST_OWNER
from tests.console_browser import (
    UNSAFE_TARGETS,
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
    said_at,
    said_in,
    text_of,
)
from tests.projects import make_project, register_of, scan_into
from tests.scanning import statements_run

HOSTILE = "<script>alert(1)</script>"


def form_of_section(page: str, section_id: str) -> str:
    return re.search(rf'<section id="{section_id}".*?</section>', page, re.DOTALL)[0]


def selected(row: str, name: str) -> str:
    select = re.search(rf'<select name="{name}".*?</select>', row, re.DOTALL)[0]
    match = re.search(r'<option (?:value="([^"]*)" )?selected>([^<]*)</option>', select)
    return match[1] if match[1] is not None else match[2]


@pytest.fixture
def people(team, keyword_app):
    """The team's owner, editor, viewer and outsider, each at their own browser."""
    return {who: Browser(keyword_app, getattr(team, who)["email"])
            for who in ("owner", "editor", "viewer", "outsider")}


@pytest.fixture
def reported(team, people):
    """Two weekly reports scanned into the team's project through the console."""
    console_scan(people["owner"], team.id, WEEK_1)
    console_scan(people["editor"], team.id, WEEK_2)
    entries = {e["category"]: e for e in register_of(team.client, team.owner_h, team.id)}
    assert sorted(entries) == ["budget", "schedule", "vendor"]
    return entries


# --- what the console assumes of the API ---------------------------------------------------

def test_the_consoles_statuses_and_roles_are_the_apis():
    assert project_views.STATUSES == RISK_STATUSES
    assert project_views.ROLES == PROJECT_ROLES


# --- the list and a new project ------------------------------------------------------------

def test_a_project_created_on_the_form_is_listed_with_its_role(team, people):
    owner = people["owner"]
    response = owner.post_form("/app/projects", "/app/projects",
                               {"name": "Data centre move", "description": "Phase 2"},
                               follow=False)
    assert response.status_code == 302
    project_url = response.headers["Location"]
    assert re.fullmatch(r"/app/projects/[0-9a-f-]{36}", project_url)
    page = owner.page(project_url)
    assert "<h1 class=\"project-name\">Data centre move</h1>" in page
    assert flashes(page) == ["Project created."]
    listing = owner.page("/app/projects")
    assert "<h1>Projects</h1>" in listing
    assert f'<a href="{project_url}">Data centre move</a>' in listing
    assert f'<a href="/app/projects/{team.id}">Billing migration</a>' in listing
    assert re.search(r"Data centre move</a></th>\s*<td>owner</td>", listing)
    # The viewer sees the team's project with their role, not the owner's new one.
    viewer = people["viewer"].page("/app/projects")
    assert re.search(r"Billing migration</a></th>\s*<td>viewer</td>", viewer)
    assert "Data centre move" not in viewer


def test_a_refused_name_comes_back_on_the_form_in_the_apis_words(people):
    owner = people["owner"]
    response = owner.post_form("/app/projects", "/app/projects", {"name": "x" * 201})
    assert response.status_code == 422
    page = text_of(response)
    assert "Longer than maximum length 200." in page
    assert 'aria-invalid="true"' in page and 'value="' + "x" * 201 + '"' in page
    response = owner.post_form("/app/projects", "/app/projects", {"name": "   "})
    assert response.status_code == 422 and "Must not be blank." in text_of(response)


def test_a_form_without_its_csrf_token_is_refused(team, people):
    owner = people["owner"]
    for action, data in (("/app/projects", {"name": "Sneaky"}),
                         (f"/app/projects/{team.id}/delete", {}),
                         (f"/app/projects/{team.id}/members",
                          {"email": team.outsider["email"], "role": "owner"})):
        error_page(owner.client.post(action, data=data), 400)
    assert "Sneaky" not in owner.page("/app/projects")
    assert "Billing migration" in owner.page("/app/projects")


# --- the register --------------------------------------------------------------------------

def test_the_register_lists_the_entries_of_two_reports_and_links_them(team, people, reported):
    page = people["editor"].page(f"/app/projects/{team.id}")  # a viewer's: read-only
    assert '<h1 class="project-name">Billing migration</h1>' in page
    assert f'href="/app/scan?project_id={team.id}">Scan a report into this project</a>' in page
    for label, href in (("Register", f"/app/projects/{team.id}"),
                        ("Changes", f"/app/projects/{team.id}/changes"),
                        ("Members", f"/app/projects/{team.id}/members")):
        assert re.search(rf'<a href="{href}"[^>]*>{label}</a>', page), label
    rows = rows_of(page)
    assert set(rows) == {e["id"] for e in reported.values()}
    budget = reported["budget"]
    row = rows[budget["id"]]
    assert (f'<a href="/app/projects/{team.id}/risks/{budget["id"]}">'
            f'{budget["risk"]}</a>') in row
    assert selected(row, "status") == "open" and selected(row, "owner_id") == ""
    assert f'aria-label="Status of: {budget["risk"]}"' in row
    assert f'aria-label="Owner of: {budget["risk"]}"' in row
    assert f'aria-label="Due date of: {budget["risk"]}"' in row
    # nothing saves on input (WCAG 3.2.2): the row's one Save sends all of it
    assert "data-autosubmit" not in row
    assert (f'aria-label="Save status, rating, owner and due date of: {budget["risk"]}">'
            "Save</button>" in row)
    assert re.search(r"<td>2</td>\s*$", row.strip() + "\n", re.MULTILINE)  # seen in both reports
    for member in (team.owner, team.editor, team.viewer):
        assert f">{member['email']}</option>" in row
    # The headers: sort links, the current order's aria-sort, the API's sort keys.
    assert '<th scope="col" aria-sort="descending"><a href="/app/projects/' in page
    assert f'href="/app/projects/{team.id}?sort=last_seen">Last seen' in page
    assert f'href="/app/projects/{team.id}?sort=category">Category</a>' in page
    assert "<caption>Risk register</caption>" in page
    assert 'role="search"' in page


def test_sorting_and_filtering_keep_each_other(team, people, reported):
    owner = people["owner"]
    page = owner.page(f"/app/projects/{team.id}?sort=category")
    assert list(rows_of(page)) == [reported[c]["id"] for c in ("budget", "schedule", "vendor")]
    assert 'aria-sort="ascending"><a href="/app/projects/' + team.id + '?sort=-category"' in page
    page = owner.page(f"/app/projects/{team.id}?sort=-category")
    assert list(rows_of(page)) == [reported[c]["id"] for c in ("vendor", "schedule", "budget")]
    page = owner.page(f"/app/projects/{team.id}?category=vendor&sort=-category")
    assert list(rows_of(page)) == [reported["vendor"]["id"]]
    assert (f'href="/app/projects/{team.id}?category=vendor&amp;sort=status">Status</a>'
            in page)
    assert (f'href="/app/projects/{team.id}/export?format=csv&amp;category=vendor">Export CSV'
            in page)
    page = owner.page(f"/app/projects/{team.id}?q=licences")
    assert list(rows_of(page)) == [reported["vendor"]["id"]]
    # A filter or an order the API refuses: its words, on the page.
    response = owner.get(f"/app/projects/{team.id}?sort=risk&status=bogus")
    assert response.status_code == 422
    assert "Must be one of: open, mitigating, accepted, closed, active." in text_of(response)


def test_the_register_and_the_list_turn_pages_keeping_filters_and_order(
        team, people, reported, monkeypatch):
    monkeypatch.setattr(project_views, "PER_PAGE", 1)
    owner = people["owner"]
    base = f"/app/projects/{team.id}"
    page = owner.page(f"{base}?sort=category&status=open")
    assert list(rows_of(page)) == [reported["budget"]["id"]]
    assert "Page 1 of 3" in page
    assert f'href="{base}?page=2&amp;status=open&amp;sort=category">Next</a>' in page
    page = owner.page(f"{base}?sort=category&status=open&page=3")
    assert list(rows_of(page)) == [reported["vendor"]["id"]] and "Previous</a>" in page
    make_project(team.client, team.owner_h, name="Second")
    page = owner.page("/app/projects?page=2")
    assert "Page 2 of 2" in page and "Billing migration" in page and "Second" not in page


def test_a_status_change_on_a_row_is_shown_after_save(team, people, reported):
    editor = people["editor"]
    vendor = reported["vendor"]
    here = f"/app/projects/{team.id}?sort=category"
    action = f"/app/projects/{team.id}/risks/{vendor['id']}"
    row_form = form(editor.page(here), action)
    response = editor.post_form(here, action, row_form.data(
        status="mitigating", owner_id=team.editor["id"], due_date="2026-12-15"), follow=False)
    assert response.status_code == 302
    assert response.headers["Location"] == f"{here}#risk-{vendor['id']}"
    page = editor.page(here)
    row = rows_of(page)[vendor["id"]]
    assert flashes(page) == [] and said_in(row) == [  # beside its Save, what changed
        f"Status set to mitigating, owner set to {team.editor['email']}, due 2026-12-15."]
    assert selected(row, "status") == "mitigating"
    assert selected(row, "owner_id") == team.editor["id"]
    assert 'value="2026-12-15"' in row
    # An empty owner and due date clear them; the status, left as shown, is not sent.
    page = text_of(editor.post_form(here, action, form(page, action).data(owner_id="",
                                                                          due_date="")))
    assert said_in(rows_of(page)[vendor["id"]]) == ["Owner removed, due date removed."]
    stored = next(e for e in register_of(team.client, team.owner_h, team.id)
                  if e["id"] == vendor["id"])
    assert (stored["status"], stored["owner_id"], stored["due_date"]) == ("mitigating", None,
                                                                          None)
    page = text_of(editor.post_form(here, action, form(page, action).data()))
    assert said_in(rows_of(page)[vendor["id"]]) == ["Nothing changed."]


@pytest.mark.parametrize("unsafe", [*UNSAFE_TARGETS, "https://evil.example/app/projects"])
def test_an_unsafe_next_is_ignored(team, people, reported, unsafe):
    entry = reported["budget"]
    response = people["owner"].post_form(
        f"/app/projects/{team.id}", f"/app/projects/{team.id}/risks/{entry['id']}",
        {"status": "accepted", "next": unsafe}, follow=False)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/app/projects/{team.id}#risk-{entry['id']}"
    assert [e["id"] for e in register_of(team.client, team.owner_h, team.id,
                                         status="accepted")] == [entry["id"]]


def test_hostile_input_to_a_risk_gets_the_apis_words_or_a_404(team, people, reported):
    owner = people["owner"]
    url = f"/app/projects/{team.id}/risks/{reported['budget']['id']}"
    register = f"/app/projects/{team.id}"
    # A row's refusal is said beside the row, in the API's words.
    page = text_of(owner.post_form(register, url, {"due_date": "2026-02-31",
                                                   "next": register}))
    assert said_in(rows_of(page)[reported["budget"]["id"]]) == [
        "Not saved: The request has invalid or missing fields. Due date: Not a valid date."]
    # From the entry's page, the form comes back with the words and what was typed.
    response = owner.post_form(url, url, {"from": "details", "due_date": "someday",
                                          "notes": "Keep me", "status": "open"})
    assert response.status_code == 422
    assert "Not a valid date." in text_of(response) and "Keep me</textarea>" in text_of(response)
    error_page(owner.get(f"/app/projects/{team.id}/risks/abc"), 404)
    error_page(owner.get(f"/app/projects/{team.id}/risks/{10**20}"), 404)
    error_page(owner.client.post(f"/app/projects/{team.id}/risks/abc",
                                 data={"csrf_token": csrf_token(owner.page(url))}), 404)
    for bad in ("%3Fx%3D1", "..", "not-a-project", "x" * 65):
        page = error_page(owner.get(f"/app/projects/{bad}"), 404)
        assert "No such project." in page
    error_page(owner.get("/app/projects/%2e%2e%2fscans"), 404)  # no such page at all


def test_a_viewer_is_refused_a_change_on_the_error_page(team, people, reported):
    viewer = people["viewer"]
    here = f"/app/projects/{team.id}"
    page = error_page(viewer.post_form(here, f"{here}/risks/{reported['budget']['id']}",
                                       {"status": "closed", "next": here}), 403)
    assert "Your role in this project is viewer" in page
    assert register_of(team.client, team.owner_h, team.id, status="closed") == []


def test_another_users_project_is_a_404_page_not_json(team, people, reported):
    outsider = people["outsider"]
    entry = reported["budget"]
    for path in (f"/app/projects/{team.id}", f"/app/projects/{team.id}/changes",
                 f"/app/projects/{team.id}/members",
                 f"/app/projects/{team.id}/risks/{entry['id']}",
                 f"/app/projects/{team.id}/export?format=csv"):
        page = error_page(outsider.get(path), 404)
        assert "Billing migration" not in page and entry["risk"] not in page
    own = outsider.page("/app/projects")  # a page of theirs, for the form's token
    for action in (f"/app/projects/{team.id}/risks/{entry['id']}",
                   f"/app/projects/{team.id}/delete",
                   f"/app/projects/{team.id}/members/{team.owner['id']}/remove"):
        response = outsider.client.post(action, data={"csrf_token": csrf_token(own),
                                                      "status": "closed"})
        error_page(response, 404)
    assert len(register_of(team.client, team.owner_h, team.id)) == 3


def test_the_entrys_page_shows_it_and_saves_its_form(team, people, reported):
    owner = people["owner"]
    entry = reported["budget"]
    url = f"/app/projects/{team.id}/risks/{entry['id']}"
    page = owner.page(url)
    assert f"<h1 class=\"wrap\">{entry['risk']}</h1>" in page
    for label in ("Status", "Owner", "Due date", "Notes", "Category"):
        assert f">{label}</label>" in page
    scans = {f["scan_id"] for f in entry["findings"]}
    assert len(scans) == 2
    for scan_id in scans:
        assert f'href="/app/scans/{scan_id}' in page
    response = owner.post_form(url, url, form(page, url).data(
        status="accepted", owner_id=team.viewer["id"], due_date="2027-01-31",
        notes="Finance agreed.\r\nAgain in March."), follow=False)
    assert response.headers["Location"] == f"{url}#edit"
    page = owner.page(url)
    assert flashes(page) == [] and said_in(form_of(page, "edit")) == [  # beside its Save
        (f"Status set to accepted, owner set to {team.viewer['email']}, due 2027-01-31, "
         "notes changed.")]  # the category, left as shown, is not said
    stored = next(e for e in register_of(team.client, team.owner_h, team.id)
                  if e["id"] == entry["id"])
    assert stored["notes"] == "Finance agreed.\nAgain in March."  # a browser's CRLF, as typed
    # The notes come back as the browser sends them (CRLF): unchanged, they are not sent.
    page = text_of(owner.post_form(url, url, form(page, url).data(
        notes="Finance agreed.\r\nAgain in March.", status="mitigating")))
    assert said_in(form_of(page, "edit")) == ["Status set to mitigating."]
    assert "<dd>mitigating" in page and team.viewer["email"] in page
    assert "Again in March.</textarea>" in page and 'value="2027-01-31"' in page


def test_the_heat_map_is_a_table_whose_counts_link_to_the_register_filtered_to_them(
        team, people, reported):
    for category in ("budget", "vendor"):
        response = team.client.patch(f"/api/v1/projects/{team.id}/risks/"
                                     f"{reported[category]['id']}",
                                     json={"likelihood": 4, "impact": 5}, headers=team.owner_h)
        assert response.status_code == 200
    viewer = people["viewer"]
    page = viewer.page(f"/app/projects/{team.id}")
    table = re.search(r'<table class="matrix-table".*?</table>', page, re.DOTALL)[0]
    assert re.findall(r'<th scope="col">([^<]*)</th>', table) == [
        "1 Negligible", "2 Minor", "3 Moderate", "4 Major", "5 Severe"]
    assert re.findall(r'<th scope="row">([^<]*)</th>', table) == [
        "5 Almost certain", "4 Likely", "3 Possible", "2 Unlikely", "1 Rare"]
    # the band in words in every cell: 15, 16, 20 and 25 are critical
    assert table.count('class="band-name">critical<') == 6
    links = [html.unescape(href) for href in re.findall(r'<a href="([^"]+)"', table)]
    assert links == [f"/app/projects/{team.id}?status=active&likelihood=4&impact=5#register"]
    filtered = viewer.page(links[0])
    rows = rows_of(filtered)
    assert set(rows) == {reported["budget"]["id"], reported["vendor"]["id"]}
    assert all('data-band="critical">20 critical</span>' in row for row in rows.values())
    assert "Rating filter: likelihood 4, impact 5" in filtered
    unrated = html.unescape(re.search(r'Not rated: <a href="([^"]+)">1 risk</a>',
                                      page)[1])
    assert set(rows_of(viewer.page(unrated))) == {reported["schedule"]["id"]}

    owner = people["owner"]
    url = f"/app/projects/{team.id}/risks/{reported['schedule']['id']}"
    refused = owner.post_form(url, url, {"from": "details", "likelihood": "7", "impact": "x"})
    assert refused.status_code == 422
    assert "Must be greater than or equal to 1 and less than or equal to 5." in text_of(refused)
    assert register_of(team.client, team.owner_h, team.id, rated="false") == [
        reported["schedule"]]
    response = owner.post_form(url, url, {"from": "details", "likelihood": "3", "impact": "2",
                                          "next": url}, follow=False)
    assert response.headers["Location"] == f"{url}#edit"
    assert ">3 Possible</option>" in owner.page(url)
    rated = register_of(team.client, team.owner_h, team.id, likelihood=3, impact=2)
    assert [(e["id"], e["band"]) for e in rated] == [(reported["schedule"]["id"], "medium")]


def test_the_heat_map_counts_every_status_but_closed_and_narrows_to_one(team, people,
                                                                         reported):
    """A critical risk being mitigated is still critical: counted until it is closed, and the
    legend says which statuses a count holds."""
    for category, status in (("budget", "mitigating"), ("vendor", "accepted")):
        response = team.client.patch(f"/api/v1/projects/{team.id}/risks/"
                                     f"{reported[category]['id']}", headers=team.owner_h,
                                     json={"likelihood": 5, "impact": 5, "status": status})
        assert response.status_code == 200
    viewer, base = people["viewer"], f"/app/projects/{team.id}"

    def counts(page: str) -> tuple[str, list[str]]:
        table = re.search(r'<table class="matrix-table".*?</table>', page, re.DOTALL)[0]
        return (re.search(r"<caption>(.*?)</caption>", table)[1],
                re.findall(r'<a href="[^"]+" aria-label="[^"]+">(\d+)</a>', table))

    assert counts(viewer.page(base)) == (
        ("Risks that are open, mitigating or accepted, by likelihood (rows) and impact "
         "(columns)"), ["2"])
    assert counts(viewer.page(f"{base}?heat=mitigating")) == (
        "Risks that are mitigating, by likelihood (rows) and impact (columns)", ["1"])
    assert counts(viewer.page(f"{base}?heat=closed"))[1] == []
    # a word the map does not know is the default, not an error page
    assert counts(viewer.page(f"{base}?heat=" + "x" * 3000))[0].startswith(
        "Risks that are open, mitigating or accepted")
    # the register's filter keeps the map's choice, and the map's form the register's
    page = viewer.page(f"{base}?heat=accepted&category=vendor")
    assert '<input type="hidden" name="heat" value="accepted">' in page
    assert '<input type="hidden" name="category" value="vendor">' in page


# --- changes, exports, the trend -----------------------------------------------------------

def test_the_changes_page_says_what_is_new_persisting_and_gone(team, people, reported):
    page = people["viewer"].page(f"/app/projects/{team.id}/changes")
    assert "<h1>What changed since the last report</h1>" in page
    sections = dict(re.findall(r'<h2 id="changes-(\w+)">.*?</h2>(.*?)</section>', page, re.DOTALL))
    assert set(sections) == {"new", "persisting", "gone", "hidden"}
    assert "Nothing hidden." in sections["hidden"]  # nothing dismissed
    assert reported["schedule"]["risk"] in sections["new"]
    assert reported["budget"]["risk"] in sections["persisting"]
    assert reported["vendor"]["risk"] in sections["gone"]
    assert "None." not in page
    # The first report against none: everything in it is new.
    first = next(f["scan_id"] for f in reported["vendor"]["findings"])
    page = people["viewer"].page(f"/app/projects/{team.id}/changes?to_scan={first}")
    sections = dict(re.findall(r'<h2 id="changes-(\w+)">.*?</h2>(.*?)</section>', page, re.DOTALL))
    assert reported["vendor"]["risk"] in sections["new"]
    assert "<p>None.</p>" in sections["persisting"] and "<p>None.</p>" in sections["gone"]
    error_page(people["viewer"].get(f"/app/projects/{team.id}/changes?to_scan=nope"), 404)


def test_the_exports_download_the_register_as_csv_and_xlsx(team, people, reported):
    viewer = people["viewer"]
    response = viewer.get(f"/app/projects/{team.id}/export?format=csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"  # the charset once
    assert 'attachment; filename="Billing-migration-risks.csv"' == response.headers[
        "Content-Disposition"]
    rows = list(csv.reader(io.StringIO(text_of(response).lstrip("\ufeff"))))
    assert rows[0] == ["id", "risk", "category", "status", "likelihood", "impact", "score",
                       "band", "owner", "due date", "first seen", "last seen", "occurrences",
                       "notes"]
    assert len(rows) == 4
    response = viewer.get(f"/app/projects/{team.id}/export?format=csv&category=vendor")
    assert len(text_of(response).strip().splitlines()) == 2
    response = viewer.get(f"/app/projects/{team.id}/export?format=csv&rated=true")
    assert len(text_of(response).strip().splitlines()) == 1  # the rating's filters pass too
    response = viewer.get(f"/app/projects/{team.id}/export?format=xlsx")
    assert response.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.get_data())).active
    assert sheet.max_row == 4 and sheet["C1"].value == "category"
    error_page(viewer.get(f"/app/projects/{team.id}/export?format=pdf"), 422)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_an_export_of_a_project_named_in_japanese_is_a_download(team, people, fmt):
    """The API's attachment name goes through as it is: 日本 in a Latin-1 header was a 500."""
    renamed = team.client.patch(f"/api/v1/projects/{team.id}", json={"name": "日本"},
                                headers=team.owner_h)
    assert renamed.status_code == 200, renamed.get_json()
    response = people["viewer"].get(f"/app/projects/{team.id}/export?format={fmt}")
    assert response.status_code == 200, text_of(response)
    assert response.headers["Content-Disposition"] == (
        f"attachment; filename=\"project-risks.{fmt}\"; "
        f"filename*=UTF-8''%E6%97%A5%E6%9C%AC-risks.{fmt}")


def test_the_trend_chart_is_an_svg_with_its_figures_in_words(team, people, reported):
    page = people["viewer"].page(f"/app/projects/{team.id}")
    svg = re.search(r"<svg .*?</svg>", page, re.DOTALL)[0]
    assert 'role="img"' in svg and 'aria-labelledby="trend-title trend-desc"' in svg
    assert "<title id=\"trend-title\">Open risks per week in Billing migration</title>" in svg
    assert "3 risks are open: schedule 1, budget 1, vendor 1." in svg
    assert 'style=' not in page and "<script>" not in page.replace(
        '<script src="/app/static/console.js" defer></script>', "")
    table = re.search(r'<div class="visually-hidden">(.*?)</div>', page, re.DOTALL)[1]
    assert "<caption>Open risks per week in Billing migration, by category</caption>" in table
    assert re.search(r"<td>1</td><td>1</td><td>1</td><td>3</td>", table)


def test_hostile_names_and_risks_are_text_everywhere(keyword_app, client, team):
    owner_h = team.owner_h
    project = make_project(client, owner_h, name=f"Q4 {HOSTILE}",
                           description="<img src=x onerror=alert(1)>")
    scan_into(client, owner_h, project["id"], f"The budget {HOSTILE} is overrun.")
    browser = Browser(keyword_app, team.owner["email"])
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for path in (f"/app/projects/{project['id']}", "/app/projects",
                 f"/app/projects/{project['id']}/changes",
                 f"/app/projects/{project['id']}/members"):
        page = browser.page(path)
        assert HOSTILE not in page and "<img src=x" not in page, path
        assert escaped in page, path
    page = browser.page(f"/app/projects/{project['id']}")
    svg = re.search(r"<svg .*?</svg>", page, re.DOTALL)[0]
    assert f"Open risks per week in Q4 {escaped}" in svg


def test_the_trend_chart_alone():
    assert trend_chart({"weeks": [], "scans": []}) is None
    chart = trend_chart({"weeks": [
        {"week": "2026-W45", "start": "2026-11-02", "open": {"vendor": 2, "budget": 1}},
        {"week": "2026-W46", "start": "2026-11-09", "open": {"budget": 1, '"><x': 1}},
    ]}, 'A & "B"')
    assert chart.categories == ("budget", "vendor", '"><x')
    assert [(row.week, row.counts, row.total) for row in chart.rows] == [
        ("2026-W45", (1, 2, 0), 3), ("2026-W46", (1, 0, 1), 2)]
    assert chart.summary == ("From week 2026-W45 to week 2026-W46 (2 weeks): in the latest "
                             "week, 2026-W46, 2 risks are open: budget 1, \"><x 1. The most "
                             "open in one week: 3, in week 2026-W45.")
    assert "A &amp; &#34;B&#34;" in chart.svg and '"><x' not in chart.svg
    assert chart.svg.count("<rect ") == 4 and "style" not in chart.svg


# --- members and the project's settings ----------------------------------------------------

def test_an_owner_adds_changes_and_removes_a_member(team, people):
    owner = people["owner"]
    members = f"/app/projects/{team.id}/members"
    page = owner.page(members)
    assert f'aria-label="Role of {team.viewer["email"]}"' in page
    assert f'data-confirm="Remove {team.viewer["email"]} from the project?"' in page
    assert ">Add member</button>" in page and ">Delete project</button>" in page

    # Each result is said beside what caused it, not at the top of the page.
    added = owner.post_form(members, members, {"email": team.outsider["email"],
                                               "role": "viewer"}, follow=False)
    assert added.status_code == 303
    assert added.headers["Location"].endswith(f"{members}#add-member")
    page = text_of(owner.get(members))
    assert said_at(page, "add-member") == [f"{team.outsider['email']} added as viewer."]
    assert flashes(page) == []
    assert re.search(re.escape(team.outsider["email"]) + r"</th>", page)

    page = text_of(owner.post_form(members, f"{members}/{team.outsider['id']}",
                                   {"role": "editor"}))
    assert said_at(page, "members") == [f"{team.outsider['email']} is now editor."]
    assert re.search(rf'aria-label="Role of {re.escape(team.outsider["email"])}">\s*'
                     r'<option >owner</option><option selected>editor</option>', page)

    page = text_of(owner.post_form(members, f"{members}/{team.outsider['id']}/remove", {}))
    assert said_at(page, "members") == ["Member removed."]
    assert team.outsider["email"] not in page
    error_page(people["outsider"].get(members), 404)

    # Refusals in the API's words beside their form, what was typed kept: already a
    # member, the last owner. (An email without an account is invited:
    # tests/test_console_invitations.py.)
    refused = owner.post_form(members, members, {"email": team.viewer["email"],
                                                 "role": "owner"}, follow=False)
    assert refused.status_code == 409
    page = text_of(refused)
    assert "already a member" in re.search(
        r'<p class="form-error" role="alert" id="member-alert">(.*?)</p>', page)[1]
    assert f'value="{team.viewer["email"]}"' in form_of_section(page, "add-member")
    assert "<option selected>owner</option>" in form_of_section(page, "add-member")
    page = text_of(owner.post_form(members, f"{members}/{team.owner['id']}",
                                   {"role": "viewer"}))
    assert said_at(page, "members") == [LAST_OWNER] and flashes(page) == []
    assert "Role of" in page  # still the owner's page, the owner still owner
    error_page(owner.post_form(members, f"{members}/{team.outsider['id']}",
                               {"role": "editor"}), 404)


def test_viewers_see_the_members_but_may_not_change_them(team, people):
    viewer = people["viewer"]
    members = f"/app/projects/{team.id}/members"
    page = viewer.page(members)
    assert team.owner["email"] in page and "Role of" not in page
    assert "Add member" not in page and "Delete project" not in page
    error_page(viewer.post_form(members, f"{members}/{team.editor['id']}", {"role": "owner"}),
               403)
    error_page(viewer.post_form(members, members, {"email": team.outsider["email"],
                                                   "role": "owner"}), 403)
    error_page(viewer.post_form(members, f"/app/projects/{team.id}/delete", {}), 403)


def test_an_owner_renames_the_project_with_refusals_beside_the_field(team, people):
    """The owner's Members page has the project's name in a field of its own: the new name
    said beside it and audited as the API audits it; an empty or a 10,000-character name is
    the API's refusal beside the field, the name as typed kept and nothing changed. Only
    owners see the field; a viewer is refused, an outsider gets the 404 page."""
    owner = people["owner"]
    members = f"/app/projects/{team.id}/members"
    rename = f"/app/projects/{team.id}/rename"
    page = owner.page(members)
    assert re.search(r'<label for="project-name">Project name</label>\s*<input id="project-name"'
                     r' name="name"[^>]* value="Billing migration"', page)
    for typed, words in (("", "Must not be blank."), ("   ", "Must not be blank."),
                         ("x" * 10_000, "Longer than maximum length 200.")):
        refused = owner.post_form(members, rename, {"name": typed}, follow=False)
        assert refused.status_code == 422, text_of(refused)
        page = text_of(refused)
        assert re.search(r'<input id="project-name" name="name"[^>]*aria-describedby='
                         r'"project-name-help project-name-error" aria-invalid="true"', page)
        assert re.search(r'<p class="field-error" id="project-name-error">(.*?)</p>',
                         page)[1] == words
        assert f'value="{typed}"' in page and "form-error" not in page
    assert team.client.get(f"/api/v1/projects/{team.id}", headers=team.owner_h).get_json()[
        "name"] == "Billing migration"

    renamed = owner.post_form(members, rename, {"name": f"  Cut-over {HOSTILE}  "},
                              follow=False)
    assert renamed.status_code == 303
    assert renamed.headers["Location"].endswith(f"{members}#project-name")
    page = text_of(owner.get(members))
    assert said_in(page) == [f"Renamed: the project is “Cut-over {HOSTILE}” now."]
    assert HOSTILE not in page and "Cut-over &lt;script&gt;" in page
    assert team.client.get(f"/api/v1/projects/{team.id}", headers=team.viewer_h).get_json()[
        "name"] == f"Cut-over {HOSTILE}"
    audited = team.client.get("/api/v1/admin/audit-events", headers=team.admin_h,
                              query_string={"event": "project_updated"}).get_json()["items"]
    assert [(e["actor_id"], e["target_id"], e["details"]) for e in audited] == [
        (team.owner["id"], team.id, {"fields": ["name"]})]

    assert 'id="project-name"' not in people["editor"].page(members)
    assert 'id="project-name"' not in people["viewer"].page(members)
    error_page(people["viewer"].post_form(members, rename, {"name": "Mine"}), 403)
    error_page(people["outsider"].post_form("/app/projects", rename, {"name": "Mine"}), 404)
    anonymous = team.client.post(rename, data={"name": "Mine"})
    assert anonymous.status_code in (302, 400)  # the sign-in page, or the CSRF refusal
    assert team.client.get(f"/api/v1/projects/{team.id}", headers=team.owner_h).get_json()[
        "name"] == f"Cut-over {HOSTILE}"


def test_an_owner_deletes_the_project(team, people):
    owner = people["owner"]
    page = text_of(owner.post_form(f"/app/projects/{team.id}/members",
                                   f"/app/projects/{team.id}/delete", {}))
    assert flashes(page) == ["Project deleted."]
    assert "<h1>Projects</h1>" in page and "Billing migration" not in page
    error_page(owner.get(f"/app/projects/{team.id}"), 404)


# --- findings know their register entry ----------------------------------------------------

def test_a_findings_risk_id_is_its_register_entry_or_null(keyword_app, client, team):
    scan = scan_into(client, team.owner_h, team.id, WEEK_1)
    entries = {e["id"]: e for e in register_of(client, team.owner_h, team.id)}
    for finding in scan["data"]:
        entry = entries[finding["risk_id"]]
        assert (scan["scan_id"], finding["id"]) in [(f["scan_id"], f["finding_id"])
                                                    for f in entry["findings"]]
    with statements_run(keyword_app) as statements:
        stored = client.get(f"/api/v1/scans/{scan['scan_id']}", headers=team.owner_h)
    assert stored.get_json()["data"] == scan["data"]
    assert sum("register_links" in s for s in statements) == 1  # one query, not one a finding

    # Corrected to none: out of the register, and the answer says so.
    finding = scan["data"][0]
    corrected = client.patch(f"/api/v1/scans/{scan['scan_id']}/findings/{finding['id']}",
                             json={"category": "none"}, headers=team.owner_h).get_json()
    assert corrected["risk_id"] is None

    alone = client.post("/api/v1/scans", json={"text": WEEK_1}, headers=team.owner_h)
    assert alone.status_code == 201
    assert [f["risk_id"] for f in alone.get_json()["data"]] == [None, None]
    stored = client.get(f"/api/v1/scans/{alone.get_json()['scan_id']}", headers=team.owner_h)
    assert [f["risk_id"] for f in stored.get_json()["data"]] == [None, None]


def test_a_scan_result_links_each_finding_to_its_register_entry(team, people):
    page = console_scan(people["owner"], team.id, WEEK_1)
    entries = register_of(team.client, team.owner_h, team.id)
    for entry in entries:
        assert (f'<a href="/app/projects/{team.id}/risks/{entry["id"]}">Its register entry</a>'
                in page)


def test_the_pages_of_an_empty_project_say_so(keyword_app, client, team):
    browser = Browser(keyword_app, team.owner["email"])
    page = browser.page(f"/app/projects/{team.id}")
    assert "<svg" not in page and "No risks yet." in page
    page = browser.page(f"/app/projects/{team.id}/changes")
    assert "No report has been scanned into this project yet." in page
    assert page.count("<p>None.</p>") == 3


def test_an_admins_projects_page_lists_every_project_read_only_where_not_a_member(
        team, keyword_app):
    """Issue #85 item 5: an admin's Projects page said "You are in no project yet" and
    listed none, though the API lets an admin read any."""
    admin = Browser(keyword_app, team.admin["email"])
    page = admin.page("/app/projects")
    assert "You are in no project yet" not in page
    assert f'href="/app/projects/{team.id}"' in page and "reader (admin)" in page
    assert "Every project (you are an admin)" in page
    # A member's own page lists only theirs.
    outsider = Browser(keyword_app, team.outsider["email"]).page("/app/projects")
    assert f'href="/app/projects/{team.id}"' not in outsider
    assert "You are in no project yet" in outsider
