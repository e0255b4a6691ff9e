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


def test_the_new_writers_set_is_every_document_of_its_file_by_groups_no_other_set_has():
    found = yardstick.SETS["new-writers"].documents()
    records = [json.loads(line) for line in yardstick.NEW_WRITERS.read_text(encoding="utf-8")
               .splitlines()]
    assert [d.id for d in found] == [r["id"] for r in records]
    assert len({r["group"] for r in records}) >= 20
    for record, sheet in zip(records, yardstick.sheets(found), strict=True):
        assert record["sentences_labelled"] == len(sheet["sentences"]), record["id"]
        assert record["licence"] and record["source"].count("@") == 1
    elsewhere = {d.source.split("@")[0] for name in ("test.jsonl", "dev.jsonl")
                 for d in read_documents(yardstick.DOCUMENTS / name) if d.source}
    assert not {d.source.split("@")[0] for d in found} & elsewhere
    assert yardstick.SETS["46"].documents() == yardstick.documents()


def test_writing_a_set_stores_its_readings_and_its_risks_in_its_own_file(tmp_path, monkeypatch):
    text = "# Report\n\nWe shipped 1.0 in May. Only one maintainer is left, so reviews stall.\n"
    path, readings = tmp_path / "set.jsonl", tmp_path / "set-labels.jsonl"
    other = {"id": "x/other", "genre": "x", "text": "Untouched.", "risks": []}
    path.write_text(json.dumps({"id": "x/doc", "genre": "x", "text": text, "risks": []}) + "\n"
                    + json.dumps(other) + "\n", encoding="utf-8")
    chosen = yardstick.Set("t", path, readings, ("x/doc",))
    monkeypatch.setitem(yardstick.SETS, "new-writers", chosen)
    sheet, = yardstick.sheets(chosen.documents())
    assert [s["text"] for s in sheet["sentences"]] == [
        "We shipped 1.0 in May.", "Only one maintainer is left, so reviews stall."]
    first, second, resolved = (tmp_path / name for name in ("b.jsonl", "c.jsonl", "r.jsonl"))
    first.write_text('{"doc": "x/doc", "i": 1, "label": "none"}\n'
                     '{"doc": "x/doc", "i": 2, "label": "resource"}\n', encoding="utf-8")
    second.write_text('{"doc": "x/doc", "i": 1, "label": "schedule"}\n'
                      '{"doc": "x/doc", "i": 2, "label": "resource"}\n', encoding="utf-8")
    resolved.write_text('{"doc": "x/doc", "i": 1, "label": "none", "why": "progress"}\n',
                        encoding="utf-8")
    report = yardstick.main(["write", "--set", "new-writers", str(first), str(second),
                             str(resolved)])
    assert report["risks"] == {"original": 0, "adjudicated": 1}
    written = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    start = text.index("Only")
    assert written[0]["risks"] == [{"sentence": "Only one maintainer is left, so reviews stall.",
                                    "category": "resource", "start": start,
                                    "end": start + 46}]
    assert written[0]["sentences_labelled"] == 2 and written[1] == other
    stored = [json.loads(line) for line in readings.read_text(encoding="utf-8").splitlines()]
    assert [row["label"] for row in stored] == ["none", "resource"]
    assert stored[0]["why"] == "progress" and "why" not in stored[1]
    assert read_documents(path)[0].risks == [(start, start + 46, "resource")]
