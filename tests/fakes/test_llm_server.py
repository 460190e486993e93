"""The fake LLM server driven by the real ``openai`` and ``anthropic`` SDKs over HTTP (no mocks).

These pin the wire shapes the project's gateway relies on: if an SDK upgrade changes what it sends or
expects, these fail before the gateway tests start failing in confusing ways.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

import anthropic
import openai
import pydantic
import pytest
from pydantic import BaseModel, ConfigDict, Field

from tests.fakes.fixtures import fake_llm
from tests.fakes.llm_server import FakeLLMServer, Reply, Script, estimate_input_tokens, estimate_tokens
from tests.fakes.schema_example import example_for_schema

__all__ = ["fake_llm"]  # re-exported so pytest sees the fixture in this module

OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-sonnet-5"
TIMEOUT_S = 5.0
MESSAGES: list[Any] = [{"role": "user", "content": "Analyse AAPL."}]
REPO_ROOT = Path(__file__).resolve().parents[2]


class Stance(StrEnum):
    BULLISH = "bullish"
    BEARISH = "bearish"


class Signal(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=64)
    value: float | None


class Verdict(BaseModel):
    """Shaped like the project's analyst output: enums, bounds, nesting, optionals, patterns."""

    model_config = ConfigDict(extra="forbid")

    stance: Stance
    confidence: float = Field(ge=0.0, le=1.0)
    signals: list[Signal] = Field(max_length=20)
    order_type: str = Field(pattern="^(market|limit)$")
    note: Signal | None


VERDICT = {
    "stance": "bearish",
    "confidence": 0.9,
    "signals": [{"name": "rsi_14", "value": 71.2}],
    "order_type": "limit",
    "note": None,
}


def openai_client(server: FakeLLMServer, **kwargs: Any) -> openai.OpenAI:
    options: dict[str, Any] = {"max_retries": 0, "timeout": TIMEOUT_S, **kwargs}
    return openai.OpenAI(base_url=server.openai_base_url, api_key="test-key", **options)


def async_openai_client(server: FakeLLMServer, **kwargs: Any) -> openai.AsyncOpenAI:
    options: dict[str, Any] = {"max_retries": 0, "timeout": TIMEOUT_S, **kwargs}
    return openai.AsyncOpenAI(base_url=server.openai_base_url, api_key="test-key", **options)


def anthropic_client(server: FakeLLMServer, **kwargs: Any) -> anthropic.Anthropic:
    options: dict[str, Any] = {"max_retries": 0, "timeout": TIMEOUT_S, **kwargs}
    return anthropic.Anthropic(base_url=server.anthropic_base_url, api_key="test-key", **options)


def async_anthropic_client(server: FakeLLMServer, **kwargs: Any) -> anthropic.AsyncAnthropic:
    options: dict[str, Any] = {"max_retries": 0, "timeout": TIMEOUT_S, **kwargs}
    return anthropic.AsyncAnthropic(base_url=server.anthropic_base_url, api_key="test-key", **options)


def verdict_tool() -> dict[str, Any]:
    return {"name": "submit_verdict", "description": "Submit.", "input_schema": Verdict.model_json_schema()}


# --- happy paths, one per wire format ------------------------------------------------------------


def test_chat_parse_builds_valid_object_from_strict_schema(fake_llm: FakeLLMServer) -> None:
    with openai_client(fake_llm) as client:
        completion = client.chat.completions.parse(
            model=OPENAI_MODEL, messages=MESSAGES, response_format=Verdict
        )

    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Verdict)
    assert parsed.stance is Stance.BULLISH
    assert parsed.confidence == 0.5
    assert parsed.order_type == "market"
    assert completion._request_id is not None
    assert completion._request_id.startswith("req_fake_")
    [request] = fake_llm.requests
    assert request.api == "openai_chat"
    assert request.model == OPENAI_MODEL
    assert request.json["response_format"]["json_schema"]["strict"] is True
    assert request.headers["authorization"] == "Bearer test-key"


def test_async_chat_parse_returns_scripted_object(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.ok(VERDICT)])

    async def call() -> Verdict | None:
        async with async_openai_client(fake_llm) as client:
            completion = await client.chat.completions.parse(
                model=OPENAI_MODEL, messages=MESSAGES, response_format=Verdict
            )
        return completion.choices[0].message.parsed

    assert asyncio.run(call()) == Verdict.model_validate(VERDICT)


