"""The column types and defaults every table uses: aware UTC datetimes, string ids, and
integer keys that autoincrement on SQLite as on MariaDB. The migrations in db/versions/
import their column types from service.db, which re-exports these."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from sqlalchemy import BigInteger, Integer, types
from sqlalchemy.dialects import mysql


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


def today() -> date:
    """The day in UTC: a report's date when its upload names none."""
    return utcnow().date()


class UTCDateTime(types.TypeDecorator):
    """Aware UTC datetimes in Python, naive UTC in the database (MySQL DATETIME has no zone)."""

    impl = types.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name in ("mysql", "mariadb"):
            # Microseconds, so that "newest first" does not tie within a second.
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(types.DateTime())

    def process_bind_param(self, value, dialect):
        if value is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None:
            value = value.replace(tzinfo=UTC)
        return value


# Integer primary keys that autoincrement on SQLite (which only does so for INTEGER).
BigId = BigInteger().with_variant(Integer, "sqlite")
