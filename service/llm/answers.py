"""The LLM's answer, checked: the ``risks`` list of its message and each item's risk and
category. Nothing here quotes the content back (it may quote the document)."""

from __future__ import annotations

import json
from typing import Any

from service.analysis.labels import RISK_LABELS


class InvalidContent(Exception):
    """The message content is not JSON of the required shape (worth one repair retry)."""


def _unfenced(content: str) -> str:
    """``content`` without a ```lang … ``` fence around all of it; no regex, so linear in
    an answer of up to LLM_MAX_RESPONSE_KB."""
    if len(content) < 6 or not (content.startswith("```") and content.endswith("```")):
        return content
    inner = content[3:-3]
    language = 0
    while language < len(inner) and inner[language].isascii() and inner[language].isalpha():
        language += 1
    return inner[language:].strip()


def parse_content(content: Any) -> list:
    """The ``risks`` list of a message content; raises InvalidContent when the shape is wrong.

    The reason never quotes the content (it may quote the document).
    """
    if not isinstance(content, str):
        raise InvalidContent("is missing")
    stripped = _unfenced(content.strip())
    if not stripped:
        raise InvalidContent("is empty")
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as exc:
        # Only the position: exc.msg and line/column never echo the input.
        raise InvalidContent(f"is not valid JSON ({exc.msg} at line {exc.lineno} column "
                             f"{exc.colno})") from None
    if not isinstance(data, dict):
        raise InvalidContent("is not a JSON object")
    if not isinstance(data.get("risks"), list):
        raise InvalidContent('has no "risks" list')
    return data["risks"]


def parse_item(item: Any) -> tuple[str, str] | None:
    """``(risk, category)`` of a well-formed item with a risk category, else None."""
    if not isinstance(item, dict):
        return None
    risk, category = item.get("risk"), item.get("category")
    if not isinstance(risk, str) or not isinstance(category, str) or not risk.strip():
        return None
    category = category.strip().lower()
    if category not in RISK_LABELS:  # unknown, or "none": not a risk
        return None
    return risk, category