def test_chat_json_object_and_plain_text(fake_llm: FakeLLMServer) -> None:
    fake_llm.default_text = "plain answer"
    with openai_client(fake_llm) as client:
        as_json = client.chat.completions.create(
            model=OPENAI_MODEL, messages=MESSAGES, response_format={"type": "json_object"}
        )
        as_text = client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)

    assert as_json.choices[0].message.content == '{"result": "ok"}'
    assert as_text.choices[0].message.content == "plain answer"
    assert as_text.choices[0].finish_reason == "stop"


def test_responses_parse_gives_output_parsed(fake_llm: FakeLLMServer) -> None:
    fake_llm.default_payload = VERDICT
    with openai_client(fake_llm) as client:
        response = client.responses.parse(model=OPENAI_MODEL, input="Analyse AAPL.", text_format=Verdict)

    assert response.output_parsed == Verdict.model_validate(VERDICT)
    assert response.usage is not None
    assert response.usage.output_tokens == estimate_tokens(response.output_text)
    assert response.usage.input_tokens_details.cached_tokens == 0
    assert response.usage.output_tokens_details.reasoning_tokens == 0
    assert fake_llm.requests[0].json["text"]["format"]["type"] == "json_schema"


def test_async_responses_parse_from_schema(fake_llm: FakeLLMServer) -> None:
    async def call() -> Verdict | None:
        async with async_openai_client(fake_llm) as client:
            response = await client.responses.parse(model=OPENAI_MODEL, input="Analyse.", text_format=Verdict)
        return response.output_parsed

    parsed = asyncio.run(call())
    assert parsed is not None
    assert parsed.signals[0].name == "ok"


def test_anthropic_forced_tool_use_returns_tool_input(fake_llm: FakeLLMServer) -> None:
    with anthropic_client(fake_llm) as client:
        message = client.messages.create(
            model=ANTHROPIC_MODEL,
            max_tokens=512,
            messages=MESSAGES,
            tools=[verdict_tool()],
            tool_choice={"type": "tool", "name": "submit_verdict"},
        )

    assert message.stop_reason == "tool_use"
    [block] = message.content
    assert block.type == "tool_use"
    assert block.name == "submit_verdict"
    assert Verdict.model_validate(block.input).stance is Stance.BULLISH
    assert message._request_id is not None
    assert fake_llm.requests[0].api == "anthropic"
    headers = fake_llm.requests[0].headers
    assert "anthropic-version" in headers
    assert "test-key" in (headers.get("x-api-key") or headers.get("authorization", ""))


def test_async_anthropic_tool_use_with_scripted_input(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.ok(VERDICT)])

    async def call() -> Any:
        async with async_anthropic_client(fake_llm) as client:
            message = await client.messages.create(
                model=ANTHROPIC_MODEL,
                max_tokens=512,
                messages=MESSAGES,
                tools=[verdict_tool()],
                tool_choice={"type": "tool", "name": "submit_verdict"},
            )
        return message.content[0]

    block = asyncio.run(call())
    assert block.type == "tool_use"
    assert block.input == VERDICT


def test_anthropic_parse_output_format_gives_parsed_output(fake_llm: FakeLLMServer) -> None:
    """The SDK moves bounds/patterns into descriptions; the example must still pass its validation."""
    with anthropic_client(fake_llm) as client:
        message = client.messages.parse(
            model=ANTHROPIC_MODEL, max_tokens=512, messages=MESSAGES, output_format=Verdict
        )

    assert isinstance(message.parsed_output, Verdict)
    assert message.parsed_output.order_type == "market"
    assert 0.0 <= message.parsed_output.confidence <= 1.0
    sent_format = fake_llm.requests[0].json["output_config"]["format"]
    assert sent_format["type"] == "json_schema"
    assert message.stop_reason == "end_turn"


def test_anthropic_plain_text_reply(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.text("Bullish, modestly.")])
    with anthropic_client(fake_llm) as client:
        message = client.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES)

    assert message.content[0].type == "text"
    assert message.content[0].text == "Bullish, modestly."
    assert message.usage.output_tokens == estimate_tokens("Bullish, modestly.")
    assert message.usage.input_tokens == estimate_input_tokens({"messages": MESSAGES})


