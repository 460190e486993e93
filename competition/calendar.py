"""The trading calendar of a run: which days are stepped, and on which of them each trader decides.

The engine and the cost estimate both use these functions, so the estimate counts exactly the
debates the engine will hold.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from debates.models import Bar, Timeframe

from .models import RebalanceFrequency


def trading_days(symbols: Iterable[str], start: dt.date, end: dt.date) -> list[dt.date]:
    """Dates in [start, end] on which any of the symbols has a daily bar, ascending (one query)."""
    return list(
        Bar.objects.filter(
            instrument__symbol__in=list(symbols), timeframe=Timeframe.DAY, date__gte=start, date__lte=end
        )
        .order_by("date")
        .values_list("date", flat=True)
        .distinct()
    )


def symbol_days(symbols: Iterable[str], start: dt.date, end: dt.date) -> dict[str, set[dt.date]]:
    """Per symbol, the dates in [start, end] with a daily bar (a symbol is only debated on its own days)."""
    result: dict[str, set[dt.date]] = {symbol: set() for symbol in symbols}
    rows = Bar.objects.filter(
        instrument__symbol__in=list(result), timeframe=Timeframe.DAY, date__gte=start, date__lte=end
    ).values_list("instrument__symbol", "date")
    for symbol, day in rows:
        result[symbol].add(day)
    return result


def opens_period(previous: dt.date | None, day: dt.date, frequency: str) -> bool:
    """Whether ``day`` starts a new rebalance period after the trading day ``previous`` (None: first day)."""
    if previous is None or frequency == RebalanceFrequency.DAILY:
        return True
    if frequency == RebalanceFrequency.WEEKLY:
        return day.isocalendar()[:2] != previous.isocalendar()[:2]
    if frequency == RebalanceFrequency.MONTHLY:
        return (day.year, day.month) != (previous.year, previous.month)
    raise ValueError(f"Unknown rebalance frequency {frequency!r}")


def is_rebalance_day(days: Sequence[dt.date], index: int, frequency: str) -> bool:
    """Whether ``days[index]`` opens a new rebalance period (the first trading day of a week/month).

    The last day of the period never is: an order placed on it would only fill after the period.
    """
    if index >= len(days) - 1:
        return False
    return opens_period(days[index - 1] if index else None, days[index], frequency)


def rebalance_days(days: Sequence[dt.date], frequency: str) -> list[dt.date]:
    return [day for i, day in enumerate(days) if is_rebalance_day(days, i, frequency)]
