"""What the register's routes read: entries as JSON, a filtered page, the changes between two
reports, the trend. Hand-built queries that load no embedding: the listing is a busy read
(bench/register.py measures it against a bare Flask app)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from functools import cache

from sqlalchemy import Select, and_, bindparam, func, or_, select

from service import rating
from service.api import LIKE_ESCAPE, Paged, Written, like_escaped
from service.db import (
    ACTIVE,
    ACTIVE_STATUSES,
    SETTLED_STATUSES,
    DismissedFinding,
    RegisterEntry,
    RegisterLink,
    Scan,
    User,
)
from service.entry_fields import COLUMNS
from service.extensions import db
from service.projects import register
from service.projects.bounded_map import Kept, kept

_entries = RegisterEntry.__table__
_links = RegisterLink.__table__
# What the score sorts and filters by: null until both levels are (NULL * n is NULL).
SCORE = (_entries.c.likelihood * _entries.c.impact).label("score")
#: The entries the register lists, counts and draws: those a report states or a person
#: added. One whose last finding went (its scan deleted, corrected to none) is withdrawn:
#: it answers at its URL with its history, and joins the register again with what people
#: gave it when a report states it again (register/entries.py, refresh).
LISTED = or_(_entries.c.occurrences > 0, _entries.c.added_by_user.is_(True))
# Withdrawn: no report states it any more (its findings corrected or their reports deleted)
# and nobody typed it; it keeps its id, history and what people gave it, out of the register.
WITHDRAWN = ~LISTED
MAX_WEEKS = 260  # the trend's weeks: five years back at most
MAX_TREND_SCANS = 200  # and the project's latest scans


def _iso(value):
    return value.isoformat() if value is not None else None


def _day(value: datetime) -> str:
    """A report's date as the register keeps it (midnight UTC), as a date."""
    return value.astimezone(UTC).date().isoformat()


@cache
def _links_of():
    return (select(_links.c.entry_id, _links.c.scan_id, _links.c.finding_id,
                   _links.c.joined_by, _links.c.alike)
            .where(_links.c.entry_id.in_(bindparam("ids", expanding=True)))
            .order_by(_links.c.seen_at, _links.c.finding_id))


def entries_json(rows) -> list[dict]:
    """RiskSchema's fields of these entry rows (COLUMNS), with their findings, in one query."""
    rows = list(rows)
    findings: dict[int, list[dict]] = defaultdict(list)
    if rows:
        for entry_id, scan_id, finding_id, joined_by, alike in db.session.execute(
                _links_of(), {"ids": [row.id for row in rows]}):
            findings[entry_id].append({"scan_id": scan_id, "finding_id": finding_id,
                                       "joined_by": joined_by, "alike": alike})
    return [{"id": row.id, "risk": row.risk, "category": row.category, "status": row.status,
             **rated(row), "owner_id": row.owner_id, "due_date": _iso(row.due_date),
             "notes": row.notes, "first_seen": _day(row.first_seen),
             "last_seen": _day(row.last_seen), "occurrences": row.occurrences,
             "reopened": bool(row.reopened), "added_by_user": bool(row.added_by_user),
             "findings": findings[row.id], "says_closed_in": _says_closed(row, findings[row.id])}
            for row in rows]


def _says_closed(row, findings: list[dict]) -> str | None:
    """The report whose sentence says the entry is closed, while that is its latest finding
    and it is not settled (RiskSchema.says_closed_in)."""
    if not findings or row.status in SETTLED_STATUSES or findings[-1]["joined_by"] != "closing":
        return None
    return findings[-1]["scan_id"]


def rated(row) -> dict:
    """An entry's likelihood, impact, score and band (RiskSchema's fields)."""
    score = rating.score(row.likelihood, row.impact)
    return {"likelihood": row.likelihood, "impact": row.impact, "score": score,
            "band": rating.band(score)}


