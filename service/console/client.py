"""The console's way to the API: an in-process request to the app's own routes.

Each call is a WSGI request to this very app, in an application context of its own (its
database session, ``g`` and teardown are the API's, not the page's), from the browser's
address and under the page's request id, so that rate limits, the audit log and the logs
see the user exactly as if they had called the API themselves. The bearer token is the
signed-in user's (session.py); a 401 on an expired access token spends the refresh token
once and retries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from io import BytesIO
from urllib.parse import quote

from flask import current_app, g, request
from werkzeug.datastructures import Headers
from werkzeug.test import Client, EnvironBuilder

API = "/api/v1"


@dataclass
class Answer:
    """What the API answered: status, headers, the body as bytes and, if JSON, parsed."""

    status: int
    headers: Headers
    data: bytes
    json: object = None
    errors: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def detail(self) -> str:
        """The problem's words (problem+json ``detail``), or a plain one."""
        if isinstance(self.json, dict) and isinstance(self.json.get("detail"), str):
            return self.json["detail"]
        return f"The service answered {self.status}."


def call(method: str, path: str, *, token: str | None, json=None, form=None, query=None,
         files=None) -> Answer:
    """``method`` on ``/api/v1`` + ``path`` as the signed-in user (``token``), in process.
    ``files``: field name -> (content, filename, content type), or a list of them for a
    field sent several times; content is bytes or an open file. With ``files``, even none,
    the request is multipart, as a browser's form with a file input is."""
    headers = {"Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if request.user_agent.string:  # the browser's: its session is listed by it
        headers["User-Agent"] = request.user_agent.string
    request_id = g.get("request_id")
    if request_id:
        headers["X-Request-ID"] = request_id
    data, content_type = form, None
    if files is not None:
        data, content_type = dict(form or {}), "multipart/form-data"
        for name, parts in files.items():
            data[name] = [(BytesIO(content) if isinstance(content, bytes) else content,
                           filename, part_type) for content, filename, part_type
                          in (parts if isinstance(parts, list) else [parts])]
    # Ids come from the browser's URL: a "?" or "#" in one stays part of the path.
    builder = EnvironBuilder(path=quote(API + path, safe="/-._~!$&'()*+,;=:@"),
                             method=method, headers=headers,
                             query_string=query, json=json, data=data,
                             content_type=content_type,
                             environ_base={"REMOTE_ADDR": request.remote_addr or "127.0.0.1"})
    app = current_app._get_current_object()
    with app.app_context():  # the API's own session and g
        response = Client(app).open(builder)
        body = response.get_data()
        response.close()
    parsed = None
    if response.mimetype in ("application/json", "application/problem+json"):
        import json as json_module

        try:
            parsed = json_module.loads(body)
        except ValueError:
            parsed = None
    errors = parsed.get("errors", {}) if isinstance(parsed, dict) else {}
    return Answer(response.status_code, response.headers, body, parsed,
                  errors if isinstance(errors, dict) else {})
