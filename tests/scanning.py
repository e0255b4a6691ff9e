"""What the scan tests share: posting scans, checking findings, looking at the database and
at UPLOAD_DIR the way an operator would."""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event, func, select

from service.analysis.base import Analysis, Finding
from service.analysis.labels import RISK_LABELS
from service.config import current_settings
from service.db import Scan, ScanFinding
from service.extensions import db
from testkit.documents import PLAIN_SENTENCES, RISKY_SENTENCES

# Risks and plain sentences, over two lines.
TEXT = (" ".join(RISKY_SENTENCES[:3]) + " " + PLAIN_SENTENCES[0] + "\n"
        + " ".join(RISKY_SENTENCES[3:]) + " " + PLAIN_SENTENCES[1])

# Two of them, for tests that need a finding but not a long text (CPU time per sentence).
FEW = RISKY_SENTENCES[1] + " " + RISKY_SENTENCES[3]

SCAN_KEYS = {"scan_id", "data", "source", "model_version", "timestamp", "filename", "counts"}


def post_text(client, headers, text=FEW, **fields):
    return client.post("/api/v1/scans", json={"text": text, **fields}, headers=headers)


def post_file(client, headers, data: bytes, filename: str, path="/api/v1/scans", **form):
    return client.post(path, data={"file": (io.BytesIO(data), filename), **form},
                       headers=headers, content_type="multipart/form-data")


def created(response) -> dict:
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert SCAN_KEYS <= body.keys(), body.keys()
    return body


def check_findings(text: str, scan: dict) -> None:
    """What holds for any model: findings point into the analysed text, in order, with
    taxonomy labels, and the counts are counts of them."""
    findings = scan["data"]
    assert findings, "no risk found in sentences that state risks plainly"
    for finding in findings:
        assert text[finding["start"]:finding["end"]] == finding["risk"], finding
        assert finding["category"] in RISK_LABELS
        assert finding["risk"] in finding["context"] and finding["context"] in text
        assert 0 < finding["score"] <= 1
        assert finding["corrected_category"] is None
    assert [f["start"] for f in findings] == sorted(f["start"] for f in findings)
    assert len({f["id"] for f in findings}) == len(findings)
    assert scan["counts"] == dict(Counter(f["category"] for f in findings))
    assert scan["text_length"] == len(text)


def download(client, scan_id, headers) -> tuple[int, bytes]:
    """(status, body) of GET …/file; the response is closed (it holds the stored file open)."""
    response = client.get(f"/api/v1/scans/{scan_id}/file", headers=headers)
    try:
        return response.status_code, response.get_data()
    finally:
        response.close()


def without_request_id(response) -> dict:
    body = dict(response.get_json())
    body.pop("request_id", None)
    return body


def count_rows(app, model=Scan) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(model))
        db.session.remove()
        return count


@contextmanager
def statements_run(app) -> Iterator[list[str]]:
    """The SQL statements ``app``'s engine runs while the block runs, in order: what a test
    asserts a request reads or leaves alone."""
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def heard(_conn, _cursor, statement, *_args):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", heard)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", heard)


def nothing_stored(app) -> None:
    """No scan row, no finding row, no file and no scan folder under UPLOAD_DIR."""
    assert count_rows(app, Scan) == 0
    assert count_rows(app, ScanFinding) == 0
    root = Path(current_settings(app).UPLOAD_DIR)
    if root.exists():
        assert [p for p in root.rglob("*") if p.is_file()] == []
        assert [p for p in root.glob("*/*")] == []  # no <user_id>/<scan_id> folder


def scan_dir(app, user_id: str, scan_id: str) -> Path:
    return Path(current_settings(app).UPLOAD_DIR) / user_id / scan_id


class KeywordAnalyzer:
    """A stand-in for the model where a test needs known findings: a sentence with one of
    the keywords is a risk of its category. Offsets are computed like the model's."""

    source = "model"
    version = "keyword-test"
    KEYWORDS = (("budget", "budget"), ("vendor", "vendor"), ("slip", "schedule"),
                ("password", "security"))

    def analyze(self, text: str, *, min_score: float | None = None) -> Analysis:
        findings = []
        for match in re.finditer(r"[^.!?\n]+[.!?]?", text):
            sentence = match.group().strip()
            start = match.start() + match.group().index(sentence[:1]) if sentence else 0
            for word, category in self.KEYWORDS:
                if sentence and word in sentence.lower():
                    findings.append(Finding(risk=sentence, category=category, context=sentence,
                                            score=0.9, start=start, end=start + len(sentence)))
                    break
        return Analysis(findings)


class NearAnalyzer:
    """A stand-in for the model where a test needs known scores around an operating point:
    a sentence with one of the keywords is a risk of its category with that keyword's
    score, a finding when the score reaches ``min_score`` (the request's, else the
    stand-in's own operating point, as the model's calibration gives it)."""

    source = "model"
    version = "near-test"
    min_score = 0.6
    SCORES = (("budget", "budget", 0.3), ("vendor", "vendor", 0.55),
              ("slip", "schedule", 0.8), ("password", "security", 0.95))

    def analyze(self, text: str, *, min_score: float | None = None) -> Analysis:
        threshold = self.min_score if min_score is None else min_score
        findings = []
        for match in re.finditer(r"[^.!?\n]+[.!?]?", text):
            sentence = match.group().strip()
            if not sentence:
                continue
            start = match.start() + match.group().index(sentence[0])
            for word, category, score in self.SCORES:
                if word in sentence.lower():
                    if score >= threshold:
                        findings.append(Finding(risk=sentence, category=category,
                                                context=sentence, score=score, start=start,
                                                end=start + len(sentence)))
                    break
        return Analysis(findings)
