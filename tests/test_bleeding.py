"""A risk does not bleed into the sentence after it (issue #84): "Only one engineer
understands the billing integration. The office moved to the third floor." came back as two
`resource` risks. On the suite's model, a sentence that states no risk, read after one that
does, is scored as it is alone.

The tolerance: their scores moved by at most 0.1 in the median (a score bin of the model card
is 0.1 wide: a move within it changes nothing a person reads). Before the fix the suite's
model moved them by 0.15, after it by 0.06. The issue's target for the shipped model, at
most 1 in 20 flagged, is measured by ``python -m ml.bleeding``, not here: the suite's small
model is uncalibrated and flags plain sentences alone too
(docs/experiments/2026-11-29-the-second-corpus-and-bleeding.md)."""

from __future__ import annotations

import statistics

import pytest

from ml.bleeding import Pair, followers, found_pairs, pair_scores, read_pairs, summary
from ml.documents import Document


@pytest.fixture(scope="module")
def scores(trained_analyzer):
    return pair_scores(trained_analyzer, read_pairs())


def test_the_pairs_are_forty_risks_each_followed_by_a_plain_sentence():
    pairs = read_pairs()
    assert len(pairs) == 40 and len({pair.plain for pair in pairs}) == 40


def test_its_score_moves_little_from_its_score_alone(scores):
    assert statistics.median(after - alone for after, alone in scores) <= 0.1


def test_the_sentences_after_a_risk_are_sorted_by_their_own_label(trained_analyzer):
    """The risks after a risk are measured apart from the plain sentences: a fix of the
    bleeding that taught "a risk before, so none" would lose them (ml.bleeding)."""
    first = "The vendor may not deliver the servers before the go-live date."
    second = "The budget for the second phase may be cut by the steering committee."
    third = "The team moved to the third floor of the building on Monday."
    text = f"Risks\n\n{first} {second} {third}"
    labelled = [(text.index(sentence), text.index(sentence) + len(sentence), category)
                for sentence, category in ((first, "vendor"), (second, "budget"))]
    found = followers(trained_analyzer, [Document("status/1", "status", text, labelled)])
    assert len(found["risks"]) == 1 and len(found["plain"]) == 1
    (_, second_alone), (_, third_alone) = found["risks"][0], found["plain"][0]
    alone = pair_scores(trained_analyzer, [Pair(first, second), Pair(first, third)])
    assert (second_alone, third_alone) == pytest.approx((alone[0][1], alone[1][1]))


def test_the_pairs_found_as_a_scan_answers_are_those_scored_at_the_point(trained_analyzer,
                                                                         scores):
    """The count a cascade is read by (a finding, each stage at its own point) is, for the
    fast model alone, the count of scores at its point: the two measures agree."""
    pairs = read_pairs()
    counted = summary(scores, trained_analyzer.min_score)
    assert found_pairs(trained_analyzer, pairs) == {
        "sentences": 40, "flagged_after": counted["flagged_after"],
        "flagged_alone": counted["flagged_alone"]}
