"""A finding's label corrected, and where that leaves the register: the entry it alone
states moves to the new category (keeping its id, status, notes, owner and rating), or it
joins the entry that states it there; ``none`` takes it out (for this report, or with its
dismissal for later ones too); corrected back, it comes back. Every function works in the
caller's transaction and cause (entry_events.caused_by), under the register's lock."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sqlalchemy import select

from service import outbox
from service.analysis.embedding import from_bytes
from service.db import RegisterEntry, RegisterLink, Scan, ScanFinding
from service.extensions import db
from service.projects.register import dismissals, entries
from service.projects.register.entry_events import caused_by
from service.serving.encoder import current_encoder


def _moved(finding: ScanFinding, scan: Scan, was: str) -> RegisterEntry | str | None:
    """Where a risk label takes the entry ``finding`` alone states: the entry itself,
    moved to the new category, keeping its id and all people gave it, when no entry of
    that category states the same risk (returned); else a note saying where the finding
    went, for the entry left behind; None when the finding is not alone in its entry."""
    new = finding.effective_category
    link = db.session.scalar(select(RegisterLink).where(RegisterLink.finding_id == finding.id))
    if new == "none" or link is None:
        return None
    entry = db.session.get(RegisterEntry, link.entry_id)
    if entries.findings_held(entry.id) != 1 or entry.added_by_user or entry.category != was:
        return None
    there = entries.closest_entry(scan.project_id, new, from_bytes(link.embedding))
    if there is None:
        entries.move(entry, new)
        outbox.record("risk.moved", entry, scan_id=scan.id, **{"from": was, "to": new})
        return entry
    return (f"Its finding was corrected to {new} and joined risk {there.id}, which states "
            "the same risk.")


def recategorize(finding: ScanFinding, scan: Scan, *, was: str, actor_id: str | None,
                 embed: Callable[[list[str]], np.ndarray], later: bool = False) -> None:
    """A finding's label was corrected (from ``was``): it leaves its entry and joins the
    register again under the new label. One corrected to ``none`` stays out; with
    ``later`` ("this report and later ones") it is remembered as dismissed (dismissals.py).
    Corrected back, its dismissal goes, and the findings it kept out join the register."""
    if scan.project_id is None:
        return
    where = _moved(finding, scan, was)
    if isinstance(where, RegisterEntry):
        return
    with caused_by("correction", actor_id=actor_id, scan_id=scan.id, note=where or (
            "Its finding was corrected to Not a risk." if finding.effective_category == "none"
            else None)):
        removed = entries.remove_findings([finding.id])
    vector = from_bytes(removed[0].embedding) if removed else embed([finding.risk])[0]
    if finding.effective_category == "none":
        if later:
            dismissals.dismiss(scan.project_id, finding, scan, vector,
                               category=finding.category if was == "none" else was,
                               actor_id=actor_id)
        return
    if (dismissal := dismissals.of_finding(finding.id)) is not None:
        restore(dismissal, actor_id=actor_id)
    entries.add_findings(scan.project_id, scan, [finding], vector[None, :], actor_id=actor_id)


def rescope(finding: ScanFinding, scan: Scan, *, later: bool, actor_id: str | None,
            embed: Callable[[list[str]], np.ndarray]) -> None:
    """A finding already corrected to none given a scope: ``later`` makes its dismissal
    (if it has none), "this report only" lifts the one it has."""
    dismissal = dismissals.of_finding(finding.id)
    if later and dismissal is None:
        dismissals.dismiss(scan.project_id, finding, scan, embed([finding.risk])[0],
                           category=finding.category, actor_id=actor_id)
    elif not later and dismissal is not None:
        restore(dismissal, actor_id=actor_id)


def restore(dismissal, *, actor_id: str | None) -> None:
    """Delete a dismissal: the findings it kept out join the register."""
    project_id = dismissal.project_id
    for scan, findings, vectors in dismissals.delete_dismissal(dismissal, actor_id=actor_id):
        entries.add_findings(project_id, scan, findings, vectors, actor_id=actor_id)


def lock_for_review(_sender, *, finding_ids: list[int]) -> None:
    """Before a review changes findings' labels (corrections.reviewing): their projects'
    registers, locked first, in order, as every correction takes them."""
    projects = db.session.scalars(
        select(Scan.project_id).join(ScanFinding, ScanFinding.scan_id == Scan.id)
        .where(ScanFinding.id.in_(finding_ids), Scan.project_id.is_not(None))
        .distinct()).all()
    for project_id in sorted(projects):
        entries.lock(project_id)


def follow_review(_sender, *, changed: dict[int, str], actor_id: str) -> None:
    """A review changed findings' labels (corrections.relabelled: a rejection puts the
    model's label back, its undo the correction's): each finding's register follows, as a
    correction would move it, caused by the review."""
    embed = lambda texts: current_encoder().embed(texts)
    for finding_id, was in changed.items():
        finding = db.session.get(ScanFinding, finding_id)
        scan = finding.scan
        if scan.project_id is None:
            continue
        now = finding.effective_category
        note = (f"A reviewer rejected the correction to {_said(was)}: the model's "
                f"{_said(now)} stands." if finding.review == "rejected" else
                f"A reviewer's decision was undone: the correction to {_said(now)} stands.")
        with caused_by("review", actor_id=actor_id, scan_id=scan.id, note=note):
            recategorize(finding, scan, was=was, actor_id=actor_id, embed=embed)


def _said(label: str) -> str:
    return "Not a risk" if label == "none" else label
