"""Alpaca market data for the tool router (``ARENA_MARKET_DATA_SOURCE=alpaca``), cached in the bars table.

Daily bars fetched through alpaca-py's ``StockHistoricalDataClient`` are stored in ``debates.Bar``
(``source="alpaca"``) next to the bundled data, so a debate's context stays replayable and a
backtest never fetches what the table already holds. The cache keeps one invariant: the stored
daily bars of a symbol cover one contiguous span of dates. A request therefore only fetches what
lies before the span's first bar (when the lookback reaches further back) or after its last one,
and never leaves a hole. A bar for the current New York day is still forming: it is served but
never stored.

The *as-of* clock holds: every read takes the debate's date and returns nothing after it; the latest
trade, the snapshot and today's partial bar are only available to a debate dated today.

alpaca-py sets no HTTP timeout and retries 429/504 itself (``client._retry_wait`` seconds apart);
:func:`harden_client` adds a timeout to its ``requests`` session and sets the wait. Whatever still
fails (timeout, 5xx, 429 after the retries) is a :class:`MarketDataUnavailableError`. Keys come from
the environment (ALPACA_API_KEY, ALPACA_SECRET_KEY) at call time and are never stored or logged.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import requests
from alpaca.common.exceptions import APIError
from alpaca.common.rest import RESTClient
from alpaca.data.enums import Adjustment, DataFeed
from alpaca.data.historical.stock import StockHistoricalDataClient
from alpaca.data.requests import (
    StockBarsRequest,
    StockLatestQuoteRequest,
    StockLatestTradeRequest,
    StockSnapshotRequest,
)
from alpaca.data.timeframe import TimeFrame, TimeFrameUnit
from django.conf import settings
from django.db.models import Count, Max, Min, Q
from requests.adapters import HTTPAdapter
from rest_framework import status

from agents.schemas import BarData, Quote
from arena_project.errors import ArenaError
from debates.market.sources import NoDataError, UnknownSymbolError, register_source
from debates.models import Bar, Instrument, Timeframe

logger = logging.getLogger(__name__)

NEW_YORK = ZoneInfo("America/New_York")
PRICE_Q = Decimal("0.0001")
SOURCE = "alpaca"
# Calendar days that surely hold N trading days: 7/5 of them for weekends, plus room for holidays.
_CALENDAR_SLACK_DAYS = 10
_TIMEFRAMES = {
    Timeframe.DAY: TimeFrame.Day,
    Timeframe.HOUR: TimeFrame.Hour,
    Timeframe.MINUTE: TimeFrame(1, TimeFrameUnit.Minute),
}


class AlpacaNotConfiguredError(ArenaError):
    code = "alpaca_not_configured"
    http_status = status.HTTP_409_CONFLICT


class MarketDataUnavailableError(ArenaError):
    code = "market_data_unavailable"
    http_status = status.HTTP_503_SERVICE_UNAVAILABLE


# --- shared client plumbing (AlpacaBroker uses it too) ---------------------------------------------


def alpaca_credentials() -> tuple[str, str]:
    """The API key pair from the environment, read at call time; refuses clearly when absent."""
    key, secret = os.environ.get("ALPACA_API_KEY", ""), os.environ.get("ALPACA_SECRET_KEY", "")
    if not key or not secret:
        raise AlpacaNotConfiguredError("Set ALPACA_API_KEY and ALPACA_SECRET_KEY in the environment.")
    return key, secret


class TimeoutHTTPAdapter(HTTPAdapter):
    """Gives every request a timeout: alpaca-py passes none, so a silent server would hang forever."""

    def __init__(self, timeout: float, **kwargs: Any) -> None:
        self.timeout = timeout
        super().__init__(**kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().send(request, **kwargs)


def harden_client(
    client: RESTClient, *, timeout: float | None = None, retry_wait: float | None = None
) -> None:
    """Add an HTTP timeout to an alpaca-py client's session and set its 429/504 retry wait (seconds)."""
    adapter = TimeoutHTTPAdapter(settings.ARENA_ALPACA_TIMEOUT_S if timeout is None else timeout)
    client._session.mount("https://", adapter)
    client._session.mount("http://", adapter)
    client._retry_wait = settings.ARENA_ALPACA_RETRY_WAIT_S if retry_wait is None else retry_wait  # type: ignore[assignment]


