"""What every console page shares: the error page, an API answer that failed in words (the
API's detail, the fields it refused, the time to wait) on that page or a form, and where a
form may send the browser back to. The pages use these, never a copy of their own."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from datetime import date, timedelta
from urllib.parse import urlsplit

from flask import Response, abort, flash, get_flashed_messages, make_response, render_template

from service.config import Settings
from service.console.client import Answer
from service.errors import SEE_THE_FIELDS

DOWNLOAD_HEADERS = ("Content-Type", "Content-Disposition", "Content-Length")
#: A flash said beside an element of the page (a register row, the bulk form) rather than at
#: its top: its category is AT + the element's id. A page that shows it there passes that id
#: in ``placed``; on any other page it is said at the top, as every other flash.
AT = "at:"

# What a console page says for an HTTP status; the API's detail says the rest.
TITLES = {400: "That request was not understood", 401: "Signed out", 403: "Not allowed",
          404: "Not found", 405: "Not allowed here", 409: "Conflict", 413: "Too large",
          415: "Not a supported document", 422: "Not accepted", 429: "Too many requests",
          500: "Something went wrong", 503: "Unavailable"}
# Ids from a page's path go into the API's paths: only what an id can be (UUIDs, numbers), so
# that no ``?``, ``%`` or ``..`` turns one path into another.
SAFE_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
# The API's field names as the forms' labels say them; any other field keeps its own name.
FIELD_NAMES = {"name": "Name", "description": "Description", "email": "Email", "role": "Role",
               "status": "Status", "owner_id": "Owner", "due_date": "Due date",
               "notes": "Notes", "category": "Category", "sort": "Sort", "page": "Page",
               "q": "Search", "from_scan": "Earlier report", "to_scan": "Later report",
               "text": "Text", "file": "Document", "password": "Password",
               "project_id": "Project", "min_score": "Minimum score",
               "max_score": "Maximum score", "corrected": "Corrected", "source": "Source",
               "created_after": "From", "created_before": "Until", "event": "Event",
               "user_id": "User id", "scan_id": "Scan id", "risk": "Risk",
               "likelihood": "Likelihood", "impact": "Impact", "files": "Documents",
               "archive": "Zip archive", "reported_on": "Report date",
               "from": "Same risk as", "findings": "Split out"}

# The API's details name the setting behind a limit, "(MAX_DOCUMENT_CHARS)", or one that
# would allow more, "(WEBHOOK_ALLOWED_NETWORKS may allow others)", for whoever runs the
# service; a person reading a page gets the words without that aside.
_SETTINGS = "|".join(name for name, _, _ in Settings.documentation())
SETTING_NAMES = re.compile(rf" \((?:{_SETTINGS})(?: [^()]*)?\)")


def error_page(status: int, detail: str | None = None, *, retry_after: str | None = None,
               error_id: str | None = None):
    page = render_template("console/error.html", status=status,
                           title=TITLES.get(status, "Error"), detail=detail, error_id=error_id)
    headers = {"Retry-After": retry_after} if retry_after else {}
    return page, status, headers


def restated(answer: Answer) -> bool:
    """Whether the detail is the refusal of the one field refused, in a sentence of its own
    ("There is no active user with this email.", the email's "No active user with this
    email."): any detail but those that leave it to the fields (SEE_THE_FIELDS)."""
    return len(answer.errors) == 1 and answer.detail not in SEE_THE_FIELDS


def words(answer: Answer, *, beside: Iterable[str] = ()) -> str:
    """An answer that failed as one sentence for a page, a form or a flash: the API's
    detail, its words for each field it refused, and when to try again (429, 503). Each
    thing said once: a field's words that the detail says (alone, or within it as in
    "reported_on: Not a date."), in its words or its own (``restated``), are left out, and
    so are those of the fields a form shows beside them
    (``beside``: form_refusal)."""
    detail = SETTING_NAMES.sub("", answer.detail)
    said = {detail.strip()}
    refused = {}
    for name, messages in ({} if restated(answer) else answer.errors).items():
        if name in beside:
            continue
        new = [SETTING_NAMES.sub("", message) for message in messages_of(messages)]
        new = [message for message in new
               if message.strip() not in said and message.strip() not in detail]
        said.update(message.strip() for message in new)
        if new:
            refused[name] = new
    fields = "; ".join(f"{FIELD_NAMES.get(name, name)}: " + " ".join(messages)
                       for name, messages in refused.items())
    text = f"{detail} {fields}" if fields else detail
    # The rate limiter sends Retry-After on every answer of a limited route, a 401 too.
    retry = answer.headers.get("Retry-After") if answer.status in (429, 503) else None
    return f"{text} Try again in {retry} seconds." if retry else text


def form_refusal(answer: Answer, *fields: str) -> tuple[str | None, dict]:
    """A refused form's (alert, words beside each field), each thing said once: beside each
    of its ``fields``, that field's words; in the alert, the detail and the words of the
    fields the form does not show. A detail that is one shown field's refusal in a sentence
    of its own (``restated``) is that field's words, beside it, and there is no alert."""
    if restated(answer) and (name := next(iter(answer.errors))) in fields:
        return None, {name: [SETTING_NAMES.sub("", answer.detail)]}
    beside = {name: [SETTING_NAMES.sub("", message) for message in messages_of(messages)]
              for name, messages in answer.errors.items() if name in fields}
    return words(answer, beside=beside), beside


def messages_of(value) -> list[str]:
    """A field's refusal as a list of words, however the API nests them: a list's, or a
    list field's per item (``{"0": ["Must be one of: …"]}``)."""
    if isinstance(value, dict):
        return [message for item in value.values() for message in messages_of(item)]
    if isinstance(value, list):
        return [message for item in value for message in messages_of(item)]
    return [str(value)]


def said(label: str | None) -> str:
    """A label as every page and message says it (the pages' ``said`` filter too): ``none``
    is "not a risk"; the status filter ``active`` is "not closed"."""
    return {"none": "not a risk", "active": "not closed"}.get(label, label or "")


def counted(number: int, unit: str) -> str:
    """``number`` of ``unit`` in words that agree with it: "1 document", "3 documents",
    "0 entries" (the pages' ``counted`` filter too)."""
    plural = (unit[:-1] + "ies" if unit.endswith("y") and unit[-2:-1] not in "aeiou"
              else unit + "s")
    return f"{number} {unit if number == 1 else plural}"


def failed(answer: Answer):
    """The error page for an API answer that failed, with the API's status and words."""
    error_id = answer.json.get("error_id") if isinstance(answer.json, dict) else None
    return error_page(answer.status, words(answer),
                      retry_after=answer.headers.get("Retry-After"), error_id=error_id)


def data_or_fail(answer: Answer):
    """The JSON of an answer that succeeded; an answer that failed ends the request with
    its error page (abort with the rendered response)."""
    if not answer.ok:
        abort(make_response(*failed(answer)))
    return answer.json


def download(answer: Answer):
    """The API's answer passed through as a download (its bytes, status, type, attachment
    name and length), or the console's error page for a failed one."""
    if not answer.ok:
        return failed(answer)
    return Response(answer.data, status=answer.status,
                    headers={name: answer.headers[name]
                             for name in DOWNLOAD_HEADERS if name in answer.headers})


def check_id(value: str, what: str) -> str:
    """``value``, an id from the page's path; one that cannot be an id is the API's 404 in
    its words ("No such project."), answered here without asking the API."""
    if not SAFE_ID.fullmatch(value):
        abort(make_response(*error_page(404, f"No such {what}.")))
    return value


def safe_target(target: str | None, default: str) -> str:
    """``target`` (a form's ``next`` or ``back``, sign-in's ``next``) when it is a path of
    the console, else ``default``. The browser sent it, so it may name another site (open
    redirect) or hold a control character: CR/LF would split the Location header (a 500
    after the change was made), others are never a path a page of the console linked to."""
    if not target or "\\" in target or any(
            unicodedata.category(char) == "Cc" for char in target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/app/"):
        return default
    return target


def days_as_instants(query: dict) -> tuple[dict, dict]:
    """(the date inputs' days as the API's instants (UTC), the form's errors): after a day
    is from its start, before a day is until its end, the next day's start (none after
    9999-12-31). Anything else goes as typed, for the API to judge."""
    instants, errors = dict(query), {}
    for name, shift in (("created_after", 0), ("created_before", 1)):
        try:
            day = date.fromisoformat(query.get(name, ""))
        except ValueError:
            continue
        try:
            instants[name] = f"{day + timedelta(days=shift)}T00:00:00Z"
        except OverflowError:
            errors[name] = f"{FIELD_NAMES[name]}: Must be a day before {date.max}."
    return instants, errors


def flash_at(message: str, anchor: str) -> None:
    """A result said next to the control that caused it (WCAG 3.3.1, and in view where the
    page lands: at ``#anchor``)."""
    flash(message, AT + anchor)


def flashed_at(anchor: str) -> list[str]:
    """This request's flashes to be said beside ``anchor`` (the template's global)."""
    return [message for category, message in get_flashed_messages(with_categories=True)
            if category == AT + anchor]
