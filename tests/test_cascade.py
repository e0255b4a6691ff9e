"""The cascade: the fast model screens every sentence, the reader decides on those it passes.

The unit tests isolate the cascade's own rules with two recording stages; the rest run the
real thing: the test model as the screen, and as the reader the same weights read at
another temperature and operating point (a reader that scores differently from the
screen, so that whose score a finding carries is visible), loaded the way the service
loads them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

import pytest

from ml import cascade as fitting
from ml.documents import Scored, metrics_at, read_documents
from service.analysis.cascade_model import BUDGET, Cascade, ReaderError, read_screen
from service.analysis.labels import NONE
from service.analysis.model_folder import INT8_ONNX, SCREEN_JSON
from service.analysis.transformer import TransformerAnalyzer
from service.config import ConfigError, Settings
from testkit.documents import MIXED_TEXT
from testkit.model_folders import copy_model
from tests.helpers import Accounts
from tests.readers import READER_POINT, READER_TEMPERATURE, SCREEN
from tests.scanning import created, post_text

REPO_ROOT = Path(__file__).resolve().parent.parent
TEXT = MIXED_TEXT


# ---------------------------------------------------------------------------------------
# The cascade's rules, with recording stages


class Stage:
    """Answers each sentence with the (category, risk score) it is given, as a model would
    at ``min_score`` (below it: ``none``, scored 1 − risk), and records what it read."""

    def __init__(self, version: str, scores: dict[str, tuple[str, float]], point: float = 0.5):
        self.version, self.scores, self.min_score = version, scores, point
        self.context, self.device, self.runtime, self.quantize = False, "cpu", "onnx", "none"
        self.read: list[list[str]] = []

    def classify(self, sentences, *, min_score=None, progress=False):
        self.read.append(list(sentences))
        point = self.min_score if min_score is None else min_score
        return [(category, risk) if risk >= point else (NONE, 1 - risk)
                for category, risk in (self.scores[s] for s in sentences)]


def stages():
    screen = Stage("fast-1", {"a": ("schedule", 0.9), "b": ("vendor", 0.25), "c": ("budget", 0.1)})
    reader = Stage("reader-1", {"a": ("technical", 0.3), "b": ("vendor", 0.8),
                                "c": ("budget", 0.99)}, point=0.7)
    return screen, reader


class Found:
    """An analyzer whose findings on the check text are given: the check alone, isolated."""

    def __init__(self, *found: tuple[int, int, str, float], quantize: str = "none"):
        self.found, self.quantize = found, quantize

    def analyze(self, text, **_):
        from types import SimpleNamespace

        return SimpleNamespace(findings=[SimpleNamespace(start=a, end=b, category=c, score=d)
                                         for a, b, c, d in self.found])


def test_the_cascade_check_allows_an_int8_readers_batch_wobble_and_no_more(tmp_path) -> None:
    # An int8 reader scores a sentence read among the screen's few a little differently
    # from the same sentence read among all (dynamic quantization's batch-wide scales):
    # 0.022 on the test model's. More, another place or another category is refused; the
    # fast model's own findings (past a reading budget) only as it finds them alone.
    from service.analysis.check import CheckFailed, check_cascade

    alone = (449, 474, "security", 0.8037)

    fast = (100, 140, "schedule", 0.71)  # past a reading budget, the fast model's answer

    def checked(through, quantize="int8"):
        cascade = Found(through)
        cascade.screen, cascade.reader = Found(fast), Found(alone, quantize=quantize)
        check_cascade(cascade, tmp_path, tmp_path)  # no check.json: labels checked only

    checked((449, 474, "security", 0.8255))
    checked(fast)
    for wrong in ((449, 474, "security", 0.8637), (449, 474, "resource", 0.8037),
                  (448, 474, "security", 0.8037), (100, 140, "schedule", 0.7301)):
        with pytest.raises(CheckFailed, match="neither its reader nor its fast model"):
            checked(wrong)
    with pytest.raises(CheckFailed, match="neither its reader nor its fast model"):
        checked((449, 474, "security", 0.8255), quantize="none")  # fp32: 0.02


def test_a_sentence_the_screen_passes_over_is_never_a_finding() -> None:
    screen, reader = stages()
    cascade = Cascade(screen, reader, threshold=0.2)

    answers = cascade.classify(["a", "b", "c"], min_score=0.0)

    # "c" would be the reader's surest risk, but the screen scored it 0.1 < 0.2.
    assert answers[2] == (NONE, 1.0)
    assert reader.read == [["a", "b"]]


def test_the_reader_decides_what_the_screen_passes_on() -> None:
    screen, reader = stages()

    answers = Cascade(screen, reader, threshold=0.2).classify(["a", "b", "c"])

    # The screen's surest risk ("a", 0.9) is the reader's none at its own point (0.3 < 0.7);
    # "b", barely past the screen, is the reader's risk with the reader's score.
    assert answers[0] == (NONE, pytest.approx(0.7))
    assert answers[1] == ("vendor", 0.8)
    assert screen.read == [["a", "b", "c"]]


def test_a_scans_min_score_applies_to_the_readers_score() -> None:
    screen, reader = stages()
    cascade = Cascade(screen, reader, threshold=0.2)

    assert cascade.min_score == 0.7
    assert cascade.classify(["a", "b"], min_score=0.25)[0] == ("technical", 0.3)
    assert cascade.classify(["a", "b"], min_score=0.85)[1] == (NONE, pytest.approx(0.2))


def test_the_reader_is_not_asked_when_the_screen_passes_nothing() -> None:
    screen, reader = stages()

    answers = Cascade(screen, reader, threshold=0.95).classify(["a", "b", "c"])

    assert answers == [(NONE, 1.0)] * 3
    assert reader.read == []



def test_what_the_screen_passes_on_and_the_reader_reads_is_counted_for_prometheus() -> None:
    from prometheus_client import REGISTRY

    def counted():
        return [REGISTRY.get_sample_value("riskscan_cascade_sentences_total",
                                          {"stage": stage}) or 0
                for stage in ("screened", "passed", "read")]

    screen, reader = stages()
    cascade = Cascade(screen, reader, threshold=0.2, budget=0.3)
    before = counted()

    cascade.classify(["a", "b", "c"])  # passes a and b; the budget reads one of three
    cascade.classify(["c"])

    assert [after - was for after, was in zip(counted(), before)] == [4, 2, 1]
    assert (cascade.screened, cascade.passed, cascade.read) == (4, 2, 1)


def test_a_budget_reads_what_the_fast_model_is_least_sure_of_and_it_answers_the_rest() -> None:
    _, reader = stages()  # the reader's point 0.7, the screen's 0.5: "b" is nearer it
    screen = Stage("fast-1", {"a": ("schedule", 0.6), "b": ("vendor", 0.45),
                              "c": ("budget", 0.1)})
    cascade = Cascade(screen, reader, threshold=0.2, budget=0.3)  # ceil(0.3 × 3): one

    answers = cascade.classify(["a", "b", "c"])

    assert reader.read == [["b"]]
    # "a" is the fast model's risk at its own point (0.6 ≥ 0.5), not the reader's (0.7).
    assert answers == [("schedule", 0.6), ("vendor", 0.8), (NONE, 1.0)]
    # A scan's min_score applies past the budget too: the fast model's 0.6 is under 0.65.
    assert cascade.classify(["a", "b", "c"], min_score=0.65)[0] == (NONE, pytest.approx(0.4))
    # With room for both, the reader reads both, as with no budget.
    roomy = Cascade(*stages(), threshold=0.2, budget=0.5)
    assert roomy.classify(["a", "b", "c"]) == Cascade(*stages(), threshold=0.2).classify(
        ["a", "b", "c"])


def test_each_document_has_a_budget_of_its_own() -> None:
    from service.analysis.reading import Placed, sentences_of

    class ByText(Stage):
        def classify(self, sentences, *, min_score=None, progress=False):
            return super().classify([item.sentence.text for item in sentences],
                                    min_score=min_score)

    scores = {"Alpha risk.": ("schedule", 0.6), "Beta risk.": ("vendor", 0.45),
              **{f"{name} line.": ("budget", 0.1) for name in ("Gamma", "Delta", "Eta", "Zeta")}}
    screen, reader = ByText("fast", scores), ByText("reader", scores, point=0.4)
    one = tuple(sentences_of("Alpha risk. Beta risk."))
    two = tuple(sentences_of("Gamma line. Delta line. Eta line. Zeta line."))
    placed = [Placed(one, 0), Placed(one, 1), *(Placed(two, index) for index in range(4))]

    answers = Cascade(screen, reader, threshold=0.2, budget=0.4).classify(placed)

    # The first document's budget is one of its two sentences (Beta, nearer the point 0.5),
    # though the second's, which passes nothing, would leave room for both: six at 0.4.
    assert reader.read == [["Beta risk."]]
    assert answers[:2] == [("schedule", 0.6), ("vendor", 0.45)]


@pytest.mark.parametrize("budget", [0.0, -0.1, 1.5])
def test_a_budget_is_a_share_of_a_documents_sentences(budget) -> None:
    with pytest.raises(ValueError, match="share"):
        Cascade(*stages(), threshold=0.2, budget=budget)
    with pytest.raises(ConfigError, match="READER_BUDGET"):
        Settings.from_env({"RISKSCAN_ENV": "development", "READER_BUDGET": str(budget)})


def test_the_budget_is_on_by_default_and_off_reads_all_the_screen_passes() -> None:
    development = {"RISKSCAN_ENV": "development"}
    assert Settings.from_env(development).READER_BUDGET == BUDGET
    assert Settings.from_env({**development, "READER_BUDGET": "off"}).READER_BUDGET is None
    assert Settings.from_env({**development, "READER_BUDGET": "0.4"}).READER_BUDGET == 0.4

def test_the_cascade_names_both_models() -> None:
    screen, reader = stages()
    cascade = Cascade(screen, reader, threshold=0.2)

    assert cascade.version == "fast-1+reader-1"
    assert cascade.runtime == "onnx+onnx"


@pytest.mark.parametrize("content, reason", [
    (None, "is missing"),
    ("{not json", "unreadable: JSONDecodeError"),
    ('{"threshold": 0.2}', "unreadable: KeyError"),
    ('{"screen": 1.5}', "within 0..1"),
])
def test_a_readers_screen_file_is_read_or_refused_with_the_reason(tmp_path, content,
                                                                    reason) -> None:
    if content is not None:
        (tmp_path / SCREEN_JSON).write_text(content)

    with pytest.raises(ReaderError, match=reason):
        read_screen(tmp_path)


def _scored(*spans):
    return [Scored(start, start + 1, "schedule", score) for start, score in spans]


def test_the_screen_is_the_highest_threshold_that_keeps_97_percent_of_the_readers_findings(
        ) -> None:
    # 40 reader findings (score 0.9 ≥ its point 0.5) in two documents; the fast model scores
    # one of them 0.05, one 0.15 and the others 0.6 and more.
    reader = [_scored(*[(i, 0.9) for i in range(20)], (99, 0.2)),
              _scored(*[(i, 0.9) for i in range(20)])]
    fast = [_scored(*[(i, 0.6 + i / 100) for i in range(20)], (99, 0.99)),
            _scored((0, 0.05), (1, 0.15), *[(i, 0.7) for i in range(2, 20)])]

    threshold, kept = fitting.choose_screen(fast, reader, 0.5, keep=0.97)

    # 0.60 keeps 38 of 40 (0.95); 0.15 keeps 39 (0.975), and above it only 38. A hair under
    # the score: the scores are rounded to 4 places, the service compares unrounded ones.
    assert (threshold, kept) == (0.1499, 0.975)
    assert fitting.choose_screen(fast, reader, 0.5, keep=0.95) == (0.5999, 0.95)


def test_the_screen_is_read_off_the_scores_not_a_grid() -> None:
    # Neutral sentences crowd just above the fast model's floor: a screen of 0.03 would pass
    # on all ten of them, 0.0356 only the one the reader finds.
    reader = [_scored((0, 0.9), *[(i, 0.1) for i in range(1, 11)])]
    fast = [_scored((0, 0.0357), *[(i, 0.031 + i / 10_000) for i in range(1, 11)])]

    threshold, kept = fitting.choose_screen(fast, reader, 0.5, keep=0.97)

    assert (threshold, kept) == (0.0356, 1.0)
    assert sum(s.score >= threshold for s in fast[0]) == 1


def test_the_share_passed_on_is_counted_per_genre() -> None:
    from ml.documents import Document

    documents = [Document("a/1", "minutes", "", []), Document("b/1", "report", "", [])]
    fast = [_scored((0, 0.1), (1, 0.5)), _scored((0, 0.3), (1, 0.4), (2, 0.01), (3, 0.9))]

    assert fitting.passed_shares(documents, fast, 0.3) == {
        "all": round(4 / 6, 4), "minutes": 0.5, "report": 0.75}


# ---------------------------------------------------------------------------------------
# The real models, as the service loads them


def _scan(app, text=TEXT, **fields):
    """A new user's scan of ``text`` in ``app``, as the API answered it."""
    client = app.test_client()
    _, headers = Accounts(app, client).user()
    return created(post_text(client, headers, text, **fields))