def entry_json(entry_id: int) -> dict:
    row = db.session.execute(_selected().where(_entries.c.id == entry_id)).one()
    return entries_json([row])[0]


def _selected() -> Select:
    return select(*(_entries.c[name] for name in COLUMNS))


FILTERS = ("status", "category", "owner_id", "q", "likelihood", "impact", "min_score", "rated",
           "withdrawn")


def _where(filters: frozenset[str]) -> list:
    """The conditions of a filtered read, with bind parameters named as the filters
    (``rated``'s true or false is a condition of its own: each is a query built once)."""
    where = [_entries.c.project_id == bindparam("project_id"),
             WITHDRAWN if "withdrawn" in filters else LISTED]
    for name in ("status", "category", "owner_id", "likelihood", "impact"):
        if name in filters:
            where.append(_entries.c[name] == bindparam(name))
    if ACTIVE in filters:
        where.append(_entries.c.status.in_(ACTIVE_STATUSES))
    if "min_score" in filters:
        where.append(SCORE >= bindparam("min_score"))
    if "rated" in filters:
        where.append(SCORE.isnot(None))
    if "unrated" in filters:
        where.append(SCORE.is_(None))
    if "q" in filters:  # escaped by _params, as autoescape=True would
        where.append(or_(_entries.c.risk.contains(bindparam("q"), escape=LIKE_ESCAPE),
                         _entries.c.notes.contains(bindparam("q"), escape=LIKE_ESCAPE)))
    return where


def _filters(args: dict) -> frozenset[str]:
    names = {name for name in FILTERS if name in args}
    if args.get("status") == ACTIVE:  # every status but closed: a condition of its own
        names = (names - {"status"}) | {ACTIVE}
    if args.get("rated") is False:
        names = (names - {"rated"}) | {"unrated"}
    if not args.get("withdrawn"):
        names.discard("withdrawn")
    return frozenset(names)


def _params(project_id: str, args: dict) -> dict:
    params = {name: args[name] for name in FILTERS
              if name in args and name not in ("rated", "withdrawn")}
    if params.get("status") == ACTIVE:
        del params["status"]
    if "q" in params:
        params["q"] = like_escaped(params["q"])
    return {**params, "project_id": project_id}


def ordered(statement: Select, sort: str) -> Select:
    name = sort.lstrip("-")
    column = SCORE.element if name == "score" else _entries.c[name]
    key = column.desc() if sort.startswith("-") else column.asc()
    return statement.order_by(key, _entries.c.id.desc())


@cache
def _page_query(filters: frozenset[str], sort: str) -> tuple[Select, Select]:
    """(page query, count query) for one combination of filters and order, built once (as
    the scans list's are). Two queries, not a window count: a register has thousands of
    entries, and a window over them all is computed before the page is cut, where the
    index on (project_id, last_seen) lets the page read 20 rows."""
    where = _where(filters)
    page = ordered(select(*(_entries.c[name] for name in COLUMNS)).where(*where), sort)
    page = page.limit(bindparam("limit")).offset(bindparam("offset"))
    return page, select(func.count()).select_from(_entries).where(*where)


# Pages of the register by (project, register_version, arguments): every change to a
# register's entries or links moves its version under the register's lock (register.hold;
# tests/test_register.py checks each kind of change), so a page of one version is exact.
MAX_PAGES = 512
KEPT = "riskscan.register_pages"  # app.extensions: (project, version, args) -> page


def init_app(app) -> None:
    app.extensions[KEPT] = Kept(MAX_PAGES)


def risk_page(project_id: str, args: dict, *, version: int | None = None) -> Written | Paged:
    """A page of the register for ``paginated_response``: one kept by ``version`` (when one
    is given) as it is, else its query, the page kept once written."""
    key = (project_id, version, tuple(sorted(args.items())))
    if version is not None and (page := kept(KEPT).get(key)) is not None:
        return page
    statement, count = _page_query(_filters(args), args["sort"])

    def written(page: dict) -> Written:
        page = Written(page)
        if version is not None:
            kept(KEPT).put(key, page)
        return page

    return Paged(statement, count=count, params=_params(project_id, args), items=entries_json,
                 wrap=written)


