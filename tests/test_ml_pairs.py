"""The pair model's candidates (ml/pairs.py): a document's date, the order of a group's
reports, and pairs that only ever look back in time, within one group, split by group.

Every test but the last builds a small corpus of its own (tmp_path) and embeds with a bag of
words, so it is fast and never reads the real corpus; the last reads the committed
candidates file, when there is one.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from ml import pairs
from ml.corpus import CorpusDocument
from service.analysis.reading import sentences_of

COMMIT = "0123456789abcdef0123456789abcdef01234567"
# Each group's reports as (title, file name, what the Risks section says); the true order of
# time is the list's, whatever the file names' order.
WEEKS = [
    ("Weekly status 2024-03-05", "c-status.md",
     ("The {p} vendor may not deliver the sensors before the May milestone. "
      "Only one engineer knows the {p} billing module.")),
    ("Minutes of 12 March 2024", "a-minutes.md",
     ("The {p} vendor still may not deliver the sensors before the June milestone. "
      "Hosting costs of the {p} cluster are above the estimate.")),
    ("Status, March 19, 2024", "b-status.md",
     ("The {p} billing module still depends on one engineer alone. "
      "Hosting costs of the {p} cluster are now far above the estimate.")),
]
PROJECTS = ["falcon", "orbit", "lynx", "heron", "quill", "marten", "osprey", "tern", "vole",
            "wren", "yak", "zebu"]


def report(project: str, risks: str) -> str:
    return (f"# {project} report\n\n## Risks\n\n{risks.format(p=project)}\n\n"
            f"## Progress\n\nThe {project} team finished the login page.\n")


def risks_of(text: str) -> dict[str, str]:
    """Every sentence of the Risks section is a risk (the billing ones `resource`)."""
    return {str(index): "resource" if "billing" in sentence.text else "technical"
            for index, sentence in enumerate(sentences_of(text))
            if not sentence.is_heading and sentence.heading == "Risks"}


def write_corpus(root: Path, projects=PROJECTS, *, origin=None) -> Path:
    """A corpus folder of ``projects``, each with WEEKS' reports (the third undated for
    every other project, which then keeps its file name's place); also one lone report."""
    documents, labels = [], []
    for number, project in enumerate(projects):
        for week, (title, name, risks) in enumerate(WEEKS):
            if week == 2 and number % 2:
                title = "Status"  # no date: its place among the files is "b-", second
            text = report(project, risks)
            documents.append({
                "id": f"c/{project}-{week}", "genre": "status-report", "group": project,
                "origin": origin or f"acme/{project}@{COMMIT}:reports/{name}",
                "licence": "MIT", "title": title, "text": text})
            labels.append({"id": f"c/{project}-{week}", "risks": risks_of(text)})
    lone = report("solo", WEEKS[0][2])
    documents.append({"id": "c/solo", "genre": "minutes", "group": "solo",
                      "origin": f"acme/solo@{COMMIT}:x.md", "licence": "MIT",
                      "title": "Solo", "text": lone})
    labels.append({"id": "c/solo", "risks": risks_of(lone)})
    (root / "documents").mkdir(parents=True)
    (root / "labels").mkdir()
    for folder, name, lines in (("documents", "c.jsonl", documents),
                                ("labels", "c.a.jsonl", labels)):
        (root / folder / name).write_text("".join(json.dumps(line) + "\n" for line in lines),
                                          encoding="utf-8")
    return root


def bag_of_words(texts: list[str]) -> np.ndarray:
    """A stand-in for MiniLM: each word hashed to one of 512 dimensions, normalised."""
    vectors = np.zeros((len(texts), 512), dtype=np.float32)
    for row, text in enumerate(texts):
        for word in text.lower().replace(".", "").split():
            vectors[row, int(hashlib.sha256(word.encode()).hexdigest(), 16) % 512] += 1
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.fixture
def built(tmp_path):
    restated = tmp_path / "restated.jsonl"
    restated.write_text(json.dumps({"split": "test", "group": "Orbit"}) + "\n")

    def build(**options):
        root = write_corpus(tmp_path / f"corpus-{len(list(tmp_path.iterdir()))}",
                            **options.pop("corpus", {}))
        return pairs.build(root, embed=bag_of_words, restated=restated,
                           **{"size": 1000, "cap": 80} | options)

    return build