def test_a_scan_through_the_cascade_is_the_readers_answer_on_what_the_screen_passes(
        make_app, scan_model_dir, reader_dir) -> None:
    app = make_app(MODEL_DIR=str(scan_model_dir), READER_DIR=str(reader_dir),
                   READER_QUANTIZE="none", READER_BUDGET=None)
    fast = TransformerAnalyzer(scan_model_dir)
    reader = TransformerAnalyzer(reader_dir)

    scan = _scan(app, min_score=0.0)

    assert scan["model_version"] == f"{fast.version}+reader-test"
    screened = {f.risk: f.score for f in fast.analyze(TEXT, min_score=0.0).findings}
    read = {f.risk: f for f in reader.analyze(TEXT, min_score=0.0).findings}
    passed = {risk for risk, score in screened.items() if score >= SCREEN}
    assert 0 < len(passed) < len(screened), "the test text should pass some, not all"
    assert {f["risk"] for f in scan["data"]} == passed
    for finding in scan["data"]:
        assert finding["score"] == pytest.approx(read[finding["risk"]].score, abs=1e-4)
        assert finding["category"] == read[finding["risk"]].category


def test_within_a_budget_the_reader_answers_one_sentence_and_the_fast_model_the_rest(
        make_app, scan_model_dir, reader_dir) -> None:
    fast, reader = TransformerAnalyzer(scan_model_dir), TransformerAnalyzer(reader_dir)
    screened = {f.risk: f for f in fast.analyze(TEXT, min_score=0.0).findings}
    read = {f.risk: f for f in reader.analyze(TEXT, min_score=0.0).findings}
    passed = {risk for risk, finding in screened.items() if finding.score >= SCREEN}
    assert len(passed) >= 2, "the test text should pass more than the budget reads"
    # The budget of one judged sentence: the reader reads the passed one nearest the fast
    # model's point; the fast model answers the others at its own.
    nearest = min(passed, key=lambda risk: abs(screened[risk].score - fast.min_score))
    app = make_app(MODEL_DIR=str(scan_model_dir), READER_DIR=str(reader_dir),
                   READER_QUANTIZE="none", READER_BUDGET=1 / len(screened))

    found = {f["risk"]: f for f in _scan(app)["data"]}

    assert (nearest in found) == (read[nearest].score >= READER_POINT)
    if nearest in found:
        assert found[nearest]["score"] == pytest.approx(read[nearest].score, abs=1e-4)
    others = {risk for risk in passed - {nearest} if screened[risk].score >= fast.min_score}
    assert set(found) - {nearest} == others and others
    for risk in others:
        assert found[risk]["score"] == pytest.approx(screened[risk].score, abs=1e-4)
        assert found[risk]["category"] == screened[risk].category


