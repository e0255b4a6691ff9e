"""The register proposes, the PM decides: the existing entries an entry may restate (#85).

The matcher joins a finding only to an entry of its own category, and at a cosine where it
is rarely wrong (register.py); so a risk the model read under another category, or a
restatement in other words, opens an entry of its own. Here, for an entry, the project's
other entries of any category are ranked and at most ``MOST`` scoring at least ``FLOOR`` are
offered, each with both wordings. The score is how alike they are (the closest pair of their
wordings' directions, as the matcher compares), plus ``SAME`` when the categories agree and
``RECENT`` when the other entry was stated in the project's report just before this entry's
first: a weekly report mostly restates the last one, and the model's category is right more
often than not. A person merges one (curation.merge, through ``merge``: the later entry into
the earlier, the known risk keeping its id, its category and history, reopened when the
report is newer than its closing) or says they are not the same (``dismiss``): that pair is
never offered again. Both decisions are audited, and curation_pairs.py exports them as pairs
for the register's matching, trusted as merges are.

The weights and ``FLOOR`` were chosen for recall on real restatements (``python -m
ml.suggested``, docs/register.md#suggested-restatements): a missed suggestion costs a
duplicate entry, a wrong one a click. Nothing here writes unless a person decides; the reads
take no lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from sqlalchemy import Row, and_, bindparam, func, or_, select
from sqlalchemy.orm import aliased

from service import audit
from service.analysis.labels import RISK_LABELS
from service.db import NotSameRisk, Project, RegisterEntry, RegisterLink, RegisterVector, Scan
from service.errors import APIError
from service.extensions import db
from service.projects.register import curation, direction_snapshots, entries

# ml/suggested.py, chosen on dev for recall@3 0.9: test 0.828 of 99 restatements, 1.19
# suggestions to a risk that restates nothing (the cosine alone at 0.24: 0.818, 2.47).
FLOOR = 0.54
SAME = 0.2
RECENT = 0.2
MOST = 3
CODE = {category: code for code, category in enumerate(RISK_LABELS)}


@dataclass(frozen=True)
class Suggestion:
    """An entry ``entry`` may restate (its id, risk, category and status), how alike their
    closest wordings are (cosine), and whether it was stated in the report before the one
    that opened the asking entry."""

    entry: Row
    alike: float
    previous_report: bool


class Part(NamedTuple):
    """Directions as the register holds them: the entry id of each row, the row where each
    entry's rows start (an entry's rows adjacent), the rows at unit length, and the code
    (``CODE``) of each entry's category, or one code for the whole part."""

    owner: np.ndarray
    starts: np.ndarray
    matrix: np.ndarray
    category: np.ndarray


def for_entries(project_id: str, entry_ids: list[int]) -> dict[int, list[Suggestion]]:
    """{entry id: its suggestions, best first} for the project's entries ``entry_ids``: one
    read of the register's directions and four statements for all of them, the ranking of
    every column at once (a loop over the register per entry cost 0.3 ms an entry)."""
    if not entry_ids:
        return {}
    keys, categories, alike = _closest(_directions(project_id), entry_ids)
    refused = _not_same(project_id, entry_ids)
    stated_before = _previous_report(project_id, entry_ids)
    named = {*entry_ids, *(key for keys_ in (*refused.values(), *stated_before.values())
                           for key in keys_)}
    rows = np.flatnonzero(np.isin(keys, list(named)))
    row_of = dict(zip(keys[rows].tolist(), rows.tolist()))
    scores = alike + SAME * (categories[:, None] == np.asarray(
        [categories[row_of[key]] if key in row_of else -1 for key in entry_ids])[None, :])
    def at(wanted) -> list[int]:  # the rows of the entries ``wanted`` the register holds
        return [row_of[key] for key in wanted if key in row_of]

    for column, entry_id in enumerate(entry_ids):
        scores[at(stated_before.get(entry_id, ())), column] += RECENT
        scores[at((entry_id, *refused.get(entry_id, ()))), column] = -np.inf
    best = (np.argpartition(-scores, MOST - 1, axis=0)[:MOST] if len(keys) > MOST
            else np.arange(len(keys))[:, None].repeat(len(entry_ids), axis=1))
    found: dict[int, dict[int, tuple[float, bool]]] = {}
    for column, entry_id in enumerate(entry_ids):
        rows = best[:, column]
        rows = rows[np.lexsort((rows, -scores[rows, column]))]  # best first; ties: register order
        before = stated_before.get(entry_id, set())
        found[entry_id] = {int(keys[row]): (float(alike[row, column]), int(keys[row]) in before)
                           for row in rows if scores[row, column] >= FLOOR}
    wanted = {key for scores in found.values() for key in scores}
    shown = {row.id: row for row in db.session.execute(
        _SUGGESTED, {"ids": list(wanted)})} if wanted else {}
    return {entry_id: [Suggestion(shown[key], round(alike, 3), previous)
                       for key, (alike, previous) in scores.items() if key in shown]
            for entry_id, scores in found.items()}


