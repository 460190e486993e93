"""Strict parser for a user's own daily OHLCV CSV (used by ``manage.py import_bars``).

Why strict and all-or-nothing: bars feed the analysts' indicators, and one silently mangled row
(a swapped high/low, a duplicated day, a stray "NaN") would skew every debate that touches the
symbol. So the whole file is validated before anything is returned, the first problem raises a
``BarsCsvError`` naming the physical line and the offending column, and the caller imports
nothing unless the entire file is clean.

Accepted format: a header row naming exactly ``symbol,date,open,high,low,close,volume`` (any
order, any case, surrounding whitespace ignored), then one row per (symbol, day).
"""

from __future__ import annotations

import csv
import datetime
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TextIO

REQUIRED_COLUMNS: tuple[str, ...] = ("symbol", "date", "open", "high", "low", "close", "volume")
PRICE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close")
MAX_ROWS = 1_000_000

_SYMBOL_RE = re.compile(r"[A-Z][A-Z0-9.\-]{0,14}")
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Plain decimal notation with an optional exponent; rejects Decimal's extras such as "1_000".
_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NON_FINITE = {"nan", "snan", "inf", "infinity"}
_BOM = "\ufeff"
# Decimal exponents beyond this are nonsense for bars and "1e999999999" would be costly to use.
_MAX_MAGNITUDE = 18
# Upper bounds that fit the storage columns (12 integer digits for prices, a signed 64-bit volume),
# so an absurd value fails here with a line number instead of aborting the database transaction.
PRICE_LIMIT = Decimal(10) ** 12
VOLUME_LIMIT = 10**18


@dataclass(frozen=True)
class ParsedBar:
    """One validated row; ``line`` is the 1-based physical line it started on (header = 1)."""

    line: int
    symbol: str
    date: datetime.date
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


class BarsCsvError(ValueError):
    """The file is not importable. ``str(err)`` is one line meant to be shown to the user as is.

    ``line`` is the 1-based physical line of the problem (None when it concerns the file as a
    whole); header problems keep the header's line but render as ``header: ...``.
    """

    def __init__(self, reason: str, *, line: int | None = None, header: bool = False) -> None:
        self.line = line
        self.reason = reason
        self.header = header
        super().__init__(self._render())

    def _render(self) -> str:
        if self.header:
            return f"header: {self.reason}"
        if self.line is not None:
            return f"line {self.line}: {self.reason}"
        return self.reason


@dataclass(frozen=True)
class _Record:
    """A raw CSV record with the physical line it started on."""

    line: int
    fields: list[str]


def _records(stream: TextIO) -> Iterator[_Record]:
    """Yield non-blank records with their starting line, translating csv-module failures.

    Line numbers come from ``reader.line_num`` so quoted fields spanning several physical lines
    still report the line a user would see in an editor.
    """
    reader = csv.reader(stream, strict=True)
    while True:
        start = reader.line_num + 1
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise BarsCsvError(f"malformed CSV: {exc}", line=start) from exc
        except UnicodeDecodeError as exc:
            raise BarsCsvError(f"file is not valid text: {exc.reason}", line=start) from exc
        if fields:
            yield _Record(start, fields)


def _column_index(header: Sequence[str], line: int) -> dict[str, int]:
    """Map each required column to its position, rejecting missing, extra and repeated names."""
    names = [name.strip().lower() for name in header]
    if names:
        names[0] = names[0].removeprefix(_BOM).strip()
    problems: list[str] = []
    missing = [column for column in REQUIRED_COLUMNS if column not in names]
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    extra = [name or "(blank)" for name in names if name not in REQUIRED_COLUMNS]
    if extra:
        problems.append(f"unexpected column(s): {', '.join(extra)}")
    repeated = sorted({name for name in names if name in REQUIRED_COLUMNS and names.count(name) > 1})
    if repeated:
        problems.append(f"duplicate column(s): {', '.join(repeated)}")
    if problems:
        raise BarsCsvError("; ".join(problems), line=line, header=True)
    return {name: position for position, name in enumerate(names)}


def _parse_symbol(text: str, line: int) -> str:
    symbol = text.strip().upper()
    if not symbol:
        raise BarsCsvError("symbol is empty", line=line)
    if not _SYMBOL_RE.fullmatch(symbol):
        raise BarsCsvError(
            f"symbol {text.strip()!r} is not a valid ticker "
            "(a letter, then up to 14 letters, digits, '.' or '-')",
            line=line,
        )
    return symbol


