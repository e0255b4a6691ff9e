"""Hostile text through the API: runs of punctuation hand the model no sentence, and very
long lines give findings of bounded size on SQLite and MariaDB.

A run of "=" kept a core busy for minutes inside spaCy (GIL held); a 30,000-character line
without a full stop became one finding whose context overflowed MySQL's TEXT column. How
long these take is measured, as ratios in one process, by ``python -m bench.text_limits``
(a shared machine's seconds are no test).
"""

from __future__ import annotations

import pytest

from service.analysis.segment import CONTEXT_NEIGHBOUR_CHARS, MAX_SENTENCE_CHARS
from service.analysis.transformer import TransformerAnalyzer
from testkit.documents import PLAIN_SENTENCES, RISKY_SENTENCES
from testkit.llm_server import FakeLLMServer
from tests.helpers import Accounts, assert_problem
from tests.scanning import created, post_text

CONTEXT_LIMIT = MAX_SENTENCE_CHARS + 2 * CONTEXT_NEIGHBOUR_CHARS + 2
PROSE = " ".join(RISKY_SENTENCES + PLAIN_SENTENCES)


@pytest.fixture
def headers(scan_app, scan_client):
    return Accounts(scan_app, scan_client).user()[1]


@pytest.fixture
def classified(monkeypatch) -> list:
    """Every sentence the model is handed, in order."""
    handed: list = []
    classify = TransformerAnalyzer.classify

    def recording(self, sentences, **kwargs):
        handed.extend(sentences)
        return classify(self, sentences, **kwargs)

    monkeypatch.setattr(TransformerAnalyzer, "classify", recording)
    return handed


def test_runs_of_punctuation_hand_the_model_no_sentence(scan_client, headers, classified):
    """Prose of the same length is classified sentence by sentence; a run without words
    has none, so the model does no work on it (bench/text_limits.py times both)."""
    n = 20_000
    prose = (PROSE * (n // len(PROSE) + 1))[:n]
    created(post_text(scan_client, headers, prose))
    assert len(classified) > 100
    classified.clear()

    for unit in ("=", "(", "_", "=(_"):
        scan = created(post_text(scan_client, headers, (unit * n)[:n]))

        assert scan["data"] == [] and scan["text_length"] == n
        assert classified == [], unit


def test_a_long_line_without_full_stops_gives_bounded_findings(scan_client, headers):
    words = " ".join(s.rstrip(".") for s in RISKY_SENTENCES) + " "
    line = (words * (30_000 // len(words) + 1))[:30_000]
    text = f"Status report.\n{line}\nThe budget is frozen."

    scan = created(post_text(scan_client, headers, text))
    stored = scan_client.get(f"/api/v1/scans/{scan['scan_id']}", headers=headers).get_json()

    for findings in (scan["data"], stored["data"]):
        assert findings  # the line states risks throughout
        for finding in findings:
            assert len(finding["risk"]) <= MAX_SENTENCE_CHARS
            assert len(finding["context"]) <= CONTEXT_LIMIT
            assert text[finding["start"]:finding["end"]] == finding["risk"]
            assert finding["risk"] in finding["context"] and finding["context"] in text
    assert [f["risk"] for f in stored["data"]] == [f["risk"] for f in scan["data"]]


def test_force_llm_on_a_run_of_dots_answers_and_sends_only_sentences(make_app):
    with FakeLLMServer(risks={"The vendor is late.": "vendor"}) as llm:
        app = make_app(LLM_BASE_URL=llm.base_url, LLM_MODEL="m", LLM_TIMEOUT_S=5.0)
        client = app.test_client()
        headers = Accounts(app, client).user()[1]
        text = "." * 20_000 + "x\n" + "The vendor is late. " * 10

        scan = created(post_text(client, headers, text, force_llm=True))

        assert scan["source"] == "llm"
        assert [f["risk"] for f in scan["data"]] == ["The vendor is late."] * 10
        assert all(len(f["context"]) <= CONTEXT_LIMIT for f in scan["data"])
        assert all("..." not in r.document for r in llm.requests)


def test_a_slow_llm_scan_stops_at_the_scan_deadline_and_keeps_its_call_log(make_app):
    """Two chunks are answered at once; the third is held (on the server's stop event)
    past the scan's deadline: the scan is a 504 that keeps the three calls' log, and no
    call follows the deadline."""
    from sqlalchemy import select

    from service.db import LLMCallLog, Scan
    from service.extensions import db

    paragraphs = [f"Supplier {i} may deliver the parts {i + 2} weeks late. " * 4
                  for i in range(12)]
    text = "\n\n".join(paragraphs)
    with FakeLLMServer(risks={}) as llm:
        llm.queue, llm.behaviour, llm.hang_s = ["good", "good"], "hang", 600
        app = make_app(LLM_BASE_URL=llm.base_url, LLM_MODEL="m", LLM_TIMEOUT_S=5.0,
                       LLM_SCAN_TIMEOUT_S=1.0, LLM_CHUNK_CHARS=500)
        client = app.test_client()
        headers = Accounts(app, client).user()[1]
        response = client.post("/api/v1/scans", json={"text": text, "force_llm": True},
                               headers=headers)
        asked = len(llm.requests)

    problem = assert_problem(response, 504)
    assert "within 1 s (LLM_SCAN_TIMEOUT_S)" in problem["detail"]
    with app.app_context():
        calls = db.session.scalars(select(LLMCallLog).order_by(LLMCallLog.id)).all()
        assert db.session.scalars(select(Scan)).all() == []
        assert [call.status for call in calls] == ["ok", "ok", "timeout"]
    assert asked == 3 < len(text) // 500
