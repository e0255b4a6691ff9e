"""The risk register: each finding of a project's scans joins the entry that states the same
risk, or opens a new one.

Same risk means the same category (the entry's, which a user may correct) and embeddings
(service/analysis/embedding.py) at least ``REGISTER_MATCH_THRESHOLD`` alike; the threshold
and its measured precision and recall are in docs/register.md. An entry's embedding is the
sum of its findings' unit vectors: its direction is their mean, and it is recomputed from
them when one leaves. Every function here works inside the caller's transaction; the caller
commits, so that a scan and its register update land together or not at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
from flask import current_app
from sqlalchemy import select, update

from service import audit
from service.analysis.embedding import from_bytes, to_bytes
from service.extensions import db
from service.models import (
    SETTLED_STATUSES,
    Project,
    RegisterEntry,
    RegisterLink,
    Scan,
    ScanFinding,
)


def lock(project_id: str) -> bool:
    """Take the project's register for this transaction: the row lock on MySQL, the write
    lock on SQLite. Matching reads the entries after this, so two scans of one project
    cannot both open an entry for one new risk. False if the project is gone."""
    result = db.session.execute(update(Project).where(Project.id == project_id).values(
        register_version=Project.register_version + 1,
        updated_at=Project.updated_at))  # the register changed, not the project's details
    return result.rowcount == 1


def add_findings(project_id: str, scan: Scan, findings: Sequence[ScanFinding],
                 vectors: np.ndarray, *, actor_id: str | None) -> None:
    """Put ``findings`` (of ``scan``, flushed) into the project's register, matching each by
    its vector (a row of ``vectors``, unit length). Findings labelled ``none`` stay out."""
    lock(project_id)
    threshold = current_app.config["SETTINGS"].REGISTER_MATCH_THRESHOLD
    candidates: dict[str, _Candidates] = {}
    for finding, vector in zip(findings, vectors, strict=True):
        category = finding.effective_category
        if category == "none":
            continue
        if category not in candidates:
            candidates[category] = _Candidates.of(project_id, category, vectors.shape[1])
        entry = candidates[category].best(vector, threshold)
        if entry is None:
            entry = RegisterEntry(project_id=project_id, risk=finding.risk, category=category,
                                  status="open", first_seen=scan.created_at,
                                  last_seen=scan.created_at, occurrences=0,
                                  embedding=to_bytes(np.zeros_like(vector)))
            db.session.add(entry)
            db.session.flush()
            candidates[category].add(entry)
        _join(entry, finding, scan, vector, actor_id=actor_id)
        candidates[category].moved(entry)


def _join(entry: RegisterEntry, finding: ScanFinding, scan: Scan, vector: np.ndarray, *,
          actor_id: str | None) -> None:
    db.session.add(RegisterLink(finding_id=finding.id, entry_id=entry.id, scan_id=scan.id,
                                seen_at=scan.created_at, embedding=to_bytes(vector)))
    entry.embedding = to_bytes(from_bytes(entry.embedding) + vector)
    entry.occurrences += 1
    if scan.created_at >= entry.last_seen or entry.occurrences == 1:
        entry.risk = finding.risk  # the latest wording
    entry.first_seen = min(entry.first_seen, scan.created_at)
    entry.last_seen = max(entry.last_seen, scan.created_at)
    if (entry.status in SETTLED_STATUSES and entry.settled_at is not None
            and scan.created_at > entry.settled_at):
        audit.record("risk_reopened", actor_id=actor_id, target_id=str(entry.id),
                     project_id=entry.project_id, scan_id=scan.id, was=entry.status)
        entry.status = "open"
        entry.reopened = True
        entry.settled_at = None


class _Candidates:
    """A project's entries of one category: their ids, and their directions as a matrix."""

    def __init__(self, ids: list[int], matrix: np.ndarray):
        self.ids = ids
        self.matrix = matrix
        self.entries: dict[int, RegisterEntry] = {}

    @classmethod
    def of(cls, project_id: str, category: str, dimensions: int) -> _Candidates:
        rows = db.session.execute(
            select(RegisterEntry.id, RegisterEntry.embedding)
            .where(RegisterEntry.project_id == project_id, RegisterEntry.category == category)
        ).all()
        matrix = np.zeros((len(rows), dimensions), dtype=np.float32)
        for index, row in enumerate(rows):
            matrix[index] = _direction(from_bytes(row.embedding))
        return cls([row.id for row in rows], matrix)

    def best(self, vector: np.ndarray, threshold: float) -> RegisterEntry | None:
        if not self.ids:
            return None
        similarities = self.matrix @ vector
        index = int(np.argmax(similarities))
        if float(similarities[index]) < threshold:
            return None
        entry_id = self.ids[index]
        if entry_id not in self.entries:
            self.entries[entry_id] = db.session.get(RegisterEntry, entry_id)
        return self.entries[entry_id]

    def add(self, entry: RegisterEntry) -> None:
        self.ids.append(entry.id)
        self.entries[entry.id] = entry
        self.matrix = np.vstack([self.matrix, np.zeros((1, self.matrix.shape[1]), np.float32)])

    def moved(self, entry: RegisterEntry) -> None:
        """The entry's embedding changed (a finding joined it)."""
        self.matrix[self.ids.index(entry.id)] = _direction(from_bytes(entry.embedding))


