"""A local fake of the OpenAI and Anthropic HTTP APIs for tests and benchmarks.

The real ``openai`` and ``anthropic`` SDKs talk to it unmodified through ``base_url``, so gateway code
(retries, fallback, JSON repair, cost ledger, budgets) is exercised over real HTTP, including the SDKs'
own retry and parsing logic, instead of against mocks that drift from the wire format.

Every request is recorded and answered by a *responder* (``server.responder``): a callable that takes
the :class:`RecordedRequest` and returns a :class:`Reply`. The default reply builds a valid object from
the JSON schema the request carried, so a test only scripts what it cares about::

    with FakeLLMServer() as srv:
        srv.responder = Script([Reply.rate_limited(), Reply.ok({"stance": "bullish", ...})])
        client = openai.OpenAI(base_url=srv.openai_base_url, api_key="test", max_retries=2)

Run ``python -m tests.fakes.llm_server --port 8799 --delay 0.2`` to serve it for a benchmark.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import itertools
import json
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self

from tests.fakes.schema_example import example_for_schema

__all__ = [
    "ApiName",
    "FakeLLMServer",
    "OutputSpec",
    "RecordedRequest",
    "Reply",
    "Responder",
    "Script",
    "default_responder",
    "estimate_input_tokens",
    "estimate_tokens",
]

ApiName = Literal[
    "openai_chat", "openai_responses", "anthropic", "anthropic_count_tokens", "models", "unknown"
]
OutputKind = Literal["text", "json_object", "json_schema", "tool"]

_ROUTES: dict[tuple[str, str], ApiName] = {
    ("POST", "/v1/chat/completions"): "openai_chat",
    ("POST", "/v1/responses"): "openai_responses",
    ("POST", "/v1/messages"): "anthropic",
    ("POST", "/v1/messages/count_tokens"): "anthropic_count_tokens",
    ("GET", "/v1/models"): "models",
}
_USAGE_KEYS = frozenset(
    {"input_tokens", "output_tokens", "cached_tokens", "cache_write_tokens", "reasoning_tokens"}
)
_USAGE_ALIASES = {
    "prompt_tokens": "input_tokens",
    "completion_tokens": "output_tokens",
    "cache_read_input_tokens": "cached_tokens",
    "cache_creation_input_tokens": "cache_write_tokens",
}
_OPENAI_ERRORS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}
_ANTHROPIC_ERRORS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4.1", "claude-sonnet-5", "claude-haiku-4-5")


def estimate_tokens(text: str) -> int:
    """Deterministic stand-in for a tokenizer (4 characters per token, at least 1) so ledgers are testable."""
    return max(1, len(text) // 4)


def estimate_input_tokens(body: Any) -> int:
    """Default prompt size: the JSON-serialised ``messages`` (``input`` for the Responses API) // 4."""
    if not isinstance(body, Mapping):
        return 1
    messages = body.get("messages", body.get("input", ""))
    return estimate_tokens(json.dumps(messages, sort_keys=True, ensure_ascii=False))


# --- what arrived --------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutputSpec:
    """What shape of answer the request asked for, read from whichever parameter its API uses."""

    kind: OutputKind
    schema: Mapping[str, Any] | None = None
    tool_name: str | None = None


@dataclass(frozen=True)
class RecordedRequest:
    """One HTTP request as the fake saw it; header names are lower-cased, ``json`` is the parsed body."""

    method: str
    path: str
    headers: Mapping[str, str]
    json: Any
    api: ApiName
    model: str | None
    received_at: float
    query: str = ""

    @property
    def retry_count(self) -> int:
        """The SDK's own attempt counter (``x-stainless-retry-count``), 0 on the first try."""
        return int(self.headers.get("x-stainless-retry-count", "0") or 0)

    @property
    def output(self) -> OutputSpec:
        """The requested output: forced tool, JSON schema, JSON object or free text."""
        body = self.json if isinstance(self.json, Mapping) else {}
        if self.api == "openai_chat":
            return _chat_output(body)
        if self.api == "openai_responses":
            return _responses_output(body)
        if self.api == "anthropic":
            return _anthropic_output(body)
        return OutputSpec("text")

    @property
    def schema(self) -> Mapping[str, Any] | None:
        """The JSON schema the answer must satisfy (structured output or forced tool), if any."""
        return self.output.schema


