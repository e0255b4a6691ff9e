"""Sentence segmentation: exact offsets, lists, abbreviations, odd and huge inputs."""

from __future__ import annotations

import pytest

from service.analysis.headings import is_heading
from service.analysis.segment import (
    CONTEXT_NEIGHBOUR_CHARS,
    MAX_SENTENCE_CHARS,
    Sentence,
    sentence_context,
    split_sentences,
)


def texts_of(text: str) -> list[str]:
    return [sentence.text for sentence in split_sentences(text)]


def assert_exact_offsets(text: str, sentences: list[Sentence]) -> None:
    previous_end = 0
    for sentence in sentences:
        assert text[sentence.start:sentence.end] == sentence.text
        assert sentence.text == sentence.text.strip() and sentence.text
        assert sentence.start >= previous_end  # in order, never overlapping
        previous_end = sentence.end


MIXED_DOCUMENT = (
    "  Status report, week 12\r\n\r\n"
    "The steering committee has not met since March.  Only one engineer knows the billing "
    "module! Will the vendor deliver on time?\n"
    "\tUAT may slip two weeks…   The budget is fine.\n"
)


def test_offsets_map_back_exactly_to_the_source() -> None:
    sentences = split_sentences(MIXED_DOCUMENT)

    assert_exact_offsets(MIXED_DOCUMENT, sentences)
    assert [s.text for s in sentences] == [
        "Status report, week 12",
        "The steering committee has not met since March.",
        "Only one engineer knows the billing module!",
        "Will the vendor deliver on time?",
        "UAT may slip two weeks…",
        "The budget is fine.",
    ]


@pytest.mark.parametrize("text", ["", " ", "\n\n\t  \r\n", "\u00a0\u2003"])
def test_empty_or_whitespace_only_text_has_no_sentences(text: str) -> None:
    assert split_sentences(text) == []


def test_lines_of_only_punctuation_are_not_sentences() -> None:
    assert texts_of("-----\n...\nThe vendor is late.\n***") == ["The vendor is late."]


def test_non_english_text_keeps_exact_offsets() -> None:
    text = ("Der Lieferant ist im Verzug. Das Budget ist knapp!\n"
            "项目可能延期。预算不足。\n"
            "Le fournisseur est en retard ; le budget est gelé. Ça coûte cher?")
    sentences = split_sentences(text)

    assert_exact_offsets(text, sentences)
    assert [s.text for s in sentences] == [
        "Der Lieferant ist im Verzug.", "Das Budget ist knapp!",
        "项目可能延期。", "预算不足。",
        "Le fournisseur est en retard ; le budget est gelé.", "Ça coûte cher?",
    ]


