"""A scan's title (its text's first heading, else its first line) and the list's search of
the text (issue #52 item 5): what GET /api/v1/scans and GET /api/v1/scans/{id} say, for
pastes and documents, and ``q`` on filename, title and text, on SQLite and MariaDB."""

from __future__ import annotations

import pytest

from service.scans.titles import MAX_CHARS, OPENING, title_of
from tests.helpers import Accounts, assert_problem
from tests.scanning import created, post_file, post_text


@pytest.fixture
def owner(keyword_app, client):
    return Accounts(keyword_app, client).user()


def listed(client, headers, **query) -> list[dict]:
    response = client.get("/api/v1/scans", query_string={"per_page": 100, **query},
                          headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def titles(client, headers, **query) -> list[str]:
    return sorted(item["title"] for item in listed(client, headers, **query))


@pytest.mark.parametrize(("text", "title"), [
    ("# Status report, week 14\n\nThe vendor may slip.", "Status report, week 14"),
    ("Weekly notes\n\n  ##   Risks of the  billing migration ##  \n- The vendor may slip.",
     "Risks of the billing migration"),  # the first heading, its markers and spaces gone
    ("\n \n\tThe vendor may slip.\nThe budget is fine.", "The vendor may slip."),
    ("#\n---\n## \nThe vendor may slip.", "The vendor may slip."),  # no words: not a name
    ("#hashtag, not a heading\nSecond line.", "#hashtag, not a heading"),
    ("Line\x00with\x1bcontrols\u2028and a separator", "Line with controls"),
    ("x" * OPENING + "\n# A heading past the opening", "x" * (MAX_CHARS - 1) + "…"),
    ("!!!\n...", None),
    ("", None),
])
def test_a_title_is_the_first_heading_else_the_first_line(text, title):
    assert title_of(text) == title


def test_a_long_first_line_is_cut_at_a_word_with_an_ellipsis():
    line = ("The vendor has not delivered the test environment, and the go-live date of "
            "1 June is at risk.")
    title = title_of(line + "\nMore.")
    assert title == "The vendor has not delivered the test environment, and the…"
    assert len(title) <= MAX_CHARS and line.startswith(title[:-1])


def test_a_pasted_text_is_named_by_its_heading_in_the_list_and_the_scan(keyword_app, client,
                                                                       owner):
    _, headers = owner
    scan = created(post_text(client, headers, "## Status report, week 14 ##\n\nThe vendor "
                                              "may slip. The budget is short."))
    assert scan["title"] == "Status report, week 14" and scan["filename"] is None
    [item] = listed(client, headers)
    assert item["title"] == "Status report, week 14"
    again = client.get(f"/api/v1/scans/{scan['scan_id']}", headers=headers).get_json()
    assert again["title"] == "Status report, week 14"


def test_a_pasted_text_without_a_heading_is_named_by_its_first_line(keyword_app, client,
                                                                   owner):
    _, headers = owner
    text = ("\n\n  The vendor has not delivered the test environment, and the go-live date "
            "of 1 June is at risk.\nThe budget is short.")
    scan = created(post_text(client, headers, text))
    expected = "The vendor has not delivered the test environment, and the…"
    assert scan["title"] == expected
    assert [item["title"] for item in listed(client, headers)] == [expected]


def test_a_document_keeps_its_file_name_and_gets_a_title_from_its_text(keyword_app, client,
                                                                      owner):
    _, headers = owner
    scan = created(post_file(client, headers, b"# Risk review\n\nThe vendor may slip.",
                             "review.md"))
    assert (scan["filename"], scan["title"]) == ("review.md", "Risk review")


def test_the_search_finds_a_scan_by_a_word_of_its_text_and_only_the_callers(
        keyword_app, client, owner):
    _, headers = owner
    _, stranger = Accounts(keyword_app, client).user()
    created(post_text(client, headers, "Weekly report\nThe vendor may slip a fortnight."))
    created(post_text(client, headers, "Budget notes\nThe budget is short."))
    created(post_text(client, stranger, "Their report\nThe vendor may slip a fortnight."))
    # A word of the text, not of the title, in any case; the stranger's scan is theirs.
    assert titles(client, headers, q="FORTNIGHT") == ["Weekly report"]
    assert titles(client, headers, q="notes") == ["Budget notes"]  # the title
    assert titles(client, headers, q="nowhere") == []
    assert titles(client, stranger, q="fortnight") == ["Their report"]


def test_the_search_takes_percent_and_underscore_as_themselves(keyword_app, client, owner):
    _, headers = owner
    for text in ("Done 100% of it", "Done 1000 of it", "Field a_b set", "Field axb set",
                 "Path a/b", "Path a//b"):
        created(post_text(client, headers, text))
    assert titles(client, headers, q="100%") == ["Done 100% of it"]
    assert titles(client, headers, q="%") == ["Done 100% of it"]
    assert titles(client, headers, q="a_b") == ["Field a_b set"]
    assert titles(client, headers, q="_") == ["Field a_b set"]
    assert titles(client, headers, q="a/b") == ["Path a/b"]  # the escape character too
    assert titles(client, headers, q="' OR '1'='1") == []


def test_an_oversized_search_is_a_422_that_names_q(keyword_app, client, owner):
    _, headers = owner
    created(post_text(client, headers, "The vendor may slip."))
    assert len(listed(client, headers, q="vendor")) == 1
    body = assert_problem(client.get("/api/v1/scans", query_string={"q": "x" * 256},
                                     headers=headers), 422, "q")
    assert body["errors"]["q"] == ["Longer than maximum length 255."]
    assert listed(client, headers, q="x" * 255) == []  # the longest allowed is a search
