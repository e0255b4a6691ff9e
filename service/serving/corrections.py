"""Users' corrections and the risks they added, as labelled sentences: the rows
``flask export-feedback`` and ``GET /api/v1/findings/feedback`` give a data scientist
(service/scans/feedback.py) and the ones a training from corrections learns (trainings.py).
Built here once, so that neither can drift from the other."""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import func, select

from service.analysis.reading import sentences_of
from service.db import Scan, ScanFinding
from service.extensions import db


def feedback_rows(user_id: str | None = None, *, context: bool = False) -> Iterator[dict]:
    """``{text, label, source}`` per corrected sentence (a person's added risk is one: its
    label is theirs), newest correction first; a sentence corrected more than once counts
    once, with its newest label (what training should learn). ``user_id``: only the
    corrections in that user's own scans; None: everyone's. ``context``: each row also
    gets the ``context`` the scan's model read beside the sentence (its heading and the
    sentence before, service/analysis/context.py), "" where the scan kept no text."""
    statement = (select(ScanFinding.risk, ScanFinding.corrected_category, ScanFinding.scan_id,
                        ScanFinding.start)
                 .where(ScanFinding.corrected_category.is_not(None))
                 .order_by(ScanFinding.corrected_at.desc(), ScanFinding.id.desc()))
    if user_id is not None:
        statement = (statement.join(Scan, Scan.id == ScanFinding.scan_id)
                     .where(Scan.user_id == user_id))
    seen: set[str] = set()
    contexts: dict[str, dict[int, str]] = {}
    for risk, label, scan_id, start in db.session.execute(statement):
        if risk in seen:
            continue
        seen.add(risk)
        row = {"text": risk, "label": label, "source": f"feedback/{scan_id}"}
        if context:
            if scan_id not in contexts:
                contexts[scan_id] = _contexts(scan_id)
            row["context"] = contexts[scan_id].get(start, "")
        yield row


def corrected_sentences() -> int:
    """How many distinct sentences the deployment's users corrected or added."""
    return db.session.scalar(select(func.count(func.distinct(ScanFinding.risk)))
                             .where(ScanFinding.corrected_category.is_not(None)))


def _contexts(scan_id: str) -> dict[int, str]:
    """Each sentence's context in the scan's text, by its start offset."""
    text = db.session.scalar(select(Scan.text).where(Scan.id == scan_id))
    return {sentence.start: sentence.context for sentence in sentences_of(text)} if text else {}
