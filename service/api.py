"""What every resource module uses: JSON bodies, pagination, ownership lookups.

The decorators wrap APIFairy's, so that the OpenAPI spec is generated from the same
schemas that validate requests and shape responses.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC
from functools import wraps
from typing import Any, ClassVar

from apifairy import arguments, body, response
from flask import Blueprint, current_app, request
from flask.json.provider import DefaultJSONProvider
from marshmallow import RAISE, fields, validate
from sqlalchemy import bindparam, func, select, update
from werkzeug.routing import BaseConverter

from service.config import current_settings
from service.errors import APIError
from service.extensions import connection, db, ma

MAX_PER_PAGE = 100
MAX_PAGE = 2**31 - 1
REMEMBERED_LOADS = 256  # distinct query strings an arguments schema keeps parsed
REMEMBERED_CHARS = 1024  # the longest input kept: 256 of them hold at most about 0.5 MB
# No request of the API nests deeper than 4; a parser's recursion must never be the limit.
MAX_JSON_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")
INVALID_JSON = "The request body is not valid JSON."


class MalformedJSON(ValueError):
    """JSON that parses but that no request may carry (Flask answers a ValueError 400)."""


class RequestJSON(DefaultJSONProvider):
    """The app's JSON (``app.json``): Flask's, but what it reads is nested at most
    MAX_JSON_DEPTH deep and holds Unicode text only. Every reader of a body goes through
    it (``request.get_json``, ``request_json``, json_body before webargs' own parse), so
    none meets a RecursionError, and no lone surrogate reaches the database, a log line or
    an export, which cannot encode it."""

    def loads(self, s, **kwargs):
        try:
            value = super().loads(s, **kwargs)
        except RecursionError:
            raise MalformedJSON(f"Nested deeper than {MAX_JSON_DEPTH} levels.") from None
        _check_parsed(value)
        return value


def _check_parsed(value) -> None:
    """MalformedJSON for a value nested too deep or a string (key or value) with a lone
    surrogate; walked with a list, not recursion, whatever the depth."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise MalformedJSON("A string holds a lone surrogate (\\ud800-\\udfff): "
                                    "not Unicode text.")
        elif isinstance(item, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise MalformedJSON(f"Nested deeper than {MAX_JSON_DEPTH} levels.")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)


def request_json(*, empty_ok: bool = False):
    """The request's JSON body, read by ``app.json``; anything else than JSON it accepts
    (bad syntax, bytes that are not UTF-8, too deep, a lone surrogate) is a 400 problem
    naming why. A body over the size limit stays a 413."""
    data = request.get_data(cache=True)
    if empty_ok and not data:
        return {}
    try:
        return current_app.json.loads(data)
    except MalformedJSON as error:
        raise APIError(400, INVALID_JSON, errors={"_schema": [str(error)]}) from None
    except ValueError:  # JSONDecodeError, UnicodeDecodeError
        raise APIError(400, INVALID_JSON, errors={"_schema": ["Invalid JSON body."]}) from None


def json_body(schema, *, max_kb: int | None = None):
    """Parse and validate a JSON body with ``schema``.

    Another content type is 415, a body over the limit 413, malformed JSON 400, and wrong
    or unknown fields 422 (the fields are named in ``errors``).
    """

    def decorator(view):
        validated = body(schema, error_status_code=422)(view)

        @wraps(validated)
        def wrapper(*args, **kwargs):
            limit_kb = max_kb or current_settings().MAX_JSON_KB
            request.max_content_length = limit_kb * 1024
            if not request.is_json:
                raise APIError(415, "This endpoint takes application/json.")
            request_json()  # webargs parses it again, with the stdlib: refuse here what it would not
            return validated(*args, **kwargs)

        return wrapper

    return decorator


class UTCDateTime(fields.AwareDateTime):
    """An ISO 8601 time with a zone, loaded in UTC, as the database stores it: a time whose
    UTC falls outside years 1–9999 (9999-12-31T23:59:59-14:00) is a field error, not an
    OverflowError where it is stored."""

    default_error_messages: ClassVar[dict] = {
        "out_of_range": "Must fall in the years 1-9999 in UTC."}

    def _deserialize(self, value, attr, data, **kwargs):
        loaded = super()._deserialize(value, attr, data, **kwargs)
        try:
            return loaded.astimezone(UTC)
        except OverflowError:
            raise self.make_error("out_of_range") from None


class StrictBoolean(fields.Boolean):
    """A JSON ``true`` or ``false`` and nothing else: what the spec's ``boolean`` promises.

    marshmallow's Boolean also takes 0, 1, "yes", "on"…, which a client reading the spec
    would not expect to be accepted (schemathesis: schema-violating request accepted).
    """

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class QueryBoolean(fields.Boolean):
    """``true`` or ``false`` in a query string, and nothing else: what the spec's boolean
    promises (marshmallow's Boolean also takes 1, yes, on…; StrictBoolean wants JSON's)."""

    truthy: ClassVar[set[str]] = {"true"}
    falsy: ClassVar[set[str]] = {"false"}


