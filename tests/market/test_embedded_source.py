"""The embedded source's bar reads: the stored rows as of a date, nothing after it, never cached."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.db.models import F

from agents.schemas import BarData
from debates.market.sources import EmbeddedSource, NoDataError, UnknownSymbolError
from debates.models import Bar, Timeframe

pytestmark = pytest.mark.django_db

D = dt.date(2023, 6, 15)


def _reference(symbol: str, as_of: dt.date, lookback: int) -> list[BarData]:
    """The bars as the ORM returns them, one model at a time (what the source must equal)."""
    rows = Bar.objects.filter(instrument__symbol=symbol, timeframe=Timeframe.DAY, date__lte=as_of).order_by(
        "-date"
    )[:lookback]
    return [
        BarData(date=b.date, open=b.open, high=b.high, low=b.low, close=b.close, volume=b.volume)
        for b in reversed(rows)
    ]


def test_embedded_source_bars_equal_the_stored_rows_up_to_the_date(arena) -> None:
    bars = EmbeddedSource().bars("ACME", as_of=D, lookback=260)
    assert bars == _reference("ACME", D, 260)
    assert len(bars) == 260 and bars[-1].date <= D
    assert all(a.date < b.date for a, b in itertools.pairwise(bars))
    assert isinstance(bars[-1].close, Decimal) and isinstance(bars[-1].volume, int)


def test_embedded_source_reads_changed_bars_again(arena) -> None:
    """Nothing is cached between debates: a bar changed by QuerySet.update is seen by the next one."""
    before = EmbeddedSource().bars("ACME", as_of=D, lookback=5)
    Bar.objects.filter(instrument__symbol="ACME", date=before[-1].date).update(
        close=F("close") + Decimal("0.5"), high=F("high") + Decimal("0.5")
    )
    after = EmbeddedSource().bars("ACME", as_of=D, lookback=5)
    assert after[-1].close == before[-1].close + Decimal("0.5")
    assert after[:-1] == before[:-1]


def test_embedded_source_quote_reuses_the_history_it_read(arena, django_assert_num_queries) -> None:
    source = EmbeddedSource()
    bars = source.bars("ACME", as_of=D, lookback=260)
    with django_assert_num_queries(0):
        quote = source.quote("ACME", as_of=D)
    assert (quote.as_of, quote.price, quote.previous_close) == (bars[-1].date, bars[-1].close, bars[-2].close)


def test_embedded_source_errors(arena) -> None:
    with pytest.raises(UnknownSymbolError):
        EmbeddedSource().bars("NOPE", as_of=D, lookback=10)
    first = Bar.objects.filter(instrument__symbol="ACME").order_by("date").values_list("date", flat=True)[0]
    with pytest.raises(NoDataError):
        EmbeddedSource().bars("ACME", as_of=first - dt.timedelta(days=1), lookback=10)
