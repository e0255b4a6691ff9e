"""The corpus of real project writing (ml/corpus.py): what may be in it, how its labels are
read against the text, and how it reaches training.

The first test reads the corpus as committed: every document licensed, placed on record,
neither reserved for evaluation nor of a test set's writers, in one place only, and every
label on a sentence the service judges. The others build small corpora of their own.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ml import corpus
from ml.data.build_splits import read_source_file
from ml.evaluate import read_labelled_rows
from service.analysis.labels import LABELS
from service.analysis.reading import sentences_of

REPORT = ("# Falcon status, week 12\n\n## Risks\n\n"
          "The vendor may not deliver the sensors before the May milestone. "
          "Only one engineer knows the billing module.\n\n"
          "## Progress\n\nThe team finished the login page.\n")


def test_the_committed_corpus_is_licensed_placed_and_kept_apart_from_every_test_set():
    """Reads every document and label of ml/data/corpus against the test sets' files."""
    found = corpus.problems()
    assert found == [], "\n".join(found[:30])
    documents = corpus.read_documents()
    assert len(documents) >= 1000
    assert len({document.group for document in documents}) >= 250
    assert len({document.genre for document in documents}) >= 8


def document(doc_id="c/report", **changes) -> dict:
    return {"id": doc_id, "genre": "status-report", "group": "acme-falcon",
            "origin": "acme/falcon@0123456789abcdef0123456789abcdef01234567:docs/week-12.md",
            "licence": "MIT", "title": "Falcon status, week 12", "text": REPORT, **changes}


def judged(text: str = REPORT) -> dict[str, int]:
    return {s.text: i for i, s in enumerate(sentences_of(text)) if not s.is_heading}


