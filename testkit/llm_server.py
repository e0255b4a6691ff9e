"""A real OpenAI-compatible chat server on 127.0.0.1 for tests of the LLM analyzer.

    with FakeLLMServer(risks={"UAT may slip two weeks.": "schedule"}) as llm:
        analyzer = LLMAnalyzer(llm.base_url, "test-model", api_key="sk-test")
        ...
        llm.requests[0].headers["Authorization"]

``risks`` maps sentences to categories: a good answer lists each one that occurs in the
document of the request (verbatim, or differing in whitespace or with straight quotes where
the text has curly ones, as a model that reflows text would), once per occurrence, in text
order, copied as ``risks`` spells it.

``behaviour`` switches what every request gets; ``queue`` holds behaviours for the next
requests, one each, before ``behaviour`` applies again:

good            a chat completion whose content is {"risks": [...]}, with usage
fenced          the same JSON inside a ```json fence
prose           prose that quotes the document instead of JSON
broken_json     JSON cut off halfway
not_openai      HTTP 200 with an HTML page
hang            no answer for ``hang_s`` seconds (released when the server stops)
slow            a good answer after ``slow_s`` seconds
broken_fence    a ```json fence with ``padding`` spaces inside and text after its end
trickle         a good answer sent one byte every ``trickle_interval_s`` seconds
error_500       HTTP 500 with an OpenAI-style error body
error_401       HTTP 401 whose message echoes the bearer token, as careless proxies do
echo_400        HTTP 400 whose message quotes the document
redirect        HTTP 302 to another path of this server
oversized       HTTP 200 with ``oversized_bytes`` of body (Content-Length sent when
                ``declare_length``, else the body runs until the connection closes)
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

BEHAVIOURS = (
    "good", "fenced", "prose", "broken_json", "not_openai", "hang", "slow", "broken_fence",
    "trickle", "error_500",
    "error_401", "echo_400", "redirect", "oversized",
)


_STRAIGHTEN = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # the parsed JSON body, or None

    @property
    def messages(self) -> list[dict]:
        return (self.body or {}).get("messages", [])

    @property
    def document(self) -> str:
        """The first user message: the one that carries the document."""
        return next((m["content"] for m in self.messages if m.get("role") == "user"), "")


class FakeLLMServer:
    def __init__(self, risks: dict[str, str] | None = None, behaviour: str = "good"):
        self.risks: dict[str, str] = dict(risks or {})
        self.behaviour = behaviour
        self.queue: list[str] = []
        self.extra_items: list[Any] = []  # appended to every good answer, as they are
        self.llm_context = "Reason given by the model."
        self.reverse = False  # list the risks last to first
        self.hang_s = 10.0
        self.slow_s = 0.5
        self.padding = 300_000
        self.trickle_interval_s = 0.05
        self.oversized_bytes = 200_000
        self.declare_length = True
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._httpd = _QuietServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()  # releases hanging and trickling handlers
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        assert self._httpd is not None, "start the server first"
        return self._httpd.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- answers --------------------------------------------------------------------------

    def next_behaviour(self) -> str:
        with self._lock:
            return self.queue.pop(0) if self.queue else self.behaviour

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def risk_items(self, document: str) -> list[dict]:
        """The risks of ``risks`` found in ``document``, in text order."""
        # A model may reflow lines and straighten quotes when it copies a sentence.
        flat = " ".join(document.translate(_STRAIGHTEN).split())
        found = []
        for sentence, category in self.risks.items():
            haystack = document if sentence in document else flat
            for m in re.finditer(re.escape(sentence), haystack):
                # Order by position in the flattened text, whichever was searched.
                position = len(" ".join(haystack[:m.start()].split()))
                found.append((position, {"risk": sentence, "category": category,
                                         "context": self.llm_context}))
        items = [item for _, item in sorted(found, key=lambda pair: pair[0])]
        if self.reverse:
            items.reverse()
        return items + list(self.extra_items)

    def completion(self, body: dict, content: str) -> dict:
        prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": prompt_chars // 4 + 1,
                      "completion_tokens": len(content) // 4 + 1,
                      "total_tokens": prompt_chars // 4 + len(content) // 4 + 2},
        }


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True  # a hanging handler never blocks shutdown
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that give up (timeouts, size caps) break pipes: expected here


class _Handler(BaseHTTPRequestHandler):
    fake: FakeLLMServer
    protocol_version = "HTTP/1.0"  # one request per connection; the body ends at close

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.fake.record(RecordedRequest("GET", self.path, dict(self.headers), None))
        self._send_json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        fake = self.fake
        fake.record(RecordedRequest("POST", self.path, dict(self.headers), body))
        if self.path != "/v1/chat/completions" or not isinstance(body, dict):
            self._send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        document = RecordedRequest("POST", self.path, {}, body).document
        behaviour = fake.next_behaviour()
        good = json.dumps({"risks": fake.risk_items(document)})

        if behaviour == "good":
            self._send_json(200, fake.completion(body, good))
        elif behaviour == "fenced":
            self._send_json(200, fake.completion(body, f"```json\n{good}\n```"))
        elif behaviour == "prose":
            quote = document.split("\n\n", 1)[-1][:80]
            self._send_json(200, fake.completion(
                body, f"Sure! The main risk I see is this one: {quote}"))
        elif behaviour == "broken_json":
            self._send_json(200, fake.completion(body, good[: max(len(good) // 2, 5)]))
        elif behaviour == "not_openai":
            self._send(200, b"<html><body>Welcome to nginx!</body></html>", "text/html")
        elif behaviour == "hang":
            fake._stop.wait(fake.hang_s)
            self._send_json(200, fake.completion(body, good))
        elif behaviour == "slow":
            fake._stop.wait(fake.slow_s)
            self._send_json(200, fake.completion(body, good))
        elif behaviour == "broken_fence":
            self._send_json(200, fake.completion(
                body, f"```json\n{good}" + " " * fake.padding + "\n```."))
        elif behaviour == "trickle":
            data = json.dumps(fake.completion(body, good)).encode()
            self._start(200, "application/json", len(data))
            for i in range(len(data)):
                if fake._stop.wait(fake.trickle_interval_s):
                    return
                self.wfile.write(data[i:i + 1])
                self.wfile.flush()
        elif behaviour == "error_500":
            self._send_json(500, {"error": {"message": "The model is overloaded. Try again.",
                                            "type": "server_error", "code": None}})
        elif behaviour == "error_401":
            token = self.headers.get("Authorization", "").removeprefix("Bearer ")
            self._send_json(401, {"error": {"message": f"Incorrect API key provided: {token}.",
                                            "type": "invalid_request_error",
                                            "code": "invalid_api_key"}})
        elif behaviour == "echo_400":
            self._send_json(400, {"error": {"message": f"Cannot process input: {document}",
                                            "type": "invalid_request_error"}})
        elif behaviour == "redirect":
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{fake.port}/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif behaviour == "oversized":
            filler = "x" * fake.oversized_bytes
            data = json.dumps(fake.completion(body, filler)).encode()
            self._start(200, "application/json", len(data) if fake.declare_length else None)
            self.wfile.write(data)
        else:
            raise ValueError(f"unknown behaviour {behaviour!r}; one of {BEHAVIOURS}")

    def _start(self, status: int, content_type: str, length: int | None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self._start(status, content_type, len(data))
        self.wfile.write(data)

    def _send_json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")
