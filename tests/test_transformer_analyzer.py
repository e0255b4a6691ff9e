"""TransformerAnalyzer: device choice, model resolution, what a small trained model learns,
and the findings it returns."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ml.evaluate import compute_metrics, read_labelled_jsonl
from service.analysis import transformer
from service.analysis.base import AnalysisError
from service.analysis.inputs import MAX_BATCH_TOKENS, plan_batches
from service.analysis.labels import LABELS, NONE, RISK_LABELS
from service.analysis.segment import MAX_SENTENCE_CHARS, split_sentences
from service.analysis.transformer import (
    ModelNotFoundError,
    TransformerAnalyzer,
    resolve_model_dir,
    select_device,
)

# Chance is 1/11 ≈ 0.09 for eleven labels; the small test model reaches about 0.59
# (risk detection F1 about 0.89): the bounds leave room for other CPUs and BLAS builds.
MIN_HELD_OUT_MACRO_F1 = 0.45

# ---------------------------------------------------------------------------------------
# Device


def test_select_device_is_the_cpu_without_cuda(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)

    assert select_device() == torch.device("cpu")


def test_select_device_is_cuda_when_torch_sees_a_gpu(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)

    assert select_device() == torch.device("cuda")


@pytest.fixture
def cudnn_attention():
    """torch's process-wide switch, put back as it was."""
    was = torch.backends.cuda.cudnn_sdp_enabled()
    yield
    torch.backends.cuda.enable_cudnn_sdp(was)


def test_cuda_attention_plans_no_shapes_and_the_cpu_is_left_as_it_is(cudnn_attention) -> None:
    """cuDNN's attention plans every new input shape, and a scan's padded batches are new
    shapes: a cold H200 read 7.9 documents/s with it, 85 without (docs/deploying.md)."""
    from service.analysis.devices import Device, prepare

    torch.backends.cuda.enable_cudnn_sdp(True)
    prepare(Device("cpu"))
    assert torch.backends.cuda.cudnn_sdp_enabled()
    prepare(Device("cuda"))
    assert not torch.backends.cuda.cudnn_sdp_enabled()


def test_the_analyzer_runs_on_the_selected_device(monkeypatch, trained_model_dir) -> None:
    asked = []

    def cpu_selected() -> torch.device:
        asked.append(True)
        return torch.device("cpu")

    monkeypatch.setattr(transformer, "select_device", cpu_selected)
    analyzer = TransformerAnalyzer(trained_model_dir)
    in_torch = TransformerAnalyzer(trained_model_dir, runtime="torch")

    assert asked == [True, True]
    assert analyzer.device == in_torch.device == torch.device("cpu")
    assert analyzer.runtime == "onnx"  # the CPU's default (tests/test_fast_paths.py)
    assert next(in_torch.model.parameters()).dtype == torch.float32  # fp16 only on CUDA
    assert not in_torch.model.training


# ---------------------------------------------------------------------------------------
# Batching


def test_batches_are_longest_first_and_cut_before_padding_passes_one_and_a_half() -> None:
    lengths = [10, 3, 9, 2, 8, 7, 6, 12]

    # 12 → cut below 8; 7 → cut below 4.67; 3 → cut below 2.
    assert plan_batches(lengths, batch_size=32) == [[7, 0, 2, 4], [5, 6], [1, 3]]
    assert plan_batches(lengths, batch_size=2) == [[7, 0], [2, 4], [5, 6], [1, 3]]
    assert plan_batches([5] * 5, batch_size=2) == [[0, 1], [2, 3], [4]]
    assert plan_batches([], batch_size=8) == []


def test_batches_of_long_sentences_stay_within_the_token_budget() -> None:
    assert plan_batches([128] * 40, batch_size=32, max_tokens=2048) == [
        list(range(16)), list(range(16, 32)), list(range(32, 40))]
    assert plan_batches([300, 10], batch_size=32, max_tokens=256) == [[0], [1]]  # never empty


def test_every_sentence_is_in_one_batch_and_padded_to_at_most_one_and_a_half(
        held_out_path) -> None:
    texts, _ = read_labelled_jsonl(held_out_path)
    lengths = [len(text.split()) + 2 for text in texts]
    batches = plan_batches(lengths, batch_size=32)

    assert sorted(index for batch in batches for index in batch) == list(range(len(lengths)))
    for batch in batches:
        assert 1 <= len(batch) <= 32
        assert max(lengths[i] for i in batch) <= 1.5 * min(lengths[i] for i in batch)
        assert len(batch) * max(lengths[i] for i in batch) <= MAX_BATCH_TOKENS


# ---------------------------------------------------------------------------------------
# Where the model comes from


