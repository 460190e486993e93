"""Deterministic generator of SYNTHETIC daily OHLCV bars for Arena's bundled demo dataset.

Why synthetic: real market data carries licence terms we cannot redistribute, and a demo needs
series whose "story" is known in advance so rules-based analysts visibly disagree (trend followers
vs. mean-reverters vs. volatility-aware agents). Every ticker here is fictional.

Model: regime-switching geometric Brownian motion. Each symbol has a sequence of regimes (drift,
long-run volatility, optional mean reversion, optional one-day shock). Daily variance follows a
GARCH(1,1) recursion that reverts to the current regime's volatility, which yields volatility
clustering. Opens gap slightly from the previous close, highs/lows extend beyond the open/close
body in proportion to the day's volatility, and volume is log-normal and rises with the size of
the move.

Determinism: each symbol has a fixed seed. Only the raw 64-bit stream of the PCG64 bit generator
behind ``numpy.random.default_rng(seed)`` is used (NumPy guarantees that stream across versions,
unlike its distribution methods); normals are derived from it with Box-Muller in plain Python.
Every trading day consumes the same number of draws, so a shorter path is an exact prefix of a
longer one, and prices are rounded to 4 decimals with Decimal ROUND_HALF_EVEN.

Regenerate the bundled file with ``python -m debates.market.synthetic``.
"""

from __future__ import annotations

import csv
import datetime
import math
import pathlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np

START = datetime.date(2021, 1, 4)
END = datetime.date(2025, 12, 31)
BUNDLED_CSV = pathlib.Path(__file__).with_name("data") / "synthetic_daily.csv"
CSV_HEADER = ("symbol", "date", "open", "high", "low", "close", "volume")

TRADING_DAYS_PER_YEAR = 252
_GARCH_ALPHA = 0.08  # weight of yesterday's squared shock
_GARCH_BETA = 0.90  # persistence of yesterday's variance (alpha + beta < 1 keeps it stationary)
_VARIANCE_CEILING = 2.5  # variance is capped at (2.5 x regime sigma)^2 so one episode cannot take over
_GAP_SHARE = 0.3  # overnight gap noise, as a fraction of the day's sigma
_WICK_SHARE = 0.5  # high/low extension beyond the body, as a fraction of the day's sigma
_VOLUME_NOISE = 0.25  # log-normal sigma of volume on a quiet day
_VOLUME_MOVE_BETA = 0.35  # extra log-volume per unit of |return| / regime sigma
_VOLUME_MOVE_CAP = 8.0  # cap on the move multiplier so a shock cannot give absurd volume
_NORMALS_PER_DAY = 6  # fixed draw budget per day -> a shorter path is a prefix of a longer one
_PRICE_QUANTUM = Decimal("0.0001")
_MIN_PRICE = Decimal("0.0001")


@dataclass(frozen=True)
class Regime:
    """One stretch of a symbol's story.

    ``starts`` is the first calendar date the regime applies (it runs until the next regime).
    ``drift`` and ``vol`` are annualised GBM parameters; ``vol`` is also the long-run level the
    GARCH variance is pulled toward. ``reversion`` is the daily pull of log price toward
    ``anchor`` (0 disables it). ``shock`` is a log return applied as an overnight gap on the
    regime's first trading day (e.g. a crash that starts with a gap down).
    """

    starts: datetime.date
    drift: float
    vol: float
    reversion: float = 0.0
    anchor: float = 1.0
    shock: float = 0.0


@dataclass(frozen=True)
class SymbolSpec:
    """A fictional ticker: identity, seed, starting level and the regime story it should tell."""

    symbol: str
    name: str
    start_price: float
    seed: int
    description: str
    base_volume: int
    regimes: tuple[Regime, ...]


@dataclass(frozen=True)
class BarRow:
    """One daily bar, already rounded exactly as it is written to the CSV."""

    symbol: str
    date: datetime.date
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: int


@dataclass(frozen=True)
class _FloatBar:
    open: float
    high: float
    low: float
    close: float
    volume: float


def _d(year: int, month: int, day: int) -> datetime.date:
    return datetime.date(year, month, day)


