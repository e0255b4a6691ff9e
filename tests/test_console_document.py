"""A scan's page shows the document whole: the text as the service kept it, its headings and
lists as such, each finding marked where it stands, near misses marked lightly and folded
apart with one-click answers, and "Mark as risk" on any other sentence; and who may not.
Through Flask's test client with a stand-in model of known scores (tests/scanning.py
NearAnalyzer); Chromium drives the same page in tests/e2e/test_console_document.py."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import update

from service.console.document import blocks_of
from service.db import Scan
from service.extensions import db
from tests.console_browser import csrf_of, flashes, html, said_at, sign_in
from tests.helpers import Accounts
from tests.projects import add_member, make_project
from tests.scanning import NearAnalyzer

DOCUMENT = ("# Weekly status\n\n"
            "## 4. Risks\n"
            "The launch may slip. Lunch was fine. The vendor is late.\n\n"
            "- The password is shared.\n"
            "- The plants were watered.\n"
            "\n<script>alert(1)</script> is what a page must never run.\n")
MARK = re.compile(r'<mark id="mark-(\d+)" data-category="(\w+)"( class="possible")?'
                  r'[^>]*>([^<]*)</mark>')


@pytest.fixture
def near_app(app, monkeypatch):
    monkeypatch.setattr(app.extensions["riskscan.analyzers"], "model", NearAnalyzer())
    return app


def browser_of(app, user) -> object:
    client = app.test_client()
    assert sign_in(client, user["email"]).status_code == 302
    return client


@pytest.fixture
def owner(near_app):
    user, headers = Accounts(near_app, near_app.test_client()).user()
    return browser_of(near_app, user), user, headers


def scan(client, text=DOCUMENT, **fields) -> str:
    posted = client.post("/app/scan", data={"text": text, "csrf_token": csrf_of(client),
                                            **fields})
    assert posted.status_code == 303, posted.get_data(as_text=True)
    return posted.headers["Location"].rsplit("/", 1)[1]


def document_of(page: str) -> str:
    start = page.index('<div class="text">')
    return page[start:page.index("</div>", start)]


def marks(page: str) -> dict[str, tuple[str, str, bool]]:
    """The marked sentences of the document: sentence -> (finding id, category, possible)."""
    return {sentence: (finding, category, bool(possible))
            for finding, category, possible, sentence in MARK.findall(document_of(page))}


def test_the_document_is_shown_whole_as_headings_lists_and_marks(owner):
    client, _, _ = owner
    page = html(client.get(f"/app/scans/{scan(client)}"))
    text = document_of(page)
    assert "<h3>Weekly status</h3>" in text and "<h4>4. Risks</h4>" in text
    assert "#" not in text  # no Markdown debris
    assert re.search(r"<ul><li><mark [^>]*>The password is shared\.</mark></li>"
                     r"<li><span class=\"sentence\"[^>]*>The plants were watered\.</span>"
                     r"</li></ul>", text), text
    assert {sentence: category for sentence, (_, category, _) in marks(page).items()} == {
        "The launch may slip.": "schedule", "The password is shared.": "security"}
    assert text.count("Lunch was fine.") == 1  # whole, nothing repeated
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<script>alert" not in page


def test_near_misses_are_marked_lightly_folded_and_answered_in_one_click(owner):
    client, _, _ = owner
    plain = html(client.get(f"/app/scans/{scan(client)}"))
    assert "possible risk" not in plain and 'class="possible"' not in plain
    scan_id = scan(client, DOCUMENT + "The budget is short.\n", include_possible="true")
    page = html(client.get(f"/app/scans/{scan_id}"))
    assert marks(page)["The vendor is late."][1:] == ("vendor", True)
    assert "<summary>1 possible risk</summary>" in page  # budget scores 0.3: under the floor
    assert "2 risks found" in page
    finding = marks(page)["The vendor is late."][0]
    confirmed = client.post(f"/app/scans/{scan_id}/findings/{finding}",
                            data={"category": "vendor", "csrf_token": csrf_of(client)},
                            follow_redirects=True)
    page = html(confirmed)
    assert "Saved: “The vendor is late.” confirmed as vendor." in page
    assert marks(page)["The vendor is late."][1:] == ("vendor", False)
    assert "possible risk" not in page and "3 risks found" in page


def test_a_near_miss_is_confirmed_in_a_category_chosen_beside_its_button(near_app, owner):
    """The fold's "Confirm" has a category select, the model's category chosen: another
    category confirms it there, into the project's register once; an unknown one is the
    API's refusal in words, and the near miss stays one."""
    client, _, headers = owner
    project = make_project(near_app.test_client(), headers)
    scan_id = scan(client, include_possible="true", project_id=project["id"])
    page = html(client.get(f"/app/scans/{scan_id}"))
    finding = marks(page)["The vendor is late."][0]
    select = re.search(rf'<label for="possible-category-{finding}">Category</label>\s*'
                       rf'<select id="possible-category-{finding}" name="category">(.*?)'
                       r'</select>', page, re.DOTALL)
    assert select, page
    options = re.findall(r'<option value="(\w+)" ?(selected)?>', select.group(1))
    assert [label for label, _ in options][:3] == ["schedule", "budget", "resource"]
    assert "none" not in dict(options) and [label for label, on in options if on] == [
        "vendor"]
    path = f"/app/scans/{scan_id}/findings/{finding}"
    refused = client.post(path, data={"category": "finance", "csrf_token": csrf_of(client)})
    assert refused.status_code == 422 and "Category: Must be one of" in html(refused)
    assert marks(html(client.get(f"/app/scans/{scan_id}")))["The vendor is late."][2]
    confirmed = client.post(path, data={"category": "budget", "csrf_token": csrf_of(client)},
                            follow_redirects=True)
    page = html(confirmed)
    assert ("Saved: “The vendor is late.” corrected to budget (the model said vendor)."
            in page)
    assert marks(page)["The vendor is late."][1:] == ("budget", False)
    assert "possible risk" not in page and "3 risks found" in page
    register = near_app.test_client().get(f"/api/v1/projects/{project['id']}/risks",
                                          headers=headers).get_json()["items"]
    assert sorted((e["category"], e["risk"]) for e in register) == [
        ("budget", "The vendor is late."), ("schedule", "The launch may slip."),
        ("security", "- The password is shared.")]


