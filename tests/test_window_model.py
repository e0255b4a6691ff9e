"""A window model through the service's own code (service/analysis/windows.py): a scan reads
the document in windows, gives what the evaluation gives, does not hang on where a window
starts, and reads hostile text at a linear cost. On a small window model trained once
(tests/fixtures_model.py)."""

from __future__ import annotations

import contextlib

import pytest

from ml.calibrate import judged_examples, scored_from_logits
from ml.documents import Document, read_documents
from ml.recipe import DEV_DOCUMENTS
from ml.window_shift import shifts
from service.analysis.reading import judged
from service.analysis.transformer import TransformerAnalyzer

pytestmark = pytest.mark.slow

REPORT = """# Weekly status: billing migration

## Done this week
The export of the legacy invoices finished on Tuesday.
The new tax tables were reviewed with finance.

## Risks and issues
The vendor has not signed the data processing agreement yet, so go-live may slip.
Only one engineer knows the settlement batch, and she leaves in March.
Load tests of the payment API have not started.

## Next week
We will see how the cut-over rehearsal goes.
If the rehearsal fails again, the February date cannot hold.
The team will also update the runbook.
"""

#: How far where the windows start may move what a scan finds: a sentence at a window's
#: edge reads two neighbours on one side where one in the middle reads a dozen. On the
#: test model, with six to eight neutral sentences put before real reports, 3–6% of the
#: findings come or go and a score moves by 0.02–0.05 on average (ml.window_shift); the
#: shipped model's figures are in docs/model.md, "The window model".
FINDINGS_CHANGED = 0.10
MEAN_SHIFT = 0.08

@pytest.fixture(scope="module")
def analyzer(window_model_dir):
    return TransformerAnalyzer(window_model_dir)


@contextlib.contextmanager
def batches(analyzer):
    """The shape (windows, tokens) of each batch the analyzer runs meanwhile."""
    shapes: list[tuple[int, int]] = []
    forward = analyzer._forward
    analyzer._forward = lambda batch: shapes.append(batch["input_ids"].shape) or forward(batch)
    try:
        yield shapes
    finally:
        del analyzer._forward


def test_the_model_reads_windows_of_the_document(analyzer) -> None:
    assert analyzer.reads == "window"
    with batches(analyzer) as forwarded:
        analysis = analyzer.analyze(REPORT, min_score=0.0)
    # One pass reads the whole report: nine sentences and their headings in one window.
    assert forwarded == [(1, forwarded[0][1])]
    assert len(analysis.findings) == len(judged(REPORT))
    for finding in analysis.findings:
        assert REPORT[finding.start:finding.end] == finding.risk


def test_a_scans_findings_are_those_of_the_evaluation(analyzer) -> None:
    """What a user sees is what ml/ measures: the calibration's path (the logits of every
    judged sentence at once, many documents together) gives each finding, its place and
    its score as the scan of one document does."""
    documents = [Document("a", "status-report", REPORT, []),
                 Document("b", "status-report", REPORT.replace("Tuesday", "Friday")
                          + "\nThe budget for licences was cut by a third.\n", [])]
    texts, _, sentences = judged_examples(analyzer, documents)
    evaluated = scored_from_logits(analyzer, analyzer.logits(texts).numpy(), sentences)
    for document, scored in zip(documents, evaluated):
        scanned = analyzer.analyze(document.text, min_score=0.0).findings
        assert [(f.start, f.end, f.category, f.score) for f in scanned] == [
            (s.start, s.end, s.category, s.score) for s in scored]


@pytest.mark.parametrize("prepended", [1, 3, 8])
def test_a_finding_hardly_depends_on_where_the_windows_start(analyzer, prepended) -> None:
    """Neutral sentences put before real reports move where every window starts and ends."""
    texts = [document.text for document in read_documents(DEV_DOCUMENTS)[:8]]

    moved = shifts(analyzer, texts, prepended)

    assert moved["sentences"] > 200
    assert moved["findings_changed"] <= FINDINGS_CHANGED, moved
    assert moved["mean"] <= MEAN_SHIFT, moved


def test_a_sentence_alone_reads_as_a_document_of_one(analyzer) -> None:
    """What ml/ hands a classifier without a document (a split's rows, a correction)."""
    (alone,) = analyzer.classify(["The vendor may not deliver the chips in time."],
                                 min_score=0.0)
    (placed_alone,) = analyzer.classify([("The vendor may not deliver the chips in time.",
                                          "")], min_score=0.0)
    assert alone == placed_alone


@pytest.mark.parametrize("text", [
    "word " * 4000 + ".",                                   # one sentence of 20,000 chars
    "\n".join(f"word{index}" for index in range(5000)),     # 5,000 one-word lines
    "\n\n".join(["## Risks and issues"] * 2000),            # one heading repeated
], ids=["long-sentence", "one-word-lines", "headings"])
def test_hostile_text_is_read_at_a_linear_cost(analyzer, text) -> None:
    with batches(analyzer) as shapes:
        analyzer.analyze(text)
    tokens = [rows * width for rows, width in shapes]
    sentences = len(judged(text))
    # Each judged sentence in its own window and at most four others' margins, each cut at
    # 96 tokens and its separator; plus a heading put in front of each window.
    assert sum(tokens) <= 5 * 97 * sentences + 18 * sentences
    if not sentences:
        assert tokens == []


def test_the_torch_model_gives_the_onnx_graphs_labels(analyzer, window_model_dir) -> None:
    torch_analyzer = TransformerAnalyzer(window_model_dir, runtime="torch")
    onnx = analyzer.analyze(REPORT, min_score=0.0).findings
    torch = torch_analyzer.analyze(REPORT, min_score=0.0).findings
    assert [(f.start, f.category) for f in onnx] == [(f.start, f.category) for f in torch]
    assert [f.score for f in onnx] == pytest.approx([f.score for f in torch], abs=1e-3)


def test_the_warm_up_reads_full_windows(analyzer) -> None:
    from service.analysis.windows import WINDOW_TOKENS
    from service.serving.warmup import _warm_model

    with batches(analyzer) as shapes:
        classified = _warm_model(analyzer)
    assert classified >= 100
    assert max(width for _, width in shapes) >= WINDOW_TOKENS - 32  # a full window
