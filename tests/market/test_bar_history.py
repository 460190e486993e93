"""Bar histories kept by the process between debates (debates/market/history.py): used while current,
never after any write to the instrument's bars, whoever makes it, and bounded."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.db.models import F

from agents.schemas import BarData
from debates.market.csv_import import ParsedBar
from debates.market.history import READ_AHEAD
from debates.market.services import bars_import
from debates.market.sources import EmbeddedSource
from debates.models import Bar, Instrument
from tests.market.stored import stored_history

pytestmark = pytest.mark.django_db

D = dt.date(2023, 6, 15)  # a Thursday
VERSION_QUERY = '"debates_instrument"."bars_version"'
BAR_QUERY = '"debates_bar"."volume" AS "volume" FROM "debates_bar"'


def _read(symbol: str, as_of: dt.date, lookback: int = 260) -> tuple[list[BarData], list[str]]:
    """A new debate's read (a new source, as each debate has), and the queries it took."""
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        bars = EmbeddedSource().bars(symbol, as_of=as_of, lookback=lookback)
    return bars, [q["sql"] for q in captured]


def _kinds(queries: list[str]) -> list[str]:
    return ["version" if VERSION_QUERY in q else "bars" if BAR_QUERY in q else q for q in queries]


def test_a_later_debate_reuses_the_kept_window_with_one_small_query(arena) -> None:
    first, queries = _read("ACME", D)
    assert _kinds(queries) == ["version", "bars"]
    assert first == stored_history("ACME", D, 260)
    for as_of in (D, D + dt.timedelta(days=1), D + dt.timedelta(days=200), D - dt.timedelta(days=3)):
        bars, queries = _read("ACME", as_of)
        assert _kinds(queries) == ["version"]
        assert bars == stored_history("ACME", as_of, 260)
        assert bars[-1].date <= as_of  # read ahead, but no debate sees past its own date


def test_dates_past_the_newest_bar_are_served_by_the_kept_window(arena) -> None:
    """A live desk debates today, when the newest bar is yesterday's or older: no read each time."""
    newest = Bar.objects.filter(instrument__symbol="ACME").order_by("-date").values_list("date", flat=True)[0]
    _read("ACME", newest + dt.timedelta(days=3))
    for days in (3, 4, 30):
        bars, queries = _read("ACME", newest + dt.timedelta(days=days))
        assert _kinds(queries) == ["version"]
        assert bars == stored_history("ACME", newest, 260)
    _bars, queries = _read("ACME", newest + READ_AHEAD + dt.timedelta(days=10))
    assert _kinds(queries) == ["version", "bars"]  # beyond what the window can vouch for


def _update(symbol: str) -> None:
    Bar.objects.filter(instrument__symbol=symbol, date=D).update(
        close=F("close") + Decimal("1.5"), high=F("high") + Decimal("1.5")
    )


def _delete(symbol: str) -> None:
    Bar.objects.filter(instrument__symbol=symbol, date=D).delete()


def _insert(symbol: str) -> None:
    saturday = D + dt.timedelta(days=(5 - D.weekday()) % 7) - dt.timedelta(days=7)
    Bar.objects.create(
        instrument=Instrument.objects.get(symbol=symbol),
        date=saturday,
        ts=dt.datetime.combine(saturday, dt.time.min, tzinfo=dt.UTC),
        open=Decimal("50"),
        high=Decimal("51"),
        low=Decimal("49"),
        close=Decimal("50.5"),
        volume=7,
    )


def _import(symbol: str) -> None:
    bar = Bar.objects.get(instrument__symbol=symbol, date=D)
    row = ParsedBar(
        line=2,
        symbol=symbol,
        date=D,
        open=bar.open,
        high=bar.high + 2,
        low=bar.low,
        close=bar.close + 2,
        volume=bar.volume,
    )
    bars_import(rows=[row], source="embedded")


def _raw_sql(symbol: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE debates_bar SET volume = volume + 1 WHERE instrument_id = "
            "(SELECT id FROM debates_instrument WHERE symbol = %s)",
            [symbol],
        )


