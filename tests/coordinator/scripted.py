"""A scripted test provider and panel factory for coordinator tests.

:class:`ScriptedProvider` answers each call from a script keyed by (tier, role): a fixed analyst
output, raw text (invalid JSON), a provider error, a delay, or a hang; an optional async ``hook``
runs inside the call (e.g. to cancel the debate, or to look at the database mid-debate). Judges
default to the rules judge over the views they are given, so decisions stay realistic.

It is registered through ``agents.providers.register_provider`` under the name of a remote
provider (``openai_compatible``), because a profile's provider is constrained to the real names;
the profiles :func:`scripted_panel` creates point at a closed local port and are never contacted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from agents.models import ANALYST_ROLES, AgentProfile, Mode, Panel, PanelSeat, PanelStage, Role, Tier
from agents.providers.base import AgentRequest, ProviderCall, ProviderError, ProviderReply, Usage
from agents.providers.rules import judge as rules_judge
from agents.schemas import AnalystOutput, JudgeOutput, RiskLevel, Stance

PROVIDER_NAME = "openai_compatible"
#: Two analysts of five (bear, technical_analyst) disagree with the rest, all at confidence 0.8.
TWO_DISSENT = {
    "bull": ("bullish", 0.8),
    "bear": ("bearish", 0.8),
    "risk_manager": ("bullish", 0.8),
    "technical_analyst": ("bearish", 0.8),
    "fundamental_analyst": ("bullish", 0.8),
}  # agreement 3 * 0.8 / 4.0 = 0.6
Hook = Callable[[AgentRequest], Awaitable[None]]


def analyst(stance: str, confidence: float, risk: str | None = None) -> AnalystOutput:
    return AnalystOutput(
        stance=Stance(stance),
        confidence=confidence,
        signals=[],
        reasoning=f"scripted {stance} at {confidence}",
        key_risks=[],
        risk_level=RiskLevel(risk) if risk else None,
    )


def judge_output(action: str, confidence: float) -> JudgeOutput:
    return JudgeOutput(
        action=action,  # type: ignore[arg-type]
        size=0.5 if action != "hold" else 0.0,
        confidence=confidence,
        rationale=f"scripted {action}",
        risk_checks=[],
        order_intent=None,
    )


@dataclass
class Answer:
    output: BaseModel | None = None
    text: str | None = None
    delay_s: float = 0.0
    hang: bool = False
    error: str | None = None
    hook: Hook | None = None
    raise_exc: BaseException | None = None


@dataclass
class ScriptedProvider:
    name: str = "scripted"
    script: dict[tuple[str, str], Answer | Callable[[AgentRequest], Answer]] = field(default_factory=dict)
    calls: list[AgentRequest] = field(default_factory=list)
    tokens: tuple[int, int] = (1000, 200)

    def set(self, tier: str, role: str, answer: Answer | Callable[[AgentRequest], Answer]) -> None:
        self.script[(tier, role)] = answer

    def calls_for(self, *, tier: str | None = None, role: str | None = None) -> list[AgentRequest]:
        return [
            c
            for c in self.calls
            if (tier is None or c.profile.tier == tier) and (role is None or c.role == role)
        ]

    async def complete(self, call: ProviderCall) -> ProviderReply:
        request = call.request
        assert request is not None, "the gateway passes the original request along"
        self.calls.append(request)
        item = self.script.get((request.profile.tier, request.role))
        answer = item(request) if callable(item) else item or Answer()
        if answer.hook is not None:
            await answer.hook(request)
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        if answer.hang:
            await asyncio.sleep(3600)
        if answer.raise_exc is not None:
            raise answer.raise_exc
        if answer.error is not None:
            raise ProviderError(answer.error, f"scripted {answer.error}", retryable=False)
        usage = Usage(input_tokens=self.tokens[0], output_tokens=self.tokens[1])
        if answer.text is not None:
            return ProviderReply(text=answer.text, usage=usage, prompt_version="scripted-v1")
        output = answer.output or self._default(request)
        return ProviderReply(
            text=output.model_dump_json(), parsed=output, usage=usage, prompt_version="scripted-v1"
        )

    @staticmethod
    def _default(request: AgentRequest) -> BaseModel:
        if request.role == Role.JUDGE:
            return rules_judge(request.analyst_views, False, quorum=request.quorum)
        return analyst("bullish", 0.8)


def _profile(panel_name: str, role: str, tier: str, mode: str) -> AgentProfile:
    return AgentProfile.objects.create(
        name=f"{panel_name}-{role}-{tier}",
        role=role,
        provider=PROVIDER_NAME,
        model="scripted-large" if tier == Tier.POWERFUL else "scripted-small",
        tier=tier,
        mode=mode,
        base_url="http://127.0.0.1:9/v1",
        price_input_per_mtok=Decimal("10") if tier == Tier.POWERFUL else Decimal("0.5"),
        price_output_per_mtok=Decimal("30") if tier == Tier.POWERFUL else Decimal("1.5"),
    )


def scripted_panel(
    name: str = "scripted",
    *,
    analysts: tuple[str, ...] = ANALYST_ROLES,
    escalation: tuple[str, ...] = ANALYST_ROLES,
    escalation_judge: bool = True,
    **fields: Any,
) -> Panel:
    """A panel of scripted profiles: cheap first-round seats, escalation-only powerful seats."""
    panel = Panel.objects.create(name=name, **fields)
    for role in analysts:
        profile = _profile(name, role, Tier.CHEAP, Mode.CHEAP_FIRST)
        PanelSeat.objects.create(panel=panel, stage=PanelStage.ANALYST, role=role, profile=profile)
    for role in escalation:
        profile = _profile(name, role, Tier.POWERFUL, Mode.ESCALATION_ONLY)
        PanelSeat.objects.create(panel=panel, stage=PanelStage.ESCALATION, role=role, profile=profile)
    PanelSeat.objects.create(
        panel=panel,
        stage=PanelStage.JUDGE,
        role=Role.JUDGE,
        profile=_profile(name, Role.JUDGE, Tier.CHEAP, Mode.CHEAP_FIRST),
    )
    if escalation_judge:
        PanelSeat.objects.create(
            panel=panel,
            stage=PanelStage.ESCALATION_JUDGE,
            role=Role.JUDGE,
            profile=_profile(name, Role.JUDGE, Tier.POWERFUL, Mode.ESCALATION_ONLY),
        )
    return panel


def script_analysts(provider: ScriptedProvider, tier: str, stances: dict[str, tuple[str, float]]) -> None:
    """Script every listed role of ``tier`` with a fixed stance and confidence."""
    for role, (stance, confidence) in stances.items():
        provider.set(tier, role, Answer(output=analyst(stance, confidence)))
