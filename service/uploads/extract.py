"""Plain text out of an uploaded document: txt, md, html, pdf, docx.

The kind is recognised by content (magic bytes for PDF and docx, valid UTF-8 for text),
not by name; a name only has to carry one of the supported extensions, or none. Every
parser runs inside bounds (pages, uncompressed size, compression ratio), because an
upload is untrusted input.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass
from functools import partial
from pathlib import PurePath

SUPPORTED_EXTENSIONS = {
    ".txt": "txt", ".text": "txt", ".md": "md", ".markdown": "md",
    ".html": "html", ".htm": "html", ".pdf": "pdf", ".docx": "docx",
}
MEDIA_TYPES = {
    "txt": "text/plain",
    "md": "text/markdown",
    "html": "text/html",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
_HTML_START = re.compile(rb"^\s*(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b",
                         re.IGNORECASE | re.DOTALL)
_HIDDEN_TAGS = ("script", "style", "noscript", "template", "head")
_HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_BLOCK_TAGS = ("p", "div", "li", *_HEADING_TAGS, "br", "tr", "td", "th",
               "section", "article", "header", "footer", "blockquote", "pre", "table",
               "ul", "ol", "dt", "dd", "hr", "title")


class DocumentError(Exception):
    """The upload cannot be turned into text; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class ExtractionLimits:
    max_pdf_pages: int = 300
    max_docx_uncompressed_bytes: int = 50 * 1024 * 1024
    max_docx_compression_ratio: float = 100.0
    max_docx_entries: int = 2000


@dataclass(frozen=True)
class Document:
    text: str
    kind: str  # txt, md, html, pdf or docx

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.kind]


def detect_kind(data: bytes, filename: str | None) -> str:
    """What the bytes are; raises DocumentError(415) for anything unsupported."""
    suffix = PurePath(filename or "").suffix.lower()
    claimed = SUPPORTED_EXTENSIONS.get(suffix)
    if suffix and claimed is None:
        raise DocumentError(415, f"Unsupported file type {suffix!r}; send "
                                 "txt, md, html, pdf or docx.")
    if data.startswith(b"%PDF-"):
        actual = "pdf"
    elif data.startswith(b"PK\x03\x04"):
        actual = "docx"  # confirmed (or refused) when the archive is opened
    elif b"\x00" in data[:8192]:
        raise DocumentError(415, "The file is binary, not one of txt, md, html, pdf or docx.")
    elif claimed == "html" or _HTML_START.match(data[:4096]):
        actual = "html"
    else:
        actual = "md" if claimed == "md" else "txt"
    binary_kinds = ("pdf", "docx")
    if claimed and claimed != actual and (claimed in binary_kinds or actual in binary_kinds):
        raise DocumentError(415, f"The file is named {suffix} but its content is "
                                 f"{'a ' + actual.upper() if actual in binary_kinds else 'text'}.")
    return actual


def extract_text(data: bytes, filename: str | None = None,
                 limits: ExtractionLimits = ExtractionLimits()) -> Document:
    if not data:
        raise DocumentError(422, "The file is empty.")
    kind = detect_kind(data, filename)
    if kind == "pdf":
        text = _pdf_text(data, limits)
    elif kind == "docx":
        text = _docx_text(data, limits)
    else:
        text = _decode(data)
        if kind == "html":
            text = _html_text(text)
    return Document(text=text, kind=kind)


def _decode(data: bytes) -> str:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DocumentError(415, "Text files must be UTF-8 encoded.") from None
    if any(ord(c) < 32 and c not in "\t\n\r\f" for c in text[:8192]):
        raise DocumentError(415, "The file is binary, not one of txt, md, html, pdf or docx.")
    return text.replace("\r\n", "\n").replace("\r", "\n")


_WHITESPACE_RUN = re.compile(r"\s+")


