"""What a restored row may hold beyond its kind: an archive is data from outside once it has
left the server, so each value is held against the schema and the model's own rules before
anything is written.

- a column's kind must be its schema's (a ``created_at`` declared a string is refused, not
  restored to fail every login after);
- an integer fits the database's 64 bits, a number is finite, a string fits its column;
- the values the service acts on, not just shows, are the ones it would write itself: a role
  one of its roles, a stored original's name one the uploads folder writes (a name is a path:
  ``/etc/passwd`` would be served to the scan's owner).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from sqlalchemy import MetaData, types

from service.backup.rows import RowError, kind_of
from service.db import PROJECT_ROLES, ROLES
from service.uploads.storage import is_stored_name

#: The range of a 64-bit signed integer, every engine's BIGINT.
INT_MIN, INT_MAX = -(1 << 63), (1 << 63) - 1


def _one_of(allowed: tuple[str, ...]) -> Callable[[object], bool]:
    return lambda value: value in allowed


#: (table, column): what the service would write there itself.
VALUES: dict[tuple[str, str], tuple[Callable[[object], bool], str]] = {
    ("users", "role"): (_one_of(ROLES), f"a role other than {', '.join(ROLES)}"),
    ("project_members", "role"): (_one_of(PROJECT_ROLES), "a project role other than "
                                  + ", ".join(PROJECT_ROLES)),
    ("invitations", "role"): (_one_of(PROJECT_ROLES), "a project role other than "
                              + ", ".join(PROJECT_ROLES)),
    ("scans", "stored_filename"): (is_stored_name, ("a stored file's name that is not "
                                   "original.<kind> (a path out of the uploads folder)")),
}


def check_kinds(table: str, columns: list[tuple[str, str]], schema: MetaData) -> None:
    """Refuse a column whose kind in the archive is not its kind in ``schema``."""
    known = schema.tables.get(table)
    if known is None:
        return  # check_tables names the unknown table
    for name, kind in columns:
        column = known.columns.get(name)
        if column is None:
            continue
        try:
            expected = kind_of(column.type)
        except ValueError:  # a reflected type of an older schema this code cannot name
            continue
        if kind != expected and not (expected == "str" and kind == "json"):
            raise RowError(f"{table}.{name} is declared {kind}, but its schema holds a "
                           f"{expected}")


def check_row(table: str, row: dict, schema: MetaData) -> None:
    """Refuse a row whose value the database or the service would not hold as it is."""
    known = schema.tables.get(table)
    for name, value in row.items():
        if value is None:
            continue
        if isinstance(value, int) and not isinstance(value, bool) and not (
                INT_MIN <= value <= INT_MAX):
            raise RowError(f"{table}.{name}: {str(value)[:24]} does not fit in 64 bits")
        if isinstance(value, float) and not math.isfinite(value):
            raise RowError(f"{table}.{name}: {value} is not a finite number")
        if known is not None and isinstance(value, str) and name in known.columns:
            length = getattr(known.columns[name].type, "length", None)
            if (isinstance(known.columns[name].type, types.String) and length
                    and len(value) > length):
                raise RowError(f"{table}.{name}: longer than its column's {length} "
                               "characters")
        rule = VALUES.get((table, name))
        if rule is not None and not rule[0](value):
            raise RowError(f"{table}.{name}: {rule[1]}: {str(value)[:40]!r}")
