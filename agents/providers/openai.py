"""OpenAI through the official async SDK: strict structured outputs on the Responses or Chat API.

The ``api`` parameter picks ``responses`` (default) or ``chat``. The schema is sent as a strict
``json_schema`` format built from the role's pydantic model; the answer's text is returned as is
and validated by the gateway (so a broken answer can still be repaired instead of raising inside
the SDK). The SDK's own retries are off (``max_retries=0``): the gateway retries, so that every
attempt is its own ledger row.
"""

from __future__ import annotations

from typing import Any

import openai

from agents.providers.base import ProviderCall, ProviderError, ProviderReply, Usage
from agents.providers.http import (
    HttpProvider,
    api_key,
    cached_client,
    client_key,
    connection_error,
    ssl_context,
    status_error,
    strict_json_schema,
)

_SAMPLING = ("temperature", "top_p", "seed")


def make_client(base_url: str, key: str) -> openai.AsyncOpenAI:
    """An SDK client without SDK retries; the base URL (ending in /v1) may point at any server."""
    return openai.AsyncOpenAI(
        api_key=key,
        base_url=base_url or None,
        max_retries=0,
        http_client=openai.DefaultAsyncHttpxClient(verify=ssl_context()),
    )


def sdk_error(exc: openai.OpenAIError, key: str) -> ProviderError:
    """The ledger's view of an SDK exception (status, retryability, Retry-After, request id)."""
    if isinstance(exc, openai.APITimeoutError):
        return connection_error(exc, timeout=True, secrets=[key])
    if isinstance(exc, openai.APIConnectionError):
        return connection_error(exc, timeout=False, secrets=[key])
    if isinstance(exc, openai.APIStatusError):
        return status_error(
            status=exc.status_code,
            message=exc.message,
            headers=exc.response.headers,
            request_id=exc.request_id,
            code=getattr(exc, "code", None),
            secrets=[key],
        )
    return ProviderError("provider_error", f"{type(exc).__name__}: {exc}")


def _int(value: Any) -> int:
    return value if isinstance(value, int) and value >= 0 else 0


def chat_usage(usage: Any) -> Usage | None:
    """Chat usage, guarding every read: the SDK does not validate, missing fields come back None."""
    if usage is None:
        return None
    details = getattr(usage, "prompt_tokens_details", None)
    return Usage(
        input_tokens=_int(getattr(usage, "prompt_tokens", 0)),
        output_tokens=_int(getattr(usage, "completion_tokens", 0)),
        cached_tokens=_int(getattr(details, "cached_tokens", 0)) if details is not None else 0,
    )


def responses_usage(usage: Any) -> Usage | None:
    if usage is None:
        return None
    details = getattr(usage, "input_tokens_details", None)
    return Usage(
        input_tokens=_int(getattr(usage, "input_tokens", 0)),
        output_tokens=_int(getattr(usage, "output_tokens", 0)),
        cached_tokens=_int(getattr(details, "cached_tokens", 0)) if details is not None else 0,
    )


def sampling(params: dict[str, Any]) -> dict[str, Any]:
    return {name: params[name] for name in _SAMPLING if name in params}


def chat_reply(completion: Any) -> ProviderReply:
    """Text, refusal, truncation, usage and request id of a chat completion."""
    choices = getattr(completion, "choices", None) or []
    if not choices:
        raise ProviderError("provider_error", "The answer had no choices.", request_id=completion._request_id)
    choice = choices[0]
    message = choice.message
    text = message.content or ""
    calls = getattr(message, "tool_calls", None) or []
    if not text and calls:
        text = calls[0].function.arguments or ""
    return ProviderReply(
        text=text,
        usage=chat_usage(getattr(completion, "usage", None)),
        request_id=completion._request_id,
        model=getattr(completion, "model", "") or "",
        truncated=choice.finish_reason == "length",
        refusal=getattr(message, "refusal", None) or "",
    )


class OpenAIProvider(HttpProvider):
    name = "openai"

    async def request(self, call: ProviderCall) -> ProviderReply:
        key = api_key(call.profile)
        spec = call.profile
        client = cached_client(client_key(spec, key), lambda: make_client(spec.base_url, key))
        try:
            if spec.params.get("api", "responses") == "chat":
                return await self._chat(client, call)
            return await self._responses(client, call)
        except openai.OpenAIError as exc:
            raise sdk_error(exc, key) from None

    async def _chat(self, client: openai.AsyncOpenAI, call: ProviderCall) -> ProviderReply:
        spec = call.profile
        extra: dict[str, Any] = sampling(spec.params)
        if "reasoning_effort" in spec.params:
            extra["reasoning_effort"] = spec.params["reasoning_effort"]
        completion = await client.chat.completions.create(
            model=spec.model,
            messages=[{"role": "system", "content": call.system}, {"role": "user", "content": call.user}],
            response_format={
                "type": "json_schema",
                "json_schema": {
                    "name": call.schema_name,
                    "schema": strict_json_schema(call.output_model),
                    "strict": True,
                },
            },
            max_completion_tokens=call.max_tokens,
            timeout=call.timeout_s,
            **extra,
        )
        return chat_reply(completion)

    async def _responses(self, client: openai.AsyncOpenAI, call: ProviderCall) -> ProviderReply:
        spec = call.profile
        extra: dict[str, Any] = {k: v for k, v in sampling(spec.params).items() if k != "seed"}
        if "reasoning_effort" in spec.params:
            extra["reasoning"] = {"effort": spec.params["reasoning_effort"]}
        response = await client.responses.create(
            model=spec.model,
            instructions=call.system,
            input=call.user,
            text={
                "format": {
                    "type": "json_schema",
                    "name": call.schema_name,
                    "schema": strict_json_schema(call.output_model),
                    "strict": True,
                }
            },
            max_output_tokens=call.max_tokens,
            store=False,
            timeout=call.timeout_s,
            **extra,
        )
        refusal = ""
        for item in getattr(response, "output", None) or []:
            for content in getattr(item, "content", None) or []:
                if getattr(content, "type", "") == "refusal":
                    refusal = getattr(content, "refusal", "") or "refused"
        details = getattr(response, "incomplete_details", None)
        return ProviderReply(
            text=response.output_text,
            usage=responses_usage(getattr(response, "usage", None)),
            request_id=response._request_id,
            model=getattr(response, "model", "") or "",
            truncated=getattr(details, "reason", None) == "max_output_tokens",
            refusal=refusal,
        )
