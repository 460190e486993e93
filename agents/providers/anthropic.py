"""Anthropic through the official async SDK: structured output by forced tool use, or output_format.

``structured`` = ``tool`` (default, works on every Claude model): one tool whose input schema is the
role's model, and ``tool_choice`` forcing it; the tool input is the answer. ``output_format``:
Anthropic's native JSON-schema output (``output_config.format``), with the schema passed through
the SDK's ``transform_schema``, which moves bounds the API does not enforce (minimum, maxLength ...)
into descriptions; the gateway's pydantic validation still enforces them.

Anthropic's base URL has no ``/v1`` (the SDK adds ``/v1/messages``). Its ``input_tokens`` exclude
cache reads and writes, which are reported apart (see :mod:`agents.pricing`).
"""

from __future__ import annotations

import json
from typing import Any

import anthropic

from agents.providers.base import ProviderCall, ProviderError, ProviderReply, Usage
from agents.providers.http import (
    HttpProvider,
    api_key,
    cached_client,
    client_key,
    connection_error,
    json_schema,
    ssl_context,
    status_error,
)


def _client(base_url: str, key: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(
        api_key=key,
        base_url=base_url or None,
        max_retries=0,
        http_client=anthropic.DefaultAsyncHttpxClient(verify=ssl_context()),
    )


def _error(exc: anthropic.AnthropicError, key: str) -> ProviderError:
    if isinstance(exc, anthropic.APITimeoutError):
        return connection_error(exc, timeout=True, secrets=[key])
    if isinstance(exc, anthropic.APIConnectionError):
        return connection_error(exc, timeout=False, secrets=[key])
    if isinstance(exc, anthropic.APIStatusError):
        body: dict[str, Any] = exc.body if isinstance(exc.body, dict) else {}
        nested = body.get("error")
        error: dict[str, Any] = nested if isinstance(nested, dict) else {}
        return status_error(
            status=exc.status_code,
            message=str(error.get("message") or exc.message),
            headers=exc.response.headers,
            request_id=exc.request_id,
            code=str(error.get("type") or "") or None,
            secrets=[key],
        )
    return ProviderError("provider_error", f"{type(exc).__name__}: {exc}")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def _usage(usage: Any) -> Usage | None:
    if usage is None:
        return None
    return Usage(
        input_tokens=_int(getattr(usage, "input_tokens", 0)),
        output_tokens=_int(getattr(usage, "output_tokens", 0)),
        cached_tokens=_int(getattr(usage, "cache_read_input_tokens", 0)),
        cache_write_tokens=_int(getattr(usage, "cache_creation_input_tokens", 0)),
    )


class AnthropicProvider(HttpProvider):
    name = "anthropic"

    async def request(self, call: ProviderCall) -> ProviderReply:
        key = api_key(call.profile)
        spec = call.profile
        client = cached_client(client_key(spec, key), lambda: _client(spec.base_url, key))
        tool_name = f"submit_{call.schema_name}"
        arguments: dict[str, Any] = {
            "model": spec.model,
            "max_tokens": call.max_tokens,
            "messages": [{"role": "user", "content": call.user}],
            "timeout": call.timeout_s,
        }
        if call.system:
            arguments["system"] = call.system
        for name in ("temperature", "top_p"):
            if name in spec.params:
                arguments[name] = spec.params[name]
        if spec.params.get("structured", "tool") == "output_format":
            schema = anthropic.transform_schema(json_schema(call.output_model))
            arguments["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
        else:
            arguments["tools"] = [
                {
                    "name": tool_name,
                    "description": f"Submit your answer as a {call.schema_name} object.",
                    "input_schema": json_schema(call.output_model),
                }
            ]
            arguments["tool_choice"] = {"type": "tool", "name": tool_name}
        try:
            message = await client.messages.create(**arguments)
        except anthropic.AnthropicError as exc:
            raise _error(exc, key) from None
        return self._reply(message, tool_name)

    def _reply(self, message: Any, tool_name: str) -> ProviderReply:
        texts: list[str] = []
        tool_text = None
        for block in getattr(message, "content", None) or []:
            kind = getattr(block, "type", "")
            if kind == "tool_use" and getattr(block, "name", "") == tool_name and tool_text is None:
                tool_text = json.dumps(block.input, ensure_ascii=False)
            elif kind == "text":
                texts.append(block.text or "")
        stop = getattr(message, "stop_reason", None)
        return ProviderReply(
            text=tool_text if tool_text is not None else "".join(texts),
            usage=_usage(getattr(message, "usage", None)),
            request_id=message._request_id,
            model=getattr(message, "model", "") or "",
            truncated=stop == "max_tokens",
            refusal=("".join(texts) or "refused") if stop == "refusal" else "",
        )
