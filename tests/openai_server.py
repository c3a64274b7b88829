"""A small OpenAI-compatible chat-completions server for tests, in pure stdlib.

It listens on 127.0.0.1 (port 0), answers ``POST /v1/chat/completions`` from a function of the
request, reports ``usage``, records every request it got (headers included) and can be told to
fail the next calls with a status code, quoting the credential it was sent, as providers do. Replies follow the format DSPy's adapters asked for: the
``[[ ## field ## ]]`` sections of the chat adapter, or a JSON object for the JSON adapter.

Example::

    with OpenAIServer(lambda inputs, fields: {f: inputs["question"] for f in fields}) as server:
        lm = DSPyLM("openai/test-model", api_base=server.url + "/v1", api_key="sk-test")
        server.fail(429, retry_after=3)        # the next call is rate limited
        server.fail(401, message="Incorrect API key provided: {key}")   # quotes the key it got
        server.requests[0].headers["Authorization"]
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

# (input values by field name, output field names) -> output values by field name
Answer = Callable[[dict[str, str], list[str]], dict[str, Any]]

_SECTION = re.compile(r"\[\[ ## (\w+) ## \]\]\n(.*?)(?=\n\n\[\[ ## |\n\nRespond with|\Z)", re.S)
_CHAT_OUTPUT = re.compile(r"`\[\[ ## (\w+) ## \]\]`")
_JSON_OUTPUT = re.compile(r"`(\w+)`")


@dataclass
class Received:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]  # names in lower case
    body: dict[str, Any]
    usage: dict[str, int] | None = None  # what the server reported, when it answered


@dataclass
class Failure:
    status: int
    retry_after: float | None = None
    message: str = "injected failure"
    code: str | None = None


@dataclass
class _State:
    answer: Answer
    requests: list[Received] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def parse_prompt(messages: list[dict[str, Any]]) -> tuple[dict[str, str], list[str], str]:
    """(inputs, output field names, adapter) from the last user message of a DSPy-formatted request."""
    text = _content(messages[-1])
    inputs = {name: value.strip() for name, value in _SECTION.findall(text)}
    tail = text[text.rfind("Respond with"):]
    if tail.startswith("Respond with a JSON object"):
        return inputs, _JSON_OUTPUT.findall(tail), "json"
    return inputs, [f for f in _CHAT_OUTPUT.findall(tail) if f != "completed"], "chat"


def format_reply(outputs: dict[str, Any], adapter: str) -> str:
    if adapter == "json":
        return json.dumps(outputs)
    sections = [f"[[ ## {name} ## ]]\n{value}" for name, value in outputs.items()]
    return "\n\n".join([*sections, "[[ ## completed ## ]]"])


def _content(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):  # content parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content


class _Handler(BaseHTTPRequestHandler):
    state: _State  # set on the per-server subclass

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        received = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        with self.state.lock:
            self.state.requests.append(received)
            failure = self.state.failures.pop(0) if self.state.failures else None
        if failure is not None:
            return self._fail(failure)
        if not self.path.rstrip("/").endswith("/chat/completions"):
            return self._send(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
        if self.state.delay:
            time.sleep(self.state.delay)
        reply = self._completion(body)
        received.usage = reply["usage"]
        self._send(200, reply)

    def _completion(self, body: dict[str, Any]) -> dict[str, Any]:
        inputs, fields, adapter = parse_prompt(body["messages"])
        text = format_reply(self.state.answer(inputs, fields), adapter)
        prompt_tokens = sum(len(_content(m)) for m in body["messages"]) // 4
        completion_tokens = len(text) // 4 + 1
        return {
            "id": f"chatcmpl-{len(self.state.requests)}", "object": "chat.completion", "created": 0,
            "model": body.get("model", "unknown"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        }

    def _fail(self, failure: Failure) -> None:
        headers = {"Retry-After": f"{failure.retry_after:g}"} if failure.retry_after is not None else {}
        kind = {401: "invalid_request_error", 429: "rate_limit_error"}.get(failure.status, "server_error")
        message = failure.message.replace("{key}", self._presented_key())
        self._send(failure.status, {"error": {"message": message, "type": kind, "code": failure.code}}, headers)

    def _presented_key(self) -> str:
        """The credential the client sent: a bearer token, or the password of Basic auth (what an
        HTTP client makes of the userinfo in ``http://user:password@host``)."""
        scheme, _, value = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() != "basic":
            return value
        try:
            return base64.b64decode(value).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return value

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that hung up (timeouts)
            super().handle_error(request, client_address)


class OpenAIServer:
    """An OpenAI-compatible server in a background thread; use as a context manager."""

    def __init__(self, answer: Answer) -> None:
        self._state = _State(answer)
        handler = type("Handler", (_Handler,), {"state": self._state})
        self._httpd = _Server(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def requests(self) -> list[Received]:
        return list(self._state.requests)

    @property
    def delay(self) -> float:
        return self._state.delay

    @delay.setter
    def delay(self, seconds: float) -> None:
        """Seconds to wait before each successful reply (to test client timeouts)."""
        self._state.delay = seconds

    def fail(self, status: int, *, times: int = 1, retry_after: float | None = None,
             message: str = "injected failure", code: str | None = None) -> None:
        """The next ``times`` requests get ``status`` (with a Retry-After header if given) and an
        OpenAI-style error body with ``message`` and ``code``. ``{key}`` in ``message`` becomes the
        credential the request presented (see ``_presented_key``)."""
        with self._state.lock:
            self._state.failures.extend(Failure(status, retry_after, message, code) for _ in range(times))

    def __enter__(self) -> OpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)
