"""Users' corrections as labelled sentences for ml/: the rows ``flask export-corrections``
writes and ``GET /api/v1/findings/feedback`` answers. They are service/serving/
corrections.py's, which a training from corrections learns too: the file an operator
exports, the one a user downloads and what the service trains on cannot drift apart."""

from __future__ import annotations

import json

from service.serving.corrections import own_corrections, training_rows

__all__ = ["MEDIA_TYPE", "jsonl_line", "own_corrections", "training_rows"]

MEDIA_TYPE = "application/x-ndjson"


def jsonl_line(row: dict) -> str:
    """One row as a line of JSONL: UTF-8 text as it is, not \\u escapes."""
    return json.dumps(row, ensure_ascii=False) + "\n"