def test_a_dismissed_near_miss_leaves_the_page_as_not_a_risk(owner):
    client, _, _ = owner
    scan_id = scan(client, include_possible="true")
    finding = marks(html(client.get(f"/app/scans/{scan_id}")))["The vendor is late."][0]
    page = html(client.post(f"/app/scans/{scan_id}/findings/{finding}",
                            data={"category": "none", "csrf_token": csrf_of(client)},
                            follow_redirects=True))
    assert "Saved: “The vendor is late.” is not a risk (the model said vendor)." in page
    assert "The vendor is late." not in marks(page) and "possible risk" not in page
    assert ">none<" not in page


def test_a_sentence_is_marked_as_a_risk_and_counts(near_app, owner):
    client, _, _ = owner
    scan_id = scan(client)
    page = html(client.get(f"/app/scans/{scan_id}"))
    offsets = re.search(r'<option value="(\d+-\d+)">The plants were watered\.</option>',
                        page).group(1)
    marked = client.post(f"/app/scans/{scan_id}/findings", data={
        "sentence": offsets, "category": "quality", "csrf_token": csrf_of(client)})
    assert marked.status_code == 303
    finding = re.fullmatch(rf"/app/scans/{scan_id}#finding-(\d+)",
                           marked.headers["Location"]).group(1)
    page = html(client.get(f"/app/scans/{scan_id}"))
    assert flashes(page) == [] and said_at(page, f"finding-{finding}") == [  # where it lands
        "Saved: “The plants were watered.” marked as a risk (quality)."]
    assert marks(page)["The plants were watered."] == (finding, "quality", False)
    assert "3 risks found" in page and "added by a person" in page
    assert ">The plants were watered.</option>" not in page  # a finding now: not offered
    again = client.post(f"/app/scans/{scan_id}/findings", data={
        "sentence": offsets, "category": "quality", "csrf_token": csrf_of(client)},
        follow_redirects=True)
    [refusal] = said_at(html(again), "mark-form")  # already a finding: the API's words
    assert refusal.startswith("Not marked: ") and again.request.path == f"/app/scans/{scan_id}"
    nonsense = client.post(f"/app/scans/{scan_id}/findings", data={
        "sentence": "x", "category": "none", "csrf_token": csrf_of(client)},
        follow_redirects=True)
    assert "Not marked: " in html(nonsense)


