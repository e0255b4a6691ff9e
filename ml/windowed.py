"""A window model's training data: documents cut into windows as a scan cuts them.

A window model (service/analysis/windows.py) learns each sentence in its document, so the
training split is read back into documents before it is cut:

- **real documents**: the rows of ``ml/data/sources/`` that came from one (they carry a
  ``heading``), in their file order, grouped by ``source``; and the minutes' lines, in their
  order. A sentence is judged where the training split holds it, with its label there; its
  neighbours that the split holds elsewhere (validation, test, or dropped as duplicates) are
  read, never judged: the model learns no label it is measured on.
- **sentences written alone** (team-written, the USACE register, users' corrections):
  shuffled and packed into pseudo-documents of PSEUDO_SIZES sentences, writers mixed, so
  that "has neighbours" never means "a real document, where few sentences are risks".
  Three in four of them are risks, against one in seven of a real document's sentences, so
  a pseudo-document's look also tells the model that its neighbours are likely risks;
  ``written_in_documents`` puts a share of them into the real documents instead, each at a
  drawn place, where a risk's neighbours are a report's lines
  (docs/experiments/2026-11-28-written-risks-in-real-documents.md).

Each window is one example: its token ids, and for each sentence it judges the span of its
tokens, its label and its weight; ``Windowed`` cuts them anew each epoch. ``collate`` pads a batch and ``sentence_logits`` pools a
sentence's tokens as the service does (the mean of its tokens' logits).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from ml.data.build_splits import exact_key
from ml.jsonl import records
from service.analysis.labels import LABELS
from service.analysis.windows import SENTENCE_TOKENS, separators, windows

#: Sentences in a pseudo-document of sentences written alone (drawn uniformly).
PSEUDO_SIZES = (3, 12)
#: The most sentences a drawn first core holds (a window's core holds about a dozen).
FIRST_CORE_SIZES = 12
#: The sources whose rows are lines of a document in order without a heading field.
ORDERED_LINES = ("aswf-tac-minutes",)


@dataclass
class Line:
    """A sentence of a training document: judged with ``label`` and ``weight`` where the
    training split holds it (``label`` None: read only)."""

    text: str
    is_heading: bool = False
    label: str | None = None
    weight: float = 1.0


def source_documents(sources: Path) -> list[list[Line]]:
    """The real documents and minutes of ``sources``, each its rows in order (unlabelled)."""
    documents: dict[str, list[Line]] = {}
    for path in sorted(Path(sources).glob("*.jsonl")):
        ordered = path.stem.startswith(ORDERED_LINES)
        for _, row in records(path, ValueError):
            if not ordered and not isinstance(row.get("heading"), str):
                continue
            text = row["text"].strip()
            heading = not ordered and text == row["heading"].strip()
            documents.setdefault(row["source"], []).append(Line(text, is_heading=heading))
    return list(documents.values())


def training_documents(texts: list[str], labels: list[str], weights: list[float],
                       sources: Path, seed: int, *, written_in_documents: float = 0.0
                       ) -> list[list[Line]]:
    """The training rows (``texts``, ``labels``, ``weights``) as documents: each judged
    once, in its real document where it has one, else (written alone) put into a real
    document, a share ``written_in_documents`` of them, or into a pseudo-document."""
    if not 0 <= written_in_documents <= 1:
        raise ValueError(f"written_in_documents is a share (0 to 1), not {written_in_documents}")
    rows: dict[str, tuple[str, str, float]] = {}
    for text, label, weight in zip(texts, labels, weights):
        rows.setdefault(exact_key(text), (text, label, weight))
    documents = []
    for document in source_documents(sources):
        judged = 0
        for line in document:
            if line.is_heading:
                continue
            found = rows.pop(exact_key(line.text), None)
            if found is not None:
                line.label, line.weight = found[1], found[2]
                judged += 1
        if judged:
            documents.append(document)
    alone = list(rows.values())
    rng = random.Random(seed)
    rng.shuffle(alone)
    placed = round(len(alone) * written_in_documents) if documents else 0
    if placed:  # else no draw: the pseudo-documents stay as without the option
        documents = _with_placed(documents, alone[:placed], rng)
        alone = alone[placed:]
    start = 0
    while start < len(alone):
        size = rng.randint(*PSEUDO_SIZES)
        documents.append([Line(text, label=label, weight=weight)
                          for text, label, weight in alone[start:start + size]])
        start += size
    return documents


def _with_placed(documents: list[list[Line]], written: list[tuple[str, str, float]],
                 rng: random.Random) -> list[list[Line]]:
    """``documents`` with each ``written`` (text, label, weight) judged at a drawn place: a
    document drawn by its length, then a gap after its first line (which may be its
    heading), so that the written sentences spread as a report's lines do."""
    gaps: list[dict[int, list[Line]]] = [{} for _ in documents]
    chosen = rng.choices(range(len(documents)), weights=[len(d) for d in documents],
                         k=len(written))
    for index, (text, label, weight) in zip(chosen, written):
        gap = rng.randint(1, len(documents[index]))
        gaps[index].setdefault(gap, []).append(Line(text, label=label, weight=weight))
    placed = []
    for document, before in zip(documents, gaps):  # before: the lines put in front of a line
        lines = []
        for position, line in enumerate(document):
            lines += before.get(position, [])
            lines.append(line)
        placed.append(lines + before.get(len(document), []))
    return placed


