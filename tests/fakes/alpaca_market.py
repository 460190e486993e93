"""In-memory market data behind the fake Alpaca data API (``/v2/stocks/...``).

Bars are loaded by the test and served with Alpaca's real multi-symbol pagination: one page holds at
most ``limit`` bars *in total across symbols*, ordered by symbol then time, and ``next_page_token`` is
issued while bars remain. alpaca-py's ``_get_marketdata`` loop depends on exactly that contract.
Not thread-safe on its own: ``FakeAlpacaServer`` serialises every call with one lock.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from .alpaca_common import Number, bad_request, parse_time, rfc3339, utc_now

_TIMEFRAME = re.compile(r"^(\d+)(Min|T|Hour|H|Day|D|Week|W|Month|M)$")
_UNITS = {"T": "Min", "H": "Hour", "D": "Day", "W": "Week", "M": "Month"}
_LONG_KEYS = {
    "timestamp": "t",
    "open": "o",
    "high": "h",
    "low": "l",
    "close": "c",
    "volume": "v",
    "trade_count": "n",
    "vwap": "vw",
}
DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000


def normalize_timeframe(value: object) -> str:
    """Canonical ``"1Day"``/``"5Min"`` form; accepts alpaca-py ``TimeFrame`` objects and Alpaca's aliases."""
    match = _TIMEFRAME.match(str(value).strip())
    if match is None:
        raise bad_request(f"invalid timeframe: {value!s}")
    amount, unit = match.groups()
    return f"{int(amount)}{_UNITS.get(unit, unit)}"


def _number(value: Any) -> float | int:
    """JSON numbers, as the data API sends them (unlike the trading API's decimal strings)."""
    if isinstance(value, int | float):
        return value
    return float(Decimal(str(value)))


@dataclass(frozen=True)
class _Bar:
    """A stored bar: parsed time for filtering plus the exact wire dict to serve."""

    at: datetime
    wire: dict[str, Any]


def _to_bar(raw: Mapping[str, Any]) -> _Bar:
    """Accept Alpaca short keys (t/o/h/l/c/v/n/vw) or alpaca-py long names; fill n/vw if omitted."""
    short = {_LONG_KEYS.get(k, k): v for k, v in raw.items()}
    missing = [k for k in ("t", "o", "h", "l", "c", "v") if short.get(k) is None]
    if missing:
        raise ValueError(f"bar is missing {missing}: {raw!r}")
    at = parse_time(short["t"], "t")
    high, low, close = (_number(short[k]) for k in ("h", "l", "c"))
    wire = {
        "t": rfc3339(at),
        "o": _number(short["o"]),
        "h": high,
        "l": low,
        "c": close,
        "v": _number(short["v"]),
        "n": _number(short["n"]) if short.get("n") is not None else 1,
        "vw": _number(short["vw"]) if short.get("vw") is not None else round((high + low + close) / 3, 6),
    }
    return _Bar(at, wire)


def encode_token(offset: int) -> str:
    """Opaque page token (base64, like Alpaca's) carrying the offset into the filtered result."""
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode()


def decode_token(token: str | None) -> int:
    """Inverse of ``encode_token``; garbage tokens are a 400, as at Alpaca."""
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
        prefix, _, number = text.partition(":")
        if prefix != "offset":
            raise ValueError(text)
        return int(number)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise bad_request("invalid page token") from exc


@dataclass(frozen=True)
class BarQuery:
    """The parsed query of a bars request."""

    symbols: list[str]
    timeframe: str
    start: datetime | None
    end: datetime | None
    limit: int
    offset: int
    descending: bool

    @classmethod
    def parse(cls, query: Mapping[str, str], symbols: Iterable[str], max_page_size: int) -> BarQuery:
        """Validate Alpaca's bar parameters; the page size is ``min(limit, server cap)``."""
        timeframe = query.get("timeframe")
        if not timeframe:
            raise bad_request("timeframe is required")
        try:
            limit = int(query.get("limit") or DEFAULT_LIMIT)
        except ValueError as exc:
            raise bad_request(f"invalid limit: {query.get('limit')!r}") from exc
        if not 1 <= limit <= MAX_LIMIT:
            raise bad_request(f"invalid limit: {limit} (must be 1..{MAX_LIMIT})")
        sort = query.get("sort") or "asc"
        if sort not in {"asc", "desc"}:
            raise bad_request(f"invalid sort: {sort!r}")
        return cls(
            symbols=sorted({s.strip().upper() for s in symbols if s.strip()}),
            timeframe=normalize_timeframe(timeframe),
            start=parse_time(query["start"], "start") if query.get("start") else None,
            end=parse_time(query["end"], "end") if query.get("end") else None,
            limit=min(limit, max_page_size),
            offset=decode_token(query.get("page_token")),
            descending=sort == "desc",
        )


