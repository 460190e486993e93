"""Tests for the strict, all-or-nothing OHLCV CSV parser."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest

from debates.market import csv_import
from debates.market.csv_import import BarsCsvError, ParsedBar, parse_bars_csv

HEADER = "symbol,date,open,high,low,close,volume"
GOOD_ROW = "ACME,2024-01-02,10.0,11.0,9.5,10.5,1200"


def parse(text: str) -> list[ParsedBar]:
    return parse_bars_csv(io.StringIO(text, newline=""))


def csv_text(*rows: str, header: str = HEADER) -> str:
    return "\n".join((header, *rows)) + "\n"


def parse_error(text: str) -> BarsCsvError:
    with pytest.raises(BarsCsvError) as info:
        parse(text)
    return info.value


def bad_row_error(row: str, *, before: int = 0) -> BarsCsvError:
    """Parse a file whose bad row comes after ``before`` good rows (so it sits on line before + 2)."""
    good = [f"GOOD,2024-01-{day + 1:02d},10,11,9,10,100" for day in range(before)]
    return parse_error(csv_text(*good, row))


# --- happy path -----------------------------------------------------------------------------


def bar(line: int, symbol: str, day: str, *ohlc: str, volume: int) -> ParsedBar:
    """Expected-value helper: prices as strings so the Decimal scale is part of the assertion."""
    o, h, low, c = (Decimal(price) for price in ohlc)
    return ParsedBar(line, symbol, datetime.date.fromisoformat(day), o, h, low, c, volume)


def test_happy_path_returns_typed_bars_in_file_order() -> None:
    rows = (GOOD_ROW, "bolt,2024-01-02,20,20,20,20,0", "ACME,2024-01-03,10.5,10.5,10,10.2,1200.0")
    bars = parse(csv_text(*rows))
    assert bars == [
        bar(2, "ACME", "2024-01-02", "10.0", "11.0", "9.5", "10.5", volume=1200),
        bar(3, "BOLT", "2024-01-02", "20", "20", "20", "20", volume=0),
        bar(4, "ACME", "2024-01-03", "10.5", "10.5", "10", "10.2", volume=1200),
    ]
    assert [str(b.open) for b in bars] == ["10.0", "20", "10.5"]
    assert all(type(b.volume) is int for b in bars)


def test_shuffled_column_order() -> None:
    header = "volume,close,low,high,open,date,symbol"
    bars = parse(csv_text("1200,10.5,9.5,11.0,10.0,2024-01-02,ACME", header=header))
    assert bars == [bar(2, "ACME", "2024-01-02", "10.0", "11.0", "9.5", "10.5", volume=1200)]


def test_header_is_case_insensitive_and_whitespace_tolerant() -> None:
    bars = parse(csv_text(GOOD_ROW, header=" Symbol , DATE,Open,HIGH ,low,Close,  Volume"))
    assert [(bar.symbol, bar.close) for bar in bars] == [("ACME", Decimal("10.5"))]


def test_excel_byte_order_mark_and_crlf_are_accepted() -> None:
    bars = parse("\ufeff" + HEADER + "\r\n" + GOOD_ROW + "\r\n")
    assert [(bar.line, bar.symbol) for bar in bars] == [(2, "ACME")]


def test_values_are_stripped_and_symbols_upper_cased() -> None:
    bars = parse(csv_text(" brk.b , 2024-01-02 , 10 , 11 , 9 , 10 , 5 "))
    assert (bars[0].symbol, bars[0].open, bars[0].volume) == ("BRK.B", Decimal(10), 5)


def test_blank_lines_are_skipped_but_still_counted() -> None:
    bars = parse(f"{HEADER}\n\n{GOOD_ROW}\n\nACME,2024-01-03,10,11,9,10,1\n")
    assert [bar.line for bar in bars] == [3, 5]


def test_quoted_multiline_field_keeps_physical_line_numbers() -> None:
    text = f'{HEADER}\n"ACME",2024-01-02,10,11,9,10,1\n"BAD\nSYM",2024-01-03,10,11,9,10,1\n'
    err = parse_error(text)
    assert err.line == 3
    text = f'{HEADER}\n"ACME\n",2024-01-02,10,11,9,10,1\nACME,2024-01-03,10,9,11,10,1\n'
    assert parse_error(text).line == 4


def test_scientific_notation_and_high_equal_to_everything() -> None:
    bars = parse(csv_text("ACME,2024-01-02,1.5e-3,1.5E-3,0.0015,0.0015,1.2e3"))
    assert (bars[0].open, bars[0].volume) == (Decimal("0.0015"), 1200)


# --- error type -----------------------------------------------------------------------------


def test_error_is_a_value_error_with_line_and_reason() -> None:
    err = bad_row_error("ACME,2024-01-02,10,9.5,10.0,10,1", before=5)
    assert isinstance(err, ValueError)
    assert err.line == 7
    assert err.reason == "high 9.5 is below low 10.0"
    assert str(err) == "line 7: high 9.5 is below low 10.0"


# --- header errors --------------------------------------------------------------------------


def test_missing_columns_are_named() -> None:
    err = parse_error(csv_text("ACME,2024-01-02,10,11,9", header="symbol,date,open,high,low"))
    assert str(err) == "header: missing column(s): close, volume"
    assert err.line == 1


def test_extra_columns_are_named() -> None:
    err = parse_error(csv_text(GOOD_ROW + ",x,y", header=HEADER + ",Adj Close,notes"))
    assert str(err) == "header: unexpected column(s): adj close, notes"


def test_blank_header_column_is_reported() -> None:
    err = parse_error(csv_text(GOOD_ROW + ",", header=HEADER + ","))
    assert str(err) == "header: unexpected column(s): (blank)"


def test_duplicate_header_column() -> None:
    err = parse_error(csv_text(GOOD_ROW + ",1", header=HEADER + ",Close"))
    assert str(err) == "header: duplicate column(s): close"


def test_missing_header_row_is_an_error() -> None:
    err = parse_error(GOOD_ROW + "\n")
    assert err.line == 1
    assert err.reason.startswith("missing column(s): symbol, date, open, high, low, close, volume")


@pytest.mark.parametrize("text", ["", "\n\n", HEADER, HEADER + "\n", HEADER + "\n\n"])
def test_empty_file_or_header_only_has_no_data_rows(text: str) -> None:
    err = parse_error(text)
    assert str(err) == "no data rows"
    assert err.line is None


# --- row errors, each with the exact line ---------------------------------------------------


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("ACME,2024-01-02,10,11,9,10", "expected 7 fields, got 6"),
        ("ACME,2024-01-02,10,11,9,10,1,2", "expected 7 fields, got 8"),
        (",2024-01-02,10,11,9,10,1", "symbol is empty"),
        ("1ACME,2024-01-02,10,11,9,10,1", "symbol '1ACME' is not a valid ticker"),
        ("AC ME,2024-01-02,10,11,9,10,1", "symbol 'AC ME' is not a valid ticker"),
        ("ABCDEFGHIJKLMNOP,2024-01-02,10,11,9,10,1", "is not a valid ticker"),
        ("ACME,,10,11,9,10,1", "date is empty"),
        ("ACME,02/01/2024,10,11,9,10,1", "date '02/01/2024' is not a plain ISO date (YYYY-MM-DD)"),
        ("ACME,2024-01-02T00:00:00,10,11,9,10,1", "is not a plain ISO date"),
        ("ACME,2024-01-02 09:30,10,11,9,10,1", "is not a plain ISO date"),
        ("ACME,20240102,10,11,9,10,1", "is not a plain ISO date"),
        ("ACME,2024-02-30,10,11,9,10,1", "date '2024-02-30' is not a real calendar date"),
        ("ACME,2024-01-02,,11,9,10,1", "open is empty"),
        ("ACME,2024-01-02,10,abc,9,10,1", "high 'abc' is not a number"),
        ("ACME,2024-01-02,10,11,NaN,10,1", "low NaN is not a finite number"),
        ("ACME,2024-01-02,10,11,9,inf,1", "close inf is not a finite number"),
        ("ACME,2024-01-02,10,-Infinity,9,10,1", "high -Infinity is not a finite number"),
        ("ACME,2024-01-02,1_0,11,9,10,1", "open '1_0' is not a number"),
        ("ACME,2024-01-02,10,11,0,10,1", "low 0 must be greater than 0"),
        ("ACME,2024-01-02,-1,11,9,10,1", "open -1 must be greater than 0"),
        ("ACME,2024-01-02,10,11,9,1e400,1", "close 1e400 is out of range"),
        ("ACME,2024-01-02,10,1000000000000,9,10,1", "high 1000000000000 is out of range"),
        ("ACME,2024-01-02,1e-30,11,9,10,1", "open 1e-30 is out of range"),
        ("ACME,2024-01-02,10,11,9,10,1000000000000000000", "volume 1000000000000000000 is out of range"),
        ("ACME,2024-01-02,10,11,9,10,", "volume is empty"),
        ("ACME,2024-01-02,10,11,9,10,12.5", "volume 12.5 is not a whole number"),
        ("ACME,2024-01-02,10,11,9,10,-3", "volume -3 must not be negative"),
        ("ACME,2024-01-02,10,11,9,10,lots", "volume 'lots' is not a number"),
        ("ACME,2024-01-02,10,11,9,10,1e999999999", "volume 1e999999999 is out of range"),
        ("ACME,2024-01-02,10,9.5,10.0,10,1", "high 9.5 is below low 10.0"),
        ("ACME,2024-01-02,12,11,9,10,1", "high 11 is below open 12"),
        ("ACME,2024-01-02,10,11,9,11.5,1", "high 11 is below close 11.5"),
        ("ACME,2024-01-02,8.5,11,9,10,1", "low 9 is above open 8.5"),
        ("ACME,2024-01-02,10,11,9,8.99,1", "low 9 is above close 8.99"),
    ],
)
@pytest.mark.parametrize("before", [0, 3])
def test_row_errors_report_the_exact_line(row: str, message: str, before: int) -> None:
    err = bad_row_error(row, before=before)
    assert err.line == before + 2
    assert message in err.reason
    assert str(err) == f"line {before + 2}: {err.reason}"


def test_duplicate_symbol_date_names_both_lines() -> None:
    text = csv_text(
        GOOD_ROW, "ACME,2024-01-03,10,11,9,10,1", "BOLT,2024-01-02,10,11,9,10,1", "acme,2024-01-02,1,1,1,1,1"
    )
    err = parse_error(text)
    assert str(err) == "line 5: duplicate ACME 2024-01-02: already on line 2"


def test_malformed_quoting_is_an_error_with_line() -> None:
    err = parse_error(csv_text(GOOD_ROW, 'ACME,"2024-01-03"x,10,11,9,10,1'))
    assert err.line == 3
    assert err.reason.startswith("malformed CSV")


def test_first_error_wins() -> None:
    err = parse_error(csv_text(GOOD_ROW, "ACME,2024-01-03,10,11,9,10,1.5", "ACME,bad-date,10,11,9,10,1"))
    assert err.line == 3
    assert "volume" in err.reason


def test_late_error_rejects_whole_file() -> None:
    """All-or-nothing: many good rows do not rescue one bad row at the end."""
    good = [f"ACME,{datetime.date(2020, 1, 1) + datetime.timedelta(days=i)},10,11,9,10,1" for i in range(500)]
    err = parse_error(csv_text(*good, "ACME,2030-01-01,10,11,9,10,x"))
    assert err.line == 502


def test_row_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_import, "MAX_ROWS", 3)
    rows = [f"ACME,2024-01-0{day},10,11,9,10,1" for day in range(1, 5)]
    assert len(parse(csv_text(*rows[:3]))) == 3
    err = parse_error(csv_text(*rows))
    assert err.line == 5
    assert err.reason == "too many data rows (the limit is 3)"


def test_default_row_cap_is_one_million() -> None:
    assert csv_import.MAX_ROWS == 1_000_000


def test_largest_storable_values_are_accepted() -> None:
    bars = parse(csv_text("ACME,2024-01-02,999999999999.9999,999999999999.9999,0.0001,1,999999999999999999"))
    assert (bars[0].high, bars[0].volume) == (Decimal("999999999999.9999"), 10**18 - 1)