def test_the_readers_operating_point_is_a_scans_default(make_app, scan_model_dir, reader_dir,
                                                       tmp_path) -> None:
    """A scan that names no min_score is read at the reader's operating point. The point is
    put in the widest gap between the reader's scores of the sentences the screen passes,
    so that it keeps some and drops others: a scan read at any lower point (the fast
    model's, 0), or by the reader alone, answers otherwise."""
    fast = {f.risk: f.score for f in TransformerAnalyzer(scan_model_dir).analyze(
        TEXT, min_score=0.0).findings}
    passed = {f.risk: f.score for f in TransformerAnalyzer(reader_dir).analyze(
        TEXT, min_score=0.0).findings if fast.get(f.risk, 0.0) >= SCREEN}
    scores = sorted(passed.values())
    gap, point = max(((high - low, (low + high) / 2) for low, high in pairwise(scores)),
                     default=(0.0, None))
    assert gap >= 0.005, f"the reader scores what the screen passes alike: {scores}"
    reader = copy_model(reader_dir, tmp_path / "reader-point", skip={"calibration.json"})
    (reader / "calibration.json").write_text(json.dumps(
        {"temperature": READER_TEMPERATURE, "min_score": point}))
    app = make_app(MODEL_DIR=str(scan_model_dir), READER_DIR=str(reader),
                   READER_QUANTIZE="none", READER_BUDGET=None)

    scan = _scan(app)

    assert scan["model_version"] == f"{Path(scan_model_dir).name}+reader-point"
    expected = {risk for risk, score in passed.items() if score >= point}
    assert expected and expected != set(passed)  # the point keeps some, drops some
    assert {f["risk"] for f in scan["data"]} == expected
    assert all(f["score"] >= point for f in scan["data"])