SYMBOLS: dict[str, SymbolSpec] = {
    spec.symbol: spec
    for spec in (
        SymbolSpec(
            symbol="ACME",
            name="Acme Synthetic Corp",
            start_price=84.0,
            seed=410_001,
            description=(
                "Steady low-volatility uptrend: a quality compounder that grinds higher, with one "
                "flat, slightly choppier patch in mid-2022 before the trend resumes."
            ),
            base_volume=3_200_000,
            regimes=(
                Regime(START, drift=0.17, vol=0.14),
                Regime(_d(2022, 4, 1), drift=0.0, vol=0.19),
                Regime(_d(2022, 10, 3), drift=0.16, vol=0.13),
            ),
        ),
        SymbolSpec(
            symbol="BOLT",
            name="Bolt Synthetic Dynamics",
            start_price=38.0,
            seed=420_023,
            description=(
                "High-volatility momentum name: a steep run-up through early 2022, a sharp crash "
                "that opens with a gap down in May 2022, a choppy base, then a partial recovery "
                "that ends well below the old peak."
            ),
            base_volume=9_000_000,
            regimes=(
                Regime(START, drift=0.85, vol=0.50),
                Regime(_d(2022, 5, 2), drift=-2.5, vol=0.95, shock=-0.22),
                Regime(_d(2022, 8, 1), drift=0.05, vol=0.60),
                Regime(_d(2023, 3, 1), drift=0.35, vol=0.45),
            ),
        ),
        SymbolSpec(
            symbol="CYAN",
            name="Cyan Synthetic Materials",
            start_price=62.0,
            seed=430_030,
            description=(
                "Mean-reverting sideways range: no trend, price keeps being pulled back toward "
                "about 60, so breakouts fail and oversold dips recover."
            ),
            base_volume=1_500_000,
            regimes=(Regime(START, drift=0.0, vol=0.24, reversion=0.03, anchor=60.0),),
        ),
        SymbolSpec(
            symbol="DUNE",
            name="Dune Synthetic Energy",
            start_price=240.0,
            seed=440_033,
            description=(
                "Persistent bear market: a long decline interrupted by two short bear-market "
                "rallies (mid-2022 and spring 2024) that fade into new lows."
            ),
            base_volume=2_400_000,
            regimes=(
                Regime(START, drift=-0.22, vol=0.30),
                Regime(_d(2022, 6, 1), drift=0.35, vol=0.32),
                Regime(_d(2022, 9, 1), drift=-0.35, vol=0.34),
                Regime(_d(2024, 3, 1), drift=0.30, vol=0.30),
                Regime(_d(2024, 6, 3), drift=-0.30, vol=0.31),
            ),
        ),
        SymbolSpec(
            symbol="EPIC",
            name="Epic Synthetic Holdings",
            start_price=150.0,
            seed=450_043,
            description=(
                "Regime switching: a calm, low-volatility bull market until March 2022, then a "
                "volatile bear market into mid-2023, then a steadier recovery."
            ),
            base_volume=4_500_000,
            regimes=(
                Regime(START, drift=0.28, vol=0.12),
                Regime(_d(2022, 3, 1), drift=-0.55, vol=0.48, shock=-0.08),
                Regime(_d(2023, 7, 3), drift=0.32, vol=0.22),
            ),
        ),
        SymbolSpec(
            symbol="FLUX",
            name="Flux Synthetic Labs",
            start_price=27.5,
            seed=460_057,
            description=(
                "Driftless random walk with medium volatility: the control series, where any "
                "pattern an analyst finds is noise."
            ),
            base_volume=800_000,
            regimes=(Regime(START, drift=0.0, vol=0.28),),
        ),
    )
}


def business_days(start: datetime.date, end: datetime.date) -> list[datetime.date]:
    """Mon-Fri dates in [start, end]; holidays are ignored because the data is fictional."""
    days: list[datetime.date] = []
    day = start
    one = datetime.timedelta(days=1)
    while day <= end:
        if day.weekday() < 5:
            days.append(day)
        day += one
    return days


def _normals(seed: int, count: int) -> Iterator[float]:
    """Standard normals from the raw PCG64 stream via Box-Muller.

    Uses ``bit_generator.random_raw`` rather than ``Generator.standard_normal`` because NumPy
    only promises stream stability for bit generators; this keeps the CSV reproducible across
    NumPy upgrades.
    """
    rng = np.random.default_rng(seed)
    pairs = (count + 1) // 2
    raw: list[int] = rng.bit_generator.random_raw(size=2 * pairs).tolist()
    scale = 2.0**-53
    for i in range(pairs):
        u1 = ((raw[2 * i] >> 11) + 0.5) * scale  # in (0, 1): log(u1) is always finite
        u2 = ((raw[2 * i + 1] >> 11) + 0.5) * scale
        radius = math.sqrt(-2.0 * math.log(u1))
        yield radius * math.cos(2.0 * math.pi * u2)
        yield radius * math.sin(2.0 * math.pi * u2)


def _regime_index(regimes: Sequence[Regime], day: datetime.date) -> int:
    """Index of the last regime that has started on or before ``day``."""
    index = 0
    for i, regime in enumerate(regimes):
        if regime.starts <= day:
            index = i
    return index


def _daily_sigma(regime: Regime) -> float:
    return regime.vol / math.sqrt(TRADING_DAYS_PER_YEAR)


def _next_variance(regime: Regime, variance: float, shock: float) -> float:
    """GARCH(1,1): variance reverts to the regime's level while big shocks raise it.

    The ceiling stops a rare run of large shocks from dominating a five-year story.
    """
    level = _daily_sigma(regime) ** 2
    omega = (1.0 - _GARCH_ALPHA - _GARCH_BETA) * level
    updated = omega + _GARCH_ALPHA * shock**2 + _GARCH_BETA * variance
    return min(updated, _VARIANCE_CEILING**2 * level)


