"""Performance metrics of an equity curve, and the intervals that say how much luck they may hold.

Conventions are empyrical's (the maintained ``empyrical-reloaded`` fork), and the test suite checks
every function against it on the same returns: 252 trading days a year, a zero risk-free rate,
sample standard deviation (ddof=1), Sortino's downside deviation against a zero target, drawdowns
measured from the starting capital. The formulas are re-implemented here in numpy rather than
imported because the bootstrap needs them vectorised over thousands of resampled paths at once
(and because empyrical would add scipy, Bottleneck and peewee to every web process for six formulas).

Intervals (docs/competition.md):
* rates (a share of wins among ``n``) get the Wilson score interval, exact enough at small ``n``
  and never outside [0, 1];
* return and Sharpe get a seeded circular block bootstrap of the daily returns (blocks keep the
  volatility clustering that an i.i.d. resample would destroy); the same seed and the same day
  indices are used for every entry of a run, so their intervals are comparable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

TRADING_DAYS = 252
Z_95 = 1.959963984540054
BOOTSTRAP_RESAMPLES = 2000

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Interval:
    """A two-sided 95 % interval and the sample size behind it."""

    low: float
    high: float
    n: int
    method: str

    def overlaps(self, other: Interval) -> bool:
        return self.low <= other.high and other.low <= self.high


def returns_from_equity(equity: Sequence[float] | FloatArray) -> FloatArray:
    """Simple daily returns of a curve that starts with the starting capital (len - 1 returns)."""
    values = np.asarray(equity, dtype=np.float64)
    if values.size < 2:
        return np.empty(0, dtype=np.float64)
    if np.any(values[:-1] <= 0):
        # A wiped-out book has no defined return afterwards: it stays at -100 %.
        values = np.maximum(values, 0.0)
        previous = values[:-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            result = np.where(previous > 0, values[1:] / np.where(previous > 0, previous, 1.0) - 1.0, 0.0)
        return result.astype(np.float64)
    return (values[1:] / values[:-1] - 1.0).astype(np.float64)


def total_return(returns: FloatArray) -> float:
    """Compounded return over the whole period (0.0 for no returns)."""
    return float(np.prod(1.0 + returns) - 1.0) if returns.size else 0.0


def annualised_return(returns: FloatArray) -> float | None:
    """Compound annual growth rate, ``(1 + total) ** (252 / days) - 1``; None without returns.

    Over a short run this extrapolates a few weeks to a year: shown, but read it with the days.
    """
    if returns.size == 0:
        return None
    growth = 1.0 + total_return(returns)
    if growth <= 0:
        return -1.0
    return float(growth ** (TRADING_DAYS / returns.size) - 1.0)


def sharpe(returns: FloatArray) -> float | None:
    """Annualised Sharpe ratio (zero risk-free rate); None when undefined (< 2 days or no variance)."""
    if returns.size < 2:
        return None
    std = float(np.std(returns, ddof=1))
    if std == 0.0 or not math.isfinite(std):
        return None
    return float(np.mean(returns) / std * math.sqrt(TRADING_DAYS))


def sortino(returns: FloatArray) -> float | None:
    """Annualised Sortino ratio against a zero target; None when there is no downside at all."""
    if returns.size < 2:
        return None
    downside = math.sqrt(float(np.mean(np.square(np.minimum(returns, 0.0))))) * math.sqrt(TRADING_DAYS)
    if downside == 0.0:
        return None
    return float(np.mean(returns) * TRADING_DAYS / downside)


def max_drawdown(returns: FloatArray) -> float:
    """Worst fall from a running peak, as a negative fraction (0.0 if the curve never fell).

    The starting capital counts as the first peak, as in empyrical.
    """
    if returns.size == 0:
        return 0.0
    wealth = np.concatenate(([1.0], np.cumprod(1.0 + returns)))
    peaks = np.maximum.accumulate(wealth)
    return float(np.min(wealth / peaks - 1.0))


def win_days(returns: FloatArray) -> tuple[int, int]:
    """(days that gained, days with a non-zero return): quantstats' win rate counts only active days."""
    active = returns[returns != 0.0]
    return int(np.count_nonzero(active > 0.0)), int(active.size)


