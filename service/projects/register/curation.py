"""What a person does to the register by hand, where the matcher erred or no report spoke:
merge entries that state one risk, split findings that state another out of an entry, add
a risk no report stated (the routes: risk_routes.py; the rules, told to users: docs/register.md).

Each works under the register's lock (the route takes it first: two merges of the same
entries run in turn, and the second finds them merged, a 409) and inside the caller's
transaction. None keeps this process's directions (register.lock bumps the version without
them): the next scan reads the project's entries from the database, with every wording a
merge left, and keeps them from then on.

The merge's rule, so that nothing a person curated is lost and no open risk is hidden:
findings, and with them the dates, count and latest wording, are all the surviving entry's;
its category must be theirs (422: set one first). Its rating is the most serious of those
rated on both levels (its own on a tie), its owner and due date its own or else the first
merged entry's that has one, the notes all of theirs, one after another. Its status is its
own, but a settled one is opened again when a merged finding's report is dated after it was
settled, as that finding would have reopened it had it joined it when scanned. The merged
ids answer a redirect to it (register_merges) for as long as it exists.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import case, delete, func, select, update

from service import audit, outbox, rating
from service.analysis.embedding import from_bytes, to_bytes
from service.db import (
    SETTLED_STATUSES,
    RegisterEntry,
    RegisterLink,
    RegisterMerge,
    RegisterVector,
    Scan,
    utcnow,
)
from service.entry_fields import CURATED
from service.errors import APIError
from service.extensions import db
from service.projects.register import entries, entry_events
from service.projects.register.entry_events import caused_by


def merged_into(project_id: str, risk_id: int) -> int | None:
    """The entry that holds a merged entry's findings now, or None."""
    return db.session.scalar(select(RegisterMerge.into_id).where(
        RegisterMerge.merged_id == risk_id, RegisterMerge.project_id == project_id))


def merge(project_id: str, entry: RegisterEntry, ids: list[int], *, actor_id: str) -> None:
    """Merge the entries ``ids`` of the project into ``entry`` (the module's rule)."""
    others = _mergeable(project_id, entry, ids)
    entry_events.audited(entry.id)  # as risk_merged
    with caused_by("merge", actor_id=actor_id,
                   note=f"Merged into risk {entry.id}: {', '.join(map(str, ids))}."):
        _merge(project_id, entry, others, actor_id=actor_id)


def _merge(project_id: str, entry: RegisterEntry, others: list[RegisterEntry], *,
           actor_id: str) -> None:
    ids = [other.id for other in others]
    before = {str(other.id): _curated(other) for other in others}
    rated_before = (entry.likelihood, entry.impact)
    reopened = _curate(entry, others)  # before the findings move: it reads where they are
    width = dimensions([entry.id, *ids])
    totals = [entries.rows(entry.vector.total, width)]
    typed = [_typed(entry.vector, totals[0], width)]
    for other in others:  # its findings, with its wordings after the entry's
        offset = sum(len(block) for block in totals)
        db.session.execute(update(RegisterLink).where(RegisterLink.entry_id == other.id)
                           .values(entry_id=entry.id, wording=RegisterLink.wording + offset,
                                   joined_by=case((RegisterLink.joined_by == "closing",
                                                   "closing"), else_="merged"), alike=None),
                           execution_options={"synchronize_session": False})
        db.session.execute(update(RegisterMerge).where(RegisterMerge.into_id == other.id)
                           .values(into_id=entry.id))
        totals.append(entries.rows(other.vector.total, width))
        typed.append(_typed(other.vector, totals[-1], width))
    stated = np.concatenate(typed)
    entry.vector.total = to_bytes(np.concatenate(totals))
    entry.vector.stated = to_bytes(stated) if stated.any() else None
    db.session.execute(delete(RegisterMerge).where(  # what an earlier holder of an id left
        RegisterMerge.merged_id.in_([other.id for other in others])))
    for other in others:
        db.session.delete(other)
        db.session.add(RegisterMerge(merged_id=other.id, project_id=project_id,
                                     into_id=entry.id, merged_by=actor_id))
    db.session.flush()
    entries.refresh([entry])
    audit.record("risk_merged", actor_id=actor_id, target_id=str(entry.id),
                 project_id=project_id, merged=[other.id for other in others],
                 entries=before, reopened=reopened)
    if (entry.likelihood, entry.impact) != rated_before:
        rated(project_id, entry, rated_before, actor_id=actor_id)
    outbox.record("risk.merged", entry, actor_id=actor_id,
                  merged=[other.id for other in others])