def test_models_list_for_health_checks(fake_llm: FakeLLMServer) -> None:
    with openai_client(fake_llm) as oai, anthropic_client(fake_llm) as ant:
        openai_ids = [model.id for model in oai.models.list()]
        anthropic_ids = [model.id for model in ant.models.list()]

    assert OPENAI_MODEL in openai_ids
    assert ANTHROPIC_MODEL in anthropic_ids


# --- usage / cost ledger -------------------------------------------------------------------------


def test_usage_overrides_map_to_each_api(fake_llm: FakeLLMServer) -> None:
    usage = {"input_tokens": 1200, "output_tokens": 300, "cached_tokens": 1000, "cache_write_tokens": 50}
    fake_llm.responder = Script([Reply.ok(VERDICT, usage=usage)])
    with openai_client(fake_llm) as oai, anthropic_client(fake_llm) as ant:
        chat = oai.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
        message = ant.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES)

    assert chat.usage is not None
    assert (chat.usage.prompt_tokens, chat.usage.completion_tokens, chat.usage.total_tokens) == (
        1200,
        300,
        1500,
    )
    assert chat.usage.prompt_tokens_details is not None
    assert chat.usage.prompt_tokens_details.cached_tokens == 1000
    assert (message.usage.input_tokens, message.usage.output_tokens) == (1200, 300)
    assert message.usage.cache_read_input_tokens == 1000
    assert message.usage.cache_creation_input_tokens == 50


def test_omit_usage_gives_none_and_server_keeps_serving(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.ok(omit_usage=True), Reply.ok()])
    with openai_client(fake_llm) as client:
        first = client.chat.completions.parse(model=OPENAI_MODEL, messages=MESSAGES, response_format=Verdict)
        second = client.chat.completions.parse(model=OPENAI_MODEL, messages=MESSAGES, response_format=Verdict)

    assert first.usage is None
    assert first.choices[0].message.parsed is not None
    assert second.usage is not None


def test_unknown_usage_key_is_rejected_when_scripting() -> None:
    with pytest.raises(ValueError, match="unknown usage keys"):
        Reply(usage={"input_tokenz": 1})


# --- failures ------------------------------------------------------------------------------------


def test_rate_limit_with_retry_after_is_retried_by_sdk(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.rate_limited(retry_after="0.05"), Reply.ok(VERDICT)])
    with openai_client(fake_llm, max_retries=2) as client:
        completion = client.chat.completions.parse(
            model=OPENAI_MODEL, messages=MESSAGES, response_format=Verdict
        )

    assert completion.choices[0].message.parsed == Verdict.model_validate(VERDICT)
    requests = fake_llm.requests
    assert len(requests) == 2
    assert [request.retry_count for request in requests] == [0, 1]
    assert requests[1].received_at - requests[0].received_at >= 0.04


def test_anthropic_rate_limit_retried_then_error_format(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.rate_limited(), Reply.rate_limited()])

    async def call() -> None:
        async with async_anthropic_client(fake_llm, max_retries=1) as client:
            await client.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES)

    with pytest.raises(anthropic.RateLimitError) as caught:
        asyncio.run(call())
    assert caught.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert caught.value.request_id is not None
    assert len(fake_llm.requests) == 2


def test_server_error_surfaces_as_internal_server_error(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.server_error(500, "boom")])
    with (
        openai_client(fake_llm, max_retries=0) as client,
        pytest.raises(openai.InternalServerError) as caught,
    ):
        client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)

    assert caught.value.status_code == 500
    assert caught.value.body == {"message": "boom", "type": "server_error", "param": None, "code": None}
    assert len(fake_llm.requests) == 1


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (Reply.overloaded(), anthropic.OverloadedError),
        (Reply.server_error(500), anthropic.InternalServerError),
        (Reply.bad_request("max_tokens too large"), anthropic.BadRequestError),
    ],
)
def test_anthropic_error_types(fake_llm: FakeLLMServer, reply: Reply, error: type[Exception]) -> None:
    fake_llm.responder = Script([reply])
    with anthropic_client(fake_llm) as client, pytest.raises(error):
        client.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES)


