"""The two files between the service and ``python -m ml.finetune``: what a training is asked
(``FinetuneRequest``) and how it ended (``FinetuneResult``), as JSON.

Both sides import these types, so a setting the service adds or renames fails on both at
once instead of as a stray command-line flag, and the reason of a failure arrives as a field,
not as a line fished out of a process's error output. Here because service.analysis is the
one floor both ml/ and the service may import; it knows nothing of Flask or the database.
Reading is strict: an unknown or missing key, or a value of the wrong type, is refused
(``FinetuneFileError``), so that two versions of the code that disagree say so.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from service.analysis.model_folder import write_whole


class FinetuneFileError(ValueError):
    """A request or result file that is not one: unreadable, not JSON, or not the shape."""


def _path(value) -> Path:
    if not isinstance(value, str) or not value:
        raise TypeError("a non-empty string (a path)")
    return Path(value)


def _optional_path(value) -> Path | None:
    return None if value is None else _path(value)


def _text(value) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError("a non-empty string")
    return value


def _optional_text(value) -> str | None:
    return None if value is None else _text(value)


def _count(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError("a whole number, 0 or more")
    return value


def _flag(value) -> bool:
    if not isinstance(value, bool):
        raise TypeError("true or false")
    return value


def _names(value) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(name, str) and name for name in value):
        raise TypeError("a list of non-empty strings")
    return tuple(value)


class _JsonFile:
    """write and read for a frozen dataclass whose ``_KINDS`` checks each field's JSON
    value (and converts it: a path's string to a Path); ``_check`` the fields together."""

    _KINDS: ClassVar[dict]

    def __post_init__(self) -> None:
        self._check()

    def _check(self) -> None:
        """Refuse fields that are each right but wrong together (ValueError), made in code
        or read."""

    def write(self, path: Path) -> None:
        """Write as JSON, readable by its owner only, whole or not at all: a reader never
        meets half a file (a process killed while writing leaves none)."""
        data = {field.name: _plain(getattr(self, field.name))
                for field in dataclasses.fields(self)}
        write_whole(Path(path), json.dumps(data, ensure_ascii=False, indent=1) + "\n", 0o600)

    @classmethod
    def read(cls, path: Path):
        """The file at ``path``; FinetuneFileError, saying which key and why, if it is not
        exactly this type's."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as failure:
            raise FinetuneFileError(f"{path}: unreadable ({failure})") from None
        except json.JSONDecodeError as failure:
            raise FinetuneFileError(f"{path}: not JSON ({failure.msg})") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data, where: str = "the file"):
        """``data`` (a file's JSON) checked and typed; FinetuneFileError if it is not."""
        if not isinstance(data, dict):
            raise FinetuneFileError(f"{where}: not a JSON object")
        unknown = sorted(set(data) - set(cls._KINDS))
        missing = sorted(set(cls._KINDS) - set(data))
        if unknown or missing:
            said = [f"unknown keys {', '.join(unknown)}"] if unknown else []
            said += [f"missing keys {', '.join(missing)}"] if missing else []
            raise FinetuneFileError(f"{where}: not a {cls.__name__} ({'; '.join(said)})")
        values = {}
        for key, kind in cls._KINDS.items():
            try:
                values[key] = kind(data[key])
            except TypeError as failure:
                raise FinetuneFileError(f"{where}: {key} must be {failure}, not "
                                        f"{data[key]!r:.80}") from None
        try:
            return cls(**values)
        except ValueError as failure:
            raise FinetuneFileError(f"{where}: {failure}") from None


def _plain(value):
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


@dataclass(frozen=True)
class FinetuneRequest(_JsonFile):
    """A training: the fast model's folder to start from (``base``), its reader's or None,
    the new folders' names (``versions``: the fast model's, then the reader's where there is
    one), the training sentences replayed, the epochs, whether the standard documents
    calibrate and measure it, another data folder than ml/data, and the corrections' JSONL
    (``rows``: people's sentences, in the caller's private folder)."""

    base: Path
    reader: Path | None
    versions: tuple[str, ...]
    replay: int
    epochs: int
    documents: bool
    data_dir: Path | None
    rows: Path

    _KINDS: ClassVar[dict] = {
        "base": _path, "reader": _optional_path, "versions": _names, "replay": _count,
        "epochs": _count, "documents": _flag, "data_dir": _optional_path, "rows": _path}

    def _check(self) -> None:
        wanted = 1 if self.reader is None else 2
        if len(self.versions) != wanted:
            raise ValueError(f"versions must name {wanted} folder(s) "
                            f"({'a reader' if wanted == 2 else 'no reader'} is asked for), "
                            f"not {len(self.versions)}")
        if self.epochs < 1:
            raise ValueError("epochs must be 1 or more")


@dataclass(frozen=True)
class FinetuneResult(_JsonFile):
    """How a training ended: ``ok`` with the folders it made in the models root
    (``versions``, in the request's order), or not with ``error``, why in words."""

    ok: bool
    versions: tuple[str, ...]
    error: str | None

    _KINDS: ClassVar[dict] = {"ok": _flag, "versions": _names, "error": _optional_text}

    def _check(self) -> None:
        if self.ok and (self.error is not None or not self.versions):
            raise ValueError("a result that is ok names the versions made and no error")
        if not self.ok and (self.error is None or self.versions):
            raise ValueError("a failed result says why (error) and names no versions")

    @classmethod
    def failed(cls, error: str) -> FinetuneResult:
        return cls(ok=False, versions=(), error=error or "failed, without a reason")

    @classmethod
    def made(cls, versions) -> FinetuneResult:
        return cls(ok=True, versions=tuple(versions), error=None)
