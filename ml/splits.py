"""The labelled splits as ml.train reads them: texts, labels and where each stood.

Split files are written by ``python -m ml.data.build_splits``; a real document's sentence
carries its section heading and previous sentence, which a context model reads
(service/analysis/context.py).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ml.evaluate import read_labelled_rows
from ml.recipe import BORROWINGS
from service.analysis.labels import LABELS


@dataclass
class LabelledSplit:
    texts: list[str]
    labels: list[str]
    contexts: list[str]  # "" for a sentence that came without a document

    def inputs(self, mode) -> list:
        """What a model fed as ``mode`` (model_spec.InputMode) is fed of these rows."""
        return mode.inputs(self.texts, self.contexts)

    def counts(self) -> dict[str, int]:
        counted = Counter(self.labels)
        return {label: counted[label] for label in LABELS}


def load_split(data_dir: Path, name: str) -> LabelledSplit:
    path = Path(data_dir) / f"{name}.jsonl"
    if not path.is_file():
        raise SystemExit(f"{path} is missing: run `python -m ml.data.build_splits` first")
    return LabelledSplit(*read_labelled_rows(path))


def stratified_subset(split: LabelledSplit, size: int, seed: int) -> LabelledSplit:
    """``size`` sentences of ``split`` with (about) its label shares, chosen with ``seed``."""
    if size >= len(split.texts):
        return split
    by_label: dict[str, list[int]] = {}
    for index, label in enumerate(split.labels):
        by_label.setdefault(label, []).append(index)
    rng = random.Random(seed)
    chosen: list[int] = []
    remainders = []
    for label in sorted(by_label):
        indices = by_label[label]
        rng.shuffle(indices)
        exact = size * len(indices) / len(split.texts)
        chosen.extend(indices[:int(exact)])
        remainders.append((exact - int(exact), label, indices[int(exact):]))
    # Hand out the sentences lost to rounding to the labels with the largest remainders.
    for _, _, rest in sorted(remainders, key=lambda r: (-r[0], r[1]))[:size - len(chosen)]:
        chosen.append(rest[0])
    chosen.sort()
    return LabelledSplit([split.texts[i] for i in chosen], [split.labels[i] for i in chosen],
                         [split.contexts[i] for i in chosen])


def borrow_contexts(split: LabelledSplit, share: float, seed: int,
                    borrowing: str = BORROWINGS[0]) -> list[str]:
    """The training contexts: a document's sentences keep theirs; ``share`` of the others
    borrow another such sentence, cut as a previous sentence is (context_text).

    Without it only real documents would come with context, and most of their sentences are
    not risks: the model would learn "context, so no risk" rather than what a heading says.
    A sentence that states no risk borrows a risk, so that the model learns what a real
    document's risk paragraphs would teach it otherwise, that a risk before a sentence makes
    it one ("Only one engineer knows the billing module. The office moved." read the second
    as a risk too: issue #84, ml/bleeding.py). ``borrowing="crossed"`` (ml/recipe.py) gives a
    risk a sentence that states none, instead of any such sentence, as the one before.
    """
    from service.analysis.context import context_text
    from service.analysis.labels import NONE

    if borrowing not in BORROWINGS:  # a recipe file read back, not only the command line
        raise ValueError(f"borrowing {borrowing!r}: one of {', '.join(BORROWINGS)}")
    rng = random.Random(seed)
    alone = [index for index, context in enumerate(split.contexts) if not context]
    risks = [index for index in alone if split.labels[index] != NONE] or alone
    plain = [index for index in alone if split.labels[index] == NONE] or alone
    before_a_risk = plain if borrowing == "crossed" else alone
    contexts = list(split.contexts)
    for index in alone:
        if rng.random() < share:
            pool = risks if split.labels[index] == NONE else before_a_risk
            contexts[index] = context_text("", split.texts[rng.choice(pool)])
    return contexts
