"""The backup file: a tar (gzip-compressed where its name ends in .gz or .tgz) written as a
stream, and read twice on restore.

Writing: each member is hashed as it goes in, the manifest last (service/backup/manifest.py).
The file is written under a hidden name beside the one asked for, readable by its owner
only (it holds password hashes and webhook secrets), and renamed to it once complete: a
backup that fails leaves no file that looks like one.

Reading, first (``check``): every member's header and bytes, writing nothing. A member must
be a regular file (no link, device or folder) under db/, uploads/ or models/, by a relative
path without ``..``; named once; its own header (pax, GNU long name or link, which
tarfile reads whole into memory) within HEADER_LIMIT before it is read (``_Bounded``);
within the bytes the restore may write (``budget``, so
that an archive that unpacks to more than the disk holds is refused from its headers, before
its bytes are read); and its sha256 and size must be the manifest's, as must each table's
rows (every row is read and checked against its columns). Then (``members``) the same
stream again, each member handed on as it is read and checked once more, so that an archive
changed between the two readings is refused before the restore commits anything.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import tarfile
import time
import zlib
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import IO, Self

from service.backup import rows, rules
from service.backup.manifest import (
    DB,
    MANIFEST,
    MODELS,
    UPLOADS,
    ArchiveRefused,
    Manifest,
    Member,
)

CHUNK = 1 << 20
#: Rows shrink about tenfold at gzip's default level; model weights hardly at any.
GZIP_LEVEL = 6
#: The largest manifest read: a line of about a hundred bytes for each member.
MANIFEST_LIMIT = 64 << 20
#: The deepest path of a member, and its longest name.
DEPTH, NAME_LIMIT = 32, 1024
#: The largest member header tarfile reads whole (pax, GNU long name or link): a backup
#: writes none past a few hundred bytes.
HEADER_LIMIT = 64 << 10
#: The most such headers before one member (a pax header, a long name, a long link), and
#: the most bytes of global pax headers (which tarfile keeps for the rest of the archive).
HEADER_CHAIN, GLOBAL_LIMIT = 4, 64 << 10
#: What reading a damaged archive raises, whatever the compression.
DAMAGED = (tarfile.TarError, EOFError, zlib.error, OSError)


class _Hashing:
    """A member's bytes as they are read or written, counted and hashed on the way."""

    def __init__(self, stream: IO[bytes]):
        self.stream = stream
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        return self._seen(self.stream.read(size))

    def readline(self, size: int = -1) -> bytes:
        return self._seen(self.stream.readline(size))

    def _seen(self, data: bytes) -> bytes:
        self.digest.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