class Windowed:
    """Training documents tokenized once, cut into windows anew for each epoch: the first
    core of each document longer than FIRST_CORE_SIZES judged sentences holds a drawn
    number of them (1 to FIRST_CORE_SIZES), so that every window after it starts elsewhere
    and a sentence is learnt at the edge of a window as well as in its middle, as a scan
    may read it."""

    def __init__(self, documents: list[list[Line]], tokenizer, *, batch_size: int, seed: int):
        self.documents = documents
        self.pad_id = tokenizer.pad_token_id or 0
        self.batch_size, self.seed = batch_size, seed
        self.rng = random.Random(seed)
        self.takes_types = "token_type_ids" in tokenizer.model_input_names
        self.cls, self.sep = separators(tokenizer)
        texts = [line.text for document in documents for line in document]
        ids = tokenizer(texts, truncation=True, max_length=SENTENCE_TOKENS,
                        add_special_tokens=False)["input_ids"] if texts else []
        self.ids, start = [], 0
        for document in documents:
            self.ids.append(ids[start:start + len(document)])
            start += len(document)

    def loader(self, epoch: int):
        """An epoch's batches of windows (LengthGroupedBatches), cut with a fresh draw."""
        import torch

        from ml.learning import LengthGroupedBatches

        examples = self.examples(self.rng)
        return torch.utils.data.DataLoader(
            examples, collate_fn=Collate(self.pad_id), batch_sampler=LengthGroupedBatches(
                [len(e["input_ids"]) for e in examples], self.batch_size,
                seed=self.seed + epoch))

    @staticmethod
    def described(loader) -> str:
        examples = loader.dataset
        return (f"{len(examples)} windows judging "
                f"{sum(len(e['spans']) for e in examples)} sentences, "
                f"{sum(len(e['input_ids']) for e in examples)} tokens")

    def examples(self, rng: random.Random | None = None) -> list[dict]:
        """One example per window: ``input_ids``, ``attention_mask`` (and
        ``token_type_ids`` where the model takes them), ``spans`` of the judged sentences'
        tokens, their ``labels`` (ids) and ``weights``. ``rng``: draw each document's first
        core (None: the scan's own cut)."""
        label_ids = {label: index for index, label in enumerate(LABELS)}
        examples = []
        for document, ids in zip(self.documents, self.ids):
            judged = [index for index, line in enumerate(document) if line.label is not None]
            # A document of a window's worth or less is not cut in two for it: each of its
            # sentences already has its neighbours, and a cut would cost two margins.
            size = (rng.randint(1, FIRST_CORE_SIZES)
                    if rng is not None and len(judged) > FIRST_CORE_SIZES else None)
            for window in windows(ids, [line.is_heading for line in document], judged,
                                  cls=self.cls, sep=self.sep, first_core_size=size):
                example = {"input_ids": window.ids, "attention_mask": [1] * len(window.ids),
                           "spans": [(start, end) for _, start, end in window.judged],
                           "labels": [label_ids[document[index].label]
                                      for index, _, _ in window.judged],
                           "weights": [document[index].weight
                                       for index, _, _ in window.judged]}
                if self.takes_types:
                    example["token_type_ids"] = [0] * len(window.ids)
                examples.append(example)
        return examples


class Collate:
    """A batch of window examples as tensors: ids padded, ``pooling`` (windows × judged ×
    tokens: 1/n over each judged sentence's n tokens), ``labels`` (-100 where a window
    judges fewer sentences) and ``sample_weight``."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, examples: list[dict]) -> dict:
        import torch

        width = max(len(example["input_ids"]) for example in examples)
        judged = max(len(example["spans"]) for example in examples)
        batch = {}
        for key, pad in (("input_ids", self.pad_id), ("attention_mask", 0),
                         ("token_type_ids", 0)):
            if key in examples[0]:
                batch[key] = torch.tensor([example[key] + [pad] * (width - len(example[key]))
                                           for example in examples])
        pooling = torch.zeros(len(examples), judged, width)
        labels = torch.full((len(examples), judged), -100)
        weights = torch.zeros(len(examples), judged)
        for row, example in enumerate(examples):
            for column, (start, end) in enumerate(example["spans"]):
                pooling[row, column, start:end] = 1 / (end - start)
            labels[row, :len(example["labels"])] = torch.tensor(example["labels"])
            weights[row, :len(example["weights"])] = torch.tensor(example["weights"])
        batch.update(pooling=pooling, labels=labels, sample_weight=weights)
        return batch


def sentence_logits(token_logits, pooling, labels, weights):
    """(logits, labels, weights) of the judged sentences of a batch, flat: each sentence's
    logits the mean of its tokens' (windows.py: the graph the service runs pools the same
    way); the padding of windows that judge fewer sentences left out."""
    pooled = pooling.to(token_logits.dtype) @ token_logits  # windows × judged × labels
    present = labels >= 0
    return pooled[present], labels[present], weights[present]
