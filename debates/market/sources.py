"""Market data behind one interface, with pluggable sources chosen by ``ARENA_MARKET_DATA_SOURCE``.

The *as-of* clock lives here: every read takes the debate's date and returns nothing after it, so
an analyst cannot see the future whichever source serves it.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from django.conf import settings

from agents.schemas import Account, BarData, Position, Quote
from arena_project.errors import NotFoundError
from debates.market.history import Window, bars_validate, newest_rows, windows_for
from debates.models import Instrument

if TYPE_CHECKING:
    from debates.models import DebateSession


logger = logging.getLogger(__name__)


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

    Histories are sliced out of windows of bars (debates/market/history.py) that the process keeps
    while the instrument's ``bars_version`` says they are current: a debate whose window is kept
    costs one small query (the version), not a read of its bars. One instance serves one debate,
    or a batch after :meth:`prefetch`; it remembers the last history it gave, so the quote that
    follows the bars costs no query at all.
    """

    name = "embedded"

    def __init__(self) -> None:
        self._last: tuple[str, dt.date, list[BarData]] | None = None
        self._windows: dict[str, list[Window]] = {}

    def bars(self, symbol: str, *, as_of: dt.date, lookback: int) -> list[BarData]:
        if self._last and self._last[:2] == (symbol, as_of) and len(self._last[2]) >= lookback:
            return self._last[2][-lookback:]
        bars = self._prefetched(symbol, as_of, lookback)
        if bars is None:
            self._windows_add([(symbol, as_of)], lookback=lookback)
            bars = self._prefetched(symbol, as_of, lookback)
        if bars is None:
            bars = self._read(symbol, as_of, lookback)
        self._last = (symbol, as_of, bars)
        return bars

    def prefetch(self, wanted: Iterable[tuple[str, dt.date]], *, lookback: int) -> None:
        """Make the ``lookback``-bar histories as of each (symbol, date) ``wanted`` available
        without further queries: the kept windows still current, and one read per stretch of dates
        they do not serve (:func:`~debates.market.history.windows_for`) - one query for the
        versions, and none, or about one per symbol, for the bars.

        A batch of debates (``debate_sessions_run_batch``) asks for several dates of the same
        symbol: the histories overlap almost entirely, so one window serves them all. :meth:`bars`
        still answers as of its own date - never a bar after it - and reads the table itself when
        no window can serve it.
        """
        self._windows_add(wanted, lookback=lookback)

    def _windows_add(self, wanted: Iterable[tuple[str, dt.date]], *, lookback: int) -> None:
        for symbol, windows in windows_for(wanted, lookback=lookback).items():
            self._windows[symbol] = windows

    def _prefetched(self, symbol: str, as_of: dt.date, lookback: int) -> list[BarData] | None:
        for window in self._windows.get(symbol, ()):
            bars = window.bars(as_of, lookback)
            if bars is not None:
                return bars
        return None

    def _read(self, symbol: str, as_of: dt.date, lookback: int) -> list[BarData]:
        rows = newest_rows(symbol, as_of, lookback)
        if not rows:
            raise _missing(symbol, as_of)
        rows.reverse()
        return bars_validate(rows)

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


def batch_source(wanted: Iterable[tuple[str, dt.date]], *, lookback: int) -> MarketDataSource | None:
    """One market source for a batch of debates as of (symbol, date) ``wanted``, their bar
    histories read together, when the configured source can (the embedded one: see
    :meth:`EmbeddedSource.prefetch`); None when it cannot, and each debate gets its own source.
    """
    try:
        source = get_source()
        if not isinstance(source, EmbeddedSource):
            return None
        source.prefetch(wanted, lookback=lookback)
    except Exception:  # a missing source or a failed read: each debate meets it on its own, as unbatched
        logger.warning(
            "reading a batch's bar histories together failed; each debate reads its own", exc_info=True
        )
        return None
    return source


AccountSourceResolver = Callable[["DebateSession"], AccountSource]
AccountSourcesResolver = Callable[[Sequence["DebateSession"]], Mapping[int, AccountSource]]
_ACCOUNT_RESOLVER: list[AccountSourceResolver] = []
_ACCOUNTS_RESOLVER: list[AccountSourcesResolver] = []


def register_account_source(
    resolver: AccountSourceResolver, *, many: AccountSourcesResolver | None = None
) -> None:
    """Let another app (outcomes) say whose book a debate reads: its trading account's; ``many``
    answers for a batch of debates at once (see :func:`account_sources_for`)."""
    _ACCOUNT_RESOLVER[:] = [resolver]
    _ACCOUNTS_RESOLVER[:] = [many] if many is not None else []


def account_source_for(session: DebateSession) -> AccountSource:
    """The account source for a debate: the registered resolver's, else a flat paper account."""
    return _ACCOUNT_RESOLVER[0](session) if _ACCOUNT_RESOLVER else PaperAccountSource()


def account_sources_for(sessions: Sequence[DebateSession]) -> Mapping[int, AccountSource]:
    """The account sources of a batch of debates, by session id: the registered batch resolver's
    (the accounts read together), else each debate's own. Empty when the batch read fails: each
    debate then resolves its own and meets the failure alone, as unbatched."""
    if not sessions:
        return {}
    if not _ACCOUNTS_RESOLVER:
        return {s.pk: account_source_for(s) for s in sessions}
    try:
        return _ACCOUNTS_RESOLVER[0](sessions)
    except Exception:
        logger.warning(
            "resolving a batch's accounts together failed; each debate resolves its own", exc_info=True
        )
        return {}
