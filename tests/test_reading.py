"""Reading a document once (service/analysis/reading.py): each sentence with its offsets,
whether it is a heading, its heading and the sentence before it, made in one step however
many models then score it."""

from __future__ import annotations

import pytest

from service.analysis import reading
from service.analysis.cascade_model import Cascade
from service.analysis.context import sentence_contexts
from service.analysis.reading import judged, sentences_of
from service.analysis.segment import split_sentences

REPORT = """# Weekly status

## Done this week

The patch for the login flaw was released on Monday. The new build server is live.

Open items:
- The vendor has not signed the support contract.
- Only one engineer knows the billing code.

| Risk | Owner |
|---|---|
| Funding may end in June. | Ana |
"""


def test_read_gives_each_sentence_its_offsets_heading_and_previous_sentence() -> None:
    sentences = sentences_of(REPORT)

    assert [(s.text, s.is_heading, s.heading, s.previous) for s in sentences] == [
        ("Weekly status", True, "", ""),
        ("Done this week", True, "Weekly status", "Weekly status"),
        ("The patch for the login flaw was released on Monday.", False, "Done this week",
         "Done this week"),
        ("The new build server is live.", False, "Done this week",
         "The patch for the login flaw was released on Monday."),
        ("Open items:", True, "Done this week", "The new build server is live."),
        ("The vendor has not signed the support contract.", False, "Open items:",
         "Open items:"),
        ("Only one engineer knows the billing code.", False, "Open items:",
         "The vendor has not signed the support contract."),
        ("Risk", True, "Open items:", "Only one engineer knows the billing code."),
        ("Owner", True, "Risk", "Risk"),
        ("Funding may end in June.", False, "Owner", "Owner"),
        ("Ana", True, "Owner", "Funding may end in June."),  # a short cell: a label
    ]
    assert all(REPORT[s.start:s.end] == s.text for s in sentences)
    # The same sentences, and the contexts context.py builds from them.
    assert [(s.start, s.end) for s in sentences] == \
        [(s.start, s.end) for s in split_sentences(REPORT)]
    assert [s.context for s in sentences] == \
        sentence_contexts(REPORT, split_sentences(REPORT))
    assert sentences[6].input(True) == (
        "Only one engineer knows the billing code.",
        "Open items: | The vendor has not signed the support contract.")
    assert sentences[6].input(False) == "Only one engineer knows the billing code."
    assert [s.text for s in judged(REPORT)] == [s.text for s in sentences if not s.is_heading]


@pytest.mark.parametrize("text", ["", " \n\t ", "---\n\n...\n"])
def test_text_without_sentences_reads_as_nothing(text) -> None:
    assert sentences_of(text) == []


@pytest.fixture
def counted(monkeypatch):
    """How often the reading step segments a text and asks the heading test."""
    calls = {"split_sentences": 0, "is_heading": 0}

    def counting(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)
        monkeypatch.setattr(reading, name, wrapper)

    counting("split_sentences", reading.split_sentences)
    counting("is_heading", reading.is_heading)
    return calls


def test_a_cascade_scan_reads_its_document_once(trained_analyzer, counted) -> None:
    """The screen and the reader score one reading: one segmentation, one heading test a
    sentence, and the reader is asked about what the screen passed of the same inputs."""
    asked = []

    class Reader:  # the real model, recording what it is asked
        version, min_score, reading = "reader", 0.0, trained_analyzer.input_mode

        def classify(self, sentences, **options):
            asked.append(list(sentences))
            return trained_analyzer.classify(sentences, **options)

    cascade = Cascade(trained_analyzer, Reader(), threshold=0.0)
    findings = cascade.analyze(REPORT).findings

    assert counted == {"split_sentences": 1, "is_heading": len(split_sentences(REPORT))}
    expected = [trained_analyzer.input_mode.input(s) for s in judged(REPORT)]
    # a threshold of 0 passes everything, once, each sentence in its one reading
    assert [[trained_analyzer.input_mode.input(item) for item in inputs] for inputs in asked] \
        == [expected]
    assert len({id(item.document) for item in asked[0]}) == 1
    assert {f.risk for f in findings} <= {s.text for s in judged(REPORT)}
    assert len(findings) == len(expected)  # a reader's point of 0: every sentence a risk


def test_a_scan_through_the_service_reads_once(make_app, scan_model_dir, counted) -> None:
    from tests.helpers import Accounts

    app = make_app(MODEL_DIR=str(scan_model_dir))
    counted.update(split_sentences=0, is_heading=0)  # the warm-up read its own text
    client = app.test_client()
    _, headers = Accounts(app, client).user()

    response = client.post("/api/v1/scans", json={"text": REPORT}, headers=headers)

    assert response.status_code == 201, response.get_json()
    assert counted == {"split_sentences": 1, "is_heading": len(split_sentences(REPORT))}
