"""Versioned prompt templates, key redaction, the strict schema, and cancellation safety."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from asgiref.sync import async_to_sync
from django.test import override_settings

from agents.gateway import run_agent
from agents.models import BudgetReservation, BudgetWindow
from agents.prompts import PromptError, _context_values_once, available_versions, render_agent_prompt
from agents.providers.base import AgentRequest
from agents.providers.http import retry_after_seconds, strict_json_schema
from agents.redact import redact
from agents.schemas import AnalystOutput, AnalystView, JudgeOutput
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.gateway.conftest import VALID_ANALYSIS, ask, make_profile, market_context, spec_of


def test_prompt_version_names_the_role_and_hashes_the_templates() -> None:
    bull = render_agent_prompt(
        role="bull", context=market_context(), analyst_views=(), quorum=3, version="v1"
    )
    bear = render_agent_prompt(
        role="bear", context=market_context(), analyst_views=(), quorum=3, version="v1"
    )
    other_day = render_agent_prompt(
        role="bull", context=market_context(90), analyst_views=(), quorum=3, version="v1"
    )

    assert bull.version.startswith("v1/bull@") and len(bull.version) <= 64
    assert bull.version != bear.version
    assert bull.version == other_day.version  # the data changes, the instructions do not
    assert "ACME" in bull.user and "rsi_14" in bull.user and "$" not in bull.system
    assert "v1" in available_versions()


def test_agents_of_one_context_get_its_prompt_lines_built_once_and_each_its_own_role() -> None:
    context = market_context()
    same_values = market_context()  # equal, but another object: its own entry
    bull = render_agent_prompt(role="bull", context=context, analyst_views=(), quorum=3, version="v1")
    bear = render_agent_prompt(role="bear", context=context, analyst_views=(), quorum=3, version="v1")
    again = render_agent_prompt(role="bull", context=same_values, analyst_views=(), quorum=3, version="v1")

    assert _context_values_once(context) is _context_values_once(context)
    assert _context_values_once(same_values) is not _context_values_once(context)
    assert "role_title" not in _context_values_once(context)  # a role's values stay its own
    assert bull.user == again.user and bull.user != bear.user
    assert "bull" in bull.user.lower() and "bear" in bear.user.lower()


def test_judge_prompt_carries_the_analyst_views() -> None:
    view = AnalystView(role="bull", output=AnalystOutput.model_validate(VALID_ANALYSIS))
    prompt = render_agent_prompt(
        role="judge", context=market_context(), analyst_views=(view,), quorum=3, version="v1"
    )
    assert '"role":"bull"' in prompt.user and "quorum 3" in prompt.user
    assert prompt.version.startswith("v1/judge@")


def test_unknown_prompt_version_is_a_clear_error() -> None:
    with pytest.raises(PromptError, match="Unknown prompt version"):
        render_agent_prompt(role="bull", context=market_context(), analyst_views=(), quorum=3, version="v999")


@pytest.mark.django_db
def test_a_misconfigured_prompt_version_fails_the_call_not_the_debate(fake_llm: FakeLLMServer) -> None:
    with override_settings(ARENA_PROMPT_VERSION="v999"):
        result = ask(make_profile(fake_llm.openai_base_url))
    assert not result.valid and "Unknown prompt version" in result.error
    assert fake_llm.requests == []


def test_redact_removes_known_and_key_shaped_secrets(monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "plain-secret-value")
    text = (
        "key plain-secret-value, sk-ant-api03-abcdefghijklmnop, Authorization: Bearer abc.def.ghijklmnop "
        '{"api_key": "hunter2hunter2"} x-api-key=zzzzzzzzzz'
    )
    cleaned = redact(text, ["other-secret"])
    for secret in (
        "plain-secret-value",
        "sk-ant-api03",
        "abc.def.ghijklmnop",
        "hunter2hunter2",
        "zzzzzzzzzz",
    ):
        assert secret not in cleaned
    assert cleaned.count("[REDACTED]") == 5
    assert len(redact("x" * 5000)) == 2000
    url = redact("connect to https://bob:pa55word@llm.internal/v1?key=abc123&model=x failed")
    assert "pa55word" not in url and "abc123" not in url and "model=x" in url


def test_strict_schema_requires_every_property_and_forbids_extras() -> None:
    schema = strict_json_schema(JudgeOutput)

    def objects(node):
        if isinstance(node, dict):
            if node.get("type") == "object":
                yield node
            for value in node.values():
                yield from objects(value)
        elif isinstance(node, list):
            for item in node:
                yield from objects(item)

    found = list(objects(schema))
    assert len(found) >= 3
    for node in found:
        assert node["additionalProperties"] is False
        assert set(node["required"]) == set(node["properties"])


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after-ms": "150"}, 0.15),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_parsing(headers: dict, expected: float | None) -> None:
    assert retry_after_seconds(headers) == expected


@pytest.mark.django_db
def test_cancelled_call_still_settles_its_budget_hold(fake_llm: FakeLLMServer) -> None:
    fake_llm.responder = lambda _r: Reply.hung()
    profile = make_profile(
        fake_llm.openai_base_url,
        budget_usd=Decimal(1),
        price_input_per_mtok=Decimal(1),
        price_output_per_mtok=Decimal(1),
    )
    request = AgentRequest(profile=spec_of(profile), context=market_context())

    async def cancel_soon() -> None:
        task = asyncio.ensure_future(run_agent(request))
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    async_to_sync(cancel_soon)()

    reservation = BudgetReservation.objects.get()
    assert reservation.settled_at is not None and reservation.charged_usd == reservation.amount_usd
    assert BudgetWindow.objects.get().reserved_usd == 0