def _chat_output(body: Mapping[str, Any]) -> OutputSpec:
    """Chat Completions: a forced function tool wins over ``response_format``."""
    choice = body.get("tool_choice")
    tools = [t.get("function", {}) for t in body.get("tools") or [] if t.get("type") == "function"]
    forced = None
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        forced = choice.get("function", {}).get("name")
    elif choice == "required" and tools:
        forced = tools[0].get("name")
    tool = next((t for t in tools if t.get("name") == forced), None)
    if tool is not None:
        return OutputSpec("tool", tool.get("parameters") or {"type": "object"}, tool["name"])
    return _format_output(body.get("response_format"), nested_key="json_schema")


def _responses_output(body: Mapping[str, Any]) -> OutputSpec:
    """Responses API: forced function tool, else ``text.format``."""
    choice = body.get("tool_choice")
    tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
    forced = None
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        forced = choice.get("name")
    elif choice == "required" and tools:
        forced = tools[0].get("name")
    tool = next((t for t in tools if t.get("name") == forced), None)
    if tool is not None:
        return OutputSpec("tool", tool.get("parameters") or {"type": "object"}, tool["name"])
    return _format_output((body.get("text") or {}).get("format"), nested_key=None)


def _anthropic_output(body: Mapping[str, Any]) -> OutputSpec:
    """Messages API: forced tool (``tool`` or ``any``), else ``output_config.format``/``output_format``."""
    choice = body.get("tool_choice") or {}
    tools = [t for t in body.get("tools") or [] if "input_schema" in t]
    forced = choice.get("name") if choice.get("type") == "tool" else None
    if choice.get("type") == "any" and tools:
        forced = tools[0].get("name")
    tool = next((t for t in tools if t.get("name") == forced), None)
    if tool is not None:
        return OutputSpec("tool", tool["input_schema"], tool["name"])
    fmt = (body.get("output_config") or {}).get("format") or body.get("output_format")
    return _format_output(fmt, nested_key=None)


def _format_output(fmt: Any, *, nested_key: str | None) -> OutputSpec:
    """Shared reading of ``{"type": "json_schema", ...}`` / ``{"type": "json_object"}`` formats."""
    if not isinstance(fmt, Mapping):
        return OutputSpec("text")
    if fmt.get("type") == "json_schema":
        holder = fmt.get(nested_key, {}) if nested_key else fmt
        return OutputSpec("json_schema", holder.get("schema") or {"type": "object"})
    if fmt.get("type") == "json_object":
        return OutputSpec("json_object")
    return OutputSpec("text")


