"""Backup and restore of a whole deployment: ``flask --app service backup FILE`` and
``flask --app service restore FILE`` (service/cli.py; docs/backup.md).

One archive holds what a deployment cannot get back from its settings and its image: the
database's rows (every table, read at one instant while the service writes: dump.py), the
uploads folder (folders.py), and the models root's versions and pointers (the deployment's
active version and its history are rows). A manifest names all of it, with a sha256 of
each member (manifest.py, archive.py). The settings, and so the secrets among them
(SECRET_KEY, the LLM key, the SSO secrets), stay out.

A restore reads the archive through once and checks everything before it writes anything;
then it fills an empty database of either engine (load.py) and moves the files into place
once the rows are committed. Whatever fails once it has begun to write is taken back (the
rows, the schema it built, the files and folders it placed): the target is as it was.
Read top to bottom: ``backup`` and ``restore``.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from service.backup import archive, folders, load, rows
from service.backup.dump import Snapshot, TableRows, snapshot
from service.backup.manifest import (
    DB,
    MODELS,
    UPLOADS,
    ArchiveRefused,
    Manifest,
    Models,
    TableEntry,
)
from service.config import PROJECT_ROOT, Settings
from service.extensions import db
from service.serving.registry import root as models_root

__all__ = ["ArchiveRefused", "BackupFailed", "backup", "restore"]


#: The rows a first reading lets through for a server's database (MySQL, MariaDB), whose
#: room the restore cannot see from here.
SERVER_ROWS = 1 << 40


class BackupFailed(Exception):
    """A backup that could not be made, in one line; no archive was left behind."""


def backup(settings: Settings, path: Path) -> str:
    """Write the deployment's archive to ``path`` (a new file); the line that says what
    it holds."""
    path = Path(path)
    if os.path.lexists(path):
        raise BackupFailed(f"{path} exists: a backup never overwrites a file")
    if not path.parent.is_dir():
        raise BackupFailed(f"{path.parent}: no such folder")
    uploads = folders.UploadLinks(Path(settings.UPLOAD_DIR))
    root = models_root(settings)
    with archive.ArchiveWriter(path) as written, tempfile.TemporaryDirectory(
            prefix=".riskscan-backup-", dir=path.parent) as work:
        try:
            uploads.take()  # before the snapshot: files whose rows go while it is read
            try:
                with snapshot(db.engine, Path(work)) as database:
                    tables = [_table(written, database, found, Path(work))
                              for found in database.tables]
                    revision, engine = database.revision, database.connection.dialect.name
            except (LookupError, ValueError) as error:  # no schema; a column of no kind
                raise BackupFailed(str(error)) from None
            uploads.take()  # after it: files whose rows it holds that came since
            files = [written.add_file(UPLOADS + name, file) for name, file in uploads.files()]
        finally:
            uploads.remove()
        versions = folders.model_versions(root)
        for version in versions:
            for name, file in folders.regular_files(root / version):
                written.add_file(f"{MODELS}{version}/{name}", file)
        manifest = Manifest(
            riskscan_version(), revision, datetime.now(UTC).isoformat(timespec="seconds"),
            engine, tables, len(files),
            Models(versions, folders.pointer(root, "current", versions),
                   folders.pointer(root, "reader", versions),
                   {version: (root / version).lstat().st_mtime_ns for version in versions}),
            [])
        written.finish(manifest)
    return (f"wrote {path}: {manifest.total_rows:,} rows of {len(tables)} tables, "
            f"{_counted(len(files), 'uploaded file')}, {_counted(len(versions), 'model version')} "
            f"(schema {revision}, {path.stat().st_size:,} bytes)")


def _table(written: archive.ArchiveWriter, database: Snapshot, found: TableRows,
           work: Path) -> TableEntry:
    """One table's file, written aside (its size and digest are known once it is whole),
    then into the archive."""
    aside = work / f"{found.name}.jsonl"
    count = 0
    with open(aside, "wb") as file:
        file.write(rows.header(found.name, found.columns))
        for row in database.rows(found):
            file.write(rows.row_line(found.columns, row))
            count += 1
    written.add_file(f"{DB}{found.name}.jsonl", aside)
    aside.unlink()
    return TableEntry(found.name, count, found.last_id)


def restore(settings: Settings, path: Path) -> str:
    """Restore the archive at ``path`` into the database, uploads folder and models root
    the settings name; the line that says what was restored. ArchiveRefused (one line)
    before anything is written when the archive or the target will not do."""
    path, engine = Path(path), db.engine
    uploads, root = Path(settings.UPLOAD_DIR), models_root(settings)
    database = _database_folder(engine)
    places = [uploads, *([root] if root is not None else []), Path(tempfile.gettempdir()),
              *([database] if database is not None else [])]
    # What a first reading may unpack at most: the room here, and a server's database's.
    budget = folders.free_bytes(*places) + (SERVER_ROWS if database is None else 0)
    manifest = archive.check(path, budget)
    script = load.migrations()
    older = load.is_older(manifest.schema_revision, script)
    target_revision = load.check_target(engine, script)
    if not older:
        load.check_tables(manifest.tables, db.metadata)
    folders.check_uploads(manifest, uploads)
    versions = folders.models_to_write(manifest, root)
    _fits(manifest, uploads, root, versions, database)

    placed = folders.Placed()
    staged_uploads = folders.Staged(uploads, placed)
    staged_models = folders.Staged(root, placed) if root is not None else None
    try:
        if target_revision not in script.get_heads():
            _build_schema()
        if older:
            _through_scratch(path, manifest, engine, staged_uploads, staged_models, versions)
        else:
            with engine.begin() as connection:
                _unpack(path, manifest, lambda entry, lines: load.insert(
                    connection, entry, rows.read(lines)[2]), staged_uploads, staged_models,
                    versions)
                if connection.dialect.name == "sqlite":
                    load.move_sequences(connection, manifest.tables, db.metadata)
            if engine.dialect.name != "sqlite":
                with engine.begin() as connection:
                    load.move_sequences(connection, manifest.tables, db.metadata)
        files = staged_uploads.commit_uploads()
        if staged_models is not None:
            staged_models.commit_versions(versions, manifest.models.created)
            folders.set_pointers(root, manifest, placed)
    except BaseException as error:  # the target as it was: docs/backup.md promises it
        _take_back(engine, target_revision is None, staged_uploads, staged_models, placed)
        if isinstance(error, OSError):  # the restore's own writing failed: one line
            raise ArchiveRefused(f"{_failed(error)}: the restore stopped, and what it had "
                                 "written was taken back (the database, uploads folder and "
                                 "models root are as they were)") from None
        raise
    finally:
        staged_uploads.discard()
        if staged_models is not None:
            staged_models.discard()
    migrated = f", migrated from schema {manifest.schema_revision}" if older else ""
    return (f"restored {manifest.total_rows:,} rows of {len(manifest.tables)} tables, "
            f"{_counted(files, 'uploaded file')} and "
            f"{_counted(len(manifest.models.versions), 'model version')} from a "
            f"backup of {manifest.created_at} (Riskscan {manifest.riskscan_version}, "
            f"{manifest.engine}){migrated}")


def _take_back(engine, built: bool, staged_uploads: folders.Staged,
               staged_models: folders.Staged | None, placed: folders.Placed) -> None:
    """A restore that failed once it had begun to write: the target as it was before it
    (load.take_back, folders.Placed.undo)."""
    db.session.remove()
    staged_uploads.discard()
    if staged_models is not None:
        staged_models.discard()
    placed.undo()
    try:
        load.take_back(engine, built)
    except Exception as error:  # noqa: BLE001 - said in the one line instead
        raise ArchiveRefused(f"the restore failed, and taking its rows back failed too "
                             f"({type(error).__name__}): empty the database by hand (or make "
                             "it anew) before restoring again") from None


def _failed(error: OSError) -> str:
    reason = error.strerror or str(error) or type(error).__name__
    return f"{error.filename}: {reason}" if error.filename else reason


def _build_schema() -> None:
    """The schema of the empty target database, built (or carried) to today's."""
    from flask_migrate import upgrade

    upgrade()
    db.session.remove()


