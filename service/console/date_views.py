"""A report's date on the console: said first wherever a scan is named, and corrected on the
scan's page with its own Save (docs/console.md, "Report dates").

The service dates a scan sent without a date by its document, else its file name, else the
upload day (service/scans/report_dates.py); a guess can be wrong, and a wrong date puts a
report in the wrong place in its project's register and changes. So the scan's page says
where its date came from beside a field to correct it, and the answer is said there, beside
the field, not at the top of the page.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from flask import redirect, render_template, request, url_for

from service.console.blueprint import console
from service.console.pages import data_or_fail, failed, flash_at, form_refusal
from service.console.session import api, signed_in

# The API's reported_on_from, in words (the console is a client: it knows the API's values).
FROM_WORDS = {
    "given": "Set by a person.",
    "document": "Found in the document's title or first lines.",
    "filename": "Found in the file's name.",
    "upload_day": "No date found in the document or its name: the day it was scanned.",
    "job": "Set by its batch job.",
}


@console.post("/scans/<scan_id>/date")
@signed_in
def scan_date(scan_id: str):
    """The report's date corrected: back to the scan's page, the answer beside the field;
    a refused date, the page again with the API's words beside it (422)."""
    from service.console.scan_views import scan_page_values  # the scan's page, as it shows

    value = request.form.get("reported_on", "").strip()
    answer = api("PATCH", f"/scans/{scan_id}", json={"reported_on": value})
    if not answer.ok:
        if answer.status != 422:
            return failed(answer)
        _, errors = form_refusal(answer, "reported_on")
        scan = data_or_fail(api("GET", f"/scans/{scan_id}"))
        return render_template("console/result.html", **scan_page_values(scan),
                               date_value=value, date_errors=errors.get(
                                   "reported_on", ["Not a date."])), 422
    flash_at(f"Saved: the report is dated {report_day(answer.json['reported_on'])}.",
             "report-date")  # the form's id (scan_views.REPORT_DATE), where it is said
    return redirect(url_for("console.scan_view", scan_id=scan_id, _anchor="report-date"),
                    code=303)


@console.app_template_global("latest_report_day")
def latest_report_day() -> str:
    """The latest date a report may have (a date field's max): the API's rule, tomorrow in
    UTC (the API says so again for a browser that ignores the max)."""
    return (datetime.now(UTC).date() + timedelta(days=1)).isoformat()


@console.app_template_filter("report_day")
def report_day(value: str | None) -> str:
    """A report's date as the pages say it, "23 Oct 2026": no reader misreads it."""
    if not value:
        return "undated"
    day = date.fromisoformat(value[:10])
    return f"{day.day} {day.strftime('%b')} {day.year}"


@console.app_template_filter("dated_from")
def dated_from(source: str | None) -> str:
    """Where a scan's date came from, in words ("" for a scan stored before it was kept)."""
    return FROM_WORDS.get(source or "", "")


def by_report(scans: dict[str, dict]) -> dict[str, dict]:
    """A project's scans by id, the latest report first (by its date, then upload): the
    order the register reads them in."""
    return dict(sorted(scans.items(), key=lambda item: (item[1].get("reported_on") or "",
                                                        item[1]["timestamp"]), reverse=True))
