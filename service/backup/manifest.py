"""A backup's manifest: what the archive holds, and the check that it holds exactly that.

``manifest.json`` is the archive's last member, written once every other member is in (so
that a backup streams: each member's digest is known when it has been written). It names
the format, the Riskscan version and the schema revision (Alembic's) that wrote it, the
engine it was read from (informative: a restore goes into either; ENGINES, since a
restore prints it), each table with its row count and the last id its sequence gave,
the uploads, the model versions with the root's pointers, and every member with its size
and sha256. Nothing in it is a secret: the settings (SECRET_KEY, the LLM key, the SSO
secrets) are not data, and stay beside the archive (docs/backup.md).

``Manifest.parse`` reads one strictly (a field missing, of another type, or unknown is a
refusal), and ``agrees`` holds it against what the archive was read to hold.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

from service.analysis.model_folder import CURRENT, PAIR_FOLDER, READER
from service.backup.rows import NAME
from service.serving.registry import VERSION

FORMAT = "riskscan-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
#: The folders of an archive: a table's file is db/<table>.jsonl, an upload
#: uploads/<its path under UPLOAD_DIR>, a model file models/<version>/<its path>.
DB, UPLOADS, MODELS = "db/", "uploads/", "models/"
SHA256 = re.compile(r"[0-9a-f]{64}")
#: The models root's own names, never a version's: its pointer files, and the register's
#: pair model (which a backup does not hold as a version).
ROOTS_OWN = (CURRENT, READER, PAIR_FOLDER)
#: The engines an archive is read from (SQLAlchemy's dialect names). Which one is
#: informative: rows are written the same from either, and restore into either.
ENGINES = ("sqlite", "mysql", "mariadb")


class ArchiveRefused(Exception):
    """The archive is not one this Riskscan restores, or its restore failed, in one line:
    nothing was written (or what was, taken back)."""


@dataclass(frozen=True)
class Member:
    name: str
    size: int
    sha256: str


@dataclass
class TableEntry:
    """A table: its rows and the last id its sequence gave (None: it numbers nothing).
    ``columns`` come from its file's first line once the archive has been read."""

    name: str
    rows: int
    last_id: int | None
    columns: list[tuple[str, str]] = field(default_factory=list, compare=False)

    @property
    def member(self) -> str:
        return f"{DB}{self.name}.jsonl"


@dataclass(frozen=True)
class Models:
    """The models root: the versions in the archive, what its pointers named, and when
    each version's folder was made (its mtime in ns: the registry's "created")."""

    versions: list[str]
    current: str | None
    reader: str | None
    created: dict[str, int]