def test_a_50000_character_line_without_punctuation_is_cut_at_whitespace() -> None:
    words = "the vendor keeps missing deliveries "
    text = (words * (50_000 // len(words) + 1))[:50_000]

    sentences = split_sentences(text)

    assert_exact_offsets(text, sentences)
    assert all(len(s.text) <= MAX_SENTENCE_CHARS for s in sentences)
    assert len(sentences) == 50_000 // MAX_SENTENCE_CHARS + 1
    # Cut between words only, and no word lost.
    assert " ".join(s.text for s in sentences) == text.strip()


def test_text_longer_than_spacys_max_length_is_split_completely() -> None:
    text = "The vendor is late. " * 55_000  # 1,100,000 characters; spaCy's limit is 1,000,000

    sentences = split_sentences(text)

    assert len(text) > 1_000_000
    assert len(sentences) == 55_000
    assert sentences[-1].end == len(text) - 1
    assert all(s.text == "The vendor is late." for s in sentences)
    assert all(text[s.start:s.end] == s.text for s in sentences[::997])


def test_a_line_longer_than_the_chunk_size_keeps_every_character() -> None:
    text = "x" * 250_000 + " tail"

    sentences = split_sentences(text)

    assert_exact_offsets(text, sentences)
    assert "".join(s.text for s in sentences).replace(" ", "") == text.replace(" ", "")


def test_each_bullet_is_its_own_sentence_without_its_marker() -> None:
    text = ("Risks\n"
            "- The vendor is late\n"
            "* Budget frozen by finance\n"
            "• Only one engineer knows billing\n"
            "•No tester assigned\n"
            "– Scope keeps growing\n"
            "    - nested bullet about the sponsor\n")
    sentences = split_sentences(text)

    assert_exact_offsets(text, sentences)
    assert [s.text for s in sentences] == [
        "Risks", "The vendor is late", "Budget frozen by finance",
        "Only one engineer knows billing", "No tester assigned", "Scope keeps growing",
        "nested bullet about the sponsor",
    ]


def test_bullet_glyphs_of_word_and_pdf_lists_end_an_item_like_a_dash() -> None:
    """PDF and Word extraction leave the list's glyph: an item long enough to look wrapped
    was read as the first line of the next one, and a short one as a heading."""
    text = ("Risks\n"
            "● Budget overrun in the second half of the year for the platform team\n"
            "● Vendor delay\n"
            "▪Key developer may leave in March\n"
            "  ◦ Nested item about the data centre migration being late\n"
            "\uf0b7 A Symbol-font bullet from a PDF that Word wrote\n")
    sentences = check_sentences(text)
    assert [s.text for s in sentences] == [
        "Risks", "Budget overrun in the second half of the year for the platform team",
        "Vendor delay", "Key developer may leave in March",
        "Nested item about the data centre migration being late",
        "A Symbol-font bullet from a PDF that Word wrote"]
    assert [s.text for s in sentences if is_heading(text, s)] == ["Risks"]


def test_numbered_items_and_headings_are_their_own_sentences_without_markers() -> None:
    text = ("# Risk register\n"
            "## Open items\n"
            "1. The vendor is late\n"
            "2) The budget is frozen\n"
            "10. Nobody owns testing\n"
            "a) Acceptance criteria are vague\n"
            "B. The sponsor left")

    assert texts_of(text) == [
        "Risk register", "Open items", "The vendor is late", "The budget is frozen",
        "Nobody owns testing", "Acceptance criteria are vague", "The sponsor left",
    ]


def test_text_that_only_looks_like_a_marker_is_kept() -> None:
    assert texts_of("1.5 million of the budget is gone.\n-10 degrees stops the pour.") == [
        "1.5 million of the budget is gone.", "-10 degrees stops the pour.",
    ]


def test_short_lines_and_blank_lines_are_boundaries() -> None:
    text = "Vendor late\nBudget frozen\n\nsponsor gone"

    assert texts_of(text) == ["Vendor late", "Budget frozen", "sponsor gone"]


@pytest.mark.parametrize("sentence", [
    "The delay is approx. 3 weeks on the critical path.",
    "Approx. half of the budget is already spent.",
    "Several suppliers, e.g. Acme and Globex, are late.",
    "The key system, i.e. billing, has no owner.",
    "Licences, servers, etc. are not budgeted yet.",
    "It is build vs. buy for the portal.",
    "Pump No. 5 has failed twice this month.",
    "Mr. Smith and Dr. Jones left the project.",
    "Acme Inc. has not signed the contract.",
    "Shipping to the U.S. needs an export licence.",
])
def test_abbreviations_do_not_end_a_sentence(sentence: str) -> None:
    text = sentence + " The next sentence follows."

    assert texts_of(text) == [sentence, "The next sentence follows."]


def test_no_as_an_answer_still_ends_a_sentence() -> None:
    assert texts_of("Is the vendor ready? No. They need two more weeks.") == [
        "Is the vendor ready?", "No.", "They need two more weeks.",
    ]


# --------------------------------------------------------------------------- hostile text
#
# spaCy's tokenizer strips one prefix or suffix at a time and searches the rest of the token
# again: on a long whitespace-free run ("=====", "((((((") that was quadratic, 3 s for
# 4,000 "=" and hours for MAX_DOCUMENT_CHARS, one core busy and the GIL held.

DOCUMENT_CHARS = 200_000  # MAX_DOCUMENT_CHARS

PATHOLOGICAL = {
    "equals": "=",
    "parens": "(",
    "underscores": "_",
    "dots": ".",
    "dashes": "-",
    "mixed": "=(_.-)!?[]{}<>/\\|*+~^",
    "dots then a letter": None,  # "." * n + "x"
    "short paren runs": "(" * 40 + " ",
    "glued abbreviations": "e.g.No.U.S.etc.",
    "table cells": "|x",
    "code fences": "```\nx\n",
    "comments never closed": "<!-- x\n",
    "comments": "<!--x-->y\n",
    "words, no punctuation": "the vendor keeps missing deliveries ",
    "full-width stops": "项目可能延期。预算不足！",
    "prose": "The vendor is late. Approx. 3 weeks, i.e. the whole buffer! ",
}


def pathological(kind: str, n: int, salt: int = 0) -> str:
    """``n`` characters of ``kind``; ``salt`` makes each text new to spaCy's token cache."""
    unit = PATHOLOGICAL[kind]
    tail = f" {salt}" if salt else ""
    if unit is None:
        return "." * (n - 1 - len(tail)) + "x" + tail
    return (unit * (n // len(unit) + 1))[:n - len(tail)] + tail


def check_sentences(text: str) -> list[Sentence]:
    sentences = split_sentences(text)
    assert_exact_offsets(text, sentences)
    assert all(len(s.text) <= MAX_SENTENCE_CHARS for s in sentences)
    assert all(any(ch.isalnum() for ch in s.text) for s in sentences)
    return sentences


def probe_linearity(kinds: list[str]) -> dict[str, float]:
    """Run in a subprocess by the test below: for each kind, the checks on a text of
    DOCUMENT_CHARS, and the time of 160,000 characters over that of 20,000 (best of 3)."""
    import time

    split_sentences("Warm up the pipeline.")
    ratios = {}
    for kind in kinds:
        check_sentences(pathological(kind, DOCUMENT_CHARS))
        timings = {}
        for n in (20_000, 160_000):
            best = float("inf")
            for salt in range(1, 4):
                text = pathological(kind, n, salt)
                started = time.perf_counter()
                split_sentences(text)
                best = min(best, time.perf_counter() - started)
            timings[n] = best
        ratios[kind] = timings[160_000] / max(timings[20_000], 1e-3)
    return ratios


def test_pathological_texts_of_the_largest_size_segment_linearly() -> None:
    """In a subprocess, so that the quadratic code fails by a timeout instead of stalling
    the test run. 8× the text must take well under 64× the time (quadratic), linear being
    8×: the bound leaves room for a busy machine."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    script = ("import json\n"
              "from tests.test_segment import PATHOLOGICAL, probe_linearity\n"
              "print(json.dumps(probe_linearity(list(PATHOLOGICAL))))\n")
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", script], check=False, cwd=root, env=env,
                          timeout=120, capture_output=True, text=True)

    assert done.returncode == 0, done.stderr[-3000:]
    ratios = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(ratios) == set(PATHOLOGICAL)
    slow = {kind: round(ratio, 1) for kind, ratio in ratios.items() if ratio > 32}
    assert slow == {}


@pytest.mark.parametrize("kind", ["equals", "parens", "underscores", "dashes", "mixed"])
def test_a_run_of_punctuation_is_no_sentence(kind: str) -> None:
    assert split_sentences(pathological(kind, 20_000)) == []


def test_a_long_run_still_ends_its_sentence_and_keeps_every_character() -> None:
    url = "https://example.com/" + "a/b_c-d" * 20 + "/report.pdf"
    text = f"See {url}. The vendor is late. " + "=" * 500 + "x. Budget frozen."

    assert texts_of(text) == [f"See {url}.", "The vendor is late.", "=" * 500 + "x.",
                              "Budget frozen."]


def test_full_width_stops_still_split_a_long_line_without_spaces() -> None:
    text = "项目可能延期。预算不足！" * 20  # 240 characters, not one space

    sentences = check_sentences(text)

    assert [s.text for s in sentences] == ["项目可能延期。", "预算不足！"] * 20


# --------------------------------------------------------------------------- context


def test_context_is_the_sentence_with_its_neighbours() -> None:
    text = "Kick-off done.\n- The vendor is late.\n- Budget is fine."
    sentences = split_sentences(text)

    assert sentence_context(text, sentences, 1) == "Kick-off done.\n- The vendor is late.\n- " \
        "Budget is fine."
    assert sentence_context(text, sentences, 0) == "Kick-off done.\n- The vendor is late."
    assert sentence_context(text, sentences, 2) == "The vendor is late.\n- Budget is fine."


def test_long_neighbours_are_cut_at_a_word_boundary() -> None:
    before = " ".join(f"word{i}" for i in range(90)) + "."
    after = " ".join(f"next{i}" for i in range(90)) + "."
    text = f"{before} The vendor is late. {after}"
    sentences = split_sentences(text)
    assert len(sentences) == 3

    context = sentence_context(text, sentences, 1)

    assert context in text and "The vendor is late." in context
    head, tail = context.split("The vendor is late.")
    assert 0 < len(head) <= CONTEXT_NEIGHBOUR_CHARS and head.split()[0] in before.split()
    assert 0 < len(tail) <= CONTEXT_NEIGHBOUR_CHARS and tail.split()[-1] in after.split()


def test_context_never_passes_its_bound_on_a_long_unpunctuated_line() -> None:
    text = "Intro.\n" + "the vendor keeps missing deliveries " * 1000 + "\nEnd."
    sentences = split_sentences(text)

    contexts = [sentence_context(text, sentences, i) for i in range(len(sentences))]

    assert max(map(len, contexts)) <= MAX_SENTENCE_CHARS + 2 * CONTEXT_NEIGHBOUR_CHARS + 2
    assert all(s.text in c and c in text for s, c in zip(sentences, contexts))


# --- hard-wrapped text and headings -------------------------------------------------------

PROSE = [
    ("The integration with the payment provider is behind plan because the vendor has not "
    "delivered the sandbox credentials yet, and we may miss the June release."),
    ("Since the lead left, nobody reviews the contractor's code, and the test coverage of "
    "the billing module has fallen below twenty percent."),
    "The steering committee approved the revised budget on Monday.",
]


def _normalized(texts):
    return [" ".join(text.split()) for text in texts]


@pytest.mark.parametrize("width", [60, 72, 80])
def test_hard_wrapped_prose_reads_as_the_clean_text_with_exact_offsets(width) -> None:
    import textwrap

    clean = " ".join(PROSE)
    wrapped = textwrap.fill(clean, width=width)
    assert "\n" in wrapped
    sentences = split_sentences(wrapped)
    assert _normalized(s.text for s in sentences) == PROSE
    assert all(wrapped[s.start:s.end] == s.text for s in sentences)


def test_quoted_wrapped_prose_joins_within_its_quote_with_exact_offsets() -> None:
    import re
    import textwrap

    quoted = textwrap.indent(textwrap.fill(" ".join(PROSE), width=60), "> ")
    text = ("On Monday, Ana wrote:\n" + quoted + "\n>\n>> A deeper quote is read apart\n"
            "> from the quote around it.\n> ## Risks\n> - Vendor delay\n\n"
            "> Who will fund the audit of the payment module once the grant\n"
            "ends in June?\n")
    sentences = check_sentences(text)
    texts = [re.sub(r"\n(> )?", " ", s.text) for s in sentences]
    assert texts == ["On Monday, Ana wrote:", *PROSE, "A deeper quote is read apart",
                     "from the quote around it.", "Risks", "Vendor delay",
                     ("Who will fund the audit of the payment module once the grant ends "
                      "in June?")]  # Markdown's lazy continuation
    assert [s.text for s in sentences if is_heading(text, s)] == [
        "On Monday, Ana wrote:", "Risks"]


def test_a_fenced_code_block_is_no_sentence_unless_it_is_never_closed() -> None:
    text = ("The client retries failed uploads.\n"
            "```python\n"
            "# This may fail if the vendor API is down\n"
            "log.warning(\"vendor timeout, the release could slip\")\n"
            "```not a closing fence\n"
            "```\n"
            "```inline``` code at the start of a line is prose.\n"
            "~~~~\n"
            "A fence never closed (~~~~ above) hides nothing.\n")
    sentences = check_sentences(text)
    assert [s.text for s in sentences] == [
        "The client retries failed uploads.", "```inline``` code at the start of a line is prose.",
        "A fence never closed (~~~~ above) hides nothing."]


def test_a_comment_that_starts_a_line_is_no_sentence_unless_it_is_never_closed() -> None:
    """A rendered Markdown page never shows a comment; templates keep their instructions in
    them ("Describe the risks of this proposal")."""
    text = ("## Risks and Mitigations\n\n"
            "<!--\n"
            "What are the risks of this proposal, and how do we mitigate them? Think broadly,\n"
            "for example about security and how this will impact the larger ecosystem.\n"
            "-->\n"
            "The vendor has not signed the support contract.\n"
            "<!-- Describe who reviews the design and what could go wrong with it -->\n"
            "Only one engineer knows the billing module.\n"
            "<!-- owner: Ana --> Budget approval is late.\n"
            "```\n<!-- inside code -->\n```\n"
            "<!-- A comment never closed hides nothing.\n")
    sentences = check_sentences(text)
    assert [s.text for s in sentences] == [
        "Risks and Mitigations", "The vendor has not signed the support contract.",
        "Only one engineer knows the billing module.", "Budget approval is late.",
        "A comment never closed hides nothing."]
    assert [s.text for s in sentences if is_heading(text, s)] == ["Risks and Mitigations"]


def test_wrapped_markdown_lists_join_within_an_item_only() -> None:
    text = ("## Risks and issues\n\n"
            "- Only one engineer knows the billing module, and she is on\n"
            "  leave from May.\n"
            "- The vendor may slip the delivery.\n"
            "1. Budget overrun\n"
            "2. The contract's penalty clause applies from day one of any\n"
            "   delay.\n")
    assert _normalized(texts_of(text)) == [
        "Risks and issues",
        "Only one engineer knows the billing module, and she is on leave from May.",
        "The vendor may slip the delivery.", "Budget overrun",
        "The contract's penalty clause applies from day one of any delay."]


def test_headings_tables_and_finished_lines_are_never_joined() -> None:
    text = ("Status report for week 12 of the migration\n"
            "==========================================\n"
            "Open items:\n"
            "Who owns the runbook for the cut-over weekend in June?\n"
            "| Risk | Owner |\n"
            "| Vendor delay | Ana |\n")
    assert texts_of(text) == [
        "Status report for week 12 of the migration", "Open items:",
        "Who owns the runbook for the cut-over weekend in June?", "Risk", "Owner",
        "Vendor delay", "Ana"]


def test_each_cell_of_a_markdown_table_is_read_on_its_own_with_exact_offsets() -> None:
    text = ("## Risk register\r\n"
            "| Risk | Owner | Status |\r\n"
            "|:-----|:-----:|-------:|\r\n"
            "| The vendor may slip. The sponsor has not signed. | Ana | open |\r\n"
            "  | Pipes in `a \\| b` stay text | Bo\r\n"
            "|||\r\n")
    sentences = check_sentences(text)
    assert [s.text for s in sentences] == [
        "Risk register", "Risk", "Owner", "Status", "The vendor may slip.",
        "The sponsor has not signed.", "Ana", "open", "Pipes in `a \\| b` stay text", "Bo"]
    assert_exact_offsets(text, sentences)


def test_a_row_is_split_into_cells_only_where_a_line_starts_with_a_pipe() -> None:
    text = "Risk | Owner\nThe vendor may slip | Ana\n"
    assert texts_of(text) == ["Risk | Owner", "The vendor may slip | Ana"]


@pytest.mark.parametrize(("text", "headings"), [
    ("# Status\n\nThe vendor may slip.", ["Status"]),
    ("Risks and issues\n- The vendor may slip.", ["Risks and issues"]),
    ("Open items:\n- Vendor delay on the API", ["Open items:"]),
    ("Version 3.1\n-----------\nFixed a crash.", ["Version 3.1"]),
    ("- Budget overrun\n- Open items:", ["Open items:"]),  # a list item is a statement
    ("The vendor may slip. Drawbacks", []),  # not alone on its line
    ("Vendor may go bankrupt before delivery", []),  # more words than a heading has
    ("Hosting our lists on google groups has some issues:\n- spam", []),  # a statement
    # a table's header row is labels, however long; a body cell is read as a line
    ("| Risk description and impact | Owner |\n|---|---|\n| The vendor may slip. | Ana |",
     ["Risk description and impact", "Owner", "Ana"]),
    ("| Vendor may go bankrupt before delivery | Next steps: |\n", ["Next steps:"]),
    ("| Vendor delay. Open |\n", []),  # "Open" is not the whole of its cell
])
def test_headings_and_label_lines_are_recognised(text, headings) -> None:
    assert [s.text for s in split_sentences(text) if is_heading(text, s)] == headings
