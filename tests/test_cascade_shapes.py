"""The cascade's screen per document shape: a document of long sentences (an RFC, a design
proposal) or of short lines (minutes, release notes) is screened at its shape's threshold
where ``ml.cascade`` fitted one, else at the one threshold."""

from __future__ import annotations

import json

import pytest

from ml import cascade as fitting
from ml.documents import Document, Scored
from service.analysis.cascade_model import SHAPE_WORDS, Cascade, ReaderError, read_shapes, shape_of
from service.analysis.labels import NONE
from service.analysis.model_folder import SCREEN_JSON
from service.analysis.reading import placed, sentences_of
from testkit.documents import MIXED_TEXT
from testkit.model_folders import copy_model
from tests.helpers import Accounts
from tests.readers import SCREEN
from tests.scanning import created, post_text

LINES = "## Notes\n\n- Build is green.\n- Docs moved.\n- Release next week.\n"
PROSE = ("This proposal replaces the scheduler with one that reads every queue in order and "
         "keeps a ledger of what it has sent. The ledger grows with each queue and is "
         "compacted once a day by the same process that writes it.")


def test_a_documents_shape_is_the_median_length_of_the_sentences_it_judges() -> None:
    assert shape_of(sentences_of(LINES)) == "lines"
    assert shape_of(sentences_of(PROSE)) == "prose"
    report = " ".join(["The vendor may deliver the servers two weeks late this month."] * 3)
    assert SHAPE_WORDS[0] <= len(report.split()) // 3 < SHAPE_WORDS[1]
    assert shape_of(sentences_of(report)) == "report"
    # Headings are not judged, so they do not make a document of lines.
    headed = "\n\n".join(f"## Part {n}\n\n{PROSE}" for n in range(5))
    assert shape_of(sentences_of(headed)) == "prose"
    assert shape_of(()) == "lines"  # nothing judged: the cheapest shape's threshold


class Stage:
    """Scores every sentence it is given ``risk`` and records what it read."""

    def __init__(self, risk: float, point: float = 0.5):
        self.risk, self.min_score, self.read = risk, point, []
        self.context, self.device, self.runtime, self.quantize = False, "cpu", "onnx", "none"
        self.version = "stage"

    def classify(self, sentences, *, min_score=None, progress=False):
        self.read.extend(sentences)
        point = self.min_score if min_score is None else min_score
        return [("technical", self.risk) if self.risk >= point else (NONE, 1 - self.risk)
                for _ in sentences]


def test_each_document_is_screened_at_its_shapes_threshold() -> None:
    lines, prose = placed(LINES), placed(PROSE)
    screen, reader = Stage(0.3), Stage(0.9)
    cascade = Cascade(screen, reader, threshold=0.2, shapes={"prose": 0.4})

    answers = cascade.classify(lines + prose)

    # The lines are screened at the one threshold (0.3 ≥ 0.2), the prose at its own (0.3 < 0.4).
    assert reader.read == lines
    assert answers == [("technical", 0.9)] * len(lines) + [(NONE, 1.0)] * len(prose)
    # A sentence handed without its document is screened at the one threshold.
    assert Cascade(Stage(0.3), Stage(0.9), threshold=0.2, shapes={"prose": 0.4}).classify(
        [PROSE])[0] == ("technical", 0.9)


def test_a_shape_threshold_outside_0_to_1_is_refused() -> None:
    with pytest.raises(ValueError, match="within 0..1"):
        Cascade(Stage(0.3), Stage(0.9), threshold=0.2, shapes={"prose": 1.5})


@pytest.mark.parametrize("content, shapes", [
    ({"screen": 0.2}, {}),
    ({"screen": 0.2, "shapes": {}}, {}),
    ({"screen": 0.2, "shapes": {"prose": 0.3, "lines": 0.1}}, {"prose": 0.3, "lines": 0.1}),
])
def test_a_readers_shapes_are_read_from_its_screen_file(tmp_path, content, shapes) -> None:
    (tmp_path / SCREEN_JSON).write_text(json.dumps(content))
    assert read_shapes(tmp_path) == shapes


@pytest.mark.parametrize("content, reason", [
    ('{"screen": 0.2, "shapes": {"poem": 0.3}}', "must be among"),
    ('{"screen": 0.2, "shapes": {"prose": 2}}', "within 0..1"),
    ('{"screen": 0.2, "shapes": {"prose": "high"}}', "unreadable: ValueError"),
    ('{"screen": 0.2, "shapes": ["prose"]}', "unreadable: TypeError"),
])
def test_a_readers_shapes_are_refused_with_the_reason(tmp_path, content, reason) -> None:
    (tmp_path / SCREEN_JSON).write_text(content)
    with pytest.raises(ReaderError, match=reason):
        read_shapes(tmp_path)


