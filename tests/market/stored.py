"""What a bar read must equal: the stored rows, read the plain way, one model at a time."""

from __future__ import annotations

import datetime as dt

from agents.schemas import BarData
from debates.models import Bar, Timeframe


def stored_history(symbol: str, as_of: dt.date, lookback: int) -> list[BarData]:
    """The ``lookback`` newest daily bars on or before ``as_of``, oldest first, as the ORM returns them."""
    rows = Bar.objects.filter(instrument__symbol=symbol, timeframe=Timeframe.DAY, date__lte=as_of).order_by(
        "-date"
    )[:lookback]
    return [
        BarData(date=b.date, open=b.open, high=b.high, low=b.low, close=b.close, volume=b.volume)
        for b in reversed(rows)
    ]