# --- what to answer ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """How the fake answers one request. Fields compose; unset ones fall back to sensible defaults.

    ``payload`` is the object the "model" returns (JSON text, tool input or tool arguments); ``None``
    means: build one from the request's schema (or ``server.default_payload``). ``content`` sends raw
    text instead, e.g. truncated or fenced JSON. ``usage`` overrides token counts by name
    (``input_tokens``, ``output_tokens``, ``cached_tokens``, ``cache_write_tokens``, ``reasoning_tokens``
    or the providers' own names); values are written verbatim into each API's fields. ``truncated``
    reports a max-tokens stop, ``refusal`` a refusal, ``raw_body`` replaces the whole HTTP body (e.g.
    a proxy's HTML error page) and ``headers`` (lower-case names) are added to the response.
    """

    status: int = 200
    payload: Any = None
    content: str | None = None
    delay_s: float = 0.0
    hang: bool = False
    drop_connection: bool = False
    headers: Mapping[str, str] = field(default_factory=dict)
    usage: Mapping[str, int] | None = None
    omit_usage: bool = False
    truncated: bool = False
    refusal: str | None = None
    error_type: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    request_id: str | None = None
    raw_body: str | None = None

    def __post_init__(self) -> None:
        """Fail at scripting time, not inside a server thread, on a misspelt usage key."""
        unknown = {_USAGE_ALIASES.get(key, key) for key in self.usage or {}} - _USAGE_KEYS
        if unknown:
            raise ValueError(f"unknown usage keys {sorted(unknown)}; use {sorted(_USAGE_KEYS)}")

    def but(self, **changes: Any) -> Reply:
        """A copy with some fields changed, e.g. ``Reply.ok(obj).but(delay_s=0.2)``."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def ok(cls, obj: Any = None, **kwargs: Any) -> Reply:
        """Success with ``obj`` as the model's object (``None``: derive one from the request schema)."""
        return cls(payload=obj, **kwargs)

    @classmethod
    def text(cls, content: str, **kwargs: Any) -> Reply:
        """Success whose model output is exactly ``content`` (malformed, truncated, fenced JSON ...)."""
        return cls(content=content, **kwargs)

    @classmethod
    def slow(cls, delay_s: float, obj: Any = None, **kwargs: Any) -> Reply:
        """Success after ``delay_s`` seconds, for latency and timeout tests."""
        return cls(payload=obj, delay_s=delay_s, **kwargs)

    @classmethod
    def hung(cls, **kwargs: Any) -> Reply:
        """Never answer (until the server stops), so the client's timeout must fire."""
        return cls(hang=True, **kwargs)

    @classmethod
    def disconnect(cls, **kwargs: Any) -> Reply:
        """Close the connection without answering; SDKs report a connection error and may retry."""
        return cls(drop_connection=True, **kwargs)

    @classmethod
    def rate_limited(cls, retry_after: str | None = "0.05", **kwargs: Any) -> Reply:
        """HTTP 429 with a short ``retry-after`` so SDK retries stay fast in tests."""
        headers = {"retry-after": retry_after} if retry_after is not None else {}
        return cls(status=429, headers={**headers, **kwargs.pop("headers", {})}, **kwargs)

    @classmethod
    def server_error(
        cls, status: int = 500, message: str = "The server had an error.", **kwargs: Any
    ) -> Reply:
        """A 5xx in the calling API's error format (529 gives Anthropic's ``overloaded_error``)."""
        return cls(status=status, error_message=message, **kwargs)

    @classmethod
    def overloaded(cls, **kwargs: Any) -> Reply:
        """Anthropic's 529 ``overloaded_error`` (an ``InternalServerError`` for the OpenAI SDK)."""
        return cls(status=529, error_message="Overloaded", **kwargs)

    @classmethod
    def bad_request(cls, message: str = "Invalid request.", **kwargs: Any) -> Reply:
        """HTTP 400 ``invalid_request_error``: not retried by either SDK."""
        return cls(status=400, error_message=message, **kwargs)


Responder = Callable[[RecordedRequest], Reply]


def default_responder(request: RecordedRequest) -> Reply:
    """Answer 200 at once with an object derived from the request (see :class:`Reply`)."""
    return Reply()


class Script:
    """A responder that plays ``replies`` in order, then repeats the last (or returns to the default).

    Items may be :class:`Reply` objects or responders (callables) for request-dependent answers.
    Thread-safe: concurrent requests each take the next item exactly once.
    """

    def __init__(
        self, replies: Iterable[Reply | Responder], *, then: Literal["repeat", "default"] = "repeat"
    ) -> None:
        self._replies = list(replies)
        if not self._replies:
            raise ValueError("Script needs at least one reply")
        self._then = then
        self._next = 0
        self._lock = threading.Lock()

    @property
    def consumed(self) -> int:
        """How many requests the script has answered so far."""
        with self._lock:
            return self._next

    def __call__(self, request: RecordedRequest) -> Reply:
        """Take the next scripted item; past the end, repeat the last one or use the default."""
        with self._lock:
            position = self._next
            self._next += 1
        if position >= len(self._replies):
            if self._then == "default":
                return default_responder(request)
            position = len(self._replies) - 1
        item = self._replies[position]
        return item if isinstance(item, Reply) else item(request)


# --- rendering replies in each API's wire format -------------------------------------------------


@dataclass(frozen=True)
class _Answer:
    """The model output to render: text and/or a tool call, plus the token counts to report."""

    text: str | None
    tool_input: Any
    tool_arguments: str | None
    tool_name: str | None
    usage: Mapping[str, int]


def _new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def _usage(reply: Reply, request: RecordedRequest, output_text: str) -> dict[str, int]:
    """Default estimates, overridden by whatever the reply set."""
    numbers = {key: 0 for key in _USAGE_KEYS}
    numbers["input_tokens"] = estimate_input_tokens(request.json)
    numbers["output_tokens"] = estimate_tokens(output_text)
    for key, value in (reply.usage or {}).items():
        numbers[_USAGE_ALIASES.get(key, key)] = value
    return numbers


def _answer(reply: Reply, request: RecordedRequest, default_payload: Any, default_text: str) -> _Answer:
    """Decide the model output: raw ``content`` > ``payload`` > default payload > schema example."""
    spec = request.output
    payload = reply.payload if reply.payload is not None else default_payload
    if payload is None and spec.schema is not None:
        payload = example_for_schema(spec.schema)
    if payload is None and spec.kind == "json_object":
        payload = {"result": "ok"}
    serialised = None if payload is None else json.dumps(payload, ensure_ascii=False)
    raw = reply.content
    if spec.kind == "tool" and not (raw is not None and request.api == "anthropic"):
        arguments = raw if raw is not None else serialised or "{}"
        usage = _usage(reply, request, arguments)
        return _Answer(None, payload if payload is not None else {}, arguments, spec.tool_name, usage)
    text = raw if raw is not None else serialised if serialised is not None else default_text
    if reply.refusal is not None:
        text = reply.refusal
    return _Answer(text, None, None, None, _usage(reply, request, text))


def _chat_body(reply: Reply, request: RecordedRequest, answer: _Answer) -> dict[str, Any]:
    """``chat.completion`` object as returned by ``POST /v1/chat/completions``."""
    message: dict[str, Any] = {
        "role": "assistant",
        "content": answer.text,
        "refusal": None,
        "annotations": [],
    }
    finish = "tool_calls" if answer.tool_name else "stop"
    if reply.refusal is not None:
        message.update(content=None, refusal=reply.refusal)
    if answer.tool_name:
        call = {"name": answer.tool_name, "arguments": answer.tool_arguments}
        message["tool_calls"] = [{"id": _new_id("call_"), "type": "function", "function": call}]
    body: dict[str, Any] = {
        "id": _new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.model or "unknown",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "length" if reply.truncated else finish,
            }
        ],
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }
    if not reply.omit_usage:
        body["usage"] = _chat_usage(answer.usage)
    return body


