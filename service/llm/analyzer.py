"""LLMAnalyzer: a text's risks from the LLM, chunk by chunk, each risk grounded in the text.

Every risk must be a whole sentence of the text as split_sentences cuts it (located, so
that ``text[start:end] == risk``), every category one of ``RISK_LABELS``; anything else is
dropped and counted. Failures raise an :class:`LLMError` that carries the calls made so
far, so that the service stores the call log of a failed scan too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from service.analysis.base import Analysis, Finding
from service.analysis.segment import sentence_context, split_sentences
from service.llm import prompt
from service.llm.answers import InvalidContent, parse_content, parse_item
from service.llm.chat import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_SCAN_TIMEOUT_S,
    DEFAULT_TIMEOUT_S,
    ChatClient,
)
from service.llm.failures import LLMBadAnswerError, LLMNotConfiguredError
from service.llm.grounding import DEFAULT_CHUNK_CHARS, DUPLICATE, SentenceLocator, chunk_sentences

# The LLM gives no calibrated probability: every finding it asserts (and we verified in the
# text) gets this score.
LLM_SCORE = 1.0


class LLMAnalyzer:
    """Finds risks with an OpenAI-compatible chat API.

    ``timeout_s`` bounds each call (connect, send, wait and read the whole answer); a long
    document makes one call per chunk of at most ``chunk_chars`` characters, plus at most one
    repair call per chunk, and ``scan_timeout_s`` bounds them all together, so that a slow
    LLM holds a request thread for that long at most. Answers over ``max_response_bytes``
    are refused.
    """

    source = "llm"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        chunk_chars: int = DEFAULT_CHUNK_CHARS,
        scan_timeout_s: float = DEFAULT_SCAN_TIMEOUT_S,
    ):
        base_url = (base_url or "").strip().rstrip("/")
        if not re.match(r"https?://[^/]", base_url):
            raise ValueError("base_url must be an http:// or https:// URL")
        if not model or not model.strip():
            raise ValueError("model must be set")
        if not (0 < timeout_s < math.inf) or not (0 < scan_timeout_s < math.inf) \
                or max_response_bytes <= 0 or chunk_chars <= 0:
            raise ValueError("timeout_s, scan_timeout_s, max_response_bytes and chunk_chars "
                             "must be positive")
        self.base_url = base_url
        self.url = f"{base_url}/chat/completions"
        self.model = model.strip()
        self.version = self.model
        self._api_key = api_key or None
        self.timeout_s = float(timeout_s)
        self.max_response_bytes = int(max_response_bytes)
        self.chunk_chars = int(chunk_chars)
        self.scan_timeout_s = float(scan_timeout_s)

    def __repr__(self) -> str:  # no key
        return f"LLMAnalyzer(base_url={self.base_url!r}, model={self.model!r})"

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **overrides: Any) -> LLMAnalyzer:
        """Build it from settings (``LLM_BASE_URL``, ``LLM_MODEL``, ``LLM_API_KEY``,
        ``LLM_TIMEOUT_S``), e.g. a Flask ``app.config`` or ``os.environ``.

        Raises :class:`LLMNotConfiguredError` (503) when the URL or model is missing or invalid.
        """
        base_url = str(config.get("LLM_BASE_URL") or "").strip()
        model = str(config.get("LLM_MODEL") or "").strip()
        missing = [name for name, value in (("LLM_BASE_URL", base_url), ("LLM_MODEL", model))
                   if not value]
        if missing:
            raise LLMNotConfiguredError(
                f"The LLM is not configured on this server: {' and '.join(missing)} "
                f"{'is' if len(missing) == 1 else 'are'} not set."
            )
        timeout = config.get("LLM_TIMEOUT_S")
        try:
            timeout_s = DEFAULT_TIMEOUT_S if timeout in (None, "") else float(timeout)
            return cls(base_url, model, api_key=config.get("LLM_API_KEY") or None,
                       **{"timeout_s": timeout_s, **overrides})
        except ValueError as exc:
            raise LLMNotConfiguredError(
                f"The LLM is not configured correctly on this server: {exc}."
            ) from None

    # -- the Analyzer protocol ------------------------------------------------------------

    def analyze(self, text: str, *, min_score: float | None = None,
                scan_id: str | None = None) -> Analysis:
        """Analyse ``text`` chunk by chunk; findings sorted by ``start``, with every call made.

        Every finding scores LLM_SCORE (1.0), so any ``min_score`` keeps it: the argument is
        the Analyzer protocol's. ``scan_id`` only goes into the log lines. Raises an
        :class:`LLMError` whose ``calls`` hold every call made, failed ones included.
        """
        result = Analysis()
        sentences = split_sentences(text)
        if not sentences:
            return result
        with ChatClient(self.url, self.model, self._api_key, timeout_s=self.timeout_s,
                        max_response_bytes=self.max_response_bytes,
                        scan_timeout_s=self.scan_timeout_s, scan_id=scan_id) as client:
            result.calls = client.calls
            locator = SentenceLocator(sentences)
            for chunk in chunk_sentences(sentences, self.chunk_chars):
                start, end = sentences[chunk.start].start, sentences[chunk.stop - 1].end
                for item in self._ask(client, text[start:end]):
                    span = parse_item(item)
                    if span is None:
                        result.dropped += 1
                        continue
                    risk, category = span
                    index = locator.locate(risk, chunk)
                    if index is None:
                        result.dropped += 1
                    elif index is not DUPLICATE:
                        sentence = sentences[index]
                        result.findings.append(Finding(
                            risk=sentence.text, category=category,
                            context=sentence_context(text, sentences, index),
                            score=LLM_SCORE, start=sentence.start, end=sentence.end,
                        ))
        result.findings.sort(key=lambda f: (f.start, f.end))
        return result

    # -- one chunk: a call and at most one repair call ------------------------------------

    def _ask(self, client: ChatClient, chunk: str) -> list:
        messages = prompt.first_messages(chunk)
        content = client.complete(messages, chunk)
        try:
            return self._accept(client, content)
        except InvalidContent as exc:
            reason = str(exc)
        # One repair: show the model its answer and ask again for JSON only.
        content = client.complete(prompt.repair_messages(messages, content, reason), chunk)
        try:
            return self._accept(client, content)
        except InvalidContent as exc:
            raise LLMBadAnswerError(
                f"The LLM's answer was not JSON of the required shape, even after one "
                f"retry: its content {exc}.",
                calls=client.calls,
            ) from None

    @staticmethod
    def _accept(client: ChatClient, content: Any) -> list:
        """The risks list of the last call's content; logs that call either way."""
        call = client.calls[-1]
        try:
            return parse_content(content)
        except InvalidContent as exc:
            # The HTTP call succeeded, its content did not: the call records that.
            call.status, call.error = "invalid_output", f"Content {exc}."
            raise
        finally:
            client.log(call)
