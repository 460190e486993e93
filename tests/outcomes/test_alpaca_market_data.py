"""The Alpaca market-data source through the REAL alpaca-py data client against FakeAlpacaServer."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from debates.market.alpaca import AlpacaMarketDataSource, AlpacaNotConfiguredError, MarketDataUnavailableError
from debates.market.sources import NoDataError, UnknownSymbolError, get_source
from debates.models import Bar, DebateStatus, Timeframe, ToolCall
from debates.services import debate_run_now
from tests.fakes.alpaca_server import FakeAlpacaServer

pytestmark = pytest.mark.django_db
NY = ZoneInfo("America/New_York")
BARS_PATH = "/v2/stocks/bars"


def business_days(end: dt.date, count: int) -> list[dt.date]:
    days: list[dt.date] = []
    day = end
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= dt.timedelta(days=1)
    return sorted(days)


def daily(days: list[dt.date], base: float = 100.0) -> list[dict[str, Any]]:
    """Alpaca daily bars (stamped at New York midnight) whose prices encode their index."""
    return [
        {
            "t": dt.datetime.combine(day, dt.time.min, tzinfo=NY),
            "o": base + i,
            "h": base + i + 2,
            "l": base + i - 1,
            "c": base + i + 1,
            "v": 1000 + i,
        }
        for i, day in enumerate(days)
    ]


END = dt.date(2025, 6, 30)
DAYS = business_days(END + dt.timedelta(days=14), 320)  # the fake also has bars after END
FAR_FUTURE = dt.date(2099, 1, 1)


@pytest.fixture
def fake(alpaca_server: FakeAlpacaServer, arena: object) -> FakeAlpacaServer:
    alpaca_server.add_bars("AAPL", "1Day", daily(DAYS))
    return alpaca_server


def source(today: dt.date = FAR_FUTURE) -> AlpacaMarketDataSource:
    return AlpacaMarketDataSource(today=lambda: today)


def test_daily_bars_are_fetched_once_then_served_from_the_bars_table(fake: FakeAlpacaServer) -> None:
    bars = source().bars("AAPL", as_of=END, lookback=260)
    assert len(bars) == 260 and bars[-1].date == END
    index = DAYS.index(END)
    assert (bars[-1].open, bars[-1].close, bars[-1].volume) == (D(100 + index), D(101 + index), 1000 + index)
    stored = Bar.objects.filter(instrument__symbol="AAPL", timeframe=Timeframe.DAY)
    assert set(stored.values_list("source", flat=True)) == {"alpaca"}
    first = stored.order_by("date").first()
    assert first is not None and first.ts == dt.datetime.combine(first.date, dt.time.min, tzinfo=dt.UTC)
    fetched = fake.count("GET", BARS_PATH)
    again = source()
    assert again.bars("AAPL", as_of=END, lookback=260) == bars
    assert again.bars("AAPL", as_of=END - dt.timedelta(days=30), lookback=200)[-1].date < END
    assert fake.count("GET", BARS_PATH) == fetched and again.fetches == 0  # a backtest never refetches


def test_the_as_of_clock_holds_even_though_alpaca_has_later_bars(fake: FakeAlpacaServer) -> None:
    bars = source().bars("AAPL", as_of=END, lookback=500)
    assert max(b.date for b in bars) == END
    assert not Bar.objects.filter(instrument__symbol="AAPL", date__gt=END).exists()
    ends = {r.query["end"] for r in fake.requests if r.path == BARS_PATH}
    assert all(
        e.startswith(END.isoformat()) or e.startswith((END + dt.timedelta(days=1)).isoformat()) for e in ends
    )
    quote = source().quote("AAPL", as_of=END)
    assert (quote.as_of, quote.price, quote.source) == (END, bars[-1].close, "alpaca")
    assert fake.count("GET", "/v2/stocks/trades/latest") == 0  # a past debate never sees the latest trade


def test_pages_are_followed_and_all_stored(fake: FakeAlpacaServer) -> None:
    fake.max_page_size = 50
    bars = source().bars("AAPL", as_of=END, lookback=260)
    assert len(bars) == 260
    assert fake.count("GET", BARS_PATH) >= 6  # 260+ bars at 50 a page
    tokens = [r.query.get("page_token") for r in fake.requests if r.path == BARS_PATH]
    assert tokens[0] in (None, "") and all(tokens[1:])


def test_a_later_debate_fetches_only_the_missing_days(fake: FakeAlpacaServer) -> None:
    source().bars("AAPL", as_of=END - dt.timedelta(days=7), lookback=100)
    before = len(fake.requests)
    bars = source().bars("AAPL", as_of=END, lookback=100)
    assert bars[-1].date == END
    [extension] = [r for r in fake.requests[before:] if r.path == BARS_PATH]
    assert extension.query["start"].startswith((END - dt.timedelta(days=6)).isoformat())


def test_a_longer_lookback_fetches_the_earlier_days(fake: FakeAlpacaServer) -> None:
    source().bars("AAPL", as_of=END, lookback=20)
    assert len(source().bars("AAPL", as_of=END, lookback=250)) == 250
    dates = list(
        Bar.objects.filter(instrument__symbol="AAPL").order_by("date").values_list("date", flat=True)
    )
    assert dates == [d for d in DAYS if dates[0] <= d <= END]  # one contiguous span, no hole


def test_rate_limits_are_retried_then_reported(fake: FakeAlpacaServer) -> None:
    fake.fail_next(BARS_PATH, 429, count=2)
    assert len(source().bars("AAPL", as_of=END, lookback=10)) == 10
    fake.fail_next(BARS_PATH, 429, count=4)
    with pytest.raises(MarketDataUnavailableError, match="429"):
        source().bars("AAPL", as_of=END + dt.timedelta(days=3), lookback=10)


def test_a_silent_server_times_out(fake: FakeAlpacaServer) -> None:
    fake.hang_next(BARS_PATH)
    with pytest.raises(MarketDataUnavailableError, match="unreachable"):
        source().bars("AAPL", as_of=END, lookback=10)
    assert not Bar.objects.filter(instrument__symbol="AAPL").exists()


def test_todays_forming_bar_is_served_but_never_cached(fake: FakeAlpacaServer) -> None:
    today = END
    bars = source(today).bars("AAPL", as_of=today, lookback=5)
    assert bars[-1].date == today
    assert not Bar.objects.filter(instrument__symbol="AAPL", date=today).exists()
    fake.set_trade("AAPL", 555.5, at=dt.datetime.combine(today, dt.time(15, 0), tzinfo=NY))
    quote = source(today).quote("AAPL", as_of=today)
    assert (quote.price, quote.previous_close) == (D("555.5"), bars[-2].close)


def test_latest_trade_and_snapshot_are_for_todays_debates_only(fake: FakeAlpacaServer) -> None:
    with pytest.raises(NoDataError, match="after its date"):
        source(END).latest_trade("AAPL", as_of=END - dt.timedelta(days=1))
    with pytest.raises(NoDataError):
        source(END).snapshot("AAPL", as_of=END - dt.timedelta(days=1))
    snapshot = source(END).snapshot("AAPL", as_of=END)
    assert snapshot["daily_bar"]["close"] > 0
    fake.set_quote("AAPL", 99.5, 100.25)
    quote = source(END).latest_quote("AAPL", as_of=END)
    assert quote is not None and quote[:2] == (D("99.5"), D("100.25"))
    with pytest.raises(NoDataError):
        source(END).latest_quote("AAPL", as_of=END - dt.timedelta(days=1))


def test_intraday_bars_of_finished_days_are_cached(fake: FakeAlpacaServer) -> None:
    day = dt.date(2025, 6, 27)
    hours = [
        {"t": dt.datetime.combine(day, dt.time(h), tzinfo=NY), "o": 10, "h": 11, "l": 9, "c": 10.5, "v": 100}
        for h in range(10, 16)
    ]
    fake.add_bars("AAPL", "1Hour", hours)
    bars = source().intraday_bars("AAPL", as_of=day, timeframe=Timeframe.HOUR)
    assert len(bars) == 6 and bars[0].ts == hours[0]["t"]
    fetched = fake.count("GET", BARS_PATH)
    assert len(source().intraday_bars("AAPL", as_of=day, timeframe=Timeframe.HOUR)) == 6
    assert fake.count("GET", BARS_PATH) == fetched


def test_unknown_symbol_is_reported(fake: FakeAlpacaServer) -> None:
    with pytest.raises(UnknownSymbolError, match="no bars for 'ZZZZ'"):
        source().bars("ZZZZ", as_of=END, lookback=10)


def test_missing_keys_are_reported(fake: FakeAlpacaServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALPACA_API_KEY")
    with pytest.raises(AlpacaNotConfiguredError):
        source().bars("AAPL", as_of=END, lookback=10)


def test_a_debate_runs_on_alpaca_data_when_the_setting_says_so(fake: FakeAlpacaServer, settings: Any) -> None:
    settings.ARENA_MARKET_DATA_SOURCE = "alpaca"
    assert isinstance(get_source(), AlpacaMarketDataSource)
    source().bars("AAPL", as_of=END, lookback=1)  # the symbol must be known before a debate is created
    session = debate_run_now(symbol="AAPL", as_of=END)
    assert session.status == DebateStatus.COMPLETED, session.error
    bars_call = ToolCall.objects.get(session=session, tool="get_bars")
    assert bars_call.result is not None and bars_call.result_document["bars"][-1]["date"] == END.isoformat()


def test_update_outcomes_fetches_the_bars_that_fills_and_horizons_need(
    fake: FakeAlpacaServer, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from outcomes.models import Outcome
    from outcomes.services import outcomes_update

    settings.ARENA_MARKET_DATA_SOURCE = "alpaca"
    source().bars("AAPL", as_of=END, lookback=1)
    with django_capture_on_commit_callbacks(execute=True):
        session = debate_run_now(symbol="AAPL", as_of=END)  # on the default simulated account
    outcome = Outcome.objects.get(consensus__session=session)
    assert not Bar.objects.filter(instrument__symbol="AAPL", date__gt=END).exists()
    summary = outcomes_update()
    outcome.refresh_from_db()
    assert Bar.objects.filter(instrument__symbol="AAPL", date__gt=END).count() == 10  # the fake's later bars
    assert summary.errors == 0 and outcome.status != "pending"
    if outcome.intent is not None and outcome.intent.status == "submitted":
        assert outcome.intent.broker_order.status == "filled"
