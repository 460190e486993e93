"""Retries, backoff, Retry-After, timeouts, hung connections and the fallback chain, over real HTTP."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from agents.gateway import CallStatus
from agents.models import Provider
from tests.fakes.llm_server import FakeLLMServer, Reply, Script
from tests.gateway.conftest import analysis, ask, is_analysis, make_profile

pytestmark = pytest.mark.django_db


def statuses(result) -> list[str]:
    return [a.status for a in result.attempts]


def test_429_waits_for_retry_after_then_succeeds(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.rate_limited(retry_after="0.3"), Reply.ok(analysis())])

    result = ask(make_profile(fake_llm.openai_base_url))

    assert is_analysis(result)
    assert statuses(result) == [CallStatus.RATE_LIMITED, CallStatus.OK]
    first, second = fake_llm.requests
    assert second.received_at - first.received_at >= 0.3
    assert [a.attempt for a in result.attempts] == [1, 2]
    assert result.attempts[0].cost_usd == Decimal(0)  # an error response is not billed
    assert result.attempts[0].request_id is not None


def test_retry_after_longer_than_allowed_moves_to_the_fallback_at_once(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.rate_limited(retry_after="60"), Reply.ok(analysis())])
    fallback = make_profile(fake_llm.openai_base_url, name="fallback-bull")
    primary = make_profile(fake_llm.openai_base_url, fallbacks=(fallback,))

    started = time.monotonic()
    result = ask(primary)

    assert time.monotonic() - started < 2
    assert statuses(result) == [CallStatus.RATE_LIMITED, CallStatus.OK]
    assert result.profile.name == "fallback-bull"


def test_5xx_is_retried_with_backoff_up_to_max_retries(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.server_error(500), Reply.overloaded(), Reply.ok(analysis())])

    result = ask(make_profile(fake_llm.openai_base_url, params={"max_retries": 2}))

    assert statuses(result) == [CallStatus.PROVIDER_ERROR, CallStatus.PROVIDER_ERROR, CallStatus.OK]
    assert "HTTP 500" in result.attempts[0].error and "HTTP 529" in result.attempts[1].error
    assert result.valid and result.error == ""


def test_4xx_request_errors_are_not_retried(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.bad_request("max_tokens is too large")])

    result = ask(make_profile(fake_llm.openai_base_url, params={"max_retries": 3}))

    assert len(fake_llm.requests) == 1
    assert statuses(result) == [CallStatus.PROVIDER_ERROR]
    assert result.status == CallStatus.PROVIDER_ERROR and not result.valid
    assert "HTTP 400" in result.error


def test_fallback_chain_answers_when_the_primary_keeps_failing(fake_llm: FakeLLMServer) -> None:
    with FakeLLMServer(responder=lambda _r: Reply.server_error(503)) as broken:
        second = make_profile(fake_llm.openai_base_url, name="second")
        first = make_profile(
            broken.openai_base_url, name="first", fallbacks=(second,), params={"max_retries": 0}
        )
        primary = make_profile(
            broken.openai_base_url, name="primary", fallbacks=(first,), params={"max_retries": 1}
        )

        result = ask(primary)

    assert result.valid and result.profile.name == "second"
    assert [(a.profile.name, a.status) for a in result.attempts] == [
        ("primary", "provider_error"),
        ("primary", "provider_error"),
        ("first", "provider_error"),
        ("second", "ok"),
    ]
    assert [a.attempt for a in result.attempts] == [1, 2, 3, 4]


def test_fallback_to_rules_when_the_llm_is_down(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.server_error(500)])
    rules = make_profile(provider=Provider.RULES, model="rules-v1-quick", name="rules-backup")
    primary = make_profile(fake_llm.openai_base_url, fallbacks=(rules,), params={"max_retries": 0})

    result = ask(primary)

    assert result.valid and result.profile.name == "rules-backup"
    assert result.prompt_version == "rules-v1"


def test_slow_server_latency_is_measured(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.slow(0.25, analysis())])

    result = ask(make_profile(fake_llm.openai_base_url))

    assert result.valid
    assert result.attempts[0].latency_ms >= 250
    assert result.latency_ms >= result.attempts[0].latency_ms


def test_timeout_is_per_attempt_and_its_cost_is_unknown(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.slow(3.0, analysis()), Reply.ok(analysis())])

    started = time.monotonic()
    result = ask(make_profile(fake_llm.openai_base_url, params={"timeout_s": 0.3, "max_retries": 1}))

    assert time.monotonic() - started < 2.5
    assert statuses(result) == [CallStatus.TIMEOUT, CallStatus.OK]
    assert result.attempts[0].cost_usd is None  # it reached the server: it may have been billed
    assert result.cost_usd is None  # so the agent's total is unknown too
    assert 250 <= result.attempts[0].latency_ms < 2000


def test_hung_connection_times_out_and_falls_back(fake_llm: FakeLLMServer) -> None:
    with FakeLLMServer(responder=lambda _r: Reply.hung()) as hung:
        fallback = make_profile(fake_llm.openai_base_url, name="awake")
        primary = make_profile(
            hung.openai_base_url, fallbacks=(fallback,), params={"timeout_s": 0.3, "max_retries": 0}
        )

        result = ask(primary)

    assert statuses(result) == [CallStatus.TIMEOUT, CallStatus.OK]
    assert result.profile.name == "awake"


def test_dropped_connection_is_retried(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.disconnect(), Reply.ok(analysis())])

    result = ask(make_profile(fake_llm.openai_base_url))

    assert statuses(result) == [CallStatus.PROVIDER_ERROR, CallStatus.OK]
    assert "Connection error" in result.attempts[0].error


def test_request_timeout_caps_the_profile_timeout(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.slow(2.0, analysis())])

    started = time.monotonic()
    result = ask(make_profile(fake_llm.openai_base_url, params={"max_retries": 0}), timeout_s=0.2)

    assert time.monotonic() - started < 1.5
    assert result.status == CallStatus.TIMEOUT


def test_a_passed_deadline_stops_new_attempts(fake_llm: FakeLLMServer) -> None:
    result = ask(make_profile(fake_llm.openai_base_url), deadline=time.monotonic() - 1)

    assert fake_llm.requests == []
    assert result.status == CallStatus.TIMEOUT and not result.valid
    assert "deadline" in result.error


def test_every_profile_failing_returns_a_result_not_an_exception(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.server_error(500)])
    fallback = make_profile(fake_llm.openai_base_url, params={"max_retries": 0})
    primary = make_profile(fake_llm.openai_base_url, fallbacks=(fallback,), params={"max_retries": 0})

    result = ask(primary)

    assert not result.valid
    assert result.status == CallStatus.PROVIDER_ERROR
    assert result.profile.name == primary.name  # no one answered: the seat's own profile
    assert len(result.attempts) == 2
    assert result.error.startswith(f"2 attempts failed ({primary.name}, {fallback.name}); last: HTTP 500")
