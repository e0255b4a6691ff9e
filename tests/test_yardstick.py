"""The unseen writers' yardstick (ml/data/yardstick.py): what the evaluation reads on the 46
other foundations' reports is the two annotators' adjudicated labels, and a labels file that
does not cover the sheets is refused before it can move a figure."""

from __future__ import annotations

import json

import pytest

from ml.data import yardstick
from ml.data.yardstick import YardstickError, adjudicated, labels
from ml.documents import read_documents
from ml.scorecard import SETS
from service.analysis.labels import NONE


def _stored() -> list[dict]:
    return [json.loads(line) for line in yardstick.YARDSTICK.read_text(encoding="utf-8")
            .splitlines()]


def test_the_test_documents_carry_the_adjudicated_labels():
    found = yardstick.documents()
    assert [d.id for d in found] == [d.id for d in read_documents(yardstick.TEST)
                                     if SETS["46 other foundations"](d)]
    assert len(found) == 46
    stored = {(row["doc"], row["i"]): row for row in _stored()}
    for document, sheet in zip(found, yardstick.sheets(found), strict=True):
        expected = [(s["start"], s["end"], stored[document.id, s["i"]]["label"])
                    for s in sheet["sentences"] if stored[document.id, s["i"]]["label"] != NONE]
        assert document.risks == expected, document.id
        assert document.sentences_labelled == len(sheet["sentences"])
    assert len(stored) == sum(len(sheet["sentences"]) for sheet in yardstick.sheets(found))


def test_every_sentence_was_read_twice_and_disagreements_were_decided_with_a_reason():
    for row in _stored():
        if row["first"] == row["second"]:
            assert row["label"] == row["first"] and "why" not in row
        else:
            assert row["why"], row


def test_agreed_labels_stand_and_disagreements_take_the_resolution():
    first = {("d", 0): "budget", ("d", 1): "none", ("d", 2): "vendor"}
    second = {("d", 0): "budget", ("d", 1): "resource", ("d", 2): "schedule"}
    assert adjudicated(first, second, {("d", 1): "none", ("d", 2): "vendor",
                                       ("d", 0): "quality"}) == {
        ("d", 0): "budget", ("d", 1): "none", ("d", 2): "vendor"}
    with pytest.raises(YardstickError, match="1 disagreements unresolved"):
        adjudicated(first, second, {("d", 1): "none"})


@pytest.mark.parametrize("rows, words", [
    ([{"doc": "d", "i": 0, "label": "budget"}], "1 sentences unlabelled"),
    ([{"doc": "d", "i": 0, "label": "money"}, {"doc": "d", "i": 1, "label": "none"}], ":1:"),
    ([{"doc": "d", "i": 0, "label": "none"}] * 2, ":2:"),
    ([{"doc": "e", "i": 0, "label": "none"}], ":1:"),
])
def test_a_labels_file_that_does_not_cover_the_sheets_is_refused(tmp_path, rows, words):
    path = tmp_path / "labels.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    with pytest.raises(YardstickError, match=words):
        labels(path, {("d", 0), ("d", 1)})
