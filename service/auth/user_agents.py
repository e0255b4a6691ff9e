"""A session's User-Agent as a person recognises it: "Chrome" on "Linux".

ua-parser (uap-core's rules, the parser of Browserscope and many log tools) reads the
string; its rules are compiled on first use, and each string parsed once per process (a
user's sessions come from a handful of browsers). What it cannot name is None, and the
page says the raw string instead.
"""

from __future__ import annotations

from functools import lru_cache

from ua_parser import parse

UNKNOWN = "Other"  # uap-core's name for what no rule matches


@lru_cache(maxsize=1024)
def browser_and_os(user_agent: str | None) -> tuple[str | None, str | None]:
    """(browser, operating system) of ``user_agent``, each None where unknown."""
    if not user_agent:
        return None, None
    parsed = parse(user_agent)
    browser = parsed.user_agent.family if parsed.user_agent else None
    system = parsed.os.family if parsed.os else None
    return (browser if browser != UNKNOWN else None, system if system != UNKNOWN else None)
