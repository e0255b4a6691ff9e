"""The app's analyzers: the in-process model and the LLM, one picked for each scan.

A scan asks ``current_analyzers().pick()`` and holds what it got until it ends, so a model
swap (service/serving/swap.py) never touches a scan in flight. A model that cannot be loaded
does not stop the service: /ready reports it, and scans answer 503 with the reason.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from flask import current_app

from service.analysis.base import AnalysisError, Analyzer


@dataclass
class Analyzers:
    """The app's analyzers. ``model`` changes only through ``install`` (a model swap), one
    assignment: a scan holds the analyzer ``pick`` gave it and finishes on it.
    ``deployed`` is the model's version folder, ``generation`` the deployment state the
    process follows (service/serving/deployment.py)."""

    model: Analyzer | None = None
    model_error: str | None = None
    llm: Analyzer | None = None
    llm_error: str | None = None
    deployed: str | None = None
    generation: int = 0
    sync_error: tuple[int, str] | None = None  # (the generation it could not follow, why)
    _swapping: threading.Lock = field(default_factory=threading.Lock, repr=False,
                                      compare=False)

    def pick(self, force_llm: bool) -> Analyzer:
        """The analyzer for a scan; AnalysisError(503) when none can take it.

        The in-process model answers by default; ``force_llm`` asks for the LLM; when the
        model could not be loaded, a configured LLM takes every scan.
        """
        if force_llm or self.model is None:
            if self.llm is not None:
                return self.llm
            if force_llm:  # which settings are missing: no path, no exception text
                raise AnalysisError(f"force_llm was asked for, but {self.llm_error}")
            # Why the model is missing names paths and exceptions: that is in the log and in
            # /ready for admins, not in an answer to any user.
            raise AnalysisError("The risk model is not loaded, and no LLM is configured to "
                                "stand in; an admin can see why in /ready.")
        return self.model

    def readiness(self) -> dict:
        """Ready when some analyzer can take a scan; says which ones can."""
        model = {"available": self.model is not None}
        if self.model is not None:
            model["version"] = self.model.version
        else:
            model["error"] = self.model_error
        llm = {"available": self.llm is not None}
        if self.llm is not None:
            llm["model"] = self.llm.version
        else:
            llm["error"] = self.llm_error
        return {"ok": self.model is not None or self.llm is not None, "model": model, "llm": llm}


def analysis_problem(error: AnalysisError):
    """An analyzer that could not do its job, as problem+json (503 says when to retry)."""
    from service.errors import problem

    headers = {"Retry-After": "30"} if error.status == 503 else None
    return problem(error.status, error.detail, title=error.title, headers=headers)


def current_analyzers() -> Analyzers:
    return current_app.extensions["riskscan.analyzers"]