def _unpack(path: Path, manifest: Manifest, insert, staged_uploads: folders.Staged,
            staged_models: folders.Staged | None, versions: list[str]) -> None:
    """The archive's second reading: each table's rows to ``insert``, each upload and each
    file of a version the models root lacks to its staging folder."""
    entries = {entry.member: entry for entry in manifest.tables}
    for name, stream, mtime in archive.members(path, manifest):
        if name.startswith(DB):
            try:
                insert(entries[name], stream)
            except rows.RowError:  # it read well the first time
                raise ArchiveRefused("the archive changed while it was being restored: "
                                     "nothing was restored") from None
        elif name.startswith(UPLOADS):
            staged_uploads.write(name.removeprefix(UPLOADS), stream, mtime)
        elif name.split("/")[1] in versions:
            staged_models.write(name.removeprefix(MODELS), stream, mtime)


def _through_scratch(path: Path, manifest: Manifest, engine, staged_uploads, staged_models,
                     versions: list[str]) -> None:
    """An older archive: its rows into a database of the restore's own at their revision,
    carried to today's by the migrations, then into the target."""
    with tempfile.TemporaryDirectory(prefix="riskscan-restore-") as work:
        scratch = load.Scratch(Path(work), manifest.schema_revision)
        try:
            load.check_tables(manifest.tables, scratch.schema)
            with scratch.engine.begin() as connection:
                _unpack(path, manifest, lambda entry, lines: load.insert(
                    connection, entry, rows.read(lines)[2]), staged_uploads, staged_models,
                    versions)
            scratch.upgrade()
            with engine.begin() as target, scratch.engine.connect() as source:
                carried, entries = Snapshot(source, {}), []
                for found in carried.tables:
                    last = next((t.last_id for t in manifest.tables if t.name == found.name),
                                None)
                    entry = TableEntry(found.name, 0, last, found.columns)
                    names = [name for name, _ in found.columns]
                    load.insert(target, entry, (dict(zip(names, row, strict=True))
                                                for row in carried.rows(found)))
                    entries.append(entry)
                if target.dialect.name == "sqlite":
                    load.move_sequences(target, entries, db.metadata)
            if engine.dialect.name != "sqlite":
                with engine.begin() as target:
                    load.move_sequences(target, entries, db.metadata)
        finally:
            scratch.close()