def test_a_models_root_reads_through_its_reader_once_it_names_one(
        make_app, scan_model_dir, cascade_root) -> None:
    alone = make_app(MODEL_DIR=str(cascade_root))
    assert _scan(alone)["model_version"] == Path(scan_model_dir).name

    (cascade_root / "reader").write_text("reader-test\n")
    both = make_app(MODEL_DIR=str(cascade_root))

    assert _scan(both)["model_version"] == \
        f"{Path(scan_model_dir).name}+reader-test"
    off = make_app(MODEL_DIR=str(cascade_root), READER_DIR="off")
    assert _scan(off)["model_version"] == Path(scan_model_dir).name


def test_a_reader_folder_that_does_not_exist_stops_the_start(tmp_path) -> None:
    missing = tmp_path / "no-such-reader"

    with pytest.raises(ConfigError, match=f"READER_DIR: {missing} does not exist"):
        Settings.from_env({"READER_DIR": str(missing)})

    started = subprocess.run(
        [sys.executable, "-m", "service"], cwd=REPO_ROOT, capture_output=True, text=True, check=False,
        env={**os.environ, "READER_DIR": str(missing), "RISKSCAN_ENV": "development"})
    assert started.returncode == 2
    assert f"READER_DIR: {missing} does not exist" in started.stderr