def _documents(text: str, count: int, risky: float, plain: float) -> tuple[list, list, list]:
    """``count`` copies of ``text``: its first sentence the reader's finding, scored by the
    fast model ``risky``, the others the reader's none and the fast model's ``plain``."""
    spans = [(s.start, s.end) for s in sentences_of(text) if not s.is_heading]
    documents = [Document(id=f"d{i}", genre="g", text=text, risks=[]) for i in range(count)]
    fast = [[Scored(a, b, "technical", risky if n == 0 else plain)
             for n, (a, b) in enumerate(spans)] for i in range(count)]
    reader = [[Scored(a, b, "technical", 0.9 if n == 0 else 0.1)
               for n, (a, b) in enumerate(spans)] for i in range(count)]
    return documents, fast, reader


def test_a_shape_gets_a_threshold_of_its_own_only_with_enough_findings() -> None:
    many = fitting.SHAPE_FINDINGS
    # The prose's findings score 0.5 and its plain sentences 0.1; the lines' 0.05 and 0.01.
    prose = _documents(PROSE, many, risky=0.5, plain=0.1)
    lines = _documents(LINES, many - 1, risky=0.05, plain=0.01)
    documents, fast, reader = (prose[k] + lines[k] for k in range(3))

    chosen = fitting.choose_shapes(documents, fast, reader, reader_point=0.5)

    # The prose's threshold is just under its findings' 0.5; the lines' findings are too few.
    assert chosen == {"prose": {"screen": 0.4999, "kept": 1.0, "findings": many}}
    one, _ = fitting.choose_screen(fast, reader, 0.5)
    assert one == 0.0499  # the lines' findings set the one threshold
    at = {"prose": chosen["prose"]["screen"]}
    assert fitting.kept_share(documents, fast, reader, 0.5, one, at) == 1.0
    # At its own threshold the prose passes only its findings, not its plain sentences.
    judged = sum(map(len, fast))
    assert fitting.passed_shares(documents, fast, one)["all"] == pytest.approx(
        (judged - (many - 1) * (len(fast[-1]) - 1)) / judged, abs=1e-4)
    assert fitting.passed_shares(documents, fast, one, at)["all"] == pytest.approx(
        (2 * many - 1) / judged, abs=1e-4)


def test_the_service_screens_by_the_shapes_of_the_readers_screen_file(
        make_app, scan_model_dir, reader_dir, tmp_path) -> None:
    reader = copy_model(reader_dir, tmp_path / "reader-shapes")
    shape = shape_of(sentences_of(MIXED_TEXT))
    # The text's shape is screened at 1.0: nothing of it reaches the reader.
    (reader / SCREEN_JSON).write_text(json.dumps({"screen": SCREEN, "shapes": {shape: 1.0}}))

    def findings(**settings) -> list:
        app = make_app(MODEL_DIR=str(scan_model_dir), READER_DIR=str(reader), **settings)
        client = app.test_client()
        _, headers = Accounts(app, client).user()
        return created(post_text(client, headers, MIXED_TEXT))["data"]

    assert findings() == []
    # READER_SCREEN is one threshold for every document, whatever the file's shapes.
    assert findings(READER_SCREEN=SCREEN) != []


def test_ml_cascade_writes_the_shapes_to_the_screen_file_and_the_card(tmp_path) -> None:
    screen = {"screen": 0.03, "keep": 0.97, "kept_on_dev": 0.97, "fast_model": "f",
              "shapes": {"prose": 0.2}, "by_shape": {"prose": {"screen": 0.2, "kept": 0.97,
                                                               "findings": 40}},
              "passed": {"dev": {"all": 0.2}}, "int8": {"fp32": None, "max_f1_lost": 0.02,
                                                       "documents": 3, "fp32_f1": 0.5,
                                                       "tried": {}}}
    (tmp_path / "README.md").write_text("# reader\n")
    fitting.write_screen(tmp_path, screen)
    assert json.loads((tmp_path / SCREEN_JSON).read_text())["shapes"] == {"prose": 0.2}
    assert read_shapes(tmp_path) == {"prose": 0.2}
    assert "prose 0.200 (40 findings)" in (tmp_path / "README.md").read_text()

