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

from ml.bleeding import pair_scores, read_pairs


@pytest.fixture(scope="module")
def scores(trained_analyzer):
    return pair_scores(trained_analyzer, read_pairs())


def test_the_pairs_are_forty_risks_each_followed_by_a_plain_sentence():
    pairs = read_pairs()
    assert len(pairs) == 40 and len({pair.plain for pair in pairs}) == 40


def test_its_score_moves_little_from_its_score_alone(scores):
    assert statistics.median(after - alone for after, alone in scores) <= 0.1
