"""A deleted report's words leave the register; its history stays (docs/register.md,
"Taking findings out"; docs/security.md).

A scan deleted (or every scan of an account) takes its findings out of its project's
register as any removal does (register.remove_findings), and more: its sentences that no
report left in a project states, and its title and file name, go from every register it
was in, its own and those it was moved out of before. An entry whose wording is one of
them reads DELETED_WORDING (one other reports state has a remaining report's wording),
and so does every event's text of it; a note that quoted its name says "(deleted)"
(entry_events.forget). Each entry and event stays, with when, who, its cause and the
report's id. Inside the caller's ``caused_by("deletion", …)`` and transaction.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from service.db import RegisterEntry, RegisterEvent, Scan, ScanFinding
from service.extensions import db
from service.projects.register import entries
from service.projects.register.entry_events import DELETED_WORDING, forget


def registers_of(scans: Sequence[Scan]) -> dict[str, list[Scan]]:
    """Each project whose register ``scans`` are or were in (moved out since), with them."""
    was = db.session.execute(select(RegisterEvent.project_id, RegisterEvent.scan_id).where(
        RegisterEvent.scan_id.in_([scan.id for scan in scans])).distinct()).all()
    by_id = {scan.id: scan for scan in scans}
    pairs = {(scan.project_id, scan.id) for scan in scans if scan.project_id is not None}
    pairs |= {(row.project_id, row.scan_id) for row in was}
    found: dict[str, list[Scan]] = {}
    for project_id, scan_id in sorted(pairs):
        found.setdefault(project_id, []).append(by_id[scan_id])
    return found


def forget_deleted(scans: Sequence[Scan]) -> None:
    """``scans`` are being deleted: out of their registers with their words (above)."""
    for project_id, theirs in registers_of(scans).items():
        _forget(project_id, theirs)


def _forget(project_id: str, scans: Sequence[Scan]) -> None:
    said = {finding.risk for scan in scans for finding in scan.findings}
    still = set(db.session.scalars(select(ScanFinding.risk).join(Scan).where(
        Scan.project_id == project_id, Scan.id.not_in([scan.id for scan in scans]),
        ScanFinding.risk.in_(said))))
    gone = said - still
    # In the register now: their entries recounted, a wording of theirs replaced in the same
    # change (one event); moved out before: an entry left with their wording is renamed.
    entries.remove_findings([finding.id for scan in scans for finding in scan.findings
                              if scan.project_id == project_id], forgotten=gone)
    for entry in db.session.scalars(select(RegisterEntry).where(
            RegisterEntry.project_id == project_id, RegisterEntry.risk.in_(gone))):
        if entry.risk in gone:
            entry.risk = DELETED_WORDING
    db.session.flush()
    forget(project_id, gone, {name for scan in scans
                              for name in (scan.title, scan.filename) if name})