def test_bad_request_is_not_retried(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.bad_request("nope")])
    with openai_client(fake_llm, max_retries=3) as client, pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
    assert len(fake_llm.requests) == 1


def test_malformed_json_content_reaches_the_caller(fake_llm: FakeLLMServer) -> None:
    fenced = '```json\n{"stance": "bullish", "confidence": 0.7'
    fake_llm.responder = Script([Reply.text(fenced)])
    with openai_client(fake_llm) as client:
        raw = client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
        with pytest.raises(pydantic.ValidationError):
            client.chat.completions.parse(model=OPENAI_MODEL, messages=MESSAGES, response_format=Verdict)

    assert raw.choices[0].message.content == fenced


def test_truncated_reply_raises_length_error_in_parse(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.text('{"stance": "bul', truncated=True)])
    with openai_client(fake_llm) as client, pytest.raises(openai.LengthFinishReasonError):
        client.chat.completions.parse(model=OPENAI_MODEL, messages=MESSAGES, response_format=Verdict)


def test_disconnect_is_a_connection_error(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.disconnect()])
    with anthropic_client(fake_llm) as client, pytest.raises(anthropic.APIConnectionError):
        client.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES)


def test_hung_request_times_out_and_server_still_stops_quickly() -> None:
    server = FakeLLMServer(responder=lambda _request: Reply.hung()).start()
    try:
        with openai_client(server, timeout=0.3) as client, pytest.raises(openai.APITimeoutError):
            client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
        assert len(server.requests) == 1
    finally:
        started = time.monotonic()
        server.stop()
        stop_took = time.monotonic() - started
    assert stop_took < 2.0


def test_stop_is_prompt_while_requests_hang_and_connections_idle() -> None:
    server = FakeLLMServer(responder=Script([Reply.ok(), Reply.hung()])).start()
    client = openai_client(server, timeout=30.0)
    client.models.list()  # leaves an idle keep-alive connection behind
    outcomes: list[Any] = []

    async def hang_many() -> None:
        async with async_openai_client(server, timeout=30.0) as aclient:
            calls = [aclient.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES) for _ in range(5)]
            outcomes.extend(await asyncio.gather(*calls, return_exceptions=True))

    caller = threading.Thread(target=asyncio.run, args=(hang_many(),))
    caller.start()
    server.wait_for_requests(6, timeout=5.0)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 2.0
    caller.join(timeout=5.0)
    client.close()
    assert len(outcomes) == 5
    assert all(isinstance(outcome, openai.APIConnectionError) for outcome in outcomes)


def test_streaming_is_refused_clearly(fake_llm: FakeLLMServer) -> None:
    with openai_client(fake_llm) as client, pytest.raises(openai.BadRequestError, match="streaming"):
        client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES, stream=True)


# --- concurrency ---------------------------------------------------------------------------------


def _time_concurrent_chat(server: FakeLLMServer, count: int, timeout_s: float = TIMEOUT_S) -> float:
    async def run() -> float:
        async with async_openai_client(server, timeout=timeout_s) as client:
            started = time.monotonic()
            calls = [
                client.chat.completions.parse(model=OPENAI_MODEL, messages=MESSAGES, response_format=Verdict)
                for _ in range(count)
            ]
            results = await asyncio.gather(*calls)
            elapsed = time.monotonic() - started
        assert all(result.choices[0].message.parsed is not None for result in results)
        return elapsed

    return asyncio.run(run())