class StrictFloat(fields.Float):
    """A JSON number and nothing else: what the spec's ``number`` promises. marshmallow's
    Float also takes "0.5" and true, which a client reading the spec would not expect."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


FORM_TRUE, FORM_FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


def form_boolean(form: Mapping[str, str], name: str) -> bool:
    """A multipart form's boolean field as a browser or curl sends it; 422 naming it else."""
    value = form[name].strip().lower()
    if value not in FORM_TRUE + FORM_FALSE:
        raise APIError(422, f"{name} must be true or false.",
                       errors={name: ["Not a valid boolean."]})
    return value in FORM_TRUE


def form_fraction(form: Mapping[str, str], name: str) -> float | None:
    """A multipart form's number from 0 to 1 (a score); None when left blank; 422 naming
    it for anything else, NaN included."""
    raw = form[name].strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 1:  # NaN too
        raise APIError(422, f"{name} must be a number from 0 to 1.",
                       errors={name: ["Must be a number from 0 to 1."]})
    return value


class PageArgs(ma.Schema):
    # Bounded, so that the offset (page - 1) * per_page fits the database's integers.
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(
        load_default=20,
        validate=validate.Range(min=1, max=MAX_PER_PAGE),
        metadata={"description": f"at most {MAX_PER_PAGE}; more is a 422"},
    )


class Remembered:
    """An arguments schema whose load is remembered per distinct input, at most
    REMEMBERED_LOADS of them: for schemas of scalar fields that read nothing but their
    input (no settings, no database). A client polls a busy list with the same query string
    again and again, and marshmallow's load of it was a tenth of such a request
    (docs/throughput.md). Each caller gets its own copy; a malformed input is never kept,
    so it is refused every time, nor one over REMEMBERED_CHARS (a valid ``page`` may be
    padded with zeros up to the request line's limit)."""

    def load(self, data, *, partial=None, unknown=None):
        items = tuple((name, tuple(value) if isinstance(value, list) else value)
                      for name, value in data.items())
        if sum(len(name) + len(str(value)) for name, value in items) > REMEMBERED_CHARS:
            # valid yet long (page=000…1): parsed each time, never held
            return super().load(data, partial=partial, unknown=unknown)
        key = (items, partial, unknown)
        loads = self.__dict__.setdefault("_loads", {})
        loaded = loads.get(key)
        if loaded is None:
            loaded = super().load(data, partial=partial, unknown=unknown)
            if len(loads) >= REMEMBERED_LOADS:
                loads.clear()
            loads[key] = loaded
        return dict(loaded)


def page_of(schema_cls):
    """Build the response schema of a page: ``{items, page, per_page, total}``."""

    class Page(ma.Schema):
        items = fields.List(fields.Nested(schema_cls))
        page = fields.Integer()
        per_page = fields.Integer()
        total = fields.Integer()

    Page.__name__ = f"{schema_cls.__name__.removesuffix('Schema')}PageSchema"
    return Page


class Written(dict):
    """An answer a view already wrote as its schema's JSON (a busy read, built by
    hand-written queries): a ``Prepared`` schema sends it as it is."""


class Prepared:
    """A schema mixin for answers that may come ``Written``: those skip marshmallow's
    per-field work; the schema still documents them (OpenAPI), and the tests check each
    against it (tests/test_register.py)."""

    def dump(self, obj, *, many=None):
        if not many and isinstance(obj, Written):
            return dict(obj)
        return super().dump(obj, many=many)


def paginate(statement, args: Mapping, *, count=None, params: Mapping | None = None,
             windowed: bool = False, items: Callable[[list], list] = list,
             loads_objects: bool = False) -> dict:
    """``{items, page, per_page, total}``: the page of ``statement`` that PageArgs ``args``
    ask for; the one place that turns ``page`` and ``per_page`` into rows and a total.

    An ORM select is paged with LIMIT/OFFSET here and counted over itself. A hand-built one
    (the busy reads, built once per combination of filters) carries ``limit`` and
    ``offset`` bind parameters and comes with its ``count``, both run with ``params``;
    ``windowed`` ones carry the total on each row (a ``total`` window count), so that the
    count runs only past the last page; it runs on the request's connection, so that a busy
    read builds no ORM session (extensions.connection), unless it ``loads_objects`` (selects
    mapped classes, which the session loads). ``items`` turns the page's rows (entities, or rows
    of a hand-built select) into what the ``page_of`` schema dumps. Views do not call it:
    ``paginated_response`` does, with the select (or ``Paged``) they return; but the
    legacy contract's list (scans/legacy_routes.py), a bare list of the page's items.
    """
    page, per_page = args["page"], args["per_page"]
    bound = {**(params or {}), "limit": per_page, "offset": (page - 1) * per_page}
    if count is None:
        count = select(func.count()).select_from(statement.order_by(None).subquery())
        paged = statement.limit(bindparam("limit")).offset(bindparam("offset"))
        reader = db.session
        rows = reader.scalars(paged, bound).all()
    else:
        reader = db.session if loads_objects else connection()
        rows = reader.execute(statement, bound).all()
    if rows and windowed:
        total = rows[0].total
    elif not rows and page == 1:
        total = 0
    else:
        total = reader.scalar(count, params or {})
    return {"items": items(rows), "page": page, "per_page": per_page, "total": total}


