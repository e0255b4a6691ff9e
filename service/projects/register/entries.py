"""Findings in and out of entries: each finding of a project's scans joins the entry that
states the same risk, or opens a new one (called by the verbs, verbs.py).

Same risk means the same category (the entry's, which a user may correct) and embeddings
(service/analysis/embedding.py) at least ``REGISTER_MATCH_THRESHOLD`` alike; the threshold
and its measured precision and recall are in docs/register.md. An entry's embedding
(RegisterVector) is, per wording, the sum of its findings' unit vectors: its direction is
their mean, and it is recomputed from them when one leaves. An entry has one wording, and
keeps each wording of the entries merged into it (curation.py): a finding is compared with
every one and counts in the closest. The directions a scan matches against come from this
process's snapshot of the project when it is current (direction_snapshots.py), else from the
database. Reports are dated by their ``reported_on`` (a link's ``seen_at``, an entry's first
and last seen: midnight UTC of it), and ordered by it, then by upload. Every function here
works inside the verb's cause and the caller's transaction; the caller commits, so that a
scan and its register update land together or not at all.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, date, datetime, time

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import joinedload

from service import audit, outbox
from service.analysis.embedding import from_bytes, to_bytes
from service.analysis.labels import RISK_LABELS
from service.config import current_settings
from service.db import (
    SETTLED_STATUSES,
    Project,
    RegisterEntry,
    RegisterLink,
    RegisterVector,
    Scan,
    ScanFinding,
)
from service.extensions import db
from service.projects.register import closing, direction_snapshots, dismissals, matching
from service.projects.register.direction_snapshots import Snapshot
from service.projects.register.entry_events import DELETED_WORDING, current_cause
from service.serving import registry


def lock(project_id: str, *, directions_kept: bool = False) -> int | None:
    """Take the project's register for this transaction: the row lock on MySQL, the write
    lock on SQLite. Matching reads the entries after this, so two scans of one project
    cannot both open an entry for one new risk. Returns the register's new version (the
    directions' snapshots are kept by it), or None if the project is gone. Once per
    transaction: a second call returns the version the first one set. A change that moves
    no entry's category or embedding (a status, an owner) says ``directions_kept``: this
    process's snapshot then moves to the new version with it."""
    locked = db.session().info.setdefault(direction_snapshots.LOCKED, {})
    if project_id in locked:
        return locked[project_id]
    result = db.session.execute(update(Project).where(Project.id == project_id).values(
        register_version=Project.register_version + 1,
        updated_at=Project.updated_at))  # the register changed, not the project's details
    if result.rowcount != 1:
        return None
    version = locked[project_id] = db.session.scalar(select(Project.register_version)
                                                     .where(Project.id == project_id))
    if directions_kept:
        known = direction_snapshots.current(db.session(), project_id, version)
        if known is not None:
            direction_snapshots.stage(db.session(), project_id, known.copy(version))
    return version


def lock_first(project_id: str, *, directions_kept: bool = False) -> int | None:
    """lock() as the transaction's first statement: what the request read before is let go
    (nothing may be changed yet), so that its reads after the lock see every change
    committed before it. MySQL's snapshot starts at a transaction's first read: two
    corrections of one finding would otherwise both read the label before either."""
    db.session.rollback()
    return lock(project_id, directions_kept=directions_kept)


