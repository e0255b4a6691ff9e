"""What every console page shares: the error page, turning an API answer that failed
into one (the API's own words, a 429's time to wait), and where a form may send the browser
back to."""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

from flask import abort, render_template

from service.console.client import Answer

# What a console page says for an HTTP status; the API's detail says the rest.
TITLES = {400: "That request was not understood", 401: "Signed out", 403: "Not allowed",
          404: "Not found", 405: "Not allowed here", 409: "Conflict", 413: "Too large",
          415: "Not a supported document", 422: "Not accepted", 429: "Too many requests",
          500: "Something went wrong", 503: "Unavailable"}


def error_page(status: int, detail: str | None = None, *, retry_after: str | None = None,
               error_id: str | None = None):
    page = render_template("console/error.html", status=status,
                           title=TITLES.get(status, "Error"), detail=detail,
                           retry_after=retry_after, error_id=error_id)
    headers = {"Retry-After": retry_after} if retry_after else {}
    return page, status, headers


def failed(answer: Answer):
    """The error page for an API answer that failed, with the API's status and words."""
    error_id = answer.json.get("error_id") if isinstance(answer.json, dict) else None
    return error_page(answer.status, answer.detail,
                      retry_after=answer.headers.get("Retry-After"), error_id=error_id)


def data_or_fail(answer: Answer):
    """The JSON of an answer that succeeded; an answer that failed ends the request with
    its error page (abort with the rendered response)."""
    if not answer.ok:
        page, status, headers = failed(answer)
        from flask import make_response

        abort(make_response(page, status, headers))
    return answer.json


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
