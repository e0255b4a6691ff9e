"""Sentence segmentation with exact character offsets.

``split_sentences(text)`` returns the sentences of a document as ``Sentence(start, end, text)``
with ``text == source[start:end]`` always, so a finding can be highlighted in the original.

How a document is cut, in order:

1. Every line break is a boundary: a line never shares a sentence with the next one. Bullet
   lines (``-``, ``*``, ``•``, ``–``), numbered items (``1.``, ``2)``, ``a)``) and headings
   (``#``) are lines too; their marker, and a quote's ``>``, are left out of the sentence
   span. Each cell of a Markdown table row (a line that starts with ``|``) is read as a
   line of its own, as the cells of HTML and Word tables are (service.uploads.extract): a
   risk register's row is a risk, an owner and a status, not one sentence.
2. Inside a line, spaCy's rule-based sentencizer (a blank English pipeline, no model to
   download) splits on ``.``, ``!``, ``?``, an ellipsis and their equivalents in other
   scripts.
3. Common abbreviations (approx., e.g., i.e., etc., vs., No. before a number, Mr., Dr., Inc.,
   U.S. …) never end a sentence.
4. Spans are trimmed of whitespace; spans without a letter or digit (``---``, ``...``) are
   dropped, and so are the lines of a fenced code block (closed by its fence): code states
   no risk, and read as prose its comments and log messages were findings. An HTML comment
   that starts a line (``<!-- … -->``, as templates give their instructions) is dropped
   too, since a reader of the rendered Markdown never sees it.
5. A sentence longer than ``MAX_SENTENCE_CHARS`` is cut at whitespace (hard cut only where
   a window has none), so that a finding, and the context around it, stay bounded.

Every step is linear in the text. spaCy's tokenizer is not on long whitespace-free runs
(``=====``, ``((((((``: it strips one affix at a time and searches the rest of the token
again, seconds for 4,000 characters), so it is given a copy of each line in which such runs
are masked (see ``_masked``); spans are always taken from the original text.

Hard-wrapped prose (one sentence over several lines) therefore comes out in pieces: text
extraction should join such lines before analysis.

spaCy is imported on first use, not when ``service.analysis`` is imported, and without
torch (see ``_spacy``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from spacy.language import Language


@dataclass(frozen=True, slots=True)
class Sentence:
    """One sentence of a source text: ``source[start:end] == text``."""

    start: int
    end: int
    text: str


# Abbreviations that end in a period but do not end a sentence. spaCy's English tokenizer
# already keeps many of these as one token (e.g., Mr., Inc., U.S.); the rest are added as
# tokenizer special cases, in lower, capitalised and upper case.
ABBREVIATIONS: tuple[str, ...] = (
    "approx.", "e.g.", "i.e.", "etc.", "vs.", "no.", "nr.", "mr.", "mrs.", "ms.", "dr.",
    "prof.", "inc.", "ltd.", "corp.", "co.", "jr.", "sr.", "st.", "u.s.", "u.k.", "e.u.",
    "cf.", "incl.", "excl.", "esp.", "est.", "fig.", "resp.", "min.", "max.", "avg.", "dept.",
    "p.a.", "ca.", "wk.", "wks.", "mo.", "mos.", "yr.", "yrs.", "hr.", "hrs.",
)

# "No." is also a one-word answer ("Is the vendor ready? No. They ...") so it only stays
# inside a sentence when a number or "#" follows it.
_NUMBER_ABBREVIATIONS = frozenset({"no.", "nr."})

_WIDE_STOPS = r"[。！？]"

# A list or heading marker at the start of a line: "- ", "* ", "• ", "– ", "— ", "1. ",
# "12) ", "a) ", "B. ", "# ", "### ". A bullet glyph ("•", "●", "▪", "◦", the private-use
# Symbol and Wingdings bullets Word's PDFs carry …) may be glued to its text, as PDF
# extraction often leaves it. Other markers need whitespace after them, so that "1.5
# million", "e.g." or "-10 degrees" are not mistaken for markers.
_BULLETS = "•●▪◦○■□‣⁃∙➢➤►▶✓✔\uf0a7\uf0b7\uf0d8\uf0fc"
LINE_MARKER = re.compile(
    rf"""
    [ \t]*
    (?:
        [{_BULLETS}][ \t]*
      | (?: [-*–—] | \d{{1,3}}[.)] | [A-Za-z][.)] | \#{{1,6}} ) (?:[ \t]+|$)
    )
    """,
    re.VERBOSE,
)

# A Markdown table row, and the border between two of its cells ("\\|" is text in a cell).
TABLE_ROW = re.compile(r"[ \t]*\|")
_CELL_BORDER = re.compile(r"(?<!\\)\|")
DELIMITER_ROW_CHARS = frozenset("|:- \t\r")  # "| --- | :---: |" under a table's header row

# Everything that ends a line: \n, \r\n, \r, form feed, vertical tab, Unicode separators.
_LINE = re.compile(r"[^\n\r\f\v\x85\u2028\u2029]+")

# A line longer than this is fed to spaCy in pieces (cut at whitespace), so that texts
# beyond spaCy's max_length (1,000,000 characters) work and memory stays bounded.
CHUNK_CHARS = 100_000

# The longest sentence: a longer one is cut at whitespace. A classifier reads only the head
# of a long sentence anyway, and findings and their context must fit a database row.
MAX_SENTENCE_CHARS = 1_000

# At most this much text of each neighbouring sentence in a finding's context.
CONTEXT_NEIGHBOUR_CHARS = 300

# Whitespace-free runs longer than this are masked before spaCy sees them: its tokenizer is
# quadratic in the length of a token. Ordinary words, numbers and most URLs are shorter.
LONG_RUN_CHARS = 32
_LONG_RUN = re.compile(rf"\S{{{LONG_RUN_CHARS + 1},}}")
_WIDE_STOP_CHARS = frozenset("。！？")
_ALNUM = re.compile(r"[^\W_]")  # what str.isalnum() accepts, searched at C speed
_UP_TO_LAST_SPACE = re.compile(r".*\s", re.DOTALL)  # greedy: backs off to the last one


@lru_cache(maxsize=1)
def sentence_pipeline() -> Language:
    """The spaCy pipeline, built once: blank English + sentencizer + abbreviation guard."""
    spacy = import_spacy()
    from spacy.attrs import ORTH
    from spacy.language import Language
    from spacy.util import compile_infix_regex, compile_suffix_regex

    if not Language.has_factory("riskscan_abbreviation_guard"):

        @Language.component("riskscan_abbreviation_guard")
        def abbreviation_guard(doc):
            """Let "No." end a sentence again when no number follows it.

            The tokenizer keeps every abbreviation as one token, so the sentencizer never
            splits after one; "No." is also a one-word answer ("Ready? No. They ...").
            """
            for token in doc[:-1]:
                if token.text.lower() not in _NUMBER_ABBREVIATIONS:
                    continue
                following = doc[token.i + 1]
                if following.text[:1].isupper() and not following.like_num:
                    following.is_sent_start = True
            return doc

    nlp = spacy.blank("en")
    # Full-width stops (Chinese, Japanese) come without spaces; let them be tokens.
    tokenizer = nlp.tokenizer
    tokenizer.infix_finditer = compile_infix_regex([*nlp.Defaults.infixes, _WIDE_STOPS]).finditer
    tokenizer.suffix_search = compile_suffix_regex([*nlp.Defaults.suffixes, _WIDE_STOPS]).search
    for abbreviation in ABBREVIATIONS:
        for form in {abbreviation, abbreviation.capitalize(), abbreviation.upper()}:
            nlp.tokenizer.add_special_case(form, [{ORTH: form}])
    from spacy.pipeline.sentencizer import Sentencizer

    # An ellipsis ends a sentence too ("UAT may slip… The budget is fine.").
    nlp.add_pipe("sentencizer",
                 config={"punct_chars": [*Sentencizer.default_punct_chars, "…", "..."]})
    nlp.add_pipe("riskscan_abbreviation_guard")
    nlp.max_length = CHUNK_CHARS + 1
    return nlp


def import_spacy():
    """spaCy, imported without torch where torch is not loaded yet.

    spaCy's thinc imports torch whenever it is installed (more memory than the rest of a
    scan: docs/throughput.md), and a blank pipeline never uses it: an import of torch fails
    for as long as spaCy loads (thinc then takes it for absent), and works again afterwards
    for whatever runs torch. An app does this before it starts threads (serving.init_app):
    another thread importing torch meanwhile would fail.
    """
    if "torch" in sys.modules:
        import spacy

        return spacy
    sys.modules["torch"] = None  # type: ignore[assignment]  # Python's "not importable"
    try:
        import spacy
    finally:
        del sys.modules["torch"]
    return spacy


def split_sentences(text: str) -> list[Sentence]:
    """The sentences of ``text`` in order, each with its exact character offsets and at most
    ``MAX_SENTENCE_CHARS`` long."""
    if not text or text.isspace():
        return []
    pieces = list(_line_pieces(text))
    if not pieces:
        return []
    nlp = sentence_pipeline()
    sentences: list[Sentence] = []
    docs = nlp.pipe(_masked(text[start:end]) for start, end in pieces)
    for (piece_start, _), doc in zip(pieces, docs):
        # A sentence runs from the end of the one before it: in the masked copy a space may
        # stand for a character of the original, which must not fall between two sentences.
        start = piece_start
        for sent in doc.sents:
            end = piece_start + sent.end_char
            _add_bounded(text, start, end, sentences)
            start = end
    return sentences


def sentence_context(text: str, sentences: Sequence[Sentence], index: int) -> str:
    """Sentence ``index`` with its neighbours, each cut to at most CONTEXT_NEIGHBOUR_CHARS
    at a word boundary: what a reader needs around a finding, and bounded in size."""
    sentence = sentences[index]
    lo, hi = sentence.start, sentence.end
    if index > 0:
        lo = max(sentences[index - 1].start, lo - CONTEXT_NEIGHBOUR_CHARS)
        if lo > sentences[index - 1].start and not text[lo - 1].isspace():
            lo = next((i + 1 for i in range(lo, sentence.start) if text[i].isspace()), lo)
    if index + 1 < len(sentences):
        hi = min(sentences[index + 1].end, hi + CONTEXT_NEIGHBOUR_CHARS)
        if hi < sentences[index + 1].end and not text[hi].isspace():
            hi = next((i for i in range(hi - 1, sentence.end - 1, -1) if text[i].isspace()), hi)
    return text[lo:hi].strip()


def _masked(piece: str) -> str:
    """``piece`` with each whitespace-free run over LONG_RUN_CHARS made cheap to tokenize.

    The copy has the same length, so spaCy's offsets are offsets into ``piece``. A run
    becomes letters with a space every LONG_RUN_CHARS (tokens stay short; a space between
    two letters never ends a sentence); its last character is kept, so that a run ending in
    a full stop still ends its sentence, and so are full-width stops (。！？) not followed by
    another, so that Chinese or Japanese lines without spaces still split into sentences.
    """
    runs = list(_LONG_RUN.finditer(piece))
    if not runs:
        return piece
    parts, position = [], 0
    for run in runs:
        parts.append(piece[position:run.start()])
        parts.append(_mask_run(run.group()))
        position = run.end()
    parts.append(piece[position:])
    return "".join(parts)


def _mask_run(run: str) -> str:
    if _WIDE_STOP_CHARS.isdisjoint(run):
        # The common case, built by slicing: letters, a space every LONG_RUN_CHARS.
        spaced = " " + "x" * (LONG_RUN_CHARS - 1)
        body = "x" * LONG_RUN_CHARS + spaced * (len(run) // LONG_RUN_CHARS)
        return body[:len(run) - 1] + run[-1]
    masked = ["x"] * len(run)
    masked[-1] = run[-1]
    for i in range(len(run) - 1):
        if run[i] in _WIDE_STOP_CHARS and run[i + 1] not in _WIDE_STOP_CHARS:
            masked[i] = run[i]
    for i in range(LONG_RUN_CHARS, len(run) - 1, LONG_RUN_CHARS):
        if masked[i] == "x" and masked[i - 1] == "x":
            masked[i] = " "
    return "".join(masked)


def _add_bounded(text: str, start: int, end: int, sentences: list[Sentence]) -> None:
    """Append text[start:end], trimmed, as sentences of at most MAX_SENTENCE_CHARS each.

    A long span is cut at the last whitespace of each window: two consecutive cuts advance
    by at least a window, so the scan stays linear.
    """
    start, end = _trim(text, start, end)
    while end - start > MAX_SENTENCE_CHARS:
        limit = start + MAX_SENTENCE_CHARS
        cut = _last_whitespace(text, start + 1, limit + 1)
        cut = limit if cut < 0 else cut
        _add(text, start, cut, sentences)
        start, end = _trim(text, cut, end)
    _add(text, start, end, sentences)


def _add(text: str, start: int, end: int, sentences: list[Sentence]) -> None:
    start, end = _trim(text, start, end)
    if start < end and _ALNUM.search(text, start, end):
        sentences.append(Sentence(start, end, text[start:end]))


def _last_whitespace(text: str, lo: int, hi: int) -> int:
    """The position of the last whitespace in text[lo:hi], or -1; linear in hi - lo."""
    found = _UP_TO_LAST_SPACE.match(text, lo, hi)
    return found.end() - 1 if found else -1


# A hard-wrapped line goes on to the next when it does not end a sentence, the next line
# starts no list item, heading, table row, quote or code, no blank line is between them, and
# it is long enough to have been wrapped (or the next line starts in lower case): a short
# line without a full stop is a heading or a label more often than half a sentence. Quoted
# lines ("> ", as e-mail replies and Markdown quotes have them) follow the same rules inside
# their quote, and go on only to a line quoted as deeply, or to an unquoted line that
# starts in lower case (Markdown's lazy continuation).
WRAPPED_MIN_CHARS = 40
_SENTENCE_END_AT_EOL = re.compile(r"[.!?…:;。！？][\"'”’)\]]*[ \t]*$")
_STRUCTURAL = re.compile(r"[ \t]*(?:[|>]|```|~~~|<[A-Za-z/!])")
UNDERLINE = re.compile(r"[ \t]*([=\-~^*#])\1{2,}[ \t]*$")  # an RST heading's underline
QUOTE = re.compile(r"[ \t]*>(?:[ \t]*>)*[ \t]?")


def _blocks(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each line, or of each run of hard-wrapped lines read as one."""
    lines = _LINE.finditer(text)
    line = next(lines, None)
    while line is not None:
        start = line.start()
        following = next(lines, None)
        while following is not None and _continues(text, line, following):
            line, following = following, next(lines, None)
        yield start, line.end()
        line = following


