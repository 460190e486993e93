"""Each provider through its real SDK against the fake server: request shape, parsing, usage, cost."""

from __future__ import annotations

from decimal import Decimal

import pytest

from agents.gateway import CallStatus
from agents.models import Provider
from tests.fakes.llm_server import FakeLLMServer, Reply, Script
from tests.gateway.conftest import ANTHROPIC_KEY, OPENAI_KEY, analysis, ask, is_analysis, make_profile

pytestmark = pytest.mark.django_db


def test_openai_responses_api_sends_strict_schema_and_prices_with_genai_prices(
    fake_llm: FakeLLMServer,
) -> None:
    usage = {"input_tokens": 1000, "cached_tokens": 800, "output_tokens": 200}
    fake_llm.responder = Script([Reply.ok(analysis(), usage=usage, request_id="req_abc")])
    profile = make_profile(fake_llm.openai_base_url, provider=Provider.OPENAI, model="gpt-4o-mini")

    result = ask(profile)

    assert result.status == CallStatus.OK and is_analysis(result)
    [request] = fake_llm.requests
    assert request.api == "openai_responses"
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    fmt = request.json["text"]["format"]
    assert fmt["type"] == "json_schema" and fmt["strict"] is True
    assert fmt["schema"]["additionalProperties"] is False
    assert set(fmt["schema"]["required"]) == set(fmt["schema"]["properties"])
    assert "bull" in request.json["instructions"].lower()
    assert "ACME" in request.json["input"]
    assert request.json["max_output_tokens"] == 2048
    [attempt] = result.attempts
    assert (attempt.usage.input_tokens, attempt.usage.cached_tokens, attempt.usage.output_tokens) == (
        1000,
        800,
        200,
    )
    assert attempt.cost_usd == Decimal("0.00021")  # genai-prices: gpt-4o-mini, 800 of 1000 input cached
    assert result.cost_usd == Decimal("0.00021")
    assert attempt.request_id == result.request_id == "req_abc"
    assert result.prompt_version.startswith("v1/bull@")


def test_openai_chat_api_uses_response_format_and_completion_tokens(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.ok(analysis(stance="bearish"))])
    profile = make_profile(
        fake_llm.openai_base_url,
        provider=Provider.OPENAI,
        model="gpt-4o-mini",
        params={"api": "chat", "temperature": 0.2, "max_tokens": 512},
    )

    result = ask(profile)

    assert result.output.stance == "bearish"
    [request] = fake_llm.requests
    assert request.api == "openai_chat"
    assert request.json["response_format"]["json_schema"]["strict"] is True
    assert request.json["max_completion_tokens"] == 512
    assert request.json["temperature"] == 0.2
    assert [m["role"] for m in request.json["messages"]] == ["system", "user"]
    assert result.attempts[0].cost_usd is not None and result.attempts[0].cost_usd > 0


def test_anthropic_forced_tool_use_and_cache_aware_cost(fake_llm: FakeLLMServer) -> None:
    usage = {"input_tokens": 100, "cached_tokens": 800, "cache_write_tokens": 100, "output_tokens": 200}
    fake_llm.responder = Script([Reply.ok(analysis(), usage=usage)])
    profile = make_profile(
        fake_llm.anthropic_base_url, provider=Provider.ANTHROPIC, model="claude-3-5-haiku-20241022"
    )

    result = ask(profile)

    assert is_analysis(result), result.error
    [request] = fake_llm.requests
    assert request.api == "anthropic" and request.path == "/v1/messages"
    assert ANTHROPIC_KEY in (request.headers.get("x-api-key") or request.headers["authorization"])
    assert request.json["tool_choice"] == {"type": "tool", "name": "submit_analyst_output"}
    assert request.json["tools"][0]["input_schema"]["title"] == "AnalystOutput"
    assert "bull" in request.json["system"].lower()
    # Anthropic reports input without cache; genai-prices needs the total (100 + 800 + 100 = 1000).
    assert result.attempts[0].cost_usd == Decimal("0.001044")
    assert result.usage.cache_write_tokens == 100


def test_anthropic_native_output_format(fake_llm: FakeLLMServer) -> None:
    profile = make_profile(
        fake_llm.anthropic_base_url,
        provider=Provider.ANTHROPIC,
        model="claude-haiku-4-5",
        params={"structured": "output_format"},
    )

    result = ask(profile)

    assert is_analysis(result), result.error
    [request] = fake_llm.requests
    assert request.json["output_config"]["format"]["type"] == "json_schema"
    assert "tools" not in request.json