@pytest.mark.parametrize("damage, reason", [
    ("screen", "screen.json is missing"),
    ("graph", "cannot load the model"),
    ("pointer", "reader names 'gone'"),
])
def test_a_broken_reader_leaves_no_model_serving_and_says_why(
        make_app, scan_model_dir, reader_dir, cascade_root, tmp_path, damage,
        reason) -> None:
    broken = copy_model(reader_dir, tmp_path / "reader-broken")
    if damage == "screen":
        (broken / SCREEN_JSON).unlink()
    elif damage == "graph":
        (broken / "model.onnx").unlink()
        (broken / "model.onnx").write_bytes(b"not an onnx graph")
        (broken / "model.safetensors").unlink()
    target = broken
    if damage == "pointer":
        (cascade_root / "reader").write_text("gone\n")
        target = cascade_root
    app = make_app(MODEL_DIR=str(scan_model_dir), READER_DIR=str(target))
    client = app.test_client()

    users = Accounts(app, client)
    ready = client.get("/ready", headers=users.user(role="admin")[1])
    scan = post_text(client, users.user()[1])

    assert ready.status_code == 503
    model = ready.get_json()["checks"]["analyzers"]["model"]
    assert model["available"] is False and reason in model["error"]
    assert scan.status_code == 503
    assert scan.get_json()["title"] == "Analysis unavailable"


