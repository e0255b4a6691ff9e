"""ml/reading_budget.py: a budget replayed from one scoring is the cascade as served within
that budget (and with none), and the other ways it replays differ from it only where they
say. On the test model as the screen and as its reader (tests/readers.py)."""

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
def fast(scan_model_dir):
    return TransformerAnalyzer(scan_model_dir)


@pytest.fixture(scope="module")
def cascade(fast, reader_dir):
    return cascade_of(fast, reader_dir, budget=None)  # the budgets are the replay's


def served(cascade, text: str) -> list[Scored]:
    return [Scored(f.start, f.end, f.category, f.score) for f in cascade.analyze(text).findings]


def test_with_no_budget_the_replay_is_the_cascades_own_answer(cascade) -> None:
    read = reading_budget.record(cascade, MIXED_TEXT)
    assert 0 < len(read.passed) < len(read.screen), "the text should pass some, not all"
    passed_before = cascade.passed
    assert reading_budget.replay(cascade, MIXED_TEXT, read, None) == served(cascade, MIXED_TEXT)
    assert len(read.passed) == cascade.passed - passed_before  # what its screen passed


def test_a_budget_replayed_is_the_cascade_served_within_it(cascade, fast, reader_dir) -> None:
    read = reading_budget.record(cascade, MIXED_TEXT)
    one = 1 / len(read.screen)  # one sentence of the document
    for budget in (one, 0.5):
        within = cascade_of(fast, reader_dir, budget=budget)
        assert reading_budget.replay(cascade, MIXED_TEXT, read, budget) == served(
            within, MIXED_TEXT), budget
    assert reading_budget.replay(cascade, MIXED_TEXT, read, one) != reading_budget.replay(
        cascade, MIXED_TEXT, read, None)
    reads = [len(read.kept(cascade, share)) for share in (1.0, 0.5, 0.3, one)]
    assert reads == [min(len(read.passed), math.ceil(share * len(read.screen)))
                     for share in (1.0, 0.5, 0.3, one)]


def test_the_other_orders_and_none_past_the_budget(cascade) -> None:
    read = reading_budget.record(cascade, MIXED_TEXT)
    one = 1 / len(read.screen)
    risk = {index: score for index, (_, score) in enumerate(read.screen)}
    assert read.kept(cascade, one, "top") == [max(read.passed, key=risk.get)]
    point = cascade.screen.min_score
    assert read.kept(cascade, one) == [min(read.passed, key=lambda i: abs(risk[i] - point))]
    # With none past the budget, the findings are those of the one sentence read, or none.
    alone = reading_budget.replay(cascade, MIXED_TEXT, read, one, past=False)
    served_all = {(s.start, s.end) for s in reading_budget.replay(cascade, MIXED_TEXT, read, one)}
    assert len(alone) <= 1 and {(s.start, s.end) for s in alone} <= served_all
    assert len(served_all) > 1


def test_the_command_writes_each_budgets_figures(scan_model_dir, reader_dir, tmp_path,
                                                 capsys) -> None:
    out = tmp_path / "budget.json"
    assert reading_budget.main([str(scan_model_dir), str(reader_dir), "--budgets", "0.3,0.1",
                                "--limit", "2", "--json", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert list(figures["budgets"]) == ["none", "0.3", "0.1"]
    assert list(figures["budgets"]["0.1"])[:4] == [
        "uncertain, past it: fast", "uncertain, past it: none", "top, past it: fast",
        "top, past it: none"]
    genres = [row["42 by genre: judged, passed, read"] for row in figures["budgets"].values()]
    assert genres[0] and all(read <= passed <= judged
                             for row in genres for judged, passed, read in row.values())
    reads = [sum(read for *_, read in row.values()) for row in genres]
    assert reads == sorted(reads, reverse=True) and reads[0] > reads[-1]
    assert "none" in capsys.readouterr().out
