"""The windows a window model reads (service/analysis/windows.py): every judged sentence
judged once, with its neighbours, within the encoder's length, at a cost linear in the
document, whatever the document."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.analysis.windows import (
    HEADING_TOKENS,
    MARGIN,
    SENTENCE_TOKENS,
    WINDOW_TOKENS,
    section_headings,
    windows,
)

CLS, SEP = 1, 2


def document(lengths: list[int]) -> list[list[int]]:
    """Sentence ``i``'s tokens are all ``100 + i``: a window's ids say which it holds."""
    return [[100 + index] * length for index, length in enumerate(lengths)]


def held(window) -> list[int]:
    """The sentences whose tokens a window holds, in order (the heading put in front too)."""
    seen: list[int] = []
    for token in window.ids:
        if token >= 100 and (not seen or seen[-1] != token - 100):
            seen.append(token - 100)
    return seen


documents = st.lists(st.integers(min_value=0, max_value=200), max_size=60).flatmap(
    lambda lengths: st.tuples(
        st.just(lengths),
        st.lists(st.booleans(), min_size=len(lengths), max_size=len(lengths)),
        st.lists(st.booleans(), min_size=len(lengths), max_size=len(lengths))))


@settings(max_examples=300, deadline=None)
@given(documents)
def test_every_judged_sentence_is_judged_once_with_its_neighbours(case) -> None:
    lengths, headings, asked = case
    judged = [index for index, ask in enumerate(asked) if ask]
    made = windows(document(lengths), headings, judged, cls=CLS, sep=SEP)

    assert [index for window in made for index, _, _ in window.judged] == judged
    above = section_headings(headings)
    for window in made:
        assert len(window.ids) <= WINDOW_TOKENS
        assert window.ids[0] == CLS
        inside = held(window)
        for index, start, end in window.judged:
            # Its own tokens (cut at SENTENCE_TOKENS) and its separator, nothing else.
            assert window.ids[start:end] == [100 + index] * min(lengths[index],
                                                                SENTENCE_TOKENS) + [SEP]
            # MARGIN sentences on each side where the document has them (a sentence of no
            # tokens leaves no trace in the ids, so it is counted by position).
            before = [i for i in range(max(0, index - MARGIN), index) if lengths[i]]
            after = [i for i in range(index + 1, min(len(lengths), index + MARGIN + 1))
                     if lengths[i]]
            assert set(before + after) <= set(inside)
            # The section heading is read, inside the window or put in front of it.
            if above[index] is not None and lengths[above[index]]:
                assert above[index] in inside


def test_a_heading_outside_the_window_is_put_in_front_cut_short() -> None:
    lengths = [40] + [30] * 40
    headings = [True] + [False] * 40
    made = windows(document(lengths), headings, [30], cls=CLS, sep=SEP)

    (window,) = made
    assert window.ids[:HEADING_TOKENS + 2] == [CLS] + [100] * HEADING_TOKENS + [SEP]
    assert held(window) == [0, 28, 29, 30, 31, 32]


def test_a_long_document_is_read_about_once() -> None:
    """The cost of reading a document: each sentence in its own window and in at most
    2 × MARGIN others' margins; for sentences of 25 tokens, 1.4× the tokens."""
    lengths = [25] * 1000
    made = windows(document(lengths), [False] * 1000, list(range(1000)), cls=CLS, sep=SEP)

    read = sum(len(window.ids) for window in made)
    assert read <= 1.4 * sum(length + 1 for length in lengths)
    assert sum(len(window.judged) for window in made) == 1000


@pytest.mark.parametrize("lengths, headings", [
    ([1] * 5000, [False] * 5000),           # 5,000 one-word lines
    ([20_000] * 3, [False] * 3),            # sentences far past any window
    ([4] * 5000, [True] * 5000),            # one heading repeated
], ids=["one-word-lines", "huge-sentences", "headings"])
def test_hostile_documents_cost_linear_tokens(lengths, headings) -> None:
    judged = [index for index, heading in enumerate(headings) if not heading]
    made = windows(document(lengths), headings, judged, cls=CLS, sep=SEP)

    read = sum(len(window.ids) for window in made)
    assert read <= (2 * MARGIN + 2) * sum(min(length, SENTENCE_TOKENS) + 1
                                          for length in lengths)
    assert sum(len(window.judged) for window in made) == len(judged)
    assert all(len(window.ids) <= WINDOW_TOKENS for window in made)


def test_few_judged_sentences_far_apart_get_small_windows() -> None:
    """The cascade's reader judges only what the screen passed: a window each, not the
    document between them."""
    lengths = [30] * 200
    made = windows(document(lengths), [False] * 200, [10, 100, 190], cls=CLS, sep=SEP)

    assert [held(window) for window in made] == [list(range(8, 13)), list(range(98, 103)),
                                                 list(range(188, 193))]


def test_a_budget_too_small_for_a_sentence_and_its_margins_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot hold"):
        windows(document([5]), [False], [0], cls=CLS, sep=SEP, budget=256)