class ArchiveWriter:
    """A backup being written to ``path`` (see the module docstring); ``finish`` completes
    it, ``discard`` (or leaving the ``with`` block on an error) removes what was written."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.partial = self.path.with_name(f".{self.path.name}.{os.getpid()}.partial")
        self._file = os.fdopen(os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                                       0o600), "wb")
        self._gzip = None
        if self.path.name.endswith((".gz", ".tgz")):  # gzip's own default level, not 9
            self._gzip = gzip.GzipFile(
                filename="", mode="wb", fileobj=self._file, compresslevel=GZIP_LEVEL)
        self._tar = tarfile.open(  # noqa: SIM115 - closed by finish or discard
            fileobj=self._gzip or self._file, mode="w|", format=tarfile.PAX_FORMAT)
        self.members: list[Member] = []

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind, error, trace) -> None:
        if kind is not None:
            self.discard()

    def add(self, name: str, stream: IO[bytes], size: int, mtime: float | None = None
            ) -> Member:
        """The member ``name``: ``size`` bytes of ``stream``, last changed at ``mtime``."""
        info = tarfile.TarInfo(name)
        info.size, info.mode = size, 0o644
        info.mtime = time.time() if mtime is None else mtime
        source = _Hashing(stream)
        self._tar.addfile(info, source)
        member = Member(name, size, source.digest.hexdigest())
        self.members.append(member)
        return member

    def add_file(self, name: str, path: Path) -> Member:
        with open(path, "rb") as file:
            found = os.fstat(file.fileno())
            return self.add(name, file, found.st_size, found.st_mtime)

    def finish(self, manifest: Manifest) -> None:
        """The manifest as the last member, then the file under its name."""
        manifest.members = list(self.members)
        body = manifest.to_json()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mtime, info.mode = len(body), int(time.time()), 0o644
        self._tar.addfile(info, BytesIO(body))
        self._tar.close()
        if self._gzip is not None:
            self._gzip.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        os.replace(self.partial, self.path)

    def discard(self) -> None:
        for stream in (self._tar, self._gzip, self._file):
            with contextlib.suppress(Exception):
                if stream is not None:
                    stream.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.partial)


class _Bounded(tarfile.TarInfo):
    """A member's header, read as tarfile reads it, but for the headers tarfile reads whole
    into memory (a pax extended or global header, a GNU long name or link): each is held to
    HEADER_LIMIT from the size its own header declares, before a byte of it is read, and
    counted in ``tar.header_bytes`` (check() counts them against the budget). A sparse
    member, whose map tarfile reads whole too, is refused from its header: an archive holds
    regular files only."""

    def _proc_pax(self, tar):
        return self._chained(tar, super()._proc_pax)

    def _proc_gnulong(self, tar):
        return self._chained(tar, super()._proc_gnulong)

    def _chained(self, tar, read):
        if self.size > HEADER_LIMIT:
            raise ArchiveRefused(f"a header of {self.size:,} bytes (pax, or a GNU long name "
                                 f"or link) where a backup writes none past "
                                 f"{HEADER_LIMIT:,}: hostile or damaged")
        tar.header_bytes = getattr(tar, "header_bytes", 0) + self.size
        if self.type == tarfile.XGLTYPE:
            tar.global_bytes = getattr(tar, "global_bytes", 0) + self.size
            if tar.global_bytes > GLOBAL_LIMIT:
                raise ArchiveRefused(f"global pax headers of more than {GLOBAL_LIMIT:,} "
                                     "bytes: not an archive as `flask backup` writes one")
        depth = getattr(tar, "header_chain", 0) + 1
        if depth > HEADER_CHAIN:
            raise ArchiveRefused(f"more than {HEADER_CHAIN} headers before one member: "
                                 "hostile or damaged")
        tar.header_chain = depth
        try:
            return read(tar)
        finally:
            tar.header_chain = depth - 1

    def _proc_sparse(self, tar):
        raise _sparse(self)

    def _proc_gnusparse_00(self, member, *_):  # the pax header's sparse map, for ``member``
        raise _sparse(member)

    _proc_gnusparse_01 = _proc_gnusparse_10 = _proc_gnusparse_00


def _sparse(member: tarfile.TarInfo) -> ArchiveRefused:
    return ArchiveRefused(f"{member.name[:200]!r} is not a file (a sparse one): an archive "
                          "holds regular files only")


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[tarfile.TarFile]:
    """The archive as a stream, each header held to its limits (``_Bounded``); a failure to
    read it, here or while its members are read, is a refusal that says it is damaged."""
    if not Path(path).is_file():
        raise ArchiveRefused(f"{path}: no such file")
    try:
        with tarfile.open(path, mode="r|*", tarinfo=_Bounded) as tar:
            yield tar
    except ArchiveRefused:
        raise
    except rows.RowError:
        raise
    except DAMAGED as error:
        raise ArchiveRefused(f"the archive is truncated or damaged ({_reason(error)})") from None


def _reason(error: BaseException) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0][:120] or type(error).__name__


def _infos(tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
    """The archive's members, headers only, forgetting each (tarfile keeps a list)."""
    while (info := tar.next()) is not None:
        tar.members.clear()
        yield info


