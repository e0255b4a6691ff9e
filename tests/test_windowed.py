"""A window model's training documents (ml/windowed.py): every training row judged once, in
its real document, a pseudo-document, or, with ``written_in_documents``, at a drawn place
in a real document among its lines."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from ml.windowed import training_documents

REPORT = [("Status report", "Status report"), ("The build is green.", None),
          ("Reviews are on time.", None), ("The vendor may miss the deadline.", None),
          ("Docs were updated.", None), ("We met twice.", None)]
WRITTEN = [(f"Risk number {index} may delay the release.", "schedule") for index in range(30)] \
    + [(f"Plain line number {index}.", "none") for index in range(10)]


@pytest.fixture
def sources(tmp_path):
    """Two reports of six lines (a heading, five sentences) as ml/data/sources/ holds them."""
    folder = tmp_path / "sources"
    folder.mkdir()
    rows = [{"text": text, "label": "none", "source": f"report-{number}", "heading": heading
             or "Status report"} for number in (1, 2) for text, heading in REPORT]
    (folder / "real-reports.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return folder


def rows():
    """The training split: the reports' sentences (one is a risk) and the written ones."""
    labelled = [(text, "schedule" if "vendor" in text else "none")
                for text, heading in REPORT if heading is None]
    texts, labels = zip(*labelled, *WRITTEN)
    weights = [3.0] * len(labelled) + [1.0] * len(WRITTEN)
    return list(texts), list(labels), weights


def judged(documents):
    return Counter((line.text, line.label) for document in documents for line in document
                   if line.label is not None)


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_every_training_row_is_judged_once_with_its_label(sources, share):
    texts, labels, weights = rows()

    documents = training_documents(texts, labels, weights, sources, seed=13,
                                   written_in_documents=share)

    assert judged(documents) == Counter(zip(texts, labels))


def test_written_sentences_are_put_among_a_reports_lines_which_keep_their_order(sources):
    texts, labels, weights = rows()
    written = {text for text, _ in WRITTEN}

    documents = training_documents(texts, labels, weights, sources, seed=13,
                                   written_in_documents=1.0)

    assert len(documents) == 1  # the one report the split judges; no pseudo-documents
    report = documents[0]
    assert report[0].is_heading and report[0].text == "Status report"
    assert [line.text for line in report if line.text not in written] == \
        [text for text, _ in REPORT]
    gaps = Counter(sum(line.text not in written for line in report[:index])
                   for index, line in enumerate(report) if line.text in written)
    assert sum(gaps.values()) == len(WRITTEN)
    assert len(gaps) >= 4  # spread over the report's gaps, not heaped at one place
    assert {line.weight for line in report if line.text in written} == {1.0}


def test_without_the_share_written_sentences_stand_in_pseudo_documents_of_their_own(sources):
    texts, labels, weights = rows()
    written = {text for text, _ in WRITTEN}

    documents = training_documents(texts, labels, weights, sources, seed=13)

    report, *pseudo = documents
    assert not written & {line.text for line in report}
    assert all(line.text in written for document in pseudo for line in document)


def test_half_the_written_sentences_go_into_the_reports(sources):
    texts, labels, weights = rows()
    written = {text for text, _ in WRITTEN}

    report, *_ = training_documents(texts, labels, weights, sources, seed=13,
                                    written_in_documents=0.5)

    assert sum(line.text in written for line in report) == len(WRITTEN) // 2


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_a_share_outside_0_to_1_is_refused(sources, share):
    texts, labels, weights = rows()
    with pytest.raises(ValueError, match="written_in_documents is a share"):
        training_documents(texts, labels, weights, sources, seed=13,
                           written_in_documents=share)


def test_with_no_real_document_judged_the_written_sentences_stand_alone(sources):
    """A split of written sentences only (its reports' lines held out): nowhere to put them."""
    texts, labels = map(list, zip(*WRITTEN))

    documents = training_documents(texts, labels, [1.0] * len(texts), sources, seed=13,
                                   written_in_documents=1.0)

    assert judged(documents) == Counter(WRITTEN)
    assert not any(line.is_heading for document in documents for line in document)