def test_marking_without_the_forms_token_is_refused_and_adds_nothing(owner):
    client, _, _ = owner
    scan_id = scan(client)
    page = html(client.get(f"/app/scans/{scan_id}"))
    offsets = re.search(r'<option value="(\d+-\d+)">Lunch was fine\.</option>', page).group(1)
    refused = client.post(f"/app/scans/{scan_id}/findings",
                          data={"sentence": offsets, "category": "quality"})
    assert refused.status_code == 400
    assert "This form was not sent from a page of this console" in html(refused)
    assert "Lunch was fine." not in marks(html(client.get(f"/app/scans/{scan_id}")))


def test_another_users_scan_is_a_404_page_and_cannot_be_marked(near_app, owner):
    client, _, _ = owner
    scan_id = scan(client)
    stranger, _ = Accounts(near_app, near_app.test_client()).user()
    other = browser_of(near_app, stranger)
    assert other.get(f"/app/scans/{scan_id}").status_code == 404
    refused = other.post(f"/app/scans/{scan_id}/findings", data={
        "sentence": "0-20", "category": "quality", "csrf_token": csrf_of(other)})
    assert refused.status_code == 404 and "Not found" in html(refused)


def test_a_viewer_reads_the_document_but_gets_no_control_and_is_refused(near_app, owner):
    client, _, headers = owner
    project = make_project(client, headers)
    viewer, _ = Accounts(near_app, near_app.test_client()).user()
    add_member(client, headers, project["id"], viewer["email"], "viewer")
    scan_id = scan(client, project_id=project["id"], include_possible="true")
    assert 'id="mark-form"' in html(client.get(f"/app/scans/{scan_id}"))  # the owner's
    reader = browser_of(near_app, viewer)
    page = html(reader.get(f"/app/scans/{scan_id}"))
    assert "The launch may slip." in marks(page)
    assert 'id="mark-form"' not in page and "correct-form" not in page
    assert "Confirm" not in page
    refused = reader.post(f"/app/scans/{scan_id}/findings", data={
        "sentence": "0-20", "category": "quality", "csrf_token": csrf_of(reader)})
    assert refused.status_code == 403


def test_a_scan_stored_before_texts_were_kept_shows_its_risks_in_context(near_app, owner):
    client, _, _ = owner
    scan_id = scan(client)
    with near_app.app_context():
        db.session.execute(update(Scan).where(Scan.id == scan_id).values(text=None))
        db.session.commit()
        db.session.remove()
    page = html(client.get(f"/app/scans/{scan_id}"))
    assert "The risks in context" in page and 'id="mark-form"' not in page
    assert re.search(r'<p class="context">[^<]*<mark id="mark-\d+" data-category="schedule"',
                     page)


@pytest.mark.parametrize(("text", "blocks"), [
    ("## 4.\nRisks", [("h4", "4."), ("p", "Risks")]),
    ("Intro line\nsame paragraph\n\nNext", [("p", "Intro line\nsame paragraph"),
                                            ("p", "Next")]),
    ("1. one\n2) two\n* three", [("ol", "one"), ("ol", "two"), ("ul", "three")]),
    ("> quoted", [("p", "quoted")]),
    ("####### seven", [("p", "####### seven")]),
])
def test_markdown_markers_are_structure_not_text(text, blocks):
    assert [(block.kind, text[block.start:block.end]) for block in blocks_of(text)] == blocks
