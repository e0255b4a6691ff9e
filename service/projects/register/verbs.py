"""The register's verbs: the only way code outside this package changes an entry.

A caller holds a project's register for its transaction (``hold``: the project's row lock on
MySQL, the write lock on SQLite, and a new register version) and calls a verb of what it
got. Each verb opens its change's cause, so that the recorder (entry_events.py) writes every
changed entry's event and audit row under it, and the parts (entries.py, curation.py,
relabel.py, …) write the outbox's messages; the caller commits. Holding is what a request
does first when it must read under the lock (``first``: what it read before is let go), and
holding again in one transaction costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from sqlalchemy import select

from service.api import not_found
from service.db import Dismissal, RegisterEntry, Scan, ScanFinding
from service.extensions import db
from service.projects.register import curation, entries, forgetting, relabel, suggestions
from service.projects.register.entry_events import caused_by

Embed = Callable[[list[str]], np.ndarray]


def hold(project_id: str, *, first: bool = False, directions_kept: bool = False) -> Held:
    """The project's register, held until the transaction ends; 404 when the project is gone.
    ``first``: as the transaction's first statement (entries.lock_first), so that what the
    request reads next sees every change committed before. ``directions_kept``: the change
    moves no entry's category or embedding (a status, an owner, a date)."""
    take = entries.lock_first if first else entries.lock
    if take(project_id, directions_kept=directions_kept) is None:
        raise not_found("project")
    return Held(project_id)


def forget_reports(scans: Sequence[Scan], *, note: str, actor_id: str | None = None,
                   scan_id: str | None = None) -> None:
    """``scans`` are being deleted (``scan_id``: the one, when one is): out of every register
    they are or were in, with their words (forgetting.py); each is held as it is reached."""
    with caused_by("deletion", actor_id=actor_id, scan_id=scan_id, note=note):
        forgetting.forget_deleted(scans)


class Held:
    """A project's register held for this transaction (``hold``), and what may change it."""

    def __init__(self, project_id: str):
        self.project_id = project_id

    # A report's findings.

    def add_report(self, scan: Scan, findings: Sequence[ScanFinding], vectors: np.ndarray, *,
                   actor_id: str | None, job_id: str | None = None) -> None:
        """A report's findings (flushed; ``vectors``: theirs, unit length) join or open
        entries: a scan into the project, or moved into it."""
        with caused_by("report", actor_id=actor_id, scan_id=scan.id, job_id=job_id):
            entries.add_findings(self.project_id, scan, findings, vectors, actor_id=actor_id)

    def remove_report(self, scan: Scan, *, actor_id: str | None, note: str) -> None:
        """A report's findings leave the register (its scan moved out of the project)."""
        with caused_by("deletion", actor_id=actor_id, scan_id=scan.id, note=note):
            entries.remove_findings([finding.id for finding in scan.findings])

    def redate_report(self, scan: Scan, *, actor_id: str | None) -> None:
        """A report dated again (``scan.reported_on`` set and flushed): its entries follow."""
        with caused_by("redate", actor_id=actor_id, scan_id=scan.id):
            entries.redate(scan)

    # A person's corrections of a report's findings.

    def add_finding(self, scan: Scan, finding: ScanFinding, vector: np.ndarray, *,
                    actor_id: str) -> None:
        """A risk the model missed, added to a report by a person, joins the register."""
        with caused_by("correction", actor_id=actor_id, scan_id=scan.id,
                       note="A person added a risk the model missed."):
            entries.add_findings(self.project_id, scan, [finding], vector[None, :],
                                 actor_id=actor_id)

    def remove_finding(self, scan: Scan, finding: ScanFinding, *, actor_id: str) -> None:
        """A risk a person added to a report, deleted by them (entries.remove_added)."""
        with caused_by("deletion", actor_id=actor_id, scan_id=scan.id,
                       note="A person deleted a risk they had added to a report."):
            entries.remove_added(finding, scan, actor_id=actor_id)

    def correct_finding(self, scan: Scan, finding: ScanFinding, *, was: str, moved: bool,
                        later: bool | None, actor_id: str, embed: Embed) -> None:
        """A finding's label corrected (from ``was``): ``moved``, its entry follows
        (relabel.recategorize); else its scope alone changed (``later``: "this report and
        later ones", False: "this report only", None: no scope sent)."""
        with caused_by("correction", actor_id=actor_id, scan_id=scan.id):
            if moved:
                relabel.recategorize(finding, scan, was=was, actor_id=actor_id, embed=embed,
                                     later=bool(later))
            elif later is not None:
                relabel.rescope(finding, scan, later=later, actor_id=actor_id, embed=embed)

    def restore(self, dismissal: Dismissal, *, actor_id: str) -> None:
        """A dismissal lifted: the findings it kept out join the register."""
        with caused_by("dismissal", actor_id=actor_id,
                       note=f"A dismissal was lifted: “{dismissal.risk}”."):
            relabel.restore(dismissal, actor_id=actor_id)

    # The register mended by hand (curation.py, suggestions.py).

    def add_risk(self, risk: str, category: str, vector: np.ndarray, *,
                 actor_id: str) -> RegisterEntry:
        return curation.add(self.project_id, risk, category, vector, actor_id=actor_id)

    def edit(self, entry: RegisterEntry, args: dict, *, actor_id: str) -> dict:
        return curation.edit(self.project_id, entry, args, actor_id=actor_id)

    def merge(self, entry: RegisterEntry, ids: list[int], *, actor_id: str) -> None:
        curation.merge(self.project_id, entry, ids, actor_id=actor_id)

    def split(self, entry: RegisterEntry, finding_ids: list[int], *,
              actor_id: str) -> RegisterEntry:
        return curation.split(self.project_id, entry, finding_ids, actor_id=actor_id)

    def merge_suggested(self, entry: RegisterEntry, other: RegisterEntry, *,
                        actor_id: str) -> RegisterEntry:
        return suggestions.merge(self.project_id, entry, other, actor_id=actor_id)

    def dismiss_suggested(self, entry: RegisterEntry, other: RegisterEntry, *,
                          actor_id: str) -> bool:
        return suggestions.dismiss(self.project_id, entry, other, actor_id=actor_id)

    # Members.

    def member_left(self, user_id: str) -> None:
        """A member leaves: the risks they owned have no owner until someone takes them (a
        risk's owner is always a member). Hold with ``directions_kept``."""
        # A locking read: the rows as committed now (MySQL's snapshot would miss an owner
        # set by a request that committed after this transaction first read).
        owned = db.session.scalars(select(RegisterEntry).where(
            RegisterEntry.project_id == self.project_id, RegisterEntry.owner_id == user_id)
            .with_for_update().execution_options(populate_existing=True)).all()
        with caused_by("membership", note="Its owner left the project."):
            for entry in owned:
                entry.owner_id = None
