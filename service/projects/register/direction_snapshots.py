"""The register's entry directions, kept in memory per project between scans.

Matching a report's findings reads the directions of the project's entries of their
categories: at 10,000 entries, thousands of 1.5 KB rows a scan. A process keeps them
instead, as a ``Snapshot`` of one project at one ``register_version``: every change to a
register bumps that version under the project's lock (register.lock), so a snapshot is
used only when the version the lock moved from is its own, and any change made elsewhere
(another process, or a change that does not keep snapshots) makes it stale, never wrong.
The snapshots are the app's (init_app; bounded_map.py).

A transaction's snapshot waits in its session until the commit, and is dropped on a
rollback: what other scans see is always what the database holds. ``MAX_PROJECTS``
snapshots are kept, the least recently used dropped first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import event
from sqlalchemy.orm import Session

from service.projects.bounded_map import Kept, kept

MAX_PROJECTS = 16
_PENDING = "riskscan.register_snapshots"
LOCKED = "riskscan.register_locked"  # project id -> the version this transaction moved it to
KEPT = "riskscan.register_directions"  # app.extensions: project id -> Snapshot


def init_app(app) -> None:
    app.extensions[KEPT] = Kept(MAX_PROJECTS)


@dataclass
class Snapshot:
    """Per category, the ids of a project's entries and their directions as matrix rows: a
    row per wording of an entry, an entry's rows adjacent (its id repeated in ``ids``).
    A category missing from ``ids`` was not read: it is read from the database when needed.
    Arrays and lists are never changed in place once shared: writers replace them."""

    version: int
    dimensions: int
    ids: dict[str, list[int]] = field(default_factory=dict)
    matrices: dict[str, np.ndarray] = field(default_factory=dict)
    # category -> (the ids list they were made of, ``owners``' arrays)
    _owners: dict[str, tuple[list[int], np.ndarray, np.ndarray]] = field(
        default_factory=dict, repr=False, compare=False)

    def copy(self, version: int) -> Snapshot:
        return Snapshot(version, self.dimensions, dict(self.ids), dict(self.matrices),
                        dict(self._owners))

    def owners(self, category: str) -> tuple[np.ndarray, np.ndarray]:
        """(the category's ids as an array, the row where each entry's rows start), made
        once per ids list and kept: every report's suggestions read them all (suggestions.py),
        and a writer replaces a list, never changes it."""
        ids = self.ids[category]
        made = self._owners.get(category)
        if made is None or made[0] is not ids:
            owner = np.asarray(ids, dtype=np.int64)
            made = self._owners[category] = (ids, owner, first_rows(owner))
        return made[1], made[2]

    def put(self, category: str, directions: dict[int, np.ndarray]) -> None:
        """Set entries' directions (a row per wording), adding the entries that are new:
        the category's matrix is copied once for all of them,
        not once an entry. An entry whose number of wordings changed moves to the end."""
        ids = self.ids[category]
        directions = {key: np.atleast_2d(rows) for key, rows in directions.items()}
        held: dict[int, list[int]] = {}
        for row, key in enumerate(ids):
            if key in directions:
                held.setdefault(key, []).append(row)
        matrix = self.matrices[category]
        same = {key: rows for key, rows in held.items() if len(rows) == len(directions[key])}
        if same:
            matrix = matrix.copy()
            for key, rows in same.items():
                matrix[rows] = directions[key]
        moved = {row for key, rows in held.items() if key not in same for row in rows}
        if moved:
            ids = [key for row, key in enumerate(ids) if row not in moved]
            matrix = np.delete(matrix, sorted(moved), axis=0)
        added = [key for key in directions if key not in same]
        if added:
            ids = [*ids, *(key for key in added for _ in directions[key])]
            matrix = np.vstack([matrix, *(directions[key] for key in added)])
        self.ids[category] = ids
        self.matrices[category] = matrix

    def drop(self, category: str, entry_id: int) -> None:
        ids = self.ids[category]
        rows = [row for row, key in enumerate(ids) if key == entry_id]
        if rows:
            self.ids[category] = [key for key in ids if key != entry_id]
            self.matrices[category] = np.delete(self.matrices[category], rows, axis=0)


def first_rows(owner: np.ndarray) -> np.ndarray:
    """The row where each entry's rows start, in ``owner`` (an entry's rows adjacent)."""
    return np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]]) if len(owner) else owner


def current(session: Session, project_id: str, version: int) -> Snapshot | None:
    """The project's directions as this transaction sees them, the register having been
    locked at ``version``: this transaction's own snapshot if it made one, else the
    process's if it is of the version the lock moved from. None: read the database."""
    snapshot = session.info.get(_PENDING, {}).get(project_id)
    if snapshot is not None:
        return snapshot if snapshot.version == version else None
    snapshot = kept(KEPT).get(project_id)
    return snapshot if snapshot is not None and snapshot.version == version - 1 else None


def latest(project_id: str, version: int) -> Snapshot | None:
    """The process's snapshot of the project if it is of ``version``: for a read without
    the lock (the suggestions), whose ``version`` is the register's committed one."""
    snapshot = kept(KEPT).get(project_id)
    return snapshot if snapshot is not None and snapshot.version == version else None


def stage(session: Session, project_id: str, snapshot: Snapshot) -> None:
    """Keep ``snapshot`` for other scans once this transaction commits."""
    session.info.setdefault(_PENDING, {})[project_id] = snapshot


@event.listens_for(Session, "after_commit")
def _install(session: Session) -> None:
    session.info.pop(LOCKED, None)
    staged = session.info.pop(_PENDING, None)
    if not staged:
        return
    for project_id, snapshot in staged.items():
        kept(KEPT).put(project_id, snapshot)


@event.listens_for(Session, "after_soft_rollback")
def _discard(session: Session, _previous_transaction) -> None:
    session.info.pop(LOCKED, None)
    session.info.pop(_PENDING, None)