def _log_return(regime: Regime, variance: float, prev_close: float, innovation: float) -> float:
    """Drift with Ito correction, optional pull toward the anchor, plus the random innovation."""
    drift = regime.drift / TRADING_DAYS_PER_YEAR - 0.5 * variance
    pull = 0.0
    if regime.reversion:
        pull = -regime.reversion * (math.log(prev_close) - math.log(regime.anchor))
    return drift + pull + innovation


def _make_bar(
    prev_close: float, ret: float, gap: float, sigma: float, z: Sequence[float], spec: SymbolSpec
) -> _FloatBar:
    """Shape one bar: open gaps from the previous close; wicks and volume scale with sigma."""
    open_ = prev_close * math.exp(gap)
    close = prev_close * math.exp(ret)
    high = max(open_, close) * math.exp(_WICK_SHARE * sigma * abs(z[0]))
    low = min(open_, close) * math.exp(-_WICK_SHARE * sigma * abs(z[1]))
    move = min(abs(ret) / sigma, _VOLUME_MOVE_CAP)
    volume = spec.base_volume * math.exp(_VOLUME_NOISE * z[2] + _VOLUME_MOVE_BETA * move)
    return _FloatBar(open_, high, low, close, volume)


def _simulate(spec: SymbolSpec, days: Sequence[datetime.date]) -> list[_FloatBar]:
    """Run the regime-switching GARCH path over ``days`` (which must begin at START)."""
    normals = _normals(spec.seed, _NORMALS_PER_DAY * len(days))
    bars: list[_FloatBar] = []
    prev_close = spec.start_price
    variance = _daily_sigma(spec.regimes[0]) ** 2
    innovation = 0.0
    last_index = -1
    for day in days:
        z = [next(normals) for _ in range(_NORMALS_PER_DAY)]
        index = _regime_index(spec.regimes, day)
        regime = spec.regimes[index]
        jump = regime.shock if index != last_index else 0.0
        last_index = index
        if bars:
            variance = _next_variance(regime, variance, innovation)
        sigma = math.sqrt(variance)
        innovation = sigma * z[0] + jump
        ret = _log_return(regime, variance, prev_close, innovation)
        gap = jump + _GAP_SHARE * sigma * z[1]
        bars.append(_make_bar(prev_close, ret, gap, sigma, z[2:], spec))
        prev_close = bars[-1].close
    return bars


def _quantize(value: float) -> Decimal:
    """Round a float price to 4 decimals; the floor keeps every price strictly positive."""
    return max(Decimal(value).quantize(_PRICE_QUANTUM, rounding=ROUND_HALF_EVEN), _MIN_PRICE)


def _to_row(symbol: str, day: datetime.date, bar: _FloatBar) -> BarRow:
    """Round a float bar. Rounding and the floor are monotonic, so the OHLC ordering survives."""
    return BarRow(
        symbol=symbol,
        date=day,
        open=_quantize(bar.open),
        high=_quantize(bar.high),
        low=_quantize(bar.low),
        close=_quantize(bar.close),
        volume=max(1, round(bar.volume)),
    )


def generate(symbol: str, start: datetime.date = START, end: datetime.date = END) -> list[BarRow]:
    """Bars for ``symbol`` on business days in [start, end].

    The path is always simulated from START, so any sub-range equals a slice of the full series.
    ``end`` may lie after END (the last regime simply continues); ``start`` may not precede START.
    """
    spec = SYMBOLS.get(symbol)
    if spec is None:
        raise ValueError(f"unknown synthetic symbol {symbol!r}; known: {', '.join(SYMBOLS)}")
    if start < START:
        raise ValueError(f"start {start.isoformat()} is before the first synthetic day {START}")
    if end < start:
        raise ValueError(f"end {end.isoformat()} is before start {start.isoformat()}")
    days = business_days(START, end)
    bars = _simulate(spec, days)
    return [_to_row(symbol, day, bar) for day, bar in zip(days, bars, strict=True) if day >= start]


def all_rows() -> list[BarRow]:
    """Every symbol's full series, sorted by (symbol, date) as in the bundled CSV."""
    rows = [row for symbol in SYMBOLS for row in generate(symbol)]
    return sorted(rows, key=lambda row: (row.symbol, row.date))


def _csv_fields(row: BarRow) -> list[str]:
    prices = (row.open, row.high, row.low, row.close)
    return [row.symbol, row.date.isoformat(), *(f"{price:.4f}" for price in prices), str(row.volume)]


def write_csv(path: pathlib.Path) -> int:
    """Write all symbols to ``path`` (LF line endings, UTF-8) and return the number of data rows."""
    rows = all_rows()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        writer.writerows(_csv_fields(row) for row in rows)
    return len(rows)


def main() -> None:
    """Regenerate the bundled CSV next to this module."""
    count = write_csv(BUNDLED_CSV)
    print(f"wrote {count} rows to {BUNDLED_CSV}")


if __name__ == "__main__":
    main()