def test_resolve_model_dir_without_a_trained_model_says_how_to_train_one(tmp_path) -> None:
    with pytest.raises(ModelNotFoundError) as raised:
        resolve_model_dir(tmp_path)

    assert "python -m ml.train" in raised.value.detail
    assert isinstance(raised.value, AnalysisError)


def test_resolve_model_dir_follows_current(tmp_path) -> None:
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "config.json").write_text("{}")
    (tmp_path / "current").write_text("v2\n")

    assert resolve_model_dir(tmp_path) == tmp_path / "v2"
    assert resolve_model_dir(tmp_path / "v2") == tmp_path / "v2"


@pytest.mark.parametrize("content", ["", "../elsewhere", "missing-version"])
def test_resolve_model_dir_rejects_a_bad_current(tmp_path, content) -> None:
    (tmp_path / "current").write_text(content)

    with pytest.raises(ModelNotFoundError):
        resolve_model_dir(tmp_path)


def test_the_analyzer_is_named_after_its_model_folder(trained_analyzer, trained_model_dir) -> None:
    assert trained_analyzer.source == "model"
    assert trained_analyzer.version == trained_model_dir.name
    assert sorted(trained_analyzer.labels) == sorted(LABELS)
    assert trained_analyzer.max_length == 64  # from training_config.json