def _closest(parts: list[Part],
             entry_ids: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(every entry's id, its category's code, how alike it is to each of ``entry_ids``: a
    column each, -inf for an entry not in the register). Alike is the closest pair of two
    entries' wordings, as the matcher reads them. Whole-array steps over each part as it is
    held, none copied: a row-by-row loop cost 4 ms an entry at 10,000 entries, and stacking
    the parts 8 ms."""
    wordings: dict[int, list[np.ndarray]] = {}  # each asked entry's rows, where they are
    for owner, _, matrix, _ in parts:
        asked = np.isin(owner, entry_ids)
        if asked.any():  # a part holds few of them, if any: one pass, then those rows
            for entry_id in set(owner[asked].tolist()):
                wordings.setdefault(entry_id, []).append(matrix[owner == entry_id])
    columns = [column for column, entry_id in enumerate(entry_ids) if entry_id in wordings]
    if not columns:
        return (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64),
                np.zeros((0, len(entry_ids))))
    queries = [np.vstack(wordings[entry_ids[column]]) for column in columns]
    stacked = np.vstack(queries)
    bounds = np.cumsum([0] + [len(query) for query in queries])
    keys, categories, alike = [], [], []
    for owner, starts, matrix, category in parts:
        # One pass over the part for every asked wording; each entry's closest wording to
        # each, then each asked entry's closest of its wordings.
        by_wording = np.maximum.reduceat(matrix @ stacked.T, starts, axis=0)
        closest = np.full((len(starts), len(entry_ids)), -np.inf, dtype=np.float32)
        closest[:, columns] = np.maximum.reduceat(by_wording, bounds[:-1], axis=1)
        keys.append(owner[starts])
        categories.append(np.broadcast_to(category, len(starts)))
        alike.append(closest)
    return np.concatenate(keys), np.concatenate(categories), np.vstack(alike)


def listed(wording: str, found: list[Suggestion]) -> list[dict]:
    """SuggestionSchema's fields of an entry's suggestions (``wording``: the entry's)."""
    return [{"risk_id": s.entry.id, "title": s.entry.risk, "category": s.entry.category,
             "status": s.entry.status, "alike": s.alike, "previous_report": s.previous_report,
             "wording": wording} for s in found]


def merge(project_id: str, entry: RegisterEntry, other: RegisterEntry, *,
          actor_id: str) -> RegisterEntry:
    """Accept a suggestion: the later of the two entries is merged into the earlier (the
    known risk stays, with its id), taking the earlier one's category first, as a join of
    its findings would have. The caller holds the register's lock and commits; returns the
    entry that stays."""
    earlier, later = sorted((entry, other), key=lambda e: (e.first_seen, e.id))
    if later.category != earlier.category:  # audited and in its history, as a person's edit
        curation.edit(project_id, later, {"category": earlier.category}, actor_id=actor_id)
        db.session.flush()
    curation.merge(project_id, earlier, [later.id], actor_id=actor_id)
    return earlier


def dismiss(project_id: str, entry: RegisterEntry, other: RegisterEntry, *,
            actor_id: str) -> bool:
    """Say ``entry`` and ``other`` are not the same risk: the pair is never suggested again.
    Audited with both wordings (a pair for the matching: curation_pairs.py). False when it
    was said already (nothing changes)."""
    first, second = sorted((entry.id, other.id))
    if db.session.get(NotSameRisk, (first, second)) is not None:
        return False
    db.session.add(NotSameRisk(first_id=first, second_id=second, project_id=project_id,
                               dismissed_by=actor_id))
    audit.record("risk_suggestion_dismissed", actor_id=actor_id, target_id=str(entry.id),
                 project_id=project_id, other=other.id,
                 wordings={str(entry.id): entry.risk, str(other.id): other.risk})
    return True


def not_itself(entry: RegisterEntry, other: RegisterEntry) -> None:
    """A decision on a suggestion names two entries: 422 when they are one."""
    if other.id == entry.id:
        raise APIError(422, "A risk is not a restatement of itself.",
                       errors={"other_id": ["A risk is not a restatement of itself."]})


_IDS = bindparam("ids", expanding=True)
_PROJECT = bindparam("project_id")
# Built once: building a statement cost about as much as running it (0.1 ms).
_VERSION = select(Project.register_version).where(Project.id == _PROJECT)
_REFUSED = select(NotSameRisk.first_id, NotSameRisk.second_id).where(
    NotSameRisk.project_id == _PROJECT,
    or_(NotSameRisk.first_id.in_(_IDS), NotSameRisk.second_id.in_(_IDS)))
_SUGGESTED = select(RegisterEntry.id, RegisterEntry.risk, RegisterEntry.category,
                    RegisterEntry.status).where(RegisterEntry.id.in_(_IDS))
_asked, _earlier = aliased(RegisterEntry), aliased(Scan)
# Each asked entry with the entries its project's report before its first seen states:
# that report's date is the latest of the project's before the day of its first seen.
_STATED_BEFORE = (
    select(_asked.id, RegisterLink.entry_id).distinct().select_from(_asked)
    .join(Scan, and_(Scan.project_id == _asked.project_id, Scan.reported_on == (
        select(func.max(_earlier.reported_on))
        .where(_earlier.project_id == _asked.project_id,
               _earlier.reported_on < func.date(_asked.first_seen))
        .correlate(_asked).scalar_subquery())))
    .join(RegisterLink, RegisterLink.scan_id == Scan.id)
    .where(_asked.id.in_(_IDS)))


def _not_same(project_id: str, entry_ids: list[int]) -> dict[int, set[int]]:
    refused: dict[int, set[int]] = {}
    for first, second in db.session.execute(_REFUSED, {"project_id": project_id,
                                                      "ids": entry_ids}):
        refused.setdefault(first, set()).add(second)
        refused.setdefault(second, set()).add(first)
    return refused


def _previous_report(project_id: str, entry_ids: list[int]) -> dict[int, set[int]]:
    """{entry id: the entries stated in the project's report just before the one that
    first stated it} (the report of the latest date before its first seen; none for an entry
    of the project's first report)."""
    stated: dict[int, set[int]] = {}
    for entry_id, other in db.session.execute(_STATED_BEFORE, {"ids": entry_ids}):
        stated.setdefault(entry_id, set()).add(other)
    return stated


def _directions(project_id: str) -> list[Part]:
    """Every wording's direction of the project's entries, any category, in parts (Part),
    an entry's rows adjacent. The categories this process's snapshot holds at the register's
    version (direction_snapshots.latest: the last scan's, which holds every category) come
    from it, the rest from the database: at 10,000 entries, reading every row took 90 ms a
    report, and asking for none (``NOT IN`` every category) walks the project's index, 1.8
    ms."""
    version = db.session.scalar(_VERSION, {"project_id": project_id})
    known = direction_snapshots.latest(project_id, version) if version is not None else None
    held = list(known.ids) if known is not None else []
    parts = [Part(*known.owners(category), known.matrices[category], np.asarray(CODE[category]))
             for category in held if known.ids[category]]
    if set(RISK_LABELS) <= set(held):
        return parts
    statement = (select(RegisterVector.entry_id, RegisterVector.total, RegisterEntry.category)
                 .join(RegisterEntry, RegisterEntry.id == RegisterVector.entry_id)
                 .where(RegisterEntry.project_id == project_id))
    rows = db.session.execute(statement.where(RegisterEntry.category.not_in(held))
                              if held else statement).all()
    if rows:  # the snapshot is of these very rows' register: its width is theirs
        ids, matrix = entries.stacked(
            [(row.entry_id, row.total) for row in rows],
            known.dimensions if held else curation.dimensions([rows[0].entry_id]))
        category_of = {row.entry_id: row.category for row in rows}
        owner = np.asarray(ids, dtype=np.int64)
        starts = direction_snapshots.first_rows(owner)
        parts.append(Part(owner, starts, matrix, np.asarray(
            [CODE[category_of[key]] for key in owner[starts].tolist()])))
    return parts