def test_twenty_slow_requests_run_in_parallel(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = lambda _request: Reply.slow(0.2)
    elapsed = _time_concurrent_chat(fake_llm, 20)
    assert elapsed < 1.5
    assert len(fake_llm.requests) == 20


def test_hundred_slow_requests_run_in_parallel(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = lambda _request: Reply.slow(0.2)
    # A generous client timeout: on a loaded CI machine 100 connections take a while to be accepted.
    elapsed = _time_concurrent_chat(fake_llm, 100, timeout_s=30.0)
    assert elapsed < 10.0  # serial would take 20 s
    assert len(fake_llm.requests) == 100


# --- scripting -----------------------------------------------------------------------------------


def test_script_is_thread_safe_and_can_fall_back_to_default(fake_llm: FakeLLMServer) -> None:
    script = Script([Reply.server_error(503)] * 10, then="default")
    fake_llm.responder = script

    async def run() -> list[Any]:
        async with async_openai_client(fake_llm) as client:
            calls = [client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES) for _ in range(15)]
            return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(run())
    assert sum(isinstance(result, openai.InternalServerError) for result in results) == 10
    assert script.consumed == 15


def test_script_accepts_request_dependent_responders(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([lambda request: Reply.text(f"model={request.model}")])
    with openai_client(fake_llm) as client:
        completion = client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
    assert completion.choices[0].message.content == f"model={OPENAI_MODEL}"


def test_reset_forgets_requests_and_script(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.server_error()])
    with openai_client(fake_llm) as client:
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
        fake_llm.reset()
        client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
    assert len(fake_llm.requests) == 1


def test_responder_exception_becomes_500_and_is_kept(fake_llm: FakeLLMServer) -> None:
    def broken(_request: Any) -> Reply:
        raise RuntimeError("bug in test script")

    fake_llm.responder = broken
    with openai_client(fake_llm) as client, pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
    assert isinstance(fake_llm.responder_errors[0], RuntimeError)


def test_unserialisable_payload_becomes_500_not_a_dropped_socket(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.ok({"when": object()})])
    with (
        openai_client(fake_llm) as client,
        pytest.raises(openai.InternalServerError, match="responder failed"),
    ):
        client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)
    assert isinstance(fake_llm.responder_errors[0], TypeError)


# --- schema examples -----------------------------------------------------------------------------


def test_example_handles_refs_nullable_bounds_and_arrays() -> None:
    schema = {
        "$defs": {"Leg": {"type": "object", "properties": {"qty": {"type": "integer"}}, "required": ["qty"]}},
        "type": "object",
        "properties": {
            "legs": {"type": "array", "items": {"$ref": "#/$defs/Leg"}, "minItems": 2, "maxItems": 3},
            "maybe": {"anyOf": [{"type": "null"}, {"type": "string", "minLength": 5}]},
            "score": {"type": "integer", "minimum": 1, "maximum": 10},
            "ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
            "kind": {"enum": ["a", "b"]},
            "empty": {"type": "array", "items": {"type": "string"}, "maxItems": 0},
            "when": {"type": "string", "format": "date-time"},
            "optional": {"type": "string"},
        },
        "required": ["legs", "maybe", "score", "ratio", "kind", "empty", "when"],
    }
    assert example_for_schema(schema) == {
        "legs": [{"qty": 1}, {"qty": 1}],
        "maybe": "okkkk",
        "score": 5,
        "ratio": 0.5,
        "kind": "a",
        "empty": [],
        "when": "2024-01-02T03:04:05Z",
    }


def test_example_reads_constraints_anthropic_moved_into_descriptions() -> None:
    schema = {"type": "number", "description": "Fraction.\n\n{minimum: 0.2, maximum: 0.4}"}
    assert example_for_schema(schema) == pytest.approx(0.3)
    assert (
        example_for_schema({"type": "string", "description": "{pattern: ^(day|gtc)$, maxLength: 3}"}) == "day"
    )


# --- benchmark entry point -----------------------------------------------------------------------


@pytest.fixture
def cli_server() -> Iterator[str]:
    """The module run as a script on a free port; yields its OpenAI base URL."""
    command = [sys.executable, "-m", "tests.fakes.llm_server", "--port", "0", "--delay", "0.05"]
    with subprocess.Popen(command, cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True) as process:  # noqa: S603
        try:
            assert process.stdout is not None
            banner = process.stdout.readline()
            yield banner.split()[2]
        finally:
            process.terminate()
            process.wait(timeout=5)


def test_runs_as_a_script_for_benchmarks(cli_server: str) -> None:
    client = openai.OpenAI(base_url=cli_server, api_key="test-key", max_retries=0, timeout=TIMEOUT_S)
    with client:
        completion = client.chat.completions.parse(
            model=OPENAI_MODEL, messages=MESSAGES, response_format=Verdict
        )
    assert completion.choices[0].message.parsed is not None
