"""What every analyzer returns and the one interface they share (see docs/architecture.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
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


class Analyzer(Protocol):
    source: str  # "model" or "llm": stored with the scan
    version: str  # model version or LLM model name: stored with the scan

    def analyze(self, text: str) -> list[Finding]: ...


class AnalysisError(Exception):
    """An analyzer could not do its job; the HTTP layer turns it into problem+json.

    ``status`` is the HTTP status a client should see (503 unavailable, 504 timed out,
    502 answered badly); ``detail`` is safe to show: never a secret or document text.
    """

    status: int = 503
    title: str = "Analysis unavailable"

    def __init__(self, detail: str, *, status: int | None = None, title: str | None = None):
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status
        if title is not None:
            self.title = title