def api_error_detail(exc: APIError) -> tuple[int | None, int | None, str]:
    """(HTTP status, Alpaca error code, message) of an APIError, whose body may not even be JSON."""
    try:
        code, message = exc.code, exc.message
    except (ValueError, KeyError, TypeError):
        code, message = None, str(exc)[:200]
    return exc.status_code, code, str(message)


def new_york_today() -> dt.date:
    return dt.datetime.now(NEW_YORK).date()


# --- the data source --------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntradayBar:
    ts: dt.datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


def _decimal(value: float) -> Decimal:
    return Decimal(str(value)).quantize(PRICE_Q, rounding=ROUND_HALF_EVEN)


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=NEW_YORK)


def _day_end(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=NEW_YORK)


class AlpacaMarketDataSource:
    """Daily bars (cached), intraday bars (cached for finished days), quotes, latest trade/quote, snapshot.

    One instance serves one debate (like EmbeddedSource): it remembers the last history it read.
    ``client`` and ``today`` are injectable for tests; by default the client is built from the
    environment on first use.
    """

    name = SOURCE

    def __init__(
        self,
        client: StockHistoricalDataClient | None = None,
        *,
        today: Callable[[], dt.date] = new_york_today,
    ) -> None:
        self._client = client
        self._today = today
        self._last: tuple[str, dt.date, list[BarData]] | None = None
        self.fetches = 0  # requests made by this instance (what the cache saves is visible in tests)

    # --- MarketDataSource ---

    def bars(self, symbol: str, *, as_of: dt.date, lookback: int) -> list[BarData]:
        if self._last and self._last[:2] == (symbol, as_of) and len(self._last[2]) >= lookback:
            return self._last[2][-lookback:]
        forming = self._sync_daily(symbol, as_of, lookback)
        rows = list(
            Bar.objects.filter(instrument__symbol=symbol, timeframe=Timeframe.DAY, date__lte=as_of)
            .order_by("-date")
            .values_list("date", "open", "high", "low", "close", "volume")[:lookback]
        )
        rows.reverse()
        bars = [BarData(date=d, open=o, high=h, low=lo, close=c, volume=v) for d, o, h, lo, c, v in rows]
        if forming is not None and (not bars or bars[-1].date < forming.date):
            bars = [*bars, forming][-lookback:]
        if not bars:
            if not Instrument.objects.filter(symbol=symbol).exists():
                raise UnknownSymbolError(
                    f"Alpaca has no bars for {symbol!r}.", extra={"fields": {"symbol": ["Unknown symbol."]}}
                )
            raise NoDataError(f"No bars for {symbol} on or before {as_of.isoformat()}.")
        self._last = (symbol, as_of, bars)
        return bars

    def quote(self, symbol: str, *, as_of: dt.date) -> Quote:
        """The last close on or before ``as_of``; a debate dated today gets the latest trade instead."""
        last = self.bars(symbol, as_of=as_of, lookback=2)
        price, day = last[-1].close, last[-1].date
        previous = last[-2].close if len(last) > 1 else None
        if as_of >= self._today():
            trade = self.latest_trade(symbol, as_of=as_of)
            if trade is not None:
                price, day = trade[0], trade[1].astimezone(NEW_YORK).date()
                if last[-1].date == day:  # today's forming bar: compare with the previous close
                    previous = last[-2].close if len(last) > 1 else None
                else:
                    previous = last[-1].close
        change = float(price / previous - 1) if previous else None
        return Quote(
            symbol=symbol,
            as_of=day,
            price=price,
            previous_close=previous,
            change_pct=change,
            source=self.name,
        )

    # --- beyond the protocol ---

    def intraday_bars(
        self, symbol: str, *, as_of: dt.date, timeframe: str = Timeframe.HOUR, days: int = 1
    ) -> list[IntradayBar]:
        """Intraday bars of the ``days`` calendar days ending on ``as_of`` (finished days are cached)."""
        if timeframe not in (Timeframe.HOUR, Timeframe.MINUTE):
            raise ValueError(f"intraday timeframe must be 1Hour or 1Min, not {timeframe!r}")
        first = as_of - dt.timedelta(days=days - 1)
        today = self._today()
        cached_days = set(
            Bar.objects.filter(
                instrument__symbol=symbol, timeframe=timeframe, date__range=(first, as_of)
            ).values_list("date", flat=True)
        )
        wanted = [first + dt.timedelta(days=i) for i in range(days)]
        missing = [d for d in wanted if d not in cached_days and d <= today]
        live: list[IntradayBar] = []
        if missing:
            fetched = self._fetch(symbol, timeframe, min(missing), min(max(missing), today))
            live = [b for b in fetched if b.ts.astimezone(NEW_YORK).date() >= today]
            self._store(symbol, timeframe, [b for b in fetched if b.ts.astimezone(NEW_YORK).date() < today])
        rows = Bar.objects.filter(
            instrument__symbol=symbol, timeframe=timeframe, date__range=(first, as_of)
        ).order_by("ts")
        stored = [IntradayBar(r.ts, r.open, r.high, r.low, r.close, r.volume) for r in rows]
        return stored + [b for b in live if b.ts.astimezone(NEW_YORK).date() <= as_of]

    def latest_trade(self, symbol: str, *, as_of: dt.date) -> tuple[Decimal, dt.datetime] | None:
        """(price, time) of the latest trade; only a debate dated today may see it (as-of clock)."""
        self._require_today(as_of, "the latest trade")
        response = self._call(
            lambda c: c.get_stock_latest_trade(
                StockLatestTradeRequest(symbol_or_symbols=symbol, feed=_feed())
            )
        )
        trade = response.get(symbol) if isinstance(response, dict) else None
        return (_decimal(trade.price), trade.timestamp) if trade is not None else None

    def latest_quote(self, symbol: str, *, as_of: dt.date) -> tuple[Decimal, Decimal, dt.datetime] | None:
        """(bid, ask, time) of the latest NBBO quote; only a debate dated today may see it."""
        self._require_today(as_of, "the latest quote")
        response = self._call(
            lambda c: c.get_stock_latest_quote(
                StockLatestQuoteRequest(symbol_or_symbols=symbol, feed=_feed())
            )
        )
        quote = response.get(symbol) if isinstance(response, dict) else None
        if quote is None:
            return None
        return _decimal(quote.bid_price), _decimal(quote.ask_price), quote.timestamp

    def snapshot(self, symbol: str, *, as_of: dt.date) -> dict[str, Any]:
        """Latest trade, quote, minute bar, daily and previous daily bar, as JSON; today only."""
        self._require_today(as_of, "a snapshot")
        response = self._call(
            lambda c: c.get_stock_snapshot(StockSnapshotRequest(symbol_or_symbols=symbol, feed=_feed()))
        )
        snap = response.get(symbol) if isinstance(response, dict) else None
        if snap is None:
            raise NoDataError(f"No Alpaca snapshot for {symbol}.")
        return dict(snap.model_dump(mode="json"))

    # --- internals ---

    def _require_today(self, as_of: dt.date, what: str) -> None:
        if as_of < self._today():
            raise NoDataError(f"A debate as of {as_of.isoformat()} cannot see {what}: it is after its date.")

    def _sync_daily(self, symbol: str, as_of: dt.date, lookback: int) -> BarData | None:
        """Fetch what the cached span lacks for (symbol, as_of, lookback); return today's forming bar."""
        today = self._today()
        end = min(as_of, today)
        span = Bar.objects.filter(instrument__symbol=symbol, timeframe=Timeframe.DAY).aggregate(
            first=Min("date"), last=Max("date"), held=Count("id", filter=Q(date__lte=as_of))
        )
        start = as_of - dt.timedelta(days=lookback * 7 // 5 + _CALENDAR_SLACK_DAYS)
        ranges: list[tuple[dt.date, dt.date]] = []
        if span["first"] is None:
            ranges.append((start, end))
        else:
            if span["held"] < lookback and start < span["first"]:
                ranges.append((start, span["first"] - dt.timedelta(days=1)))
            if end > span["last"]:
                ranges.append((span["last"] + dt.timedelta(days=1), end))
        forming: BarData | None = None
        for first, last in ranges:
            fetched = self._fetch(symbol, Timeframe.DAY, first, last)
            finished = [b for b in fetched if b.ts.astimezone(NEW_YORK).date() < today]
            self._store(symbol, Timeframe.DAY, finished)
            for b in fetched:
                if b.ts.astimezone(NEW_YORK).date() >= today:
                    day = b.ts.astimezone(NEW_YORK).date()
                    forming = BarData(
                        date=day, open=b.open, high=b.high, low=b.low, close=b.close, volume=b.volume
                    )
        return forming

    def _fetch(self, symbol: str, timeframe: str, first: dt.date, last: dt.date) -> list[IntradayBar]:
        """All bars of one symbol in [first, last] (New York days); alpaca-py follows the pages."""
        request = StockBarsRequest(
            symbol_or_symbols=symbol,
            timeframe=_TIMEFRAMES[Timeframe(timeframe)],
            start=_day_start(first),
            end=_day_end(last),
            adjustment=Adjustment(settings.ARENA_ALPACA_DATA_ADJUSTMENT),
            feed=_feed(),
        )
        barset = self._call(lambda c: c.get_stock_bars(request))
        raw = barset.data.get(symbol, []) if hasattr(barset, "data") else []
        return [
            IntradayBar(
                ts=b.timestamp,
                open=_decimal(b.open),
                high=_decimal(b.high),
                low=_decimal(b.low),
                close=_decimal(b.close),
                volume=int(b.volume),
            )
            for b in raw
        ]

    def _store(self, symbol: str, timeframe: str, bars: list[IntradayBar]) -> None:
        """Cache finished bars; a bar the table already holds (any source) is kept as it is."""
        valid = [b for b in bars if _consistent(b)]
        if len(valid) < len(bars):
            logger.warning(
                "alpaca: skipped %d inconsistent %s bars of %s", len(bars) - len(valid), timeframe, symbol
            )
        if not valid:
            return
        instrument, _created = Instrument.objects.get_or_create(symbol=symbol, defaults={"source": SOURCE})
        daily = timeframe == Timeframe.DAY
        rows = []
        for b in valid:
            day = b.ts.astimezone(NEW_YORK).date()
            rows.append(
                Bar(
                    instrument=instrument,
                    timeframe=timeframe,
                    date=day,
                    # Daily bars are keyed by their date at midnight UTC, like every other daily bar.
                    ts=dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC) if daily else b.ts,
                    open=b.open,
                    high=b.high,
                    low=b.low,
                    close=b.close,
                    volume=b.volume,
                    source=SOURCE,
                )
            )
        Bar.objects.bulk_create(rows, batch_size=2000, ignore_conflicts=True)

    def _call(self, fetch: Callable[[StockHistoricalDataClient], Any]) -> Any:
        self.fetches += 1
        try:
            return fetch(self._data_client())
        except APIError as exc:
            code, _alpaca_code, message = api_error_detail(exc)
            raise MarketDataUnavailableError(f"Alpaca market data answered {code}: {message}") from None
        except requests.RequestException as exc:
            raise MarketDataUnavailableError(
                f"Alpaca market data unreachable: {type(exc).__name__}"
            ) from None

    def _data_client(self) -> StockHistoricalDataClient:
        if self._client is None:
            key, secret = alpaca_credentials()
            client = StockHistoricalDataClient(
                key, secret, url_override=settings.ARENA_ALPACA_DATA_URL or None
            )
            harden_client(client)
            self._client = client
        return self._client


def _consistent(bar: IntradayBar) -> bool:
    return (
        bar.low > 0
        and bar.high >= max(bar.open, bar.close)
        and bar.low <= min(bar.open, bar.close)
        and bar.volume >= 0
    )


def _feed() -> DataFeed:
    return DataFeed(settings.ARENA_ALPACA_DATA_FEED)


register_source(SOURCE, AlpacaMarketDataSource)
