"""Metrics on hand-computed equity curves, checked again against empyrical-reloaded; intervals."""

from __future__ import annotations

import math

import empyrical
import numpy as np
import pytest

from competition import metrics

# 100 -> 110 -> 99 -> 108.9 -> 108.9: returns +10 %, -10 %, +10 %, 0 %.
HAND_CURVE = [100.0, 110.0, 99.0, 108.9, 108.9]


def test_returns_from_equity_hand_curve():
    returns = metrics.returns_from_equity(HAND_CURVE)
    assert returns == pytest.approx([0.1, -0.1, 0.1, 0.0])


def test_metrics_on_hand_computed_curve():
    r = metrics.returns_from_equity(HAND_CURVE)
    assert metrics.total_return(r) == pytest.approx(0.089)  # 1.1 * 0.9 * 1.1 - 1
    assert metrics.max_drawdown(r) == pytest.approx(-0.1)  # 110 -> 99
    # mean 0.025; sample variance (0.075² + 0.125² + 0.075² + 0.025²) / 3 = 0.0275 / 3
    assert metrics.sharpe(r) == pytest.approx(0.025 / math.sqrt(0.0275 / 3) * math.sqrt(252))
    # downside deviation sqrt(0.1² / 4) = 0.05 a day
    assert metrics.sortino(r) == pytest.approx(0.025 * 252 / (0.05 * math.sqrt(252)))
    assert metrics.annualised_return(r) == pytest.approx(1.089 ** (252 / 4) - 1)
    assert metrics.win_days(r) == (2, 3)  # the flat day is not active


def test_drawdown_counts_the_starting_capital_as_a_peak():
    r = metrics.returns_from_equity([100.0, 90.0, 95.0, 120.0])
    assert metrics.max_drawdown(r) == pytest.approx(-0.1)


def test_undefined_ratios_are_none_not_infinite():
    flat = metrics.returns_from_equity([100.0, 100.0, 100.0])
    assert metrics.sharpe(flat) is None
    assert metrics.sortino(flat) is None
    only_up = metrics.returns_from_equity([100.0, 101.0, 103.0])
    assert metrics.sortino(only_up) is None
    assert metrics.sharpe(metrics.returns_from_equity([100.0, 101.0])) is None
    assert metrics.annualised_return(metrics.returns_from_equity([100.0])) is None
    assert metrics.max_drawdown(np.empty(0)) == 0.0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_metrics_match_empyrical(seed):
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0005, 0.012, size=300)
    assert metrics.total_return(r) == pytest.approx(empyrical.cum_returns_final(r))
    assert metrics.annualised_return(r) == pytest.approx(empyrical.annual_return(r))
    assert metrics.sharpe(r) == pytest.approx(empyrical.sharpe_ratio(r))
    assert metrics.sortino(r) == pytest.approx(empyrical.sortino_ratio(r))
    assert metrics.max_drawdown(r) == pytest.approx(empyrical.max_drawdown(r))


def test_hand_curve_matches_empyrical_too():
    r = metrics.returns_from_equity(HAND_CURVE)
    assert metrics.sharpe(r) == pytest.approx(empyrical.sharpe_ratio(r))
    assert metrics.sortino(r) == pytest.approx(empyrical.sortino_ratio(r))
    assert metrics.max_drawdown(r) == pytest.approx(empyrical.max_drawdown(r))


def test_wiped_out_book_stays_at_minus_100_percent():
    r = metrics.returns_from_equity([100.0, 0.0, 0.0])
    assert metrics.total_return(r) == pytest.approx(-1.0)
    assert metrics.annualised_return(r) == -1.0


def test_wilson_known_values():
    interval = metrics.wilson(8, 10)
    assert interval is not None
    assert (interval.low, interval.high) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    zero = metrics.wilson(0, 10)
    assert zero is not None and zero.low == 0.0 and zero.high == pytest.approx(0.2775, abs=1e-4)
    assert metrics.wilson(0, 0) is None
    with pytest.raises(ValueError):
        metrics.wilson(11, 10)


def test_wilson_width_shrinks_with_more_decisions():
    widths = []
    for n in (10, 100, 1000, 10000):
        interval = metrics.wilson(n * 6 // 10, n)
        assert interval is not None
        widths.append(interval.high - interval.low)
    assert widths == sorted(widths, reverse=True)
    assert widths[-1] < widths[0] / 20


def test_bootstrap_width_shrinks_with_more_days():
    rng = np.random.default_rng(7)
    widths = []
    for days in (20, 80, 320, 1280):
        r = rng.normal(0.0004, 0.01, size=days)
        intervals = metrics.bootstrap_intervals(r, metrics.bootstrap_indices(days, seed=11))
        assert intervals is not None and intervals.sharpe is not None
        widths.append(intervals.sharpe.high - intervals.sharpe.low)
    assert widths == sorted(widths, reverse=True)


def test_bootstrap_is_seeded_and_contains_the_estimate():
    r = np.random.default_rng(3).normal(0.001, 0.01, size=120)
    a = metrics.bootstrap_intervals(r, metrics.bootstrap_indices(120, seed=5))
    b = metrics.bootstrap_intervals(r, metrics.bootstrap_indices(120, seed=5))
    c = metrics.bootstrap_intervals(r, metrics.bootstrap_indices(120, seed=6))
    assert a == b
    assert a != c
    assert a is not None
    assert a.total_return.low < metrics.total_return(r) < a.total_return.high
    assert a.sharpe is not None and a.sharpe.low < metrics.sharpe(r) < a.sharpe.high  # type: ignore[operator]


def test_bootstrap_indices_are_circular_blocks():
    idx = metrics.bootstrap_indices(27, seed=1, resamples=4)
    assert idx.shape == (4, 27)
    assert metrics.block_length(27) == 3
    steps = np.diff(idx[:, :3], axis=1) % 27
    assert np.all(steps == 1)  # within a block, consecutive days (wrapping around)


def test_mean_interval_from_sums():
    values = np.array([0.1, 0.3, 0.2, 0.4])
    interval = metrics.mean_interval(float(values.sum()), float((values**2).sum()), 4)
    assert interval is not None
    half = metrics.Z_95 * values.std(ddof=1) / 2
    assert (interval.low, interval.high) == pytest.approx((0.25 - half, 0.25 + half))
    assert metrics.mean_interval(0.1, 0.01, 1) is None


def test_cost_per_alpha_undefined_when_alpha_not_positive():
    assert metrics.cost_per_alpha(2.0, 4.0) == 0.5
    assert metrics.cost_per_alpha(2.0, 0.0) is None
    assert metrics.cost_per_alpha(2.0, -3.0) is None
    assert metrics.cost_per_alpha(2.0, None) is None
    assert metrics.cost_per_alpha(0.0, 1.5) == 0.0