def _chat_usage(n: Mapping[str, int]) -> dict[str, Any]:
    prompt_details: dict[str, int] = {"cached_tokens": n["cached_tokens"], "audio_tokens": 0}
    if n["cache_write_tokens"]:
        prompt_details["cache_write_tokens"] = n["cache_write_tokens"]
    return {
        "prompt_tokens": n["input_tokens"],
        "completion_tokens": n["output_tokens"],
        "total_tokens": n["input_tokens"] + n["output_tokens"],
        "prompt_tokens_details": prompt_details,
        "completion_tokens_details": {"reasoning_tokens": n["reasoning_tokens"], "audio_tokens": 0},
    }


def _responses_body(reply: Reply, request: RecordedRequest, answer: _Answer) -> dict[str, Any]:
    """``response`` object as returned by ``POST /v1/responses``."""
    sent = request.json if isinstance(request.json, Mapping) else {}
    body: dict[str, Any] = {
        "id": _new_id("resp_"),
        "object": "response",
        "created_at": int(time.time()),
        "status": "incomplete" if reply.truncated else "completed",
        "incomplete_details": {"reason": "max_output_tokens"} if reply.truncated else None,
        "error": None,
        "model": request.model or "unknown",
        "output": [_responses_item(reply, answer)],
        "instructions": sent.get("instructions"),
        "metadata": sent.get("metadata") or {},
        "parallel_tool_calls": True,
        "temperature": sent.get("temperature", 1.0),
        "top_p": sent.get("top_p", 1.0),
        "tool_choice": sent.get("tool_choice", "auto"),
        "tools": sent.get("tools") or [],
        "text": sent.get("text") or {"format": {"type": "text"}},
    }
    if not reply.omit_usage:
        body["usage"] = _responses_usage(answer.usage)
    return body


