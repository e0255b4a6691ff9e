"""The chat client: one scan's HTTP calls to ``POST {base_url}/chat/completions``.

OpenAI, vLLM, Ollama and llama.cpp's server all answer it. Each call is bounded in time
(its own timeout and the scan's deadline, whichever comes first, even for an answer that
trickles in) and in size, is never redirected, and is recorded as an :class:`LLMCall`
(service/analysis/base.py) whatever its outcome. Nothing logged or raised here holds the
API key or the document text.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any, Self

import requests
import urllib3
from requests.auth import AuthBase

from service.analysis.base import LLMCall
from service.llm.failures import (
    LLMBadAnswerError,
    LLMError,
    LLMTimeoutError,
    LLMUnavailableError,
)

# The name the LLM's call log has always had (log filters may rely on it).
log = logging.getLogger("service.analysis.llm")

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_SCAN_TIMEOUT_S = 180.0
DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024

_CONNECT_TIMEOUT_S = 10.0
_MAX_MESSAGE_CHARS = 200  # of an LLM's error message repeated to the client


@dataclass(frozen=True, slots=True)
class Deadline:
    """When a call must have ended (time.monotonic()), and what a timeout says then."""

    at: float
    message: str


class _CallFailed(Exception):
    """One call failed; carries the error to raise once the call is recorded."""

    def __init__(self, error_cls: type[LLMError], status: str, message: str,
                 http_status: int | None = None):
        super().__init__(message)
        self.error_cls = error_cls
        self.status = status
        self.message = message
        self.http_status = http_status


def _timeout(deadline: Deadline, http_status: int | None = None) -> _CallFailed:
    return _CallFailed(LLMTimeoutError, "timeout", deadline.message, http_status)


class _BearerAuth(AuthBase):
    # Passed as ``auth=`` (not a header) so that a ~/.netrc entry cannot replace it.
    def __init__(self, key: str):
        self.key = key

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.key}"
        return request


class ChatClient:
    """One scan's calls to the LLM: an HTTP session, the scan's deadline (``scan_timeout_s``
    from now) and ``calls``, the record of every call made. Use it as a context manager.

    ``timeout_s`` bounds each call (connect, send, wait and read the whole answer); answers
    over ``max_response_bytes`` are refused.
    """

    def __init__(self, url: str, model: str, api_key: str | None, *, timeout_s: float,
                 max_response_bytes: int, scan_timeout_s: float, scan_id: str | None = None):
        self.url = url
        self.model = model
        self._api_key = api_key
        self.timeout_s = timeout_s
        self.max_response_bytes = max_response_bytes
        self.scan_id = scan_id  # only for the log lines
        self.calls: list[LLMCall] = []
        self.deadline = Deadline(time.monotonic() + scan_timeout_s,
                                 f"The LLM scan did not finish within {_seconds(scan_timeout_s)}"
                                 f" s (LLM_SCAN_TIMEOUT_S).")
        self._session = requests.Session()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._session.close()

    def complete(self, messages: list[dict], document: str) -> Any:
        """POST once and record the call; returns the message content (unchecked), or
        raises the error for a failed call after logging it. ``document`` is the text sent,
        kept out of any error message.

        The call ends by its own timeout or the scan's deadline, whichever comes first; past
        the scan's deadline no call is made at all. A successful call is logged by whoever
        checks its content (see log).
        """
        body = {
            "model": self.model,
            "messages": messages,
            "temperature": 0,
            "response_format": {"type": "json_object"},
            "stream": False,
        }
        started = time.monotonic()
        if started >= self.deadline.at:
            raise LLMTimeoutError(self.deadline.message, calls=self.calls)
        deadline = Deadline(started + self.timeout_s,
                            f"The LLM did not answer within {_seconds(self.timeout_s)} s.")
        if self.deadline.at < deadline.at:
            deadline = self.deadline
        http_status = prompt_tokens = completion_tokens = None
        try:
            http_status, raw = self._post(body, deadline)
            envelope = _parse_envelope(raw, http_status)
            prompt_tokens, completion_tokens = _usage(envelope)
        except _CallFailed as failure:
            if failure.status == "http_error":
                failure.message = _safe_message(failure.message, (self._api_key,), document)
            call = LLMCall(self.model, _ms_since(started), failure.status,
                           failure.http_status or http_status, prompt_tokens, completion_tokens,
                           failure.message)
            self.calls.append(call)
            self.log(call)
            raise failure.error_cls(failure.message, calls=self.calls) from None
        self.calls.append(LLMCall(self.model, _ms_since(started), "ok", http_status,
                                  prompt_tokens, completion_tokens))
        return envelope["choices"][0]["message"].get("content")

    def log(self, call: LLMCall) -> None:
        fields = {"scan_id": self.scan_id, **call.to_dict()}
        log.log(
            logging.INFO if call.status == "ok" else logging.WARNING,
            "llm call scan_id=%s model=%s status=%s http_status=%s latency_ms=%d "
            "prompt_tokens=%s completion_tokens=%s error=%s",
            self.scan_id, call.model, call.status, call.http_status, call.latency_ms,
            call.prompt_tokens, call.completion_tokens, call.error,
            extra={"llm_call": fields},
        )

    def _post(self, body: dict, deadline: Deadline) -> tuple[int, bytes]:
        """Send the request and read the answer under the deadline and size cap."""
        remaining = max(deadline.at - time.monotonic(), 0.001)
        timeout = (min(_CONNECT_TIMEOUT_S, remaining), remaining)
        try:
            response = self._session.post(
                self.url, json=body, timeout=timeout, stream=True, allow_redirects=False,
                auth=_BearerAuth(self._api_key) if self._api_key else None,
                # No compression: the size cap then is the size read off the wire.
                headers={"Accept": "application/json", "Accept-Encoding": "identity"},
            )
        except requests.exceptions.ConnectTimeout:
            raise _CallFailed(LLMUnavailableError, "connection_error",
                              f"The LLM could not be reached (no connection within "
                              f"{_seconds(timeout[0])} s).") from None
        except requests.exceptions.Timeout:
            raise _timeout(deadline) from None
        except requests.exceptions.RequestException as exc:
            raise _CallFailed(LLMUnavailableError, "connection_error",
                              f"The LLM could not be reached ({_connection_reason(exc)}).",
                              ) from None
        with response:
            status = response.status_code
            if 300 <= status < 400:
                raise _CallFailed(LLMBadAnswerError, "redirect",
                                  f"The LLM answered with a redirect (HTTP {status}), which is "
                                  f"not followed: check LLM_BASE_URL.", status)
            raw = self._read_capped(response, deadline)
            if status >= 400 or status < 200:
                raise _CallFailed(LLMBadAnswerError, "http_error",
                                  f"The LLM answered HTTP {status}: {_error_message(raw)}",
                                  status)
            return status, raw

    def _read_capped(self, response: requests.Response, deadline: Deadline) -> bytes:
        too_large = _CallFailed(LLMBadAnswerError, "too_large",
                                f"The LLM's answer was larger than {self.max_response_bytes} "
                                f"bytes.", response.status_code)
        declared = response.headers.get("Content-Length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > self.max_response_bytes:
            raise too_large
        raw = response.raw
        # read1 returns whatever has arrived, so the deadline is checked even when an answer
        # trickles in a byte at a time (read(n) would wait for n bytes).
        read = getattr(raw, "read1", raw.read)
        sock = _socket_of(raw)
        body = bytearray()
        try:
            while True:
                remaining = deadline.at - time.monotonic()
                if remaining <= 0:
                    raise _timeout(deadline, response.status_code)
                if sock is not None:
                    try:
                        sock.settimeout(remaining)
                    except OSError:  # http.client closed it at the end of the body
                        sock = None
                data = read(64 * 1024, decode_content=True)
                if not data:
                    return bytes(body)
                body += data
                if len(body) > self.max_response_bytes:
                    raise too_large
        except (urllib3.exceptions.ReadTimeoutError, TimeoutError):
            raise _timeout(deadline, response.status_code) from None
        except (urllib3.exceptions.HTTPError, OSError):
            raise _CallFailed(LLMBadAnswerError, "connection_error",
                              "The LLM's connection broke off before its answer was complete.",
                              response.status_code) from None


# --------------------------------------------------------------------------- the envelope


def _parse_envelope(raw: bytes, http_status: int) -> dict:
    try:
        envelope = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        envelope = None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("choices"), list) \
            or not envelope["choices"] or not isinstance(envelope["choices"][0], dict) \
            or not isinstance(envelope["choices"][0].get("message"), dict):
        raise _CallFailed(LLMBadAnswerError, "invalid_output",
                          "The LLM's answer was not an OpenAI-style chat completion.", http_status)
    return envelope


def _usage(envelope: dict) -> tuple[int | None, int | None]:
    usage = envelope.get("usage")
    if not isinstance(usage, dict):
        return None, None

    def count(name: str) -> int | None:
        value = usage.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    return count("prompt_tokens"), count("completion_tokens")


def _error_message(raw: bytes) -> str:
    """The message of an error body: OpenAI's {"error": {"message"}}, Ollama's {"error": "…"},
    FastAPI's {"detail": …}, or the text itself."""
    text = raw.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error", data.get("detail", data.get("message")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            text = error if isinstance(error, str) else json.dumps(error)
    text = " ".join(text.split())
    return text or "(no message)"


