"""Reading a document, once, before any model scores it.

``sentences_of(text)`` is the one step from text to what a classifier reads: it segments the text
(segment.py), asks once of each sentence whether it is a heading or a label line, and
gives each its section heading and the sentence before it (context.py). Every scoring
stage then only scores what it yields: the fast model, the cascade's screen and reader
(which share one reading: service/analysis/cascade_model.py), calibration (ml/calibrate.py),
distillation and the benches.

A classifier is handed each sentence ``Placed`` in its document, and reads of it what its
model was trained on: the sentence, or the sentence and its context (``Placed.input``, as
the model's InputMode asks: model_spec.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from service.analysis.base import Finding
from service.analysis.context import context_text, sections
from service.analysis.headings import is_heading
from service.analysis.labels import NONE
from service.analysis.segment import Sentence, sentence_context, split_sentences

#: What a classifier reads of a sentence: the sentence, or the sentence and its context.
Input = str | tuple[str, str]


@dataclass(frozen=True, slots=True)
class ReadSentence(Sentence):
    """A sentence of a document as read: its offsets and text, whether it is a heading or
    label line (never judged), the last heading above it and the sentence before it."""

    is_heading: bool
    heading: str
    previous: str

    @property
    def context(self) -> str:
        """The second segment a context model reads with it (context.context_text)."""
        return context_text(self.heading, self.previous)

    def input(self, context: bool) -> Input:
        """What a classifier reads: the sentence, with its context for a context model."""
        return (self.text, self.context) if context else self.text


@dataclass(frozen=True, slots=True, eq=False)
class Placed:
    """A sentence of a document as a classifier is handed it: the document's sentences
    (headings included, shared by all its sentences) and its index among them."""

    document: tuple[ReadSentence, ...]
    index: int

    @property
    def sentence(self) -> ReadSentence:
        return self.document[self.index]

    def input(self, context: bool) -> Input:
        """What a sentence or context model reads of it (ReadSentence.input)."""
        return self.document[self.index].input(context)


def sentences_of(text: str) -> list[ReadSentence]:
    """Every sentence of ``text`` in order, headings included, read once."""
    sentences = split_sentences(text)
    headings = [is_heading(text, sentence) for sentence in sentences]
    return [ReadSentence(sentence.start, sentence.end, sentence.text, is_heading=heading,
                         heading=above, previous=previous)
            for sentence, heading, (above, previous)
            in zip(sentences, headings, sections(sentences, headings))]


def judged(text: str) -> list[ReadSentence]:
    """The sentences of ``text`` a classifier judges: all but headings and label lines."""
    return [sentence for sentence in sentences_of(text) if not sentence.is_heading]


def placed(text: str) -> list[Placed]:
    """The sentences of ``text`` a classifier judges, each in its document: what
    findings_of hands a classifier, for a caller that scores them itself."""
    document = tuple(sentences_of(text))
    return [Placed(document, index) for index, sentence in enumerate(document)
            if not sentence.is_heading]


Classify = Callable[..., list[tuple[str, float]]]


def findings_of(text: str, classify: Classify, *, min_score: float | None = None
                ) -> list[Finding]:
    """Read ``text``, label the sentences it judges with ``classify`` (each handed in its
    document: ``Placed``), and keep the risks. Headings and label-only lines ("Risks and
    issues", "Open items:") are never findings.

    Shared by TransformerAnalyzer, the dynamic batcher (batching.py) and the cascade.
    """
    sentences = tuple(sentences_of(text))
    candidates = [index for index, sentence in enumerate(sentences) if not sentence.is_heading]
    labelled = classify([Placed(sentences, index) for index in candidates],
                        min_score=min_score)
    return [Finding(risk=sentences[index].text, category=label,
                    context=sentence_context(text, sentences, index), score=round(score, 4),
                    start=sentences[index].start, end=sentences[index].end)
            for index, (label, score) in zip(candidates, labelled) if label != NONE]