def wilson(successes: int, n: int, *, z: float = Z_95) -> Interval | None:
    """Wilson score interval for a binomial rate; None when there is no trial at all."""
    if n <= 0:
        return None
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be within 0..n, got {successes} of {n}")
    return wilson_p(successes / n, n, z=z)


def wilson_p(p: float, n: int, *, z: float = Z_95) -> Interval | None:
    """Wilson interval around a proportion ``p`` observed over ``n`` trials (e.g. a fair coin's 0.5)."""
    if n <= 0:
        return None
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return Interval(low=max(0.0, centre - half), high=min(1.0, centre + half), n=n, method="wilson")


def mean_interval(total: float, total_sq: float, n: int, *, z: float = Z_95) -> Interval | None:
    """Normal-approximation interval of a mean from its sum and sum of squares (SQL aggregates).

    Used on the leaderboard for means of many small terms (Brier scores, decision returns), where
    the central limit theorem holds well once ``n`` is in the tens; None below two observations.
    """
    if n < 2:
        return None
    mean = total / n
    variance = max(0.0, (total_sq - n * mean * mean) / (n - 1))
    half = z * math.sqrt(variance / n)
    return Interval(low=mean - half, high=mean + half, n=n, method="normal")


def block_length(days: int) -> int:
    """The usual n^(1/3) rule for a block bootstrap of daily returns (at least one day)."""
    return max(1, round(days ** (1 / 3)))


def bootstrap_indices(days: int, *, seed: int, resamples: int = BOOTSTRAP_RESAMPLES) -> NDArray[np.int64]:
    """Day indices of ``resamples`` circular block-bootstrap paths of ``days`` days, from ``seed``.

    Depends only on (days, seed, resamples): every entry of a run, resampled with the same indices,
    gets intervals drawn from the same resampled histories.
    """
    length = block_length(days)
    blocks = -(-days // length)
    rng = np.random.Generator(np.random.PCG64(seed))
    starts = rng.integers(0, days, size=(resamples, blocks))
    paths = (starts[:, :, None] + np.arange(length)[None, None, :]) % days
    return paths.reshape(resamples, blocks * length)[:, :days]


@dataclass(frozen=True)
class BootstrapIntervals:
    total_return: Interval
    sharpe: Interval | None


def bootstrap_intervals(returns: FloatArray, indices: NDArray[np.int64]) -> BootstrapIntervals | None:
    """Percentile intervals of total return and Sharpe over the resampled paths (None below 2 days)."""
    days = returns.size
    if days < 2 or indices.shape[1] != days:
        return None
    paths = returns[indices]
    totals = np.prod(1.0 + paths, axis=1) - 1.0
    low, high = np.percentile(totals, [2.5, 97.5])
    total = Interval(low=float(low), high=float(high), n=days, method="block_bootstrap")
    stds = np.std(paths, axis=1, ddof=1)
    valid = stds > 0
    sharpe_interval = None
    if np.count_nonzero(valid) >= indices.shape[0] // 2:
        ratios = np.mean(paths[valid], axis=1) / stds[valid] * math.sqrt(TRADING_DAYS)
        s_low, s_high = np.percentile(ratios, [2.5, 97.5])
        sharpe_interval = Interval(low=float(s_low), high=float(s_high), n=days, method="block_bootstrap")
    return BootstrapIntervals(total_return=total, sharpe=sharpe_interval)


def cost_per_alpha(cost_usd: float, alpha_pp: float | None) -> float | None:
    """LLM dollars per percentage point of return above buy-and-hold; undefined (None) when alpha <= 0.

    A trader that did not beat doing nothing clever has no price per unit of alpha: infinity would
    sort as "worst" but would also be averaged and plotted, and a negative price would read as a bargain.
    """
    if alpha_pp is None or not math.isfinite(alpha_pp) or alpha_pp <= 0:
        return None
    return cost_usd / alpha_pp
