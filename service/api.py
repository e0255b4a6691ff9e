"""What every resource module uses: JSON bodies, pagination, ownership lookups.

The decorators wrap APIFairy's, so that the OpenAPI spec is generated from the same
schemas that validate requests and shape responses.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from functools import wraps

from apifairy import arguments, body
from flask import current_app, request
from marshmallow import RAISE, fields, validate
from sqlalchemy import bindparam, func, select, update

from service.errors import APIError
from service.extensions import db, ma

MAX_PER_PAGE = 100
MAX_PAGE = 2**31 - 1


def json_body(schema, *, max_kb: int | None = None):
    """Parse and validate a JSON body with ``schema``.

    Another content type is 415, a body over the limit 413, malformed JSON 400, and wrong
    or unknown fields 422 (the fields are named in ``errors``).
    """

    def decorator(view):
        validated = body(schema, error_status_code=422)(view)

        @wraps(validated)
        def wrapper(*args, **kwargs):
            limit_kb = max_kb or current_app.config["SETTINGS"].MAX_JSON_KB
            request.max_content_length = limit_kb * 1024
            if not request.is_json:
                raise APIError(415, "This endpoint takes application/json.")
            return validated(*args, **kwargs)

        return wrapper

    return decorator


class StrictBoolean(fields.Boolean):
    """A JSON ``true`` or ``false`` and nothing else: what the spec's ``boolean`` promises.

    marshmallow's Boolean also takes 0, 1, "yes", "on"…, which a client reading the spec
    would not expect to be accepted (schemathesis: schema-violating request accepted).
    """

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class PageArgs(ma.Schema):
    # Bounded, so that the offset (page - 1) * per_page fits the database's integers: an
    # unbounded page was a 500 (OverflowError on SQLite, found by schemathesis).
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(
        load_default=20,
        validate=validate.Range(min=1, max=MAX_PER_PAGE),
        metadata={"description": f"at most {MAX_PER_PAGE}; more is a 422"},
    )


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
             windowed: bool = False, items: Callable[[list], list] = list) -> dict:
    """``{items, page, per_page, total}``: the page of ``statement`` that PageArgs ``args``
    ask for; the one place that turns ``page`` and ``per_page`` into rows and a total.

    An ORM select is paged with LIMIT/OFFSET here and counted over itself. A hand-built one
    (the busy reads, built once per combination of filters) carries ``limit`` and
    ``offset`` bind parameters and comes with its ``count``, both run with ``params``;
    ``windowed`` ones carry the total on each row (a ``total`` window count), so that the
    count runs only past the last page. ``items`` turns the page's rows (entities, or rows
    of a hand-built select) into what the ``page_of`` schema dumps.
    """
    page, per_page = args["page"], args["per_page"]
    bound = {**(params or {}), "limit": per_page, "offset": (page - 1) * per_page}
    if count is None:
        count = select(func.count()).select_from(statement.order_by(None).subquery())
        paged = statement.limit(bindparam("limit")).offset(bindparam("offset"))
        rows = db.session.scalars(paged, bound).all()
    else:
        rows = db.session.execute(statement, bound).all()
    if rows and windowed:
        total = rows[0].total
    elif not rows and page == 1:
        total = 0
    else:
        total = db.session.scalar(count, params or {})
    return {"items": items(rows), "page": page, "per_page": per_page, "total": total}


LIKE_ESCAPE = "/"


def like_escaped(value: str) -> str:
    """``value`` for ``column.contains(…, escape=LIKE_ESCAPE)``: its % and _ match themselves."""
    return (value.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%")
            .replace("_", LIKE_ESCAPE + "_"))


def query(schema, *, unknown=RAISE):
    """Validated query-string arguments; unknown or malformed ones are a 422."""
    return arguments(schema, error_status_code=422, unknown=unknown)


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