def _database_folder(engine) -> Path | None:
    """Where a SQLite database's file is; None for a server's database."""
    if engine.dialect.name != "sqlite":
        return None
    return Path(engine.url.database).resolve().parent if engine.url.database else Path.cwd()


def _fits(manifest: Manifest, uploads: Path, root: Path | None, versions: list[str],
          database: Path | None) -> None:
    """Refuse an archive whose files (and, on SQLite, rows) would not fit where they go."""
    needs: dict[int, tuple[Path, int]] = {}
    wanted = [(uploads, manifest.bytes_under(UPLOADS))]
    if database is not None:
        wanted.append((database, manifest.bytes_under(DB)))
    if root is not None:
        wanted += [(root, manifest.bytes_under(f"{MODELS}{version}/")) for version in versions]
    for folder, size in wanted:
        device = _device(folder)
        place, total = needs.get(device, (folder, 0))
        needs[device] = (place, total + size)
    for place, total in needs.values():
        free = folders.free_bytes(place)
        if total > free:
            raise ArchiveRefused(f"the archive's files need {total:,} bytes where {place} is; "
                                 f"{free:,} are free: oversized")


def _device(folder: Path) -> int:
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return os.stat(existing).st_dev


def _counted(count: int, thing: str) -> str:
    return f"{count:,} {thing}{'' if count == 1 else 's'}"


def riskscan_version() -> str:
    """This Riskscan's version: the installed package's, else pyproject.toml's."""
    from importlib import metadata

    try:
        return metadata.version("riskscan")
    except metadata.PackageNotFoundError:
        pass
    try:
        import tomllib

        with open(PROJECT_ROOT / "pyproject.toml", "rb") as file:
            return str(tomllib.load(file)["project"]["version"])
    except (OSError, KeyError, ValueError):
        return "unknown"
