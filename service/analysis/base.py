"""What every analyzer returns and the one interface they share (see docs/architecture.md).

One result type for the model and the LLM, so that the scan use-case stores any analysis
the same way without asking which analyzer made it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Finding:
    """One sentence that states a risk.

    ``start``/``end`` are character offsets into the analysed text, so that
    ``text[start:end] == risk`` always holds and a client can highlight it.
    """

    risk: str
    category: str
    context: str
    score: float
    start: int
    end: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(slots=True)
class LLMCall:
    """One HTTP request to the LLM, as the service logs and stores it (``llm_calls``).

    ``status`` is one of ``ok``, ``timeout``, ``connection_error``, ``http_error``,
    ``invalid_output``, ``redirect``, ``too_large``. ``error`` is a short message that is safe
    to store and show: never the key or document text.
    """

    model: str
    latency_ms: int
    status: str
    http_status: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(slots=True)
class Analysis:
    """What one analysis of a text gave: its findings, sorted by ``start``; how many items of
    an answer failed validation (``dropped``: the LLM's); the calls made to a remote LLM."""

    findings: list[Finding] = field(default_factory=list)
    dropped: int = 0
    calls: list[LLMCall] = field(default_factory=list)


class Analyzer(Protocol):
    source: str  # "model" or "llm": stored with the scan
    version: str  # model version or LLM model name: stored with the scan

    def analyze(self, text: str, *, min_score: float | None = None) -> Analysis: ...


class AnalysisError(Exception):
    """An analyzer could not do its job; the HTTP layer turns it into problem+json.

    ``status`` is the HTTP status a client should see (503 unavailable, 504 timed out,
    502 answered badly); ``detail`` is safe to show: never a secret or document text.
    ``calls`` holds the LLM calls made before the failure, so that they are stored too.
    """

    status: int = 503
    title: str = "Analysis unavailable"

    def __init__(self, detail: str, *, status: int | None = None, title: str | None = None,
                 calls: list[LLMCall] | None = None):
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
        self.calls: list[LLMCall] = list(calls or [])
