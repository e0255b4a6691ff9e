"""A message's words from its templates (Jinja2, the templates/ beside this module): a plain
text part always, an HTML part where the kind has one (autoescaped). The subject is one line:
a name or a title that carries a line break (header injection) is folded to spaces."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import has_request_context, request
from jinja2 import Environment, PackageLoader, TemplateNotFound, select_autoescape

from service.config import current_settings

_env = Environment(loader=PackageLoader("service.mail", "templates"),
                   autoescape=select_autoescape(["html"]), keep_trailing_newline=True)
_LINE_BREAKS = re.compile(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")
MAX_SUBJECT = 200


@dataclass(frozen=True)
class Composed:
    subject: str
    text: str
    html: str | None


def one_line(value: str, limit: int = MAX_SUBJECT) -> str:
    """``value`` on one line, at most ``limit`` characters (a header's words)."""
    flat = " ".join(_LINE_BREAKS.sub(" ", value).split())
    return flat if len(flat) <= limit else flat[:limit - 1] + "…"


def compose(kind: str, subject: str, **values) -> Composed:
    """The message of ``kind`` (templates/<kind>.txt, and .html if there is one)."""
    text = _env.get_template(f"{kind}.txt").render(**values)
    try:
        html = _env.get_template(f"{kind}.html").render(**values)
    except TemplateNotFound:
        html = None
    return Composed(one_line(subject), text, html)


def public_link(path: str) -> str:
    """``path`` (from the root, ``/app/...``) as a link a message can carry: under
    PUBLIC_URL where it is set, else as this request reached us, else the address the
    service listens on (a report's job, the due dates' pass: no request to read)."""
    settings = current_settings()
    if settings.PUBLIC_URL:
        root = settings.PUBLIC_URL
    elif has_request_context():
        root = request.host_url
    else:
        root = f"http://{settings.HOST}:{settings.PORT}"
    return root.rstrip("/") + path
