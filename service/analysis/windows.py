"""What a window model reads: consecutive sentences of a document, encoded in one pass.

A sentence alone, or with its heading and the sentence before, cannot tell a risk told in
passing ("We will see how it goes.") from a plain line: the sentence after often says what
could go wrong. A window model (Cohan et al., EMNLP 2019, "Pretrained Language Models for
Sequential Sentence Classification") reads a run of consecutive sentences jointly,

    [CLS] section heading [SEP] sentence [SEP] sentence [SEP] … [SEP]

and labels each sentence from its own tokens (the mean of its tokens' logits, its separator
included: the same as the mean of their states through the linear head, which lets the
graph stay a token classifier; ml/windowed.py trains it so).

``windows`` cuts a document into such windows, the one way training (ml/windowed.py),
evaluation and the scan path (transformer.py) read one. Each judged sentence is judged in
exactly one window, the one whose *core* holds it; a core has ``MARGIN`` sentences of the
document on each side where the document has them, and the section heading above it when
that heading is not already inside. A window holds at most ``WINDOW_TOKENS`` tokens and a
sentence is read on its first ``SENTENCE_TOKENS`` (a heading on its first
``HEADING_TOKENS``), so one core sentence with its margins always fits, and the work is
linear in the document: every sentence is read in its own core and at most ``2 × MARGIN``
other windows' margins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

#: The encoder's length (all-MiniLM-L6-v2 and all-mpnet-base-v2 read 512 positions).
WINDOW_TOKENS = 512
SENTENCE_TOKENS = 96
HEADING_TOKENS = 16
#: Sentences read on each side of a judged one, where the document has them.
MARGIN = 2
#: The padded tokens of a batch of windows on the CPU: one full window. A window's attention
#: is quadratic in its length, and ONNX Runtime's arena keeps the largest batch's: four full
#: windows a batch held the service at 676 MB after a scan (bench.memory). A GPU is fed
#: ``batch_size`` windows a batch instead (transformer.py): one window a batch left an H200
#: waiting on each launch.
BATCH_TOKENS = WINDOW_TOKENS


@dataclass(frozen=True, slots=True)
class Window:
    """One pass of the encoder: its token ids, and for each sentence judged in it its index
    in the document and its tokens' span ``[start, end)`` (its separator included)."""

    ids: list[int]
    judged: list[tuple[int, int, int]]


def separators(tokenizer) -> tuple[int, int]:
    """The ids that open a window and close each sentence in it ([CLS] and [SEP] for BERT,
    <s> and </s> for MPNet): what the tokenizer puts around an empty text."""
    first, *_, last = tokenizer("")["input_ids"]
    return first, last


def section_headings(headings: Sequence[bool]) -> list[int | None]:
    """The index of the last heading above each sentence (None where there is none)."""
    above: list[int | None] = []
    last = None
    for index, heading in enumerate(headings):
        above.append(last)
        if heading:
            last = index
    return above


