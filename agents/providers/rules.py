"""The ``rules`` provider: deterministic analysts computed from indicators, honest about being rules.

Each role has its own logic and says in its reasoning which rules fired. No tokens, no cost, no
network: the same context always gives the same answer, which makes demos, tests and replays exact.
The ``depth`` call parameter ("quick" or "deep") selects the cheap or the powerful variant; the deep
one confirms trends across more horizons and is more conservative with its confidence.
"""

from __future__ import annotations

from collections.abc import Callable

from agents import indicators
from agents.indicators import Indicators
from agents.models import Role
from agents.providers.base import AgentRequest, ProviderCall, ProviderError, ProviderReply, Usage
from agents.schemas import (
    Action,
    AnalystOutput,
    AnalystView,
    JudgeOutput,
    OrderIntentSpec,
    RiskCheckResult,
    RiskLevel,
    Signal,
    Stance,
)

PROMPT_VERSION = "rules-v1"
MIN_BARS = 30


def _signal(name: str, value: float | None, reading: Stance, note: str) -> Signal:
    return Signal(name=name, value=None if value is None else round(value, 4), reading=reading, note=note)


def _direction(delta: float, scale: float, words: tuple[str, str, str]) -> tuple[Stance, str]:
    """Bullish above zero, bearish below; no difference at all (a flat market) argues for neither side.

    ``scale`` sets what counts as no difference, so float noise in an average of equal prices is flat.
    """
    if abs(delta) <= 1e-9 * abs(scale):
        return Stance.NEUTRAL, words[2]
    return (Stance.BULLISH, words[0]) if delta > 0 else (Stance.BEARISH, words[1])


def _trend_signals(ind: Indicators, deep: bool) -> list[Signal]:
    """Trend and momentum evidence shared by the bull, the bear and the technical analyst."""
    signals: list[Signal] = []
    position = ("above", "below", "at")
    if ind.sma_50 is not None:
        reading, word = _direction(ind.close - ind.sma_50, ind.close, position)
        signals.append(
            _signal(
                "close_vs_sma_50", ind.close / ind.sma_50 - 1, reading, f"close {word} its 50-day average"
            )
        )
    if ind.sma_20 is not None and ind.sma_50 is not None:
        reading, word = _direction(ind.sma_20 - ind.sma_50, ind.close, position)
        signals.append(
            _signal(
                "sma_20_vs_sma_50", ind.sma_20 / ind.sma_50 - 1, reading, f"20-day average {word} the 50-day"
            )
        )
    if ind.macd_hist is not None:
        reading, word = _direction(ind.macd_hist, ind.close, ("positive", "negative", "flat"))
        signals.append(_signal("macd_histogram", ind.macd_hist, reading, f"MACD histogram {word}"))
    if ind.return_20d is not None:
        reading, _word = _direction(ind.return_20d, 1.0, position)
        signals.append(_signal("return_20d", ind.return_20d, reading, f"{ind.return_20d:+.1%} over 20 days"))
    if deep and ind.sma_200 is not None:
        reading, word = _direction(ind.close - ind.sma_200, ind.close, position)
        signals.append(
            _signal(
                "close_vs_sma_200", ind.close / ind.sma_200 - 1, reading, f"close {word} its 200-day average"
            )
        )
    if deep and ind.return_60d is not None:
        reading, _word = _direction(ind.return_60d, 1.0, position)
        signals.append(_signal("return_60d", ind.return_60d, reading, f"{ind.return_60d:+.1%} over 60 days"))
    return signals


def _rsi_signal(ind: Indicators) -> Signal | None:
    if ind.rsi_14 is None:
        return None
    if ind.rsi_14 >= 70:
        return _signal("rsi_14", ind.rsi_14, Stance.BEARISH, "overbought (RSI >= 70)")
    if ind.rsi_14 <= 30:
        return _signal("rsi_14", ind.rsi_14, Stance.BULLISH, "oversold (RSI <= 30)")
    return _signal("rsi_14", ind.rsi_14, Stance.NEUTRAL, "RSI between 30 and 70")


def _share(signals: list[Signal], stance: Stance) -> float:
    return sum(s.reading == stance for s in signals) / len(signals) if signals else 0.0


def _fired(signals: list[Signal], stance: Stance) -> str:
    names = [f"{s.name} ({s.note})" for s in signals if s.reading == stance]
    return "; ".join(names) if names else "none"


