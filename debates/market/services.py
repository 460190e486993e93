"""Writes of market data: importing bars, all or nothing."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from django.db import transaction

from debates.models import Bar, Instrument, Timeframe


class BarRowLike(Protocol):
    @property
    def symbol(self) -> str: ...
    @property
    def date(self) -> dt.date: ...
    @property
    def open(self) -> Decimal: ...
    @property
    def high(self) -> Decimal: ...
    @property
    def low(self) -> Decimal: ...
    @property
    def close(self) -> Decimal: ...
    @property
    def volume(self) -> int: ...


@dataclass(frozen=True)
class ImportSummary:
    symbols: dict[str, int]

    @property
    def rows(self) -> int:
        return sum(self.symbols.values())


def _daily_ts(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


@transaction.atomic
def bars_import(
    *, rows: Sequence[BarRowLike], source: str, synthetic: bool = False, names: dict[str, str] | None = None
) -> ImportSummary:
    """Insert or update daily bars in one transaction: a failure anywhere imports nothing.

    Rows are expected to be validated already (see ``debates.market.csv_import``); the database's
    constraints still refuse an inconsistent bar, which rolls the whole import back.
    """
    names = names or {}
    instruments: dict[str, Instrument] = {}
    counts: dict[str, int] = {}
    for symbol in sorted({r.symbol for r in rows}):
        instrument, _created = Instrument.objects.get_or_create(
            symbol=symbol, defaults={"name": names.get(symbol, ""), "source": source, "synthetic": synthetic}
        )
        instruments[symbol] = instrument
    bars = []
    for r in rows:
        counts[r.symbol] = counts.get(r.symbol, 0) + 1
        bars.append(
            Bar(
                instrument=instruments[r.symbol],
                timeframe=Timeframe.DAY,
                date=r.date,
                ts=_daily_ts(r.date),
                open=r.open,
                high=r.high,
                low=r.low,
                close=r.close,
                volume=r.volume,
                source=source,
            )
        )
    Bar.objects.bulk_create(
        bars,
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["instrument", "timeframe", "ts"],
        update_fields=["date", "open", "high", "low", "close", "volume", "source"],
    )
    return ImportSummary(symbols=counts)


def bundled_bars_load() -> ImportSummary:
    """Load the bundled synthetic daily bars (see debates/market/data/README.md)."""
    from debates.market.csv_import import parse_bars_csv
    from debates.market.synthetic import BUNDLED_CSV, SYMBOLS

    with BUNDLED_CSV.open(encoding="utf-8", newline="") as stream:
        rows = parse_bars_csv(stream)
    return bars_import(
        rows=rows, source="embedded", synthetic=True, names={s: spec.name for s, spec in SYMBOLS.items()}
    )
