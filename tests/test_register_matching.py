"""The register's matching on real restatements: a fixed slice of ml/data/register/restated.jsonl.

Each pair is two risk sentences of one project's consecutive reports, by their own writers:
the same risk told again, or another risk of the project in the same words' neighbourhood.
A pair is decided as the register decides a finding against an entry holding the earlier
sentence (service/projects/register/entries.py): the same category, and ``nearest`` at the shipped
``REGISTER_MATCH_THRESHOLD``. The earlier sentences are embedded together, as an earlier
scan's findings were, and the later ones together, as a new report's are.

The floors sit under today's figures on the slice (docs/register.md has the full ones, from
``python -m ml.restated``), so that a real regression breaks them: a threshold moved far up
or down, or an encoder that no longer tells a restatement from a neighbouring risk.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from service.analysis.embedding import SentenceEncoder
from service.config import Settings
from service.projects.register.matching import nearest

RESTATED = Path(__file__).resolve().parent.parent / "ml" / "data" / "register" / "restated.jsonl"
SLICE = 30  # restatements, and as many different risks: the first of the test split by id


def shipped_threshold() -> float:
    return next(default for name, default, _ in Settings.documentation()
                if name == "REGISTER_MATCH_THRESHOLD")


@pytest.fixture(scope="module")
def decided():
    pairs = [json.loads(line) for line in RESTATED.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    test = sorted((pair for pair in pairs if pair["split"] == "test"), key=lambda p: p["id"])
    chosen = ([pair for pair in test if pair["relation"] == "same"][:SLICE]
              + [pair for pair in test if pair["relation"] == "different"][:SLICE])
    encoder = SentenceEncoder()
    earlier = encoder.embed([pair["a"] for pair in chosen])
    later = encoder.embed([pair["b"] for pair in chosen])
    threshold = shipped_threshold()
    joined = np.array([pair["category_a"] == pair["category_b"]
                       and nearest(earlier[row:row + 1], later[row], threshold) is not None
                       for row, pair in enumerate(chosen)])
    return chosen, joined, (earlier * later).sum(axis=1)


def test_the_slice_is_real_restatements_and_neighbouring_risks(decided):
    chosen, _, _ = decided
    same = [pair for pair in chosen if pair["relation"] == "same"]
    assert len(chosen) == 2 * SLICE == 60 and len(same) == SLICE
    assert {pair["kind"] for pair in same} >= {"restated", "near-verbatim"}
    assert len({pair["genre"] for pair in chosen}) >= 3
    assert all(pair["a"] != pair["b"] and pair["date_a"] <= pair["date_b"] for pair in chosen)


def test_restatements_join_their_entry_at_the_shipped_threshold(decided):
    chosen, joined, _ = decided
    same = np.array([pair["relation"] == "same" for pair in chosen])
    hits = int((joined & same).sum())
    precision, recall = hits / max(int(joined.sum()), 1), hits / int(same.sum())
    wrongly = int((joined & ~same).sum()) / int((~same).sum())  # a risk hidden in another's entry
    assert precision >= 0.5 and recall >= 0.2 and wrongly <= 0.2, (precision, recall, wrongly)
    near_copies = [row for row, pair in enumerate(chosen) if pair["kind"] == "near-verbatim"]
    assert near_copies and joined[near_copies].all()


def test_the_encoder_ranks_a_restatement_above_a_neighbouring_risk(decided):
    """How often a restatement's cosine beats a different risk's (the area under the ROC
    curve): what any threshold can make of these vectors."""
    chosen, _, cosine = decided
    same = np.array([pair["relation"] == "same" for pair in chosen])
    above = (cosine[same][:, None] > cosine[~same][None, :]).mean()
    assert above >= 0.65, above