def _parse_date(text: str, line: int) -> datetime.date:
    """Plain ISO dates only: timestamps and compact forms are rejected, not silently truncated."""
    value = text.strip()
    if not value:
        raise BarsCsvError("date is empty", line=line)
    if not _DATE_RE.fullmatch(value):
        raise BarsCsvError(f"date {value!r} is not a plain ISO date (YYYY-MM-DD)", line=line)
    try:
        return datetime.date.fromisoformat(value)
    except ValueError as exc:
        raise BarsCsvError(f"date {value!r} is not a real calendar date", line=line) from exc


def _parse_number(column: str, text: str, line: int) -> Decimal:
    """A finite decimal; the error names the column and echoes what the user wrote."""
    value = text.strip()
    if not value:
        raise BarsCsvError(f"{column} is empty", line=line)
    if value.lower().lstrip("+-") in _NON_FINITE:
        raise BarsCsvError(f"{column} {value} is not a finite number", line=line)
    if not _NUMBER_RE.fullmatch(value):
        raise BarsCsvError(f"{column} {value!r} is not a number", line=line)
    try:
        number = Decimal(value)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only valid literals
        raise BarsCsvError(f"{column} {value!r} is not a number", line=line) from exc
    if number and abs(number.adjusted()) > _MAX_MAGNITUDE:
        raise BarsCsvError(f"{column} {value} is out of range", line=line)
    return number


def _parse_price(column: str, text: str, line: int) -> Decimal:
    price = _parse_number(column, text, line)
    if price <= 0:
        raise BarsCsvError(f"{column} {text.strip()} must be greater than 0", line=line)
    if price >= PRICE_LIMIT:
        raise BarsCsvError(f"{column} {text.strip()} is out of range", line=line)
    return price


def _parse_volume(text: str, line: int) -> int:
    """Whole, non-negative share counts; "1200.0" is accepted because spreadsheets emit it."""
    volume = _parse_number("volume", text, line)
    if volume < 0:
        raise BarsCsvError(f"volume {text.strip()} must not be negative", line=line)
    if volume != volume.to_integral_value():
        raise BarsCsvError(f"volume {text.strip()} is not a whole number", line=line)
    if volume >= VOLUME_LIMIT:
        raise BarsCsvError(f"volume {text.strip()} is out of range", line=line)
    return int(volume)


def _check_ohlc(bar: ParsedBar, texts: dict[str, str]) -> None:
    """High must bound open/close/low from above and low must bound open/close from below."""
    checks = (
        (bar.high < bar.low, "high", "is below", "low"),
        (bar.high < bar.open, "high", "is below", "open"),
        (bar.high < bar.close, "high", "is below", "close"),
        (bar.low > bar.open, "low", "is above", "open"),
        (bar.low > bar.close, "low", "is above", "close"),
    )
    for failed, left, relation, right in checks:
        if failed:
            reason = f"{left} {texts[left]} {relation} {right} {texts[right]}"
            raise BarsCsvError(reason, line=bar.line)


def _parse_row(record: _Record, columns: dict[str, int]) -> ParsedBar:
    if len(record.fields) != len(columns):
        raise BarsCsvError(f"expected {len(columns)} fields, got {len(record.fields)}", line=record.line)
    texts = {name: record.fields[position].strip() for name, position in columns.items()}
    line = record.line
    bar = ParsedBar(
        line=line,
        symbol=_parse_symbol(texts["symbol"], line),
        date=_parse_date(texts["date"], line),
        open=_parse_price("open", texts["open"], line),
        high=_parse_price("high", texts["high"], line),
        low=_parse_price("low", texts["low"], line),
        close=_parse_price("close", texts["close"], line),
        volume=_parse_volume(texts["volume"], line),
    )
    _check_ohlc(bar, texts)
    return bar


def parse_bars_csv(stream: TextIO) -> list[ParsedBar]:
    """Validate every row of ``stream`` and return the bars in file order.

    Raises ``BarsCsvError`` at the first problem, so a successful return means the whole file is
    safe to import in one transaction. Open files with ``newline=""`` for exact csv semantics.
    """
    records = _records(stream)
    header = next(records, None)
    if header is None:
        raise BarsCsvError("no data rows")
    columns = _column_index(header.fields, header.line)
    bars: list[ParsedBar] = []
    seen: dict[tuple[str, datetime.date], int] = {}
    for record in records:
        if len(bars) >= MAX_ROWS:
            raise BarsCsvError(f"too many data rows (the limit is {MAX_ROWS:,})", line=record.line)
        bar = _parse_row(record, columns)
        key = (bar.symbol, bar.date)
        if key in seen:
            reason = f"duplicate {bar.symbol} {bar.date.isoformat()}: already on line {seen[key]}"
            raise BarsCsvError(reason, line=bar.line)
        seen[key] = bar.line
        bars.append(bar)
    if not bars:
        raise BarsCsvError("no data rows")
    return bars