def test_ml_cascade_fits_the_reader_and_points_at_it(scan_model_dir, reader_dir,
                                                     tmp_path, monkeypatch) -> None:
    root = tmp_path / "models"
    root.mkdir()
    reader = copy_model(reader_dir, root / "reader-fit", skip={SCREEN_JSON})
    (reader / "README.md").write_text("# reader-fit\n")
    documents = tmp_path / "dev.jsonl"
    lines = (REPO_ROOT / "ml/data/documents/dev.jsonl").read_text().splitlines()[:3]
    documents.write_text("\n".join(lines) + "\n")
    arguments = ["--reader", str(reader), "--model", str(scan_model_dir), "--documents",
                 str(documents), "--test-documents", "none", "--set-reader"]

    # No int8 graph's cascade reads the documents better than fp32's by a whole F1: every
    # graph is tried, none is kept, and the reader is pointed at and served in fp32.
    assert fitting.main(arguments + ["--max-f1-lost", "-1"]) == 0
    screen = json.loads((reader / SCREEN_JSON).read_text())
    assert screen["int8"]["fp32"] is None and screen["int8"]["documents"] == 3
    assert list(screen["int8"]["tried"]) == [str(graph) for graph in fitting.INT8_TRIED]
    assert not (reader / INT8_ONNX).exists()
    assert (root / "reader").read_text() == "reader-fit\n"
    assert "Served in fp32" in (reader / "README.md").read_text()
    assert served_precision(scan_model_dir, root) == "none"
    # What fp32's cascade reads is the figure beside the fast model's, as the gate reads it:
    # the cascade's as served, within the default reading budget.
    assert screen["int8"]["fp32_f1"] == screen["documents"]["dev"]["cascade"]["f1"]
    assert screen["budget"] == BUDGET
    assert f"reads at most {BUDGET:.0%} of a document's sentences" in (
        reader / "README.md").read_text()
    dev = read_documents(documents)
    served = fitting.cascade_of(TransformerAnalyzer(scan_model_dir), reader, budget=BUDGET)
    as_served = metrics_at(dev, [[Scored(f.start, f.end, f.category, f.score)
                                  for f in served.analyze(d.text).findings] for d in dev],
                           0.0)["all"]
    assert {key: screen["documents"]["dev"]["cascade"][key]
            for key in ("precision", "recall")} == {
        key: as_served[key] for key in ("precision", "recall")}

    # The first graph within the tolerance is kept (the cheapest: two of the test model's six
    # layers' feed-forward outputs in fp32): it is in the folder, and the service loads it.
    # READER_BUDGET, as a service training in the background passes it on, is the budget.
    monkeypatch.setenv("READER_BUDGET", "off")
    assert fitting.main(arguments + ["--max-f1-lost", "1"]) == 0
    screen = json.loads((reader / SCREEN_JSON).read_text())
    assert screen["budget"] is None
    first = fitting.INT8_TRIED[0]
    assert screen["int8"]["fp32"] == str(first)
    assert screen["int8"]["fp32_outputs"] == list(first.outputs) == [4, 5, 6, 7]
    assert list(screen["int8"]["tried"]) == [str(first)]
    assert screen["int8"]["f1"] == screen["documents"]["dev"]["cascade"]["f1"]
    assert (reader / INT8_ONNX).is_file()
    assert served_precision(scan_model_dir, root) == "int8"
    assert TransformerAnalyzer(reader, quantize="int8").model.fp32_matmuls == 2
    assert read_screen(reader) == screen["screen"]
    assert screen["kept_on_dev"] >= 0.97
    assert set(screen["passed"]["dev"]) >= {"all"} and screen["reader_model"] == "reader-fit"
    card = (reader / "README.md").read_text()
    assert card.count("## In the cascade") == 1 and f"{screen['screen']:.2f}" in card
    assert "Served in int8" in card and "Served in fp32" not in card


