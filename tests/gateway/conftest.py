"""Gateway test helpers: profiles pointed at the fake LLM server, a market context, a sync caller.

Everything goes through the real SDKs over HTTP to ``tests/fakes/llm_server.py``; nothing of ours
is mocked. ``ask`` runs the gateway under ``async_to_sync`` like the coordinator does, so budget
queries run on the test's thread and connection (and see its transaction).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from agents.gateway import AgentResult, run_agent
from agents.models import AgentProfile, Panel, PanelSeat, PanelStage, ProfileFallback, Provider, Role
from agents.providers.base import AgentRequest, ProfileSpec
from agents.providers.openai_compatible import forget_learned_modes
from agents.schemas import Account, AnalystOutput, BarData, MarketContext, Quote
from agents.selectors import profile_spec_get

VALID_ANALYSIS: dict[str, Any] = {
    "stance": "bullish",
    "confidence": 0.7,
    "signals": [{"name": "rsi_14", "value": 55.0, "reading": "neutral", "note": "mid-range"}],
    "reasoning": "Trend up, momentum positive.",
    "key_risks": ["Earnings surprise."],
    "risk_level": None,
}
OPENAI_KEY = "sk-test-openai-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-test-0123456789abcdef"


@pytest.fixture(autouse=True)
def _fast_gateway(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Short backoffs and timeouts, known keys, and no structured-output mode learned elsewhere."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test users
    settings.ARENA_LLM_BACKOFF_BASE_S = 0.01
    settings.ARENA_LLM_BACKOFF_MAX_S = 0.05
    settings.ARENA_LLM_TIMEOUT_S = 5.0
    settings.ARENA_LLM_RETRY_AFTER_MAX_S = 2.0
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    forget_learned_modes()
    yield
    forget_learned_modes()


def market_context(bars: int = 60) -> MarketContext:
    """A small rising series, enough for every indicator the prompt shows."""
    start = dt.date(2024, 1, 1)
    rows = []
    for i in range(bars):
        close = Decimal("100") + Decimal(i) / 2
        rows.append(
            BarData(
                date=start + dt.timedelta(days=i),
                open=close - 1,
                high=close + 1,
                low=close - 2,
                close=close,
                volume=1_000_000 + i,
            )
        )
    last = rows[-1]
    return MarketContext(
        symbol="ACME",
        as_of=last.date,
        quote=Quote(
            symbol="ACME",
            as_of=last.date,
            price=last.close,
            previous_close=rows[-2].close,
            change_pct=0.5,
            source="test",
        ),
        bars=rows,
        account=Account(
            cash=Decimal(100000), equity=Decimal(100000), buying_power=Decimal(100000), source="paper"
        ),
        positions=[],
    )


_counter = {"n": 0}


def make_profile(
    base_url: str = "",
    *,
    provider: str = Provider.OPENAI_COMPATIBLE,
    role: str = Role.BULL,
    model: str = "local-model",
    name: str | None = None,
    params: dict[str, Any] | None = None,
    fallbacks: tuple[AgentProfile, ...] = (),
    **fields: Any,
) -> AgentProfile:
    """A saved, validated profile; openai_compatible at ``base_url`` unless told otherwise."""
    _counter["n"] += 1
    profile = AgentProfile(
        name=name or f"{provider}-{role}-{_counter['n']}",
        role=role,
        provider=provider,
        model=model,
        base_url=base_url,
        params={**({} if provider == Provider.RULES else {"max_retries": 2}), **(params or {})},
        **fields,
    )
    profile.full_clean()
    profile.save()
    for position, fallback in enumerate(fallbacks, 1):
        ProfileFallback.objects.create(profile=profile, fallback=fallback, position=position)
    return profile


def spec_of(profile: AgentProfile) -> ProfileSpec:
    return profile_spec_get(profile=AgentProfile.objects.get(pk=profile.pk))


def ask(profile: AgentProfile, **request: Any) -> AgentResult:
    """Run the gateway for ``profile`` the way the coordinator does (under async_to_sync)."""
    return async_to_sync(run_agent)(
        AgentRequest(profile=spec_of(profile), context=market_context(), **request)
    )


def analysis(**changes: Any) -> dict[str, Any]:
    return {**VALID_ANALYSIS, **changes}


def is_analysis(result: AgentResult) -> bool:
    return isinstance(result.output, AnalystOutput)


def llm_panel(base_url: str, *, name: str = "llm-panel", **profile_fields: Any) -> Panel:
    """A default-shaped panel of openai_compatible profiles (five analysts and a judge) at ``base_url``."""
    panel = Panel.objects.create(name=name, quorum=3)
    for role in (*[r for r in Role.values if r != Role.JUDGE], Role.JUDGE):
        profile = make_profile(base_url, role=role, name=f"{name}-{role}", **profile_fields)
        stage = PanelStage.JUDGE if role == Role.JUDGE else PanelStage.ANALYST
        PanelSeat.objects.create(panel=panel, stage=stage, role=role, profile=profile)
    return panel
