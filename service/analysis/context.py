"""What the classifier reads around a sentence: its section heading and the sentence before.

A sentence alone cannot tell "The vendor has not signed yet." under "Risks" from the same
words under "Done this week". A model trained with context (ml.train's ``context``) reads
each sentence as the first segment and this text as the second, in training and in the
service alike, so both must build it here. Heading and previous sentence are cut to a few
words: enough to place the sentence, and the cost of a scan grows with every token
(docs/model.md, "Context").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from service.analysis.headings import is_heading
from service.analysis.segment import Sentence

HEADING_MAX_WORDS = 6
PREVIOUS_MAX_WORDS = 10
SEPARATOR = " | "


def context_text(heading: str, previous: str) -> str:
    """The second segment for a sentence under ``heading`` that follows ``previous``:
    the heading's first words and the previous sentence's last words; either may be empty."""
    heading = " ".join(heading.strip().lstrip("#").split()[:HEADING_MAX_WORDS])
    previous = " ".join(previous.split()[-PREVIOUS_MAX_WORDS:])
    if not previous or previous == heading:
        return heading
    if not heading:
        return previous
    return f"{heading}{SEPARATOR}{previous}"


def sentence_contexts(text: str, sentences: Sequence[Sentence], *,
                      headings: Sequence[bool] | None = None) -> list[str]:
    """The context of each of ``sentences`` (split from ``text``), in order: the last heading
    or label line above it (service.analysis.headings.is_heading, or ``headings`` when the
    caller has already asked it of each sentence) and the sentence before. The scan path
    reads it off service.analysis.reading.sentences_of, which makes each sentence's test once."""
    if headings is None:
        headings = [is_heading(text, sentence) for sentence in sentences]
    return [context_text(heading, previous) for heading, previous in sections(sentences, headings)]


def sections(sentences: Sequence[Sentence], headings: Sequence[bool]
             ) -> Iterator[tuple[str, str]]:
    """(the last heading above it, the sentence before it) for each of ``sentences``, whose
    ``headings`` say which are headings or label lines; either is "" where there is none."""
    heading = ""
    for index, sentence in enumerate(sentences):
        yield heading, sentences[index - 1].text if index else ""
        if headings[index]:
            heading = sentence.text