def _html_text(markup: str) -> str:
    from bs4 import BeautifulSoup
    from bs4.exceptions import ParserRejectedMarkup

    try:
        soup = BeautifulSoup(markup, "html.parser")
    except ParserRejectedMarkup as exc:  # e.g. a stray "<![" that html.parser cannot read
        raise DocumentError(422, "The HTML could not be read (malformed markup).") from exc
    text_types = soup.interesting_string_types  # what get_text() keeps: no comments
    # Written out as the Markdown the segmenter reads (service.analysis.segment): a block
    # element ends a paragraph (a blank line, so that no two blocks are read as one
    # hard-wrapped sentence), <br> a line, a heading starts with "#" and a list item with
    # "- ", so that a heading is never a finding whatever its length; inline elements (<b>,
    # <a>) stay inside their sentence, and <pre> (a mailing-list archive's message) keeps
    # its lines. One walk with an explicit stack: inserting "\n" nodes into the tree costs
    # time quadratic in the nesting depth (a 200 KB upload of nested <div>s took half a
    # minute), and recursion would overflow.
    parts: list[str] = []
    stack: list = [(soup, False, False)]
    while stack:
        node, leaving, preformatted = stack.pop()
        if leaving:
            parts.append("\n" if node.name == "br" else "\n\n")
        elif node.name is None:  # a string
            if type(node) in text_types:
                # As a browser renders it: a line break in the markup is a space, but in <pre>.
                text = str(node)
                parts.append(text if preformatted else _WHITESPACE_RUN.sub(" ", text))
        elif node.name not in _HIDDEN_TAGS:
            if node.name == "li":
                parts.append("\n- ")
            elif node.name in _HEADING_TAGS:
                parts.append("\n" + "#" * int(node.name[1]) + " ")
            if node.name in _BLOCK_TAGS:
                stack.append((node, True, preformatted))
            preformatted = preformatted or node.name == "pre"
            stack.extend((child, False, preformatted) for child in reversed(node.contents))
    return _tidy("".join(parts))


def _tidy(text: str) -> str:
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# A PDF line that goes on with a lower-case word or a digit continues the sentence of the
# line before, unless that line ended one (. ! ? :) or is a list item.
_WRAPPED = re.compile(r"(?<![.!?:;])\n(?![ \t]*(?:[-*•–]|\d{1,3}[.)])[ \t])(?=[ \t]*[a-z0-9(])")


def _unwrap(page: str) -> str:
    """Join the lines a PDF's layout wrapped, so that a sentence reaches the segmenter
    whole (it treats every line break as a boundary, as typed text needs)."""
    return _WRAPPED.sub(" ", page)


def _pdf_text(data: bytes, limits: ExtractionLimits) -> str:
    from pypdf import PdfReader

    try:
        pdf = PdfReader(io.BytesIO(data))
        if pdf.is_encrypted and not pdf.decrypt(""):
            raise DocumentError(422, "The PDF is password-protected.")
        pages = len(pdf.pages)
        if pages > limits.max_pdf_pages:
            raise DocumentError(413, f"The PDF has {pages} pages; the limit is "
                                     f"{limits.max_pdf_pages}.")
        text = "\n\n".join(_unwrap(page) for page in _pdf_pages(pdf)).translate(_LIGATURES)
    except DocumentError:
        raise
    except NotImplementedError as exc:  # pypdf: an encryption it does not support
        raise DocumentError(422, "The PDF uses an encryption that cannot be read.") from exc
    except Exception as exc:  # a hostile PDF can make pypdf raise anything: always a 422
        raise DocumentError(422, "The PDF could not be read (damaged or truncated).") from exc
    return _tidy(text)


# Typeset ligatures, one character in a PDF's text ("diﬃcult", "understaﬀed"): the
# classifier's vocabulary knows the letters, not the ligature (the shipped model scored
# "The current Jenkins CI pipeline is diﬃcult to maintain and extend." 0.03).
_LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi",
                            "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st"})

