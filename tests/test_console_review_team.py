"""Review for a team (issue #61, item 5), driven as a browser would: a project's editors
and owners review every member's findings of it and answer them; its viewers, and admins who
are not members, read them without a control; no one else's finding is shown or counted.
Not answered first; the keys listed; the pager's words follow the order; the answer the
page's script reads. The keys themselves run in Chromium (tests/e2e/test_console_review.py).
"""

from __future__ import annotations

import re

import pytest

from tests.console_browser import CSRF, form, html, signed_in_client
from tests.findings import EDITORS, OUTSIDERS, OWNERS, PRIVATE, VIEWERS, scanned_team
from tests.projects import Team


@pytest.fixture
def team(app, client, monkeypatch) -> Team:
    return scanned_team(app, client, monkeypatch)


def rows(page: str) -> list[str]:
    """The sentences of the Review table's rows, in order."""
    return re.findall(r'class="review-mark" data-category="[^"]*"><a href="[^"]+">([^<]+)</a>',
                      page)


def row_of(page: str, risk: str) -> str:
    start = page.rindex('<tr id="review-', 0, page.index(f">{risk}</a>"))
    return page[start:page.index("</tr>", start)]


def test_an_editor_reviews_and_answers_the_owners_findings(team: Team, client):
    browser = signed_in_client(client.application, team.editor["email"])
    assert (f'<a href="/app/review?project_id={team.id}">Review its findings</a>'
            in html(browser.get(f"/app/projects/{team.id}")))
    page = html(browser.get("/app/review", query_string={"sort": "newest"}))
    assert rows(page) == [PRIVATE, VIEWERS, EDITORS, OWNERS]
    assert "4 findings" in page and OUTSIDERS not in page
    owners = team.scans["owner"]
    action = f"/app/scans/{owners['scan_id']}/findings/{owners['data'][0]['id']}"
    sent = browser.post(action, data=form(page, action, "Save").data(category="legal"))
    assert sent.status_code == 302
    after = html(browser.get(sent.headers["Location"]))
    assert "Saved: “The budget is short.” corrected to legal (the model said budget)." in after
    assert OWNERS not in rows(after)  # answered: out of the queue of those not answered
    # The owner finds it answered, said as what was answered, with nothing to undo it.
    owner = signed_in_client(client.application, team.owner["email"])
    answered = html(owner.get("/app/review", query_string={"corrected": "true"}))
    row = row_of(answered, OWNERS)
    assert '<td class="review-answer">Corrected: legal</td>' in row
    assert "Confirm" not in row and "Not a risk" in row


def test_a_viewer_reads_the_project_without_a_control(team: Team, client):
    browser = signed_in_client(client.application, team.viewer["email"])
    own = html(browser.get("/app/review"))
    assert rows(own) == [VIEWERS]  # their own scan alone, read only now
    assert f'<option value="{team.id}" >' in own and "(you view it: read only)" in own
    page = html(browser.get("/app/review", query_string={"project_id": team.id,
                                                          "sort": "newest"}))
    assert rows(page) == [VIEWERS, EDITORS, OWNERS]
    assert "<form method=\"post\"" not in page.split('class="review-table"')[1]
    assert page.count("Read only: only the project's editors and owners answer") == 3
    # A forged answer is the API's refusal, in its words.
    editors = team.scans["editor"]
    refused = browser.post(f"/app/scans/{editors['scan_id']}/findings/"
                           f"{editors['data'][0]['id']}",
                           data={"csrf_token": CSRF.search(page).group(1), "category": "none"})
    assert refused.status_code == 403 and "viewer" in html(refused)


def test_an_admin_reads_a_project_they_are_not_in(team: Team, client):
    browser = signed_in_client(client.application, team.admin["email"])
    assert "0 findings" in html(browser.get("/app/review"))
    # From the project's page, as a viewer gets there too.
    project = html(browser.get(f"/app/projects/{team.id}"))
    link = re.search(r'<a href="([^"]+)">Read its findings in Review</a>', project).group(1)
    page = html(browser.get(link))
    assert sorted(rows(page)) == sorted([OWNERS, EDITORS, VIEWERS])
    assert "This project (you are not a member: read only)" in page
    assert page.count("Read only: only the project's editors and owners answer") == 3


