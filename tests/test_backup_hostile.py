"""Hostile archives and the commands' exit statuses (issue #76): a truncated, tampered,
path-traversing, linking, oversized or lying archive, or one from a newer schema, is
refused with one line and exit status 1, and nothing is written: the target database
keeps no table, and neither the uploads folder nor the models root is made.

The archives are a small deployment's real backup, rewritten member by member."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, inspect, select, table

from tests.backups import (
    SECRET_KEY,
    command_app,
    deployment_settings,
    populate_small,
    run,
    serve,
    stop,
)

LLM_KEY = "sk-backup-test-llm-key-never-archived"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    """A small deployment's archive (a user, a scan of an uploaded file, a model version
    of one file), as `flask backup` wrote it."""
    folder = tmp_path_factory.mktemp("small")
    models = folder / "models"
    (models / "v1").mkdir(parents=True)
    (models / "v1" / "config.json").write_text('{"id2label": {}}')
    (models / "current").write_text("v1\n")
    settings = deployment_settings(folder, f"sqlite:///{folder / 'riskscan.db'}", None,
                                   LLM_API_KEY=LLM_KEY, LLM_BASE_URL="http://127.0.0.1:9/v1")
    app = serve(settings, migrate=True)
    try:
        populate_small(app)
    finally:
        stop(app)
    backing = command_app(deployment_settings(folder, settings.DATABASE_URL, models))
    try:
        archive = folder / "small.tar.gz"
        result = run(backing, "backup", str(archive))
        assert result.exit_code == 0, result.output
    finally:
        stop(backing)
    return archive


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """An empty deployment to restore into, and its command app (one for every refusal:
    each leaves it empty)."""
    folder = tmp_path_factory.mktemp("target")
    settings = deployment_settings(folder, f"sqlite:///{folder / 'target.db'}",
                                   folder / "models")
    app = command_app(settings)
    yield app, settings
    stop(app)


def members(archive: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(archive) as tar:
        return [(info, tar.extractfile(info).read()) for info in tar.getmembers()]


def written(path: Path, entries, *, mode: str = "w") -> Path:
    with tarfile.open(path, mode, format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            info = _copy(info)
            if info.isreg():
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def _copy(info: tarfile.TarInfo) -> tarfile.TarInfo:
    copy = tarfile.TarInfo(info.name)
    for field in ("size", "mtime", "mode", "type", "linkname", "pax_headers"):
        setattr(copy, field, getattr(info, field))
    return copy


def with_manifest(entries, change) -> list:
    """The entries with their manifest (the last) changed by ``change(body)``."""
    *others, (info, raw) = entries
    body = json.loads(raw)
    change(body)
    return [*others, (info, json.dumps(body).encode())]


def edited(entries, name: str, change) -> list:
    """``name``'s bytes changed by ``change``, its size and sha256 left as the manifest says
    (``honest=True`` in the manifest as well: see ``reissued``)."""
    return [(info, change(data) if info.name == name else data) for info, data in entries]


def reissued(entries) -> list:
    """The manifest's sizes and digests made the members' again: a forger's archive."""
    import hashlib

    found = {info.name: data for info, data in entries[:-1]}

    def change(body):
        for member in body["members"]:
            data = found[member["name"]]
            member["size"], member["sha256"] = len(data), hashlib.sha256(data).hexdigest()
    return with_manifest(entries, change)


def extra(entries, info: tarfile.TarInfo, data: bytes = b"") -> list:
    """A member added before the manifest."""
    return [*entries[:-1], (info, data), entries[-1]]


