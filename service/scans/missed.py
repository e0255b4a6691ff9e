"""Risks the model missed, added to a scan by a person, and taken away again.

A person points at a span of the scan's text (its offsets); the finding is the sentence of
the service's own reading of that text (service/analysis/reading.py, as the model read it)
that the span overlaps most, so that it is a sentence like every finding and the training
rows it becomes match what a model reads. The person's category is its label and its
correction at once: it counts, joins the register of the scan's project and is a positive
row of the feedback export like a model's finding corrected to that category. Only such a
finding may be deleted: a model's finding stays, corrected to ``none`` when it is wrong, so
that what the model said and what people answered are both kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service import audit
from service.analysis.reading import sentences_of
from service.analysis.segment import sentence_context
from service.api import lock_row, not_found
from service.auth.tokens import Caller
from service.db import Scan, ScanFinding
from service.errors import APIError
from service.extensions import db
from service.projects import register
from service.serving import corrections


@dataclass(frozen=True)
class Sentence:
    """The sentence a span snapped to, as a finding stores it."""

    text: str
    start: int
    end: int
    context: str


def snap(scan: Scan, start: int, end: int) -> Sentence:
    """The sentence of ``scan``'s text that ``[start, end)`` overlaps most (the first of
    equals); headings and label lines, which are never findings, are not candidates. 409
    for a scan whose text was not kept, 422 naming the field for a span outside the text or
    over no sentence."""
    text = scan.text
    if text is None:
        raise APIError(409, "This scan was stored before scans kept their text: scan the "
                            "document again to add risks to it.")
    if end > len(text):
        raise APIError(422, f"The span ends past the scan's text ({len(text)} characters).",
                       errors={"end": [f"At most {len(text)}, the text's length."]})
    sentences = sentences_of(text)
    best, most = None, 0
    for index, sentence in enumerate(sentences):
        overlap = min(end, sentence.end) - max(start, sentence.start)
        if not sentence.is_heading and overlap > most:
            best, most = index, overlap
    if best is None:
        raise APIError(422, "The span covers no sentence of the text that could state a risk "
                            "(only spaces, a heading or a label line).",
                       errors={"start": ["No sentence between start and end."]})
    sentence = sentences[best]
    return Sentence(sentence.text, sentence.start, sentence.end,
                    sentence_context(text, sentences, best))


def lock(scan_id: str, project_id: str | None) -> bool:
    """Take the scan for this transaction, as its first statements: its project's register
    first (the order a scan into a project takes them), then its row. Two people adding the
    same sentence at once then add it in turn, and the second finds the first's finding.
    False: the scan is gone."""
    if project_id is not None:
        register.hold(project_id, first=True)
    else:
        db.session.rollback()
    return lock_row(Scan, scan_id)


def add(scan: Scan, sentence: Sentence, category: str, caller: Caller,
        vector: np.ndarray | None) -> ScanFinding:
    """Add ``sentence`` to ``scan`` (locked: lock) as a risk of ``category``; into its
    project's register too, with ``vector`` (its unit embedding). 422 when a finding of the
    scan already holds the sentence: that one is corrected instead (PATCH)."""
    for other in scan.findings:
        if other.start < sentence.end and sentence.start < other.end:
            what = "a near miss" if other.possible else "another finding"
            raise APIError(422, f"That sentence is inside {what} of this scan (finding "
                                f"{other.id}): correct that one's category instead.",
                           errors={"start": [f"Inside finding {other.id}."]})
    finding = ScanFinding(risk=sentence.text, category=category, context=sentence.context,
                          score=None, start=sentence.start, end=sentence.end,
                          added_by_user=True)
    corrections.corrected(finding, caller, category)
    # The findings stay in the order of the text: numbered again (a deletion leaves gaps).
    for position, each in enumerate(sorted([*scan.findings, finding], key=lambda f: f.start)):
        if each.position != position:
            each.position = position
    scan.findings.append(finding)
    db.session.flush()
    if scan.project_id is not None:
        register.hold(scan.project_id).add_finding(scan, finding, vector, actor_id=caller.id)
    audit.record("finding_added", actor_id=caller.id, target_id=str(finding.id),
                 scan_id=scan.id, project_id=scan.project_id, category=category)
    return finding


def remove(scan: Scan, finding_id: str, caller: Caller) -> None:
    """Delete a finding a person added to ``scan`` (locked: lock), and its place in the
    register: an entry it alone stated stays, as one added by hand with what people gave
    it (Held.remove_finding); 409 for a model's finding, which is corrected to ``none``
    instead."""
    finding = of(scan, finding_id)
    if not finding.added_by_user:
        raise APIError(409, "A model's finding is kept with what people answered: correct "
                            "it to none (PATCH) to say it is not a risk.")
    if scan.project_id is not None:
        register.hold(scan.project_id).remove_finding(scan, finding, actor_id=caller.id)
    scan.findings.remove(finding)  # delete-orphan: its row goes
    audit.record("finding_removed", actor_id=caller.id, target_id=str(finding.id),
                 scan_id=scan.id, project_id=scan.project_id,
                 category=finding.effective_category)


def of(scan: Scan, finding_id: str) -> ScanFinding:
    """The finding of ``scan`` with this id; the 404 of a missing one otherwise."""
    finding = next((f for f in scan.findings if str(f.id) == finding_id), None)
    if finding is None:
        raise not_found("finding")
    return finding
