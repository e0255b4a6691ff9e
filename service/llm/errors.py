"""What an LLM analysis raises: AnalysisErrors whose status says whose fault it was."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from service.analysis.base import AnalysisError

if TYPE_CHECKING:
    from service.llm.client import LLMCall


class LLMError(AnalysisError):
    """An LLM analysis failed; ``calls`` holds the attempts made before it did, so that a
    failed scan keeps its call log too."""

    def __init__(self, detail: str, *, calls: list[LLMCall] | None = None, **kwargs: Any):
        super().__init__(detail, **kwargs)
        self.calls: list[LLMCall] = list(calls or [])


class LLMNotConfiguredError(LLMError):
    status = 503
    title = "LLM not configured"


class LLMUnavailableError(LLMError):
    status = 503
    title = "LLM unavailable"


class LLMTimeoutError(LLMError):
    status = 504
    title = "LLM timed out"


class LLMBadAnswerError(LLMError):
    status = 502
    title = "Bad answer from the LLM"
