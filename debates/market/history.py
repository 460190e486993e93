"""Bar histories read in windows, and kept in the process between debates while they are current.

A debate reads the newest ``lookback`` bars on or before its date. Debates close in time share
almost all of them, so the embedded source reads a **window** - every bar from the ``lookback``-th
before the first date wanted to the last - and slices each debate's history out of it. Windows are
read ahead (a year past the last date wanted, as far as bars exist), so a backtest walking forward
day by day, or a worker debating today's symbols again and again, reads each symbol's bars about
once, not once per debate or per batch. Slicing never returns a bar after the debate's date, so
reading ahead cannot leak the future into a debate.

Why a process may keep them: ``Instrument.bars_version`` is changed by database triggers on every
write to the instrument's bars, whoever makes it, and never returns to an earlier value (migration
``debates/0006``). A read first asks the versions of its symbols (one query for a whole batch) and
uses a kept window only under the version it was read with; a changed version drops the symbol's
windows. The version is read before the bars, so a window can only be older than its version says
if a write commits in between - and then its version is already stale, so it is never used again.

Bounded: at most ``ARENA_BAR_HISTORY_SYMBOLS`` symbols (least recently used dropped first; 0 keeps
nothing between reads) and a few windows each.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import OuterRef, Subquery
from pydantic import TypeAdapter

from agents.schemas import BarData
from arena_project.kept import KeptByVersion
from debates.models import Bar, Instrument, Timeframe
from debates.selectors import daily_bars

#: Dates of one symbol this close share a window whatever the lookback (a month of extra bars at most).
STRETCH_MIN = dt.timedelta(days=31)
#: How far past the last date wanted a window reads, where bars exist (see the module docstring).
READ_AHEAD = dt.timedelta(days=366)
#: Windows kept per symbol (a batch's far-apart dates each have their own; the newest are kept).
#: A window of the default 260-bar lookback read a year ahead holds about 630 bars, about 1.3 MB
#: with their stored rows (``BarData.json_row``), measured with tracemalloc.
WINDOWS_PER_SYMBOL = 2

BAR_FIELDS = ("date", "open", "high", "low", "close", "volume")
_BAR_LIST = TypeAdapter(list[BarData])


def newest_rows(symbol: str, as_of: dt.date, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` newest daily bars on or before ``as_of``, newest first (one query, which walks
    the bars' index from that date down and stops after ``limit`` rows: ``daily_bars``)."""
    return list(daily_bars(symbol).filter(date__lte=as_of).order_by("-date").values(*BAR_FIELDS)[:limit])


def bars_validate(rows: list[dict[str, Any]]) -> list[BarData]:
    """Rows of :data:`BAR_FIELDS` as bars: one validation of the whole list (half the CPU of a
    ``BarData(...)`` call per row)."""
    return _BAR_LIST.validate_python(rows)


@dataclass(frozen=True)
class Window:
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
    def read(
        cls, symbol: str, first: dt.date, last: dt.date, lookback: int, *, reach: dt.date | None = None
    ) -> Window:
        """Read the window for [first, last]. ``reach``: a later date up to which the caller knows
        there is no bar after ``last`` (the symbol's newest bar at its version), so the window serves
        dates up to it too."""
        limit = lookback + (last - first).days
        rows = newest_rows(symbol, last, limit)
        rows.reverse()
        bars = bars_validate(rows)
        return cls(max(last, reach or last), bars, [b.date for b in bars], complete=len(rows) < limit)

    def bars(self, as_of: dt.date, lookback: int) -> list[BarData] | None:
        """The history as of ``as_of`` (no bar after it), or None when this window cannot tell."""
        if as_of > self.last:
            return None  # bars after the window's end may exist
        end = bisect.bisect_right(self.dates, as_of)
        if end == 0 or (end < lookback and not self.complete):
            return None  # older bars than the window holds are needed (or there are none: the query says why)
        return self.bars_[max(0, end - lookback) : end]

    def serves(self, first: dt.date, last: dt.date, lookback: int) -> bool:
        """Whether every history as of a date in [first, last] can be sliced out of this window
        (then it can for ``first``, and every later date up to ``last`` has at least as many bars)."""
        return last <= self.last and self.bars(first, lookback) is not None


