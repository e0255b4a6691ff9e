"""What a model is fed, as one typed value: ModelSpec and its InputMode.

Whether a model is fed a sentence alone or with its section heading and the sentence
before it is, in effect, its architecture: training must build its batches as the service
builds its inputs, or the model answers questions it was never asked. So the mode is one
object, an ``InputMode``, held by a ``ModelSpec`` that a folder yields once
(ModelFolder.spec) and a recipe yields for training (ml.train); the service's
TransformerAnalyzer and ml.train's batches both turn rows into token ids through it, and
nothing else compares modes. Adding a mode is one subclass here and its tests
(tests/test_model_spec.py). ("Reading" is kept for a document read into sentences:
service/analysis/reading.py.)

training_config.json keeps the mode by name (``reads``): this module is the one place that
reads or writes that name. The window mode (``"window"``) was retired on 29 November 2026
after losing on four recipes over two and three seeds, for both models (its pages stay in
docs/experiments/): a folder that reads in windows is refused by name, not misread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from service.analysis.inputs import encode

#: A mode a model may no longer be served or trained in, and why.
RETIRED = {"window": "window models were retired on 29 November 2026 "
                     "(docs/experiments/2026-11-28-the-window-reader-on-a-gpu.md)"}
#: The token limit of a folder whose training_config.json does not say one.
DEFAULT_MAX_LENGTH = 128


class UnknownInputMode(ValueError):
    """A folder or a recipe names an input mode there is no class for."""


class InputMode:
    """How a model reads one sentence; one instance per mode, compared by identity."""

    #: The name training_config.json keeps (``reads``).
    name: ClassVar[str]
    #: Whether the model reads (sentence, context) pairs: the tokenizer's second segment.
    pairs: ClassVar[bool]

    def input(self, item):
        """What the model reads of ``item``: a sentence, a (sentence, context) pair, or a
        sentence of a document (reading.ReadSentence or reading.Placed)."""
        if hasattr(item, "input"):
            return item.input(self.pairs)
        if self.pairs:
            return item if isinstance(item, tuple) else (item, "")
        return item[0] if isinstance(item, tuple) else item

    def inputs(self, texts: Sequence[str], contexts: Sequence[str]) -> list:
        """What the model reads of labelled rows: their sentences, with their contexts
        where it reads pairs ("" for a sentence written alone)."""
        return list(zip(texts, contexts)) if self.pairs else list(texts)

    def encode(self, tokenizer, items: Sequence, max_length: int
               ) -> dict[str, list[list[int]]]:
        """Token ids of ``items`` (anything ``input`` takes, turned once into what the model
        reads), cut at ``max_length``: the service's classify and ml.train's batches both
        encode through this."""
        return encode(tokenizer, [self.input(item) for item in items], context=self.pairs,
                      max_length=max_length)

    def __repr__(self) -> str:
        return f"<reads {self.name}>"


class SentenceAlone(InputMode):
    """The sentence alone: the first recipes, and a folder that says nothing."""

    name = "sentence"
    pairs = False


class InContext(InputMode):
    """The sentence, then its heading and previous sentence as a second segment
    (service/analysis/context.py); a sentence written alone reads an empty one."""

    name = "context"
    pairs = True


SENTENCE = SentenceAlone()
IN_CONTEXT = InContext()
INPUT_MODES = {mode.name: mode for mode in (SENTENCE, IN_CONTEXT)}


def input_mode_named(name: str) -> InputMode:
    """The InputMode ``name`` stands for; UnknownInputMode for a retired or unknown one."""
    if name in INPUT_MODES:
        return INPUT_MODES[name]
    if name in RETIRED:
        raise UnknownInputMode(f"reads {name!r}: {RETIRED[name]}")
    raise UnknownInputMode(f"reads {name!r}, not one of {tuple(INPUT_MODES)}")


def input_mode_for(context: bool) -> InputMode:
    """The input mode a recipe's ``--context`` flag asks for."""
    return IN_CONTEXT if context else SENTENCE


@dataclass(frozen=True)
class ModelSpec:
    """What serving and training must agree on about a model: how it reads a sentence and
    how many tokens of it. A folder's (ModelFolder.spec) or a recipe's (ml.train)."""

    input_mode: InputMode
    max_length: int = DEFAULT_MAX_LENGTH

    @classmethod
    def from_training(cls, training: dict) -> ModelSpec:
        """The spec training_config.json records: ``reads``, else the older ``context``
        flag; a folder without either was trained on sentences alone of
        DEFAULT_MAX_LENGTH tokens. UnknownInputMode or ValueError for one that is wrong."""
        name = training.get("reads") or ("context" if training.get("context") is True
                                         else "sentence")
        if not isinstance(name, str):
            raise UnknownInputMode(f"reads {name!r}, not a name")
        max_length = int(training.get("max_length", DEFAULT_MAX_LENGTH))
        if max_length < 8:
            raise ValueError(f"max_length {max_length} is too short to read a sentence")
        return cls(input_mode_named(name), max_length)

    def to_training(self) -> dict:
        """The fields training_config.json keeps of it (read back by from_training)."""
        return {"reads": self.input_mode.name, "max_length": self.max_length}
