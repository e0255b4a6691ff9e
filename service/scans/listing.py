"""GET /api/v1/scans: one page of the caller's scans, with the total and each scan's counts.

The busiest read of the service: one query on the scans table, with the counts each scan
stored when it was created, from statements built once per combination of filters (why, and
what it replaced: "The scans list" in docs/throughput.md). The counts equal
``Scan.counts()`` byte for byte (tests/test_scans.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

from sqlalchemy import Select, bindparam, exists, func, or_, select

from service.api import LIKE_ESCAPE, Paged, like_escaped
from service.db import DismissedFinding, Scan, ScanFinding, effective_label
from service.extensions import db

FILTERS = ("source", "category", "created_after", "created_before", "q")

_scans = Scan.__table__
_findings = ScanFinding.__table__
_dismissed = DismissedFinding.__table__
_SUMMARY = ("id", "project_id", "source", "model_version", "created_at", "reported_on",
            "reported_on_from", "filename", "title", "media_type", "text_length")


@dataclass(frozen=True, slots=True)
class ScanSummary:
    """A scan as the list shows it (ScanSummarySchema): its columns and its counts."""

    id: str
    project_id: str | None
    source: str
    model_version: str
    created_at: datetime
    reported_on: date | None
    reported_on_from: str | None
    filename: str | None
    title: str | None
    media_type: str | None
    text_length: int
    findings_per_category: dict[str, int]

    def counts(self) -> dict[str, int]:
        return dict(self.findings_per_category)

    def to_json(self) -> dict:
        """What ScanSummarySchema dumps, field for field and in its order, without
        marshmallow's per-field dispatch (most of the list's serialization time);
        tests/test_scans.py checks that the two agree."""
        return {"scan_id": self.id, "project_id": self.project_id, "source": self.source,
                "model_version": self.model_version,
                "timestamp": self.created_at.isoformat(),
                "reported_on": self.reported_on and self.reported_on.isoformat(),
                "reported_on_from": self.reported_on_from,
                "filename": self.filename, "title": self.title,
                "media_type": self.media_type, "text_length": self.text_length,
                "counts": dict(self.findings_per_category)}


def _effective_category():
    return effective_label(_findings)


def _not_dismissed():
    return ~exists().where(_dismissed.c.finding_id == _findings.c.id)


def _counted_finding():
    """What Scan.counts() counts (ScanFinding.counted): a risk, not a near miss nobody
    confirmed, not kept out by a dismissal."""
    return (_effective_category() != "none", _findings.c.possible.is_(False), _not_dismissed())


@cache
def _queries(filters: frozenset[str], of_project: bool) -> tuple[Select, Select]:
    """(page query, count query) for one combination of filters: a user's scans, or a
    project's (``of_project``: whoever scanned them)."""
    where = [_scans.c.project_id == bindparam("owner") if of_project
             else _scans.c.user_id == bindparam("owner")]
    if "source" in filters:
        where.append(_scans.c.source == bindparam("source"))
    if "category" in filters:  # as the counts: corrections applied
        where.append(exists().where(_findings.c.scan_id == _scans.c.id,
                                    _effective_category() == bindparam("category"),
                                    *_counted_finding()))
    if "created_after" in filters:
        where.append(_scans.c.created_at >= bindparam("created_after"))
    if "created_before" in filters:
        where.append(_scans.c.created_at < bindparam("created_before"))
    if "q" in filters:  # the value is escaped by scan_page, as autoescape=True would
        where.append(or_(*(_scans.c[name].contains(bindparam("q"), escape=LIKE_ESCAPE)
                           for name in ("filename", "title", "text"))))
    page = (select(*(_scans.c[name] for name in _SUMMARY), _scans.c.category_counts,
                   func.count().over().label("total"))
            .where(*where)
            .order_by(_scans.c.created_at.desc(), _scans.c.id)
            .limit(bindparam("limit")).offset(bindparam("offset")))
    count = select(func.count()).select_from(_scans).where(*where)
    return page, count


def _counted(scan_ids: list[str]) -> dict[str, dict[str, int]]:
    """Scan.counts() of these scans, from their findings (those a dismissal keeps out of
    the register and near misses left out), in one grouped query."""
    effective = _effective_category()
    first = func.min(_findings.c.position)
    rows = db.session.execute(
        select(_findings.c.scan_id, effective, func.count(), first)
        .where(_findings.c.scan_id.in_(scan_ids), *_counted_finding())
        .group_by(_findings.c.scan_id, effective)
        .order_by(_findings.c.scan_id, first))
    counts: dict[str, dict[str, int]] = {scan_id: {} for scan_id in scan_ids}
    for scan_id, category, found, _first in rows:
        counts[scan_id][category] = found
    return counts


def risks_found(stored: dict[str, list | None]) -> dict[str, int]:
    """How many risks each scan found (Scan.counts() summed), by id, from its stored
    ``category_counts`` (``stored``), else counted from its findings: one query at most."""
    uncounted = [scan_id for scan_id, counts in stored.items() if counts is None]
    counted = _counted(uncounted) if uncounted else {}
    return {scan_id: sum(found for _, found in counts) if counts is not None
            else sum(counted[scan_id].values()) for scan_id, counts in stored.items()}


def scan_page(user_id: str, args: dict, *, project_id: str | None = None) -> Paged:
    """The user's scans (or, given ``project_id``, the project's), newest first, filtered by
    ``args`` (ScanListArgs): the query of a page, which ``paginated_response`` runs."""
    filters = frozenset(name for name in FILTERS if name in args)
    params = {name: args[name] for name in filters}
    if "q" in params:
        params["q"] = like_escaped(params["q"])
    listed, count = _queries(filters, project_id is not None)
    params["owner"] = project_id if project_id is not None else user_id
    return Paged(listed, count=count, params=params, windowed=True, items=_summaries)


def _summaries(rows) -> list[ScanSummary]:
    """The page's rows as ScanSummary, counted from their findings where no counts were
    stored with the scan."""
    uncounted = [row.id for row in rows if row.category_counts is None]
    counted = _counted(uncounted) if uncounted else {}
    return [ScanSummary(*columns, findings_per_category=dict(stored) if stored is not None
                        else counted[columns[0]])
            for *columns, stored, _total in rows]
