"""A job's documents, read from the request: several ``files`` fields or one ``archive``
(.zip), within the upload limits and ``MAX_JOB_DOCUMENTS``; and where they wait on disk
(UPLOAD_DIR/<user_id>/jobs/<job_id>/<position>) until a worker makes each one a scan."""

from __future__ import annotations

import io
import lzma
import shutil
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from flask import request
from werkzeug.utils import secure_filename

from service.config import current_settings
from service.errors import APIError
from service.scans.create import safe_display_name
from service.uploads.storage import user_folder

# An archive member unpacking to more than this many times its packed size, beyond 1 MB,
# is a zip bomb, not a document.
MAX_RATIO = 100
SKIPPED = ("__MACOSX/", ".DS_Store", "Thumbs.db")
# Entries an archive may hold, clutter and folders included, per MAX_JOB_DOCUMENTS; and the
# bytes its central directory may take per entry (46 and a long name with its extras).
ENTRIES_PER_DOCUMENT = 10
DIRECTORY_BYTES_PER_ENTRY = 512


@dataclass(frozen=True)
class Incoming:
    filename: str
    data: bytes


def read_documents() -> list[Incoming]:
    """The request's documents, in the order sent; 4xx problems for what cannot be a job."""
    settings = current_settings()
    files = [file for file in request.files.getlist("files") if file.filename]
    archive = request.files.get("archive")
    if archive is not None and archive.filename and files:
        raise APIError(422, "Send either files or one archive, not both.",
                       errors={"archive": ["Leave empty when files are sent."]})
    if archive is not None and archive.filename:
        documents = _unpack(archive.read(), settings)
    else:
        documents = [Incoming(safe_display_name(file.filename) or f"document-{index + 1}",
                              _capped(file.stream, settings, file.filename))
                     for index, file in enumerate(files)]
    if not documents:
        raise APIError(422, "Send one or more files (field files) or a .zip (field archive).",
                       errors={"files": ["No document."]})
    if len(documents) > settings.MAX_JOB_DOCUMENTS:
        raise APIError(413, f"The job has {len(documents)} documents; the limit is "
                            f"{settings.MAX_JOB_DOCUMENTS} (MAX_JOB_DOCUMENTS).")
    return documents


def _limit(settings) -> int:
    return int(settings.MAX_UPLOAD_MB * 1024 * 1024)


def _capped(stream, settings, name: str) -> bytes:
    data = stream.read(_limit(settings) + 1)
    if len(data) > _limit(settings):
        raise APIError(413, f"{safe_display_name(name)} is larger than "
                            f"{settings.MAX_UPLOAD_MB:g} MB (MAX_UPLOAD_MB).")
    return data


def _unpack(data: bytes, settings) -> list[Incoming]:
    """The archive's files (folders flattened, the usual clutter skipped), each within
    MAX_UPLOAD_MB unpacked and all within MAX_JOB_MB, at most MAX_JOB_DOCUMENTS, never more
    than MAX_RATIO times their packed size: all checked on the headers first, and again
    while reading."""
    _check_directory(data, settings)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [info for info in archive.infolist() if not _clutter(info.filename)]
    except (zipfile.BadZipFile, ValueError, OSError):
        raise APIError(422, "The archive is not a readable .zip file.",
                       errors={"archive": ["Not a zip archive."]}) from None
    if len(members) > settings.MAX_JOB_DOCUMENTS:
        raise APIError(413, f"The archive holds {len(members)} documents; the limit is "
                            f"{settings.MAX_JOB_DOCUMENTS} (MAX_JOB_DOCUMENTS).")
    limit, budget = _limit(settings), int(settings.MAX_JOB_MB * 1024 * 1024)
    if sum(info.file_size for info in members) > budget:  # all of it is held in memory
        raise APIError(413, f"The archive unpacks to more than {settings.MAX_JOB_MB:g} MB "
                            "(MAX_JOB_MB).")
    documents, unpacked = [], 0
    for info in members:
        name = safe_display_name(info.filename) or "document"
        if info.flag_bits & 0x1:
            raise APIError(422, f"{name} is encrypted in the archive.",
                           errors={"archive": [f"{name}: encrypted."]})
        if info.file_size > limit or (info.file_size > 1024 * 1024 and info.file_size
                                      > MAX_RATIO * max(info.compress_size, 1)):
            raise APIError(413, f"{name} unpacks to more than the archive may hold "
                                f"(MAX_UPLOAD_MB {settings.MAX_UPLOAD_MB:g} per document).")
        try:
            with archive.open(info) as member:
                content = member.read(limit + 1)
        except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError,
                ValueError, zlib.error, lzma.LZMAError):  # damaged or unsupported: refused
            raise APIError(422, f"{name} cannot be read from the archive.",
                           errors={"archive": [f"{name}: unreadable."]}) from None
        unpacked += len(content)
        if len(content) > limit or unpacked > budget:  # headers that lied about the size
            raise APIError(413, f"{name} unpacks to more than {settings.MAX_UPLOAD_MB:g} MB, "
                                f"or the archive to more than {settings.MAX_JOB_MB:g} MB.")
        documents.append(Incoming(name, content))
    return documents