def kind(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


def upload_of(entries) -> str:
    return next(info.name for info, _ in entries if info.name.startswith("uploads/"))


def huge(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.pax_headers = {"size": str(1 << 50)}  # a petabyte, declared
    return info


def column_set(entries, table: str, column: str, value, *, kind: str | None = None) -> list:
    """``table``'s ``column`` made ``value`` in every row (and declared ``kind``), the manifest
    reissued to agree: a forger's archive that only the rows' rules can refuse."""
    def change(data: bytes) -> bytes:
        first, *lines = data.decode().splitlines()
        header = json.loads(first)
        index = [name for name, _ in header["columns"]].index(column)
        if kind is not None:
            header["columns"][index][1] = kind
        rows = []
        for line in lines:
            row = json.loads(line)
            row[index] = value
            rows.append(json.dumps(row))
        return ("\n".join([json.dumps(header), *rows]) + "\n").encode()
    return reissued(edited(entries, f"db/{table}.jsonl", change))


CASES = {
    "a cut archive": ("truncated", lambda e, raw: raw[: len(raw) * 3 // 5]),
    "bytes that are no archive": ("truncated or damaged", lambda e, raw: os.urandom(4096)),
    "an empty file": ("truncated or damaged", lambda e, raw: b""),
    "a table's rows changed": ("tampered", lambda e, raw: edited(
        e, "db/users.jsonl", lambda data: data.replace(b"@example.com", b"@example.org"))),
    "an upload changed": ("tampered", lambda e, raw: edited(
        e, upload_of(e), lambda data: data.upper())),
    "a digest changed": ("tampered", lambda e, raw: with_manifest(
        e, lambda body: body["members"][0].update(sha256="0" * 64))),
    "a row count that lies": ("counts 2 rows in users", lambda e, raw: with_manifest(
        e, lambda body: next(t for t in body["tables"] if t["name"] == "users").update(rows=2))),
    "a member the manifest does not list": ("is not in the manifest", lambda e, raw: extra(
        e, tarfile.TarInfo("uploads/unlisted.txt"), b"x")),
    "a member the manifest lists, missing": ("lacks members", lambda e, raw: [
        entry for entry in e if not entry[0].name.startswith("uploads/")]),
    "a path out of the folders": ("not a path inside", lambda e, raw: extra(
        e, tarfile.TarInfo("uploads/../../../tmp/escaped"), b"x")),
    "an absolute path": ("not a path inside", lambda e, raw: extra(
        e, tarfile.TarInfo("/tmp/escaped"), b"x")),
    "a member outside the three folders": ("not a path inside", lambda e, raw: extra(
        e, tarfile.TarInfo("etc/riskscan.env"), b"x")),
    "a symbolic link": ("is a link", lambda e, raw: extra(
        e, kind("uploads/link", tarfile.SYMTYPE, "/etc/passwd"))),
    "a hard link": ("is a link", lambda e, raw: extra(
        e, kind("uploads/link", tarfile.LNKTYPE, "db/users.jsonl"))),
    "a device": ("is a device", lambda e, raw: extra(e, kind("uploads/zero", tarfile.CHRTYPE))),
    "a fifo": ("is a device", lambda e, raw: extra(e, kind("uploads/pipe", tarfile.FIFOTYPE))),
    "a folder": ("not a file", lambda e, raw: extra(e, kind("uploads/folder", tarfile.DIRTYPE))),
    "a petabyte member": ("oversized", lambda e, raw: extra(e, huge("uploads/huge"))),
    "a member twice": ("twice", lambda e, raw: extra(e, *e[0])),
    "no manifest": ("no manifest", lambda e, raw: e[:-1]),
    "a member after the manifest": ("after the manifest", lambda e, raw: [
        *e, (tarfile.TarInfo("uploads/late.txt"), b"x")]),
    "a newer schema": ("newer Riskscan", lambda e, raw: with_manifest(
        e, lambda body: body.update(schema_revision="ffffffffffff"))),
    "a row of the wrong kind": ("not a datetime", lambda e, raw: reissued(edited(
        e, "db/users.jsonl", lambda data: data.replace(b'+00:00"', b'+99:00"', 1)))),
    "a table's first line not JSON": ("line 1 is not JSON", lambda e, raw: reissued(edited(
        e, "db/users.jsonl", lambda data: b"{'table': users\n" + data.split(b"\n", 1)[1]))),
    "a row nested past all sense": ("line 3 is not JSON", lambda e, raw: reissued(edited(
        e, "db/users.jsonl", lambda data: data + b"[" * 100_000 + b"\n"))),
    "a table the schema lacks": ("table evil", lambda e, raw: unknown_table(e)),
    "a pointer to a version it lacks": ("points at", lambda e, raw: with_manifest(
        e, lambda body: body["models"].update(current="v9"))),
    "another format": ("not a Riskscan backup", lambda e, raw: with_manifest(
        e, lambda body: body.update(format_version=99))),
    # Issue #86: the engine is informative (a restore goes into either), yet printed.
    "an engine Riskscan never writes": ("engine is not one", lambda e, raw: with_manifest(
        e, lambda body: body.update(engine="oracle\x1b[2J"))),
    # Issue #86: a row is data, never a path, a role or a kind the schema does not hold.
    "a stored file that is /etc/passwd": ("not original.<kind>", lambda e, raw: column_set(
        e, "scans", "stored_filename", "/etc/passwd")),
    "a stored file out of its folder": ("not original.<kind>", lambda e, raw: column_set(
        e, "scans", "stored_filename", "../../../../etc/passwd")),
    "a role the service has not": ("a role other than", lambda e, raw: column_set(
        e, "users", "role", "superuser")),
    "a timestamp declared a string": ("declared str", lambda e, raw: column_set(
        e, "users", "created_at", "yesterday", kind="str")),
    "a number past 64 bits": ("does not fit in 64 bits", lambda e, raw: column_set(
        e, "scans", "user_id", 2**70, kind="int")),
    "a last id past 64 bits": ("does not fit in 64 bits", lambda e, raw: with_manifest(
        e, lambda body: next(t for t in body["tables"] if t["last_id"] is not None).update(
            last_id=2**70))),
    "a value longer than its column": ("longer than its column", lambda e, raw: column_set(
        e, "users", "email", "a" * 400 + "@example.com")),
    # Issue #86: the models root's own names are never a version: its pointer files (a
    # version `current` left a folder where the pointer goes) and the register's pair model.
    "a model version named current": ("the models root's own", lambda e, raw: version_renamed(
        e, "current")),
    "a model version named reader": ("the models root's own", lambda e, raw: version_renamed(
        e, "reader")),
    "a model version named pair": ("the models root's own", lambda e, raw: version_renamed(
        e, "pair")),
}


def version_renamed(entries, name: str) -> list:
    """The archive's one model version (v1) under ``name``, in its members and the
    manifest: a forger's archive whose digests all agree."""
    renamed = []
    for info, data in entries:
        if info.name.startswith("models/v1/"):
            info = _copy(info)
            info.name = f"models/{name}/" + info.name.removeprefix("models/v1/")
        renamed.append((info, data))

    def rename(body):
        models = body["models"]
        models["versions"] = [name]
        models["created"] = {name: models["created"]["v1"]}
        models["current"] = name if models["current"] == "v1" else models["current"]
        for member in body["members"]:
            if member["name"].startswith("models/v1/"):
                member["name"] = f"models/{name}/" + member["name"].removeprefix("models/v1/")
    return with_manifest(renamed, rename)


def unknown_table(entries) -> list:
    """users' rows as a table ``evil``, the manifest reissued to agree: the schema, not the
    manifest, refuses it."""
    renamed = []
    for info, data in entries:
        if info.name == "db/users.jsonl":
            info = _copy(info)
            info.name, data = "db/evil.jsonl", data.replace(b'"table":"users"',
                                                             b'"table":"evil"', 1)
        renamed.append((info, data))

    def rename(body):
        next(t for t in body["tables"] if t["name"] == "users")["name"] = "evil"
        next(m for m in body["members"] if m["name"] == "db/users.jsonl")["name"] = (
            "db/evil.jsonl")
    return reissued(with_manifest(renamed, rename))


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_archive_is_refused_in_one_line_and_nothing_is_written(
        case, good, target, tmp_path):
    expected, make = CASES[case]
    made = make(members(good), good.read_bytes())
    hostile = tmp_path / "hostile.tar"
    if isinstance(made, bytes):
        hostile.write_bytes(made)
    else:
        written(hostile, made)
    app, settings = target

    result = run(app, "restore", str(hostile))

    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert expected in result.stderr
    assert_nothing_written(settings)


def test_the_manifests_engine_is_informative_a_restore_goes_into_either(good, tmp_path):
    """An archive read from MariaDB restores into SQLite as one read from SQLite does: the
    engine the manifest names is what the summary says, never a condition."""
    from_mariadb = written(tmp_path / "mariadb.tar", with_manifest(
        members(good), lambda body: body.update(engine="mysql")))
    app, _ = fresh_target(tmp_path / "into-sqlite")
    try:
        result = run(app, "restore", str(from_mariadb))
    finally:
        stop(app)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("restored ") and ", mysql)" in result.output


def assert_nothing_written(settings) -> None:
    engine = create_engine(settings.DATABASE_URL)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
    assert not Path(settings.UPLOAD_DIR).exists()
    assert not Path(settings.MODEL_DIR).exists()


def fresh_target(folder: Path, database_url: str | None = None):
    """An empty deployment of its own in ``folder`` (a test that changes its target), on
    ``database_url`` (a SQLite file of its own where None)."""
    settings = deployment_settings(folder, database_url or f"sqlite:///{folder / 'fresh.db'}",
                                   folder / "models")
    return command_app(settings), settings


@pytest.fixture
def mariadb_target_url():
    """A MariaDB database of the test's own, dropped afterwards."""
    from reliability.servers import create_database, drop_database
    from tests.helpers import mysql_server_url

    url = create_database(mysql_server_url("no MariaDB server to restore into"), "hostile")
    yield url
    drop_database(url)


def tree(folder: Path) -> dict[str, str]:
    """What ``folder`` holds: {relative path: "dir" or the file's text}."""
    if not folder.exists():
        return {}
    return {path.relative_to(folder).as_posix(): "dir" if path.is_dir() else path.read_text()
            for path in sorted(folder.rglob("*"))}


def in_the_way(kind: str, good: Path, settings) -> str:
    """Put something of the wrong kind where the archive's files go: the words of the
    refusal expected."""
    uploads, models = Path(settings.UPLOAD_DIR), Path(settings.MODEL_DIR)
    if kind == "an upload's folder that is a file":
        user = upload_of(members(good)).split("/")[1]
        uploads.mkdir()
        (uploads / user).write_text("not a folder")
        return "is not a folder"
    if kind == "a model version that is a file":
        models.mkdir()
        (models / "v1").write_text("not a folder")
        return "is not a folder"
    models.mkdir()  # the pointer's place taken by a folder
    (models / "current").mkdir()
    (models / "current" / "kept.txt").write_text("kept")
    return "is not a file"


@pytest.mark.parametrize("kind", ["an upload's folder that is a file",
                                  "a model version that is a file",
                                  "a pointer that is a folder"])
def test_a_target_path_of_the_wrong_kind_refuses_before_anything_is_written(
        kind, good, tmp_path):
    """Issue #86: the restore failed on these once the rows were committed (`… exists`),
    and the database, no longer empty, refused a second try. Now they are found first."""
    app, settings = fresh_target(tmp_path)
    try:
        words = in_the_way(kind, good, settings)
        before = tree(Path(settings.UPLOAD_DIR)), tree(Path(settings.MODEL_DIR))
        result = run(app, "restore", str(good))
        assert_one_line(result, words)
        assert result.stdout == ""
        assert (tree(Path(settings.UPLOAD_DIR)), tree(Path(settings.MODEL_DIR))) == before
        engine = create_engine(settings.DATABASE_URL)
        try:
            assert inspect(engine).get_table_names() == []
        finally:
            engine.dispose()
    finally:
        stop(app)


@pytest.mark.parametrize("engine, schema", [
    ("sqlite", "no schema"), ("sqlite", "an empty schema"),
    pytest.param("mariadb", "no schema", marks=pytest.mark.mysql)])
def test_a_failure_after_the_rows_are_in_takes_back_what_the_restore_wrote(
        engine, schema, good, tmp_path, monkeypatch, request):
    """Whatever fails once the rows are committed (here the last step, the models root's
    pointer: a disk that fails, a folder another process made meanwhile), the restore takes
    back what it wrote: the rows (and the schema it built), the uploads and versions it
    moved in, the folders it made. The target is as it was, and a second restore succeeds."""
    from service.analysis import model_folder

    url = request.getfixturevalue("mariadb_target_url") if engine == "mariadb" else None
    app, settings = fresh_target(tmp_path, url)
    try:
        if schema == "an empty schema":
            assert run(app, "init-db").exit_code == 0
        database = create_engine(settings.DATABASE_URL)
        tables = inspect(database).get_table_names()
        database.dispose()

        def failing(root, version, pointer="current"):
            raise OSError(5, "Input/output error", str(Path(root) / pointer))

        with monkeypatch.context() as patched:
            patched.setattr(model_folder, "point", failing)
            result = run(app, "restore", str(good))
        assert_one_line(result, "Input/output error")
        assert "taken back" in result.stderr
        database = create_engine(settings.DATABASE_URL)
        try:
            assert inspect(database).get_table_names() == tables
            with database.connect() as connection:
                assert [name for name in tables if name != "alembic_version"
                        and connection.execute(select(func.count()).select_from(
                            table(name))).scalar()] == []
        finally:
            database.dispose()
        assert not Path(settings.UPLOAD_DIR).exists()
        assert not Path(settings.MODEL_DIR).exists()

        again = run(app, "restore", str(good))
        assert again.exit_code == 0, again.output
        assert (Path(settings.MODEL_DIR) / "current").read_text() == "v1\n"
    finally:
        stop(app)


def test_a_cut_compressed_archive_is_refused(good, target, tmp_path):
    whole = written(tmp_path / "whole.tar.gz", members(good), mode="w:gz")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(whole.read_bytes()[:-200])
    app, settings = target
    result = run(app, "restore", str(cut))
    assert result.exit_code == 1 and "truncated" in result.stderr
    assert_nothing_written(settings)


def test_the_archive_holds_no_secret_and_is_its_owners_alone(good):
    """SECRET_KEY and the LLM key are settings: the operator keeps them, the archive never
    has them; the archive itself (password hashes, webhook secrets) is readable by its
    owner only."""
    raw = good.read_bytes()
    assert SECRET_KEY.encode() not in raw and LLM_KEY.encode() not in raw
    assert good.stat().st_mode & 0o077 == 0


def test_every_table_of_the_schema_is_in_the_archive(good):
    """The tables are the database's own, reflected: one a new migration adds is backed up
    and restored without a word in service/backup/."""
    from service.extensions import db

    with tarfile.open(good) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        held = {info.name for info in tar.getmembers()}
    assert {table["name"] for table in manifest["tables"]} == set(db.metadata.tables)
    assert {f"db/{name}.jsonl" for name in db.metadata.tables} <= held


def test_the_commands_exit_statuses(good, tmp_path):
    settings = deployment_settings(tmp_path, f"sqlite:///{tmp_path / 'own.db'}",
                                   tmp_path / "models")
    app = command_app(settings)
    try:
        assert_one_line(run(app, "backup", str(good)), "exists: a backup never overwrites")
        assert_one_line(run(app, "backup"), "Missing argument")
        assert_one_line(run(app, "backup", str(tmp_path / "absent" / "x.tar")), "no such folder")
        assert_one_line(run(app, "restore", str(tmp_path / "absent.tar")), "no such file")
        assert_nothing_written(settings)

        restored = run(app, "restore", str(good))
        assert restored.exit_code == 0, restored.output
        assert re.fullmatch(r"restored \d+ rows of \d+ tables, 1 uploaded file and 1 model "
                            r"version from a backup of .*\n", restored.stdout)
        assert restored.stderr == ""
        assert (Path(settings.MODEL_DIR) / "v1" / "config.json").is_file()
        assert (Path(settings.MODEL_DIR) / "current").read_text() == "v1\n"
        assert len([path for path in Path(settings.UPLOAD_DIR).rglob("*") if path.is_file()]) == 1
        assert_one_line(run(app, "restore", str(good)), "the database is not empty")
    finally:
        stop(app)


def assert_one_line(result, words: str) -> None:
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert words in result.stderr


def pax_bomb(good: Path, path: Path, size: int = 900 << 20) -> Path:
    """``good`` behind a pax extended header of ``size`` bytes of zeros (no record: an
    archive tarfile would read whole, then restore), written as a stream through gzip
    (about 1 MB) without ever holding the header in memory."""
    import gzip

    header = tarfile.TarInfo("././@PaxHeader")
    header.type, header.size = tarfile.XHDTYPE, size
    with gzip.open(good) as source:
        rest = source.read()
    with gzip.open(path, "wb", compresslevel=6) as out:
        out.write(header.tobuf(format=tarfile.USTAR_FORMAT))
        chunk = bytes(1 << 20)
        for _ in range(size >> 20):
            out.write(chunk)
        out.write(rest)
    return path


def test_a_huge_member_header_is_refused_before_it_is_read(good, tmp_path):
    """Issue #86: tarfile reads a pax header whole; one of 900 MiB (1 MB compressed) took
    the restore to 2 GB and then restored. Under a 1.5 GB address space, as a real command
    line runs it, it is refused in one line, from its header's size, and nothing written."""
    import resource

    bomb = pax_bomb(good, tmp_path / "bomb.tar.gz")
    assert bomb.stat().st_size < 8 << 20
    limit = 1536 << 20

    def limited():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    environment = {**os.environ, "RISKSCAN_ENV": "testing", "SECRET_KEY": SECRET_KEY,
                   "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
                   "UPLOAD_DIR": str(tmp_path / "uploads"), "MODEL_DIR": str(tmp_path / "models"),
                   "LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "service", "restore",
                           str(bomb)], cwd=REPO, env=environment, capture_output=True,
                          text=True, timeout=300, check=False, preexec_fn=limited)
    assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
    assert done.stderr.startswith("Error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "a header of 943,718,400 bytes" in done.stderr and done.stdout == ""
    if (tmp_path / "cli.db").exists():
        engine = create_engine(f"sqlite:///{tmp_path / 'cli.db'}")
        assert inspect(engine).get_table_names() == []
        engine.dispose()
    assert not (tmp_path / "uploads").exists() and not (tmp_path / "models").exists()


@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME,
                                  tarfile.GNUTYPE_LONGLINK],
                         ids=["pax", "global pax", "GNU long name", "GNU long link"])
def test_every_kind_of_long_header_is_held_to_the_limit(kind, good, target, tmp_path):
    """Each kind of header tarfile reads whole, past 64 KiB (a backup writes none past a
    few hundred bytes), before a good archive: refused in one line, nothing written."""
    import gzip

    from service.backup import archive

    header = tarfile.TarInfo("././@LongLink")
    header.type, header.size = kind, archive.HEADER_LIMIT + 1
    hostile = tmp_path / "long.tar"
    with gzip.open(good) as source, open(hostile, "wb") as out:
        out.write(header.tobuf(format=tarfile.USTAR_FORMAT))
        out.write(bytes(-(-header.size // 512) * 512))
        out.write(source.read())
    app, settings = target
    result = run(app, "restore", str(hostile))
    assert_one_line(result, "a header of 65,537 bytes")
    assert_nothing_written(settings)


def _block(kind: bytes, size: int, name: str = "././@PaxHeader", data: bytes = b"") -> bytes:
    header = tarfile.TarInfo(name)
    header.type, header.size = kind, size
    return header.tobuf(format=tarfile.USTAR_FORMAT) + data.ljust(-(-size // 512) * 512,
                                                                      b"\0")


LONG_HEADERS = {
    # A chain of small pax headers before one member: tarfile reads each, one inside the
    # other, until Python's recursion gives out.
    "a chain of headers": ("headers before one member", b"".join(
        _block(tarfile.XHDTYPE, 512) for _ in range(50))),
    # Global headers each within the limit, that tarfile keeps for the rest of the archive.
    "global headers adding up": ("global pax headers of more than", b"".join(
        _block(tarfile.XGLTYPE, 40 << 10, data=f"{(40 << 10)} k{i}=".encode()
               + b"v" * ((40 << 10) - 12) + b"\n") for i in range(3))),
    # A GNU sparse member: its map is read whole from the archive too.
    "a sparse member": ("a sparse one", _block(tarfile.GNUTYPE_SPARSE, 0, "uploads/sparse")),
}


@pytest.mark.parametrize("case", LONG_HEADERS)
def test_headers_that_add_up_are_refused_too(case, good, target, tmp_path):
    import gzip

    words, blocks = LONG_HEADERS[case]
    hostile = tmp_path / "headers.tar"
    with gzip.open(good) as source:
        hostile.write_bytes(blocks + source.read())
    app, settings = target
    assert_one_line(run(app, "restore", str(hostile)), words)
    assert_nothing_written(settings)


def test_the_real_command_line_refuses_with_status_1(good, tmp_path):
    """`flask --app service restore` as a script runs it: status 1, one line on stderr."""
    cut = tmp_path / "cut.tar"
    cut.write_bytes(good.read_bytes()[:4096])
    environment = {**os.environ, "RISKSCAN_ENV": "testing", "SECRET_KEY": SECRET_KEY,
                   "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
                   "UPLOAD_DIR": str(tmp_path / "uploads"), "MODEL_DIR": "off",
                   "LOG_LEVEL": "WARNING"}
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "service", "restore",
                           str(cut)], cwd=REPO, env=environment, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("Error: ") and done.stderr.count("\n") == 1
    assert "truncated" in done.stderr and done.stdout == ""
