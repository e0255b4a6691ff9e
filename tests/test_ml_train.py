"""How ml.train reads its data: a sentence read in a real document can weigh more than one
written alone, an epoch can read only a share of the written ones, and a larger model's
probabilities can share a sentence's target with its label."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")

from ml.distill import InvalidTeacherScoresError, read_scores, write_scores
from ml.splits import LabelledSplit
from ml.train import LengthGroupedBatches, WeightedLoss, distilled_targets
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
    sampler = LengthGroupedBatches([10] * 900, 32, seed=5, sampled=written, share=0.5)
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
    flagged = LengthGroupedBatches(lengths, 8, seed=13, sampled=[i % 2 == 0 for i in range(500)],
                                   share=1.0)
    assert list(plain) == list(flagged)