def _check_directory(data: bytes, settings) -> None:
    """Refuse an archive of too many entries before ZipFile reads its central directory:
    ZipFile builds an object per entry, clutter included, so a million empty dot files
    hold a thread for seconds and hundreds of MB. The end record says how many entries
    and how many bytes the directory holds (ZipFile reads by bytes: both are capped).
    Without an end record, ZipFile's own refusal follows."""
    entries, size = _directory_extent(data)
    most = ENTRIES_PER_DOCUMENT * settings.MAX_JOB_DOCUMENTS
    if entries > most or size > most * DIRECTORY_BYTES_PER_ENTRY:
        raise APIError(413, f"The archive holds more than {most} entries, folders and "
                            f"clutter included ({ENTRIES_PER_DOCUMENT} per MAX_JOB_DOCUMENTS).")


def _directory_extent(data: bytes) -> tuple[int, int]:
    """(entries, bytes) of the central directory, read where ZipFile reads them: the last
    end of central directory record, or the zip64 end record just before its locator."""
    end = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 0xFFFF))
    if end == -1 or len(data) - end < 22:
        return 0, 0
    entries, size = struct.unpack_from("<HI", data, end + 10)
    locator, record = end - 20, end - 20 - 56
    if record >= 0 and data[locator:locator + 4] == b"PK\x06\x07" \
            and data[record:record + 4] == b"PK\x06\x06":
        entries, size = struct.unpack_from("<QQ", data, record + 32)
    return entries, size


def _clutter(name: str) -> bool:
    """A folder entry, a dot file or the usual clutter, whichever separator the zip used
    (Windows tools write ``.\\plan.txt``: a document, not a dot file)."""
    name = name.replace("\\", "/")
    base = name.rsplit("/", 1)[-1]
    return not base or base.startswith(".") or any(part in name for part in SKIPPED)


def job_folder(user_id: str, job_id: str) -> Path:
    return user_folder(user_id) / "jobs" / secure_filename(job_id)


def write_documents(user_id: str, job_id: str, documents: list[Incoming]) -> Path:
    folder = job_folder(user_id, job_id)
    try:
        folder.mkdir(parents=True, exist_ok=False)
        for position, document in enumerate(documents):
            (folder / str(position)).write_bytes(document.data)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder


def read_document(user_id: str, job_id: str, position: int) -> bytes | None:
    try:
        return (job_folder(user_id, job_id) / str(position)).read_bytes()
    except FileNotFoundError:
        return None


def remove_document(user_id: str, job_id: str, position: int) -> None:
    (job_folder(user_id, job_id) / str(position)).unlink(missing_ok=True)


def remove_job_files(user_id: str, job_id: str) -> None:
    shutil.rmtree(job_folder(user_id, job_id), ignore_errors=True)
