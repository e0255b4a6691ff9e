"""A report's date (``reported_on``): the day a report speaks for, which the register dates
and orders reports by (docs/register.md), as a scan request, a form or a job's document
gives it; left out, the upload day (UTC).

A report cannot be dated before 1900 or after tomorrow (a day's grace for time zones ahead
of UTC): a mistyped year would otherwise stay the project's "latest report" for good. A
job's document without a date of its own takes the one in its file name
(``week-2026-03-14.docx``, ``2026-03-14-status.md``, ``minutes_2026_03_14.txt``): a
year, month and day joined by one of ``-``, ``_`` or ``.``. A name with no real date, or
with two different ones, says nothing.

A scan sent without a date is dated by what its document says (``guess``): a report names
its day in its title or first lines ("Weekly report – 23 October 2026"), and the upload day
was wrong for every report scanned late. Only forms that cannot be misread are read: the
year first (``2026-10-23``, ``2026/10/23``, ``2026.10.23``) or a month by its English name
(``23 October 2026``, ``23 Oct 2026``, ``October 23, 2026``). ``03/04/2026`` is 3 April to
one reader and March 4 to another, so no all-digit date with the day or month first is read,
not even ``23/10/2026``: a rule that depended on the day being over 12 would guess one
week's report and not the next.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

from marshmallow import ValidationError, fields

from service.db import today
from service.errors import APIError

EARLIEST = date(1900, 1, 1)
FIELD = "reported_on"
# A date in a name: not part of a longer run of digits (20260314 is a build number).
_IN_NAME = re.compile(r"(?<!\d)(\d{4})([-_.])(\d{2})\2(\d{2})(?!\d)")
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONTH = (r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
          r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)")
_ORDINAL = r"(?:st|nd|rd|th)?"
_IN_TEXT = (  # (pattern, the groups' order): year, month, day
    (re.compile(r"(?<![\d/.-])(\d{4})([-/.])(\d{2})\2(\d{2})(?![\d/.-]?\d)"), "y_md"),
    (re.compile(rf"(?<![\w])(\d{{1,2}}){_ORDINAL}\.?\s+{_MONTH}\.?,?\s+(\d{{4}})(?!\d)",
                re.IGNORECASE), "dmy"),
    (re.compile(rf"(?<![\w]){_MONTH}\.?\s+(\d{{1,2}}){_ORDINAL},?\s+(\d{{4}})(?!\d)",
                re.IGNORECASE), "mdy"),
)
FIRST_LINES = 5  # the lines of a document read for its date, after its title
OPENING = 2000  # and no more than its first characters: what follows is its body
# Where a scan's date came from (Scan.reported_on_from); null: a scan stored before it was kept.
GIVEN, DOCUMENT, FILENAME, UPLOAD_DAY, JOB = "given", "document", "filename", "upload_day", "job"


def latest() -> date:
    return today() + timedelta(days=1)


def check(day: date) -> None:
    """A marshmallow validator: ``day`` may be a report's date."""
    if not EARLIEST <= day <= latest():
        raise ValidationError(f"A report's date from {EARLIEST.isoformat()} to tomorrow "
                              f"({latest().isoformat()}).")


def from_form(value: str) -> date | None:
    """A form field's date (YYYY-MM-DD); empty: none given. 422 otherwise."""
    value = value.strip()
    if not value:
        return None
    try:
        if not _ISO_DAY.fullmatch(value):
            raise ValueError(value)
        day = date.fromisoformat(value)
        check(day)
    except (ValueError, ValidationError) as error:
        detail = (error.messages[0] if isinstance(error, ValidationError)
                  else "Not a date (YYYY-MM-DD).")
        raise APIError(422, f"reported_on: {detail}", errors={FIELD: [detail]}) from None
    return day


class ReportDate(fields.Date):
    """``reported_on`` in a JSON body: ``YYYY-MM-DD`` exactly, as a form's (from_form) and a
    job's. Python's date.fromisoformat, under marshmallow's Date, also takes ``20260101``
    and ``2026-W01-4``, which the documented rule and the other doors refuse."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str) or not _ISO_DAY.fullmatch(value):
            raise self.make_error("invalid")
        return super()._deserialize(value, attr, data, **kwargs)


def in_name(filename: str) -> date | None:
    """The date a file's name states, if exactly one plausible date."""
    found = set()
    for year, _, month, day in _IN_NAME.findall(filename):
        try:
            candidate = date(int(year), int(month), int(day))
        except ValueError:
            continue
        if EARLIEST <= candidate <= latest():
            found.add(candidate)
    return found.pop() if len(found) == 1 else None


def in_line(line: str) -> date | None:
    """The date a line of text states in a form that cannot be misread, if exactly one
    plausible date (a range, "2026-10-01 to 2026-10-07", says none)."""
    found = set()
    for pattern, order in _IN_TEXT:
        for groups in pattern.findall(line[:OPENING]):
            if order == "y_md":
                year, month, day = groups[0], groups[2], groups[3]
            elif order == "dmy":
                day, month, year = groups
            else:
                month, day, year = groups
            month = int(month) if month.isdigit() else _month_number(month)
            try:
                candidate = date(int(year), month, int(day))
            except ValueError:
                continue
            if EARLIEST <= candidate <= latest():
                found.add(candidate)
    return found.pop() if len(found) == 1 else None


def _month_number(name: str) -> int:
    return ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
            "dec").index(name[:3].lower()) + 1


def in_document(title: str | None, text: str) -> date | None:
    """The date a document states where a report names its day: its title, else the first
    of its first lines (FIRST_LINES with words, within OPENING) that states one."""
    lines = [line for line in text[:OPENING].splitlines() if line.strip()][:FIRST_LINES]
    for line in ([title] if title else []) + lines:
        if (day := in_line(line)) is not None:
            return day
    return None


def guess(given: date | None, title: str | None, text: str,
          filename: str | None) -> tuple[date, str]:
    """(date, where it came from) of a scan: the one given wins; else the document's
    (in_document), else its file name's (in_name), else the upload day (UTC)."""
    if given is not None:
        return given, GIVEN
    if (day := in_document(title, text)) is not None:
        return day, DOCUMENT
    if filename and (day := in_name(filename)) is not None:
        return day, FILENAME
    return today(), UPLOAD_DAY
