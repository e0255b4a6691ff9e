"""The database read for a backup: every table's rows as they were at one instant, while
the service goes on writing.

SQLite: its online backup API copies the database, WAL and all, into a file of the
backup's own in one step (writers wait a moment at most, readers never); the rows are read
from that copy. MySQL and MariaDB: one REPEATABLE READ transaction started WITH CONSISTENT
SNAPSHOT, in which every table is read (InnoDB serves it from its undo log; nothing is
locked). Either way the rows agree with each other: a scan is in the backup with all of
its findings or not at all.

The tables are the database's own, reflected, so that a table a newer migration added is
in the backup without a word here, and a database an older Riskscan migrated is read as it
is (its revision goes into the manifest; restore migrates it forward). Each column's kind
comes from service.db where it knows the column (a JSON column on MariaDB is LONGTEXT to
the reflection), else from the reflected type (service/backup/rows.py).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, MetaData, create_engine, inspect, select, text
from sqlalchemy.engine import Connection

from service.backup.rows import kind_of, table_of
from service.extensions import db

#: Alembic's own table: its one row is the manifest's schema revision, not data.
ALEMBIC = "alembic_version"


@dataclass(frozen=True)
class TableRows:
    """One table of the snapshot: its columns with their kinds, the columns its rows are
    ordered by, and the last id its sequence gave (None: it numbers nothing)."""

    name: str
    columns: list[tuple[str, str]]
    key: list[str]
    last_id: int | None


class Snapshot:
    """The database at one instant, on one connection: its revision, its tables in the
    order their foreign keys need (a row's parent before it), and their rows."""

    def __init__(self, connection: Connection, sequences: dict[str, int]):
        self.connection = connection
        inspector = inspect(connection)
        if not inspector.has_table(ALEMBIC):
            raise LookupError("the database has no schema: there is nothing to back up")
        self.revision = connection.execute(text(f"SELECT version_num FROM {ALEMBIC}")).scalar()
        reflected = MetaData()
        reflected.reflect(bind=connection)
        self.tables = [self._table(table, sequences.get(table.name))
                       for table in reflected.sorted_tables if table.name != ALEMBIC]

    @staticmethod
    def _table(table, last_id: int | None) -> TableRows:
        known = db.metadata.tables.get(table.name)
        columns = []
        for column in table.columns:
            ours = known.columns.get(column.name) if known is not None else None
            columns.append((column.name, kind_of(ours.type if ours is not None else column.type)))
        key = [column.name for column in table.primary_key.columns] or [
            name for name, _ in columns]
        return TableRows(table.name, columns, key, last_id)

    def rows(self, table: TableRows) -> Iterator[tuple]:
        """The table's rows, ordered by its primary key, streamed from the server."""
        through = table_of(table.name, table.columns)
        query = select(*through.columns).order_by(*(through.columns[k] for k in table.key))
        result = self.connection.execution_options(stream_results=True,
                                                   max_row_buffer=500).execute(query)
        yield from result


@contextlib.contextmanager
def snapshot(engine: Engine, workdir: Path) -> Iterator[Snapshot]:
    """The database ``engine`` reaches, read at one instant (see the module docstring);
    ``workdir``: where SQLite's copy is made (removed at the end)."""
    if engine.dialect.name == "sqlite":
        with _sqlite_copy(engine, workdir) as connection:
            yield Snapshot(connection, _sqlite_sequences(connection))
        return
    with engine.connect().execution_options(isolation_level="REPEATABLE READ") as connection:
        if not connection.dialect.is_mariadb:
            # MySQL 8 caches information_schema's AUTO_INCREMENT for a day by default.
            connection.exec_driver_sql("SET SESSION information_schema_stats_expiry = 0")
        connection.exec_driver_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT")
        try:
            # Read after the snapshot began: a sequence only grows, so it covers its rows.
            yield Snapshot(connection, _mysql_sequences(connection))
        finally:
            connection.rollback()


@contextlib.contextmanager
def _sqlite_copy(engine: Engine, workdir: Path) -> Iterator[Connection]:
    copy = workdir / "database.sqlite"
    target = sqlite3.connect(copy)
    try:
        with engine.connect() as connection:
            connection.connection.driver_connection.backup(target)  # one step: pages=-1
    finally:
        target.close()
    reader = create_engine(f"sqlite:///{copy}")
    try:
        with reader.connect() as connection:
            yield connection
    finally:
        reader.dispose()


def _sqlite_sequences(connection: Connection) -> dict[str, int]:
    """sqlite_sequence: the last id each AUTOINCREMENT table gave (absent until its first)."""
    if not inspect(connection).has_table("sqlite_sequence"):
        return {}
    return {name: int(seq) for name, seq in connection.execute(
        text("SELECT name, seq FROM sqlite_sequence"))}


def _mysql_sequences(connection: Connection) -> dict[str, int]:
    """InnoDB's AUTO_INCREMENT, the id the next row gets: the last one given is one less."""
    found = connection.execute(text(
        "SELECT TABLE_NAME, AUTO_INCREMENT FROM information_schema.TABLES "
        "WHERE TABLE_SCHEMA = DATABASE() AND AUTO_INCREMENT IS NOT NULL"))
    return {name: int(following) - 1 for name, following in found}