def test_an_outsider_finds_nothing_of_the_project(team: Team, client):
    browser = signed_in_client(client.application, team.outsider["email"])
    page = html(browser.get("/app/review", query_string={"corrected": ""}))
    assert rows(page) == [OUTSIDERS] and "1 finding" in page
    refused = browser.get("/app/review", query_string={"project_id": team.id})
    assert refused.status_code == 404
    said = html(refused)
    assert "No such project, or you are not a member of it." in said
    assert not {OWNERS, EDITORS, VIEWERS} & set(rows(said)) and "Billing migration" not in said


@pytest.mark.parametrize("value", ["abc", "' OR 1=1 --", "0" * 37])
def test_a_malformed_project_id_keeps_the_page_and_says_why(team: Team, client, value):
    browser = signed_in_client(client.application, team.owner["email"])
    response = browser.get("/app/review", query_string={"project_id": value})
    assert response.status_code == 422
    page = html(response)
    assert 'role="alert"' in page and "Project" in page and "Findings to review" not in page


def test_the_keys_are_listed_and_the_pager_follows_the_order(team: Team, client):
    owner = team.scans["owner"]
    for _ in range(20):  # 23 findings in all: two pages
        assert client.post("/api/v1/scans", headers=team.owner_h, json={
            "text": "The vendor is late.", "project_id": team.id}).status_code == 201
    browser = signed_in_client(client.application, team.owner["email"])
    page = html(browser.get("/app/review"))
    keys = dict(re.findall(r'<li data-key="(\w)" data-category="(\w*)"><kbd>', page))
    assert keys == {"1": "schedule", "2": "budget", "3": "resource", "4": "scope",
                    "5": "technical", "6": "security", "7": "legal", "8": "vendor",
                    "9": "quality", "0": "stakeholder", "n": "none", "c": ""}
    assert "<kbd>n</kbd> not a risk" in page and "<kbd>c</kbd> confirm" in page
    assert "<caption>Findings to review, nearest the operating point first</caption>" in page
    assert ">Further from the operating point</a>" in page and ">Older" not in page
    second = html(browser.get("/app/review", query_string={"page": 2}))
    assert ">Closer to the operating point</a>" in second
    newest = html(browser.get("/app/review", query_string={"sort": "newest", "page": 2}))
    assert "<caption>Findings to review, newest scan first</caption>" in newest
    assert ">Newer scans</a>" in newest
    # The script's answer: what to say, and what the row then shows (the budget finding,
    # at 0.3 the furthest from the operating point, is on the second page).
    action = f"/app/scans/{owner['scan_id']}/findings/{owner['data'][0]['id']}"
    answer = browser.post(action, headers={"Accept": "application/json"},
                          data=form(second, action, "Confirm").data(row="1"))
    assert answer.status_code == 200
    assert answer.get_json() == {"said": "Saved: “The budget is short.” confirmed as budget.",
                                 "answer": "Confirmed", "category": "budget"}


def test_nothing_left_to_answer_offers_the_answered_ones(team: Team, client):
    browser = signed_in_client(client.application, team.outsider["email"])
    outsiders = team.scans["outsider"]
    client.patch(f"/api/v1/scans/{outsiders['scan_id']}/findings/"
                 f"{outsiders['data'][0]['id']}", json={"category": "none"},
                 headers=team.outsider_h)
    page = html(browser.get("/app/review"))
    assert "No findings match these filters." in page
    link = re.search(r'<a href="([^"]+)">Show all, answered ones too</a>', page).group(1)
    assert rows(html(browser.get(link.replace("&amp;", "&")))) == [OUTSIDERS]


def test_review_with_a_project_needs_a_session(team: Team, client):
    response = client.application.test_client().get(
        "/app/review", query_string={"project_id": team.id})
    assert response.headers["Location"].startswith("/app/sign-in")
