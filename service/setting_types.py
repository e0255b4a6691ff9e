"""The kinds of value a setting takes (service/config.py): each parser reads an
environment variable's text and raises ValueError with what was expected, which config.py
turns into one line naming the variable."""

from __future__ import annotations

import ipaddress
from dataclasses import field


def number(kind: type, said: str):
    def parse(value: str):
        try:
            return kind(value)
        except ValueError:
            raise ValueError(f"expected {said}, got {value!r}") from None
    return parse


text = str.strip
integer, real = number(int, "an integer"), number(float, "a number")


def boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def quantize(value: str) -> str:
    lowered = value.strip().lower()  # onnx-int8: the older spelling of int8
    return "int8" if lowered == "onnx-int8" else lowered


def score_or_auto(value: str) -> float | None:
    if value.strip().lower() == "auto":
        return None
    score = real(value)
    if not 0 <= score <= 1:
        raise ValueError(f"expected auto or a number from 0 to 1, got {value!r}")
    return score


def share_or_off(value: str) -> float | None:
    if value.strip().lower() == "off":
        return None
    share = real(value)
    if not 0 < share <= 1:
        raise ValueError(f"expected off or a share above 0 and at most 1, got {value!r}")
    return share


def csv(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


def networks(value: str) -> tuple:
    if value.strip().lower() == "none":
        return ()
    try:
        return tuple(ipaddress.ip_network(item, strict=False) for item in csv(value))
    except ValueError as exc:
        raise ValueError(f"expected addresses or networks like 10.0.0.0/8, {exc}") from None


def setting(default, parse=text, doc: str = ""):
    return field(default=default, metadata={"parse": parse, "doc": doc})


def database_url_usable(url: str) -> bool:
    """A URL of a dialect and driver installed here, else a traceback at the engine."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        return not url or bool(make_url(url).get_dialect())
    except (ArgumentError, NoSuchModuleError, ImportError, ValueError):
        return False
