"""A scan's text shown whole: its Markdown structure as HTML blocks, its sentences as pieces.

The service keeps the text a scan analysed (for a document, as extracted: headings as
``#`` lines, list items as ``-`` lines). A person reads it as a document, so the page shows
headings as headings and items as lists, never their markers (a heading the segmenter cut
in two, ``## 4.`` and ``Risks``, is one heading again). Inside each block the text is cut
at the findings (marked) and at the other sentences (each one a person may mark as a risk),
by the offsets the service gave them: the pieces are slices of the text, so nothing is lost
or repeated, and Jinja escapes every one of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from service.analysis.reading import sentences_of

HEADING = re.compile(r"[ \t]*(#{1,6})[ \t]+")
BULLET = re.compile(r"[ \t]*(?:[-*+•–])[ \t]+")
NUMBERED = re.compile(r"[ \t]*(?:\d{1,3}[.)]|[a-z]\))[ \t]+")
QUOTE = re.compile(r"[ \t]*>[ \t]?")
# The page's own headings are h1 (the scan) and h2 (the document): a document's # is h3.
FIRST_LEVEL = 3


@dataclass
class Piece:
    """A slice of the text: a finding's (``finding``), a sentence no finding covers
    (``sentence``: its offsets, for "Mark as risk"), or the space between them."""

    text: str
    finding: dict | None = None
    sentence: tuple[int, int] | None = None


@dataclass
class Block:
    """A heading (``h3``…``h6``), a list item (``ul``/``ol``) or a paragraph (``p``)."""

    kind: str
    start: int
    end: int
    pieces: list[Piece] = field(default_factory=list)


@dataclass
class Document:
    blocks: list[Block]
    sentences: list[tuple[int, int, str]]  # what a person may mark: (start, end, text)


def blocks_of(text: str) -> list[Block]:
    """The text's lines grouped into blocks, each without its Markdown marker: a heading
    line, a list item line, or a paragraph (lines up to a blank line or another block)."""
    blocks: list[Block] = []
    paragraph: Block | None = None
    at = 0
    for line in text.splitlines(keepends=True):
        start, end = at, at + len(line.rstrip("\r\n"))
        at += len(line)
        if not line.strip():
            paragraph = None
            continue
        quote = QUOTE.match(text, start, end)
        if quote:
            start = quote.end()
        heading = HEADING.match(text, start, end)
        item = BULLET.match(text, start, end) or NUMBERED.match(text, start, end)
        if heading:
            level = min(6, len(heading.group(1)) - 1 + FIRST_LEVEL)
            blocks.append(Block(f"h{level}", heading.end(), end))
            paragraph = None
        elif item:
            kind = "ul" if BULLET.match(text, start, end) else "ol"
            blocks.append(Block(kind, item.end(), end))
            paragraph = None
        elif paragraph is not None:
            paragraph.end = end  # the next line of the same paragraph
        else:
            paragraph = Block("p", start + len(text[start:end]) - len(text[start:end].lstrip()),
                              end)
            blocks.append(paragraph)
    return blocks


def document(text: str, findings: list[dict]) -> Document:
    """``text`` as blocks of pieces: each of ``findings`` (non-overlapping, in range)
    marked, each other sentence a piece of its own with its offsets."""
    spans: list[tuple[int, int, dict | None, tuple[int, int] | None]] = []
    at = 0
    for finding in sorted(findings, key=lambda f: (f["start"], f["end"])):
        start, end = finding["start"], finding["end"]
        if start < at or end > len(text) or start >= end:
            continue  # overlapping or out of range: the sentence stays plain
        spans.append((start, end, finding, None))
        at = end
    marked = list(spans)
    blocks = blocks_of(text)
    # A heading's pieces ("4." of "## 4. Risks" too) are never a risk to mark.
    headings = [(block.start, block.end) for block in blocks if block.kind.startswith("h")]
    sentences = []
    for sentence in sentences_of(text):
        if any(s < sentence.end and sentence.start < e for s, e, _, _ in marked):
            continue
        in_heading = sentence.is_heading or any(
            s <= sentence.start < e for s, e in headings)
        offsets = None if in_heading else (sentence.start, sentence.end)
        if offsets:
            sentences.append((sentence.start, sentence.end, sentence.text))
        spans.append((sentence.start, sentence.end, None, offsets))
    spans.sort(key=lambda span: span[0])
    for block in blocks:
        at = block.start
        for start, end, finding, offsets in spans:
            start, end = max(start, block.start), min(end, block.end)
            if start >= end or start < at:
                continue
            if start > at:
                block.pieces.append(Piece(text[at:start]))
            block.pieces.append(Piece(text[start:end], finding, offsets))
            at = end
        if at < block.end:
            block.pieces.append(Piece(text[at:block.end]))
    return Document(blocks, sentences)


def grouped(blocks: list[Block]) -> list[tuple[str, list[Block]]]:
    """Consecutive list items of one kind together (one ``<ul>`` or ``<ol>``), every other
    block on its own: (the element to open, its blocks)."""
    groups: list[tuple[str, list[Block]]] = []
    for block in blocks:
        if block.kind in ("ul", "ol") and groups and groups[-1][0] == block.kind:
            groups[-1][1].append(block)
        else:
            groups.append((block.kind, [block]))
    return groups