def _continues(text: str, line: re.Match, following: re.Match) -> bool:
    if text[line.end():following.start()] not in ("\n", "\r\n"):
        return False  # a blank line, a form feed, a Unicode separator between them
    current, after = line.group(), following.group()
    quote = QUOTE.match(current)
    if quote:
        quoted = QUOTE.match(after)
        if quoted is None:  # Markdown's lazy continuation, if it goes on in lower case
            current = current[quote.end():]
            if not after.lstrip()[:1].islower():
                return False
        elif quoted.group().count(">") != quote.group().count(">"):
            return False
        else:
            current, after = current[quote.end():], after[quoted.end():]
    if " " not in current.strip() or not after.strip() or _SENTENCE_END_AT_EOL.search(current):
        return False  # one word, or a run of symbols, is no wrapped prose
    if current.lstrip().startswith("#") or _STRUCTURAL.match(current) \
            or UNDERLINE.match(current):
        return False
    if LINE_MARKER.match(after) or _STRUCTURAL.match(after) or UNDERLINE.match(after):
        return False
    return len(current.strip()) >= WRAPPED_MIN_CHARS or after.lstrip()[:1].islower()


def _line_pieces(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of each line's content (hard-wrapped lines joined, see _continues):
    marker stripped, trimmed, long lines cut; none in a fenced code block or a comment
    (what follows a comment's ``-->`` on its line is read)."""
    hidden = iter(_hidden_blocks(text))
    unseen = next(hidden, None)
    for block_start, block_end in _blocks(text):
        while unseen is not None and unseen[1] <= block_start:
            unseen = next(hidden, None)
        if unseen is not None and unseen[0] <= block_start:
            block_start = unseen[1]
            if block_start >= block_end:
                continue
        for start, end in _cells_or_line(text, block_start, block_end):
            start, end = _trim(text, start, end)
            while end - start > CHUNK_CHARS:
                cut = _whitespace_before(text, start, start + CHUNK_CHARS)
                yield start, cut
                start, _ = _trim(text, cut, end)
            if start < end:
                yield start, end


_HIDDEN_START = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,}|<!--)", re.MULTILINE)  # fence or comment