def project_scans(project_id: str, limit: int | None = None, *, before=None) -> list:
    """(id, created_at, reported_on, filename) of the project's scans, the latest report
    first: by report date, then upload; only those after ``before`` (a scan) in that order,
    when given."""
    statement = (select(Scan.id, Scan.created_at, Scan.reported_on, Scan.filename)
                 .where(Scan.project_id == project_id)
                 .order_by(Scan.reported_on.desc(), Scan.created_at.desc(), Scan.id.desc()))
    if before is not None:
        statement = statement.where(or_(
            Scan.reported_on < before.reported_on,
            and_(Scan.reported_on == before.reported_on, or_(
                Scan.created_at < before.created_at,
                and_(Scan.created_at == before.created_at, Scan.id < before.id)))))
    if limit is not None:
        statement = statement.limit(limit)
    return db.session.execute(statement).all()


def changes(project_id: str, from_scan: str | None, to_scan: str | None) -> dict:
    """``{from_scan, to_scan, new, persisting, gone, kept_out, suggested}``: the entries
    that ``to_scan`` states and ``from_scan`` does not, that both state, and that only
    ``from_scan`` states; how many findings of ``to_scan`` dismissals kept out of the
    register (counted, so that a report whose risks were all dismissed does not read as
    one that stated none); and, per new entry, the others it may restate
    (register/suggestions.py)."""
    def stated(scan_id):
        if scan_id is None:
            return set()
        return set(db.session.scalars(select(_links.c.entry_id).where(
            _links.c.scan_id == scan_id).distinct()))

    before, after = stated(from_scan), stated(to_scan)
    ids = before | after
    rows = db.session.execute(ordered(_selected().where(_entries.c.id.in_(ids)),
                                      "-last_seen")).all() if ids else []
    entries = {entry["id"]: entry for entry in entries_json(rows)}
    pick = lambda wanted: [entries[i] for i in entries if i in wanted]
    new = after - before
    # What each new risk may restate among the others: a report seldom says one risk twice.
    found = register.for_entries(project_id, sorted(new))
    suggested = {str(i): register.listed(entries[i]["risk"], [
        s for s in found[i] if s.entry.id not in new]) for i in found}
    return {"from_scan": from_scan, "to_scan": to_scan, "new": pick(new),
            "persisting": pick(after & before), "gone": pick(before - after),
            "kept_out": 0 if to_scan is None else db.session.scalar(
                select(func.count()).select_from(DismissedFinding)
                .where(DismissedFinding.scan_id == to_scan)),
            "suggested": {i: items for i, items in suggested.items() if items}}


def _band_of(likelihood, impact) -> str:
    return rating.band(rating.score(likelihood, impact)) or rating.UNRATED


