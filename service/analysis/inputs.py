"""What a forward pass is fed: sentences encoded as the model reads them (with their context,
for a context model), cut into batches by length, and padded without the shared tokenizer."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: What classify reads: a sentence, a sentence and its context (a context model reads a
#: lone sentence with an empty context, as it was trained on sentences without one), or a
#: sentence placed in its document (reading.Placed), of which each model reads what it reads.
Sentences = Sequence  # of str | tuple[str, str] | reading.Placed
#: plan_batches: a batch ends before a sentence shorter than this share of its longest, and
#: before its padded tokens would pass MAX_BATCH_TOKENS (32 sentences of 64 tokens).
MIN_FILL = 2 / 3
MAX_BATCH_TOKENS = 2048


def encode(tokenizer, sentences: Sentences, *, context: bool, max_length: int
           ) -> dict[str, list[list[int]]]:
    """Token ids of ``sentences`` (sentences, or (sentence, context) pairs: what
    model_spec.InputMode.input makes of a document's sentence) as the model reads them.

    A context model reads (sentence, context) pairs, a lone sentence with an empty context;
    any other model reads the sentence alone. A pair longer than ``max_length`` is cut
    from its longer segment first.
    """
    texts = [item[0] if isinstance(item, tuple) else item for item in sentences]
    if context:
        contexts = [item[1] if isinstance(item, tuple) else "" for item in sentences]
        encoded = tokenizer(texts, contexts, truncation=True, max_length=max_length)
    else:
        encoded = tokenizer(texts, truncation=True, max_length=max_length)
    return {key: encoded[key] for key in encoded}


def plan_batches(lengths: Sequence[int], batch_size: int, *, min_fill: float = MIN_FILL,
                 max_tokens: int = MAX_BATCH_TOKENS) -> list[list[int]]:
    """The indices of ``lengths`` (token counts), longest first, cut into batches of at most
    ``batch_size`` sentences and ``max_tokens`` padded tokens, in which no sentence is
    shorter than ``min_fill`` × the batch's longest.

    A batch is padded to its longest sentence, so the cut bounds the padding (with 2/3, no
    sentence is computed at more than 1.5× its length), and the token budget bounds the
    memory of a forward pass (ONNX Runtime's arena keeps the largest). Why fewer, fuller
    batches lost: docs/throughput.md#batches-by-length.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i], reverse=True)
    batches: list[list[int]] = []
    for index in order:
        if not batches:
            batches.append([])
        else:
            batch = batches[-1]
            longest = lengths[batch[0]]
            if (len(batch) == batch_size or lengths[index] < min_fill * longest
                    or (len(batch) + 1) * longest > max_tokens):
                batches.append([])
        batches[-1].append(index)
    return batches


def pad_batch(encoded: dict[str, list[list[int]]], indices: list[int],
         pad_values: dict[str, int]) -> dict[str, np.ndarray]:
    """The rows ``indices`` of ``encoded`` as right-padded int64 arrays, the same as
    ``tokenizer.pad`` returns but without touching the (shared) tokenizer."""
    width = max(len(encoded["input_ids"][i]) for i in indices)
    arrays = {}
    for key, rows in encoded.items():
        array = np.full((len(indices), width), pad_values.get(key, 0), dtype=np.int64)
        for row, index in enumerate(indices):
            array[row, :len(rows[index])] = rows[index]
        arrays[key] = array
    return arrays
