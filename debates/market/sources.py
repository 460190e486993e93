"""Market data behind one interface, with pluggable sources chosen by ``ARENA_MARKET_DATA_SOURCE``.

The *as-of* clock lives here: every read takes the debate's date and returns nothing after it, so
an analyst cannot see the future whichever source serves it.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from pydantic import TypeAdapter

from agents.schemas import Account, BarData, Position, Quote
from arena_project.errors import NotFoundError
from debates.models import Bar, Instrument, Timeframe

if TYPE_CHECKING:
    from debates.models import DebateSession


class UnknownSymbolError(NotFoundError):
    code = "unknown_symbol"


class NoDataError(NotFoundError):
    code = "no_market_data"


class MarketDataSource(Protocol):
    name: str

    def bars(self, symbol: str, *, as_of: dt.date, lookback: int) -> list[BarData]: ...

    def quote(self, symbol: str, *, as_of: dt.date) -> Quote: ...


class AccountSource(Protocol):
    """Cash and positions for the tool router: a broker's book, or a plain paper account."""

    name: str

    def account(self, *, as_of: dt.date) -> Account: ...

    def positions(self, *, as_of: dt.date) -> list[Position]: ...


class EmbeddedSource:
    """Bars stored in our own table: the bundled synthetic data, imported CSVs, or cached fetches.

    One instance serves one debate: it remembers the last history it read, so the quote that
    follows the bars costs no second query.
    """

    name = "embedded"

    def __init__(self) -> None:
        self._last: tuple[str, dt.date, list[BarData]] | None = None

    def bars(self, symbol: str, *, as_of: dt.date, lookback: int) -> list[BarData]:
        if self._last and self._last[:2] == (symbol, as_of) and len(self._last[2]) >= lookback:
            return self._last[2][-lookback:]
        bars = self._read(symbol, as_of, lookback)
        self._last = (symbol, as_of, bars)
        return bars

    def _read(self, symbol: str, as_of: dt.date, lookback: int) -> list[BarData]:
        rows = list(
            Bar.objects.filter(instrument__symbol=symbol, timeframe=Timeframe.DAY, date__lte=as_of)
            .order_by("-date")
            .values(*_BAR_FIELDS)[:lookback]
        )
        if not rows:
            raise _missing(symbol, as_of)
        rows.reverse()
        # One validation of the whole list: half the CPU of a BarData(...) call per row.
        return _BAR_LIST.validate_python(rows)

    def quote(self, symbol: str, *, as_of: dt.date) -> Quote:
        last = self.bars(symbol, as_of=as_of, lookback=2)
        price = last[-1].close
        previous = last[-2].close if len(last) > 1 else None
        change = float(price / previous - 1) if previous else None
        return Quote(
            symbol=symbol,
            as_of=last[-1].date,
            price=price,
            previous_close=previous,
            change_pct=change,
            source=self.name,
        )


_BAR_FIELDS = ("date", "open", "high", "low", "close", "volume")
_BAR_LIST = TypeAdapter(list[BarData])


def _missing(symbol: str, as_of: dt.date) -> NotFoundError:
    if not Instrument.objects.filter(symbol=symbol).exists():
        return UnknownSymbolError(
            f"Unknown symbol {symbol!r}.", extra={"fields": {"symbol": ["Unknown symbol."]}}
        )
    return NoDataError(f"No bars for {symbol} on or before {as_of.isoformat()}.")


class PaperAccountSource:
    """A flat paper account with the configured starting cash and no positions.

    The honest default when no broker is attached to a debate; the outcomes app supplies the
    simulated broker's book or Alpaca's account instead.
    """

    name = "paper"

    def __init__(self, cash: Decimal | None = None) -> None:
        self.cash = Decimal(settings.ARENA_PAPER_STARTING_CASH) if cash is None else cash

    def account(self, *, as_of: dt.date) -> Account:
        return Account(cash=self.cash, equity=self.cash, buying_power=self.cash, source=self.name)

    def positions(self, *, as_of: dt.date) -> list[Position]:
        return []


_SOURCES: dict[str, Callable[[], MarketDataSource]] = {"embedded": EmbeddedSource}


def register_source(name: str, factory: Callable[[], MarketDataSource]) -> None:
    """Let another module (e.g. the Alpaca data source) offer itself under a setting's name."""
    _SOURCES[name] = factory


def get_source(name: str | None = None) -> MarketDataSource:
    name = name or settings.ARENA_MARKET_DATA_SOURCE
    if name not in _SOURCES and re.fullmatch(r"[a-z_]+", name):
        # A source module registers itself on import (debates/market/alpaca.py); import it on first use
        # so its SDK is only loaded by processes that need it.
        try:
            importlib.import_module(f"debates.market.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"debates.market.{name}":
                raise  # the module exists but a dependency of it is missing: say so
    try:
        return _SOURCES[name]()
    except KeyError:
        raise NotFoundError(f"Market data source {name!r} is not configured.") from None


AccountSourceResolver = Callable[["DebateSession"], AccountSource]
_ACCOUNT_RESOLVER: list[AccountSourceResolver] = []


def register_account_source(resolver: AccountSourceResolver) -> None:
    """Let another app (outcomes) say whose book a debate reads: its trading account's."""
    _ACCOUNT_RESOLVER[:] = [resolver]


def account_source_for(session: DebateSession) -> AccountSource:
    """The account source for a debate: the registered resolver's, else a flat paper account."""
    return _ACCOUNT_RESOLVER[0](session) if _ACCOUNT_RESOLVER else PaperAccountSource()
