"""ml/reading_budget.py: a budget replayed from one scoring is the cascade as served when
there is none, and otherwise keeps the highest-screened of what the screen passed. On the
test model as the screen and as its reader (tests/readers.py)."""

from __future__ import annotations

import json
import math

import pytest

from ml import reading_budget
from ml.cascade import cascade_of
from ml.documents import Scored
from service.analysis.transformer import TransformerAnalyzer
from testkit.documents import MIXED_TEXT


@pytest.fixture(scope="module")
def cascade(scan_model_dir, reader_dir):
    return cascade_of(TransformerAnalyzer(scan_model_dir), reader_dir)


def served(cascade, text: str) -> list[Scored]:
    return [Scored(f.start, f.end, f.category, f.score)
            for f in cascade.analyze(text, min_score=0.0).findings]


def test_with_no_budget_the_replay_is_the_cascades_own_answer(cascade) -> None:
    read = reading_budget.record(cascade, MIXED_TEXT)
    assert 0 < len(read.passed) < len(read.risks), "the text should pass some, not all"
    passed_before = cascade.passed
    assert reading_budget.replay(MIXED_TEXT, read, None) == served(cascade, MIXED_TEXT)
    assert len(read.passed) == cascade.passed - passed_before  # what its screen passed


def test_a_budget_keeps_the_highest_screened_of_what_passed(cascade) -> None:
    read = reading_budget.record(cascade, MIXED_TEXT)
    everything = {(s.start, s.end): s for s in reading_budget.replay(MIXED_TEXT, read, None)}
    budget = 1 / len(read.risks)  # one sentence of the document
    kept = read.kept(budget)
    assert kept == {max(read.passed, key=lambda index: read.risks[index])}
    found = reading_budget.replay(MIXED_TEXT, read, budget)
    assert len(found) <= 1
    assert all(everything[(s.start, s.end)] == s for s in found)
    reads = [len(read.kept(share)) for share in (1.0, 0.5, 0.3, 0.1, 0.0)]
    assert reads == [min(len(read.passed), math.ceil(share * len(read.risks)))
                     for share in (1.0, 0.5, 0.3, 0.1, 0.0)]


def test_the_command_writes_each_budgets_figures(scan_model_dir, reader_dir, tmp_path,
                                                 capsys) -> None:
    out = tmp_path / "budget.json"
    assert reading_budget.main([str(scan_model_dir), str(reader_dir), "--budgets", "0.3,0.1",
                                "--limit", "2", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert list(figures["budgets"]) == ["none", "0.3", "0.1"]
    genres = [row["42 by genre: judged, passed, read"] for row in figures["budgets"].values()]
    assert genres[0] and all(read <= passed <= judged
                             for row in genres for judged, passed, read in row.values())
    reads = [sum(read for *_, read in row.values()) for row in genres]
    assert reads == sorted(reads, reverse=True) and reads[0] > reads[-1]
    assert "none" in capsys.readouterr().out
