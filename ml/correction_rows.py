"""Users' corrections as training rows: ``python -m ml.train --corrections FILE.jsonl``.

The file is what ``flask export-corrections`` writes and ``GET /api/v1/findings/feedback``
answers (service/scans/corrections.py): one ``{"text", "label", "source"}`` object a line;
several users' files may be joined into one. What enters training, and why:

- one row per sentence (the same words whatever their case and spacing, as build_splits
  compares them): a sentence corrected twice is one thing learnt, not two;
- where users disagree, the label most of them gave; a tie drops the sentence (counted as
  a conflict), since no user's word outweighs another's;
- never a sentence of the validation or test split, nor one found in a development or test
  document: those measure the model, and a correction learnt there would flatter it
  (dropped and counted as held out);
- not a sentence the training data already holds with the same label: nothing new to learn.

A line that is not such an object is refused naming its ``path:line``, before any training.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ml.data.build_splits import exact_key
from ml.jsonl import records
from service.analysis.labels import LABELS
from service.analysis.segment import MAX_SENTENCE_CHARS

FIELDS = frozenset({"text", "label", "source"})
#: A line longer than this is refused unparsed: a sentence of MAX_SENTENCE_CHARS escaped as
#: \\uXXXX (6 characters each) with its label and source fits with room to spare.
MAX_LINE_CHARS = 8 * MAX_SENTENCE_CHARS


class InvalidCorrectionsError(ValueError):
    """The corrections file cannot be used as it is."""


@dataclass
class Corrections:
    """The corrections that enter training, and how many of the file's lines did not."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    lines: int = 0
    duplicates: int = 0  # lines that repeat a sentence an earlier line corrected
    conflicts: int = 0  # sentences whose users tied on two labels
    held_out: int = 0  # sentences of the validation, test or development data
    already_trained: int = 0  # sentences the training data holds with the same label

    def counts(self) -> dict[str, int]:
        return {"lines": self.lines, "rows": len(self.texts), "duplicates": self.duplicates,
                "conflicts": self.conflicts, "held_out": self.held_out,
                "already_trained": self.already_trained}


def read_corrections(path: Path) -> list[tuple[str, str]]:
    """(text, label) per line of ``path``, in file order; InvalidCorrectionsError naming the
    line for anything else than a corrections row."""
    rows = []
    for where, row in records(path, InvalidCorrectionsError, max_chars=MAX_LINE_CHARS):
        if not isinstance(row, dict):
            raise InvalidCorrectionsError(f'{where}: needs an object with "text" and "label"')
        unknown = sorted(set(row) - FIELDS)
        if unknown:
            raise InvalidCorrectionsError(f"{where}: unknown field {unknown[0]!r} (a corrections row "
                                       f"has {', '.join(sorted(FIELDS))})")
        text, label = row.get("text"), row.get("label")
        if not isinstance(text, str) or not text.strip():
            raise InvalidCorrectionsError(f'{where}: "text" must be a sentence (a non-empty string)')
        if len(text) > MAX_SENTENCE_CHARS:
            raise InvalidCorrectionsError(f'{where}: "text" is over {MAX_SENTENCE_CHARS} characters, '
                                       f"longer than any sentence a scan reports")
        if label not in LABELS:
            raise InvalidCorrectionsError(f"{where}: unknown label {label!r} (one of "
                                       f"{', '.join(LABELS)})")
        if not isinstance(row.get("source", ""), str):
            raise InvalidCorrectionsError(f'{where}: "source" must be a string')
        rows.append((text.strip(), label))
    if not rows:
        raise InvalidCorrectionsError(f"{path}: no corrections")
    return rows


def corrections(path: Path, *, trained: Iterable[tuple[str, str]],
                held_out_sentences: Iterable[str],
                held_out_documents: Iterable[str]) -> Corrections:
    """The rows of ``path`` that training may learn (the module docstring says which).

    ``trained``: the (text, label) rows training reads already; ``held_out_sentences``: the
    sentences that measure the model; ``held_out_documents``: the texts of the documents
    that do."""
    rows = read_corrections(path)
    kept = Corrections(lines=len(rows))
    by_key: dict[str, tuple[str, Counter]] = {}
    for text, label in rows:
        by_key.setdefault(exact_key(text), (text, Counter()))[1][label] += 1
    kept.duplicates = len(rows) - len(by_key)
    held_sentences = {exact_key(text) for text in held_out_sentences}
    held_documents = [exact_key(text) for text in held_out_documents]
    known = {(exact_key(text), label) for text, label in trained}
    for key, (text, votes) in by_key.items():
        (label, most), *rest = votes.most_common(2)
        if rest and rest[0][1] == most:
            kept.conflicts += 1
        elif key in held_sentences or any(key in document for document in held_documents):
            kept.held_out += 1
        elif (key, label) in known:
            kept.already_trained += 1
        else:
            kept.texts.append(text)
            kept.labels.append(label)
    return kept