def _no_structured_outputs(request) -> Reply:
    """A server that rejects response_format entirely and answers plain text."""
    if "response_format" in request.json:
        return Reply.bad_request(
            f"response_format {request.json['response_format']['type']} is not supported"
        )
    return Reply.text(
        '{"stance": "neutral", "confidence": 0.4, "signals": [], "reasoning": "flat",'
        ' "key_risks": [], "risk_level": null}'
    )


def test_compatible_server_without_structured_outputs_falls_back_to_schema_in_prompt(
    fake_llm: FakeLLMServer,
) -> None:
    fake_llm.responder = _no_structured_outputs
    profile = make_profile(fake_llm.openai_base_url, params={"max_retries": 0})

    first = ask(profile)
    second = ask(profile)

    assert first.output.stance == "neutral"
    assert [a.status for a in first.attempts] == ["provider_error", "provider_error", "ok"]
    assert "json_schema" in first.attempts[0].error and "json_object" in first.attempts[1].error
    formats = [r.json.get("response_format", {}).get("type") for r in fake_llm.requests]
    assert formats == ["json_schema", "json_object", None, None]  # the mode is remembered
    prompted = fake_llm.requests[2].json["messages"][0]["content"]
    assert "JSON schema" in prompted and '"stance"' in prompted
    assert [a.status for a in second.attempts] == ["ok"]


def test_compatible_json_mode_when_pinned(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script(
        [
            Reply.text(
                '{"stance": "bearish", "confidence": 0.3, "signals": [], '
                '"reasoning": "x", "key_risks": [], "risk_level": null}'
            )
        ]
    )
    profile = make_profile(fake_llm.openai_base_url, params={"structured": "json_object"})

    result = ask(profile)

    assert result.output.stance == "bearish"
    assert fake_llm.requests[0].json["response_format"] == {"type": "json_object"}
    assert fake_llm.requests[0].json["max_tokens"] == 2048


def test_compatible_without_key_sends_a_placeholder(fake_llm: FakeLLMServer) -> None:
    result = ask(make_profile(fake_llm.openai_base_url, api_key_env=""))
    assert result.valid
    assert fake_llm.requests[0].headers["authorization"] == "Bearer no-key-required"


def test_compatible_key_comes_from_the_named_variable(fake_llm: FakeLLMServer, monkeypatch) -> None:
    monkeypatch.setenv("LOCAL_LLM_KEY", "local-secret-value")
    result = ask(make_profile(fake_llm.openai_base_url, api_key_env="LOCAL_LLM_KEY"))
    assert result.valid
    assert fake_llm.requests[0].headers["authorization"] == "Bearer local-secret-value"


@pytest.mark.parametrize(
    ("provider", "variable", "env"),
    [
        (Provider.OPENAI, "OPENAI_API_KEY", "OPENAI_API_KEY"),
        (Provider.ANTHROPIC, "ANTHROPIC_API_KEY", "ANTHROPIC_API_KEY"),
        (Provider.OPENAI_COMPATIBLE, "VLLM_KEY", None),
    ],
)
def test_missing_key_fails_clearly_naming_the_variable_and_sends_nothing(
    fake_llm: FakeLLMServer, monkeypatch, provider: str, variable: str, env: str | None
) -> None:
    if env:
        monkeypatch.delenv(env)
    base = fake_llm.anthropic_base_url if provider == Provider.ANTHROPIC else fake_llm.openai_base_url
    extra = {"api_key_env": "VLLM_KEY"} if provider == Provider.OPENAI_COMPATIBLE else {}
    result = ask(make_profile(base, provider=provider, model="gpt-4o-mini", **extra))

    assert not result.valid
    assert result.status == CallStatus.PROVIDER_ERROR
    assert f"set the environment variable {variable}" in result.error
    assert len(result.attempts) == 1  # a configuration error is not retried
    assert fake_llm.requests == []


def test_keys_are_redacted_from_stored_errors(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script(
        [Reply.bad_request(f"Invalid key {OPENAI_KEY}; also saw sk-live-ABCDEFGH12345678")]
    )
    result = ask(make_profile(fake_llm.openai_base_url, provider=Provider.OPENAI, model="gpt-4o-mini"))

    assert not result.valid
    assert OPENAI_KEY not in result.error and "sk-live-ABCDEFGH12345678" not in result.error
    assert "[REDACTED]" in result.attempts[0].error


def test_rules_profiles_still_answer_offline_and_free(db) -> None:
    profile = make_profile(provider=Provider.RULES, model="rules-v1-quick", params={"depth": "quick"})
    result = ask(profile)

    assert is_analysis(result)
    [attempt] = result.attempts
    assert attempt.cost_usd == Decimal(0) and attempt.status == CallStatus.OK
    assert result.prompt_version == "rules-v1"
