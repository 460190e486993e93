"""The embedded source's bar reads: the stored rows as of a date, nothing after it, however they were
read (one debate, a batch, or windows the process kept: see also test_bar_history.py)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.db.models import F

from debates.market.sources import EmbeddedSource, NoDataError, UnknownSymbolError
from debates.models import Bar
from tests.market.stored import stored_history

pytestmark = pytest.mark.django_db

D = dt.date(2023, 6, 15)


def test_embedded_source_bars_equal_the_stored_rows_up_to_the_date(arena) -> None:
    bars = EmbeddedSource().bars("ACME", as_of=D, lookback=260)
    assert bars == stored_history("ACME", D, 260)
    assert len(bars) == 260 and bars[-1].date <= D
    assert all(a.date < b.date for a, b in itertools.pairwise(bars))
    assert isinstance(bars[-1].close, Decimal) and isinstance(bars[-1].volume, int)


def test_embedded_source_reads_changed_bars_again(arena) -> None:
    """A kept history is not used once its bars change: a bar changed by QuerySet.update is seen by
    the next debate."""
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


# --- a batch's histories read together (prefetch) ----------------------------------------------------

DATES = [D, D + dt.timedelta(days=1), D + dt.timedelta(days=4), D + dt.timedelta(days=9)]  # a Sat among them


@pytest.mark.parametrize("lookback", [260, 2, 5000])
def test_prefetched_histories_equal_the_stored_rows_as_of_each_date(
    arena, django_assert_num_queries, lookback
) -> None:
    source = EmbeddedSource()
    with django_assert_num_queries(3):  # the versions, then one per symbol: the dates are one stretch
        source.prefetch([("ACME", d) for d in DATES] + [("BOLT", D)], lookback=lookback)
    with django_assert_num_queries(0):
        got = {
            (s, d): source.bars(s, as_of=d, lookback=lookback)
            for s, d in [*[("ACME", d) for d in DATES], ("BOLT", D)]
        }
        quotes = [source.quote("ACME", as_of=d) for d in DATES]
    for (symbol, as_of), bars in got.items():
        assert bars == stored_history(symbol, as_of, lookback)
        assert bars[-1].date <= as_of  # the window reaches DATES[-1]; no debate sees past its own date
    assert [q.as_of for q in quotes] == [got["ACME", d][-1].date for d in DATES]


def test_prefetch_near_the_first_bar_serves_the_whole_short_history(arena, django_assert_num_queries) -> None:
    first = Bar.objects.filter(instrument__symbol="ACME").order_by("date").values_list("date", flat=True)[0]
    as_of = first + dt.timedelta(days=20)
    source = EmbeddedSource()
    source.prefetch([("ACME", as_of)], lookback=260)
    with django_assert_num_queries(0):
        bars = source.bars("ACME", as_of=as_of, lookback=260)
    assert bars == stored_history("ACME", as_of, 260) and bars[0].date == first and len(bars) < 260


def test_prefetch_reads_far_apart_dates_separately_and_asks_again_outside_its_windows(
    arena, django_assert_num_queries
) -> None:
    far = D - dt.timedelta(days=800)
    source = EmbeddedSource()
    with django_assert_num_queries(3):  # the versions, then two stretches, each a window of its own
        source.prefetch([("ACME", D), ("ACME", far)], lookback=40)
    later = D + dt.timedelta(days=30)
    with django_assert_num_queries(0):
        at_far = source.bars("ACME", as_of=far, lookback=40)
        in_between = source.bars("ACME", as_of=D - dt.timedelta(days=20), lookback=5)
        after_d = source.bars("ACME", as_of=later, lookback=40)  # the window read ahead of D
    assert at_far == stored_history("ACME", far, 40)
    assert in_between == stored_history("ACME", D - dt.timedelta(days=20), 5)
    assert after_d == stored_history("ACME", later, 40) and after_d[-1].date <= later
    between_windows = far + dt.timedelta(days=500)  # past the far window's year ahead, before D's
    with django_assert_num_queries(2):  # the versions and a window: a date no window serves
        between = source.bars("ACME", as_of=between_windows, lookback=40)
    with django_assert_num_queries(2):  # again: older bars than any window holds
        longer = source.bars("ACME", as_of=D, lookback=1000)
    assert between == stored_history("ACME", between_windows, 40) and between[-1].date <= between_windows
    assert longer == stored_history("ACME", D, 1000)


def test_prefetch_of_unknown_or_too_early_dates_raises_as_a_read_would(arena) -> None:
    first = Bar.objects.filter(instrument__symbol="ACME").order_by("date").values_list("date", flat=True)[0]
    source = EmbeddedSource()
    source.prefetch([("NOPE", D), ("ACME", first - dt.timedelta(days=1))], lookback=10)
    with pytest.raises(UnknownSymbolError):
        source.bars("NOPE", as_of=D, lookback=10)
    with pytest.raises(NoDataError):
        source.bars("ACME", as_of=first - dt.timedelta(days=1), lookback=10)
