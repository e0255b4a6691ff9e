"""Users' corrections as labelled sentences for ml/: the rows ``flask export-feedback`` writes
and ``GET /api/v1/findings/feedback`` answers. Built here once, so that the file an operator
exports and the one a user downloads cannot drift apart."""

from __future__ import annotations

import json
from collections.abc import Iterator

from sqlalchemy import select

from service.extensions import db
from service.models import Scan, ScanFinding

MEDIA_TYPE = "application/x-ndjson"


def feedback_rows(user_id: str | None = None) -> Iterator[dict]:
    """``{text, label, source}`` per corrected sentence, newest correction first; a sentence
    corrected more than once counts once, with its newest label (what training should learn).
    ``user_id``: only the corrections in that user's own scans; None: everyone's."""
    statement = (select(ScanFinding.risk, ScanFinding.corrected_category, ScanFinding.scan_id)
                 .where(ScanFinding.corrected_category.is_not(None))
                 .order_by(ScanFinding.corrected_at.desc(), ScanFinding.id.desc()))
    if user_id is not None:
        statement = (statement.join(Scan, Scan.id == ScanFinding.scan_id)
                     .where(Scan.user_id == user_id))
    seen: set[str] = set()
    for risk, label, scan_id in db.session.execute(statement):
        if risk in seen:
            continue
        seen.add(risk)
        yield {"text": risk, "label": label, "source": f"feedback/{scan_id}"}


def jsonl_line(row: dict) -> str:
    """One row as a line of JSONL: UTF-8 text as it is, not \\u escapes."""
    return json.dumps(row, ensure_ascii=False) + "\n"