def windows_for(wanted: Iterable[tuple[str, dt.date]], *, lookback: int) -> dict[str, list[Window]]:
    """Windows serving every (symbol, date) ``wanted``: the kept ones that are still current, and
    one read per stretch of dates they do not serve (a stretch spans ``lookback`` calendar days, a
    month at least). Unknown symbols get none; the caller's own read says why."""
    dates: dict[str, set[dt.date]] = {}
    for symbol, as_of in wanted:
        dates.setdefault(symbol, set()).add(as_of)
    found: dict[str, list[Window]] = {}
    for symbol, (version, newest) in _versions(dates).items():
        windows = found[symbol] = _windows_kept(symbol, version)
        span = max(dt.timedelta(days=lookback), STRETCH_MIN)
        for first, last in _stretches(sorted(dates[symbol]), span=span):
            if any(w.serves(first, last, lookback) for w in windows):
                continue
            window = _window_read(symbol, first, last, lookback, newest=newest)
            windows.append(window)
            _window_keep(symbol, version, window)
    return found


def _window_read(
    symbol: str, first: dt.date, last: dt.date, lookback: int, *, newest: dt.date | None
) -> Window:
    """The window for [first, last], read ahead up to :data:`READ_AHEAD` past ``last`` as far as
    bars exist (``newest``, the symbol's newest bar at the version read): the window then serves
    every date up to ``last + READ_AHEAD``, later debates' included, without another read."""
    if newest is None:
        return Window.read(symbol, first, last, lookback)  # no bars: the caller's own read says so
    reach = last + READ_AHEAD
    if newest >= reach:
        return Window.read(symbol, first, reach, lookback)
    return Window.read(symbol, first, max(first, newest), lookback, reach=reach)


def _versions(dates: dict[str, set[dt.date]]) -> dict[str, tuple[int, dt.date | None]]:
    """Each known symbol's bars version and newest daily bar date, in one query (read before any
    bar: see the module docstring)."""
    newest = Bar.objects.filter(instrument=OuterRef("pk"), timeframe=Timeframe.DAY).order_by("-date")
    rows = (
        Instrument.objects.filter(symbol__in=dates)
        .annotate(newest=Subquery(newest.values("date")[:1]))
        .values_list("symbol", "bars_version", "newest")
    )
    return {symbol: (version, newest_date) for symbol, version, newest_date in rows}


def _stretches(days: list[dt.date], *, span: dt.timedelta) -> list[tuple[dt.date, dt.date]]:
    """Sorted ``days`` cut into (first, last) stretches no longer than ``span``."""
    stretches: list[tuple[dt.date, dt.date]] = []
    for day in days:
        if stretches and day - stretches[-1][0] <= span:
            stretches[-1] = (stretches[-1][0], day)
        else:
            stretches.append((day, day))
    return stretches


#: The process's kept windows by symbol (one per process: each django-q2 worker has its own).
HISTORIES: KeptByVersion[str, list[Window]] = KeptByVersion(lambda: settings.ARENA_BAR_HISTORY_SYMBOLS)


def _windows_kept(symbol: str, version: int) -> list[Window]:
    """A copy of the windows kept for ``symbol`` under ``version`` (none if it changed)."""
    return list(HISTORIES.get(symbol, version) or ())


def _window_keep(symbol: str, version: int, window: Window) -> None:
    if window.bars_:  # an empty window serves nothing: the caller's own read says why
        HISTORIES.update(symbol, version, lambda kept: [*(kept or ()), window][-WINDOWS_PER_SYMBOL:])
