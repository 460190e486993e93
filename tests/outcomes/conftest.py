"""Fixtures for the outcomes tests: accounts, decisions stored directly (no debate run), bars."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from agents.models import AgentProfile, Panel
from debates.models import Bar, DebateConsensus, DebateSession, DebateStatus, Instrument, Timeframe
from outcomes.models import TradingAccount
from outcomes.services import trading_account_create
from tests.fakes.alpaca_server import FakeAlpacaServer

KEY, SECRET = "test-key", "test-secret"


@pytest.fixture
def account(arena: Panel) -> TradingAccount:
    """A simulated account with round numbers: 100k cash, 10% sizing, no slippage, no fees."""
    return trading_account_create(
        name="test-sim",
        starting_cash=Decimal(100_000),
        slippage_bps=Decimal(0),
        sizing_fraction=Decimal("0.10"),
    )


@pytest.fixture
def make_decision(arena: Panel) -> Callable[..., DebateConsensus]:
    """Store a completed debate and its decision without running it (the signal is not sent)."""
    judge = AgentProfile.objects.get(name="rules-judge")

    def make(
        symbol: str = "ACME",
        as_of: dt.date = dt.date(2024, 3, 1),
        action: str = "buy",
        size: float = 0.5,
        order_intent: dict[str, Any] | None = None,
    ) -> DebateConsensus:
        session = DebateSession.objects.create(
            symbol=symbol, as_of=as_of, panel=arena, status=DebateStatus.COMPLETED
        )
        if order_intent is None and action != "hold":
            order_intent = {
                "side": action,
                "order_type": "market",
                "limit_price": None,
                "time_in_force": "day",
                "size_fraction": size,
            }
        return DebateConsensus.objects.create(
            session=session,
            judge_profile=judge,
            action=action,
            size=size if action != "hold" else 0.0,
            confidence=0.6,
            rationale="test",
            order_intent=order_intent,
            agreement_rate=0.8,
            valid_analysts=5,
        )

    return make


def bar_on(symbol: str, day: dt.date) -> Bar:
    return Bar.objects.get(instrument__symbol=symbol, timeframe=Timeframe.DAY, date=day)


def bars_after(symbol: str, day: dt.date, count: int) -> list[Bar]:
    return list(
        Bar.objects.filter(instrument__symbol=symbol, timeframe=Timeframe.DAY, date__gt=day).order_by("date")[
            :count
        ]
    )


def add_bars(symbol: str, rows: list[tuple[dt.date, str, str, str, str, int]]) -> Instrument:
    """Hand-made bars (date, open, high, low, close, volume) for exact, hand-computed expectations."""
    instrument, _ = Instrument.objects.get_or_create(symbol=symbol, defaults={"source": "test"})
    for day, o, h, lo, c, v in rows:
        Bar.objects.create(
            instrument=instrument,
            timeframe=Timeframe.DAY,
            date=day,
            ts=dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC),
            open=Decimal(o),
            high=Decimal(h),
            low=Decimal(lo),
            close=Decimal(c),
            volume=v,
            source="test",
        )
    return instrument


@pytest.fixture
def alpaca_server(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAlpacaServer]:
    """A FakeAlpacaServer that both Alpaca clients are pointed at, with fast retries and a short timeout."""
    with FakeAlpacaServer(api_key=KEY, secret_key=SECRET) as server:
        monkeypatch.setenv("ALPACA_API_KEY", KEY)
        monkeypatch.setenv("ALPACA_SECRET_KEY", SECRET)
        settings.ARENA_ALPACA_TRADING_URL = server.base_url
        settings.ARENA_ALPACA_DATA_URL = server.base_url
        settings.ARENA_ALPACA_RETRY_WAIT_S = 0.01
        settings.ARENA_ALPACA_TIMEOUT_S = 0.5
        yield server