def _mergeable(project_id: str, entry: RegisterEntry, ids: list[int]) -> list[RegisterEntry]:
    """The entries ``ids`` names, in its order, if each may be merged into ``entry``."""
    if entry.id in ids:
        raise _refused("A risk cannot be merged into itself.")
    found = {other.id: other for other in db.session.scalars(select(RegisterEntry).where(
        RegisterEntry.project_id == project_id, RegisterEntry.id.in_(ids)))}
    # A live entry is itself, whatever a merge said of its id (ids are never given again,
    # db/versions/b9d4e1f7a3c5, but a database migrated from before may hold one).
    merged = dict(db.session.execute(select(RegisterMerge.merged_id, RegisterMerge.into_id)
                                     .where(RegisterMerge.project_id == project_id,
                                            RegisterMerge.merged_id.in_(ids))).all())
    if gone := [i for i in ids if i in merged and i not in found]:
        message = f"Risk {gone[0]} was merged into risk {merged[gone[0]]} already."
        raise APIError(409, message, errors={"from": [message]})
    if missing := [str(i) for i in ids if i not in found]:
        raise _refused(f"No such risk in this project: {', '.join(missing)}.")
    if others := [str(i) for i in ids if found[i].category != entry.category]:
        raise _refused(f"Of another category than {entry.category}: {', '.join(others)} "
                       "(set one category first: PATCH …/risks/{risk_id} {category}).")
    return [found[i] for i in ids]


def _refused(message: str) -> APIError:
    return APIError(422, message, errors={"from": [message]})


def _curated(entry: RegisterEntry) -> dict:
    values = {name: getattr(entry, name) for name in CURATED}
    return {name: value.isoformat() if hasattr(value, "isoformat") else value
            for name, value in values.items()}


def _curate(entry: RegisterEntry, others: list[RegisterEntry]) -> bool:
    """The surviving entry's curated fields by the merge's rule; whether it reopened."""
    rated = [e for e in (entry, *others) if e.likelihood is not None and e.impact is not None]
    if rated:  # max keeps the first of equals: the entry's own on a tie
        best = max(rated, key=lambda e: e.likelihood * e.impact)
        entry.likelihood, entry.impact = best.likelihood, best.impact
    for name in ("owner_id", "due_date"):
        if getattr(entry, name) is None:
            setattr(entry, name, next((getattr(other, name) for other in others
                                       if getattr(other, name) is not None), None))
    notes = [text for text in (entry.notes, *(other.notes for other in others))
             if text and text.strip()]
    entry.notes = "\n\n".join(notes) or None
    entry.reopened = entry.reopened or any(other.reopened for other in others)
    if entry.status not in SETTLED_STATUSES or entry.settled_at is None:
        return False
    stated = db.session.execute(
        select(RegisterLink.seen_at, Scan.created_at).join(Scan, Scan.id == RegisterLink.scan_id)
        .where(RegisterLink.entry_id.in_([other.id for other in others]))).all()
    if not any(entries.reopens(entry, seen, uploaded) for seen, uploaded in stated):
        return False
    entry.status, entry.reopened = "open", True
    entry.settled_at = entry.settled_through = None
    return True


def dimensions(entry_ids: list[int]) -> int:
    """The width of the register's vectors: a finding's embedding (of these entries, else
    any), else the encoder's (entries added by hand, in a register no report fed yet)."""
    for where in (RegisterLink.entry_id.in_(entry_ids), RegisterLink.entry_id.isnot(None)):
        known = db.session.scalar(select(RegisterLink.embedding).where(where).limit(1))
        if known is not None:
            return len(from_bytes(known))
    from service.serving.encoder import current_encoder  # loaded only where nothing else says

    return current_encoder().dimensions


def _typed(vector: RegisterVector, totals: np.ndarray, dimensions: int) -> np.ndarray:
    """The rows a person typed of an entry's ``totals`` (zeros for a finding's wording)."""
    if vector.stated is None:
        return np.zeros_like(totals)
    return entries.rows(vector.stated, dimensions)


def split(project_id: str, entry: RegisterEntry, finding_ids: list[int], *,
          actor_id: str) -> RegisterEntry:
    """Take the findings ``finding_ids`` out of ``entry`` into a new entry of its category:
    open, not rated, no owner, due date or notes; its wording, dates and count from its
    findings, which keep their wordings (the matcher then knows them as its)."""
    placed = dict(db.session.execute(
        select(RegisterLink.finding_id, RegisterLink.entry_id)
        .join(RegisterEntry, RegisterEntry.id == RegisterLink.entry_id)
        .where(RegisterEntry.project_id == project_id,
               RegisterLink.finding_id.in_(finding_ids))).all())
    if missing := [str(i) for i in finding_ids if i not in placed]:
        message = f"No such finding in this project's register: {', '.join(missing)}."
        raise APIError(422, message, errors={"findings": [message]})
    if elsewhere := {i: placed[i] for i in finding_ids if placed[i] != entry.id}:
        message = "Not in this risk: " + ", ".join(
            f"finding {i} is in risk {risk}" for i, risk in elsewhere.items()) + "."
        raise APIError(409, message, errors={"findings": [message]})
    held = db.session.execute(select(RegisterLink.finding_id, RegisterLink.wording)
                              .where(RegisterLink.entry_id == entry.id)).all()
    if len(held) == len(finding_ids) and not entry.added_by_user:
        message = "A split leaves the risk at least one of its findings."
        raise APIError(422, message, errors={"findings": [message]})
    with caused_by("split", actor_id=actor_id,
                   note=f"Split out of risk {entry.id}: findings "
                        f"{', '.join(map(str, finding_ids))}."):
        return _split(project_id, entry, finding_ids, held, actor_id=actor_id)


