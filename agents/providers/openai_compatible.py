"""Any server speaking OpenAI's Chat Completions API (Ollama, vLLM, LM Studio, llama.cpp ...).

Servers differ in what they enforce. The ``structured`` parameter says how to ask for JSON:

* ``json_schema``: OpenAI-style structured outputs (``response_format`` with the schema);
* ``json_object``: JSON mode (``{"type": "json_object"}``), the schema described in the prompt;
* ``prompt``: no ``response_format`` at all, the schema described in the prompt;
* ``auto`` (default): start with ``json_schema``; when the server refuses it with a 400/422
  whose message is about the format (``response_format``, ``schema``, ...), step down to
  ``json_object``, then to ``prompt``, and remember the working mode for that server and model in
  this process. Each refused request is its own ledger row (status provider_error),
  and the retry with the weaker mode follows at once.

Whatever the mode, the gateway validates the text and repairs it if needed, so a server that
silently ignores ``response_format`` is handled too. The key is read from the variable named by
``api_key_env``; empty means the server needs none (a placeholder is sent, as the SDK needs one).
"""

from __future__ import annotations

import threading
from typing import Any

import openai

from agents.providers.base import ProviderCall, ProviderError, ProviderReply
from agents.providers.http import (
    HttpProvider,
    api_key,
    cached_client,
    client_key,
    strict_json_schema,
)
from agents.providers.openai import chat_reply, make_client, sampling, sdk_error

MODES = ("json_schema", "json_object", "prompt")
# A 400 that names none of these is about something else (context length, a bad parameter ...):
# stepping down would not help and would teach the process a wrong mode.
_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "structured", "schema", "format")
_learned: dict[tuple[str, str], str] = {}
_learned_lock = threading.Lock()


def learned_mode(base_url: str, model: str) -> str | None:
    """The structured-output mode this process found to work for a server and model, if any."""
    return _learned.get((base_url, model))


def forget_learned_modes() -> None:
    """Forget what servers support (tests, or after a server upgrade)."""
    with _learned_lock:
        _learned.clear()


class OpenAICompatibleProvider(HttpProvider):
    name = "openai_compatible"

    async def request(self, call: ProviderCall) -> ProviderReply:
        spec = call.profile
        key = api_key(call.profile)
        client = cached_client(client_key(spec, key), lambda: make_client(spec.base_url, key))
        configured = str(spec.params.get("structured", "auto"))
        mode = configured if configured != "auto" else learned_mode(spec.base_url, spec.model) or MODES[0]
        try:
            completion = await client.chat.completions.create(**self._arguments(call, mode))
        except openai.BadRequestError as exc:
            raise self._maybe_downgrade(call, configured, mode, sdk_error(exc, key)) from None
        except openai.UnprocessableEntityError as exc:
            raise self._maybe_downgrade(call, configured, mode, sdk_error(exc, key)) from None
        except openai.OpenAIError as exc:
            raise sdk_error(exc, key) from None
        return chat_reply(completion)

    def _arguments(self, call: ProviderCall, mode: str) -> dict[str, Any]:
        system = call.system
        if mode != "json_schema":
            system = f"{system}\n\n{call.schema_instructions}".strip()
        arguments: dict[str, Any] = {
            "model": call.profile.model,
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": call.user}],
            "max_tokens": call.max_tokens,
            "timeout": call.timeout_s,
            **sampling(call.profile.params),
        }
        if mode == "json_schema":
            arguments["response_format"] = {
                "type": "json_schema",
                "json_schema": {
                    "name": call.schema_name,
                    "schema": strict_json_schema(call.output_model),
                    "strict": True,
                },
            }
        elif mode == "json_object":
            arguments["response_format"] = {"type": "json_object"}
        return arguments

    def _maybe_downgrade(
        self, call: ProviderCall, configured: str, mode: str, error: ProviderError
    ) -> ProviderError:
        """In ``auto`` mode a refused structured request steps down one mode and asks for a retry."""
        mentions_format = any(word in str(error).lower() for word in _FORMAT_WORDS)
        if configured != "auto" or mode == MODES[-1] or not mentions_format:
            return error
        weaker = MODES[MODES.index(mode) + 1]
        with _learned_lock:
            _learned[(call.profile.base_url, call.profile.model)] = weaker
        return ProviderError(
            error.kind,
            f"{error} — the server refused {mode} output; retrying with {weaker}.",
            status_code=error.status_code,
            request_id=error.request_id,
            downgraded=True,
        )