def windows(sentence_ids: Sequence[Sequence[int]], headings: Sequence[bool],
            judged: Sequence[int], *, cls: int, sep: int, budget: int = WINDOW_TOKENS,
            margin: int = MARGIN, first_core_size: int | None = None) -> list[Window]:
    """The windows that judge each of ``judged`` (indices into the document's sentences,
    whose token ids without special tokens are ``sentence_ids``) once, in order.

    ``headings`` says which sentences are headings or label lines: they are read, never
    judged unless asked. A sentence's ids are cut to SENTENCE_TOKENS here (a heading put in
    front, to HEADING_TOKENS), so that a caller may pass them whole. ``first_core_size``: at most
    this many sentences in the first window's core, which moves where every later window
    starts (training draws it, so that a sentence is learnt at every place in a window).
    """
    count = len(sentence_ids)
    ids = [list(tokens[:SENTENCE_TOKENS]) for tokens in sentence_ids]
    cost = [len(tokens) + 1 for tokens in ids]  # its separator
    if budget < 1 + HEADING_TOKENS + 1 + (2 * margin + 1) * (SENTENCE_TOKENS + 1):
        raise ValueError(f"a window of {budget} tokens cannot hold a sentence and its margins")
    above = section_headings(headings)
    wanted = sorted(set(judged))
    made: list[Window] = []
    position = 0  # the first judged sentence not yet in a window
    while position < len(wanted):
        core_start = wanted[position]
        first = max(0, core_start - margin)
        heading = above[core_start]
        front = [] if heading is None or heading >= first else ids[heading][:HEADING_TOKENS]
        used = 1 + (len(front) + 1 if front else 0) + sum(cost[first:core_start])
        last_core = core_start
        used += cost[core_start]
        # Grow the core while the next sentence and the margin after it still fit, and a
        # judged sentence is near: past a gap of two margins a window of its own is cheaper.
        ahead = position + 1
        limit = (count if made or first_core_size is None
                 else core_start + first_core_size - 1)
        while (last_core < limit and ahead < len(wanted)
               and wanted[ahead] - last_core <= 2 * margin + 1
               and used + cost[last_core + 1]
               + sum(cost[last_core + 2:min(count, last_core + 2 + margin)]) <= budget):
            last_core += 1
            used += cost[last_core]
            while ahead < len(wanted) and wanted[ahead] <= last_core:
                ahead += 1
        last = min(count - 1, last_core + margin)
        tokens = [cls] + (front + [sep] if front else [])
        spans: dict[int, tuple[int, int]] = {}
        for index in range(first, last + 1):
            start = len(tokens)
            tokens += ids[index] + [sep]
            spans[index] = (start, len(tokens))
        inside = []
        while position < len(wanted) and wanted[position] <= last_core:
            inside.append((wanted[position], *spans[wanted[position]]))
            position += 1
        made.append(Window(tokens, inside))
    return made


def window_logits(sentences: Sequence, tokenize: Callable[[list[str]], list[list[int]]],
                  forward: Callable[[dict[str, np.ndarray]], np.ndarray], *, cls: int, sep: int,
                  input_names: Sequence[str], pad_values: dict[str, int], labels: int,
                  batch_size: int, max_tokens: int = BATCH_TOKENS,
                  progress: bool = False) -> np.ndarray:
    """Each of ``sentences`` (reading.Placed, or a sentence without its document, read as
    a document of its own) labelled from its tokens in the one window that judges it: the
    mean of their logits. A document is tokenized once (``tokenize``: its sentences' ids,
    no special tokens) and its windows batched by length like any batch (``forward``:
    a padded batch's logits, windows × tokens × labels)."""
    from service.analysis.inputs import pad_batch, plan_batches
    from service.analysis.reading import placed_alone

    documents: dict[int, tuple[tuple, dict[int, list[int]]]] = {}
    for row, item in enumerate(sentences):
        item = placed_alone(item)
        rows = documents.setdefault(id(item.document), (item.document, {}))[1]
        rows.setdefault(item.index, []).append(row)
    planned: list[tuple[list[int], list[tuple[list[int], int, int]]]] = []
    for document, rows in documents.values():
        ids = tokenize([sentence.text for sentence in document])
        for window in windows(ids, [sentence.is_heading for sentence in document], list(rows),
                              cls=cls, sep=sep):
            planned.append((window.ids, [(rows[index], start, end)
                                         for index, start, end in window.judged]))
    encoded = {"input_ids": [ids for ids, _ in planned],
               "token_type_ids": [[0] * len(ids) for ids, _ in planned],
               "attention_mask": [[1] * len(ids) for ids, _ in planned]}
    encoded = {name: encoded[name] for name in input_names}
    logits = np.empty((len(sentences), labels), dtype=np.float32)
    batches = plan_batches([len(ids) for ids, _ in planned], batch_size,
                           max_tokens=max_tokens)
    if progress:
        import sys

        from tqdm import tqdm

        batches = tqdm(batches, desc="classify", unit="batch", file=sys.stderr)
    for indices in batches:
        tokens = forward(pad_batch(encoded, indices, pad_values))
        for row, index in enumerate(indices):
            for rows, start, end in planned[index][1]:
                logits[rows] = tokens[row, start:end].mean(axis=0)
    return logits
