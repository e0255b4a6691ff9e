"""Chunks of whole sentences, and each risk the LLM quotes located among the text's own
sentences, so that a finding is the same unit as the model's and its offsets come from the
text, never from the LLM. Sentences are cut by service/analysis/segment.py, as for the model.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from service.analysis.segment import Sentence, split_sentences

# About 2,000 tokens of text: with the prompt and an answer that may copy most of the
# chunk back, this fits an 8k-token context.
DEFAULT_CHUNK_CHARS = 8000

#: What SentenceLocator.locate answers for a sentence quoted again.
DUPLICATE = object()

# Typographic characters an LLM tends to straighten when it copies a sentence.
_FOLD = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"',
    "\u2013": "-", "\u2014": "-", "\u2212": "-",
})


def chunk_sentences(sentences: Sequence[Sentence], max_chars: int) -> list[range]:
    """Consecutive sentences grouped into chunks of at most ``max_chars`` characters of text
    (first start to last end), as ranges of sentence indices, in order. A sentence longer
    than a chunk goes alone; no sentence is ever cut in two."""
    chunks: list[range] = []
    first = 0
    for i in range(1, len(sentences) + 1):
        if i == len(sentences) or sentences[i].end - sentences[first].start > max_chars:
            chunks.append(range(first, i))
            first = i
    return chunks


def split_into_chunks(text: str, max_chars: int) -> list[tuple[int, int]]:
    """``(start, end)`` of each chunk of ``text`` (see chunk_sentences)."""
    sentences = split_sentences(text)
    return [(sentences[c.start].start, sentences[c.stop - 1].end)
            for c in chunk_sentences(sentences, max_chars)]


def folded(text: str) -> str:
    """``text`` with quotes and dashes straightened and whitespace collapsed."""
    return " ".join(text.translate(_FOLD).split())


class SentenceLocator:
    """Maps the risks an LLM quotes to whole sentences of the text, in linear time.

    A risk counts only when it is a sentence as split_sentences cut the text (verbatim, or
    equal after folding quotes and dashes and collapsing whitespace), so that a finding is
    bounded and the same unit as the model's; offsets come from the sentence, never from
    the LLM. Each sentence is reported once.
    """

    def __init__(self, sentences: Sequence[Sentence]):
        self.sentences = sentences
        self._exact: dict[str, list[int]] = {}
        self._fold: dict[str, list[int]] = {}
        for i, sentence in enumerate(sentences):
            self._exact.setdefault(sentence.text, []).append(i)
            self._fold.setdefault(folded(sentence.text), []).append(i)
        self._used = bytearray(len(sentences))
        # Per index list, how far its indices are known to be used: chunks come in order
        # and each takes its sentences first to last, so every index is skipped once.
        self._next: dict[int, int] = {}

    def locate(self, risk: str, chunk: range):
        """The index of the first unused sentence of ``chunk`` that ``risk`` quotes; None
        when no sentence of the chunk matches, DUPLICATE when every match is reported."""
        for table, key in ((self._exact, risk.strip()), (self._fold, None)):
            indices = table.get(key if key is not None else folded(risk))
            if not indices:
                continue
            position = max(bisect.bisect_left(indices, chunk.start),
                           self._next.get(id(indices), 0))
            while position < len(indices) and indices[position] < chunk.stop:
                index = indices[position]
                position += 1
                if not self._used[index]:
                    self._used[index] = 1
                    self._next[id(indices)] = position
                    return index
            self._next[id(indices)] = position
            first = bisect.bisect_left(indices, chunk.start)
            if first < len(indices) and indices[first] < chunk.stop:
                return DUPLICATE  # quoted verbatim, every occurrence already reported
        return None
