"""Market data behind one interface, with pluggable sources chosen by ``ARENA_MARKET_DATA_SOURCE``.

The *as-of* clock lives here: every read takes the debate's date and returns nothing after it, so
an analyst cannot see the future whichever source serves it.
"""

from __future__ import annotations

import bisect
import datetime as dt
import importlib
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings
from django.db.models import Subquery
from pydantic import TypeAdapter

from agents.schemas import Account, BarData, Position, Quote
from arena_project.errors import NotFoundError
from debates.models import Bar, Instrument, Timeframe

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

    One instance serves one debate: it remembers the last history it read, so the quote that
    follows the bars costs no second query. A batch of debates may share one instance after
    :meth:`prefetch`, which reads their histories together.
    """

    name = "embedded"

    def __init__(self) -> None:
        self._last: tuple[str, dt.date, list[BarData]] | None = None
        self._windows: dict[str, list[_Window]] = {}

    def bars(self, symbol: str, *, as_of: dt.date, lookback: int) -> list[BarData]:
        if self._last and self._last[:2] == (symbol, as_of) and len(self._last[2]) >= lookback:
            return self._last[2][-lookback:]
        bars = self._prefetched(symbol, as_of, lookback)
        if bars is None:
            bars = self._read(symbol, as_of, lookback)
        self._last = (symbol, as_of, bars)
        return bars

    def prefetch(self, wanted: Iterable[tuple[str, dt.date]], *, lookback: int) -> None:
        """Read the ``lookback``-bar histories as of each (symbol, date) in one query per symbol
        (and per stretch of ``lookback`` calendar days, a month at least), instead of one query per
        debate.

        A batch of debates (``debate_sessions_run_batch``) asks for several dates of the same
        symbol: the histories overlap almost entirely, so one read of the newest ``lookback`` bars
        plus those in between serves them all. Kept for this instance only (a batch), never across
        batches: a bar may be rewritten in place by an import. :meth:`bars` still answers as of its
        own date - never a bar after it - and reads the table itself when a window cannot serve it.
        """
        dates: dict[str, set[dt.date]] = {}
        for symbol, as_of in wanted:
            dates.setdefault(symbol, set()).add(as_of)
        for symbol, days in dates.items():
            span = max(dt.timedelta(days=lookback), _STRETCH_MIN)
            for first, last in _stretches(sorted(days), span=span):
                self._windows.setdefault(symbol, []).append(_Window.read(symbol, first, last, lookback))

    def _prefetched(self, symbol: str, as_of: dt.date, lookback: int) -> list[BarData] | None:
        for window in self._windows.get(symbol, ()):
            bars = window.bars(as_of, lookback)
            if bars is not None:
                return bars
        return None

    def _read(self, symbol: str, as_of: dt.date, lookback: int) -> list[BarData]:
        rows = _newest_rows(symbol, as_of, lookback)
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


#: Dates of one symbol this close share a window whatever the lookback (a month of extra bars at most).
_STRETCH_MIN = dt.timedelta(days=31)


def _newest_rows(symbol: str, as_of: dt.date, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` newest daily bars on or before ``as_of``, newest first (one query).

    The instrument is picked by a scalar subquery on its symbol, not a join: PostgreSQL then walks
    the (instrument, timeframe, date) index backwards and stops after ``limit`` rows; with the join
    it read the symbol's whole history and sorted it (825 rows for 272: 1.2 -> 0.2 ms)."""
    instrument = Instrument.objects.filter(symbol=symbol).values("pk")[:1]
    return list(
        Bar.objects.filter(instrument=Subquery(instrument), timeframe=Timeframe.DAY, date__lte=as_of)
        .order_by("-date")
        .values(*_BAR_FIELDS)[:limit]
    )


def _stretches(days: list[dt.date], *, span: dt.timedelta) -> list[tuple[dt.date, dt.date]]:
    """Sorted ``days`` cut into (first, last) stretches no longer than ``span``."""
    stretches: list[tuple[dt.date, dt.date]] = []
    for day in days:
        if stretches and day - stretches[-1][0] <= span:
            stretches[-1] = (stretches[-1][0], day)
        else:
            stretches.append((day, day))
    return stretches


@dataclass(frozen=True)
class _Window:
    """The newest bars on or before ``last``: every bar after the ``lookback``-th before ``first``.

    Daily bars fall on distinct days, so at most ``(last - first).days`` of them lie after
    ``first``; reading ``lookback`` more covers every history as of a date in [first, last]. The
    window is a suffix of the symbol's bars up to ``last`` (or all of them, ``complete``), so any
    ``lookback`` consecutive bars it holds are exactly what a query would return.
    """

    last: dt.date
    bars_: list[BarData]
    dates: list[dt.date]
    complete: bool

    @classmethod
    def read(cls, symbol: str, first: dt.date, last: dt.date, lookback: int) -> _Window:
        limit = lookback + (last - first).days
        rows = _newest_rows(symbol, last, limit)
        rows.reverse()
        bars = _BAR_LIST.validate_python(rows)
        return cls(last, bars, [b.date for b in bars], complete=len(rows) < limit)

    def bars(self, as_of: dt.date, lookback: int) -> list[BarData] | None:
        """The history as of ``as_of`` (no bar after it), or None when this window cannot tell."""
        if as_of > self.last:
            return None  # bars after the window's end may exist
        end = bisect.bisect_right(self.dates, as_of)
        if end == 0 or (end < lookback and not self.complete):
            return None  # older bars than the window holds are needed (or there are none: the query says why)
        return self.bars_[max(0, end - lookback) : end]


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
