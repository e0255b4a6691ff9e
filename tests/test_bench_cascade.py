"""``python -m bench.cascade``: the cascade's cost as a user meets it, through the HTTP API of
two real services (reader on, reader off), genre by genre, with the screen's pass shares
read from the cascade service's own /metrics. The figures are the test model's (a reader
made of its own weights), so these tests check what is measured and reported, not a speed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench import cascade as bench
from ml.documents import read_documents
from ml.scorecard import SETS
from service.analysis.cascade_model import SHAPES
from service.analysis.model_folder import SCREEN_JSON
from tests.readers import SCREEN

REPO_ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow


def test_the_genres_are_the_test_documents_every_one_in_exactly_one() -> None:
    grouped = bench.genres()
    documents = read_documents(bench.DOCUMENTS)
    assert sum(map(len, grouped.values())) == len(documents)
    assert {"46 other foundations", "47 status updates"} <= set(grouped)
    fortytwo = [name for name in grouped if name.startswith("42: ")]
    assert len(fortytwo) == 6  # the 42's six genres
    assert sum(len(grouped[name]) for name in fortytwo) == sum(map(SETS["42"], documents))
    assert all(len(texts) == 1 for texts in bench.genres(limit=1).values())


@pytest.fixture
def reader_root(cascade_root, reader_dir) -> Path:
    """A models root as `make reader` leaves one: `current` and `reader` name copies."""
    (cascade_root / "reader").write_text(reader_dir.name + "\n")
    # A threshold per shape above the one: the bench serves the cascade both ways.
    (cascade_root / reader_dir.name / SCREEN_JSON).write_text(json.dumps(
        {"screen": SCREEN, "shapes": dict.fromkeys(SHAPES, 0.9)}))
    return cascade_root


def test_each_genre_is_read_through_the_api_with_and_without_the_reader(reader_root) -> None:
    finished = subprocess.run(
        [sys.executable, "-m", "bench.cascade", "--model-dir", str(reader_root),
         "--rounds", "1", "--per-genre", "1", "--budget", "0.05"], cwd=REPO_ROOT,
        capture_output=True, text=True, check=False)
    assert finished.returncode == 0, finished.stderr
    result = json.loads(finished.stdout)  # the figures, as JSON on stdout
    assert set(result["genres"]) == set(bench.genres(limit=1))
    for genre, measured in result["genres"].items():
        fast, cascade = (measured["documents_per_s"][name] for name in ("fast", "cascade"))
        assert fast > 0 and cascade > 0, genre
        assert measured["ratio"] == pytest.approx(cascade / fast, abs=0.002), genre
        # The cascade service's own counter: the screen read the genre's sentences.
        assert 0 <= measured["passed_share"] <= 1, genre
    assert any(measured["passed_share"] > 0 for measured in result["genres"].values())
    ratios = {genre: measured["ratio"] for genre, measured in result["genres"].items()}
    assert result["lowest"] == {"genre": min(ratios, key=ratios.get),
                                "ratio": min(ratios.values())}
    assert result["mean_ratio"] == pytest.approx(sum(ratios.values()) / len(ratios), abs=0.002)
    # The same cascade at its one threshold, in the same rounds: it passes on at least as
    # many of each genre's sentences as at the shapes' higher thresholds, and more overall.
    assert result["screen"] == {"threshold": SCREEN, "shapes": dict.fromkeys(SHAPES, 0.9)}
    assert set(result["one threshold"]) == {"lowest", "mean_ratio"}
    for genre, measured in result["genres"].items():
        assert measured["passed_share"] <= measured["passed_share_one_threshold"], genre
        assert measured["ratio_one_threshold"] > 0, genre
    assert sum(m["passed_share"] for m in result["genres"].values()) < sum(
        m["passed_share_one_threshold"] for m in result["genres"].values())
    # Without its reading budget, in the same rounds: the reader reads all the screen
    # passes, and at least as much as within the budget.
    assert result["budget"] == 0.05 and set(result["no budget"]) == {"lowest", "mean_ratio"}
    for genre, measured in result["genres"].items():
        assert measured["read_share_no_budget"] == measured["passed_share_no_budget"], genre
        assert measured["read_share"] <= measured["read_share_no_budget"], genre
        assert measured["read_share"] <= measured["passed_share"], genre
    assert sum(m["read_share"] for m in result["genres"].values()) < sum(
        m["read_share_no_budget"] for m in result["genres"].values())
    for name in ("fast", "cascade", "no budget"):
        assert result["memory_mb"][name]["VmRSS"] > 0


def test_without_a_reader_it_says_so_and_measures_nothing(reader_root) -> None:
    (reader_root / "reader").unlink()
    finished = subprocess.run(
        [sys.executable, "-m", "bench.cascade", "--model-dir", str(reader_root)], cwd=REPO_ROOT,
        capture_output=True, text=True, check=False)
    assert finished.returncode == 0, finished.stderr
    assert "no reader" in finished.stderr
    assert finished.stdout == ""