@pytest.mark.parametrize("write", [_update, _delete, _insert, _import, _raw_sql])
def test_any_write_to_a_symbols_bars_is_seen_by_the_next_debate(arena, write: Callable[[str], None]) -> None:
    before, _ = _read("ACME", D)
    _read("BOLT", D)
    write("ACME")
    after, queries = _read("ACME", D)
    assert _kinds(queries) == ["version", "bars"]
    assert after == stored_history("ACME", D, 260) and after != before
    _bolt, queries = _read("BOLT", D)
    assert _kinds(queries) == ["version"]  # another symbol's window stays current


def test_a_truncate_is_seen_by_the_next_debate(arena) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no TRUNCATE")
    _read("ACME", D)
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE debates_bar")
    with pytest.raises(Exception, match="No bars for ACME"):
        EmbeddedSource().bars("ACME", as_of=D, lookback=260)


def test_a_rolled_back_write_leaves_no_window_that_looks_current(arena) -> None:
    """The window read inside the rolled-back change carries a version the instrument never has
    again; the one read before it is current again once the change is gone."""
    original, _ = _read("ACME", D)
    versions = [Instrument.objects.get(symbol="ACME").bars_version]
    with pytest.raises(RuntimeError), transaction.atomic():
        _update("ACME")
        changed, _ = _read("ACME", D)
        assert changed != original
        versions.append(Instrument.objects.get(symbol="ACME").bars_version)
        raise RuntimeError("roll it back")
    again, _ = _read("ACME", D)
    assert again == original == stored_history("ACME", D, 260)
    _update("ACME")
    versions.append(Instrument.objects.get(symbol="ACME").bars_version)
    assert len(set(versions)) == 3  # a version is never given twice, rollbacks included
    assert _read("ACME", D)[0] == stored_history("ACME", D, 260)


def test_a_batch_asks_for_every_symbols_version_in_one_query(arena, django_assert_num_queries) -> None:
    wanted = [(s, D) for s in ("ACME", "BOLT", "CYAN")]
    EmbeddedSource().prefetch(wanted, lookback=260)
    source = EmbeddedSource()
    with django_assert_num_queries(1):
        source.prefetch(wanted, lookback=260)
        got = [source.bars(s, as_of=d, lookback=260) for s, d in wanted]
    assert got == [stored_history(s, d, 260) for s, d in wanted]


def test_the_kept_symbols_are_bounded_least_recently_used_first(arena, settings) -> None:
    settings.ARENA_BAR_HISTORY_SYMBOLS = 2
    for symbol in ("ACME", "BOLT", "ACME", "CYAN"):  # BOLT is the least recently used
        _read(symbol, D)
    assert _kinds(_read("ACME", D)[1]) == ["version"]
    assert _kinds(_read("CYAN", D)[1]) == ["version"]
    assert _kinds(_read("BOLT", D)[1]) == ["version", "bars"]


def test_nothing_is_kept_when_the_setting_is_zero(arena, settings) -> None:
    settings.ARENA_BAR_HISTORY_SYMBOLS = 0
    _read("ACME", D)
    bars, queries = _read("ACME", D)
    assert _kinds(queries) == ["version", "bars"] and bars == stored_history("ACME", D, 260)


def test_a_symbol_keeps_its_newest_windows_only(arena) -> None:
    far_apart = [dt.date(2021, 6, 1), dt.date(2023, 1, 3), dt.date(2025, 6, 2)]  # a window each
    for as_of in far_apart:
        assert _kinds(_read("ACME", as_of)[1]) == ["version", "bars"]
    assert _kinds(_read("ACME", far_apart[2])[1]) == ["version"]
    assert _kinds(_read("ACME", far_apart[1])[1]) == ["version"]
    bars, queries = _read("ACME", far_apart[0])  # the first window was dropped (two kept)
    assert _kinds(queries) == ["version", "bars"] and bars == stored_history("ACME", far_apart[0], 260)