def _responses_item(reply: Reply, answer: _Answer) -> dict[str, Any]:
    """The single output item: a function call, or an assistant message with text or a refusal."""
    if answer.tool_name:
        return {
            "type": "function_call",
            "id": _new_id("fc_"),
            "call_id": _new_id("call_"),
            "name": answer.tool_name,
            "arguments": answer.tool_arguments,
            "status": "completed",
        }
    content: dict[str, Any] = {"type": "output_text", "text": answer.text, "annotations": [], "logprobs": []}
    if reply.refusal is not None:
        content = {"type": "refusal", "refusal": reply.refusal}
    status = "incomplete" if reply.truncated else "completed"
    return {
        "type": "message",
        "id": _new_id("msg_"),
        "status": status,
        "role": "assistant",
        "content": [content],
    }


def _responses_usage(n: Mapping[str, int]) -> dict[str, Any]:
    return {
        "input_tokens": n["input_tokens"],
        "input_tokens_details": {
            "cached_tokens": n["cached_tokens"],
            "cache_write_tokens": n["cache_write_tokens"],
        },
        "output_tokens": n["output_tokens"],
        "output_tokens_details": {"reasoning_tokens": n["reasoning_tokens"]},
        "total_tokens": n["input_tokens"] + n["output_tokens"],
    }


def _anthropic_body(reply: Reply, request: RecordedRequest, answer: _Answer) -> dict[str, Any]:
    """``message`` object as returned by ``POST /v1/messages``."""
    if answer.tool_name:
        block = {
            "type": "tool_use",
            "id": _new_id("toolu_"),
            "name": answer.tool_name,
            "input": answer.tool_input,
        }
        stop = "tool_use"
    else:
        block = {"type": "text", "text": answer.text}
        stop = "refusal" if reply.refusal is not None else "end_turn"
    body: dict[str, Any] = {
        "id": _new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": request.model or "unknown",
        "content": [block],
        "stop_reason": "max_tokens" if reply.truncated else stop,
        "stop_sequence": None,
    }
    if not reply.omit_usage:
        body["usage"] = _anthropic_usage(answer.usage)
    return body


def _anthropic_usage(n: Mapping[str, int]) -> dict[str, Any]:
    return {
        "input_tokens": n["input_tokens"],
        "output_tokens": n["output_tokens"],
        "cache_read_input_tokens": n["cached_tokens"],
        "cache_creation_input_tokens": n["cache_write_tokens"],
        "service_tier": "standard",
    }