@pytest.mark.parametrize("title, expected", [
    ("Weekly status 2024-03-05", date(2024, 3, 5)),
    ("Minutes of 5 March 2024", date(2024, 3, 5)),
    ("TSC meeting, March 5th, 2024", date(2024, 3, 5)),
    ("Quarterly report 2024-Q2", date(2024, 4, 1)),
    ("Weekly status", None),
    ("Minutes of 05/03/2024", None),  # 5 March to one reader, May 3 to another
    ("Sprint 2024-03-05 to 2024-03-19", None),  # a range names no one day
])
def test_a_document_is_dated_by_its_title(title, expected):
    assert pairs.document_date(title, "Some text without a date.") == expected


def test_without_a_date_in_its_title_the_first_lines_then_the_file_name_date_it():
    assert pairs.document_date("Minutes", "# Minutes\n\nDate: 2019-06-24\n") == date(2019, 6, 24)
    assert pairs.document_date("Minutes", "No date.", f"a/b@{COMMIT}:m/20201006_notes.md") \
        == date(2020, 10, 6)
    assert pairs.document_date("Minutes", "No date.", f"a/b@{COMMIT}:adr/0011-x.md") is None


def document(doc_id: str, title: str, path: str) -> CorpusDocument:
    return CorpusDocument(doc_id, "minutes", "g", f"acme/g@{COMMIT}:{path}", "MIT", title,
                          "Text.", "c")


def test_a_groups_documents_are_ordered_by_date_and_an_undated_one_keeps_its_place():
    documents = [document("late", "Minutes of 9 May 2024", "notes/1.md"),
                 document("undated", "Minutes", "notes/2.md"),
                 document("early", "Minutes of 5 March 2024", "notes/10.md"),
                 document("undated-last", "Minutes", "notes/11.md")]
    ordered = [(doc.id, day) for doc, day in pairs.in_time(documents)]
    assert ordered == [("early", date(2024, 3, 5)), ("undated", None),
                       ("late", date(2024, 5, 9)), ("undated-last", None)]
    undated = [document(f"n{n}", "Minutes", f"notes/{n}.md") for n in (10, 9, 2)]
    assert [doc.id for doc, _ in pairs.in_time(undated)] == ["n2", "n9", "n10"]


def test_a_pair_looks_back_in_time_within_its_group_and_carries_no_label(built):
    made = built()
    assert made, "the small corpus gives candidates"
    # In time: weeks 0, 1, 2; where week 2 is undated, its file name puts it second.
    rank = {f"c/{project}-{week}": place for number, project in enumerate(PROJECTS)
            for place, week in enumerate((0, 2, 1) if number % 2 else (0, 1, 2))}
    for pair in made:
        assert rank[pair["doc_a"]] < rank[pair["doc_b"]], pair  # a is the earlier statement
        assert pair["doc_a"].startswith(f"c/{pair['group']}-")
        assert pair["doc_b"].startswith(f"c/{pair['group']}-")
        assert pair["a"] != pair["b"] and pair["cosine"] >= pairs.FLOOR
        assert not {"label", "relation"} & set(pair)
        assert {"id", "split", "group", "genre", "collection", "doc_a", "doc_b", "a", "b",
                "category_a", "category_b", "cosine"} <= set(pair)
    assert "c/solo" not in {pair["doc_b"] for pair in made}
    # The restated sensors risk of week 1 finds week 0's statement of it first.
    sensors = [p for p in made if p["group"] == "falcon" and "June milestone" in p["b"]]
    assert sensors and "May milestone" in max(sensors, key=lambda p: p["cosine"])["a"]


def test_each_later_statement_meets_at_most_the_top_three_earlier_ones(built):
    made = built()
    per_statement: dict[tuple, int] = {}
    for pair in made:
        key = (pair["doc_b"], pair["b"])
        per_statement[key] = per_statement.get(key, 0) + 1
    assert max(per_statement.values()) <= pairs.TOP


def test_splits_are_disjoint_by_group_and_restateds_test_groups_stay_test(built):
    made = built()
    split_of: dict[str, set[str]] = {}
    for pair in made:
        split_of.setdefault(pair["group"], set()).add(pair["split"])
    assert all(len(splits) == 1 for splits in split_of.values()), split_of
    assert split_of["orbit"] == {"test"}  # restated.jsonl's test group "Orbit"
    assert {split for splits in split_of.values() for split in splits} == {
        "train", "dev", "test"}


