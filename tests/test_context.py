"""Context in the model: each sentence is read with its section heading and the sentence
before it, built the same way in training (ml/train.py, from the split rows) and in the
scan path (service/analysis/context.py), on the real test model."""

from __future__ import annotations

import json

import pytest

from ml.data.build_splits import build_splits
from ml.evaluate import read_labelled_rows
from ml.splits import LabelledSplit, borrow_contexts
from service.analysis.context import (
    HEADING_MAX_WORDS,
    PREVIOUS_MAX_WORDS,
    context_text,
    sentence_contexts,
)
from service.analysis.model_spec import IN_CONTEXT, SENTENCE
from service.analysis.segment import split_sentences
from service.analysis.transformer import TransformerAnalyzer, findings_of

REPORT = """# Weekly status

## Done this week

The patch for the login flaw was released on Monday. The new build server is live.

## Risks

The vendor has not signed the support contract. Only one engineer knows the billing code.
"""


def contexts_by_sentence(text: str) -> dict[str, str]:
    sentences = split_sentences(text)
    return {s.text: context for s, context in zip(sentences, sentence_contexts(text, sentences))}


def test_a_sentence_reads_its_section_heading_and_the_sentence_before_it():
    contexts = contexts_by_sentence(REPORT)
    assert contexts["Weekly status"] == ""  # the first line has nothing before it
    assert contexts["The patch for the login flaw was released on Monday."] == "Done this week"
    assert contexts["The new build server is live."] == (
        "Done this week | The patch for the login flaw was released on Monday.")
    assert contexts["Only one engineer knows the billing code."] == (
        "Risks | The vendor has not signed the support contract.")


def test_plain_text_headings_and_labels_start_a_section_too():
    text = "Open items:\nThe audit is late.\n\nRisks and issues\nThe vendor may walk away.\n"
    contexts = contexts_by_sentence(text)
    assert contexts["The audit is late."] == "Open items:"
    assert contexts["The vendor may walk away."] == "Risks and issues"


def test_the_context_is_cut_to_a_few_words():
    heading = " ".join(f"h{i}" for i in range(20))
    previous = " ".join(f"p{i}" for i in range(40))
    first, _, last = context_text(f"## {heading}", previous).partition(" | ")
    assert first.split() == [f"h{i}" for i in range(HEADING_MAX_WORDS)]
    assert last.split() == [f"p{i}" for i in range(40 - PREVIOUS_MAX_WORDS, 40)]


def test_a_huge_line_makes_a_bounded_context():
    text = "Risks\n" + "word " * 100_000 + ".\nThe vendor may walk away.\n"
    contexts = sentence_contexts(text, split_sentences(text))
    assert max(len(context.split()) for context in contexts) <= (
        HEADING_MAX_WORDS + PREVIOUS_MAX_WORDS + 1)


def test_the_scan_path_gives_a_context_model_each_sentence_with_its_context():
    seen = []

    def classify(inputs, *, min_score=None):
        seen.extend(inputs)
        return [("none", 0.9)] * len(inputs)

    findings_of(REPORT, classify)  # each sentence placed in its document: a model reads
    read = [item.input(True) for item in seen]  # of it what it was trained on
    assert ("The vendor has not signed the support contract.", "Risks") in read
    assert ("Only one engineer knows the billing code.",
            "Risks | The vendor has not signed the support contract.") in read
    assert all(text != "Risks" for text, _ in read)  # headings are never judged
    assert "The vendor has not signed the support contract." in [
        item.input(False) for item in seen]


def test_the_trained_model_reads_the_context(trained_analyzer):
    assert trained_analyzer.input_mode is IN_CONTEXT
    sentence = "The vendor has not signed the support contract."
    scored = trained_analyzer.classify(
        [sentence, (sentence, ""), (sentence, "Risks | Only one engineer knows the billing code."),
         (sentence, "Done this week | The new build server is live.")], min_score=0.0)
    assert scored[0] == scored[1]  # a lone sentence is read with an empty context
    assert len({round(score, 6) for _, score in scored[1:]}) == 3


