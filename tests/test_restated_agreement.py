"""Merging a second annotator's labels of the restated pairs: κ, the blind adjudication list,
and the set rewritten from the agreed and adjudicated labels."""

from __future__ import annotations

import json

import pytest

from ml.data.restated_agreement import AgreementError, kappa, main


def write(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def pair(identifier, relation, a="Only one engineer knows the billing module.",
         b="The billing module still depends on a single engineer.", category_b="resource"):
    return {"id": identifier, "split": "test", "a": a, "b": b, "category_a": "resource",
            "category_b": category_b, "relation": relation, "kind": "restated"}


def test_kappa_is_cohens():
    # 8 of 10 agree; each annotator says "same" 5 times: expected agreement 0.5, κ 0.6.
    first = ["same"] * 5 + ["different"] * 5
    second = ["same"] * 4 + ["different"] + ["same"] + ["different"] * 4
    assert kappa(first, second) == pytest.approx(0.6)
    assert kappa(["same"] * 3, ["same"] * 3) == 1.0


def test_disagreements_are_listed_blind_and_the_set_is_rewritten(tmp_path, capsys):
    a = write(tmp_path / "a.jsonl", [{"id": "p1", "relation": "same"},
                                     {"id": "p2", "relation": "same"},
                                     {"id": "p3", "relation": "different"}])
    b = write(tmp_path / "b.jsonl", [{"id": "p1", "relation": "same"},
                                     {"id": "p2", "relation": "different"},
                                     {"id": "p3", "relation": "unsure"}])
    candidates = write(tmp_path / "c.jsonl", [{"id": f"p{i}", "first": {"text": "x"},
                                               "second": {"text": "y"}} for i in (1, 2, 3)])
    out = tmp_path / "adjudication.jsonl"
    report = main([str(a), str(b), "--candidates", str(candidates), "--out", str(out)])
    assert report["agreed"] == 1 and report["disagreements"] == 2
    listed = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["id"] for row in listed] == ["p2", "p3"]
    assert sorted(listed[0]["labels"]) == ["different", "same"] and "A" not in listed[0]
    assert listed[0]["first"] == {"text": "x"}

    the_set = write(tmp_path / "restated.jsonl", [
        pair("p1", "same"), pair("p2", "same", category_b="budget"), pair("p3", "different")])
    resolved = write(tmp_path / "resolved.jsonl", [{"id": "p2", "relation": "different"},
                                                   {"id": "p3", "relation": "drop"}])
    main([str(a), str(b), "--resolved", str(resolved), "--write", str(the_set)])
    rows = [json.loads(line) for line in the_set.read_text().splitlines()]
    assert [(row["id"], row["relation"], row["kind"]) for row in rows] == [
        ("p1", "same", "restated"), ("p2", "different", "other-category")]
    capsys.readouterr()


def test_an_unresolved_disagreement_or_a_stray_id_is_refused(tmp_path):
    a = write(tmp_path / "a.jsonl", [{"id": "p1", "relation": "same"}])
    b = write(tmp_path / "b.jsonl", [{"id": "p1", "relation": "different"}])
    the_set = write(tmp_path / "restated.jsonl", [pair("p1", "same")])
    with pytest.raises(AgreementError, match="not resolved"):
        main([str(a), str(b), "--write", str(the_set)])
    stray = write(tmp_path / "stray.jsonl", [{"id": "p9", "relation": "same"}])
    with pytest.raises(AgreementError, match="different pairs"):
        main([str(a), str(stray)])
