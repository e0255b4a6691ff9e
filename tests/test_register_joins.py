"""How each finding came to its register entry, and how sure the register was (issue #77,
"where it shows"): the finding that opened it, a restatement the embeddings joined with
its cosine, one a person merged in or split out; in the API and on the risk's page.

Findings come from the keyword stand-in, matched by the real sentence encoder, whose
cosines the test recomputes (tests/curating.py has the reports)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from service.analysis.embedding import SentenceEncoder
from service.config import current_settings
from tests.console_browser import Browser
from tests.curating import HOSTING, LICENCES, WEEKS, by_wording, merge, split
from tests.projects import register_of, scan_into


@pytest.fixture
def two_weeks(team, client):
    return [scan_into(client, team.editor_h, team.id, text, reported_on=day)
            for text, day in WEEKS[:2]]


def cosine(first: str, second: str) -> float:
    a, b = SentenceEncoder().embed([first, second])
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_a_restatement_says_the_embeddings_joined_it_and_how_alike(team, client, two_weeks,
                                                                   keyword_app):
    licences = by_wording(register_of(client, team.owner_h, team.id), LICENCES[1])
    opened, restated = licences["findings"]
    assert [opened["scan_id"], restated["scan_id"]] == [s["scan_id"] for s in two_weeks]
    assert (opened["joined_by"], opened["alike"]) == ("opened", None)
    assert restated["joined_by"] == "embeddings"
    with keyword_app.app_context():
        threshold = current_settings().REGISTER_MATCH_THRESHOLD
    assert threshold <= restated["alike"] < 1
    assert restated["alike"] == pytest.approx(cosine(LICENCES[0], LICENCES[1]), abs=0.01)


def test_a_merge_and_a_split_say_a_person_placed_the_finding(team, client, two_weeks):
    entries = register_of(client, team.owner_h, team.id)
    first, second = by_wording(entries, HOSTING[0]), by_wording(entries, HOSTING[1])
    assert [f["joined_by"] for f in first["findings"] + second["findings"]] == [
        "opened", "opened"]  # 0.57 alike: below the threshold, two entries
    merged = merge(client, team, first["id"], [second["id"]]).get_json()
    assert [(f["joined_by"], f["alike"]) for f in merged["findings"]] == [
        ("opened", None), ("merged", None)]

    moved = merged["findings"][1]["finding_id"]
    answer = split(client, team, first["id"], [moved])
    assert answer.status_code == 201, answer.get_json()
    assert [(f["joined_by"], f["alike"]) for f in answer.get_json()["findings"]] == [
        ("split", None)]
    kept = client.get(f"/api/v1/projects/{team.id}/risks/{first['id']}",
                      headers=team.owner_h).get_json()
    assert [f["joined_by"] for f in kept["findings"]] == ["opened"]


def test_the_risks_page_says_how_each_wording_came_and_how_sure(team, client, two_weeks,
                                                                keyword_app):
    licences = by_wording(register_of(client, team.owner_h, team.id), LICENCES[1])
    alike = licences["findings"][1]["alike"]
    page = Browser(keyword_app, team.owner["email"]).page(
        f"/app/projects/{team.id}/risks/{licences['id']}")
    section = re.search(r'id="wordings">(.*?)</section>', page, re.DOTALL)[1]
    items = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", item)).strip()
             for item in re.findall(r"<li[^>]*>(.*?)</li>", section, re.DOTALL)]
    assert len(items) == 2
    assert "(opened this risk)" in items[0]
    assert f"(joined as a restatement, {alike:.2f} alike)" in items[1]


def test_reports_scanned_out_of_date_order_are_labelled_as_they_read(team, client,
                                                                     keyword_app):
    """Week 2's report scanned before week 1's: week 2's statement opened the risk and week
    1's joined it, but the page lists week 1 first; neither reads as the other's role."""
    for text, day in reversed(WEEKS[:2]):
        scan_into(client, team.editor_h, team.id, text, reported_on=day)
    licences = by_wording(register_of(client, team.owner_h, team.id), LICENCES[1])
    assert [f["joined_by"] for f in licences["findings"]] == ["embeddings", "opened"]

    page = Browser(keyword_app, team.owner["email"]).page(
        f"/app/projects/{team.id}/risks/{licences['id']}")
    section = re.search(r'id="wordings">(.*?)</section>', page, re.DOTALL)[1]
    items = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", item)).strip()
             for item in re.findall(r"<li[^>]*>(.*?)</li>", section, re.DOTALL)]
    assert LICENCES[0] in items[0] and "(first stated here; its report was scanned later" \
        in items[0]
    assert "opened this risk" not in items[0] and "joined as a restatement" not in items[0]
    assert LICENCES[1] in items[1]
    assert "(stated again; its report, scanned before the earlier one, opened this risk)" \
        in items[1]