@pytest.fixture
def made(tmp_path):
    """A corpus folder, its licences folder and one test set, each written by the test."""

    made_count = iter(range(100))

    def make(documents: list[dict], labels: dict[str, list[dict]], *, licences=("MIT",),
             test_documents=()) -> tuple[Path, Path, list[Path]]:
        folder = tmp_path / f"made-{next(made_count)}"
        root = folder / "corpus"
        (root / "documents").mkdir(parents=True)
        (root / "labels").mkdir()
        (root / "documents" / "c.jsonl").write_text(
            "".join(json.dumps(d) + "\n" for d in documents), encoding="utf-8")
        for name, lines in labels.items():
            (root / "labels" / f"c.{name}.jsonl").write_text(
                "".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
        licences_dir = folder / "licenses"
        licences_dir.mkdir()
        for licence in licences:
            (licences_dir / f"c.{licence}.txt").write_text("licence text")
        tests = folder / "test.jsonl"
        tests.write_text("".join(json.dumps(d) + "\n" for d in test_documents))
        return root, licences_dir, [tests]

    return make


def reading(risks: dict[int, str], doc_id="c/report") -> dict:
    return {"id": doc_id, "sentences": len(sentences_of(REPORT)),
            "risks": {str(index): label for index, label in risks.items()}}


def problems_of(made_corpus) -> list[str]:
    root, licences, tests = made_corpus
    return corpus.problems(root, licences_dir=licences, test_paths=tests)


def test_a_clean_corpus_has_no_problem_and_its_rows_carry_labels_and_context(made):
    index = judged()
    made_corpus = made([document()], {"a": [reading({
        index["The vendor may not deliver the sensors before the May milestone."]: "vendor"})]})
    assert problems_of(made_corpus) == []

    root = made_corpus[0]
    rows = list(corpus.rows(corpus.read_documents(root),
                            corpus.final_labels(corpus.read_labels(root))))
    assert [(row["text"], row["label"]) for row in rows] == [
        ("The vendor may not deliver the sensors before the May milestone.", "vendor"),
        ("Only one engineer knows the billing module.", "none"),
        ("The team finished the login page.", "none")]
    assert rows[1]["heading"] == "Risks" and rows[1]["previous"].startswith("The vendor")
    assert {row["group"] for row in rows} == {"acme-falcon"}


@pytest.mark.parametrize("origin, why", [
    ("apache/kafka@0123456789abcdef0123456789abcdef01234567:docs/report.md", "reserved"),
    ("Apache/incubator@0123456:reports/2024.md", "reserved"),
    ("https://www.apache.org/foundation/records/minutes/2024/board.txt", "reserved"),
    ("someone/mirror@0123456:incubator/podling-reports/2023.md", "reserved"),
    ("AcademySoftwareFoundation/tac@0123456:meetings/2023/2023-01-10.md", "reserved"),
    ("AcademySoftwareFoundation/tac@0123456:tsc/2024-notes.md", "reserved"),
    ("freebsd/freebsd-doc@0123456:website/content/en/status/report-2024-01-2024-03/x.adoc",
     "reserved"),
    ("https://www.freebsd.org/status/report-2025-07-2025-09/", "reserved"),
    ("someone/mirror@0123456:freebsd-status/2024q2.md", "reserved"),
    ("cncf/toc@0123456:projects/other/annual.md", "holds test documents"),
    ("not an origin", "neither owner/repo@commit:path nor a URL"),
])
def test_a_reserved_or_test_sets_origin_or_an_unrecorded_one_is_refused(made, origin, why):
    test_set = [{"id": "t", "text": "other", "source": "cncf/toc@4acc1dcf:projects/akri/a.md",
                 "group": "cncf-akri", "risks": []}]
    found = problems_of(made([document(origin=origin)], {"a": [reading({})]},
                             test_documents=test_set))
    assert any(why in line for line in found), found


def test_a_test_sets_writer_group_its_text_a_missing_licence_or_genre_is_refused(made):
    test_set = [{"id": "t", "text": "The same words.", "source": "x/y@0123456:a.md",
                 "group": "acme-falcon", "risks": []}]
    documents = [document(), document("c/copy", text="The same  words!", group="acme-other"),
                 document("c/twice", group="acme-twice", licence="CC-BY-4.0", genre="poem")]
    found = problems_of(made(documents, {"a": [reading({}), reading({}, "c/copy"),
                                               reading({}, "c/twice")]},
                             test_documents=test_set))
    assert any("writer group acme-falcon is a test set's" in line for line in found), found
    assert any("c/copy: its text is a test document's" in line for line in found), found
    assert any("no licence text c.CC-BY-4.0.txt" in line for line in found), found
    assert any("genre 'poem'" in line for line in found), found


def test_the_same_document_twice_is_refused(made):
    found = problems_of(made([document(), document("c/again", group="acme-b")],
                             {"a": [reading({}), reading({}, "c/again")]}))
    assert any("c/again: its text is c/c/report's too" in line for line in found), found


def test_labels_are_read_against_the_reader_of_the_text(made):
    """A label on a heading, past the end, outside the taxonomy, on a changed segmentation,
    or a document nobody labelled: each is named."""
    heading = next(i for i, s in enumerate(sentences_of(REPORT)) if s.is_heading)
    bad = reading({heading: "vendor", 99: "schedule", judged()[
        "Only one engineer knows the billing module."]: "weather"})
    stale = {**reading({}, "c/other"), "sentences": 3}
    found = problems_of(made([document(), document("c/other", group="acme-b",
                                                   text=REPORT + "\nOne more line.")],
                             {"a": [bad, stale]}))
    assert any(f"sentences [{heading}, 99]" in line for line in found), found
    assert any("['weather'] are not the taxonomy's" in line for line in found), found
    assert any("c/other: labelled on 3 sentences" in line for line in found), found

    unlabelled = problems_of(made([document()], {}))
    assert unlabelled == ["c/report: not labelled by annotator a"]


def test_the_adjudicated_reading_wins_and_agreement_is_cohens_kappa(made):
    index = judged()
    vendor = index["The vendor may not deliver the sensors before the May milestone."]
    engineer = index["Only one engineer knows the billing module."]
    root, _, _ = made([document()], {
        "a": [reading({vendor: "vendor"})],
        "b": [reading({vendor: "vendor", engineer: "resource"})],
        "adjudicated": [reading({engineer: "resource"})]})
    labels = corpus.read_labels(root)
    assert corpus.final_labels(labels) == {"c/report": {vendor: "vendor", engineer: "resource"}}

    table = corpus.agreement(corpus.read_documents(root), labels)
    assert table["all"]["sentences"] == 3
    assert table["all"]["agreement"] == pytest.approx(2 / 3)
    # a: vendor none none; b: vendor resource none. p_o 2/3, p_e (1·1 + 2·1) / 9 = 1/3.
    assert table["all"]["kappa"] == pytest.approx((2 / 3 - 1 / 3) / (1 - 1 / 3))
    assert set(table) == {"all", "status-report"}


def test_cohens_kappa_of_perfect_and_chance_agreement():
    assert corpus.cohen_kappa(["a", "b", "a"], ["a", "b", "a"]) == 1.0
    assert corpus.cohen_kappa(["a", "a", "b", "b"], ["a", "b", "a", "b"]) == pytest.approx(0.0)


def test_the_second_reading_takes_a_tenth_of_each_genre_and_the_same_each_time():
    documents = [corpus.CorpusDocument(f"c/{genre}-{n}", genre, f"g{n}", "x/y@0123456:p",
                                       "MIT", "t", f"text {genre} {n}", "c")
                 for genre, count in (("minutes", 40), ("incident-report", 6)) for n in range(count)]
    chosen = corpus.second_reading_sample(documents)
    assert chosen == corpus.second_reading_sample(documents)
    genres = [doc_id.split("/")[1].rsplit("-", 1)[0] for doc_id in chosen]
    assert genres.count("minutes") == 4 and genres.count("incident-report") == 1


def test_build_splits_and_the_trainers_reader_read_the_rows_the_corpus_writes(made, tmp_path):
    index = judged()
    root, _, _ = made([document()], {"a": [reading({
        index["Only one engineer knows the billing module."]: "resource"})]})
    out = tmp_path / "corpus-rows.jsonl"
    assert corpus.write_rows(root, out) == 3

    read = read_source_file(out)
    assert [(s.text, s.label) for s in read][1] == (
        "Only one engineer knows the billing module.", "resource")
    assert all(s.heading is not None and s.previous is not None for s in read)
    texts, labels, contexts = read_labelled_rows(out)
    split = corpus.training_split(root)
    assert (split.texts, split.labels, split.contexts) == (texts, labels, contexts)
    assert contexts[1].startswith("Risks")

    held = corpus.training_split(root, held_out=["The team finished the login page."])
    assert held.texts == texts[:2]


def test_a_fraction_of_the_corpus_is_a_fraction_of_its_writer_groups(made):
    documents = [document(f"c/{n}", group=f"group-{n % 4}", text=f"{REPORT}\nLine {n}.")
                 for n in range(8)]
    root, _, _ = made(documents, {"a": [reading({}, f"c/{n}") for n in range(8)]})
    read = corpus.read_documents(root)
    half = corpus.writer_groups(read, 0.5, seed=13)
    assert len(half) == 2 and half == corpus.writer_groups(read, 0.5, seed=13)
    split = corpus.training_split(root, fraction=0.5, seed=13)
    assert len(split.texts) == len(corpus.training_split(root).texts) // 2


def test_the_shipped_recipe_reads_the_first_corpus_until_the_second_is_measured(made):
    """Issue #84: the second thousand documents are committed before their recipes are
    measured; the shipped recipe reads the first seven collections, an experiment all."""
    from ml.recipe import FIRST_CORPUS, TrainingConfig

    assert TrainingConfig().corpus_collections == FIRST_CORPUS
    assert set(FIRST_CORPUS.split(",")) == {
        "foundations-and-tscs", "incidents-and-retros", "js-and-web-wgs", "openstack",
        "project-status", "public-sector", "science-and-grants"}
    root, _, _ = made([document()], {"a": [reading({})]})
    assert corpus.training_split(root, collections="c").texts == corpus.training_split(
        root).texts != []
    assert corpus.training_split(root, collections=FIRST_CORPUS).texts == []


def test_the_teachers_corpus_inputs_are_what_the_trainer_reads_once_each(made, tmp_path):
    """``ml.distill --corpus``: every corpus sentence with the context the trainer keys its
    soft target by, each reading once; the splits' own rows keep their labels."""
    from ml.distill import corpus_inputs
    from ml.learning import distilled_targets
    from ml.splits import LabelledSplit

    index = judged()
    root, _, _ = made([document()], {"a": [reading({
        index["Only one engineer knows the billing module."]: "resource"})]})
    inputs = corpus_inputs(root)
    read = corpus.training_split(root)
    assert len(inputs) == len(set(inputs)) == 3
    assert set(inputs) == set(zip(read.texts, read.contexts))
    assert ("Only one engineer knows the billing module.", read.contexts[1]) in inputs
    assert read.contexts[1].startswith("Risks")

    # The trainer finds a score for each corpus row; a written row learns its label.
    scores = tmp_path / "scores.jsonl"
    uniform = [1 / len(LABELS)] * len(LABELS)
    scores.write_text("".join(json.dumps({"text": t, "context": c, "probabilities": uniform})
                              + "\n" for t, c in inputs))
    both = LabelledSplit(["The vendor may slip.", *read.texts], ["vendor", *read.labels],
                         ["", *read.contexts])
    written, *taught = distilled_targets(both, scores, 1.0)
    assert written == [float(label == "vendor") for label in LABELS]
    assert all(target == pytest.approx(uniform) for target in taught)