def trend(project_id: str, now: datetime | None = None, *, by: str = "category") -> dict:
    """Open risks per category (or rating band) per ISO week, from the week of the
    project's first report (by its date) to the week of the register's latest news: its
    latest report, risk added by hand, or closing (the click's day, so that a closure after
    the last report shows). Nothing is known of the weeks after: they are not drawn flat;
    and, for each of its latest reports
    in report order, the entries it states per category (or band).

    An entry is open from its first report's date until the date of the project's newest
    report when it was accepted or closed (``settled_through``), or until now: the register keeps current statuses and ratings, not their history, so a
    risk closed and then reopened counts as open throughout, in the band it is in today."""
    now = now or datetime.now(UTC)
    keys = ((_entries.c.category,) if by == "category"
            else (_entries.c.likelihood, _entries.c.impact))
    key_of = (lambda category: category) if by == "category" else _band_of
    first, last, settled = db.session.execute(
        select(func.min(_entries.c.first_seen), func.max(_entries.c.last_seen),
               func.max(_entries.c.settled_at))
        .where(_entries.c.project_id == project_id, LISTED)).one()
    weeks = []
    if first is not None:
        start = _monday(max(first, now - timedelta(weeks=MAX_WEEKS)))
        spans = [(key_of(*row[:-2]), *row[-2:]) for row in db.session.execute(
            # A closure counts from the report it was closed at, never the click's day.
            select(*keys, _entries.c.first_seen,
                   func.coalesce(_entries.c.settled_through, _entries.c.settled_at))
            .where(_entries.c.project_id == project_id, LISTED))]
        monday = start
        while monday <= min(now, max(last, settled or last)).date():
            begins = datetime.combine(monday, datetime.min.time(), UTC)
            ends = begins + timedelta(days=7)
            counts: dict[str, int] = defaultdict(int)
            for key, first_seen, settled_at in spans:
                if first_seen < ends and (settled_at is None or settled_at >= begins):
                    counts[key] += 1
            year, week, _ = monday.isocalendar()
            weeks.append({"week": f"{year}-W{week:02d}", "start": monday.isoformat(),
                          "open": dict(sorted(counts.items()))})
            monday += timedelta(days=7)
    scans = list(reversed(project_scans(project_id, MAX_TREND_SCANS)))
    stated: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    if scans:
        for scan_id, *key, count in db.session.execute(
                select(_links.c.scan_id, *keys, func.count(func.distinct(_entries.c.id)))
                .join(_entries, _entries.c.id == _links.c.entry_id)
                .where(_links.c.scan_id.in_([scan.id for scan in scans]))
                .group_by(_links.c.scan_id, *keys)):
            stated[scan_id][key_of(*key)] += count
    return {"weeks": weeks,
            "scans": [{"scan_id": scan.id, "timestamp": _iso(scan.created_at),
                       "reported_on": _iso(scan.reported_on), "filename": scan.filename,
                       "stated": dict(sorted(stated[scan.id].items()))}
                      for scan in scans]}


def matrix(project_id: str, scale: dict, status: str = ACTIVE) -> dict:
    """The entries of ``status`` (``active``: every status but closed) per (likelihood,
    impact) cell, with their ids; those without a score beside (MatrixSchema). Cells run as
    the matrix is drawn: the likeliest row first, the mildest impact first in a row."""
    statuses = ACTIVE_STATUSES if status == ACTIVE else (status,)
    ids: dict[tuple, list[int]] = defaultdict(list)
    for entry_id, likelihood, impact in db.session.execute(
            select(_entries.c.id, _entries.c.likelihood, _entries.c.impact)
            .where(_entries.c.project_id == project_id, _entries.c.status.in_(statuses),
                   LISTED)
            .order_by(_entries.c.id)):
        scored = rating.score(likelihood, impact) is not None
        ids[(likelihood, impact) if scored else None].append(entry_id)
    cells = [{"likelihood": likelihood, "impact": impact,
              "score": rating.score(likelihood, impact),
              "band": rating.band(rating.score(likelihood, impact)),
              "count": len(ids[(likelihood, impact)]), "risk_ids": ids[(likelihood, impact)]}
             for likelihood in reversed(rating.LEVELS) for impact in rating.LEVELS]
    return {"scale": scale, "status": status, "statuses": list(statuses), "cells": cells,
            "unrated": {"count": len(ids[None]), "risk_ids": ids[None]}}


def _monday(moment: datetime) -> date:
    day = moment.date()
    return day - timedelta(days=day.weekday())


def export_rows(project_id: str, args: dict) -> list[dict]:
    """Every entry the filters keep, as the sheet's rows, in register order (by id)."""
    statement = (_selected().add_columns(User.email.label("owner_email"))
                 .where(*_where(_filters(args)))
                 .outerjoin(User, User.id == _entries.c.owner_id)
                 .order_by(_entries.c.id))
    return [row._asdict() for row in db.session.execute(statement, _params(project_id, args))]