def _direction(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def remove_findings(finding_ids: Iterable[int]) -> list[RegisterLink]:
    """Take findings out of the register (a scan deleted or moved, a finding corrected):
    their entries are recomputed from the findings left, and an entry left with none is
    deleted. Returns the links removed (their embeddings, for a finding that moves on)."""
    finding_ids = list(finding_ids)
    if not finding_ids:
        return []
    links = db.session.scalars(
        select(RegisterLink).where(RegisterLink.finding_id.in_(finding_ids))).all()
    if not links:
        return []
    entry_ids = {link.entry_id for link in links}
    for project_id in sorted({entry.project_id for entry in _entries(entry_ids)}):
        lock(project_id)
    for link in links:
        db.session.delete(link)
    db.session.flush()
    refresh(entry_ids)
    return links


def _entries(entry_ids) -> list[RegisterEntry]:
    return db.session.scalars(select(RegisterEntry).where(RegisterEntry.id.in_(entry_ids))).all()


def refresh(entry_ids: Iterable[int]) -> None:
    """Recompute entries from their findings: wording, dates, count, embedding; an entry
    with no finding left is deleted."""
    for entry in _entries(list(entry_ids)):
        rows = db.session.execute(
            select(RegisterLink.seen_at, RegisterLink.embedding, ScanFinding.risk)
            .join(ScanFinding, ScanFinding.id == RegisterLink.finding_id)
            .where(RegisterLink.entry_id == entry.id)
            .order_by(RegisterLink.seen_at, ScanFinding.id)).all()
        if not rows:
            db.session.delete(entry)
            continue
        entry.occurrences = len(rows)
        entry.first_seen = rows[0].seen_at
        entry.last_seen = rows[-1].seen_at
        entry.risk = rows[-1].risk
        entry.embedding = to_bytes(np.sum([from_bytes(row.embedding) for row in rows], axis=0))


def recategorize(finding: ScanFinding, scan: Scan, *, actor_id: str | None,
                 embed: Callable[[list[str]], np.ndarray]) -> None:
    """A finding's label was corrected: it leaves its entry and joins the register again
    under the new label; one corrected to ``none`` stays out until corrected back."""
    if scan.project_id is None:
        return
    removed = remove_findings([finding.id])
    if finding.effective_category == "none":
        return
    vector = from_bytes(removed[0].embedding) if removed else embed([finding.risk])[0]
    add_findings(scan.project_id, scan, [finding], vector[None, :], actor_id=actor_id)