def test_the_int8_graph_kept_is_the_cheapest_whose_documents_read_within_the_tolerance(
        tmp_path, monkeypatch) -> None:
    """choose_int8's rule alone: the graphs' scoring is replaced by the F1 each would read
    (fp32 0.60; the cheapest graph loses 0.05, the second 0.02, the third nothing)."""
    from service.analysis import onnx_model, transformer

    saved = []
    read = {"fp32": 0.60, fitting.INT8_TRIED[0]: 0.55, fitting.INT8_TRIED[1]: 0.58,
            fitting.INT8_TRIED[2]: 0.60}

    def save_int8(folder, layers, outputs):
        saved.append(fitting.Int8Graph(layers, tuple(outputs)))
        (Path(folder) / INT8_ONNX).write_bytes(b"graph")

    monkeypatch.setattr(onnx_model, "save_int8", save_int8)
    monkeypatch.setattr(transformer, "TransformerAnalyzer", lambda *_a, **_k: saved[-1])
    monkeypatch.setattr(fitting, "score_documents", lambda analyzer, _docs: [analyzer])
    monkeypatch.setattr(fitting, "cascade_f1", lambda _d, _f, scored, *_: read[scored[0]])
    fp32 = type("Fp32", (), {"model_dir": tmp_path, "min_score": 0.5})()
    read[fp32] = read.pop("fp32")

    kept, scored = fitting.choose_int8(fp32, ["a document"], [[]], max_f1_lost=0.02)
    assert kept["fp32"] == str(fitting.INT8_TRIED[1]) and kept["f1"] == 0.58
    assert saved == list(fitting.INT8_TRIED[:2]) and scored == [fitting.INT8_TRIED[1]]
    assert kept["tried"] == {str(fitting.INT8_TRIED[0]): 0.55, str(fitting.INT8_TRIED[1]): 0.58}

    saved.clear()
    kept, scored = fitting.choose_int8(fp32, ["a document"], [[]], max_f1_lost=0.0,
                                       tried=fitting.INT8_TRIED[:2])
    assert kept["fp32"] is None and scored == [fp32]  # served in fp32, scored as fp32
    assert not (tmp_path / INT8_ONNX).exists()


def served_precision(fast_dir: Path, root: Path) -> str:
    """How the service, with READER_QUANTIZE's default, runs the reader ``root`` points at
    (loaded afresh, as a process that starts after ml.cascade)."""
    from unittest import mock

    from service.serving import loading

    settings = Settings.from_env({}, RISKSCAN_ENV="testing", MODEL_DIR=str(fast_dir),
                                 READER_DIR=str(root), MODEL_DYNAMIC_BATCHING="false")
    with mock.patch.dict(loading._models, clear=True):
        cascade, error = loading.load_model(settings)
    assert error is None, error
    return cascade.reader.quantize

