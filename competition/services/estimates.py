"""What a competition will cost before it runs: debates x calls x tokens x prices.

For every trader the engine's own calendar gives the number of debates. Each debate asks the panel's
first-round analysts and its judge, and with probability ``p_escalation`` the escalation seats too.
A seat's price per call comes, in order of preference, from:

1. the ledger's history for that profile (mean cost and tokens of its recent priced calls, and how
   many calls - retries, fallbacks, repairs - one answer took);
2. the profile's prices (its override, or the price database) applied to a conservative token
   allowance: ``ARENA_COMPETITION_ESTIMATE_INPUT_TOKENS`` in, the profile's ``max_tokens`` out;
3. ``rules`` profiles cost nothing.

A profile with no history and no known price makes the estimate unknown (``None``), and an unknown
estimate never passes a budget without confirmation. The escalation share comes from the panel's
recent debates; with too few of them every debate is assumed to escalate (conservative).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any

from django.conf import settings
from django.db.models import Avg, Count, Q

from agents.models import AgentProfile, Panel, PanelSeat, PanelStage, Provider
from agents.pricing import worst_case_cost
from agents.providers.base import ProfileSpec
from debates.models import DebateConsensus, LlmCall

from ..calendar import is_rebalance_day, symbol_days, trading_days
from ..models import TraderProfile

USD_Q = Decimal("0.000001")
HISTORY_CALLS = 200
HISTORY_SESSIONS = 200
MIN_ESCALATION_HISTORY = 20
FIRST_ROUND = (PanelStage.ANALYST, PanelStage.JUDGE)
ESCALATION = (PanelStage.ESCALATION, PanelStage.ESCALATION_JUDGE)


@dataclass(frozen=True)
class SeatEstimate:
    profile: str
    stage: str
    provider: str
    calls_per_answer: float
    tokens_per_call: float
    cost_per_call_usd: Decimal | None
    source: str  # "rules" | "ledger" | "prices" | "unknown"


@dataclass(frozen=True)
class TraderEstimate:
    trader: str
    panel: str
    debates: int
    p_escalation: float
    p_escalation_source: str
    calls: float
    tokens: float
    cost_usd: Decimal | None
    seats: list[SeatEstimate] = field(default_factory=list)


@dataclass(frozen=True)
class CostEstimate:
    debates: int
    calls: float
    tokens: float
    cost_usd: Decimal | None
    traders: list[TraderEstimate]

    @property
    def unknown_profiles(self) -> list[str]:
        return sorted({s.profile for t in self.traders for s in t.seats if s.cost_per_call_usd is None})

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["unknown_profiles"] = self.unknown_profiles
        return _jsonable(data)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, float):
        return round(value, 4)
    return value


def debate_count(*, frequency: str, symbols: Sequence[str], start: dt.date, end: dt.date) -> int:
    """How many debates one trader holds over the period: exactly what the engine will run."""
    days = trading_days(symbols, start, end)
    per_symbol = symbol_days(symbols, start, end)
    return sum(
        sum(1 for s in symbols if day in per_symbol[s])
        for i, day in enumerate(days)
        if is_rebalance_day(days, i, frequency)
    )


def _seat(profile: AgentProfile, stage: str) -> SeatEstimate:
    if profile.provider == Provider.RULES:
        return SeatEstimate(profile.name, stage, profile.provider, 1.0, 0.0, Decimal(0), "rules")
    recent = list(
        LlmCall.objects.filter(profile=profile)
        .order_by("-created_at")
        .values_list("pk", flat=True)[:HISTORY_CALLS]
    )
    if recent:
        stats = LlmCall.objects.filter(pk__in=recent).aggregate(
            calls=Count("id"),
            answers=Count("message", distinct=True),
            priced=Count("id", filter=Q(cost_usd__isnull=False)),
            cost=Avg("cost_usd"),
            tokens_in=Avg("input_tokens"),
            tokens_out=Avg("output_tokens"),
        )
        if stats["priced"]:
            per_answer = stats["calls"] / stats["answers"] if stats["answers"] else 1.0
            tokens = float(stats["tokens_in"] or 0) + float(stats["tokens_out"] or 0)
            mean = Decimal(stats["cost"]).quantize(USD_Q, rounding=ROUND_CEILING)
            return SeatEstimate(
                profile.name, stage, profile.provider, max(per_answer, 1.0), tokens, mean, "ledger"
            )
    spec = ProfileSpec.from_profile(profile)
    tokens_in = settings.ARENA_COMPETITION_ESTIMATE_INPUT_TOKENS
    tokens_out = int((profile.params or {}).get("max_tokens", settings.ARENA_LLM_MAX_TOKENS))
    cost = worst_case_cost(spec, input_tokens=tokens_in, output_tokens=tokens_out)
    return SeatEstimate(
        profile.name,
        stage,
        profile.provider,
        1.0,
        float(tokens_in + tokens_out),
        None if cost is None else cost.quantize(USD_Q, rounding=ROUND_CEILING),
        "prices" if cost is not None else "unknown",
    )


def _escalation_share(panel: Panel, has_escalation: bool) -> tuple[float, str]:
    if not has_escalation:
        return 0.0, "panel has no escalation seats"
    recent = list(
        DebateConsensus.objects.filter(session__panel=panel)
        .order_by("-created_at")
        .values_list("escalated", flat=True)[:HISTORY_SESSIONS]
    )
    if len(recent) < MIN_ESCALATION_HISTORY:
        return 1.0, f"only {len(recent)} past debates: every debate assumed to escalate"
    return sum(recent) / len(recent), f"share of the panel's last {len(recent)} debates"


def _trader(trader: TraderProfile, debates: int) -> TraderEstimate:
    seats = list(
        PanelSeat.objects.filter(panel=trader.panel, profile__active=True)
        .select_related("profile")
        .order_by("stage", "role")
    )
    estimates = [_seat(seat.profile, seat.stage) for seat in seats]
    p_esc, p_source = _escalation_share(trader.panel, any(s.stage in ESCALATION for s in estimates))
    calls = tokens = 0.0
    cost: Decimal | None = Decimal(0)
    for seat in estimates:
        weight = 1.0 if seat.stage in FIRST_ROUND else p_esc
        n_calls = debates * weight * seat.calls_per_answer
        calls += n_calls
        tokens += n_calls * seat.tokens_per_call
        if seat.cost_per_call_usd is None:
            if weight > 0:
                cost = None
        elif cost is not None:
            cost += seat.cost_per_call_usd * Decimal(str(n_calls))
    return TraderEstimate(
        trader=trader.name,
        panel=trader.panel.name,
        debates=debates,
        p_escalation=p_esc,
        p_escalation_source=p_source,
        calls=calls,
        tokens=tokens,
        cost_usd=None if cost is None else cost.quantize(USD_Q, rounding=ROUND_CEILING),
        seats=estimates,
    )


def competition_cost_estimate(
    *, traders: Sequence[TraderProfile], symbols: Sequence[str], start: dt.date, end: dt.date
) -> CostEstimate:
    """Estimate a backtest's LLM spend; the baselines never debate and cost nothing."""
    lines = [
        _trader(
            trader,
            debate_count(frequency=trader.rebalance_frequency, symbols=symbols, start=start, end=end),
        )
        for trader in traders
    ]
    return _total(lines)


def paper_cost_estimate(
    *, traders: Sequence[TraderProfile], symbols: Sequence[str], ticks: int
) -> CostEstimate:
    """Estimate a paper run of ``ticks`` ticks (each debates every symbol once per trader at most)."""
    return _total([_trader(trader, ticks * len(symbols)) for trader in traders])


def _total(lines: list[TraderEstimate]) -> CostEstimate:
    costs = [line.cost_usd for line in lines]
    total = None if any(c is None for c in costs) else sum((c for c in costs if c is not None), Decimal(0))
    return CostEstimate(
        debates=sum(line.debates for line in lines),
        calls=sum(line.calls for line in lines),
        tokens=sum(line.tokens for line in lines),
        cost_usd=total,
        traders=lines,
    )
