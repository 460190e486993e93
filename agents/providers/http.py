"""Shared plumbing of the HTTP providers: keys, one I/O event loop with pooled SDK clients, errors.

Why one I/O loop: SDK clients own an HTTP connection pool bound to the event loop that created it,
and building one costs ~20 ms (mostly the TLS context). Debates run their agents on short-lived
loops (``async_to_sync`` makes a new loop per debate), so clients would be rebuilt and connections
re-opened for every debate. Instead every provider request runs on one long-lived background loop
per process, where clients are cached (LRU) and keep their connections alive across debates. The
caller awaits the result from its own loop; cancelling the caller cancels the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import hashlib
import json
import os
import ssl
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from pydantic import BaseModel

from agents.models import Provider
from agents.providers.base import ProfileSpec, ProviderCall, ProviderError, ProviderReply
from agents.redact import redact

T = TypeVar("T")

DEFAULT_KEY_ENV: dict[str, str] = {Provider.OPENAI: "OPENAI_API_KEY", Provider.ANTHROPIC: "ANTHROPIC_API_KEY"}
NO_KEY = "no-key-required"
MAX_CLIENTS = 32
TIMEOUT_GRACE_S = 1.0


def key_env_name(spec: ProfileSpec) -> str:
    """The environment variable holding the profile's key ('' = the server needs none)."""
    return spec.api_key_env or DEFAULT_KEY_ENV.get(spec.provider, "")


def api_key(spec: ProfileSpec) -> str:
    """The key from the environment; a missing one is a clear, non-retryable failure naming it."""
    name = key_env_name(spec)
    if not name:
        return NO_KEY
    value = os.environ.get(name, "").strip()
    if not value:
        raise ProviderError(
            "provider_error",
            f"Missing API key: set the environment variable {name} (profile {spec.name}).",
        )
    return value


class _IoLoop:
    """A daemon thread running an event loop, (re)created lazily, and again after a fork."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0
        self.clients: OrderedDict[tuple[Any, ...], Any] = OrderedDict()

    def get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid() or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="arena-llm-io", daemon=True).start()
                self._loop, self._pid = loop, os.getpid()
                self.clients = OrderedDict()
            return self._loop


_IO = _IoLoop()


async def on_io_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the provider I/O loop and await its result from the caller's loop."""
    future = asyncio.run_coroutine_threadsafe(coro, _IO.get())
    return await asyncio.wrap_future(future)


@functools.lru_cache(maxsize=1)
def ssl_context() -> ssl.SSLContext:
    """One TLS context for every client (creating one costs ~20 ms)."""
    return ssl.create_default_context()


def cached_client(key: tuple[Any, ...], factory: Callable[[], T]) -> T:
    """The client for ``key`` on the I/O loop (call from the I/O loop only); LRU-evicted ones are closed."""
    clients = _IO.clients
    client = clients.get(key)
    if client is None:
        client = factory()
        clients[key] = client
        while len(clients) > MAX_CLIENTS:
            _old_key, old = clients.popitem(last=False)
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().create_task(old.close())
    else:
        clients.move_to_end(key)
    return client


def client_key(spec: ProfileSpec, key: str, *extra: Any) -> tuple[Any, ...]:
    """A cache key that identifies the credentials without holding them in clear."""
    return (spec.provider, spec.base_url, hashlib.sha256(key.encode()).hexdigest(), *extra)


def retry_after_seconds(headers: Any) -> float | None:
    """``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date) from a response's headers."""
    if headers is None:
        return None
    with contextlib.suppress(TypeError, ValueError):
        value = headers.get("retry-after-ms")
        if value is not None:
            return max(float(value) / 1000, 0.0)
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    with contextlib.suppress(TypeError, ValueError):
        parsed = email.utils.parsedate_to_datetime(value)
        return max(parsed.timestamp() - time.time(), 0.0)
    return None


def status_error(
    *, status: int, message: str, headers: Any, request_id: str | None, code: str | None, secrets: list[str]
) -> ProviderError:
    """Map an HTTP error response: 429 rate_limited, 5xx (and 408/409) retryable, other 4xx final."""
    text = redact(f"HTTP {status}: {message}", secrets)
    retry_after = retry_after_seconds(headers)
    if status == 429:
        # An exhausted quota is not a transient limit: retrying cannot help.
        final = code in ("insufficient_quota", "billing_hard_limit_reached")
        return ProviderError(
            "rate_limited",
            text,
            retryable=not final,
            retry_after=retry_after,
            status_code=status,
            request_id=request_id,
        )
    retryable = status >= 500 or status in (408, 409)
    return ProviderError(
        "provider_error",
        text,
        retryable=retryable,
        retry_after=retry_after,
        status_code=status,
        request_id=request_id,
    )


def connection_error(exc: BaseException, *, timeout: bool, secrets: list[str]) -> ProviderError:
    """A timeout or a connection failure: retryable; billed-maybe unless it never connected."""
    never_sent = type(exc.__cause__).__name__ in ("ConnectError", "ConnectTimeout")
    if timeout:
        return ProviderError(
            "timeout", redact(f"Timed out: {exc}", secrets), retryable=True, may_be_billed=not never_sent
        )
    detail = f"{exc}" + (f" ({type(exc.__cause__).__name__})" if exc.__cause__ else "")
    return ProviderError(
        "provider_error",
        redact(f"Connection error: {detail}", secrets),
        retryable=True,
        may_be_billed=not never_sent,
    )


@functools.lru_cache(maxsize=64)
def _schema_text(model: type[BaseModel], strict: bool) -> str:
    schema = model.model_json_schema()
    return json.dumps(_strict(schema, schema) if strict else schema)


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema, a fresh copy (pydantic rebuilds it on every call: ~2 ms, so cached)."""
    loaded: dict[str, Any] = json.loads(_schema_text(model, False))
    return loaded


def strict_json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema in the form OpenAI's strict structured outputs accept (a fresh copy).

    Every object gets ``additionalProperties: false`` and all its properties required, ``None``
    defaults are dropped and ``$ref`` siblings are inlined. Our role models are written to need
    nothing more (see :mod:`agents.schemas`).
    """
    loaded: dict[str, Any] = json.loads(_schema_text(model, True))
    return loaded


def _strict(node: Any, root: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_strict(item, root) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("type") == "object":
        node.setdefault("additionalProperties", False)
        if isinstance(node.get("properties"), dict):
            node["required"] = list(node["properties"])
    if "default" in node and node["default"] is None:
        del node["default"]
    ref = node.get("$ref")
    if isinstance(ref, str) and len(node) > 1 and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target[part]
        node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return {key: _strict(value, root) for key, value in node.items()}


class HttpProvider:
    """Base of the SDK-backed providers: the hop to the I/O loop and a hard wall-clock timeout.

    The SDK's own timeout applies per read; a server that trickles bytes could outlast it, so the
    whole request is also bounded by ``asyncio.timeout``.
    """

    name = "http"

    async def complete(self, call: ProviderCall) -> ProviderReply:
        return await on_io_loop(self._guarded(call))

    async def _guarded(self, call: ProviderCall) -> ProviderReply:
        try:
            async with asyncio.timeout(call.timeout_s + TIMEOUT_GRACE_S):
                return await self.request(call)
        except TimeoutError:
            raise ProviderError(
                "timeout",
                f"No complete answer within {call.timeout_s:g} s.",
                retryable=True,
                may_be_billed=True,
            ) from None

    async def request(self, call: ProviderCall) -> ProviderReply:
        raise NotImplementedError
