"""Reading the JSONL files of ml/: one JSON object a line, blank lines skipped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path


def records(path: Path, error: type[ValueError], *,
            max_chars: int | None = None) -> Iterator[tuple[str, object]]:
    """(``path:line``, the parsed value) for each non-blank line; ``error`` for a file that
    cannot be read or a line that is not JSON, naming where. ``max_chars``: a longer line is
    refused before it is parsed (a file from users, not one ml/ wrote)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as failure:
        raise error(f"cannot read {path}: {failure}") from failure
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        if max_chars is not None and len(line) > max_chars:
            raise error(f"{where}: a line of {len(line)} characters, over {max_chars}")
        try:
            yield where, json.loads(line)
        except json.JSONDecodeError as failure:
            raise error(f"{where}: not JSON ({failure.msg})") from failure