def _advocate(ind: Indicators, deep: bool, side: Stance) -> AnalystOutput:
    """The bull or the bear: argue one side when the evidence supports it, concede when it does not."""
    signals = _trend_signals(ind, deep)
    rsi = _rsi_signal(ind)
    if rsi is not None:
        signals.append(rsi)
    share = _share(signals, side)
    scale = 0.8 if deep else 0.9
    word = "bull" if side == Stance.BULLISH else "bear"
    if share >= 0.6:
        stance, confidence = side, 0.45 + scale * 0.5 * (share - 0.6) / 0.4
        verdict = f"The {word} case holds: {share:.0%} of the rules point {side.value}."
    else:
        stance, confidence = Stance.NEUTRAL, 0.2 + 0.3 * (0.6 - share)
        verdict = (
            f"The {word} case is weak: only {share:.0%} of the rules point {side.value}; no position argued."
        )
    other = Stance.BEARISH if side == Stance.BULLISH else Stance.BULLISH
    return AnalystOutput(
        stance=stance,
        confidence=round(min(confidence, 0.95), 4),
        signals=signals,
        reasoning=f"{verdict} Rules fired for {side.value}: {_fired(signals, side)}.",
        key_risks=[f"Against: {_fired(signals, other)}"],
        risk_level=None,
    )


def _bull(ind: Indicators, deep: bool) -> AnalystOutput:
    return _advocate(ind, deep, Stance.BULLISH)


def _bear(ind: Indicators, deep: bool) -> AnalystOutput:
    return _advocate(ind, deep, Stance.BEARISH)


def _technical(ind: Indicators, deep: bool) -> AnalystOutput:
    """Net of all trend, momentum and oscillator rules: long, short or flat by their balance."""
    signals = _trend_signals(ind, deep)
    rsi = _rsi_signal(ind)
    if rsi is not None:
        signals.append(rsi)
    if ind.bollinger_pct_b is not None:
        b = ind.bollinger_pct_b
        reading = Stance.BEARISH if b > 1 else Stance.BULLISH if b < 0 else Stance.NEUTRAL
        signals.append(_signal("bollinger_pct_b", b, reading, "position within the 20-day Bollinger band"))
    net = _share(signals, Stance.BULLISH) - _share(signals, Stance.BEARISH)
    threshold = 0.3 if deep else 0.2
    stance = Stance.BULLISH if net >= threshold else Stance.BEARISH if net <= -threshold else Stance.NEUTRAL
    confidence = 0.3 + 0.6 * min(abs(net), 1.0) * (0.85 if deep else 1.0)
    return AnalystOutput(
        stance=stance,
        confidence=round(confidence, 4),
        signals=signals,
        reasoning=(
            f"Net technical score {net:+.2f} (threshold ±{threshold}). Bullish rules: "
            f"{_fired(signals, Stance.BULLISH)}. Bearish rules: {_fired(signals, Stance.BEARISH)}."
        ),
        key_risks=["Technical signals lag turning points."],
        risk_level=None,
    )


def _risk_manager(ind: Indicators, deep: bool) -> AnalystOutput:
    """Volatility, drawdown and true range: flags high risk, and turns bearish when risk is high."""
    limits = {"volatility_20d": 0.45, "drawdown_60d": 0.20, "atr_pct_14": 0.04}
    if deep:
        limits = {"volatility_20d": 0.40, "drawdown_60d": 0.15, "atr_pct_14": 0.035}
    values = {
        "volatility_20d": ind.volatility_20d,
        "drawdown_60d": ind.drawdown_60d,
        "atr_pct_14": ind.atr_pct_14,
    }
    signals, breached = [], []
    for name, limit in limits.items():
        value = values[name]
        over = value is not None and value > limit
        if over:
            breached.append(f"{name} {value:.1%} > {limit:.0%}")
        signals.append(
            _signal(
                name,
                value,
                Stance.BEARISH if over else Stance.NEUTRAL,
                f"limit {limit:.0%}" + (" breached" if over else ""),
            )
        )
    near = [n for n, v in values.items() if v is not None and v > 0.7 * limits[n]]
    level = RiskLevel.HIGH if breached else RiskLevel.MEDIUM if near else RiskLevel.LOW
    stance = Stance.BEARISH if level == RiskLevel.HIGH else Stance.NEUTRAL
    confidence = 0.5 + 0.15 * len(breached) if breached else 0.4
    reasoning = (
        f"Risk level {level.value}. Breached: {', '.join(breached) or 'none'}. "
        f"Near a limit: {', '.join(near) or 'none'}."
    )
    return AnalystOutput(
        stance=stance,
        confidence=round(min(confidence, 0.95), 4),
        signals=signals,
        reasoning=reasoning,
        key_risks=breached or ["No risk limit breached."],
        risk_level=level,
    )


