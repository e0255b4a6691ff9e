"""History (/app/scans) names each scan and shows its project, and its search reads the
text (issue #52 item 5): a paste by its title (the text's first heading or line, the API's
``title``), a document by its file; the project's name linked to its register; the search
the API's ``q``. Through Flask's test client with the keyword stand-in model
(tests/scanning.py); Chromium reads the same page in tests/e2e/test_console_flow.py."""

from __future__ import annotations

import re

from tests.console_browser import html, sign_in
from tests.helpers import Accounts
from tests.scanning import created, post_file, post_text

ROW = re.compile(r"<tr>\s*<td><time.*?</tr>", re.DOTALL)


def rows(page: str) -> list[str]:
    """The history table's rows, each as its cells' text joined by " | "."""
    cells = re.compile(r"<td>(.*?)</td>", re.DOTALL)
    tags = re.compile(r"<[^>]+>")
    return [" | ".join(" ".join(tags.sub(" ", cell).split()) for cell in cells.findall(row))
            for row in ROW.findall(page)]


def browser_of(app, user):
    client = app.test_client()
    assert sign_in(client, user["email"]).status_code == 302
    return client


def test_a_paste_is_named_by_its_heading_or_first_line_and_a_document_by_its_file(
        keyword_app, client):
    user, headers = Accounts(keyword_app, client).user()
    headed = created(post_text(client, headers, "# Status, week 14\n\nThe vendor may slip."))
    created(post_text(client, headers, "The budget is short this quarter.\nMore to come."))
    created(post_file(client, headers, b"# Risk review\n\nThe vendor may slip.", "review.md"))
    browser = browser_of(keyword_app, user)

    page = html(browser.get("/app/scans"))
    names = [row.split(" | ")[1] for row in rows(page)]
    assert names == ["review.md download review.md", "The budget is short this quarter.",
                     "Status, week 14"]
    assert "Pasted text" not in page
    assert (f'<a href="/app/scans/{headed["scan_id"]}">Status, week 14</a>') in page
    # The scan's own page and the review queue say the same name.
    assert "<h1>Status, week 14</h1>" in html(browser.get(f"/app/scans/{headed['scan_id']}"))
    review = html(browser.get("/app/review"))
    assert "Status, week 14<br>" in review and "Pasted text" not in review


def test_each_scan_shows_its_project_linked_to_it(team, client):
    # The editor scans into the team's project, and once outside any project.
    team_scan = created(post_text(client, team.editor_h, "Team report\nThe vendor may slip.",
                                  project_id=team.id))
    created(post_text(client, team.editor_h, "Own notes\nThe budget is short."))
    browser = browser_of(client.application, team.editor)

    page = html(browser.get("/app/scans"))
    assert [row.split(" | ")[1:3] for row in rows(page)] == [
        ["Own notes", "none"], ["Team report", "Billing migration"]]
    assert (f'<a href="/app/projects/{team.id}">Billing migration</a>') in page

    # Removed from the project, the editor keeps the scan; its project is not named to them.
    removed = client.delete(f"/api/v1/projects/{team.id}/members/{team.editor['id']}",
                            headers=team.owner_h)
    assert removed.status_code == 204, removed.get_data(as_text=True)
    page = html(browser.get("/app/scans"))
    assert [row.split(" | ")[1:3] for row in rows(page)] == [
        ["Own notes", "none"], ["Team report", "a project you are no longer in"]]
    assert "Billing migration" not in page and f"/app/projects/{team.id}" not in page
    assert team_scan["scan_id"] in page


def test_the_search_finds_a_scan_by_a_word_of_its_text_not_another_users(keyword_app,
                                                                         client):
    accounts = Accounts(keyword_app, client)
    user, headers = accounts.user()
    _, stranger = accounts.user()
    created(post_text(client, headers, "Weekly report\nThe vendor may slip a fortnight."))
    created(post_text(client, headers, "Budget notes\nThe budget is short."))
    theirs = created(post_text(client, stranger, "Their report\nA fortnight late."))
    browser = browser_of(keyword_app, user)

    page = html(browser.get("/app/scans", query_string={"q": "Fortnight"}))
    assert [row.split(" | ")[1] for row in rows(page)] == ["Weekly report"]
    assert theirs["scan_id"] not in page
    assert 'value="Fortnight"' in page  # the search kept in its field
    assert [row.split(" | ")[1] for row in rows(html(browser.get(
        "/app/scans", query_string={"q": "100%"})))] == []


def test_an_oversized_search_is_the_forms_error(app, accounts):
    client = browser_of(app, accounts.register())
    refused = client.get("/app/scans", query_string={"q": "x" * 256})
    assert refused.status_code == 422
    assert ('<p class="form-error" role="alert">The request has invalid or missing fields. '
            'Search: Longer than maximum length 255.</p>') in html(refused)
    assert 'maxlength="255"' in html(refused)


def test_a_filtered_list_shows_its_filters_chosen_and_none_in_words(keyword_app, client):
    """The filters a list was read with stay chosen in its form (History, Review: one macro,
    console/_filters.html), and Review offers ``none`` as "not a risk", as its rows say it."""
    user, headers = Accounts(keyword_app, client).user()
    created(post_text(client, headers, "The vendor may slip.\nThe budget is short."))
    browser = browser_of(keyword_app, user)

    def chosen(page: str, name: str) -> list[str]:
        select = re.search(rf'<select id="f-{name}" name="{name}">(.*?)</select>', page,
                           re.DOTALL)
        return re.findall(r'<option value="(\w*)" selected>', select[1])

    history = html(browser.get("/app/scans?category=vendor&source=model"))
    assert (chosen(history, "category"), chosen(history, "source")) == (["vendor"], ["model"])
    assert [row.split(" | ")[1] for row in rows(history)] == ["The vendor may slip."]
    review = html(browser.get("/app/review?category=none"))
    assert chosen(review, "category") == ["none"]
    assert '<option value="none" selected>not a risk</option>' in review
    assert chosen(html(browser.get("/app/scans")), "category") == []
