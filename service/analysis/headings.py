"""Which sentences are headings or labels, never statements: a document's structure read off
its lines (Markdown, RST underlines, short lines without a full stop, a table's header row),
so that a heading is never a finding and is the context of the sentences under it."""

from __future__ import annotations

from service.analysis.segment import (
    DELIMITER_ROW_CHARS,
    LINE_MARKER,
    QUOTE,
    TABLE_ROW,
    UNDERLINE,
    Sentence,
)

_TERMINAL = frozenset(".!?…。！？")
#: A line this short, outside a list and without a full stop, is taken for a heading; one
#: ending in a colon, for a label.
HEADING_MAX_WORDS = 4
LABEL_MAX_WORDS = 6


def is_heading(text: str, sentence: Sentence) -> bool:
    """Whether ``sentence`` is a heading or a label-only line, never a statement: a Markdown
    heading (``#``), a line with an RST underline, a short line ending in a colon ("Open
    items:"), a short line outside a list without a full stop ("Risks and issues"), or a
    cell of a Markdown table's header row."""
    line_start = text.rfind("\n", 0, sentence.start) + 1
    line_end = text.find("\n", sentence.end)
    line_end = len(text) if line_end < 0 else line_end
    quote = QUOTE.match(text, line_start, sentence.start)
    if quote:
        line_start = quote.end()
    if TABLE_ROW.match(text, line_start, line_end):
        return _is_heading_cell(text, sentence, line_end)
    before, after = text[line_start:sentence.start], text[sentence.end:line_end]
    if after.strip() or "\n" in sentence.text:
        return False  # more on its line, or prose over several lines
    marker = before.strip()
    if marker.startswith("#"):
        return True
    if marker and not LINE_MARKER.fullmatch(before + " "):
        return False  # not the first sentence of its line
    words = sentence.text.rstrip()
    if words.endswith(":"):  # "Open items:"; a longer line introduces a list it states
        return len(words.split()) <= LABEL_MAX_WORDS
    if marker or words[-1:] in _TERMINAL:
        return False  # a list item, or a sentence with its full stop
    if line_end < len(text):
        next_end = text.find("\n", line_end + 1)
        if UNDERLINE.match(text, line_end + 1, len(text) if next_end < 0 else next_end):
            return True
    return len(words.split()) <= HEADING_MAX_WORDS


def _is_heading_cell(text: str, sentence: Sentence, line_end: int) -> bool:
    """is_heading for a sentence in a Markdown table row: a cell of the header row (the row
    above the ``| --- |`` row) is a label; any other cell is read like a line of its own."""
    start = sentence.start
    while start > 0 and text[start - 1] in " \t":
        start -= 1
    end = sentence.end
    while end < line_end and text[end] in " \t\r":
        end += 1
    if start == 0 or text[start - 1] != "|" or text[start - 2:start] == "\\|" \
            or (end < line_end and text[end] != "|"):
        return False  # not the whole of its cell
    next_end = text.find("\n", line_end + 1)
    next_line = text[line_end + 1:len(text) if next_end < 0 else next_end]
    if "-" in next_line and DELIMITER_ROW_CHARS.issuperset(next_line):
        return True
    words = sentence.text
    if words.endswith(":"):
        return len(words.split()) <= LABEL_MAX_WORDS
    return words[-1] not in _TERMINAL and len(words.split()) <= HEADING_MAX_WORDS
