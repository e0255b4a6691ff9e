"""One error format for every failure: RFC 9457 ``application/problem+json``.

``{"type", "title", "status", "detail"}`` plus ``errors`` for field problems. Flask's own
404/405, validation errors, analyzer failures and unexpected exceptions all come out of
here. Never a stack trace, never a secret.
"""

from __future__ import annotations

import logging
import uuid

from apifairy.exceptions import ValidationError
from flask import Flask, g, json, request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, PendingRollbackError
from werkzeug.exceptions import HTTPException
from werkzeug.http import HTTP_STATUS_CODES

from service.extensions import db, end_session, token_auth

PROBLEM_MEDIA_TYPE = "application/problem+json"
# A problem's type is a reference to its entry on the install's own page (api_docs.py serves
# it): resolved against the request's URL, it never names a domain the install does not own.
PROBLEM_TYPE_BASE = "/docs/errors#"
# The details that leave what was refused to the fields' words (``errors``); every other
# detail with a field's words is that refusal in a sentence of its own (the console says
# one or the other, never both: service/console/pages.py).
FIELDS_REFUSED = "The request has invalid or missing fields."
SEE_THE_FIELDS = frozenset({FIELDS_REFUSED, "The request has invalid fields."})

log = logging.getLogger("riskscan.errors")


class APIError(Exception):
    """Raise from a view to answer with a problem: ``raise APIError(409, "Email taken")``."""

    def __init__(self, status: int, detail: str, *, errors=None, headers=None, title=None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.title = title


def problem_slug(title: str) -> str:
    """The fragment of a problem's type: its title in lower case, words joined by hyphens."""
    return title.lower().replace(" ", "-").replace("'", "")


def problem(status: int, detail: str | None = None, *, title: str | None = None,
            errors=None, headers=None, **extra):
    """Build a problem+json response."""
    title = title or HTTP_STATUS_CODES.get(status, "Error")
    body = {
        "type": PROBLEM_TYPE_BASE + problem_slug(title),
        "title": title,
        "status": status,
        "detail": detail or title,
    }
    if errors:
        body["errors"] = errors
    body.update(extra)
    request_id = g.get("request_id")
    if request_id:
        body["request_id"] = request_id
    response = Flask.response_class(
        json.dumps(body), status=status, mimetype=PROBLEM_MEDIA_TYPE
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _flatten(messages) -> dict:
    """webargs nests errors by location ({"json": {"email": [...]}}); clients want fields."""
    if isinstance(messages, dict) and set(messages) <= {"json", "form", "query", "files",
                                                        "view_args", "headers"}:
        merged = {}
        for part in messages.values():
            merged.update(part if isinstance(part, dict) else {"_schema": part})
        return merged
    return messages


def database_unreachable(error: DBAPIError) -> bool:
    """Whether the database is down or busy, as opposed to a fault in a query.

    PyMySQL raises OperationalError only for the connection and the server's state (lost or
    refused connections, shutdown, killed connections, lock waits, deadlocks) and reports
    query faults (unknown table or column, syntax) as ProgrammingError: for MySQL every
    OperationalError and InterfaceError calls for a retry. SQLite raises OperationalError
    for query faults too ("no such table"), so there only a locked or missing file counts.
    """
    if error.connection_invalidated or isinstance(error, InterfaceError):
        return True
    if type(error.orig).__module__.startswith("pymysql"):
        return True
    message = str(error.orig).lower()
    return "database is locked" in message or "unable to open database" in message


def _database_unavailable():
    return problem(503, "The database is unavailable; try again shortly.",
                   title="Service Unavailable", headers={"Retry-After": "5"})


def _discard_session() -> None:
    """Roll back the failed transaction; on a connection that died, a rollback can fail
    too, and an error handler that raises would answer a bare 500."""
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - any failure here means: start a new session
        end_session()


def init_app(app: Flask) -> None:
    """Every failure of the app, and Flask-HTTPAuth's, in the one format."""
    answer_auth_errors(token_auth)

    @app.errorhandler(APIError)
    def api_error(error: APIError):
        return problem(error.status, error.detail, title=error.title,
                       errors=error.errors, headers=error.headers)

    @app.errorhandler(ValidationError)
    def validation_error(error: ValidationError):
        errors = _flatten(error.messages)
        if error.status_code == 400:
            return problem(400, "The request body is not valid JSON.", errors=errors)
        return problem(error.status_code, FIELDS_REFUSED, errors=errors)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        headers = {}
        if error.code == 405 and error.valid_methods:
            headers["Allow"] = ", ".join(error.valid_methods)
        detail = error.description if error.code != 500 else None
        errors = None
        # webargs raises a 400 with the parser's messages on malformed JSON.
        data = getattr(error, "data", None)
        if isinstance(data, dict) and "messages" in data:
            errors = _flatten(data["messages"])
            detail = "The request body is not valid JSON."
        return problem(error.code or 500, detail, errors=errors, headers=headers)

    @app.errorhandler(PendingRollbackError)
    def session_lost_its_connection(error: PendingRollbackError):
        # The connection died earlier in this request; the session must start over.
        _discard_session()
        return _database_unavailable()

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def database_error(error: DBAPIError):
        _discard_session()
        if not database_unreachable(error):
            return unexpected_error(error)  # e.g. a missing table: retrying will not help
        # Connection lost or refused: a retry is the right thing for a client to do.
        log.error("database unavailable: %s", error.orig.__class__.__name__)
        return _database_unavailable()

    @app.errorhandler(Exception)
    def unexpected_error(error: Exception):
        if isinstance(error, DBAPIError):
            _discard_session()
        error_id = uuid.uuid4().hex
        log.exception("unhandled error %s", error_id)
        return problem(500, f"An unexpected error occurred (error id {error_id}).",
                       error_id=error_id)


def answer_auth_errors(token_auth) -> None:
    """Flask-HTTPAuth's 401 (no or bad token) and 403 (wrong role), in the one format."""

    # Who grants what a role-gated page needs: a person refused learns whom to ask.
    ROLE_REFUSALS = (
        ("/api/v1/corrections", ("Reviewing corrections takes the reviewer role (admins may "
                                "too): an admin grants it on the Users page "
                                "(PATCH /api/v1/users/{id} {\"role\": \"reviewer\"}).")),
        ("/api/v1/admin", "This takes the admin role: an admin grants it on the Users page."),
        ("/api/v1/users", "This takes the admin role: an admin grants it on the Users page."),
    )

    @token_auth.error_handler
    def auth_error(status: int):
        if status == 401:
            return problem(401, "A valid bearer token is required.",
                           headers={"WWW-Authenticate": 'Bearer realm="riskscan"'})
        return problem(status, next((said for path, said in ROLE_REFUSALS
                                     if request.path.startswith(path)),
                                    "You do not have permission for this resource."))
