"""A scan's title: the name a person knows a pasted text by, from the text itself.

A paste has no file name, and "Pasted text" on every row of the history tells the rows
apart by their time only. The text's first heading names it (a document's title, a
report's "# Status, week 14"), else its first line does. Only the opening is read: a
heading pages into a document names a section, not the document. Stored with the scan
(Scan.title), so that the list, the scan and every client say the same name and the list
never reads a text to name it.
"""

from __future__ import annotations

import re
import unicodedata

MAX_CHARS = 60  # the ellipsis included
OPENING = 4000  # the characters of the text read for a heading
# As the console's reader (service/console/document.py) tells a heading: "#"-"######", a
# space, the words; closing "#"s dropped (ATX's "## Risks ##").
HEADING = re.compile(r"[ \t]*#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
SPACES = re.compile(r"\s+")


def title_of(text: str | None) -> str | None:
    """The title of ``text``: its first heading within the opening (the ``#`` markers
    dropped), else its first line with a letter or digit; each run of spaces and control
    characters one space, and cut to MAX_CHARS at a word with "…". None for a text with
    no letter or digit in its opening."""
    if not text:
        return None
    lines = text[:OPENING].splitlines()
    for line in lines:
        heading = HEADING.fullmatch(line)
        if heading and _worded(words := _plain(heading.group(1))):
            return _shortened(words)
    first = next((words for line in lines if _worded(words := _plain(line))), None)
    return _shortened(first) if first else None


def _worded(line: str) -> bool:
    return any(char.isalnum() for char in line)


def _plain(line: str) -> str:
    """``line`` with each run of spaces and control characters one space, trimmed."""
    line = "".join(" " if unicodedata.category(char) == "Cc" else char for char in line)
    return SPACES.sub(" ", line).strip()


def _shortened(title: str) -> str:
    if len(title) <= MAX_CHARS:
        return title
    cut = title[:MAX_CHARS - 1]
    space = cut.rfind(" ")
    if space >= MAX_CHARS // 2:  # at a word, unless that loses half the room
        cut = cut[:space]
    return cut.rstrip(" ,;:.-–—") + "…"
