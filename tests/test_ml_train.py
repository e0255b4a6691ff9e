"""How ml.train reads its data: a sentence read in a real document can weigh more than one
written alone, and an epoch can read only a share of the written ones."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from ml.train import LengthGroupedBatches, WeightedLoss


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