class MarketData:
    """Bars per (symbol, timeframe), plus explicit latest quotes and trades."""

    def __init__(self) -> None:
        self._bars: dict[tuple[str, str], dict[datetime, _Bar]] = {}
        self._quotes: dict[str, dict[str, Any]] = {}
        self._trades: dict[str, dict[str, Any]] = {}

    # ------------------------------------------------------------------ loading

    def add_bars(self, symbol: str, timeframe: object, bars: Iterable[Mapping[str, Any]]) -> None:
        """Store bars; a bar with an existing timestamp replaces the old one (upsert, like a revision)."""
        series = self._bars.setdefault((symbol.upper(), normalize_timeframe(timeframe)), {})
        for raw in bars:
            bar = _to_bar(raw)
            series[bar.at] = bar

    def set_quote(
        self,
        symbol: str,
        bid: Number,
        ask: Number,
        *,
        bid_size: Number = 100,
        ask_size: Number = 100,
        at: datetime | str | None = None,
    ) -> None:
        """Pin the latest NBBO quote of a symbol (wins over the bar-derived fallback)."""
        self._quotes[symbol.upper()] = {
            "t": rfc3339(parse_time(at) if at else self._latest_time(symbol) or utc_now()),
            "ax": "V",
            "ap": _number(ask),
            "as": _number(ask_size),
            "bx": "V",
            "bp": _number(bid),
            "bs": _number(bid_size),
            "c": ["R"],
            "z": "C",
        }

    def set_trade(
        self, symbol: str, price: Number, *, size: Number = 100, at: datetime | str | None = None
    ) -> None:
        """Pin the latest trade of a symbol (wins over the bar-derived fallback)."""
        self._trades[symbol.upper()] = {
            "t": rfc3339(parse_time(at) if at else self._latest_time(symbol) or utc_now()),
            "x": "V",
            "p": _number(price),
            "s": _number(size),
            "c": ["@"],
            "i": 1,
            "z": "C",
        }

    # ------------------------------------------------------------------ bars

    def bars_page(self, query: BarQuery) -> tuple[dict[str, list[dict[str, Any]]], str | None]:
        """One page of bars across symbols plus the token for the next page (None on the last page)."""
        rows = [(symbol, bar) for symbol in query.symbols for bar in self._series(symbol, query)]
        page = rows[query.offset : query.offset + query.limit]
        grouped: dict[str, list[dict[str, Any]]] = {}
        for symbol, bar in page:
            grouped.setdefault(symbol, []).append(dict(bar.wire))
        end = query.offset + len(page)
        return grouped, (encode_token(end) if end < len(rows) else None)

    def _series(self, symbol: str, query: BarQuery) -> list[_Bar]:
        """Bars of one symbol inside [start, end] (both inclusive), in the requested order."""
        stored = self._bars.get((symbol, query.timeframe), {})
        picked = [
            stored[at]
            for at in sorted(stored)
            if (query.start is None or at >= query.start) and (query.end is None or at <= query.end)
        ]
        return picked[::-1] if query.descending else picked

    def _latest_bar(self, symbol: str, timeframe: str | None = None) -> _Bar | None:
        """Most recent bar of a symbol in one timeframe, or across all timeframes when none is given."""
        candidates = [
            bar
            for (sym, tf), series in self._bars.items()
            if sym == symbol and (timeframe is None or tf == timeframe)
            for bar in series.values()
        ]
        return max(candidates, key=lambda b: b.at, default=None)

    def _latest_time(self, symbol: str) -> datetime | None:
        bar = self._latest_bar(symbol.upper())
        return bar.at if bar else None

    # ------------------------------------------------------------------ latest / snapshots

    def latest_quote(self, symbol: str) -> dict[str, Any] | None:
        """Pinned quote, else a zero-spread quote at the latest bar's close, else None (symbol absent)."""
        if symbol in self._quotes:
            return dict(self._quotes[symbol])
        bar = self._latest_bar(symbol)
        if bar is None:
            return None
        close = bar.wire["c"]
        return {
            "t": bar.wire["t"],
            "ax": "V",
            "ap": close,
            "as": 1,
            "bx": "V",
            "bp": close,
            "bs": 1,
            "c": ["R"],
            "z": "C",
        }

    def latest_trade(self, symbol: str) -> dict[str, Any] | None:
        """Pinned trade, else a trade at the latest bar's close, else None (symbol absent)."""
        if symbol in self._trades:
            return dict(self._trades[symbol])
        bar = self._latest_bar(symbol)
        if bar is None:
            return None
        return {"t": bar.wire["t"], "x": "V", "p": bar.wire["c"], "s": 1, "c": ["@"], "i": 1, "z": "C"}

    def snapshot(self, symbol: str) -> dict[str, Any] | None:
        """Alpaca's snapshot object (camelCase keys); None when nothing at all is known for the symbol."""
        daily = sorted(self._bars.get((symbol, "1Day"), {}).values(), key=lambda b: b.at)
        minute = self._latest_bar(symbol, "1Min")
        snap = {
            "latestTrade": self.latest_trade(symbol),
            "latestQuote": self.latest_quote(symbol),
            "minuteBar": dict(minute.wire) if minute else None,
            "dailyBar": dict(daily[-1].wire) if daily else None,
            "prevDailyBar": dict(daily[-2].wire) if len(daily) > 1 else None,
        }
        return snap if any(v is not None for v in snap.values()) else None

    def latest_map(self, kind: str, symbols: Iterable[str]) -> dict[str, Any]:
        """``{"SYM": payload}`` for quotes / trades / snapshots, omitting symbols without data."""
        getter = {"quotes": self.latest_quote, "trades": self.latest_trade, "snapshots": self.snapshot}[kind]
        result = {}
        for symbol in sorted({s.strip().upper() for s in symbols if s.strip()}):
            payload = getter(symbol)
            if payload is not None:
                result[symbol] = payload
        return result
