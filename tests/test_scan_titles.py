"""A scan's title (its text's first heading, else its first line; issue #52 item 5): what
GET /api/v1/scans and GET /api/v1/scans/{id} say, for pastes and documents."""

from __future__ import annotations

import pytest

from service.scans.titles import MAX_CHARS, OPENING, title_of
from tests.helpers import Accounts
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