def check(path: Path, budget: int) -> Manifest:
    """Read the whole archive once, writing nothing; its manifest, held against what it
    holds. ArchiveRefused (one line) for anything amiss. ``budget``: the most bytes the
    members may hold together."""
    found: list[Member] = []
    names: set[str] = set()
    headers: dict[str, tuple[str, list, int]] = {}
    raw = None
    total = 0
    with _reading(path) as tar:
        for info in _infos(tar):
            if raw is not None:
                raise ArchiveRefused("a member after the manifest: not an archive as "
                                     "`flask backup` writes one")
            _check_header(info, names)
            names.add(info.name)
            total += info.size
            if total + getattr(tar, "header_bytes", 0) > budget:
                raise ArchiveRefused(f"the archive unpacks to more than the {budget:,} bytes "
                                     f"free where it would be restored ({info.name} and "
                                     "what came before it): oversized")
            stream = _Hashing(tar.extractfile(info))
            if info.name == MANIFEST:
                if info.size > MANIFEST_LIMIT:
                    raise ArchiveRefused("the manifest is larger than any manifest")
                raw = stream.read()
                continue
            if info.name.startswith(DB):
                headers[info.name] = _table_file(info.name, stream)
            stream.drain()
            if stream.size != info.size:
                raise ArchiveRefused(f"{info.name} is cut short: truncated")
            found.append(Member(info.name, info.size, stream.digest.hexdigest()))
    if raw is None:
        raise ArchiveRefused("the archive has no manifest at its end: truncated, or not a "
                             "Riskscan backup")
    manifest = Manifest.parse(raw)
    manifest.agrees(found, headers)
    return manifest


def _check_header(info: tarfile.TarInfo, seen: set[str]) -> None:
    name = info.name
    if name in seen:
        raise ArchiveRefused(f"{name[:200]} is in the archive twice")
    if name != MANIFEST:
        parts = name.split("/")
        unsafe = (not name.startswith((DB, UPLOADS, MODELS)) or len(name) > NAME_LIMIT
                  or len(parts) > DEPTH or "\\" in name
                  or any(part in ("", ".", "..") for part in parts)
                  or any(ord(char) < 32 or 0xD800 <= ord(char) <= 0xDFFF for char in name))
        if unsafe:
            raise ArchiveRefused(f"{name[:200]!r}: not a path inside the archive's folders "
                                 "(absolute, .., or outside db/, uploads/ and models/)")
        if name.startswith(DB) and (len(parts) != 2 or not parts[1].endswith(".jsonl")):
            raise ArchiveRefused(f"{name[:200]!r}: not a table's file")
        if name.startswith(MODELS) and len(parts) < 3:
            raise ArchiveRefused(f"{name[:200]!r}: not a file of a model version")
    if not info.isreg() or info.issparse():
        kind = "a link" if info.issym() or info.islnk() else (
            "a device" if info.ischr() or info.isblk() or info.isfifo() else "not a file")
        raise ArchiveRefused(f"{name[:200]!r} is {kind}: an archive holds regular files only")


def _table_file(name: str, stream: _Hashing) -> tuple[str, list, int]:
    """(table, columns, rows) of a table's file, every row read and checked: its kinds, and
    the values the database and the service hold (service.backup.rules)."""
    from service.extensions import db

    try:
        table, columns, found = rows.read(stream)
        count = 0
        for row in found:
            rules.check_row(table, row, db.metadata)
            count += 1
        return table, columns, count
    except rows.RowError as error:
        raise ArchiveRefused(f"{name}: {error}") from None
    except UnicodeDecodeError:
        raise ArchiveRefused(f"{name}: not UTF-8") from None


def members(path: Path, manifest: Manifest) -> Iterator[tuple[str, IO[bytes], float]]:
    """Each member but the manifest, in order, as (name, its bytes to read, its mtime); each
    is held
    against the manifest ``check`` returned once the caller has read what it wanted of it,
    and the last against the manifest itself: ArchiveRefused when the archive changed."""
    listed = iter(manifest.members)
    with _reading(path) as tar:
        for info in _infos(tar):
            if info.name == MANIFEST:
                if tar.extractfile(info).read(MANIFEST_LIMIT + 1) != manifest.raw:
                    break
                if next(listed, None) is None:
                    return
                break
            expected = next(listed, None)
            if expected is None or (info.name, info.size) != (expected.name, expected.size) \
                    or not info.isreg():
                break
            stream = _Hashing(tar.extractfile(info))
            yield info.name, stream, info.mtime
            stream.drain()
            if (stream.size, stream.digest.hexdigest()) != (expected.size, expected.sha256):
                break
    raise ArchiveRefused("the archive changed while it was being restored: nothing was "
                         "restored")
