"""A deployment's register pairs as training pairs: ``python -m ml.pair_training train
--register-pairs FILE.jsonl`` (repeatable).

The file is what ``flask export-register-pairs`` writes (service/projects/curation_pairs.py):
one ``{"a", "b", "relation", "source", "project"}`` object a line, ``relation`` ``same`` (a
trusted person merged the entries) or ``different`` (they split the sentence out). What
enters training, and why:

- the ``train`` split only, never ``dev`` or ``test``: those choose the threshold and measure
  the model, and people's pairs are neither labelled twice nor split by project;
- one pair whatever the case and spacing of its words and in either order; a pair the files
  give both relations drops out (the export keeps the newest decision: two exports disagree);
- not a pair with a sentence of a ``dev`` or ``test`` pair: learnt, it would flatter them.

A line that is not such an object is refused naming its ``path:line``, before any training.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from pathlib import Path

from ml.data.build_splits import exact_key
from ml.jsonl import records
from service.analysis.segment import MAX_SENTENCE_CHARS

FIELDS = frozenset({"a", "b", "relation", "source", "project"})
RELATIONS = ("same", "different")
#: A longer line is refused unparsed: two sentences of MAX_SENTENCE_CHARS escaped as \\uXXXX
#: (6 characters each) with the other fields fit with room to spare.
MAX_LINE_CHARS = 16 * MAX_SENTENCE_CHARS


class InvalidRegisterPairsError(ValueError):
    """The register pairs file cannot be used as it is."""


def read_register_pairs(path: Path) -> list[dict]:
    """``{a, b, relation}`` per line of ``path``, in file order; InvalidRegisterPairsError
    naming the line for anything else than a register pair."""
    rows = []
    for where, row in records(path, InvalidRegisterPairsError, max_chars=MAX_LINE_CHARS):
        if not isinstance(row, dict):
            raise InvalidRegisterPairsError(f'{where}: needs an object with "a", "b" and '
                                            f'"relation"')
        if unknown := sorted(set(row) - FIELDS):
            raise InvalidRegisterPairsError(f"{where}: unknown field {unknown[0]!r} (a register "
                                            f"pair has {', '.join(sorted(FIELDS))})")
        for side in ("a", "b"):
            text = row.get(side)
            if not isinstance(text, str) or not text.strip():
                raise InvalidRegisterPairsError(f'{where}: "{side}" must be a sentence (a '
                                                f"non-empty string)")
            if len(text) > MAX_SENTENCE_CHARS:
                raise InvalidRegisterPairsError(f'{where}: "{side}" is over '
                                                f"{MAX_SENTENCE_CHARS} characters")
        if row.get("relation") not in RELATIONS:
            raise InvalidRegisterPairsError(f"{where}: unknown relation {row.get('relation')!r} "
                                            f"(one of {', '.join(RELATIONS)})")
        for name in ("source", "project"):
            if not isinstance(row.get(name, ""), str):
                raise InvalidRegisterPairsError(f'{where}: "{name}" must be a string')
        rows.append({"a": row["a"].strip(), "b": row["b"].strip(), "relation": row["relation"]})
    if not rows:
        raise InvalidRegisterPairsError(f"{path}: no pairs")
    return rows


def training_pairs(paths: Iterable[Path], *, held_out: Iterable[str]) -> list[dict]:
    """The pairs of the files ``paths`` that training may learn (the module docstring says
    which), ``{a, b, relation}`` each, in file order. ``held_out``: the sentences of the
    pairs that choose the threshold and measure the model."""
    held = {exact_key(text) for text in held_out}
    by_key: dict[tuple[str, str], dict] = {}
    relations: dict[tuple[str, str], set[str]] = {}
    for path in paths:
        for row in read_register_pairs(path):
            key = tuple(sorted((exact_key(row["a"]), exact_key(row["b"]))))
            if key[0] == key[1] or held.intersection(key):
                continue
            by_key.setdefault(key, row)
            relations.setdefault(key, set()).add(row["relation"])
    return [row for key, row in by_key.items() if len(relations[key]) == 1]


def checked_file(value: str) -> Path:
    """argparse's type for ``--register-pairs``: the file, read and refused at once (naming
    its line) rather than after the model has loaded."""
    path = Path(value)
    try:
        read_register_pairs(path)
    except InvalidRegisterPairsError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return path