def _hidden_blocks(text: str) -> list[tuple[int, int]]:
    """(start, end) of each fenced code block (fences included) and of each comment that
    starts a line (to the end of its ``-->``), in order. A fence closes on a line of its own
    with at least as many of its characters; a fence or comment never closed is read as text
    (a stray one must not hide the rest of a document)."""
    blocks = []
    opening = None
    comments_close = True  # False once one comment never closes: none after it can
    for found in _HIDDEN_START.finditer(text):
        if blocks and found.start() < blocks[-1][1]:
            continue  # inside a comment
        mark = found.group(1)
        if opening is None and mark == "<!--":
            close = text.find("-->", found.end()) if comments_close else -1
            comments_close = close >= 0
            if comments_close:
                blocks.append((found.start(), close + 3))
            continue
        line_end = text.find("\n", found.end())
        line_end = len(text) if line_end < 0 else line_end
        if opening is None:
            if mark[0] != "`" or "`" not in text[found.end():line_end]:
                opening = found  # "```code``` at a line's start" is inline code, no fence
        elif mark[0] == opening.group(1)[0] and len(mark) >= len(opening.group(1)) \
                and not text[found.end():line_end].strip():
            blocks.append((opening.start(), line_end))
            opening = None
    return blocks


def _cells_or_line(text: str, start: int, end: int) -> Iterator[tuple[int, int]]:
    """The cells of a Markdown table row, or the line without its quote, list or heading
    marker."""
    quote = QUOTE.match(text, start, end)
    if quote:
        start = quote.end()
    if TABLE_ROW.match(text, start, end):
        for border in _CELL_BORDER.finditer(text, start, end):
            yield start, border.start()
            start = border.end()
        yield start, end
        return
    marker = LINE_MARKER.match(text, start, end)
    yield (marker.end() if marker else start), end


def _whitespace_before(text: str, start: int, limit: int) -> int:
    """The last whitespace position in text[start + CHUNK_CHARS // 2:limit + 1], or limit
    when there is none."""
    position = _last_whitespace(text, start + CHUNK_CHARS // 2 + 1, limit + 1)
    return limit if position < 0 else position


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
