"""The database side of a restore: which schema an archive's rows belong to, whether the
target may take them, and putting them in.

The target must be empty: no row in any table (a schema the migrations built, as the
images' entrypoint builds it at start, is empty). Rows go in table by table, parents before
children, through SQLAlchemy Core in one transaction, on SQLite as on MySQL and MariaDB;
each id as it was. Then every table that numbers its rows has its sequence moved past the
last id the backup's database had given (SQLite's sqlite_sequence, InnoDB's
AUTO_INCREMENT), so that an id deleted before the backup is not given again after it.

An archive of today's schema revision goes straight into the target, built by the
migrations where it has no schema yet. An older one goes first into a database of the
restore's own (SQLite, in a temporary folder) that the migrations build to the archive's
revision; the migrations then carry it to today's, as they would carry the deployment's own
database, and it is copied into the target from there. An archive of a revision this
Riskscan does not know (a newer one) is refused.

A restore that fails once it has written (``take_back``) leaves the database as it found
it: the schema it built dropped again, or the empty schema it found emptied again.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from flask import Flask, current_app
from flask_migrate import upgrade
from sqlalchemy import (
    Engine,
    MetaData,
    column,
    event,
    func,
    inspect,
    literal,
    select,
    table,
    text,
)
from sqlalchemy.engine import Connection

from service.backup import rules
from service.backup.dump import ALEMBIC
from service.backup.manifest import ArchiveRefused, TableEntry
from service.backup.rows import RowError, table_of
from service.extensions import db, migrate

#: Rows sent to the database in one statement.
BATCH = 500


def migrations() -> ScriptDirectory:
    """The migrations of db/versions/, as the app's Flask-Migrate knows them."""
    return ScriptDirectory(current_app.extensions["migrate"].directory)


def is_older(revision: str, script: ScriptDirectory) -> bool:
    """Whether ``revision`` (an archive's) is older than today's head (False: it is the
    head); refused when this Riskscan's migrations do not know it."""
    if revision in script.get_heads():
        return False
    try:
        known = script.get_revision(revision) is not None
    except CommandError:
        known = False
    if not known:
        raise ArchiveRefused(f"the archive's schema revision {revision} is not one this "
                             "Riskscan knows: it comes from a newer Riskscan; upgrade this "
                             "one first")
    return True


def check_target(engine: Engine, script: ScriptDirectory) -> str | None:
    """The target database's revision (None: no schema yet); refused when it holds a row,
    or a schema this Riskscan does not know."""
    with engine.connect() as connection:
        names = [name for name in inspect(connection).get_table_names() if name != ALEMBIC]
        full = [name for name in names if connection.execute(
            select(literal(1)).select_from(table(name)).limit(1)).first() is not None]
        revision = None
        if inspect(connection).has_table(ALEMBIC):
            revision = connection.execute(text(f"SELECT version_num FROM {ALEMBIC}")).scalar()
    if full:
        shown = ", ".join(sorted(full)[:5]) + (", …" if len(full) > 5 else "")
        raise ArchiveRefused(f"the database is not empty ({shown} hold rows): a restore "
                             "goes into an empty database only; nothing was written")
    if revision is None and names:
        raise ArchiveRefused("the database has tables but no schema revision: restore into "
                             "an empty database")
    if revision is not None:
        try:
            script.get_revision(revision)
        except CommandError:
            raise ArchiveRefused(f"the database's schema revision {revision} is newer than "
                                 "this Riskscan's") from None
    return revision


def check_tables(tables: list[TableEntry], schema: MetaData) -> None:
    """Refuse unless each table of the archive is one of ``schema``'s with the same columns,
    and comes after the tables its foreign keys name (its rows go in after theirs)."""
    before: set[str] = set()
    for entry in tables:
        known = schema.tables.get(entry.name)
        if known is None:
            raise ArchiveRefused(f"the archive holds a table {entry.name} that its schema "
                                 "revision has not")
        columns = {name for name, _ in entry.columns}
        if columns != {column.name for column in known.columns}:
            raise ArchiveRefused(f"the archive's {entry.name} has other columns than its "
                                 "schema revision's")
        try:
            rules.check_kinds(entry.name, entry.columns, schema)
        except RowError as error:
            raise ArchiveRefused(f"{entry.member}: {error}") from None
        for key in known.foreign_keys:
            parent = key.column.table.name
            if parent != entry.name and parent not in before:
                raise ArchiveRefused(f"the archive holds {entry.name} before {parent}, whose "
                                     "rows its rows name")
        before.add(entry.name)


