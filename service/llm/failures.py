"""What an LLM analysis raises: AnalysisErrors whose status says whose fault it was, each
with the calls made before it (``calls``), so that a failed scan keeps its call log."""

from __future__ import annotations

from service.analysis.base import AnalysisError


class LLMError(AnalysisError):
    """An LLM analysis failed; ``calls`` holds the attempts made before it did."""


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
