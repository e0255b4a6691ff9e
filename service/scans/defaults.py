"""Each user's defaults for what a scan request leaves out (GET/PATCH /auth/me/settings).

A field the request sends wins, null included (``"project_id": null`` scans outside any
project, ``"min_score": null`` takes the deployment's operating point); a field it leaves
out takes the caller's setting. Two settings apply only where they can: ``force_llm`` where
an LLM is configured (else the model answers, as if it were off), and ``project_id`` for an
access token or an API key with ``projects:write`` (a key's scopes are its reach, and a
default does not widen them: a ``scans:write`` key's scans stay its user's own).
"""

from __future__ import annotations

from service.auth.tokens import Caller
from service.db import UserSettings
from service.extensions import db
from service.serving.holder import current_analyzers

OPTIONS = ("force_llm", "min_score", "project_id")


def with_defaults(caller: Caller, given: dict) -> dict:
    """``{force_llm, min_score, project_id}``: what ``given`` (the request's fields among
    OPTIONS, only those it sent) holds, the rest from the caller's settings."""
    saved = db.session.get(UserSettings, caller.id)
    options = {"force_llm": False, "min_score": None, "project_id": None}
    if saved is not None:
        options["min_score"] = saved.min_score
        options["force_llm"] = saved.force_llm and current_analyzers().llm is not None
        if caller.scopes is None or "projects:write" in caller.scopes:
            options["project_id"] = saved.project_id
    return options | {name: given[name] for name in OPTIONS if name in given}