def _models_body(request: RecordedRequest, models: Iterable[str]) -> dict[str, Any]:
    """``GET /v1/models`` in the OpenAI list shape, or Anthropic's when ``anthropic-version`` is sent."""
    names = list(models)
    if "anthropic-version" not in request.headers:
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in names],
        }
    data = [
        {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"} for m in names
    ]
    return {
        "data": data,
        "has_more": False,
        "first_id": names[0] if names else None,
        "last_id": names[-1] if names else None,
    }


def _error_body(reply: Reply, request: RecordedRequest, request_id: str) -> dict[str, Any]:
    """An error in the calling API's format, defaulting type/code from the HTTP status."""
    message = reply.error_message or f"Fake error {reply.status}."
    if _is_anthropic(request):
        default_type = _ANTHROPIC_ERRORS.get(
            reply.status, "api_error" if reply.status >= 500 else "invalid_request_error"
        )
        error = {"type": reply.error_type or default_type, "message": message}
        return {"type": "error", "error": error, "request_id": request_id}
    server_default = ("server_error", None) if reply.status >= 500 else ("invalid_request_error", None)
    default_type, default_code = _OPENAI_ERRORS.get(reply.status, server_default)
    code = reply.error_code or default_code
    return {
        "error": {"message": message, "type": reply.error_type or default_type, "param": None, "code": code}
    }


def _is_anthropic(request: RecordedRequest) -> bool:
    return request.api in ("anthropic", "anthropic_count_tokens") or "anthropic-version" in request.headers


# --- the HTTP server ------------------------------------------------------------------------------


class _HTTPServer(ThreadingHTTPServer):
    """Threaded server that tracks open connections so ``stop()`` can cut idle keep-alive sockets."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512

    def __init__(self, address: tuple[str, int], fake: FakeLLMServer) -> None:
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # Headers and body go out in separate writes: with Nagle's algorithm on, the body waits for
        # the client's delayed ACK of the headers (~40 ms on Linux). Model servers (uvicorn, vLLM,
        # Ollama) set TCP_NODELAY; so does this fake, or it would add its own latency to every call.
        with contextlib.suppress(OSError):
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients dropping connections (timeouts, shutdown) are expected here; only report real bugs."""
        if isinstance(sys.exc_info()[1], OSError) or self.fake.stopping.is_set():
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Shut down every open socket, waking handler threads blocked reading the next request."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """Parses one request, asks the responder, renders its reply. HTTP/1.1 keep-alive."""

    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output clean; requests are inspectable via ``server.requests`` instead."""

    def _serve(self) -> None:
        fake = self.server.fake
        request = self._record(fake)
        if request.api == "unknown":
            self._send_json(
                404, _error_body(Reply(status=404, error_message="Not found."), request, "req_404"), {}
            )
            return
        reply = fake.reply_for(request)
        if not self._wait(reply, fake.stopping):
            self.close_connection = True
            return
        status, body, headers = fake.render(reply, request)
        self._send(status, body, headers)

    def _record(self, fake: FakeLLMServer) -> RecordedRequest:
        """Read the body and store the request before anything can fail or hang."""
        path, _, query = self.path.partition("?")
        raw = self._read_body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        api = _ROUTES.get((self.command, path.rstrip("/")), "unknown")
        if api == "unknown" and self.command == "GET" and path.startswith("/v1/models/"):
            api = "models"
        model = body.get("model") if isinstance(body, Mapping) else None
        headers = {key.lower(): value for key, value in self.headers.items()}
        request = RecordedRequest(self.command, path, headers, body, api, model, time.monotonic(), query)
        fake.record(request)
        return request

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            return self._read_chunked()
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _read_chunked(self) -> bytes:
        chunks = []
        while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        return b"".join(chunks)

    def _wait(self, reply: Reply, stopping: threading.Event) -> bool:
        """Apply delay/hang/disconnect; ``False`` means: close the socket without answering."""
        if reply.drop_connection:
            return False
        if reply.hang:
            stopping.wait()
            return False
        return not (reply.delay_s > 0 and stopping.wait(reply.delay_s))

    def _send_json(self, status: int, body: Any, headers: Mapping[str, str]) -> None:
        self._send(status, json.dumps(body).encode(), {"content-type": "application/json", **headers})

    def _send(self, status: int, body: bytes, headers: Mapping[str, str]) -> None:
        """Always send Content-Length so HTTP/1.1 clients can reuse the connection."""
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True


class FakeLLMServer:
    """OpenAI + Anthropic compatible HTTP server on 127.0.0.1 for the real SDKs to call.

    Set ``responder`` to script replies, ``default_payload`` to force the object every structured
    request gets, ``default_text`` for plain-text requests and ``models`` for ``GET /v1/models``.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        responder: Responder | None = None,
        default_payload: Any = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._initial = (responder or default_responder, default_payload)
        self.responder: Responder = self._initial[0]
        self.default_payload: Any = default_payload
        self.default_text = "ok"
        self.models: list[str] = list(_DEFAULT_MODELS)
        self.responder_errors: list[BaseException] = []
        self.stopping = threading.Event()
        self._requests: list[RecordedRequest] = []
        self._requests_changed = threading.Condition()
        self._ids = itertools.count(1)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> Self:
        """Bind (port 0 picks a free one) and serve from a daemon thread."""
        if self._httpd is not None:
            raise RuntimeError("FakeLLMServer already started")
        self.stopping.clear()
        self._httpd = _HTTPServer((self.host, self._requested_port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-llm", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop promptly even with hung or sleeping handlers: they wait on ``stopping``, sockets get cut."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        httpd.close_connections()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # addresses

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakeLLMServer is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """For ``openai.OpenAI(base_url=...)``: the SDK appends paths such as ``/chat/completions``."""
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """For ``anthropic.Anthropic(base_url=...)``: the SDK itself adds ``/v1/messages``."""
        return self.url

    # recording

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._requests_changed:
            return list(self._requests)

    def requests_for(self, api: ApiName) -> list[RecordedRequest]:
        """Only the requests of one API, e.g. ``"anthropic"``."""
        return [request for request in self.requests if request.api == api]

    def record(self, request: RecordedRequest) -> None:
        with self._requests_changed:
            self._requests.append(request)
            self._requests_changed.notify_all()

    def wait_for_requests(self, count: int, timeout: float = 2.0) -> list[RecordedRequest]:
        """Block until ``count`` requests arrived (e.g. before asserting on a hung call)."""
        with self._requests_changed:
            if not self._requests_changed.wait_for(lambda: len(self._requests) >= count, timeout):
                raise TimeoutError(f"got {len(self._requests)} requests, expected {count}")
            return list(self._requests)

    def reset(self) -> None:
        """Forget recorded requests and restore the constructor's responder and default payload."""
        with self._requests_changed:
            self._requests.clear()
        self.responder, self.default_payload = self._initial
        self.default_text = "ok"
        self.responder_errors.clear()

    # answering (called from handler threads)

    def reply_for(self, request: RecordedRequest) -> Reply:
        """Ask the responder; a responder bug becomes a 500 and is kept in ``responder_errors``."""
        if isinstance(request.json, Mapping) and request.json.get("stream"):
            return Reply.bad_request("FakeLLMServer does not implement streaming; use stream=False.")
        try:
            reply = self.responder(request)
            if not isinstance(reply, Reply):
                raise TypeError(f"responder returned {type(reply).__name__}, expected Reply")
        except Exception as exc:
            return self._responder_failed(exc)
        return reply

    def render(self, reply: Reply, request: RecordedRequest) -> tuple[int, bytes, dict[str, str]]:
        """Status, body bytes and headers for ``reply``; a reply that cannot be rendered becomes a 500."""
        try:
            return self._render(reply, request)
        except Exception as exc:
            return self._render(self._responder_failed(exc), request)

    def _responder_failed(self, exc: Exception) -> Reply:
        """Keep the exception for the test to inspect and answer 500 rather than dropping the socket."""
        self.responder_errors.append(exc)
        return Reply.server_error(500, f"FakeLLMServer responder failed: {exc!r}")

    def _render(self, reply: Reply, request: RecordedRequest) -> tuple[int, bytes, dict[str, str]]:
        """Status, body bytes and headers for ``reply`` in the wire format of ``request.api``."""
        request_id = reply.request_id or f"req_fake_{next(self._ids):06d}"
        id_header = "request-id" if _is_anthropic(request) else "x-request-id"
        headers = {"content-type": "application/json", id_header: request_id}
        if reply.raw_body is not None:
            content_type = "application/json" if reply.raw_body.lstrip()[:1] in ("{", "[") else "text/plain"
            headers["content-type"] = content_type
            return reply.status, reply.raw_body.encode(), {**headers, **reply.headers}
        if reply.status >= 400:
            body: Any = _error_body(reply, request, request_id)
        else:
            body = self._success_body(reply, request)
        return reply.status, json.dumps(body, ensure_ascii=False).encode(), {**headers, **reply.headers}

    def _success_body(self, reply: Reply, request: RecordedRequest) -> dict[str, Any]:
        if request.api == "models":
            return _models_body(request, self.models)
        if request.api == "anthropic_count_tokens":
            return {"input_tokens": estimate_input_tokens(request.json)}
        answer = _answer(reply, request, self.default_payload, self.default_text)
        if request.api == "openai_chat":
            return _chat_body(reply, request, answer)
        if request.api == "openai_responses":
            return _responses_body(reply, request, answer)
        return _anthropic_body(reply, request, answer)


def main(argv: list[str] | None = None) -> None:
    """Serve the default responder (optionally after a fixed delay) until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before every answer")
    args = parser.parse_args(argv)
    server = FakeLLMServer(args.host, args.port, responder=lambda _request: Reply(delay_s=args.delay))
    with server:
        print(
            f"OpenAI base_url {server.openai_base_url}  Anthropic base_url {server.anthropic_base_url}",
            flush=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