def test_ids_are_stable_and_do_not_move_with_the_rest_of_the_corpus(built):
    first = {pair["id"]: (pair["doc_a"], pair["a"], pair["doc_b"], pair["b"])
             for pair in built()}
    assert len(first) == len(built())
    fewer = {pair["id"]: (pair["doc_a"], pair["a"], pair["doc_b"], pair["b"])
             for pair in built(corpus={"projects": PROJECTS[:3]})}
    assert fewer and all(first[pair_id] == pair for pair_id, pair in fewer.items())


def test_the_sample_caps_each_group_and_draws_every_cosine_band(built):
    made = built()
    capped = built(cap=2, size=1000)
    assert max(sum(p["group"] == g for p in capped) for g in PROJECTS) == 2
    bands = {pairs.band(pair["cosine"]) for pair in made}
    small = built(size=len(bands) * 2)
    assert len(small) == len(bands) * 2 and {pairs.band(p["cosine"]) for p in small} == bands


def test_a_reserved_source_is_refused_even_if_the_corpus_check_was_skipped(built):
    with pytest.raises(pairs.PairsError, match="reserved"):
        built(corpus={"origin": f"someone/mirror@{COMMIT}:incubator/podling-reports/x.md"})


def test_the_second_readers_sample_takes_a_share_of_every_collection_and_band():
    made = [{"id": f"p{n}", "collection": collection, "cosine": cosine, "genre": "minutes"}
            for n, (collection, cosine) in enumerate(
                [("x", 0.35)] * 50 + [("x", 0.8)] * 40 + [("y", 0.5)] * 10)]
    chosen = pairs.second_annotator_sample(made)
    by_id = {pair["id"]: pair for pair in made}
    strata = [(by_id[i]["collection"], pairs.band(by_id[i]["cosine"])) for i in chosen]
    assert strata.count(("x", "0.30-0.40")) == 6 and strata.count(("x", "0.62-1.00")) == 5
    assert strata.count(("y", "0.50-0.62")) == 1
    assert chosen == pairs.second_annotator_sample(made)
    assert len(pairs.second_annotator_sample(made, count=30)) == 30


def test_agreement_reads_two_annotators_and_refuses_what_is_not_a_label(tmp_path):
    made = [{"id": f"p{n}", "genre": "minutes" if n < 4 else "status-report"}
            for n in range(8)]
    labels_a = ["same", "same", "different", "different"] * 2
    labels_b = ["same", "different", "different", "different"] * 2
    for name, labels in (("a", labels_a), ("b", labels_b)):
        (tmp_path / f"{name}.jsonl").write_text("".join(
            json.dumps({"id": f"p{n}", "label": label}) + "\n" for n, label in enumerate(labels)))
    known = {pair["id"] for pair in made}
    table = pairs.agreement(made, pairs.read_relations(tmp_path / "a.jsonl", known),
                            pairs.read_relations(tmp_path / "b.jsonl", known))
    assert table["all"] == {"pairs": 8, "agreement": 0.75, "kappa": 0.5}
    assert table["minutes"]["pairs"] == 4
    for line, why in (({"id": "p0", "label": "maybe"}, "label"),
                      ({"id": "elsewhere", "label": "same"}, "no candidate"),
                      ("[1, 2]", "label")):
        (tmp_path / "bad.jsonl").write_text(json.dumps(line) + "\n")
        with pytest.raises(pairs.PairsError, match=why):
            pairs.read_relations(tmp_path / "bad.jsonl", known)
    (tmp_path / "twice.jsonl").write_text(2 * (json.dumps({"id": "p0", "label": "same"}) + "\n"))
    with pytest.raises(pairs.PairsError, match="twice"):
        pairs.read_relations(tmp_path / "twice.jsonl", known)


def test_the_committed_candidates_are_enough_and_split_by_group():
    """Reads ml/data/pairs/candidates.jsonl, when it is there."""
    if not pairs.CANDIDATES.is_file():
        pytest.skip("no candidates file yet: python -m ml.pairs candidates")
    made = pairs.read_pairs()
    assert len(made) >= 2000 and len({pair["group"] for pair in made}) >= 50
    split_of: dict[str, set[str]] = {}
    for pair in made:
        split_of.setdefault(pair["group"], set()).add(pair["split"])
    assert [group for group, splits in split_of.items() if len(splits) > 1] == []
    restated_test = pairs.restated_test_groups()
    assert not [g for g, splits in split_of.items()
                if g.lower() in restated_test and splits != {"test"}]
    assert len({pair["id"] for pair in made}) == len(made)
    assert not [pair for pair in made if "label" in pair or "relation" in pair]
