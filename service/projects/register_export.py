"""The register as a project manager's sheet: CSV, or XLSX through XlsxWriter.

Risk wordings and notes come from documents and users: a cell that starts with ``=``, ``+``,
``-``, ``@`` or a control character would be a formula in a spreadsheet (CSV injection,
OWASP). The CSV prefixes such a cell with ``'``; the XLSX writes every text as a string,
never as a formula. A project's name, in any script, names the file and the sheet.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from urllib.parse import quote

import xlsxwriter

from service import rating

HEADER = ("id", "risk", "category", "status", "likelihood", "impact", "score", "band", "owner",
          "due date", "first seen", "last seen", "occurrences", "notes")
WIDTHS = (6, 70, 12, 11, 9, 7, 6, 9, 28, 11, 11, 11, 11, 40)
FORMULA_START = ("=", "+", "-", "@")


def _cells(row: dict) -> list:
    score = rating.score(row["likelihood"], row["impact"])
    blank = lambda value: "" if value is None else value
    return [row["id"], row["risk"], row["category"], row["status"], blank(row["likelihood"]),
            blank(row["impact"]), blank(score), rating.band(score) or "",
            row["owner_email"] or "",
            row["due_date"].isoformat() if row["due_date"] else "",
            row["first_seen"].date().isoformat(), row["last_seen"].date().isoformat(),
            row["occurrences"], row["notes"] or ""]


def _inert(value):
    if isinstance(value, str) and (value.startswith(FORMULA_START) or _control(value[:1])):
        return "'" + value
    return value


def _control(character: str) -> bool:
    """A C0 or C1 control character (LF, VT and NUL as much as tab and CR)."""
    return unicodedata.category(character) == "Cc" if character else False


def to_csv(rows: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    for row in rows:
        writer.writerow([_inert(cell) for cell in _cells(row)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # the BOM: Excel reads it as UTF-8


def to_xlsx(rows: list[dict], title: str) -> bytes:
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True, "strings_to_formulas": False,
                                     "strings_to_numbers": False, "strings_to_urls": False})
    sheet = book.add_worksheet(_sheet_name(title))
    bold = book.add_format({"bold": True, "bg_color": "#DDE4EE", "border": 1})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    top = book.add_format({"valign": "top"})
    sheet.write_row(0, 0, HEADER, bold)
    for column, width in enumerate(WIDTHS):
        sheet.set_column(column, column, width, wrap if HEADER[column] in ("risk", "notes")
                         else top)
    for index, row in enumerate(rows, start=1):
        for column, value in enumerate(_cells(row)):
            if isinstance(value, int):
                sheet.write_number(index, column, value)
            else:
                sheet.write_string(index, column, value)
    sheet.autofilter(0, 0, max(len(rows), 1), len(HEADER) - 1)
    sheet.freeze_panes(1, 0)
    book.close()
    return out.getvalue()


def _sheet_name(title: str) -> str:
    """Excel's rules: at most 31 characters, none of []:*?/\\, no apostrophe at either end;
    and no control character or lone surrogate, which the workbook's XML cannot hold (Excel
    called the file corrupt)."""
    cleaned = "".join(" " if c in "[]:*?/\\" or _control(c) or unicodedata.category(c) == "Cs"
                      else c for c in title)[:31].strip(" '")
    return cleaned or "Risks"


def attachment(name: str, extension: str) -> str:
    """The Content-Disposition of the register of the project ``name`` (any script). Header
    values are Latin-1, so a name beyond ASCII travels as RFC 5987's ``filename*`` in UTF-8,
    with an ASCII ``filename`` for clients that read only that (RFC 6266)."""
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:60] or "project"
    plain = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode().strip("-")
    header = f'attachment; filename="{plain or "project"}-risks.{extension}"'
    if plain == stem:
        return header
    return f"{header}; filename*=UTF-8''{quote(f'{stem}-risks.{extension}', safe='')}"
