"""The `rules` provider: deterministic, honest analysts on hand-built bar series, and the judge's vote."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest
from pydantic import ValidationError

from agents import gateway, indicators
from agents.gateway import CallStatus, run_agent
from agents.models import ANALYST_ROLES, Role
from agents.providers.base import AgentRequest, ProfileSpec, ProviderCall, ProviderReply, Usage
from agents.providers.rules import MIN_BARS, RulesProvider, judge
from agents.schemas import (
    Account,
    Action,
    AnalystOutput,
    AnalystView,
    BarData,
    JudgeOutput,
    MarketContext,
    Quote,
    RiskLevel,
    Signal,
    Stance,
)

PROVIDER = RulesProvider()


# --- building contexts by hand ------------------------------------------------------------------------


def _bars(returns: list[float], *, start: float = 100.0, wick: float = 0.005) -> list[BarData]:
    """One bar per daily return: open at the previous close, high/low a ``wick`` beyond the body."""
    bars, price, day = [], start, dt.date(2023, 1, 2)
    for r in returns:
        o, c = price, price * (1 + r)
        h, lo = max(o, c) * (1 + wick), min(o, c) * (1 - wick)
        bars.append(
            BarData(
                date=day,
                open=Decimal(f"{o:.4f}"),
                high=Decimal(f"{h:.4f}"),
                low=Decimal(f"{lo:.4f}"),
                close=Decimal(f"{c:.4f}"),
                volume=1000,
            )
        )
        price, day = c, day + dt.timedelta(days=1)
    return bars


def uptrend(n: int = 260) -> list[BarData]:
    """Up 1.2 %, up 1.0 %, down 0.6 %, repeated: a steady climb with pullbacks (RSI stays finite)."""
    return _bars([(0.012, 0.010, -0.006)[i % 3] for i in range(n)])


def downtrend(n: int = 260) -> list[BarData]:
    return _bars([(-0.012, -0.010, 0.006)[i % 3] for i in range(n)])


def violent(n: int = 260) -> list[BarData]:
    """Whipsaw of +9 % / -8.5 % days with wide wicks: no trend, extreme volatility."""
    return _bars([0.09 if i % 2 else -0.085 for i in range(n)], wick=0.02)


def flat(n: int = 60) -> list[BarData]:
    return _bars([0.0] * n, wick=0.0)


def _context(bars: list[BarData], symbol: str = "TEST") -> MarketContext:
    last = bars[-1]
    previous = bars[-2].close if len(bars) > 1 else None
    cash = Decimal(100000)
    return MarketContext(
        symbol=symbol,
        as_of=last.date,
        quote=Quote(
            symbol=symbol,
            as_of=last.date,
            price=last.close,
            previous_close=previous,
            change_pct=float(last.close / previous - 1) if previous else None,
            source="test",
        ),
        bars=bars,
        account=Account(cash=cash, equity=cash, buying_power=cash, source="paper"),
        positions=[],
    )


def _profile(role: str, *, deep: bool = False) -> ProfileSpec:
    depth = "deep" if deep else "quick"
    return ProfileSpec(
        id=1,
        name=f"rules-{role}-{depth}",
        role=role,
        provider="rules",
        model=f"rules-v1-{depth}",
        tier="powerful" if deep else "cheap",
        params={"depth": depth},
    )


def ask(role: str, bars: list[BarData], *, deep: bool = False) -> AnalystOutput:
    reply = PROVIDER.complete_sync(AgentRequest(profile=_profile(role, deep=deep), context=_context(bars)))
    assert isinstance(reply.parsed, AnalystOutput)
    return reply.parsed


def test_analysts_of_one_context_share_one_indicator_computation() -> None:
    up, down = _context(uptrend()), _context(downtrend())
    first = indicators.computed_once(up.bars)
    assert indicators.computed_once(up.bars) is first  # the second analyst of the debate reuses it
    assert first == indicators.compute(up.bars)
    assert indicators.computed_once(down.bars) == indicators.compute(down.bars) != first
    # Each analyst still answers exactly as with a fresh computation, whatever ran before.
    for role in ANALYST_ROLES:
        assert (
            ask(role, uptrend())
            == PROVIDER.complete_sync(AgentRequest(profile=_profile(role), context=up)).parsed
        )


def _view(role: str, stance: Stance, confidence: float, risk: RiskLevel | None = None) -> AnalystView:
    output = AnalystOutput(
        stance=stance, confidence=confidence, signals=[], reasoning="t", key_risks=[], risk_level=risk
    )
    return AnalystView(role=role, output=output)


SERIES = {"uptrend": uptrend, "downtrend": downtrend, "violent": violent, "flat": flat}


# --- determinism ------------------------------------------------------------------------------------


@pytest.mark.parametrize("series", SERIES)
@pytest.mark.parametrize("deep", [False, True])
@pytest.mark.parametrize("role", [*ANALYST_ROLES, Role.JUDGE])
def test_rules_same_context_gives_identical_json(series, deep, role):
    def once() -> ProviderReply:
        context = _context(SERIES[series]())  # rebuilt each time: equal input, not the same object
        views = tuple(_view(r, Stance.BULLISH, 0.6) for r in ANALYST_ROLES) if role == Role.JUDGE else ()
        return PROVIDER.complete_sync(
            AgentRequest(profile=_profile(role, deep=deep), context=context, analyst_views=views)
        )

    first, second = once(), once()
    assert first.text == second.text
    assert first.parsed == second.parsed
    assert first.prompt_version == second.prompt_version == "rules-v1"
    expected = JudgeOutput if role == Role.JUDGE else AnalystOutput
    assert expected.model_validate_json(first.text) == first.parsed


def test_rules_async_and_sync_answers_match():
    request = AgentRequest(profile=_profile(Role.TECHNICAL_ANALYST), context=_context(uptrend()))
    call = ProviderCall(
        profile=request.profile,
        system="",
        user="",
        output_model=AnalystOutput,
        schema_name="analyst",
        schema_instructions="",
        max_tokens=1,
        timeout_s=1.0,
        request=request,
    )
    assert asyncio.run(PROVIDER.complete(call)).text == PROVIDER.complete_sync(request).text


def test_rules_cost_nothing_through_the_gateway():
    result = asyncio.run(run_agent(AgentRequest(profile=_profile(Role.BULL), context=_context(uptrend()))))
    assert result.status == CallStatus.OK
    assert result.valid
    assert result.usage == Usage()
    assert result.cost_usd == Decimal(0)
    assert result.error == ""


# --- honest analysts on crafted series --------------------------------------------------------------


@pytest.mark.parametrize("deep", [False, True])
def test_rules_uptrend_bull_and_technical_are_bullish(deep):
    bull = ask(Role.BULL, uptrend(), deep=deep)
    assert bull.stance == Stance.BULLISH
    assert 0.45 <= bull.confidence <= 0.95
    assert "Rules fired for bullish" in bull.reasoning
    assert "close_vs_sma_50" in bull.reasoning
    technical = ask(Role.TECHNICAL_ANALYST, uptrend(), deep=deep)
    assert technical.stance == Stance.BULLISH
    assert technical.reasoning.startswith("Net technical score +")
    bear = ask(Role.BEAR, uptrend(), deep=deep)
    assert bear.stance == Stance.NEUTRAL  # the bear concedes instead of arguing against the evidence
    assert "case is weak" in bear.reasoning
    risk = ask(Role.RISK_MANAGER, uptrend(), deep=deep)
    assert risk.risk_level == RiskLevel.LOW and risk.stance == Stance.NEUTRAL


@pytest.mark.parametrize("deep", [False, True])
def test_rules_downtrend_bear_is_bearish(deep):
    bear = ask(Role.BEAR, downtrend(), deep=deep)
    assert bear.stance == Stance.BEARISH
    assert "Rules fired for bearish" in bear.reasoning
    assert "close_vs_sma_50" in bear.reasoning
    assert ask(Role.BULL, downtrend(), deep=deep).stance == Stance.NEUTRAL
    assert ask(Role.TECHNICAL_ANALYST, downtrend(), deep=deep).stance != Stance.BULLISH


@pytest.mark.parametrize("deep", [False, True])
def test_rules_violent_series_risk_manager_flags_high_risk(deep):
    risk = ask(Role.RISK_MANAGER, violent(), deep=deep)
    assert risk.risk_level == RiskLevel.HIGH
    assert risk.stance == Stance.BEARISH
    assert risk.confidence >= 0.65
    assert "Breached: volatility_20d" in risk.reasoning
    assert any(k.startswith("volatility_20d") for k in risk.key_risks)
    breached = {s.name for s in risk.signals if s.reading == Stance.BEARISH}
    assert {"volatility_20d", "atr_pct_14"} <= breached


def test_rules_deep_risk_manager_is_stricter():
    # A trend with a 17 % drawdown: inside the quick limit (20 %), beyond the deep one (15 %).
    bars = _bars([0.004] * 200 + [-0.0062] * 30)
    quick, deep = ask(Role.RISK_MANAGER, bars), ask(Role.RISK_MANAGER, bars, deep=True)
    assert quick.risk_level != RiskLevel.HIGH
    assert deep.risk_level == RiskLevel.HIGH
    assert "drawdown_60d" in deep.reasoning


@pytest.mark.parametrize("series", SERIES)
@pytest.mark.parametrize("deep", [False, True])
def test_rules_fundamental_is_always_neutral_and_says_it_has_no_data(series, deep):
    output = ask(Role.FUNDAMENTAL_ANALYST, SERIES[series](), deep=deep)
    assert output.stance == Stance.NEUTRAL
    assert output.confidence <= 0.1
    assert output.reasoning.startswith("No fundamental data")
    assert all(s.reading == Stance.NEUTRAL for s in output.signals)


@pytest.mark.parametrize("role", ANALYST_ROLES)
def test_rules_flat_market_argues_for_nobody(role):
    output = ask(role, flat())
    assert output.stance == Stance.NEUTRAL
    assert all(s.reading == Stance.NEUTRAL for s in output.signals), output.signals


@pytest.mark.parametrize("role", ANALYST_ROLES)
@pytest.mark.parametrize("n", [1, 2, MIN_BARS - 1])
def test_rules_too_few_bars_takes_no_view(role, n):
    output = ask(role, uptrend(n))
    assert output.stance == Stance.NEUTRAL
    assert output.confidence == 0.05
    assert "no view" in output.reasoning
    assert f"Only {n} bars" in output.reasoning
    assert output.signals == []


@pytest.mark.parametrize("role", ANALYST_ROLES)
def test_rules_thirty_bars_is_enough_for_a_view(role):
    output = ask(role, uptrend(MIN_BARS))
    assert "no view" not in output.reasoning


def test_rules_signals_are_bounded_and_valid():
    for role in ANALYST_ROLES:
        for series in SERIES.values():
            output = ask(role, series(), deep=True)
            assert 0 <= output.confidence <= 0.95
            assert len(output.signals) <= 20
            assert all(isinstance(s, Signal) for s in output.signals)


# --- the judge --------------------------------------------------------------------------------------


def test_judge_all_bullish_high_confidence_buys_with_an_order_intent():
    views = tuple(_view(r, Stance.BULLISH, 0.9) for r in ANALYST_ROLES)
    decision = judge(views, deep=False)
    assert decision.action == Action.BUY
    assert decision.size == 1.0
    assert decision.confidence == 0.95
    intent = decision.order_intent
    assert intent is not None
    assert intent.side == Action.BUY
    assert intent.size_fraction == decision.size
    assert (intent.order_type, intent.time_in_force, intent.limit_price) == ("market", "day", None)
    assert all(check.passed for check in decision.risk_checks)


def test_judge_all_bearish_sells():
    decision = judge(tuple(_view(r, Stance.BEARISH, 0.8) for r in ANALYST_ROLES), deep=False)
    assert decision.action == Action.SELL
    assert decision.order_intent is not None and decision.order_intent.side == Action.SELL


def test_judge_mixed_views_hold_without_an_order_intent():
    views = (
        _view(Role.BULL, Stance.BULLISH, 0.8),
        _view(Role.BEAR, Stance.BEARISH, 0.8),
        _view(Role.TECHNICAL_ANALYST, Stance.BULLISH, 0.5),
        _view(Role.RISK_MANAGER, Stance.BEARISH, 0.5, RiskLevel.MEDIUM),
        _view(Role.FUNDAMENTAL_ANALYST, Stance.NEUTRAL, 0.1),
    )
    decision = judge(views, deep=False)
    assert decision.action == Action.HOLD
    assert decision.size == 0.0
    assert decision.order_intent is None
    assert "+0.00" in decision.rationale
    conviction = next(c for c in decision.risk_checks if c.name == "conviction")
    assert conviction.passed is False


def test_judge_high_risk_halves_the_size():
    def views(level: RiskLevel) -> tuple[AnalystView, ...]:
        return (
            *(_view(r, Stance.BULLISH, 0.9) for r in ANALYST_ROLES if r != Role.RISK_MANAGER),
            _view(Role.RISK_MANAGER, Stance.BULLISH, 0.9, level),
        )

    calm, risky = judge(views(RiskLevel.LOW), deep=False), judge(views(RiskLevel.HIGH), deep=False)
    assert calm.action == risky.action == Action.BUY
    assert risky.size == pytest.approx(calm.size / 2)
    assert risky.order_intent is not None and risky.order_intent.size_fraction == risky.size
    assert "size halved" in risky.rationale
    check = next(c for c in risky.risk_checks if c.name == "risk_level")
    assert check.passed is False


def test_judge_high_risk_raises_the_bar():
    # Score 0.30: a buy at the normal bar (0.25), a hold once high risk lifts it to 0.35.
    def views(level: RiskLevel) -> tuple[AnalystView, ...]:
        return (
            _view(Role.BULL, Stance.BULLISH, 0.6),
            _view(Role.BEAR, Stance.NEUTRAL, 0.9),
            _view(Role.RISK_MANAGER, Stance.NEUTRAL, 0.5, level),
        )

    assert judge(views(RiskLevel.LOW), deep=False).action == Action.BUY
    assert judge(views(RiskLevel.HIGH), deep=False).action == Action.HOLD


def test_judge_deep_needs_more_conviction():
    views = (_view(Role.BULL, Stance.BULLISH, 0.28), _view(Role.BEAR, Stance.NEUTRAL, 0.72))
    assert judge(views, deep=False).action == Action.BUY
    assert judge(views, deep=True).action == Action.HOLD


def test_judge_with_no_confidence_holds():
    decision = judge(tuple(_view(r, Stance.BULLISH, 0.0) for r in ANALYST_ROLES), deep=False)
    assert decision.action == Action.HOLD and decision.size == 0.0 and decision.confidence == 0.0
    assert judge((), deep=False).action == Action.HOLD


def test_judge_reports_a_missed_quorum():
    decision = judge((_view(Role.BULL, Stance.BULLISH, 0.9),), deep=False, quorum=3)
    quorum = next(c for c in decision.risk_checks if c.name == "quorum")
    assert quorum.passed is False
    assert quorum.detail == "1 valid analysts (quorum 3)"


# --- validation of role outputs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [{"confidence": 1.5}, {"confidence": -0.1}, {"stance": "euphoric"}, {"surprise": True}],
)
def test_analyst_output_refuses_invalid_values(change):
    data = {
        "stance": "bullish",
        "confidence": 0.5,
        "signals": [],
        "reasoning": "r",
        "key_risks": [],
        "risk_level": None,
        **change,
    }
    with pytest.raises(ValidationError):
        AnalystOutput.model_validate(data)


class _GarbageProvider:
    name = "garbage"

    def __init__(self, text: str) -> None:
        self.text = text

    async def complete(self, request: AgentRequest) -> ProviderReply:
        return ProviderReply(text=self.text)


@pytest.mark.parametrize(
    "text",
    [
        "not json at all",
        '{"stance": "bullish", "confidence": 1.7, "signals": [], "reasoning": "", "key_risks": [],'
        ' "risk_level": null}',
        '{"stance": "bullish"}',
    ],
)
def test_gateway_records_an_invalid_answer_instead_of_raising(monkeypatch, text):
    monkeypatch.setattr(gateway, "get_provider", lambda name: _GarbageProvider(text))
    result = asyncio.run(run_agent(AgentRequest(profile=_profile(Role.BULL), context=_context(uptrend()))))
    assert result.status == CallStatus.INVALID_OUTPUT
    assert result.output is None and not result.valid
    assert result.raw_text == text
    # The gateway says why it gave up: the validation error, or the repair step that failed after it.
    assert any(word in result.error.lower() for word in ("validation", "repair"))
