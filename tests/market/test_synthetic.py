"""Tests for the synthetic OHLCV generator and the bundled CSV it produced."""

from __future__ import annotations

import datetime
import io
import itertools
import math
import pathlib
import re
from collections.abc import Sequence
from decimal import Decimal

import pytest

from debates.market import synthetic
from debates.market.csv_import import parse_bars_csv
from debates.market.synthetic import BUNDLED_CSV, END, START, SYMBOLS, BarRow, generate, write_csv

D = datetime.date
PRICE_RE = re.compile(r"\d+\.\d{4}")


@pytest.fixture(scope="module")
def series() -> dict[str, list[BarRow]]:
    """Full series per symbol, generated once: the generator is deterministic by design."""
    return {symbol: generate(symbol) for symbol in SYMBOLS}


def closes(rows: Sequence[BarRow]) -> list[float]:
    return [float(row.close) for row in rows]


def closes_between(rows: Sequence[BarRow], first: D, stop: D) -> list[float]:
    return [float(row.close) for row in rows if first <= row.date < stop]


def annual_vol(prices: Sequence[float]) -> float:
    returns = [math.log(b / a) for a, b in itertools.pairwise(prices)]
    mean = sum(returns) / len(returns)
    return math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1) * 252)


def max_drawdown(prices: Sequence[float]) -> float:
    peak, worst = prices[0], 0.0
    for price in prices:
        peak = max(peak, price)
        worst = max(worst, 1 - price / peak)
    return worst


def correlation(xs: Sequence[float], ys: Sequence[float]) -> float:
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    cov = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    return cov / math.sqrt(sum((x - mx) ** 2 for x in xs) * sum((y - my) ** 2 for y in ys))


# --- determinism and the shipped file -------------------------------------------------------


def test_two_generations_are_equal() -> None:
    for symbol in SYMBOLS:
        assert generate(symbol) == generate(symbol)


def test_symbols_differ_from_each_other(series: dict[str, list[BarRow]]) -> None:
    first_closes = {rows[10].close for rows in series.values()}
    assert len(first_closes) == len(SYMBOLS)


def test_shipped_csv_equals_fresh_generation_byte_for_byte(tmp_path: pathlib.Path) -> None:
    fresh = tmp_path / "fresh.csv"
    count = write_csv(fresh)
    assert fresh.read_bytes() == BUNDLED_CSV.read_bytes()
    assert count == len(BUNDLED_CSV.read_text(encoding="utf-8").splitlines()) - 1


def test_csv_layout_header_sorting_and_formatting() -> None:
    lines = BUNDLED_CSV.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "symbol,date,open,high,low,close,volume"
    keys = []
    for line in lines[1:]:
        symbol, day, *prices, volume = line.split(",")
        assert all(PRICE_RE.fullmatch(price) for price in prices), line
        assert volume.isdigit(), line
        keys.append((symbol, day))
    assert keys == sorted(keys)
    assert {symbol for symbol, _ in keys} == set(SYMBOLS)
    assert b"\r" not in BUNDLED_CSV.read_bytes()


def test_shipped_csv_passes_the_strict_importer(series: dict[str, list[BarRow]]) -> None:
    with BUNDLED_CSV.open(encoding="utf-8", newline="") as handle:
        bars = parse_bars_csv(handle)
    assert len(bars) == sum(len(rows) for rows in series.values())
    acme = [bar for bar in bars if bar.symbol == "ACME"]
    assert [(b.date, b.open, b.high, b.low, b.close, b.volume) for b in acme] == [
        (r.date, r.open, r.high, r.low, r.close, r.volume) for r in series["ACME"]
    ]


