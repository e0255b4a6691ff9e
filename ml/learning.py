"""What a training step reads and minimises: the batches of an epoch, the targets a teacher
gives, and the weighted loss.

Apart from the trainer (ml/train.py) so that each piece is tested alone
(tests/test_ml_train.py) and the trainer reads as its four steps.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from service.analysis.labels import LABELS

if TYPE_CHECKING:  # pragma: no cover
    from ml.recipe import TrainingConfig
    from ml.splits import LabelledSplit


class LengthGroupedBatches:
    """Shuffled batches of sentences of similar length (a batch sampler for DataLoader).

    Each epoch: shuffle the indices, cut them into pools of 50 batches, sort each pool by
    length, cut it into batches and shuffle the batches. Batches stay random in content
    and order, but padding drops from about 2x the real tokens to almost none, which
    halves the time of an epoch on a CPU.

    With ``shares`` (a share per sentence, 1 by default), an epoch takes every sentence of
    share 1 and, of the sentences of each share below 1, a fresh random draw of that share:
    ml.train reads every real-document sentence every epoch, but not every written one.
    """

    POOL_BATCHES = 50

    def __init__(self, lengths: list[int], batch_size: int, seed: int, *,
                 shares: list[float] | None = None):
        import torch

        self.lengths = lengths
        self.batch_size = batch_size
        self.generator = torch.Generator().manual_seed(seed)
        shares = shares or [1.0] * len(lengths)
        self.always = [i for i, share in enumerate(shares) if share >= 1]
        self.groups: dict[float, list[int]] = {}
        for index, share in enumerate(shares):
            if share < 1:
                self.groups.setdefault(share, []).append(index)
        self.per_epoch = len(self.always) + sum(
            round(share * len(group)) for share, group in self.groups.items())

    def __len__(self) -> int:
        return (self.per_epoch + self.batch_size - 1) // self.batch_size

    def epoch_indices(self) -> list[int]:
        import torch

        if not self.groups:  # every sentence, in the order the recipe always drew
            return torch.randperm(len(self.lengths), generator=self.generator).tolist()
        chosen = list(self.always)
        for share, group in sorted(self.groups.items()):
            drawn = torch.randperm(len(group), generator=self.generator)
            chosen += [group[i] for i in drawn[:round(share * len(group))].tolist()]
        return [chosen[i] for i in torch.randperm(len(chosen), generator=self.generator)]

    def __iter__(self):
        import torch

        order = self.epoch_indices()
        pool_size = self.batch_size * self.POOL_BATCHES
        batches = []
        for start in range(0, len(order), pool_size):
            pool = sorted(order[start:start + pool_size], key=lambda i: self.lengths[i])
            batches += [pool[i:i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        for position in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[position]


def class_weights(labels: list[str], weighting: str):
    """Loss weight per label id (LABELS order), mean 1; None for ``none`` weighting."""
    import torch

    if weighting == "none":
        return None
    counts = Counter(labels)
    balanced = torch.tensor(
        [len(labels) / (len(LABELS) * max(counts[label], 1)) for label in LABELS])
    weights = balanced.sqrt() if weighting == "sqrt" else balanced
    return weights / weights.mean()


class WeightedLoss:
    """Cross-entropy with class weights and label smoothing, each sentence also weighted by
    its own factor; averaged as torch's weighted mean is (over the weights of the batch)."""

    def __init__(self, class_weights, label_smoothing: float):
        import torch

        self.class_weights = class_weights
        self.per_sentence = torch.nn.CrossEntropyLoss(
            weight=class_weights, label_smoothing=label_smoothing, reduction="none")

    def __call__(self, logits, labels, sample_weight, targets=None):
        """``targets``: a probability row per sentence to learn instead of its label (the
        label still picks the class weight of the sentence in the mean)."""
        losses = self.per_sentence(logits, labels if targets is None else targets)
        sample_weight = sample_weight.to(losses.dtype)
        denominators = sample_weight if self.class_weights is None \
            else sample_weight * self.class_weights[labels]
        return (losses * sample_weight).sum() / denominators.sum()


def distilled_targets(split: LabelledSplit, teacher_scores: Path, weight: float, *,
                      temperature: float = 1.0) -> list[list[float]]:
    """Each sentence's target: ``weight`` of the teacher's probabilities for it and the rest
    on its label. A sentence the teacher did not score keeps its label alone."""
    from ml.distill import read_scores

    scores = read_scores(teacher_scores, temperature=temperature)
    targets, found = [], 0
    for text, context, label in zip(split.texts, split.contexts, split.labels):
        target = [float(candidate == label) for candidate in LABELS]
        teacher = scores.get((text, context))
        if teacher is not None:
            found += 1
            target = [(1 - weight) * own + weight * taught
                      for own, taught in zip(target, teacher)]
        targets.append(target)
    if not found:
        raise SystemExit(f"{teacher_scores} scores none of the training sentences")
    log(f"teacher: {found} of {len(targets)} training sentences scored ({teacher_scores.name})")
    return targets


def taught_examples(teacher_documents: Path, tokenizer, config: TrainingConfig) -> list[dict]:
    """Training examples of the unlabelled sentences a teacher scored (ml.distill
    --documents), each read in its document as the service reads it: the target is the
    teacher's (sharpened) probabilities alone; the label, their most likely one, only picks
    the sentence's class weight in the mean. Read in a document, a sentence weighs
    ``document_weight``, as a labelled one does."""
    from ml.distill import read_scores
    from service.analysis.model_spec import input_mode_for

    scores = read_scores(teacher_documents, temperature=config.teacher_temperature)
    if not scores:
        raise SystemExit(f"{teacher_documents} scores no sentence")
    encoded = input_mode_for(config.context).encode(tokenizer, list(scores), config.max_length)
    log(f"teacher: {len(scores)} sentences of unlabelled documents ({teacher_documents.name})")
    return [{**{key: encoded[key][index] for key in encoded},
             "labels": max(range(len(LABELS)), key=target.__getitem__),
             "sample_weight": config.document_weight if context else 1.0, "targets": target}
            for index, ((_, context), target) in enumerate(scores.items())]


def log(message: str) -> None:
    """A line of the training's progress, on stderr (stdout stays for what a command prints)."""
    print(message, file=sys.stderr, flush=True)
