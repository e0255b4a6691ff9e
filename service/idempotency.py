"""Safe retries: the ``Idempotency-Key`` header on the POSTs that create something
(draft-ietf-httpapi-idempotency-key-header).

``@idempotent(authorize)`` goes under ``@authenticate(token_auth)`` (the caller is known) and
above the rate limit, so that a replay is not new work and costs no budget::

    @authenticate(token_auth)
    @idempotent(may_have_scan)
    @scans_per_user
    @response(...)
    def new(): ...

``authorize`` is given the kept answer's JSON before it is replayed, and raises the problem
(403, 404) when the caller may no longer have it: what the first request was allowed
(an API key's scopes, a project's membership) may since have changed, and a replay skips
the view's own checks. It judges the kept answer, not the request: a request that left
``project_id`` out went where the caller's defaults then said.

Without the header the view runs as before, with no extra query. With it, per user:

- the first request claims the key: a row with no status is inserted and committed before
  the view runs (its own short transaction, so the view's commits and rollbacks cannot
  lose it); the unique index (user_id, key) lets one request of several sent at once win;
- the view's answer, when it is below 500, is kept on that row (status, body, Content-Type,
  Location) in a fresh transaction after the view; an exception or a 5xx deletes the row,
  and the exception goes on unchanged: the retry does the work;
- the same key with the same request (fingerprint) answers the kept response again, with
  ``Idempotent-Replayed: true``, for 24 hours; with another request: 422; while the first
  is still being answered: 409 with ``Retry-After``.

Errors raised by the view (4xx problems) are not kept: some depend on more than the request
(project membership 403/404, limits 429, a text extraction that timed out or crashed 422),
and those that depend on the request alone are cheap to find again. The retry is answered
afresh, and the same malformed request gets the same problem.

Rows older than 24 hours are deleted in bounded batches, at most once a minute per process,
when a request with a key comes; a row found expired is replaced. A claim whose request
never finished (the process died) counts as abandoned after ``abandoned_after()``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from functools import wraps

from flask import Response, current_app, request
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from service.config import current_settings
from service.db import IdempotencyKey, utcnow
from service.errors import APIError
from service.extensions import db, end_session, token_auth

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
KEEP = timedelta(hours=24)
LONGEST_KEY = 255
KEPT_HEADERS = ("Content-Type", "Location")
SWEEP_EVERY_S = 60.0
SWEEP_BATCH = 500
CLAIM_ATTEMPTS = 3
CHUNK = 1 << 20

log = logging.getLogger("riskscan.idempotency")

_sweep_lock = threading.Lock()
_next_sweep = {"at": 0.0}  # time.monotonic() of this process's next sweep


def idempotent(authorize: Callable[[dict], None]):
    """Answer a retried request (same user, same Idempotency-Key) with the first answer,
    once ``authorize`` let the caller have it (see the module's docstring)."""

    def decorator(view):
        @wraps(view)
        def idempotent_view(*args, **kwargs):
            values = request.headers.getlist(HEADER)
            if not values:
                return view(*args, **kwargs)
            key = parse_key(values)
            claim = _claim(token_auth.current_user().id, key, fingerprint())
            if isinstance(claim, Response):
                authorize(claim.get_json(silent=True) or {})
                return claim  # the kept answer
            try:
                response = current_app.make_response(view(*args, **kwargs))
            except BaseException:
                _forget(claim)
                raise
            if response.status_code >= 500 or response.is_streamed:
                _forget(claim)
            else:
                _keep(claim, response)
            return response

        idempotent_view.idempotent = True  # api_docs describes the header on such operations
        return idempotent_view

    return decorator


def parse_key(values: list[str]) -> str:
    """The key: one header, 1–255 visible ASCII characters, bare (no ``"``) or as a quoted
    sf-string (``"abc"`` and ``abc`` are the same key); 400 otherwise."""
    if len(values) != 1:
        raise _bad_key("Send one Idempotency-Key header.")
    raw = values[0].strip(" \t")
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        key = _unquote(raw[1:-1])
    elif all("!" <= char <= "~" and char != '"' for char in raw):
        key = raw
    else:
        key = None
    if key is None:
        raise _bad_key("The Idempotency-Key must be visible ASCII characters, or a quoted "
                       "string.")
    if not key:
        raise _bad_key("The Idempotency-Key is empty.")
    if len(key) > LONGEST_KEY:
        raise _bad_key(f"The Idempotency-Key is longer than {LONGEST_KEY} characters.")
    return key


def _unquote(inner: str) -> str | None:
    """An sf-string's content (RFC 8941 3.3.3): printable ASCII, with \\" and \\\\ escaped."""
    chars = []
    escaped = False
    for char in inner:
        if not " " <= char <= "~":
            return None
        if escaped:
            if char not in '"\\':
                return None
            chars.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            return None
        else:
            chars.append(char)
    return None if escaped else "".join(chars)


def _bad_key(detail: str) -> APIError:
    return APIError(400, detail, errors={HEADER: [detail]})


def fingerprint() -> str:
    """sha256 of what makes the request this request: method, path, query string, media
    type and body. A multipart body counts by its fields and files (name, filename, content),
    not its bytes: the boundary changes on every retry of the same upload."""
    digest = hashlib.sha256()

    def part(data: bytes) -> None:
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)

    for data in (request.method.encode(), request.path.encode(), request.query_string,
                 request.mimetype.encode()):
        part(data)
    if request.mimetype == "multipart/form-data":
        # Sorted by name; the values of one name, and the files of one field, keep their
        # order (a job's documents are numbered in it).
        for name, value in sorted(request.form.items(multi=True), key=lambda item: item[0]):
            for data in (b"field", name.encode(), value.encode()):
                part(data)
        for name, file in sorted(request.files.items(multi=True), key=lambda item: item[0]):
            for data in (b"file", name.encode(), (file.filename or "").encode(),
                         _file_digest(file.stream)):
                part(data)
    else:
        part(request.get_data(cache=True))
    return digest.hexdigest()