def test_write_csv_returns_row_count_and_creates_parent(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "nested" / "out.csv"
    count = write_csv(target)
    text = target.read_text(encoding="utf-8")
    assert count == text.count("\n") - 1
    assert count == len(parse_bars_csv(io.StringIO(text, newline="")))


# --- calendar and ranges --------------------------------------------------------------------


def test_business_days_from_start_to_end(series: dict[str, list[BarRow]]) -> None:
    expected = synthetic.business_days(START, END)
    assert expected[0] == D(2021, 1, 4)
    assert expected[-1] == D(2025, 12, 31)
    assert all(day.weekday() < 5 for day in expected)
    assert len(expected) == 1303
    for symbol, rows in series.items():
        assert [row.date for row in rows] == expected, symbol
        assert {row.symbol for row in rows} == {symbol}


def test_sub_range_equals_slice_of_full_range(series: dict[str, list[BarRow]]) -> None:
    first, last = D(2022, 3, 5), D(2023, 11, 17)  # a Saturday start and a Friday end
    for symbol, rows in series.items():
        expected = [row for row in rows if first <= row.date <= last]
        assert generate(symbol, first, last) == expected
        assert expected[0].date == D(2022, 3, 7)


def test_extending_past_end_keeps_the_full_range_as_prefix(series: dict[str, list[BarRow]]) -> None:
    longer = generate("FLUX", START, D(2026, 1, 30))
    assert longer[: len(series["FLUX"])] == series["FLUX"]
    assert longer[-1].date == D(2026, 1, 30)


def test_single_day_range() -> None:
    rows = generate("EPIC", D(2024, 5, 6), D(2024, 5, 6))
    assert [row.date for row in rows] == [D(2024, 5, 6)]


@pytest.mark.parametrize(
    ("symbol", "start", "end", "message"),
    [
        ("NOPE", START, END, "unknown synthetic symbol"),
        ("ACME", D(2020, 12, 31), END, "before the first synthetic day"),
        ("ACME", D(2022, 1, 10), D(2022, 1, 7), "before start"),
    ],
)
def test_generate_rejects_bad_arguments(symbol: str, start: D, end: D, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate(symbol, start, end)


# --- per-row invariants ---------------------------------------------------------------------


def test_every_row_satisfies_ohlc_invariants(series: dict[str, list[BarRow]]) -> None:
    quantum = Decimal("0.0001")
    for rows in series.values():
        for row in rows:
            assert row.low <= min(row.open, row.close) <= max(row.open, row.close) <= row.high, row
            assert min(row.open, row.high, row.low, row.close) > 0, row
            assert isinstance(row.volume, int), row
            assert row.volume > 0, row
            for price in (row.open, row.high, row.low, row.close):
                assert price == price.quantize(quantum), row


def test_spec_metadata_is_sane() -> None:
    assert set(SYMBOLS) == {"ACME", "BOLT", "CYAN", "DUNE", "EPIC", "FLUX"}
    assert len({spec.seed for spec in SYMBOLS.values()}) == len(SYMBOLS)
    for symbol, spec in SYMBOLS.items():
        assert spec.symbol == symbol
        assert "Synthetic" in spec.name
        assert 20 <= spec.start_price <= 300
        assert spec.description
        assert spec.regimes[0].starts <= START
        assert [r.starts for r in spec.regimes] == sorted(r.starts for r in spec.regimes)


def test_first_bar_opens_near_start_price(series: dict[str, list[BarRow]]) -> None:
    for symbol, rows in series.items():
        assert abs(float(rows[0].open) / SYMBOLS[symbol].start_price - 1) < 0.05, symbol


def test_opens_gap_only_slightly_from_previous_close(series: dict[str, list[BarRow]]) -> None:
    for symbol in ("ACME", "CYAN", "FLUX"):
        rows = series[symbol]
        gaps = [abs(float(b.open) / float(a.close) - 1) for a, b in itertools.pairwise(rows)]
        assert max(gaps) < 0.05, symbol
        assert sorted(gaps)[len(gaps) // 2] < 0.01, symbol


def test_volume_is_higher_on_big_moves(series: dict[str, list[BarRow]]) -> None:
    for symbol, rows in series.items():
        moves = [abs(math.log(b.close / a.close)) for a, b in itertools.pairwise(rows)]
        log_volumes = [math.log(row.volume) for row in rows[1:]]
        assert correlation(moves, log_volumes) > 0.3, symbol


def test_volatility_clusters(series: dict[str, list[BarRow]]) -> None:
    """GARCH-style variance: today's absolute move predicts tomorrow's."""
    for symbol, rows in series.items():
        moves = [abs(math.log(b.close / a.close)) for a, b in itertools.pairwise(rows)]
        assert correlation(moves[:-1], moves[1:]) > 0.05, symbol


# --- regime stories -------------------------------------------------------------------------


def test_acme_is_a_steady_low_vol_uptrend(series: dict[str, list[BarRow]]) -> None:
    prices = closes(series["ACME"])
    assert prices[-1] > 1.5 * prices[0]
    assert annual_vol(prices) < 0.2
    assert max_drawdown(prices) < 0.25


def test_bolt_runs_up_crashes_and_partially_recovers(series: dict[str, list[BarRow]]) -> None:
    rows = series["BOLT"]
    prices = closes(rows)
    peak = max(closes_between(rows, START, D(2022, 5, 2)))
    trough = min(closes_between(rows, D(2022, 5, 2), D(2026, 1, 1)))
    assert peak == max(prices)
    assert trough < 0.45 * peak
    assert rows[prices.index(trough)].date < D(2023, 6, 1)
    assert 1.3 * trough < prices[-1] < 0.8 * peak
    assert annual_vol(prices) > 2 * annual_vol(closes(series["ACME"]))


def test_cyan_stays_in_a_range(series: dict[str, list[BarRow]]) -> None:
    prices = closes(series["CYAN"])
    assert all(42 < price < 81 for price in prices)
    assert abs(prices[-1] / prices[0] - 1) < 0.2


def test_dune_is_a_persistent_downtrend(series: dict[str, list[BarRow]]) -> None:
    rows = series["DUNE"]
    prices = closes(rows)
    year_ends = [closes_between(rows, D(year, 1, 1), D(year + 1, 1, 1))[-1] for year in range(2021, 2026)]
    assert prices[-1] < 0.6 * prices[0]
    assert max(prices) <= 1.1 * prices[0]
    assert year_ends == sorted(year_ends, reverse=True)


def test_epic_switches_from_calm_bull_to_volatile_bear_to_recovery(
    series: dict[str, list[BarRow]],
) -> None:
    rows = series["EPIC"]
    bull = closes_between(rows, START, D(2022, 3, 1))
    bear = closes_between(rows, D(2022, 3, 1), D(2023, 7, 3))
    recovery = closes_between(rows, D(2023, 7, 3), D(2026, 1, 1))
    assert bull[-1] > 1.15 * bull[0]
    assert max_drawdown(bull) < 0.15
    assert annual_vol(bull) < 0.5 * annual_vol(bear)
    assert max_drawdown(bear) > 0.35
    assert recovery[-1] > 1.4 * min(bear + recovery)


def test_flux_is_a_driftless_medium_vol_walk(series: dict[str, list[BarRow]]) -> None:
    prices = closes(series["FLUX"])
    assert 0.2 < annual_vol(prices) < 0.36
    assert 0.5 < prices[-1] / prices[0] < 2