def test_importing_the_service_analysis_code_does_not_import_torch() -> None:
    code = ("import sys, service.analysis.base, service.analysis.labels, "
            "service.analysis.segment; "
            "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=Path(__file__).resolve().parent.parent)

    assert result.stdout.strip() == "[]"


# ---------------------------------------------------------------------------------------
# What it learned


def test_the_small_model_learns_well_above_chance_on_held_out_sentences(
        trained_analyzer, held_out_path) -> None:
    texts, gold = read_labelled_jsonl(held_out_path)
    predicted = [label for label, _ in trained_analyzer.classify(texts)]

    metrics = compute_metrics(gold, predicted)

    assert len(texts) > 200
    assert metrics["macro_f1"] > MIN_HELD_OUT_MACRO_F1, metrics
    # Calling every sentence a risk would score about 0.76 here.
    assert metrics["risk_detection"]["f1"] > 0.8, metrics


def test_classify_answers_in_input_order_whatever_the_batching(
        trained_analyzer, held_out_path) -> None:
    texts, _ = read_labelled_jsonl(held_out_path)
    # Lengths in every order, so that sorting by length really moves sentences around.
    sample = texts[:40] + ["Short.", texts[0] * 3, "Budget frozen."]

    analyzer = trained_analyzer
    batch_size = analyzer.batch_size
    try:
        analyzer.batch_size = 64
        one_batch = analyzer.classify(sample)
        analyzer.batch_size = 1
        one_by_one = analyzer.classify(sample)
        analyzer.batch_size = 7
        reversed_input = analyzer.classify(sample[::-1])[::-1]
    finally:
        analyzer.batch_size = batch_size

    assert len(one_batch) == len(sample)
    for first, second, third in zip(one_batch, one_by_one, reversed_input):
        assert first[0] == second[0] == third[0]
        assert first[1] == pytest.approx(second[1], abs=1e-4)
        assert first[1] == pytest.approx(third[1], abs=1e-4)
    assert all(label in LABELS and 0.0 < score <= 1.0 for label, score in one_batch)


def test_classify_of_nothing_is_nothing(trained_analyzer) -> None:
    assert trained_analyzer.classify([]) == []


# ---------------------------------------------------------------------------------------
# Findings


def risk_and_none_sentences(analyzer, held_out_path) -> tuple[list[str], list[str]]:
    """Held-out sentences the model itself labels as a risk / as none (single-line, ending
    in a period, so that segmentation keeps each one whole)."""
    texts, gold = read_labelled_jsonl(held_out_path)
    candidates = [t for t, g in zip(texts, gold)
                  if t.endswith(".") and "\n" not in t and len(split_sentences(t)) == 1]
    labelled = analyzer.classify(candidates)
    # Surest first: a sentence the tiny model only just calls a risk alone may not be one to
    # it under a heading and after another sentence, which is how analyze() reads it.
    ranked = sorted(zip(candidates, labelled), key=lambda pair: -pair[1][1])
    risks = [t for t, (label, _) in ranked if label != NONE]
    nones = [t for t, (label, _) in ranked if label == NONE]
    return risks, nones


def test_analyze_returns_findings_with_exact_offsets_and_context(
        trained_analyzer, held_out_path) -> None:
    risks, nones = risk_and_none_sentences(trained_analyzer, held_out_path)
    body = [nones[0], risks[0], nones[1], risks[1], risks[2]]
    text = "Weekly report\n\n" + "  ".join(body[:3]) + "\n- " + body[3] + "\n\n" + body[4]

    findings = trained_analyzer.analyze(text).findings
    sentences = split_sentences(text)

    assert [f.risk for f in findings] == [risks[0], risks[1], risks[2]]
    for finding in findings:
        assert text[finding.start:finding.end] == finding.risk
        assert finding.category in RISK_LABELS
        assert 0.0 < finding.score <= 1.0
        index = [s.start for s in sentences].index(finding.start)
        previous = sentences[max(index - 1, 0)]
        following = sentences[min(index + 1, len(sentences) - 1)]
        assert finding.context == text[previous.start:following.end]
        assert finding.risk in finding.context
    assert findings[-1].context.endswith(risks[2])  # the last sentence has no next one
    assert json.dumps([f.to_dict() for f in findings])  # the API can serialise them


def test_a_markdown_risk_register_finds_what_the_same_word_table_finds(
        trained_analyzer, held_out_path) -> None:
    """A register kept as a Markdown table is read cell by cell, as the same table in a
    Word document is: the risks found are the same cells, and no owner or header is one."""
    from service.uploads.extract import extract_text
    from testkit.documents import make_docx

    risks, nones = risk_and_none_sentences(trained_analyzer, held_out_path)
    rows = [("Risk", "Owner", "Status")] + [
        (sentence, owner, "open") for sentence, owner in
        zip([risks[0], nones[0], risks[1], risks[2]], ["Ana", "Bo", "Cy", "Di"])]
    markdown = "".join(f"| {' | '.join(row)} |\n" + ("|---|---|---|\n" if not i else "")
                       for i, row in enumerate(rows))
    word = extract_text(make_docx((), rows), "register.docx").text

    in_markdown = trained_analyzer.analyze(markdown).findings
    in_word = trained_analyzer.analyze(word).findings

    assert [f.risk for f in in_markdown] == [risks[0], risks[1], risks[2]]
    assert [(f.risk, f.category, f.score) for f in in_markdown] == \
        [(f.risk, f.category, f.score) for f in in_word]
    assert all(markdown[f.start:f.end] == f.risk for f in in_markdown)


def test_a_templates_comments_are_never_findings(trained_analyzer, held_out_path) -> None:
    """Risks written inside a Markdown comment, as templates keep their instructions and
    examples, are not on the rendered page: only the risk under them is found."""
    risks, _ = risk_and_none_sentences(trained_analyzer, held_out_path)
    markdown = (f"## Risks and Mitigations\n\n<!--\nFor example: {risks[0]}\n-->\n"
                f"<!-- {risks[1]} -->\n{risks[2]}\n")

    findings = trained_analyzer.analyze(markdown).findings

    assert [f.risk for f in findings] == [risks[2]]
    assert trained_analyzer.analyze(f"{risks[0]}\n\n{risks[1]}\n").findings  # found as text


def test_text_without_sentences_has_no_findings(trained_analyzer) -> None:
    assert trained_analyzer.analyze("").findings == []
    assert trained_analyzer.analyze(" \n\t ").findings == []


def test_a_sentence_longer_than_max_length_is_reported_whole(
        trained_analyzer, held_out_path) -> None:
    risks, _ = risk_and_none_sentences(trained_analyzer, held_out_path)
    head = risks[0].rstrip(".")
    # As long as a sentence may be (MAX_SENTENCE_CHARS), far longer than max_length tokens.
    clause = "the weekly report lists it again"
    repeats = (MAX_SENTENCE_CHARS - len(head) - 3) // len(clause + " and ")
    long_sentence = head + ", " + " and ".join([clause] * repeats) + "."
    text = "Introduction to the report.\n" + long_sentence
    token_count = len(trained_analyzer.tokenizer(long_sentence)["input_ids"])

    findings = trained_analyzer.analyze(text).findings

    assert len(long_sentence) <= MAX_SENTENCE_CHARS
    assert token_count > 2 * trained_analyzer.max_length
    [finding] = [f for f in findings if f.start > 0]
    assert finding.risk == long_sentence
    assert (finding.start, finding.end) == (text.index(long_sentence), len(text))
    # Classified on its head: the same answer as for the sentence cut to max_length tokens.
    head_ids = trained_analyzer.tokenizer(long_sentence, truncation=True,
                                          max_length=trained_analyzer.max_length,
                                          add_special_tokens=False)["input_ids"]
    [(head_label, head_score)] = trained_analyzer.classify(
        [trained_analyzer.tokenizer.decode(head_ids)])
    assert finding.category == head_label
    assert finding.score == pytest.approx(head_score, abs=0.05)