def test_a_model_trained_without_context_reads_sentences_alone(tmp_path, trained_model_dir):
    folder = tmp_path / "plain"
    folder.mkdir()
    for item in trained_model_dir.iterdir():
        if item.name != "training_config.json":
            (folder / item.name).symlink_to(item)
    config = json.loads((trained_model_dir / "training_config.json").read_text())
    del config["context"], config["reads"]  # as written before models read context
    (folder / "training_config.json").write_text(json.dumps(config))
    analyzer = TransformerAnalyzer(folder)
    assert analyzer.input_mode is SENTENCE
    sentence = "The vendor has not signed the support contract."
    assert analyzer.classify([(sentence, "Risks | anything")], min_score=0.0) == \
        analyzer.classify([sentence], min_score=0.0)


def test_build_splits_keeps_where_a_document_sentence_stood(tmp_path):
    sources = tmp_path / "sources"
    sources.mkdir()
    rows = [{"text": f"Sentence number {word} of the register.", "label": "none",
             "source": "team"} for word in ("one", "two", "three", "four", "five", "six",
                                             "seven", "eight", "nine", "ten")]
    rows[0].update(heading="Risks", previous="The vendor may walk away.")
    (sources / "a.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    splits = build_splits(sources, tmp_path)
    written = [json.loads(line) for name in ("train", "validation", "test")
               for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
    placed = [row for row in written if "heading" in row]
    assert [(row["text"], row["heading"], row["previous"]) for row in placed] == [
        ("Sentence number one of the register.", "Risks", "The vendor may walk away.")]
    assert sum(len(rows) for rows in splits.values()) == 10
    path = next(tmp_path / f"{name}.jsonl" for name in ("train", "validation", "test")
                if "heading" in (tmp_path / f"{name}.jsonl").read_text())
    assert "Risks | The vendor may walk away." in read_labelled_rows(path)[2]


def test_training_borrows_context_only_for_sentences_without_a_document():
    texts = [f"Sentence {index}." for index in range(400)]
    contexts = ["Risks | Before."] * 100 + [""] * 300
    split = LabelledSplit(texts, ["none"] * 400, contexts)
    borrowed = borrow_contexts(split, 0.5, seed=13)
    assert borrowed[:100] == contexts[:100]
    given = [context for context in borrowed[100:] if context]
    assert 120 <= len(given) <= 180
    assert set(given) <= set(texts[100:])  # another sentence without a document
    assert borrow_contexts(split, 0.5, seed=13) == borrowed
    assert borrow_contexts(split, 0.0, seed=13) == contexts


@pytest.mark.parametrize("share", [0.0, 1.0])
def test_borrowing_at_the_extremes(share):
    split = LabelledSplit(["A.", "B."], ["none", "none"], ["", ""])
    borrowed = borrow_contexts(split, share, seed=1)
    assert all(borrowed) if share else not any(borrowed)


def test_a_sentence_that_states_no_risk_borrows_a_risk_as_the_one_before():
    """Issue #84: in real documents a risk follows a risk, and the model learnt that the
    sentence after a risk is one; sentences stating none are given a risk before them."""
    texts = [f"Risk {index}." for index in range(100)] + [f"Plain {i}." for i in range(300)]
    labels = ["vendor"] * 100 + ["none"] * 300
    split = LabelledSplit(texts, labels, [""] * 400)
    borrowed = borrow_contexts(split, 1.0, seed=13)
    assert all(context.startswith("Risk ") for context in borrowed[100:])  # before a plain one
    before_risks = [context.split()[0] for context in borrowed[:100]]
    assert "Plain" in before_risks and "Risk" in before_risks  # a risk's is any sentence's


def test_crossed_borrowing_gives_a_risk_a_plain_sentence_before_it():
    """The crossed variant (issue #84): a risk never borrows a risk, so that the model does
    not meet "a risk, then a risk" among sentences written alone either."""
    texts = [f"Risk {index}." for index in range(100)] + [f"Plain {i}." for i in range(300)]
    labels = ["vendor"] * 100 + ["none"] * 300
    split = LabelledSplit(texts, labels, [""] * 400)
    borrowed = borrow_contexts(split, 1.0, seed=13, borrowing="crossed")
    assert all(context.startswith("Plain ") for context in borrowed[:100])
    assert all(context.startswith("Risk ") for context in borrowed[100:])
    assert borrow_contexts(split, 1.0, seed=13) != borrowed  # the default is not crossed
    with pytest.raises(ValueError, match="crossed"):
        borrow_contexts(split, 1.0, seed=13, borrowing="cross")