def test_the_warm_up_runs_both_models_in_every_batch_shape(settings, migrated, scan_model_dir,
                                                          reader_dir, monkeypatch) -> None:
    import dataclasses
    import weakref

    from service import create_app
    from service.serving import loading, warmup

    settings = dataclasses.replace(settings, MODEL_DIR=str(scan_model_dir),
                                   READER_DIR=str(reader_dir), READER_QUANTIZE="none")
    cascade, error = loading.load_model(settings)
    assert error is None, error
    monkeypatch.setattr(warmup, "_warmups", weakref.WeakKeyDictionary())  # a cold process
    widths = {stage.version: set() for stage in cascade.stages}
    for stage in cascade.stages:
        inner = stage.analyzer  # behind its dynamic batcher

        def recording(sentences, *, inner=inner, **options):
            widths[inner.version].update(len(s.split()) for s in sentences
                                         if isinstance(s, str) and set(s.split()) == {"delay"})
            return type(inner).classify(inner, sentences, **options)

        monkeypatch.setattr(inner, "classify", recording)

    app = create_app(settings)
    warmup = app.extensions["riskscan.warmup"]

    assert warmup.done.wait(600) and warmup.readiness()["ok"]
    # Each stage read a batch of each padded width down from its longest by 2/3: 64, 42,
    # 28, 18, 12, 8 and 5 tokens, two of them [CLS] and [SEP].
    assert widths[Path(scan_model_dir).name] == widths["reader-test"] == {62, 40, 26, 16, 10,
                                                                          6, 3}


def test_the_scorecard_has_a_row_for_the_cascade(scan_model_dir, reader_dir, tmp_path) -> None:
    from ml.scorecard import SETS, scorecard

    lines = (REPO_ROOT / "ml/data/documents/test.jsonl").read_text().splitlines()
    # The first document of each set, and two more of the 42.
    chosen = [next(line for line in lines if member(_document(line)))
              for member in SETS.values()]
    chosen += [line for line in lines if SETS["42"](_document(line)) and line not in chosen][:2]
    documents = tmp_path / "sets.jsonl"
    documents.write_text("\n".join(dict.fromkeys(chosen)) + "\n")

    both = scorecard(Path(scan_model_dir), documents, None, reader_dir)
    alone = scorecard(reader_dir, documents, None)

    assert both["model"] == f"{Path(scan_model_dir).name}+reader-test"
    assert both["min_score"] == alone["min_score"] == READER_POINT
    assert both["42"]["documents"] == 3
    # Each row worked out here, from each model's scores: the cascade's findings are the
    # reader's, on the sentences the fast model scores at the screen or above.
    from ml.documents import metrics_at, read_documents, score_documents
    from ml.scorecard import LOW

    chosen = [d for d in read_documents(documents) if SETS["42"](d)]
    screened = score_documents(TransformerAnalyzer(scan_model_dir), chosen)
    quantize = "int8" if (reader_dir / INT8_ONNX).is_file() else "none"  # as it is served
    read = score_documents(TransformerAnalyzer(reader_dir, quantize=quantize), chosen)
    alone_read = score_documents(TransformerAnalyzer(reader_dir), chosen)
    passed = [[s for s in sentences if any(f.start == s.start and f.score >= SCREEN
                                           for f in fast)]
              for fast, sentences in zip(screened, read)]
    for key, point in (("at_point", READER_POINT), (f"at_{LOW}", LOW)):
        assert both["42"][key] == metrics_at(chosen, passed, point)["all"], key
        assert alone["42"][key] == metrics_at(chosen, alone_read, point)["all"], key
    # The screen takes some of the reader's findings away: the two rows differ.
    assert both["42"]["at_point"]["documents_findings"] < \
        alone["42"]["at_point"]["documents_findings"], \
        "the screen takes nothing from the reader here: its row could be the reader's"


def _document(line: str):
    from ml.documents import Document

    record = json.loads(line)
    return Document(record["id"], record.get("genre", ""), record["text"], [])
