"""The files of a backup beside the database: the uploads folder (UPLOAD_DIR) and the models
root's versions.

Backing up while the service writes: the uploads are hard-linked into a hidden folder of
UPLOAD_DIR before the database's snapshot and again after it (``UploadLinks``), and the
archive is read from the links. A file a scan or a job wrote before its row committed is
then in the archive whenever its row is, even if the scan was deleted, or the job's
document done and its waiting copy removed, while the backup ran (a link keeps the bytes).
Files that never had a row in the snapshot come along too; they are orphans, and harmless.
Where the file system refuses links, each file is copied instead.

A models root's versions are folders written once and never changed (model_folder.py), so
they are read in place: every folder whose name is a version and that holds a config.json,
with its regular files (hidden ones and links are left out, as the registry leaves them).
The root's ``current`` and ``reader`` pointers go into the manifest.

Restoring: files are written into a hidden folder inside their target folder, so that
moving them in is a rename on one file system, and moved only once the database has
committed (``Staged``). Nothing already there is ever overwritten: an upload the target
holds refuses the restore beforehand, and so does a version of the same name with other
files (one with the same files is kept as it is), and so does a path of the wrong kind
where a file goes (a file where an upload's folder or a version goes, a folder where a
pointer goes). What a restore moved into place is recorded (``Placed``), so that a failure
after the rows are in takes it all back.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from service.analysis import model_folder
from service.analysis.model_folder import CURRENT, READER
from service.backup.manifest import MODELS, ROOTS_OWN, UPLOADS, ArchiveRefused, Manifest
from service.serving.registry import VERSION

CHUNK = 1 << 20


def regular_files(root: Path) -> Iterator[tuple[str, Path]]:
    """(path relative to ``root``, path) of each regular file under ``root``, in a stable
    order, leaving out hidden names and links (never followed)."""
    for folder, folders, files in os.walk(root, followlinks=False):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in sorted(files):
            path = Path(folder) / name
            with contextlib.suppress(FileNotFoundError):
                if not name.startswith(".") and stat.S_ISREG(os.lstat(path).st_mode):
                    yield path.relative_to(root).as_posix(), path


class UploadLinks:
    """UPLOAD_DIR's files as they were at any moment of the backup (module docstring)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.folder = self.root / f".riskscan-backup-{os.getpid()}-{secrets.token_hex(4)}"

    def take(self) -> None:
        """Link every file of the uploads not linked yet."""
        if not self.root.is_dir():
            return
        for relative, path in regular_files(self.root):
            link = self.folder / relative
            if link.exists():
                continue
            link.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(path, link)
            except FileNotFoundError:
                continue  # removed since it was listed: its row went before the snapshot
            except OSError:  # a file system without hard links
                with contextlib.suppress(FileNotFoundError):
                    shutil.copy2(path, link)

    def files(self) -> Iterator[tuple[str, Path]]:
        if self.folder.is_dir():
            yield from regular_files(self.folder)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def model_versions(root: Path | None) -> list[str]:
    """The version folders of the models root (none when the model is off)."""
    if root is None or not root.is_dir():
        return []
    return sorted(entry.name for entry in root.iterdir()
                  if VERSION.fullmatch(entry.name) and entry.name not in ROOTS_OWN
                  and entry.is_dir() and not entry.is_symlink()
                  and stat.S_ISREG(_lstat_mode(entry / model_folder.CONFIG_JSON)))


def _lstat_mode(path: Path) -> int:
    try:
        return os.lstat(path).st_mode
    except FileNotFoundError:
        return 0


def pointer(root: Path | None, name: str, versions: list[str]) -> str | None:
    """The version the root's pointer ``name`` names, where the backup holds it."""
    if root is None:
        return None
    try:
        version = model_folder.pointed(root, name)
    except (ValueError, OSError):
        return None
    return version if version in versions else None


# --- restoring ------------------------------------------------------------------------------

