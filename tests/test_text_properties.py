"""Properties of the text handling on hostile inputs built from runs of punctuation,
brackets, underscores, whitespace, letters and abbreviations: exact, bounded, in order, and
for the LLM path whole sentences only (service/analysis/segment.py,
service/llm/grounding.py)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.analysis.segment import MAX_SENTENCE_CHARS, split_sentences
from service.llm.grounding import DUPLICATE, SentenceLocator, chunk_sentences, folded

PROPERTIES = settings(deadline=None, database=None, derandomize=True, max_examples=150,
                      suppress_health_check=list(HealthCheck))

UNITS = ["=", "(", ")", "[", "_", ".", "-", "!", "?", "…", "*", "/", '"', "“", "”", "’",
         " ", "  ", "\n", "\t", "\r\n", "a", "Word", "vendor", "7", "e.g.", "No.", "U.S.",
         "Mr. ", "1. ", "- ", "# ", "• ", "。", "项目", "The vendor is late. "]

texts = st.lists(st.tuples(st.sampled_from(UNITS), st.integers(1, 400)), max_size=12).map(
    lambda runs: "".join(unit * count for unit, count in runs))


@PROPERTIES
@given(texts)
def test_sentences_are_exact_bounded_and_in_order(text):
    sentences = split_sentences(text)

    previous_end = 0
    for sentence in sentences:
        assert text[sentence.start:sentence.end] == sentence.text
        assert sentence.text == sentence.text.strip()
        assert 0 < len(sentence.text) <= MAX_SENTENCE_CHARS
        assert any(ch.isalnum() for ch in sentence.text)
        assert sentence.start >= previous_end
        previous_end = sentence.end


@PROPERTIES
@given(texts, st.integers(50, 3000))
def test_chunks_cover_the_sentences_in_order_within_their_size(text, max_chars):
    sentences = split_sentences(text)

    chunks = chunk_sentences(sentences, max_chars)

    assert [i for chunk in chunks for i in chunk] == list(range(len(sentences)))
    for chunk in chunks:
        assert len(chunk) >= 1
        size = sentences[chunk.stop - 1].end - sentences[chunk.start].start
        assert size <= max_chars or len(chunk) == 1


@PROPERTIES
@given(texts, st.integers(50, 3000))
def test_each_sentence_is_located_as_itself_and_a_part_of_one_is_not(text, max_chars):
    sentences = split_sentences(text)
    chunks = chunk_sentences(sentences, max_chars)
    exact, reflowed = SentenceLocator(sentences), SentenceLocator(sentences)

    for chunk in chunks:
        whole = {folded(sentences[i].text) for i in chunk}
        for i in chunk:
            sentence = sentences[i].text
            assert exact.locate(sentence, chunk) == i
            assert reflowed.locate(" " + " ".join(sentence.split()) + "\n", chunk) == i
            part = " ".join(sentence.split()[1:])
            if part and folded(part) not in whole:
                assert exact.locate(part, chunk) is None
        for i in chunk:  # reported once: asked again, every one is a duplicate
            assert exact.locate(sentences[i].text, chunk) is DUPLICATE