def insert(connection: Connection, entry: TableEntry, rows: Iterable[dict]) -> int:
    """The rows of ``entry``'s table, in batches; how many."""
    statement = table_of(entry.name, entry.columns).insert()
    count, pending = 0, []
    for row in rows:
        pending.append(row)
        if len(pending) == BATCH:
            connection.execute(statement, pending)
            count, pending = count + len(pending), []
    if pending:
        connection.execute(statement, pending)
        count += len(pending)
    return count


def numbered(schema: MetaData) -> dict[str, str]:
    """The tables whose ids the database numbers: {table: its id column}."""
    return {name: found.autoincrement_column.name for name, found in schema.tables.items()
            if found.autoincrement_column is not None}


def move_sequences(connection: Connection, tables: list[TableEntry], schema: MetaData) -> None:
    """Each numbering table's sequence past the last id the backup's database gave and the
    highest id restored. SQLite: in the rows' transaction. MySQL/MariaDB: ALTER TABLE
    commits, so call it after the rows are committed."""
    columns = numbered(schema)
    sqlite = connection.dialect.name == "sqlite"
    quote = connection.dialect.identifier_preparer.quote
    for entry in tables:
        if entry.name not in columns:
            continue
        key = column(columns[entry.name])
        highest = connection.execute(select(func.max(key)).select_from(table(entry.name, key))
                                     ).scalar() or 0
        last = max(entry.last_id or 0, int(highest))
        if last == 0:
            continue
        if sqlite:
            connection.execute(text("DELETE FROM sqlite_sequence WHERE name = :name"),
                               {"name": entry.name})
            connection.execute(text("INSERT INTO sqlite_sequence (name, seq) VALUES "
                                    "(:name, :seq)"), {"name": entry.name, "seq": last})
        else:
            connection.exec_driver_sql(f"ALTER TABLE {quote(entry.name)} "
                                       f"AUTO_INCREMENT = {int(last) + 1}")


def take_back(engine: Engine, built: bool) -> None:
    """The target as the restore found it: every table dropped where the restore built the
    schema (``built``: it had none), else every table's rows deleted (it was empty)."""
    schema = _reflected(engine)
    with engine.begin() as connection:
        for found in reversed(schema.sorted_tables):  # children before their parents
            if found.name != ALEMBIC:
                connection.execute(found.delete())
    if built:
        with engine.begin() as connection:
            schema.drop_all(connection)


class Scratch:
    """A SQLite database of the restore's own in ``folder``, built by the migrations to
    ``revision`` (an older archive's), and carried to today's by ``upgrade``."""

    def __init__(self, folder: Path, revision: str):
        self.app = Flask("riskscan.restore")
        self.app.config.update(
            SQLALCHEMY_DATABASE_URI=f"sqlite:///{Path(folder) / 'restore.sqlite'}",
            SQLALCHEMY_ENGINE_OPTIONS={"hide_parameters": True})
        db.init_app(self.app)
        migrate.init_app(self.app, db, directory=current_app.extensions["migrate"].directory)
        with self.app.app_context():
            self.engine = db.engine
            event.listen(self.engine, "connect", _foreign_keys_on)
            upgrade(revision=revision)
            self.schema = _reflected(self.engine)

    def upgrade(self) -> None:
        with self.app.app_context():
            upgrade()
            db.session.remove()

    def close(self) -> None:
        self.engine.dispose()


def _foreign_keys_on(connection, _record) -> None:
    """As the service's own SQLite connections (service/__init__.py): the migrations were
    written for foreign keys that hold."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _reflected(engine: Engine) -> MetaData:
    schema = MetaData()
    schema.reflect(bind=engine)
    return schema