def _file_digest(stream) -> bytes:
    """sha256 of an uploaded file, read from the start and put back there for the view."""
    digest = hashlib.sha256()
    stream.seek(0)
    for chunk in iter(lambda: stream.read(CHUNK), b""):
        digest.update(chunk)
    stream.seek(0)
    return digest.digest()


def stored_key(key: str) -> str:
    """What the ``key`` column holds: the key's sha256 in hex. The column's collation on
    MySQL/MariaDB (utf8mb4_unicode_ci) ignores case and trailing spaces, and two keys that
    differ only there are different keys."""
    return hashlib.sha256(key.encode()).hexdigest()


def abandoned_after() -> timedelta:
    """How long a claim may stay unanswered before it counts as abandoned (its process died
    mid-request): well beyond the longest scan."""
    settings = current_settings()
    longest_s = (getattr(settings, "LLM_SCAN_TIMEOUT_S", 180.0)
                 + getattr(settings, "EXTRACTION_TIMEOUT_S", 30.0))
    return max(timedelta(minutes=10), timedelta(seconds=2 * longest_s))


def _claim(user_id: str, key: str, fingerprint: str) -> int | Response:
    """The id of the row this request now holds, or the kept answer to replay; 409 or 422
    as problems."""
    hashed = stored_key(key)
    _sweep_now_and_then()
    for _ in range(CLAIM_ATTEMPTS):
        try:
            result = db.session.execute(insert(IdempotencyKey).values(
                user_id=user_id, key=hashed, fingerprint=fingerprint, status=None,
                created_at=utcnow()))
            db.session.commit()
            return result.inserted_primary_key[0]
        except IntegrityError:
            db.session.rollback()
        row = db.session.execute(
            select(IdempotencyKey.id, IdempotencyKey.fingerprint, IdempotencyKey.status,
                   IdempotencyKey.body, IdempotencyKey.headers, IdempotencyKey.created_at)
            .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == hashed)).first()
        if row is None:
            continue  # its request failed and let go of it just now: claim it again
        age = utcnow() - row.created_at
        if age >= KEEP or (row.status is None and age >= abandoned_after()):
            db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == row.id))
            db.session.commit()
            continue
        db.session.rollback()  # end the read's transaction
        if row.fingerprint != fingerprint:
            raise APIError(422, "This Idempotency-Key was used for a different request.",
                           errors={HEADER: ["Used for a different request."]})
        if row.status is None:
            raise _in_flight()
        return _replay(row)
    raise _in_flight()


def _in_flight() -> APIError:
    return APIError(409, "A request with this Idempotency-Key is still being processed.",
                    headers={"Retry-After": "1"})


def _replay(row) -> Response:
    response = current_app.response_class(row.body or b"", status=row.status)
    response.headers.pop("Content-Type", None)
    for name, value in (row.headers or {}).items():
        response.headers[name] = value
    response.headers[REPLAYED] = "true"
    return response


def _keep(claim: int, response: Response) -> None:
    """Keep the answer on the claimed row, in a transaction of its own after the view's."""
    headers = {name: response.headers[name] for name in KEPT_HEADERS
               if name in response.headers}
    try:
        db.session.rollback()  # nothing the view left uncommitted goes in with it
        db.session.execute(update(IdempotencyKey).where(IdempotencyKey.id == claim).values(
            status=response.status_code, body=response.get_data(), headers=headers))
        db.session.commit()
    except DBAPIError as error:
        # The work is done and answered; the claim stays unanswered until it is abandoned.
        log.error("could not keep the answer for an Idempotency-Key: %s",
                  type(error.orig).__name__)
        _discard_session()


def _forget(claim: int) -> None:
    """Let go of the key (the request failed): a retry does the work."""
    _discard_session()
    try:
        db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == claim))
        db.session.commit()
    except DBAPIError as error:
        log.error("could not let go of an Idempotency-Key: %s", type(error.orig).__name__)
        _discard_session()


def _discard_session() -> None:
    try:
        db.session.rollback()
    except Exception:  # noqa: BLE001 - a dead connection: start a new session
        end_session()


def _sweep_now_and_then() -> None:
    """Delete up to SWEEP_BATCH rows older than 24 hours, at most once a minute per process
    (by the created_at index; never a scan of the table)."""
    with _sweep_lock:
        now = time.monotonic()
        if now < _next_sweep["at"]:
            return
        _next_sweep["at"] = now + SWEEP_EVERY_S
    sweep()


def sweep(batch: int = SWEEP_BATCH) -> int:
    """Delete up to ``batch`` of the oldest expired rows; how many went."""
    try:
        ids = db.session.scalars(
            select(IdempotencyKey.id).where(IdempotencyKey.created_at < utcnow() - KEEP)
            .order_by(IdempotencyKey.created_at).limit(batch)).all()
        if ids:
            db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.id.in_(ids)))
        db.session.commit()
        return len(ids)
    except DBAPIError as error:  # e.g. a lock wait: the next sweep tries again
        log.warning("could not delete expired Idempotency-Keys: %s", type(error.orig).__name__)
        _discard_session()
        return 0
