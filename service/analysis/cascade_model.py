"""Read twice: a fast model screens every sentence, a larger one (the reader) decides.

The fast model scores each sentence; those whose risk score reaches the screen threshold go
to the reader, whose calibrated score, category and operating point are the answer. A
sentence the screen passes over is ``none`` and never a finding, whatever ``min_score`` a
scan asks for. The threshold is chosen on the development documents so that the screen
keeps at least 97% of the findings the reader alone would make (``python -m ml.cascade``
writes it to the reader's folder as ``screen.json``); docs/model.md has the figures. Where
screen.json also holds a threshold per document shape (``shapes``: lines, report, prose, by
the median length of a document's sentences), each document is screened at its shape's:
RFCs and design proposals, told in long sentences the fast model finds risk-like, would
otherwise pass half their sentences to the reader.

A reading budget (READER_BUDGET) bounds what the cascade costs: of a document's passed
sentences the reader reads at most that share of the sentences it judges, those the fast
model is least sure of first, and the fast model answers the rest as it would alone. No
genre then costs more than a known multiple of the fast model's time.

Both stages are analyzers with ``classify`` (a TransformerAnalyzer, or a DynamicBatcher
around one), so that concurrent scans share the forward passes of each stage.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from pathlib import Path

from service.analysis.base import Analysis, AnalysisError
from service.analysis.labels import NONE
from service.analysis.model_folder import SCREEN_JSON, ModelFolder

log = logging.getLogger("riskscan.analysis")


class ReaderError(AnalysisError):
    """The reader the settings name is missing or cannot be used."""

    title = "Model unavailable"


def read_screen(reader_dir: Path) -> float:
    """The screen threshold chosen for the reader in ``reader_dir`` (its screen.json)."""
    folder = ModelFolder(reader_dir)
    path = folder.file(SCREEN_JSON)
    try:
        threshold = float(folder.read_json(SCREEN_JSON)["screen"])
    except FileNotFoundError:
        raise ReaderError(f"{path} is missing: choose the screen threshold with "
                          "`python -m ml.cascade --reader <folder>` (make reader does)") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ReaderError(f"{path} is unreadable: {type(error).__name__}") from error
    if not 0 <= threshold <= 1:
        raise ReaderError(f"{path}: the screen threshold must be within 0..1, not {threshold}")
    return threshold


#: A document's shape by the median word count of the sentences it judges: below the first,
#: ``lines`` (minutes, release notes, status lines); from the second, ``prose`` (RFCs, design
#: proposals); between them, ``report``.
SHAPE_WORDS = (10, 16)
SHAPES = ("lines", "report", "prose")


def shape_of(document: Sequence) -> str:
    """The shape of a document read by reading.sentences_of (its ReadSentences)."""
    words = sorted(len(sentence.text.split()) for sentence in document
                   if not sentence.is_heading) or [0]
    median = words[len(words) // 2]
    return "lines" if median < SHAPE_WORDS[0] else "prose" if median >= SHAPE_WORDS[1] \
        else "report"


def read_shapes(reader_dir: Path) -> dict[str, float]:
    """The screen threshold of each document shape in the reader's screen.json; none where it
    has no ``shapes`` (every document is screened at its one threshold)."""
    folder = ModelFolder(reader_dir)
    try:
        shapes = folder.read_json(SCREEN_JSON).get("shapes") or {}
        chosen = {str(shape): float(shapes[shape]) for shape in shapes}
    except (OSError, ValueError, AttributeError, TypeError) as error:
        raise ReaderError(f"{folder.file(SCREEN_JSON)} is unreadable: "
                          f"{type(error).__name__}") from error
    if set(chosen) - set(SHAPES) or not all(0 <= t <= 1 for t in chosen.values()):
        raise ReaderError(f"{folder.file(SCREEN_JSON)}: shapes must be among {SHAPES}, each "
                          "threshold within 0..1")
    return chosen


#: The most of a document's judged sentences the reader reads (READER_BUDGET's default),
#: chosen in docs/experiments/2026-12-01-a-reading-budget.md.
BUDGET = 0.3


def priority(risk: float, point: float) -> float:
    """How soon, under a budget, the reader reads a passed sentence the fast model scores
    ``risk`` (``point``: its operating point): the nearer the point, the sooner, for there
    the fast model is least sure."""
    return -abs(risk - point)


def within_budget(priorities: Sequence[float], passed: Sequence[int],
                  budget: float | None) -> list[int]:
    """Of ``passed`` (indices into ``priorities``, one per judged sentence of a document),
    those the reader reads under ``budget``: the highest priority first, at most
    ceil(budget × the judged sentences), in order; all of them where there is no budget."""
    if budget is None:
        return list(passed)
    allowed = math.ceil(budget * len(priorities))
    return sorted(sorted(passed, key=lambda index: -priorities[index])[:allowed])


class Cascade:
    """An analyzer of two stages (see the module docstring).

    ``screen`` and ``reader`` answer ``classify(sentences, min_score=…)`` as a
    TransformerAnalyzer does. The cascade reads each sentence with its context when either
    stage does: a model trained without context reads the sentence alone of a pair.
    """

    source = "model"

    def __init__(self, screen, reader, *, threshold: float,
                 shapes: dict[str, float] | None = None, budget: float | None = None):
        if not all(0 <= t <= 1 for t in (threshold, *(shapes or {}).values())):
            raise ValueError("the screen threshold must be within 0..1")
        if budget is not None and not 0 < budget <= 1:
            raise ValueError("the reading budget is a share of a document's sentences: 0..1")
        self.screen = screen
        self.reader = reader
        self.threshold = float(threshold)
        self.shapes = dict(shapes or {})  # a threshold per document shape, where fitted
        self.budget = budget  # the most of a document's sentences the reader reads; None: all
        self.screened = 0  # sentences the screen judged, passed on, and the reader read
        self.passed = 0
        self.read = 0
        self._counting = threading.Lock()  # scans classify concurrently

    @property
    def stages(self) -> tuple:
        """The screen and the reader, for what warms each up (service/serving/)."""
        return self.screen, self.reader

    @property
    def version(self) -> str:
        """Both models: ``<fast>+<reader>``, stored as each scan's model_version."""
        return f"{self.screen.version}+{self.reader.version}"

    @property
    def min_score(self) -> float:
        """The reader's operating point: a scan's ``min_score`` applies to its score."""
        return self.reader.min_score

    @property
    def input_mode(self):
        """What a caller builds the cascade's inputs with: pairs where either stage reads
        them (a stage that reads the sentence alone takes its first half)."""
        from service.analysis.model_spec import IN_CONTEXT

        pairs = self.screen.input_mode.pairs or self.reader.input_mode.pairs
        return IN_CONTEXT if pairs else self.reader.input_mode

    @property
    def device(self):
        return self.screen.device

    @property
    def runtime(self) -> str:
        return f"{self.screen.runtime}+{self.reader.runtime}"

    @property
    def quantize(self) -> str:
        return f"{self.screen.quantize}+{self.reader.quantize}"

    def classify(self, sentences: Sequence, *, min_score: float | None = None,
                 progress: bool = False) -> list[tuple[str, float]]:
        """(label, score) of each sentence: the reader's for those the screen passes and the
        budget lets it read, the fast model's own past the budget, ``none`` with a score of 1
        (no risk) for the others."""
        if not sentences:
            return []
        answers, passed = self.screen_of(sentences)
        read = self.to_read(sentences, answers, passed)
        with self._counting:
            self.screened += len(sentences)
            self.passed += len(passed)
            self.read += len(read)
        from service.analysis.counters import CASCADE_SENTENCES

        for stage, count in (("screened", len(sentences)), ("passed", len(passed)),
                             ("read", len(read))):
            CASCADE_SENTENCES.labels(stage).inc(count)
        results: list[tuple[str, float]] = [(NONE, 1.0)] * len(sentences)
        if read:
            for index, answer in zip(read, self.reader.classify(
                    [sentences[index] for index in read],
                    min_score=self.min_score if min_score is None else min_score)):
                results[index] = answer
        past = sorted(set(passed) - set(read))
        if past:  # the fast model's answer at its own point, as served without a reader
            from service.analysis.scores import apply_min_score

            for index, answer in zip(past, apply_min_score(
                    [answers[index] for index in past],
                    self.screen.min_score if min_score is None else min_score)):
                results[index] = answer
        return results

    def screen_of(self, sentences: Sequence) -> tuple[list[tuple[str, float]], list[int]]:
        """The screen's (most likely risk category, risk score) of each sentence, and the
        indices of those it passes to the reader before any budget (ml/reading_budget.py
        replays budgets from the two)."""
        answers = self.screen.classify(sentences, min_score=0.0)
        return answers, [index for index, ((_, risk), threshold)
                         in enumerate(zip(answers, self._thresholds(sentences)))
                         if risk >= threshold]

    def to_read(self, sentences: Sequence, answers: list[tuple[str, float]],
                passed: list[int]) -> list[int]:
        """What the reader reads of ``passed``: of each document's, the share the budget
        allows, first those the fast model is least sure of (sentences handed without their
        document count as one document)."""
        if self.budget is None:
            return passed
        from service.analysis.reading import Placed

        documents: dict[int, list[int]] = {}  # by document: its sentences' indices
        for index, item in enumerate(sentences):
            key = id(item.document) if isinstance(item, Placed) else 0
            documents.setdefault(key, []).append(index)
        chosen = set(passed)
        read: list[int] = []
        for indices in documents.values():
            priorities = [priority(answers[index][1], self.screen.min_score)
                          for index in indices]
            read += [indices[at] for at in within_budget(
                priorities, [at for at, index in enumerate(indices) if index in chosen],
                self.budget)]
        return sorted(read)

    def _thresholds(self, sentences: Sequence) -> list[float]:
        """Each sentence's screen threshold: its document's shape's, where the sentence comes
        placed in its document and the shape has one; else the one threshold."""
        if not self.shapes:
            return [self.threshold] * len(sentences)
        from service.analysis.reading import Placed

        shapes: dict[int, float] = {}  # by document: the sentences of one share it
        for item in sentences:
            if isinstance(item, Placed) and id(item.document) not in shapes:
                shapes[id(item.document)] = self.shapes.get(shape_of(item.document),
                                                             self.threshold)
        return [shapes[id(item.document)] if isinstance(item, Placed) else self.threshold
                for item in sentences]

    def analyze(self, text: str, *, min_score: float | None = None) -> Analysis:
        from service.analysis.reading import findings_of

        return Analysis(findings_of(text, self.classify, min_score=min_score))