def lock_row(model, id_) -> bool:
    """Hold ``model``'s row with this primary key until the transaction ends, on every
    backend: an UPDATE that changes nothing takes MySQL's row lock and SQLite's write lock
    (``SELECT … FOR UPDATE`` locks nothing on SQLite), so that a count or a check made after
    it cannot be raced. Read with ``with_for_update()`` after it: on MySQL a plain read may
    see the transaction's older snapshot. False: no such row."""
    columns = model.__table__.columns
    kept = {column.key: column for column in columns  # onupdate columns too: unchanged
            if column.primary_key or column.onupdate is not None}
    key = next(column for column in columns if column.primary_key)
    return db.session.execute(update(model.__table__).where(key == id_)
                              .values(kept)).rowcount == 1


def count_under_lock(model, id_: str, count) -> int:
    """``count`` (a ``SELECT count(*)``) once this transaction holds ``model``'s row ``id_``
    (lock_row): a cap's check and the insert it allows then run one request at a time per
    row, so that concurrent creates at the cap's edge stop exactly at the cap. The count is
    a locking read: on MySQL a plain one would read the transaction's older snapshot."""
    lock_row(model, id_)
    return db.session.scalar(count.with_for_update(read=True))


LIKE_ESCAPE = "/"


def like_escaped(value: str) -> str:
    """``value`` for ``column.contains(…, escape=LIKE_ESCAPE)``: its % and _ match themselves."""
    return (value.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%")
            .replace("_", LIKE_ESCAPE + "_"))


def query(schema, *, unknown=RAISE):
    """Validated query-string arguments; unknown or malformed ones are a 422."""
    return arguments(schema, error_status_code=422, unknown=unknown)


@dataclass(frozen=True, slots=True)
class Paged:
    """What a list view returns when its rows come from a hand-built select (the busy reads):
    the select and what ``paginate`` needs to run it (``count``, ``params``, ``windowed``).
    Its ``items`` (else the decorator's) turn the rows into what the schema dumps: the
    select's columns, or the caller they are read for, are the read's to know. ``wrap``
    makes the finished page the answer (the register's: Written, and kept by version)."""

    statement: Any
    count: Any = None
    params: Mapping | None = None
    windowed: bool = False
    items: Callable[[list], list] | None = None
    wrap: Callable[[dict], Any] | None = None
    loads_objects: bool = False  # selects mapped classes (paginate: run on the session)


def paginated_response(page_schema, args_schema=None, *, items: Callable[[list], list] = list):
    """A list view's paging, as microblog-api writes it: the query arguments
    (``args_schema``, a PageArgs with the view's filters), the page schema in the spec and
    the answer. The view returns the select of its rows, in order, or a ``Paged`` one;
    ``paginate`` pages it, and ``items`` turns the page's rows into what the schema dumps
    (one query a page for what the rows refer to, never one a row). A page the view kept
    from an earlier request (``Written``) is the answer as it is."""
    def decorator(view):
        @functools.wraps(view)
        def paged(args, *positional, **named):
            listed = view(args, *positional, **named)
            if isinstance(listed, Written):
                return listed
            if not isinstance(listed, Paged):
                return paginate(listed, args, items=items)
            page = paginate(listed.statement, args, count=listed.count, params=listed.params,
                            windowed=listed.windowed, items=listed.items or items,
                            loads_objects=listed.loads_objects)
            return page if listed.wrap is None else listed.wrap(page)

        return query(args_schema or PageArgs)(response(page_schema)(paged))

    return decorator


def not_found(what: str = "resource") -> APIError:
    """The same 404 for a missing id, a malformed one and another user's."""
    return APIError(404, f"No such {what}.")


def is_uuid(id_: str) -> bool:
    """A UUID in its canonical lower-case spelling, the only one ids are stored in (MySQL
    would match upper case too)."""
    try:
        return str(uuid.UUID(id_)) == id_
    except ValueError:
        return False


def get_or_404(model, id_: str, what: str):
    """The row with this UUID, else a 404: for a missing id, a malformed one, and any
    spelling but the canonical lower-case one."""
    row = db.session.get(model, id_) if is_uuid(id_) else None
    if row is None:
        raise not_found(what)
    return row


def segment_but(blueprint: Blueprint, name: str, *words: str) -> None:
    """Register the path converter ``name``: any one segment but ``words``, so that
    …/``word`` is one route, not also the resource's whose id it would be (and whose
    methods its Allow header would then list). Anything else, malformed ids included,
    still reaches the view, which answers with the same 404 as a missing one."""
    but = "|".join(re.escape(word) for word in words)
    converter = type(f"SegmentBut{words[0].title()}", (BaseConverter,),
                     {"regex": rf"(?!(?:{but})/?$)[^/]+"})
    blueprint.record_once(lambda state: state.app.url_map.converters.setdefault(name,
                                                                                converter))