@dataclass
class Manifest:
    riskscan_version: str
    schema_revision: str
    created_at: str
    engine: str
    tables: list[TableEntry]
    uploads: int
    models: Models
    members: list[Member]
    raw: bytes = field(default=b"", compare=False, repr=False)

    def to_json(self) -> bytes:
        body = {"format": FORMAT, "format_version": FORMAT_VERSION,
                **{key: value for key, value in asdict(self).items() if key != "raw"}}
        for table in body["tables"]:
            del table["columns"]  # in each table's file
        return json.dumps(body, indent=1, ensure_ascii=False).encode() + b"\n"

    @classmethod
    def parse(cls, raw: bytes) -> Manifest:
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):
            raise ArchiveRefused("the manifest is not JSON") from None
        fields = {"format": str, "format_version": int, "riskscan_version": str,
                  "schema_revision": str, "created_at": str, "engine": str, "tables": list,
                  "uploads": int, "models": dict, "members": list}
        _fields(body, fields, "the manifest")
        if (body["format"], body["format_version"]) != (FORMAT, FORMAT_VERSION):
            raise ArchiveRefused(f"not a Riskscan backup of format {FORMAT_VERSION} "
                                 f"({body['format'][:40]!r} {body['format_version']})")
        if not re.fullmatch(r"[0-9A-Za-z_]{1,64}", body["schema_revision"]):
            raise ArchiveRefused("the manifest's schema revision is not one")
        if body["engine"] not in ENGINES:
            raise ArchiveRefused(f"the manifest's engine is not one Riskscan reads archives "
                                 f"from ({', '.join(ENGINES)})")
        tables = [_table(entry) for entry in body["tables"]]
        models = body["models"]
        _fields(models, {"versions": list, "current": (str, type(None)),
                         "reader": (str, type(None)), "created": dict},
                "the manifest's models")
        members = [_member(entry) for entry in body["members"]]
        return cls(body["riskscan_version"][:64], body["schema_revision"],
                   body["created_at"][:40], body["engine"], tables, body["uploads"],
                   Models(list(models["versions"]), models["current"], models["reader"],
                          dict(models["created"])),
                   members, raw)

    def agrees(self, found: list[Member], headers: dict[str, tuple[str, list, int]]) -> None:
        """Refuse unless the manifest says what the archive holds: ``found``, its members
        as read (names, sizes, digests), and ``headers``, each table file's (table,
        columns, rows). Fills each table's columns."""
        if found != self.members:
            listed = {member.name: member for member in self.members}
            for member in found:
                if member.name not in listed:
                    raise ArchiveRefused(f"{member.name} is not in the manifest")
                if listed[member.name] != member:
                    raise ArchiveRefused(f"{member.name} is not the file the manifest names "
                                         "(its size or sha256 differs): tampered with?")
            raise ArchiveRefused("the archive lacks members its manifest lists, or holds "
                                 "them in another order")
        names = [table.name for table in self.tables]
        if len(set(names)) != len(names):
            raise ArchiveRefused("the manifest names a table twice")
        db_members = [member.name for member in found if member.name.startswith(DB)]
        if db_members != [table.member for table in self.tables]:
            raise ArchiveRefused("the manifest's tables are not the archive's table files")
        for table in self.tables:
            named, columns, rows = headers[table.member]
            if named != table.name:
                raise ArchiveRefused(f"{table.member} holds the rows of {named}")
            if rows != table.rows:
                raise ArchiveRefused(f"the manifest counts {table.rows} rows in {table.name}; "
                                     f"its file holds {rows}")
            table.columns = columns
        uploads = sum(member.name.startswith(UPLOADS) for member in found)
        if uploads != self.uploads:
            raise ArchiveRefused(f"the manifest counts {self.uploads} uploaded files; the "
                                 f"archive holds {uploads}")
        self._agree_models(found)

    def _agree_models(self, found: list[Member]) -> None:
        versions = self.models.versions
        if len(set(versions)) != len(versions) or not all(
                isinstance(name, str) and VERSION.fullmatch(name) for name in versions):
            raise ArchiveRefused("the manifest's model versions are not version names")
        if reserved := sorted(set(versions) & set(ROOTS_OWN)):
            raise ArchiveRefused(f"the manifest names a model version {reserved[0]!r}: a name "
                                 f"of the models root's own ({', '.join(ROOTS_OWN)}), never "
                                 "a version's")
        held = {member.name.split("/")[1] for member in found if member.name.startswith(MODELS)}
        if held != set(versions):
            raise ArchiveRefused("the manifest's model versions are not the archive's")
        created = self.models.created
        if set(created) != held or not all(
                isinstance(ns, int) and not isinstance(ns, bool) and ns >= 0
                for ns in created.values()):
            raise ArchiveRefused("the manifest's model versions have no times of their own")
        for pointer in (self.models.current, self.models.reader):
            if pointer is not None and pointer not in versions:
                raise ArchiveRefused(f"the manifest points at a version it does not hold: "
                                     f"{pointer[:64]!r}")

    @property
    def total_rows(self) -> int:
        return sum(table.rows for table in self.tables)

    def bytes_under(self, folder: str) -> int:
        return sum(member.size for member in self.members if member.name.startswith(folder))


def _fields(body, fields: dict, what: str) -> None:
    if not isinstance(body, dict) or set(body) != set(fields):
        raise ArchiveRefused(f"{what} does not have the fields of format {FORMAT_VERSION}")
    for name, kind in fields.items():
        if not isinstance(body[name], kind) or isinstance(body[name], bool):
            raise ArchiveRefused(f"{what}'s {name} is not of its type")
        if isinstance(body[name], int) and body[name] < 0:
            raise ArchiveRefused(f"{what}'s {name} is negative")
        if isinstance(body[name], int) and body[name] >= 1 << 63:
            raise ArchiveRefused(f"{what}'s {name} does not fit in 64 bits")


def _table(entry) -> TableEntry:
    _fields(entry, {"name": str, "rows": int, "last_id": (int, type(None))}, "a table entry")
    if not NAME.fullmatch(entry["name"]):
        raise ArchiveRefused(f"not a table name: {entry['name'][:64]!r}")
    return TableEntry(entry["name"], entry["rows"], entry["last_id"])


def _member(entry) -> Member:
    _fields(entry, {"name": str, "size": int, "sha256": str}, "a member entry")
    if not SHA256.fullmatch(entry["sha256"]):
        raise ArchiveRefused(f"{entry['name'][:200]}: not a sha256 in the manifest")
    return Member(entry["name"], entry["size"], entry["sha256"])
