"""Which entry a finding joins, when the models root has a pair model (issue #77).

Today's rule (entries.py): the entry of the finding's category whose closest wording's
embedding is at least ``REGISTER_MATCH_THRESHOLD`` alike. Embeddings of two sentences taken
apart do not know which differences matter; a cross-encoder reading both does
(``service/analysis/pair_model.py``, trained by ``ml/pair_training.py``). With one in the models
root's ``pair`` folder, the embeddings only shortlist: at most ``SHORTLIST`` entries of the
category at least ``SHORTLIST_FLOOR`` alike (the band the model's pairs were drawn from), and
the pair model, reading the finding beside each one's wording, decides: the most probable at
its threshold is joined, else the finding opens an entry. Without one (an older models root,
or ``make pair-model`` never run) today's rule stays.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
from sqlalchemy.orm import joinedload

from service.analysis.model_folder import PAIR_FOLDER
from service.db import RegisterEntry
from service.extensions import db

SHORTLIST = 5  # entries read at most per finding: the pair model's cost is bounded by it
SHORTLIST_FLOOR = 0.30  # the candidates' lowest cosine when the pairs were drawn

_models: dict[Path, object] = {}


class Join(NamedTuple):
    """Where a finding goes: the entry it joins (None: it opens one), the wording of it that
    it joins, how sure the register was (the cosine, or the pair model's probability) and
    by what (project_tables.JOINED_BY)."""

    entry: RegisterEntry | None
    wording: int = 0
    alike: float | None = None
    by: str = "opened"


OPENS = Join(None)
_lock = threading.Lock()


def pair_model(root: Path | None):
    """The models root's pair model, loaded once per process, or None (asked again next
    time: one made by ``make pair-model`` is taken up by the next scan)."""
    if root is None:
        return None
    folder = root / PAIR_FOLDER
    with _lock:
        if folder not in _models:
            from service.analysis.pair_model import PairModel

            if (model := PairModel.of(folder)) is None:
                return None
            _models[folder] = model
        return _models[folder]


def shortlist(similarities: dict[int, tuple[float, int]]) -> list[int]:
    """The keys of at most SHORTLIST entries, most alike first, at least SHORTLIST_FLOOR
    alike: ``similarities`` is {entry key: (its closest wording's cosine, that wording)}."""
    kept = [key for key, (similarity, _) in similarities.items() if similarity >= SHORTLIST_FLOOR]
    return sorted(kept, key=lambda key: -similarities[key][0])[:SHORTLIST]


def by_entry(ids: list[int], similarities: np.ndarray) -> dict[int, tuple[float, int]]:
    """{entry id: (cosine, wording)} of its closest wording, from a snapshot's rows (an
    entry's wordings are adjacent rows)."""
    best: dict[int, tuple[float, int]] = {}
    first: dict[int, int] = {}
    for row, key in enumerate(ids):
        first.setdefault(key, row)
        similarity = float(similarities[row])
        if key not in best or similarity > best[key][0]:
            best[key] = (similarity, row - first[key])
    return best


def nearest(directions: np.ndarray, vector: np.ndarray, threshold: float, *,
            skip: Sequence[int] = ()) -> tuple[int, float] | None:
    """(row, cosine) of the row of ``directions`` (unit rows) most alike to ``vector``, if
    it reaches ``threshold``: the register's rule of "states the same thing" (its entries'
    and its dismissals'). Rows in ``skip`` are left out."""
    if len(directions) == 0:
        return None
    similarities = directions @ vector
    similarities[list(skip)] = -np.inf
    index = int(np.argmax(similarities))
    similarity = float(similarities[index])
    return (index, similarity) if similarity >= threshold else None


def decide(model, text: str, wordings: dict[int, str]) -> tuple[int, float] | None:
    """The key of the entry (of ``wordings``: {key: its wording}) that ``text`` restates,
    the most probable at the model's threshold, with its probability; or None."""
    if not wordings:
        return None
    keys = list(wordings)
    probabilities = model.probabilities([(wordings[key], text) for key in keys])
    best = int(np.argmax(probabilities))
    probability = float(probabilities[best])
    return (keys[best], probability) if probability >= model.threshold else None


def closest(snapshot, category: str, vector: np.ndarray, threshold: float,
            entries: dict[int, RegisterEntry], moved: dict[int, np.ndarray], *,
            text: str | None = None, pair=None, closes: bool = False) -> Join:
    """The entry of ``category`` that the finding (``vector``, and its ``text`` for the pair
    model ``pair``) joins, the wording it joins and how sure; OPENS for a new one. ``entries``
    holds those already loaded, and this scan's new ones under negative keys; ``moved``
    holds the directions (a row per wording) this scan changed or added, which stand for
    the snapshot's. Without a pair model: the closest wording at ``threshold``. A finding
    that ``closes`` (closing.py) and joins none of its category joins the closest of any
    (``snapshot`` read for all: closest_anywhere)."""
    join = _closest(snapshot, category, vector, threshold, entries, moved, text=text,
                    pair=pair)
    if join.entry is None and closes:
        return closest_anywhere(snapshot, vector, threshold, entries)
    return join


def _closest(snapshot, category: str, vector: np.ndarray, threshold: float,
             entries: dict[int, RegisterEntry], moved: dict[int, np.ndarray], *,
             text: str | None, pair) -> Join:
    ids = snapshot.ids[category]
    skip = [row for row, key in enumerate(ids) if key in moved] if ids and moved else []
    if pair is not None and text is not None:
        similarities = np.full(len(ids), -np.inf)
        if ids:
            similarities = snapshot.matrices[category] @ vector
            similarities[skip] = -np.inf
        candidates = {key: value for key, value in by_entry(ids, similarities).items()
                      if key not in moved}
        for key, directions_of in moved.items():
            row = int(np.argmax(directions_of @ vector))
            candidates[key] = (float(directions_of[row] @ vector), row)
        listed = shortlist(candidates)
        for key in listed:
            _load(entries, key)
        chosen = decide(pair, text, {key: entries[key].risk for key in listed})
        if chosen is None:
            return OPENS
        key, probability = chosen
        return Join(entries[key], candidates[key][1], round(probability, 4), "pair_model")
    best_key, best, wording = None, threshold, 0
    if ids:  # the snapshot's entries but those this scan moved (new ones have negative keys)
        match = nearest(snapshot.matrices[category], vector, threshold, skip=skip)
        if match is not None:
            best_key, best = ids[match[0]], match[1]
            wording = match[0] - ids.index(best_key)
    for key, directions_of in moved.items():
        similarities = directions_of @ vector
        row = int(np.argmax(similarities))
        if similarities[row] >= threshold and (best_key is None or similarities[row] > best):
            best_key, best, wording = key, float(similarities[row]), row
    if best_key is None:
        return OPENS
    return Join(_load(entries, best_key), wording, round(float(best), 4), "embeddings")


def _load(entries: dict[int, RegisterEntry], key: int) -> RegisterEntry:
    if key not in entries:
        entries[key] = db.session.get(RegisterEntry, key,
                                      options=[joinedload(RegisterEntry.vector)])
    return entries[key]


def closest_anywhere(snapshot, vector: np.ndarray, threshold: float,
                     entries: dict[int, RegisterEntry]) -> Join:
    """The entry of any category (``snapshot`` read for all) whose closest wording is at
    least ``threshold`` alike, joined as ``closing``: a sentence that says a risk is closed
    speaks of a known risk whatever its category (projects/register/closing.py); else OPENS."""
    best: tuple[float, int, int] | None = None
    for category, ids in snapshot.ids.items():
        if not ids:
            continue
        for key, (similarity, wording) in by_entry(ids, snapshot.matrices[category] @ vector
                                                   ).items():
            if similarity >= threshold and (best is None or similarity > best[0]):
                best = (similarity, key, wording)
    if best is None:
        return OPENS
    similarity, key, wording = best
    _load(entries, key)
    return Join(entries[key], wording, round(similarity, 4), "closing")
