"""The market a backtest debates on: the bars table, read once, served as of each day.

Serving a run from memory saves a query per debate; the as-of clock is the same one the embedded
source keeps (nothing after the debate's date is ever returned), enforced here by a binary search
on the dates, and tested by a backtest whose future bars are rewritten without changing its past.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from agents.schemas import BarData, Quote
from debates.market.sources import NoDataError, UnknownSymbolError
from debates.models import Bar, Timeframe


class BacktestMarketSource:
    """A MarketDataSource over preloaded daily bars of a run's symbols, up to the run's last day."""

    name = "embedded"

    def __init__(self, bars: dict[str, list[BarData]]) -> None:
        self._bars = bars
        self._dates = {symbol: [b.date for b in rows] for symbol, rows in bars.items()}

    @classmethod
    def load(cls, symbols: Iterable[str], *, through: dt.date) -> BacktestMarketSource:
        """One query for every daily bar of ``symbols`` up to ``through`` (later bars are never loaded)."""
        bars: dict[str, list[BarData]] = {symbol: [] for symbol in symbols}
        rows = (
            Bar.objects.filter(instrument__symbol__in=list(bars), timeframe=Timeframe.DAY, date__lte=through)
            .order_by("instrument__symbol", "date")
            .values_list("instrument__symbol", "date", "open", "high", "low", "close", "volume")
        )
        for symbol, day, o, h, lo, c, v in rows:
            bars[symbol].append(BarData(date=day, open=o, high=h, low=lo, close=c, volume=v))
        return cls(bars)

    def bars(self, symbol: str, *, as_of: dt.date, lookback: int) -> list[BarData]:
        end = self._end(symbol, as_of)
        return self._bars[symbol][max(0, end - lookback) : end]

    def quote(self, symbol: str, *, as_of: dt.date) -> Quote:
        last = self.bars(symbol, as_of=as_of, lookback=2)
        price = last[-1].close
        previous = last[-2].close if len(last) > 1 else None
        return Quote(
            symbol=symbol,
            as_of=last[-1].date,
            price=price,
            previous_close=previous,
            change_pct=float(price / previous - 1) if previous else None,
            source=self.name,
        )

    def close(self, symbol: str, as_of: dt.date) -> Decimal | None:
        """The last close on or before ``as_of`` (marks a book to market), None before the first bar."""
        dates = self._dates.get(symbol)
        if not dates:
            return None
        end = bisect.bisect_right(dates, as_of)
        return self._bars[symbol][end - 1].close if end else None

    def has_bar(self, symbol: str, day: dt.date) -> bool:
        dates = self._dates.get(symbol, [])
        i = bisect.bisect_left(dates, day)
        return i < len(dates) and dates[i] == day

    def _end(self, symbol: str, as_of: dt.date) -> int:
        """Index one past the last bar on or before ``as_of``: the as-of clock."""
        dates = self._dates.get(symbol)
        if dates is None:
            raise UnknownSymbolError(
                f"Unknown symbol {symbol!r}.", extra={"fields": {"symbol": ["Unknown symbol."]}}
            )
        end = bisect.bisect_right(dates, as_of)
        if end == 0:
            raise NoDataError(f"No bars for {symbol} on or before {as_of.isoformat()}.")
        return end
