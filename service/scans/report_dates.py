"""A report's date (``reported_on``): the day a report speaks for, which the register dates
and orders reports by (docs/register.md), as a scan request, a form or a job's document
gives it; left out, the upload day (UTC).

A report cannot be dated before 1900 or after tomorrow (a day's grace for time zones ahead
of UTC): a mistyped year would otherwise stay the project's "latest report" for good. A
job's document without a date of its own takes the one in its file name
(``week-2026-03-14.docx``, ``2026-03-14-status.md``, ``minutes_2026_03_14.txt``): a
year, month and day joined by one of ``-``, ``_`` or ``.``. A name with no real date, or
with two different ones, says nothing.
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