# A PDF line set at least this much larger than the document's body text is a heading.
PDF_HEADING_SIZE_RATIO = 1.15
PDF_HEADING_MAX_WORDS = 16
PDF_FULL_LINE_SHARE = 0.7  # a line shorter than this share of a full one was not wrapped


def _pdf_pages(pdf) -> list[str]:
    """Each page's text with its headings marked "#", told by their font size, and a blank
    line after each line that ends an item short of the column (_break_short_lines): a PDF
    has no heading or list element, and either line, without a full stop, would otherwise
    be read as the first line of a wrapped paragraph."""
    pages = [_sized_lines(page) for page in pdf.pages]
    chars: Counter = Counter()
    for lines in pages:
        for line, size in lines:
            chars[size] += len(line.strip())
    body = _commonest(chars)
    lengths = sorted(len(line.strip()) for lines in pages for line, size in lines
                     if size == body and line.strip())
    full = lengths[len(lengths) * 9 // 10] if lengths else 0
    return ["\n".join(_break_short_lines(_mark_headings(lines, body), full))
            for lines in pages]


def _break_short_lines(lines: list[str], full: int) -> list[str]:
    """A PDF sets a paragraph's lines to the column's width (``full`` characters, about).
    A line well short of it, without a closing stop, before a line that starts in upper
    case ends an item (a list item whose bullet was drawn, not written; a cell; a label):
    a blank line after it keeps the segmenter from reading the two as one wrapped line."""
    out = []
    for line, following in zip(lines, [*lines[1:], ""]):
        out.append(line)
        text = line.strip()
        if text and len(text) < PDF_FULL_LINE_SHARE * full and text[-1] not in ".!?:;" \
                and following.lstrip()[:1].isupper():
            out.append("")
    return out


def _sized_lines(page) -> list[tuple[str, float]]:
    """The page's lines as pypdf extracts them, each with the font size that most of its
    characters are set in (as printed: the text and page matrices' vertical scale)."""
    lines: list[tuple[str, float]] = []
    current: list[str] = []
    sizes: Counter = Counter()

    def visit(text, cm, tm, font_dict, font_size):
        size = round(font_size * _vertical_scale(tm) * _vertical_scale(cm), 1)
        first, *rest = text.split("\n")
        current.append(first)
        sizes[size] += len(first.strip())
        for part in rest:
            lines.append(("".join(current), _commonest(sizes)))
            current[:] = [part]
            sizes.clear()
            sizes[size] += len(part.strip())

    page.extract_text(visitor_text=visit)
    lines.append(("".join(current), _commonest(sizes)))
    return lines


def _commonest(sizes: Counter) -> float:
    """The font size with the most characters, or 0.0 where there is none."""
    return sizes.most_common(1)[0][0] if sizes else 0.0


def _vertical_scale(matrix) -> float:
    try:
        scale = math.hypot(float(matrix[2]), float(matrix[3]))
    except (TypeError, ValueError, IndexError):
        return 1.0
    return scale if math.isfinite(scale) and scale > 0 else 1.0


def _mark_headings(lines: list[tuple[str, float]], body: float) -> list[str]:
    """The lines, with each run of short lines set in one size larger than ``body`` made
    one "# " line between blank lines (a heading a PDF wrapped over two lines is one)."""
    out: list[str] = []
    heading: list[str] = []
    heading_size = 0.0
    for line, size in lines:
        words = line.split()
        if heading and (size != heading_size or not words
                        or len(words) + len(heading) > PDF_HEADING_MAX_WORDS):
            out.extend(["", "# " + " ".join(heading), ""])
            heading = []
        if words and body and size >= body * PDF_HEADING_SIZE_RATIO \
                and len(words) + len(heading) <= PDF_HEADING_MAX_WORDS:
            heading.extend(words)
            heading_size = size
        else:
            out.append(line)
    if heading:
        out.extend(["", "# " + " ".join(heading), ""])
    return out


def _docx_text(data: bytes, limits: ExtractionLimits) -> str:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DocumentError(422, "The docx file could not be read (damaged or truncated).") \
            from exc
    if "word/document.xml" not in archive.namelist():
        raise DocumentError(415, "The file is a zip archive but not a docx document.")
    _check_zip_bounds(entries, len(data), limits)
    unpacked = _honest_copy(archive, entries)

    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(unpacked))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile, OSError) as exc:
        raise DocumentError(422, "The docx file could not be read (damaged or truncated).") \
            from exc
    except Exception as exc:  # lxml and python-docx raise many types on malformed XML
        raise DocumentError(422, "The docx file could not be read (malformed XML).") from exc
    # Each paragraph and cell a paragraph of its own (Word never wraps one into the next),
    # headings marked "#" and list items "- ", as _html_text writes them.
    blocks = [_docx_marker(paragraph) + paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            blocks.extend(cell.text for cell in row.cells)
    return _tidy("\n\n".join(blocks))


def _docx_marker(paragraph) -> str:
    """"# " for a Title or "Heading n" paragraph (n "#"s, at most 6), "- " for a list item:
    a "List …" style, or numbering of its own (how Google Docs and LibreOffice write lists;
    python-docx has no public reader for it, hence ``_p``)."""
    try:
        name = paragraph.style.name or ""
    except (AttributeError, KeyError, ValueError):  # a style the document does not define
        name = ""
    if name == "Title":
        return "# "
    level = name.removeprefix("Heading ")
    if level != name and level.isdigit():
        return "#" * min(max(int(level), 1), 6) + " "
    try:
        properties = paragraph._p.pPr
        numbered = properties is not None and properties.numPr is not None
    except (AttributeError, ValueError):  # numbering markup python-docx cannot parse
        numbered = False
    return "- " if name.startswith("List") or numbered else ""


def _check_zip_bounds(entries, compressed_size: int, limits: ExtractionLimits) -> None:
    """Refuse zip bombs before anything is decompressed."""
    if len(entries) > limits.max_docx_entries:
        raise DocumentError(413, f"The docx has {len(entries)} parts; the limit is "
                                 f"{limits.max_docx_entries}.")
    uncompressed = sum(entry.file_size for entry in entries)
    if uncompressed > limits.max_docx_uncompressed_bytes:
        raise DocumentError(413, "The docx would unpack to "
                                 f"{uncompressed // (1024 * 1024)} MB; the limit is "
                                 f"{limits.max_docx_uncompressed_bytes // (1024 * 1024)} MB.")
    ratio = uncompressed / max(compressed_size, 1)
    if ratio > limits.max_docx_compression_ratio:
        raise DocumentError(413, f"The docx is compressed {ratio:.0f}:1; the limit is "
                                 f"{limits.max_docx_compression_ratio:.0f}:1 (a zip bomb?).")


def _honest_copy(archive: zipfile.ZipFile, entries) -> bytes:
    """The archive rewritten uncompressed, each member read in small chunks.

    The sizes _check_zip_bounds checked are the ones the archive declares, and a zip can
    lie: a member declared at 1 KB may inflate to gigabytes, and one ``ZipFile.read`` (what
    python-docx does) inflates it whole before noticing. Read in chunks, zipfile stops at
    the declared size (then fails the CRC check), so no more than the checked total is ever
    held; python-docx reads this copy, whose sizes are true.
    """
    if len({entry.filename for entry in entries}) != len(entries):
        raise DocumentError(422, "The docx file could not be read (a part appears twice).")
    buffer = io.BytesIO()
    try:
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as copy:
            for entry in entries:
                if entry.is_dir():
                    continue
                with archive.open(entry) as member:
                    content = b"".join(iter(partial(member.read, 64 * 1024), b""))
                copy.writestr(entry.filename, content)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError,
            NotImplementedError) as exc:
        raise DocumentError(422, "The docx file could not be read (damaged or truncated).") \
            from exc
    return buffer.getvalue()