def add_findings(project_id: str, scan: Scan, findings: Sequence[ScanFinding],
                 vectors: np.ndarray, *, actor_id: str | None) -> None:
    """Put ``findings`` (of ``scan``, flushed) into the project's register, matching each by
    its vector (a row of ``vectors``, unit length). Findings labelled ``none`` stay out, and
    so do near misses nobody confirmed (``possible``)."""
    version = lock(project_id)
    threshold = current_settings().REGISTER_MATCH_THRESHOLD
    wanted = [(finding, vector) for finding, vector in zip(findings, vectors, strict=True)
              if finding.effective_category != "none" and not finding.possible]
    if wanted:  # what the project's members dismissed stays out (dismissals.py)
        wanted = dismissals.keep_out(project_id, scan, wanted, threshold)
    if not wanted:
        return
    # The snapshot holds every category: a sentence that says a risk is closed is news of a
    # known risk, whatever its category, and the report's suggestions (suggestions.py) then
    # rank every entry from this snapshot, with no read. Only a cold snapshot reads more.
    closes = [closing.says_closed(finding.risk) for finding, _ in wanted]
    snapshot = _snapshot(project_id, version, set(RISK_LABELS), vectors.shape[1])
    pair = matching.pair_model(registry.root(current_settings()))
    # New entries are written in one flush at the end: until then they stand under keys of
    # their own (negative), so that a report stating one new risk twice joins the entry its
    # first statement opened. The directions this scan moves or adds are matched from
    # ``moved`` and written into the snapshot once, at the end; the webhooks' messages are
    # recorded last, once every entry is as the report leaves it.
    entries: dict[int, RegisterEntry] = {}
    moved: dict[str, dict[int, np.ndarray]] = {}
    returned: list[RegisterEntry] = []
    reopened: list[tuple[RegisterEntry, str]] = []
    with db.session.no_autoflush:
        for (finding, vector), says_closed in zip(wanted, closes, strict=True):
            category = finding.effective_category
            changed = moved.setdefault(category, {})
            join = matching.closest(snapshot, category, vector, threshold, entries, changed,
                                    text=finding.risk, pair=pair, closes=says_closed)
            entry = join.entry
            if entry is None:
                seen = seen_on(scan)
                entry = RegisterEntry(
                    project_id=project_id, risk=finding.risk, category=category,
                    status="open", first_seen=seen, last_seen=seen,
                    occurrences=0, vector=RegisterVector(total=to_bytes(np.zeros_like(vector))))
                db.session.add(entry)
                entries[-1 - sum(key < 0 for key in entries)] = entry
            key = next(key for key, known in entries.items() if known is entry)
            if key >= 0 and join.entry is not None and says_closed:
                join = join._replace(by="closing")  # news of the risk, not the risk
            elif key >= 0 and entry.occurrences == 0 and not entry.added_by_user:
                returned.append(entry)  # withdrawn, stated again: back in the register
            if (was := _join(entry, finding, scan, vector, join, actor_id=actor_id)):
                reopened.append((entry, was))
            moved.setdefault(entry.category, {})[key] = directions(
                rows(entry.vector.total, len(vector)))
    db.session.flush()
    real = {key: entry.id for key, entry in entries.items() if key < 0}
    for category, changed in moved.items():
        snapshot.put(category, {real.get(key, key): direction
                                for key, direction in changed.items()})
    direction_snapshots.stage(db.session(), project_id, snapshot)
    for entry, was in reopened:
        _reopened(entry, was, scan, actor_id=actor_id)
    for key in sorted(real, reverse=True):  # in the order the report states them
        outbox.record("risk.created", entries[key], scan_id=scan.id)
    for entry in returned:  # to a receiver, as new as any: its id and curation kept
        outbox.record("risk.created", entry, scan_id=scan.id)


def closest_entry(project_id: str, category: str, vector: np.ndarray) -> RegisterEntry | None:
    """The project's entry of ``category`` that states what ``vector`` does, as a finding
    would join it, or None."""
    snapshot = _snapshot(project_id, lock(project_id), {category}, len(vector))
    threshold = current_settings().REGISTER_MATCH_THRESHOLD
    return matching.closest(snapshot, category, vector, threshold, {}, {}).entry


def move(entry: RegisterEntry, category: str) -> None:
    """``entry`` moves to ``category`` (the finding it alone states was corrected), keeping
    its id and all people gave it; this process's directions follow it."""
    version, was = lock(entry.project_id), entry.category
    entry.category = category
    known = direction_snapshots.current(db.session(), entry.project_id, version)
    if known is None:
        return
    snapshot = known.copy(version)
    if was in snapshot.ids:
        snapshot.drop(was, entry.id)
    if category in snapshot.ids:
        snapshot.put(category, {entry.id: directions(rows(entry.vector.total,
                                                           snapshot.dimensions))})
    direction_snapshots.stage(db.session(), entry.project_id, snapshot)


