"""The training loss: a sentence read in a real document can weigh more than one written alone."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from ml.train import WeightedLoss


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
