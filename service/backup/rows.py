"""A table's rows in a backup, the same whichever engine wrote or reads them.

A table is one file of lines: the first an object naming the table and its columns, each
with its kind, then one JSON array a row, its values in the columns' order. A kind says how
a value is written, so that SQLite's and MariaDB's own forms never reach the archive:
identifiers and counts as JSON integers (of any size), timestamps as ISO 8601 in UTC with
their offset, dates as ISO days, bytes in base64, and a JSON column as the JSON text the
database holds (so that SQL NULL and JSON ``null`` stay apart).

The kind comes from the column's type in service.db where the table is one of today's,
else from the type the database reports (an older schema's column). Reading a line checks
it: a value that is not of its column's kind refuses the archive (RowError).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from typing import IO, Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    LargeBinary,
    MetaData,
    Table,
    Text,
    types,
)

from service.db.columns import UTCDateTime

KINDS = ("int", "float", "bool", "str", "datetime", "date", "json", "bytes")

#: The type a value of each kind is read and written with, on either engine. JSON is its
#: text: the database's own, never parsed and dumped again.
TYPES = {
    "int": BigInteger, "float": Float, "bool": lambda: Boolean(create_constraint=False),
    "str": Text, "datetime": UTCDateTime, "date": Date, "json": Text, "bytes": LargeBinary,
}

#: A table's or a column's name: what SQL may name without quoting tricks.
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
#: The longest line read (one row): a scan's text is at most MAX_DOCUMENT_CHARS, a stored
#: answer a few megabytes.
LINE_LIMIT = 64 << 20


class RowError(ValueError):
    """A line of a table's file that is not a row of its columns."""


def kind_of(column_type: types.TypeEngine) -> str:
    """The kind of a column of this type; ValueError for a type no table uses yet."""
    kind = column_type
    if isinstance(kind, types.TypeDecorator):
        if isinstance(kind, UTCDateTime):
            return "datetime"
        kind = kind.impl_instance
    for family, name in ((types.JSON, "json"), (types._Binary, "bytes"),
                         (types.Boolean, "bool"), (types.DateTime, "datetime"),
                         (types.Date, "date"), (types.Integer, "int"), (types.Float, "float"),
                         (types.Numeric, "float"), (types.String, "str")):
        if isinstance(kind, family):
            return name
    raise ValueError(f"a column of type {column_type!r} has no kind in a backup yet "
                     "(service/backup/rows.py)")


def table_of(name: str, columns: Iterable[tuple[str, str]]) -> Table:
    """A table to read or insert ``columns`` through, each with its kind's type."""
    return Table(name, MetaData(), *(Column(column, TYPES[kind]()) for column, kind in columns))


def encode(kind: str, value: Any) -> Any:
    """A value as the database gave it, written for the archive."""
    if value is None:
        return None
    if kind == "datetime":
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat()
    if kind == "date":
        return value.isoformat()
    if kind == "bytes":
        return base64.b64encode(value).decode("ascii")
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool":
        return bool(value)
    return value  # str, json (its text)


def decode(kind: str, value: Any) -> Any:
    """An archive's value as the database is given it; RowError when it is not one."""
    if value is None:
        return None
    try:
        return _DECODERS[kind](value)
    except (TypeError, ValueError, binascii.Error) as error:
        raise RowError(f"not a {kind}: {str(value)[:40]!r} ({error})") from None


def _int(value):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("expected an integer")
    return value


def _float(value):
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError("expected a number")
    return float(value)


def _of(kind: type):
    def check(value):
        if not isinstance(value, kind):
            raise TypeError(f"expected {kind.__name__}")
        return value
    return check


def _datetime(value):
    moment = datetime.fromisoformat(_of(str)(value))
    if moment.tzinfo is None:
        raise ValueError("a timestamp without its offset")
    return moment.astimezone(UTC)


def _json_text(value):
    try:
        json.loads(_of(str)(value))  # a JSON column's text must be JSON
    except RecursionError:
        raise ValueError("nested past all sense") from None
    return value


_DECODERS = {
    "int": _int, "float": _float, "bool": _of(bool), "str": _of(str),
    "datetime": _datetime, "date": lambda value: date.fromisoformat(_of(str)(value)),
    "json": _json_text, "bytes": lambda value: base64.b64decode(_of(str)(value), validate=True),
}


def header(table: str, columns: list[tuple[str, str]]) -> bytes:
    """The first line of a table's file."""
    return _line({"table": table, "columns": [list(column) for column in columns]})


def row_line(columns: list[tuple[str, str]], row) -> bytes:
    """One row (a sequence in the columns' order) as its line."""
    return _line([encode(kind, value) for (_, kind), value in zip(columns, row, strict=True)])


def _line(value) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def read(stream: IO[bytes]) -> tuple[str, list[tuple[str, str]], Iterator[dict]]:
    """A table's file: (its table, its columns, its rows as dicts of decoded values). The
    rows are read as the iterator is; a line that is not a row raises RowError."""
    first = _json(_next_line(stream) or b"null", 1)
    if (not isinstance(first, dict) or set(first) != {"table", "columns"}
            or not isinstance(first["table"], str) or not NAME.fullmatch(first["table"])
            or not isinstance(first["columns"], list) or not first["columns"]):
        raise RowError("the first line does not name a table and its columns")
    columns = []
    for column in first["columns"]:
        if (not isinstance(column, list) or len(column) != 2
                or not isinstance(column[0], str) or not NAME.fullmatch(column[0])
                or column[1] not in KINDS):
            raise RowError(f"not a column and its kind: {str(column)[:60]}")
        columns.append((column[0], column[1]))
    if len({name for name, _ in columns}) != len(columns):
        raise RowError("a column named twice")
    return first["table"], columns, _rows(stream, columns)


def _rows(stream: IO[bytes], columns: list[tuple[str, str]]) -> Iterator[dict]:
    number = 1
    while line := _next_line(stream):
        number += 1
        values = _json(line, number)
        if not isinstance(values, list) or len(values) != len(columns):
            raise RowError(f"line {number} is not a row of {len(columns)} values")
        try:
            yield {name: decode(kind, value) for (name, kind), value in zip(columns, values)}
        except RowError as error:
            raise RowError(f"line {number}: {error}") from None


def _json(line: bytes, number: int):
    try:
        return json.loads(line)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past all sense
        raise RowError(f"line {number} is not JSON") from None


def _next_line(stream: IO[bytes]) -> bytes:
    line = stream.readline(LINE_LIMIT + 1)
    if len(line) > LINE_LIMIT:
        raise RowError(f"a line longer than {LINE_LIMIT >> 20} MiB")
    if line and not line.endswith(b"\n"):
        raise RowError("the last line is cut short")
    return line