def midnight(day: date) -> datetime:
    """A report's date as the register keeps it (seen_at, first and last seen)."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def seen_on(scan: Scan) -> datetime:
    return midnight(scan.reported_on or scan.created_at.date())


def redate(scan: Scan) -> None:
    """``scan``'s report was dated again (its ``reported_on`` set): its links take the new
    date, and its entries' first and last seen and wording (the latest report's) are
    recomputed. No direction moves; a settled entry stays settled (a date corrected is
    not news)."""
    db.session.execute(update(RegisterLink).where(RegisterLink.scan_id == scan.id)
                       .values(seen_at=seen_on(scan)))
    entry_ids = db.session.scalars(select(RegisterLink.entry_id)
                                   .where(RegisterLink.scan_id == scan.id).distinct()).all()
    refresh(_entries(entry_ids))


def reopens(entry: RegisterEntry, seen: datetime, uploaded: datetime) -> bool:
    """Whether a report dated ``seen`` (scanned at ``uploaded``) stating the settled
    ``entry`` reopens it: only when it is dated after the project's newest report at the
    time it was settled (``settled_through``). An older report, or the same one sent again,
    reopens nothing, whenever it is uploaded. Entries settled before the anchor was kept:
    dated after the day it was settled, or on it and scanned after."""
    if entry.status not in SETTLED_STATUSES or entry.settled_at is None:
        return False
    if entry.settled_through is not None:
        return seen > entry.settled_through
    day = entry.settled_at.astimezone(UTC).date()
    return seen.date() > day or (seen.date() == day and uploaded > entry.settled_at)


def rows(total: bytes, dimensions: int) -> np.ndarray:
    """An entry's vector as a row per wording."""
    return from_bytes(total).reshape(-1, dimensions)


def _join(entry: RegisterEntry, finding: ScanFinding, scan: Scan, vector: np.ndarray,
          join: matching.Join, *, actor_id: str | None) -> str | None:
    """``finding`` is in ``entry`` now (``join``: the one it joined, or OPENS for the one it
    opened, and how sure the register was). The status it reopened the entry from, if it
    did: the caller audits it and records the webhooks' message (_reopened)."""
    seen = seen_on(scan)
    db.session.add(RegisterLink(finding_id=finding.id, entry=entry, scan_id=scan.id,
                                seen_at=seen, embedding=to_bytes(vector), wording=join.wording,
                                joined_by=join.by, alike=join.alike))
    totals = rows(entry.vector.total, len(vector)).copy()
    totals[join.wording] += vector
    entry.vector.total = to_bytes(totals)
    entry.occurrences += 1
    closes = join.by == "closing"  # it says the risk is closed: never its title, no reopen
    if ((seen >= entry.last_seen or entry.occurrences == 1) and not entry.added_by_user
            and not closes):
        entry.risk = finding.risk  # the latest wording; a person's typed one stays
    entry.first_seen = min(entry.first_seen, seen)
    entry.last_seen = max(entry.last_seen, seen)
    if not closes and reopens(entry, seen, scan.created_at):
        was = entry.status
        entry.status = "open"
        entry.reopened = True
        entry.settled_at = entry.settled_through = None
        return was
    return None


def _reopened(entry: RegisterEntry, was: str, scan: Scan, *, actor_id: str | None) -> None:
    """``scan`` reopened ``entry`` (settled as ``was``): audited with the change's cause, and
    the webhooks' ``risk.reopened``."""
    cause = current_cause()  # a report, a correction, a review's decision
    audit.record("risk_reopened", actor_id=actor_id, target_id=str(entry.id),
                 project_id=entry.project_id, scan_id=scan.id, was=was,
                 cause=cause.cause if cause else "report", wording=entry.risk)
    outbox.record("risk.reopened", entry, scan_id=scan.id, was=was)


def _snapshot(project_id: str, version: int, categories: set[str],
              dimensions: int) -> Snapshot:
    """The project's directions at ``version`` (the lock's), for at least ``categories``:
    from a snapshot when one is current (direction_snapshots.current), the rest read in one query."""
    known = direction_snapshots.current(db.session(), project_id, version)
    snapshot = (known.copy(version) if known is not None and known.dimensions == dimensions
                else Snapshot(version, dimensions))
    missing = sorted(categories - snapshot.ids.keys())
    if not missing:
        return snapshot
    rows = db.session.execute(
        select(RegisterEntry.category, RegisterVector.entry_id, RegisterVector.total)
        .join(RegisterVector, RegisterVector.entry_id == RegisterEntry.id)
        .where(RegisterEntry.project_id == project_id, RegisterEntry.category.in_(missing))
        # MySQL: the latest committed rows, whatever this transaction read before the lock.
        .with_for_update(read=True)).all()
    grouped: dict[str, list] = {category: [] for category in missing}
    for row in rows:
        grouped[row.category].append(row)
    for category, members in grouped.items():
        snapshot.ids[category], snapshot.matrices[category] = stacked(
            [(row.entry_id, row.total) for row in members], dimensions)
    return snapshot


