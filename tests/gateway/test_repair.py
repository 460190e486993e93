"""The JSON repair pipeline: strict -> local (json-repair) -> repair profile -> abstain."""

from __future__ import annotations

import json

import pytest

from agents.gateway import CallStatus, RepairedBy
from tests.fakes.llm_server import FakeLLMServer, Reply, Script
from tests.gateway.conftest import analysis, ask, is_analysis, make_profile

pytestmark = pytest.mark.django_db

TRUNCATED_MISSING_FIELDS = '{"stance": "bullish", "confidence": 0.8, "signals": [], "reasoning": "strong earn'


def test_fenced_json_with_prose_is_repaired_locally(fake_llm: FakeLLMServer) -> None:
    text = "Here is my analysis:\n```json\n" + json.dumps(analysis(stance="bearish")) + ",\n```\nThanks."
    fake_llm.responder = Script([Reply.text(text)])

    result = ask(make_profile(fake_llm.openai_base_url))

    assert is_analysis(result) and result.output.stance == "bearish"
    assert result.repaired_by == RepairedBy.LOCAL
    assert result.status == CallStatus.OK
    assert [a.status for a in result.attempts] == [CallStatus.REPAIRED]
    assert result.raw_text == text  # the message keeps what the model actually said
    assert result.error.startswith("Repaired locally")


def test_truncated_json_is_closed_locally(fake_llm: FakeLLMServer) -> None:
    payload = analysis()
    del payload["reasoning"]
    full = json.dumps({**payload, "reasoning": "a long reason"})  # cut inside the last field
    fake_llm.responder = Script([Reply.text(full[: full.index("a long") + 6], truncated=True)])
    profile = make_profile(fake_llm.openai_base_url)

    result = ask(profile)

    assert result.repaired_by == RepairedBy.LOCAL
    assert result.output.reasoning == "a long"
    assert "output-token limit" in result.attempts[0].error


def test_missing_nullable_field_is_filled_with_null_locally(fake_llm: FakeLLMServer) -> None:
    payload = analysis()
    del payload["risk_level"]
    fake_llm.responder = Script([Reply.text(json.dumps(payload))])

    result = ask(make_profile(fake_llm.openai_base_url))

    assert result.repaired_by == RepairedBy.LOCAL and result.output.risk_level is None


def test_repair_profile_fixes_what_local_repair_cannot(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.text(TRUNCATED_MISSING_FIELDS), Reply.ok(analysis(reasoning="fixed"))])
    repairer = make_profile(fake_llm.openai_base_url, name="repairer", role="bear", params={"max_retries": 0})
    profile = make_profile(fake_llm.openai_base_url, repair_profile=repairer)

    result = ask(profile)

    assert result.valid and result.output.reasoning == "fixed"
    assert result.repaired_by == RepairedBy.MODEL
    assert [(a.purpose, a.profile.name, a.status) for a in result.attempts] == [
        ("analysis", profile.name, CallStatus.INVALID_OUTPUT),
        ("repair", "repairer", CallStatus.OK),
    ]
    assert result.profile.name == profile.name  # the analyst answered; the repairer only fixed JSON
    repair_request = fake_llm.requests[1].json["messages"]
    assert "strong earn" in repair_request[1]["content"]
    assert "key_risks" in repair_request[1]["content"]  # the validation errors are passed on
    assert result.attempts[1].prompt_version.startswith("v1/repair@")
    assert all(a.role == "bull" for a in result.attempts)


def test_wrong_schema_without_repair_profile_abstains_and_keeps_the_raw_text(fake_llm: FakeLLMServer) -> None:
    wrong = json.dumps(analysis(stance="very bullish", confidence=3))
    fake_llm.responder = Script([Reply.text(wrong)])

    result = ask(make_profile(fake_llm.openai_base_url))

    assert not result.valid
    assert result.status == CallStatus.INVALID_OUTPUT
    assert result.raw_text == wrong
    assert "stance" in result.error and "confidence" in result.error
    assert [a.status for a in result.attempts] == [CallStatus.INVALID_OUTPUT]
    assert len(fake_llm.requests) == 1  # invalid output is not retried, nor sent to a fallback


def test_repair_profile_that_fails_too_means_abstain(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.text("I think it will go up."), Reply.text("Still not JSON.")])
    repairer = make_profile(fake_llm.openai_base_url, name="repairer2", params={"max_retries": 0})
    result = ask(make_profile(fake_llm.openai_base_url, repair_profile=repairer))

    assert not result.valid
    assert [a.status for a in result.attempts] == [CallStatus.INVALID_OUTPUT, CallStatus.INVALID_OUTPUT]
    assert "did not fix it" in result.error
    assert result.raw_text == "I think it will go up."


def test_refusal_is_invalid_output_without_a_repair_call(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.ok(refusal="I can't help with trading.")])
    repairer = make_profile(fake_llm.openai_base_url, name="repairer3")

    result = ask(make_profile(fake_llm.openai_base_url, repair_profile=repairer))

    assert not result.valid and "refused" in result.error
    assert len(fake_llm.requests) == 1


def test_missing_usage_leaves_tokens_and_cost_unknown(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = Script([Reply.ok(analysis(), omit_usage=True)])

    result = ask(make_profile(fake_llm.openai_base_url, provider="openai", model="gpt-4o-mini"))

    assert result.valid
    [attempt] = result.attempts
    assert attempt.usage is None and attempt.cost_usd is None
    assert result.cost_usd is None