def _split(project_id: str, entry: RegisterEntry, finding_ids: list[int], held, *,
           actor_id: str) -> RegisterEntry:
    new = RegisterEntry(project_id=project_id, risk=entry.risk, category=entry.category,
                        status="open", first_seen=entry.first_seen,
                        last_seen=entry.last_seen, occurrences=0,
                        vector=RegisterVector(total=b""))
    db.session.add(new)
    db.session.flush()
    taken = set(finding_ids)
    for number, wording in enumerate(sorted({w for f, w in held if f in taken})):
        db.session.execute(update(RegisterLink).where(
            RegisterLink.entry_id == entry.id, RegisterLink.wording == wording,
            RegisterLink.finding_id.in_(finding_ids)).values(
                entry_id=new.id, wording=number, joined_by="split", alike=None),
            execution_options={"synchronize_session": False})
    entries.refresh([entry, new])
    audit.record("risk_split", actor_id=actor_id, target_id=str(new.id),
                 project_id=project_id, split_from=entry.id, findings=finding_ids)
    outbox.record("risk.split", new, actor_id=actor_id, split_from=entry.id,
                  findings=finding_ids)
    return new


def add(project_id: str, risk: str, category: str, vector: np.ndarray, *,
        actor_id: str) -> RegisterEntry:
    """A risk no report stated, added by a person: an open entry marked ``added_by_user``,
    dated today, whose typed wording (``vector``, unit length) later findings may join."""
    now = utcnow()
    day = entries.midnight(now.date())
    typed = to_bytes(vector[None, :])
    entry = RegisterEntry(project_id=project_id, risk=risk, category=category, status="open",
                          first_seen=day, last_seen=day, occurrences=0, added_by_user=True,
                          created_at=now, vector=RegisterVector(total=typed, stated=typed))
    with caused_by("added", actor_id=actor_id):
        db.session.add(entry)
        db.session.flush()
    audit.record("risk_added", actor_id=actor_id, target_id=str(entry.id),
                 project_id=project_id, risk=risk, category=category)
    outbox.record("risk.created", entry, scan_id=None, actor_id=actor_id)
    return entry


def edit(project_id: str, entry: RegisterEntry, args: dict, *, actor_id: str) -> dict:
    """A person's edit of an entry (PATCH …/risks/{id}): every field sent, saved together,
    audited once as ``risk_updated`` (and ``risk_rated`` for its rating). A settled status
    remembers the project's newest report (``settled_through``): only a report dated after
    it reopens the entry. Returns what changed."""
    changed = changes(entry, args)
    if not changed:
        return changed
    before = (entry.likelihood, entry.impact)
    entry_events.audited(entry.id)  # as risk_updated and risk_rated, below
    with caused_by("edit", actor_id=actor_id):
        for name in changed:
            setattr(entry, name, args[name])
        if "status" in changed:  # since when it is settled; reopening forgets it
            settled = entry.status in SETTLED_STATUSES
            entry.settled_at = utcnow() if settled else None
            entry.settled_through = newest_report(project_id) if settled else None
        if details := {name: change for name, change in changed.items() if name not in RATING}:
            audit.record("risk_updated", actor_id=actor_id, target_id=str(entry.id),
                         project_id=project_id, changes=details, wording=entry.risk)
        if any(name in changed for name in RATING):
            rated(project_id, entry, before, actor_id=actor_id)
    if "status" in changed:
        outbox.record("risk.status_changed", entry, actor_id=actor_id,
                      **{"from": changed["status"]["from"], "to": changed["status"]["to"]})
    return changed


def rated(project_id: str, entry: RegisterEntry, before: tuple[int | None, int | None], *,
          actor_id: str) -> None:
    """``entry``'s likelihood or impact changed from ``before`` (an edit, a merge), in the
    caller's transaction: audited as ``risk_rated``, with the levels, score and band before
    and after. The one place a rating change passes: what else must follow one hooks in
    here."""
    old, new = rating.score(*before), rating.score(entry.likelihood, entry.impact)
    audit.record("risk_rated", actor_id=actor_id, target_id=str(entry.id),
                 project_id=project_id, changes={
                     "likelihood": {"from": before[0], "to": entry.likelihood},
                     "impact": {"from": before[1], "to": entry.impact},
                     "score": {"from": old, "to": new},
                     "band": {"from": rating.band(old), "to": rating.band(new)}})
    outbox.record("risk.rated", entry, actor_id=actor_id, **{"from": old, "to": new})


RATING = ("likelihood", "impact")


def changes(entry: RegisterEntry, args: dict) -> dict:
    """The fields of ``args`` that differ from the entry's, from and to."""
    return {name: {"from": _plain(getattr(entry, name)), "to": _plain(value)}
            for name, value in args.items() if getattr(entry, name) != value}


def _plain(value):
    return value.isoformat() if hasattr(value, "isoformat") else value


def newest_report(project_id: str):
    """The date (midnight UTC) of the project's newest report, today's if it has none."""
    day = db.session.scalar(select(func.max(Scan.reported_on))
                            .where(Scan.project_id == project_id))
    return entries.midnight(day or utcnow().date())