def check_uploads(manifest: Manifest, root: Path) -> None:
    """Refuse before anything is written when an upload of the archive is there already,
    or the uploads folder cannot be written."""
    if manifest.uploads == 0:
        return
    if root.exists() and not root.is_dir():
        raise ArchiveRefused(f"UPLOAD_DIR {root} is not a folder")
    folders: set[str] = set()
    for member in manifest.members:
        if member.name.startswith(UPLOADS):
            relative = member.name.removeprefix(UPLOADS)
            target = root / relative
            if os.path.lexists(target):
                raise ArchiveRefused(f"UPLOAD_DIR holds {target} already: restore into an "
                                     "empty uploads folder")
            parts = relative.split("/")[:-1]
            folders.update("/".join(parts[:depth]) for depth in range(1, len(parts) + 1))
    for folder in sorted(folders):  # each folder an upload goes into: absent, or a folder
        if os.path.lexists(root / folder) and not _is_folder(root / folder):
            raise ArchiveRefused(f"UPLOAD_DIR holds {root / folder}, which is not a folder "
                                 "(a file, or a link): the archive's uploads go into it")
    _writable(root, "UPLOAD_DIR")


def _is_folder(path: Path) -> bool:
    """A folder itself, not a link to one."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except FileNotFoundError:
        return False


def models_to_write(manifest: Manifest, root: Path | None) -> list[str]:
    """The archive's versions the models root lacks; refuse before anything is written
    when the root holds one of them with other files, or cannot be written, or the model
    is off while the archive holds versions."""
    versions = manifest.models.versions
    if not versions:
        return []
    if root is None:
        raise ArchiveRefused(f"the archive holds {len(versions)} model versions and "
                             "MODEL_DIR is off: set MODEL_DIR to the models root to restore "
                             "them into")
    if os.path.lexists(root) and not root.is_dir():
        raise ArchiveRefused(f"the models root (MODEL_DIR) {root} is not a folder")
    missing = []
    for version in versions:
        folder = root / version
        if not os.path.lexists(folder):
            missing.append(version)
        elif not _is_folder(folder):
            raise ArchiveRefused(f"the models root holds {folder}, which is not a folder (a "
                                 f"file, or a link): the archive's version {version} goes "
                                 "there")
        elif _files_of(folder) != _archived(manifest, version):
            raise ArchiveRefused(f"the models root holds another {version} already: "
                                 "versions are never overwritten")
    for name, wanted in ((CURRENT, manifest.models.current), (READER, manifest.models.reader)):
        place = root / name
        if wanted is not None and os.path.lexists(place) and not stat.S_ISREG(
                os.lstat(place).st_mode):
            raise ArchiveRefused(f"the models root holds {place}, which is not a file (a "
                                 f"folder, or a link): the archive's pointer {name} goes "
                                 "there")
    pointers_move = any(
        wanted is not None and pointer(root, name, [wanted]) != wanted
        for name, wanted in ((CURRENT, manifest.models.current),
                             (READER, manifest.models.reader)))
    if missing or pointers_move:
        _writable(root, "the models root (MODEL_DIR)")
    return missing


def _archived(manifest: Manifest, version: str) -> dict[str, tuple[int, str]]:
    prefix = f"{MODELS}{version}/"
    return {member.name.removeprefix(prefix): (member.size, member.sha256)
            for member in manifest.members if member.name.startswith(prefix)}


def _files_of(folder: Path) -> dict[str, tuple[int, str]]:
    found = {}
    for relative, path in regular_files(folder):
        digest = hashlib.sha256()
        with open(path, "rb") as file:
            while chunk := file.read(CHUNK):
                digest.update(chunk)
        found[relative] = (path.stat().st_size, digest.hexdigest())
    return found


def _writable(folder: Path, what: str) -> None:
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ArchiveRefused(f"{what} {folder} cannot be written by this user")


def free_bytes(*folders: Path) -> int:
    """The bytes free on the file systems of ``folders`` (each counted once)."""
    free = {}
    for folder in folders:
        existing = Path(folder)
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        found = os.statvfs(existing)
        free[os.stat(existing).st_dev] = found.f_bavail * found.f_frsize
    return sum(free.values())


class Placed:
    """What a restore put into the uploads folder and the models root, in order, so that
    ``undo`` takes it back: each path it moved or wrote in (a file or a whole folder), each
    folder it made, and each pointer file with what it held before (None: none was)."""

    def __init__(self):
        self.moved: list[Path] = []
        self.made: list[Path] = []
        self.pointers: list[tuple[Path, str | None]] = []

    def made_folder(self, folder: Path) -> None:
        """Make ``folder`` and those above it that are missing, each recorded."""
        missing = []
        while not os.path.lexists(folder) and folder != folder.parent:
            missing.append(folder)
            folder = folder.parent
        for made in reversed(missing):
            made.mkdir()
            self.made.append(made)

    def undo(self) -> None:
        """Take back what was placed, newest first; what cannot be is left, never raised
        (the failure being reported is the one that made the restore stop)."""
        for path, before in reversed(self.pointers):
            with contextlib.suppress(OSError):
                if before is None:
                    os.unlink(path)
                else:
                    model_folder.write_whole(path, before)
        for path in reversed(self.moved):
            with contextlib.suppress(OSError):
                if _is_folder(path):
                    shutil.rmtree(path)
                else:
                    os.unlink(path)
        for folder in reversed(self.made):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only where it is empty again
        self.moved, self.made, self.pointers = [], [], []


class Staged:
    """Files restored into a hidden folder inside ``target``, moved into it by ``commit``
    (or removed by ``discard``); the target made where it is missing, and recorded in
    ``placed``."""

    def __init__(self, target: Path, placed: Placed):
        self.target = Path(target)
        self.folder = self.target / f".riskscan-restore-{os.getpid()}-{secrets.token_hex(4)}"
        self.placed = placed

    def write(self, relative: str, stream: IO[bytes], mtime: float) -> None:
        path = self.folder / relative
        if self.folder.resolve() not in path.resolve().parents:
            raise ArchiveRefused(f"{relative[:200]!r}: outside the folder it belongs to")
        if not os.path.lexists(self.target):
            self.placed.made_folder(self.target)
        path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        with os.fdopen(os.open(path, flags, 0o644), "wb") as file:
            while chunk := stream.read(CHUNK):
                file.write(chunk)
        os.utime(path, (mtime, mtime))

    def commit_uploads(self) -> int:
        """Move every staged file into the target folder; how many."""
        moved = sum(1 for _ in regular_files(self.folder)) if self.folder.is_dir() else 0
        if moved:
            _merge(self.folder, self.target, self.placed)
        self.discard()
        return moved

    def commit_versions(self, versions: list[str], created: dict[str, int]) -> None:
        """Move each staged version folder into the models root whole (publish), made when
        the backed-up one was."""
        for version in versions:
            model_folder.publish(self.folder / version, self.target / version)
            self.placed.moved.append(self.target / version)
            os.utime(self.target / version, ns=(created[version], created[version]))
        self.discard()

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _merge(source: Path, target: Path, placed: Placed) -> None:
    """Rename each entry of ``source`` into ``target``, a folder that exists there merged
    into; a file that exists there is never replaced (FileExistsError). Each entry moved is
    recorded in ``placed``."""
    placed.made_folder(target)
    for entry in sorted(source.iterdir()):
        there = target / entry.name
        if not os.path.lexists(there):
            os.rename(entry, there)
            placed.moved.append(there)
        elif entry.is_dir() and _is_folder(there):
            _merge(entry, there, placed)
        else:
            raise FileExistsError(f"{there} exists: a restore never replaces a file")


def set_pointers(root: Path, manifest: Manifest, placed: Placed) -> None:
    """The root's pointers as the backup had them; what each held before, in ``placed``."""
    for name, version in ((CURRENT, manifest.models.current), (READER, manifest.models.reader)):
        if version is not None and pointer(root, name, [version]) != version:
            path = root / name
            try:
                before = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                before = None
            placed.pointers.append((path, before))
            model_folder.point(root, version, name)