def _safe_message(message: str, secrets: tuple[str | None, ...], document: str) -> str:
    """Truncate an LLM's message and keep secrets and document text out of it."""
    for secret in secrets:
        if secret:
            message = message.replace(secret, "[redacted]")
    if len(message) > _MAX_MESSAGE_CHARS:
        message = message[:_MAX_MESSAGE_CHARS - 1] + "…"
    # A server that echoes its input would put the document into our logs and responses.
    normalized_doc = " ".join(document.split())
    window = 40
    for i in range(0, max(len(message) - window, 0) + 1, 10):
        piece = message[i:i + window]
        if len(piece) == window and piece in normalized_doc:
            prefix = message.split(":", 1)[0]
            return f"{prefix}: (its message is withheld: it quotes the document)"
    return message


# --------------------------------------------------------------------------- helpers


def _socket_of(raw: Any) -> socket.socket | None:
    """The socket a streamed answer is read from, so that each read can wait only for the
    time left; None where urllib3 or http.client hide it (then each read waits up to
    timeout_s, and the deadline is checked between reads)."""
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is None:  # http.client drops conn.sock once the server said it will close
        sock = getattr(getattr(getattr(getattr(raw, "_fp", None), "fp", None), "raw", None),
                       "_sock", None)
    return sock if isinstance(sock, socket.socket) else None


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _seconds(value: float) -> str:
    return f"{value:g}"


def _connection_reason(exc: BaseException) -> str:
    """A short, safe cause of a connection failure, found in the exception's chain."""
    seen, todo = set(), [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, ConnectionRefusedError):
            return "connection refused"
        if isinstance(e, (socket.gaierror, urllib3.exceptions.NameResolutionError)):
            return "host name not resolved"
        if isinstance(e, (ssl.SSLError, requests.exceptions.SSLError)):
            return "TLS error"
        if isinstance(e, ConnectionResetError):
            return "connection reset"
        todo.extend([e.__cause__, e.__context__, *(a for a in e.args
                                                   if isinstance(a, BaseException))])
        reason = getattr(e, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)
    return "connection failed"