def _fundamental(ind: Indicators, deep: bool) -> AnalystOutput:
    """Price bars carry no fundamentals; say so rather than invent them, and take no view."""
    signals = []
    if ind.range_position_252d is not None:
        signals.append(
            _signal(
                "range_position_252d",
                ind.range_position_252d,
                Stance.NEUTRAL,
                "where the close sits in its 52-week range (context only)",
            )
        )
    if ind.return_250d is not None:
        signals.append(_signal("return_250d", ind.return_250d, Stance.NEUTRAL, "one-year price return"))
    return AnalystOutput(
        stance=Stance.NEUTRAL,
        confidence=0.1,
        signals=signals,
        reasoning=(
            "No fundamental data (earnings, balance sheet, valuation multiples) is available from the "
            "market-data source: only daily price bars. This rules analyst therefore takes no directional "
            "view; the 52-week range position and one-year return are given as context only."
        ),
        key_risks=["Decision made without fundamental data."],
        risk_level=None,
    )


def _insufficient(bars: int) -> AnalystOutput:
    return AnalystOutput(
        stance=Stance.NEUTRAL,
        confidence=0.05,
        signals=[],
        reasoning=f"Only {bars} bars of history (rules need {MIN_BARS}); no view taken.",
        key_risks=["Insufficient history."],
        risk_level=None,
    )


ANALYSTS: dict[str, Callable[[Indicators, bool], AnalystOutput]] = {
    Role.BULL: _bull,
    Role.BEAR: _bear,
    Role.TECHNICAL_ANALYST: _technical,
    Role.RISK_MANAGER: _risk_manager,
    Role.FUNDAMENTAL_ANALYST: _fundamental,
}

_SIGN = {Stance.BULLISH: 1.0, Stance.BEARISH: -1.0, Stance.NEUTRAL: 0.0}


def judge(views: tuple[AnalystView, ...], deep: bool, quorum: int = 3) -> JudgeOutput:
    """Confidence-weighted vote of the analysts; high risk halves the size and raises the bar."""
    weights = [(v.output.confidence, _SIGN[v.output.stance]) for v in views]
    total = sum(w for w, _ in weights)
    score = sum(w * s for w, s in weights) / total if total else 0.0
    high_risk = any(v.output.risk_level == RiskLevel.HIGH for v in views)
    bar = (0.3 if deep else 0.25) + (0.1 if high_risk else 0.0)
    action = Action.BUY if score >= bar else Action.SELL if score <= -bar else Action.HOLD
    size = 0.0 if action == Action.HOLD else min(1.0, abs(score)) * (0.5 if high_risk else 1.0)
    checks = [
        RiskCheckResult(
            name="quorum",
            passed=len(views) >= quorum,
            detail=f"{len(views)} valid analysts (quorum {quorum})",
        ),
        RiskCheckResult(
            name="risk_level",
            passed=not high_risk,
            detail="risk manager flags high risk: size halved" if high_risk else "risk acceptable",
        ),
        RiskCheckResult(
            name="conviction",
            passed=abs(score) >= bar,
            detail=f"weighted score {score:+.2f} vs threshold ±{bar:.2f}",
        ),
    ]
    intent = None
    if action != Action.HOLD:
        intent = OrderIntentSpec(
            side=action,
            order_type="market",
            limit_price=None,
            time_in_force="day",
            size_fraction=round(size, 4),
        )
    return JudgeOutput(
        action=action,
        size=round(size, 4),
        confidence=round(min(0.95, abs(score)), 4),
        rationale=(
            f"Confidence-weighted analyst score {score:+.2f} from {len(views)} analysts; "
            f"action {action.value} needs |score| >= {bar:.2f}."
            + (" High risk flagged: size halved." if high_risk and action != Action.HOLD else "")
        ),
        risk_checks=checks,
        order_intent=intent,
    )


class RulesProvider:
    """Deterministic, offline, free. Honest about being rules: its reasoning lists the rules fired."""

    name = "rules"

    async def complete(self, call: ProviderCall) -> ProviderReply:
        if call.request is None:
            raise ProviderError("provider_error", "The rules provider only answers debate questions.")
        return self.complete_sync(call.request)

    def complete_sync(self, request: AgentRequest) -> ProviderReply:
        """The same answer without an event loop, for callers that have none (and for speed)."""
        deep = request.profile.params.get("depth", "quick") == "deep"
        output: AnalystOutput | JudgeOutput
        if request.role == Role.JUDGE:
            output = judge(request.analyst_views, deep, quorum=request.quorum)
        elif len(request.context.bars) < MIN_BARS:
            output = _insufficient(len(request.context.bars))
        else:
            output = ANALYSTS[request.role](indicators.computed_once(request.context.bars), deep)
        return ProviderReply(
            text=output.model_dump_json(), parsed=output, usage=Usage(), prompt_version=PROMPT_VERSION
        )