def stacked(totals: list[tuple[int, bytes]], dimensions: int) -> tuple[list[int], np.ndarray]:
    """(the entry id of each row, the rows at unit length) of (entry id, vector) ``totals``:
    a row per wording of float32, an entry's wordings adjacent."""
    ids = [entry_id for entry_id, total in totals for _ in range(len(total) // (4 * dimensions))]
    matrix = np.frombuffer(b"".join(total for _, total in totals), dtype="<f4")
    return ids, directions(matrix.reshape(-1, dimensions))


def directions(matrix: np.ndarray) -> np.ndarray:
    """Each row at unit length (a zero row stays zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def remove_findings(finding_ids: Iterable[int], *,
                    forgotten: Collection[str] = ()) -> list[RegisterLink]:
    """Take findings out of the register (a scan deleted or moved, a finding corrected):
    their entries are recomputed from the findings left; an entry left with none stays,
    stated by no report (refresh; a wording ``forgotten`` becomes DELETED_WORDING).
    Returns the links removed (their embeddings, for a finding that moves on)."""
    finding_ids = list(finding_ids)
    if not finding_ids:
        return []
    dismissals.forget(finding_ids)
    links = db.session.scalars(
        select(RegisterLink).where(RegisterLink.finding_id.in_(finding_ids))).all()
    if not links:
        return []
    entries = _entries({link.entry_id for link in links})
    versions = {project_id: lock(project_id) for project_id
                in sorted({entry.project_id for entry in entries})}
    for link in links:
        db.session.delete(link)
    db.session.flush()
    changed = refresh(entries, forgotten)
    for project_id, version in versions.items():  # keep this process's snapshots current
        known = direction_snapshots.current(db.session(), project_id, version)
        if known is None:
            continue
        snapshot = known.copy(version)
        kept: dict[str, dict[int, np.ndarray]] = {}
        for entry, total in changed:
            if entry.project_id != project_id or entry.category not in snapshot.ids:
                continue
            if total is None:
                snapshot.drop(entry.category, entry.id)
            else:
                kept.setdefault(entry.category, {})[entry.id] = directions(
                    rows(total, snapshot.dimensions))
        for category, moved in kept.items():
            snapshot.put(category, moved)
        direction_snapshots.stage(db.session(), project_id, snapshot)
    return links


def remove_added(finding: ScanFinding, scan: Scan, *, actor_id: str) -> None:
    """A finding a person added is deleted (service/scans/missed.py): it leaves its entry
    like any finding, but the entry it alone stated stays, as one added by hand (its wording
    the finding's sentence, typed), with its status, notes, owner and rating: what people
    gave a risk is not lost with the sentence that brought it, and its id keeps naming it.
    The entry's change is audited (``risk_updated``) and sent (``risk.finding_removed``)."""
    link = db.session.scalar(select(RegisterLink).where(RegisterLink.finding_id == finding.id))
    if link is None:  # never in the register (dismissed, kept out): nothing of it to change
        remove_findings([finding.id])
        return
    entry = db.session.get(RegisterEntry, link.entry_id, options=[joinedload(RegisterEntry.vector)])
    before = _described(entry)
    if findings_held(entry.id) == 1 and not entry.added_by_user:
        embedding = from_bytes(link.embedding)
        typed = (rows(entry.vector.stated, len(embedding)) if entry.vector.stated is not None
                 else np.zeros((0, len(embedding)), dtype="<f4"))
        typed = np.concatenate([typed, np.zeros((max(0, link.wording + 1 - len(typed)),
                                                 len(embedding)), dtype="<f4")])
        typed[link.wording] = embedding
        entry.vector.stated = to_bytes(typed)
        entry.added_by_user = True
    remove_findings([finding.id])
    after = _described(entry)
    audit.record("risk_updated", actor_id=actor_id, target_id=str(entry.id),
                 project_id=entry.project_id, scan_id=scan.id, finding_removed=finding.id,
                 changes={name: {"from": before[name], "to": after[name]}
                          for name in before if before[name] != after[name]})
    outbox.record("risk.finding_removed", entry, actor_id=actor_id, scan_id=scan.id,
                  finding_id=finding.id)


def findings_held(entry_id: int) -> int:
    """How many findings state the entry now."""
    return db.session.scalar(select(func.count()).select_from(RegisterLink)
                             .where(RegisterLink.entry_id == entry_id))


def _described(entry: RegisterEntry) -> dict:
    """What a finding leaving changes of an entry, as an audit event states it."""
    values = {name: getattr(entry, name) for name in
              ("risk", "first_seen", "last_seen", "occurrences")}
    values["added_by_user"] = bool(entry.added_by_user)
    return {name: value.date().isoformat() if isinstance(value, datetime) else value
            for name, value in values.items()}


def _entries(entry_ids) -> list[RegisterEntry]:
    return db.session.scalars(select(RegisterEntry).where(RegisterEntry.id.in_(entry_ids))).all()


def refresh(entries: Iterable[RegisterEntry], forgotten: Collection[str] = (),
            ) -> list[tuple[RegisterEntry, bytes | None]]:
    """Recompute entries from their findings: wording, dates, count, embedding (a row per
    wording: one no finding and no typed wording holds any more goes, and the findings'
    ``wording`` follow). An entry with no finding left stays, with its status, notes,
    owner, rating and history: stated by no report (``occurrences`` 0), its dates and
    wording those it had, its embedding too, so that a report stating it again joins it
    (what people gave a risk is not lost with the sentences that brought it; its id keeps
    naming it). One a person added keeps what was typed, dated the day it was added. A
    wording ``forgotten`` (a deleted report's, forget_deleted) becomes DELETED_WORDING.
    Returns each entry with its new embedding."""
    changed = []
    for entry in entries:
        found = db.session.execute(
            select(RegisterLink.seen_at, RegisterLink.embedding, RegisterLink.wording,
                   ScanFinding.risk, RegisterLink.joined_by)
            .join(ScanFinding, ScanFinding.id == RegisterLink.finding_id)
            .where(RegisterLink.entry_id == entry.id)
            .order_by(RegisterLink.seen_at, ScanFinding.id)).all()
        if entry.risk in forgotten:  # a remaining finding's, below, if any
            entry.risk = DELETED_WORDING
        if not found and not entry.added_by_user:
            entry.occurrences = 0
            changed.append((entry, entry.vector.total))
            continue
        added = [midnight(entry.created_at.date())] if entry.added_by_user else []
        days = sorted([row.seen_at for row in found] + added)
        entry.occurrences = len(found)
        entry.first_seen, entry.last_seen = days[0], days[-1]
        titles = [row.risk for row in found if row.joined_by != "closing"]
        if titles and not entry.added_by_user:  # a sentence that closes it is no title
            entry.risk = titles[-1]
        # What a person typed and nothing else, or that and the findings' wordings.
        entry.vector.total = (entry.vector.stated if not found
                              else to_bytes(_wordings(entry, found)))
        changed.append((entry, entry.vector.total))
    return changed


def _wordings(entry: RegisterEntry, found) -> np.ndarray:
    """The rows of ``entry``'s vector from its findings (``found``) and the wordings typed
    for it; a wording that neither holds any more goes, and the findings' numbers close
    up."""
    dimensions = len(from_bytes(found[0].embedding))
    stated = (rows(entry.vector.stated, dimensions) if entry.vector.stated is not None
              else np.zeros((0, dimensions), dtype="<f4"))
    count = max(len(stated), 1 + max(row.wording for row in found))
    totals = np.zeros((count, dimensions), dtype="<f4")
    totals[:len(stated)] += stated
    for row in found:
        totals[row.wording] += from_bytes(row.embedding)
    held = {row.wording for row in found} | {index for index in range(len(stated))
                                             if stated[index].any()}
    kept = sorted(held)
    for new, old in enumerate(kept):
        if new != old:  # ascending: a number is free before another moves to it
            db.session.execute(update(RegisterLink).where(
                RegisterLink.entry_id == entry.id, RegisterLink.wording == old)
                .values(wording=new))
    if len(stated):
        typed = np.zeros((len(kept), dimensions), dtype="<f4")
        for new, old in enumerate(kept):
            if old < len(stated):
                typed[new] = stated[old]
        entry.vector.stated = to_bytes(typed) if typed.any() else None
    return totals[kept]
