"""What agents read and what they must answer, as pydantic models.

The same models validate a rules analyst's answer and an LLM's JSON, and give the JSON schema the
LLM providers send as a structured-output format. Every field is required (nullable where it may be
empty) because OpenAI's strict structured outputs accept nothing else.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Confidence = Annotated[float, Field(ge=0.0, le=1.0, description="0 = no confidence, 1 = certain.")]


class Stance(StrEnum):
    BULLISH = "bullish"
    BEARISH = "bearish"
    NEUTRAL = "neutral"


class RiskLevel(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Action(StrEnum):
    BUY = "buy"
    SELL = "sell"
    HOLD = "hold"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Signal(_Strict):
    """One piece of evidence, e.g. ``rsi_14 = 71.2 (bearish: overbought)``."""

    name: str = Field(max_length=64)
    value: float | None
    reading: Stance
    note: str = Field(max_length=200)


class AnalystOutput(_Strict):
    stance: Stance
    confidence: Confidence
    signals: list[Signal] = Field(max_length=20)
    reasoning: str = Field(max_length=4000)
    key_risks: list[str] = Field(max_length=10)
    risk_level: RiskLevel | None = Field(
        description="The risk manager's overall call; others may leave it null."
    )


class RiskCheckResult(_Strict):
    name: str = Field(max_length=64)
    passed: bool
    detail: str = Field(max_length=300)


class OrderIntentSpec(_Strict):
    """The judge's proposal; the outcomes app turns it into a sized, risk-checked order intent."""

    side: Action
    order_type: str = Field(pattern="^(market|limit)$")
    limit_price: float | None
    time_in_force: str = Field(pattern="^(day|gtc)$")
    size_fraction: Confidence


class JudgeOutput(_Strict):
    action: Action
    size: Confidence = Field(description="Fraction of the maximum position, 0..1.")
    confidence: Confidence
    rationale: str = Field(max_length=4000)
    risk_checks: list[RiskCheckResult] = Field(max_length=20)
    order_intent: OrderIntentSpec | None


class HealthCheck(_Strict):
    """The tiny answer ``check_providers`` asks every profile for."""

    status: Literal["ok"]
    echo: str = Field(max_length=64)


# --- what agents read ---------------------------------------------------------------------------


class BarData(_Strict):
    date: dt.date
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int

    @functools.cached_property
    def json_row(self) -> tuple[str, str, str, str, str, int]:
        """The field values, in field order, as ``model_dump(mode="json")`` writes them.

        Computed once per bar object (a bar is frozen): a recorded bar history
        (debates/recorded.py) is made of these rows, and a backtest's source hands the same bar
        objects to every debate whose window holds them - each bar hundreds of times a year.
        Not a field: equality, hashing and dumps ignore it.
        """
        return (
            self.date.isoformat(),
            str(self.open),
            str(self.high),
            str(self.low),
            str(self.close),
            self.volume,
        )

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> BarData:
        """A copy; one with changed values computes its own ``json_row`` (the cache is not carried over)."""
        copied = super().model_copy(update=update, deep=deep)
        copied.__dict__.pop("json_row", None)
        return copied


class Quote(_Strict):
    symbol: str
    as_of: dt.date
    price: Decimal
    previous_close: Decimal | None
    change_pct: float | None
    source: str


class Position(_Strict):
    symbol: str
    quantity: Decimal
    average_price: Decimal
    market_value: Decimal


class Account(_Strict):
    cash: Decimal
    equity: Decimal
    buying_power: Decimal
    source: str


class MarketContext(_Strict):
    """Everything an analyst may look at for one debate, as fetched through the tool router."""

    symbol: str
    as_of: dt.date
    quote: Quote
    bars: list[BarData]
    account: Account
    positions: list[Position]


class AnalystView(_Strict):
    """An analyst's answer as the judge sees it (invalid or abstaining analysts are left out)."""

    role: str
    output: AnalystOutput
