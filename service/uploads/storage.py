"""The uploaded originals on disk: UPLOAD_DIR/<user_id>/<scan_id>/original.<kind>.

The one module that writes, finds and removes them, so that the scan use-case, the download
route and user deletion agree on the layout. Callers write a file before its scan's row is
committed, and remove it once the row is deleted (or the commit failed).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from werkzeug.utils import secure_filename

from service.config import current_settings

if TYPE_CHECKING:
    from service.db import Scan

#: The only name a stored original has (``original.<kind>``, written by store_original). A
#: row is data, not a path: one restored from a hostile archive may name anything.
STORED_NAME = re.compile(r"original\.(?:txt|md|html|pdf|docx)")


def is_stored_name(name: str) -> bool:
    """Whether ``name`` is one this module writes, so that it stays inside its scan's folder."""
    return isinstance(name, str) and STORED_NAME.fullmatch(name) is not None


def user_folder(user_id: str) -> Path:
    """UPLOAD_DIR/<user_id>/: every file of that user's scans."""
    return Path(current_settings().UPLOAD_DIR) / secure_filename(user_id)


def scan_folder(scan: Scan) -> Path:
    """UPLOAD_DIR/<user_id>/<scan_id>/: both ids are UUIDs we generated."""
    return user_folder(scan.user_id) / secure_filename(scan.id)


def store_original(scan: Scan, data: bytes) -> Path:
    """Write ``data`` as the scan's ``stored_filename`` in its new folder, and return the
    folder; on any failure what was made is removed again before the error goes on."""
    folder = scan_folder(scan)
    try:
        folder.mkdir(parents=True, exist_ok=False)
        (folder / scan.stored_filename).write_bytes(data)
    except BaseException:
        remove_scan_folder(folder)
        raise
    return folder


def original_path(scan: Scan) -> Path | None:
    """Where the scan's original is kept; None for a scan of text (the file may be gone),
    and for a stored name this module never writes: the path never leaves the scan's folder,
    whatever the row says."""
    if not scan.stored_filename or not is_stored_name(scan.stored_filename):
        return None
    return scan_folder(scan) / scan.stored_filename


def remove_scan_folder(folder: Path) -> None:
    """Remove a scan's folder, and its user's folder once that is empty."""
    shutil.rmtree(folder, ignore_errors=True)
    try:
        folder.parent.rmdir()
    except OSError:  # other scans' files are there (or it is gone already)
        pass


def delete_user_files(user_id: str) -> None:
    """Remove every stored file of a user; call once the user's rows are deleted."""
    shutil.rmtree(user_folder(user_id), ignore_errors=True)
