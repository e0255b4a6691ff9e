"""Dismissals: what a project's members said is not a risk stays out of its register.

A finding of a project's scan corrected to ``none`` with the scope "this report and later
ones" (``later``) becomes a dismissal: its wording, the category it had and its embedding;
"this report only", the default, makes none (the finding alone leaves the register).
Dismissals made before the choice existed were all of the first kind, and stay so. A later finding of the project that states the same
thing by the register's own rule (its category, embeddings at least
``REGISTER_MATCH_THRESHOLD`` alike: ``nearest``, as register.py matches entries) is kept
out of the register, and so out of its counts, changes and trend, and remembered with the
dismissal it matched (DismissedFinding). Deleting the dismissal (restore) hands those
findings back for register.add_findings. Like register.py, every function works in the
caller's transaction, under the project's register lock (register.lock), so that two
corrections or two restores of one project run in turn.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import groupby

import numpy as np
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import aliased

from service import audit
from service.analysis.embedding import from_bytes, to_bytes
from service.db import Dismissal, DismissedFinding, Scan, ScanFinding
from service.extensions import db
from service.projects.register.matching import nearest


def dismiss(project_id: str, finding: ScanFinding, scan: Scan, vector: np.ndarray, *,
            category: str, actor_id: str | None) -> None:
    """Remember ``finding`` (just corrected to none; ``category``: its label before) as
    dismissed in its project, once: a dismissal per finding."""
    known = db.session.scalar(select(Dismissal.id).where(Dismissal.finding_id == finding.id)
                              .with_for_update(read=True))  # MySQL: the latest committed
    if known is not None:
        return
    dismissal = Dismissal(project_id=project_id, risk=finding.risk, category=category,
                          embedding=to_bytes(vector), finding_id=finding.id, scan_id=scan.id,
                          dismissed_by=actor_id)
    db.session.add(dismissal)
    db.session.flush()
    audit.record("finding_dismissed", actor_id=actor_id, target_id=str(dismissal.id),
                 project_id=project_id, scan_id=scan.id, finding_id=finding.id)


def keep_out(project_id: str, scan: Scan, wanted: Sequence[tuple[ScanFinding, np.ndarray]],
             threshold: float) -> list[tuple[ScanFinding, np.ndarray]]:
    """Of ``wanted`` (findings of ``scan`` with their unit vectors), those no dismissal of
    the project matches; the others are kept out, each with the dismissal it matched. A
    finding a person labelled a risk (a correction, or added) is never kept out: their
    answer about this sentence outranks a dismissal of another. "Later" is by the reports'
    dates: a report dated before the dismissed one is not kept out, whenever it arrives (a
    dismissal whose scan is deleted covers every report)."""
    dismissed_in = aliased(Scan)
    dated = (() if scan.reported_on is None else
             (or_(dismissed_in.reported_on.is_(None),
                  dismissed_in.reported_on <= scan.reported_on),))
    rows = db.session.execute(
        select(Dismissal.id, Dismissal.category, Dismissal.embedding)
        .outerjoin(dismissed_in, dismissed_in.id == Dismissal.scan_id)
        .where(Dismissal.project_id == project_id,
               Dismissal.category.in_({f.effective_category for f, _ in wanted}), *dated)
        .order_by(Dismissal.category, Dismissal.id)).all()
    if not rows:
        return list(wanted)
    known: dict[str, tuple[list[int], np.ndarray]] = {}
    for category, group in groupby(rows, key=lambda row: row.category):
        members = list(group)
        known[category] = ([row.id for row in members],
                           np.stack([from_bytes(row.embedding) for row in members]))
    kept = []
    for finding, vector in wanted:
        ids, directions = known.get(finding.effective_category, ([], None))
        labelled = finding.corrected_category is not None or finding.added_by_user
        match = nearest(directions, vector, threshold) if ids and not labelled else None
        if match is None:
            kept.append((finding, vector))
        else:
            db.session.add(DismissedFinding(finding_id=finding.id, dismissal_id=ids[match[0]],
                                            scan_id=scan.id, embedding=to_bytes(vector)))
    if len(kept) < len(wanted):
        scan.category_counts = None  # its counts leave out what was kept out (the list counts)
    return kept


def forget(finding_ids: Iterable[int]) -> None:
    """Findings leaving the project (a scan deleted or moved, a finding corrected) are no
    longer kept out of it."""
    db.session.execute(delete(DismissedFinding)
                       .where(DismissedFinding.finding_id.in_(list(finding_ids)))
                       .execution_options(synchronize_session=False))


def delete_dismissal(dismissal: Dismissal, *, actor_id: str | None
                     ) -> list[tuple[Scan, list[ScanFinding], np.ndarray]]:
    """Delete ``dismissal``; the findings it kept out, per scan with their vectors, for
    register.add_findings to put into the register."""
    rows = db.session.execute(
        select(DismissedFinding, ScanFinding).join(
            ScanFinding, ScanFinding.id == DismissedFinding.finding_id)
        .where(DismissedFinding.dismissal_id == dismissal.id)
        .order_by(DismissedFinding.scan_id, ScanFinding.position)
        .with_for_update(read=True)).all()
    restored = []
    for scan_id, group in groupby(rows, key=lambda row: row.DismissedFinding.scan_id):
        group = list(group)
        scan = db.session.get(Scan, scan_id)
        scan.category_counts = None
        restored.append((scan, [row.ScanFinding for row in group],
                         np.stack([from_bytes(row.DismissedFinding.embedding) for row in group])))
    forget(row.ScanFinding.id for row in rows)
    audit.record("dismissal_deleted", actor_id=actor_id, target_id=str(dismissal.id),
                 project_id=dismissal.project_id, risk=dismissal.risk[:200],
                 restored=len(rows))
    db.session.delete(dismissal)
    db.session.flush()
    return restored


def of_finding(finding_id: int) -> Dismissal | None:
    """The dismissal a finding's correction to none made, if the project still keeps it."""
    return db.session.scalar(select(Dismissal).where(Dismissal.finding_id == finding_id)
                             .with_for_update(read=True))
