"""Technical indicators over a bar history, computed with TA-Lib.

TA-Lib is the reference implementation most traders know, and its C core costs microseconds per
indicator, which keeps a rules debate far below a millisecond of compute.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import talib

from agents.memo import IdentityMemo
from agents.schemas import BarData

TRADING_DAYS = 252


def _last(values: np.ndarray) -> float | None:
    value = float(values[-1]) if len(values) else math.nan
    return None if math.isnan(value) else value


@dataclass(frozen=True)
class Indicators:
    """The latest value of each indicator; ``None`` where the history is too short for it."""

    bars: int
    close: float
    sma_20: float | None
    sma_50: float | None
    sma_200: float | None
    rsi_14: float | None
    macd_hist: float | None
    return_20d: float | None
    return_60d: float | None
    return_250d: float | None
    volatility_20d: float | None
    drawdown_60d: float | None
    atr_pct_14: float | None
    bollinger_pct_b: float | None
    range_position_252d: float | None


def _window_return(close: np.ndarray, days: int) -> float | None:
    if len(close) <= days:
        return None
    return float(close[-1] / close[-1 - days] - 1.0)


def _volatility(close: np.ndarray, days: int) -> float | None:
    if len(close) <= days:
        return None
    log_returns = np.diff(np.log(close[-days - 1 :]))
    return float(np.std(log_returns, ddof=1) * math.sqrt(TRADING_DAYS))


def _drawdown(close: np.ndarray, days: int) -> float | None:
    if len(close) < 2:
        return None
    window = close[-days:]
    peaks = np.maximum.accumulate(window)
    return float(np.max(1.0 - window / peaks))


def _range_position(close: np.ndarray, days: int) -> float | None:
    if len(close) < days:
        return None
    window = close[-days:]
    low, high = float(window.min()), float(window.max())
    return None if high == low else (float(close[-1]) - low) / (high - low)


def _bollinger_pct_b(close: np.ndarray) -> float | None:
    upper, _middle, lower = talib.BBANDS(close, timeperiod=20, nbdevup=2, nbdevdn=2)
    up, low = _last(upper), _last(lower)
    if up is None or low is None or up == low:
        return None
    return (float(close[-1]) - low) / (up - low)


def compute(bars: Sequence[BarData]) -> Indicators:
    """Indicators as of the last bar given; the caller decides which bars are visible (no look-ahead)."""
    if not bars:
        raise ValueError("compute() needs at least one bar")
    close = np.array([float(b.close) for b in bars], dtype=np.float64)
    high = np.array([float(b.high) for b in bars], dtype=np.float64)
    low = np.array([float(b.low) for b in bars], dtype=np.float64)
    _macd, _signal, hist = talib.MACD(close, fastperiod=12, slowperiod=26, signalperiod=9)
    atr = _last(talib.ATR(high, low, close, timeperiod=14))
    return Indicators(
        bars=len(bars),
        close=float(close[-1]),
        sma_20=_last(talib.SMA(close, timeperiod=20)),
        sma_50=_last(talib.SMA(close, timeperiod=50)),
        sma_200=_last(talib.SMA(close, timeperiod=200)),
        # TA-Lib answers 0 ("oversold") when prices did not move at all; RSI is undefined then.
        rsi_14=None if np.ptp(close[-15:]) == 0 else _last(talib.RSI(close, timeperiod=14)),
        macd_hist=_last(hist),
        return_20d=_window_return(close, 20),
        return_60d=_window_return(close, 60),
        return_250d=_window_return(close, 250),
        volatility_20d=_volatility(close, 20),
        drawdown_60d=_drawdown(close, 60),
        atr_pct_14=None if atr is None else atr / float(close[-1]),
        bollinger_pct_b=_bollinger_pct_b(close),
        range_position_252d=_range_position(close, TRADING_DAYS),
    )


# One debate's agents read the same bar list (a frozen context's): the rules analysts and the prompt
# renderer share one computation of it instead of one per agent.
computed_once: IdentityMemo[Sequence[BarData], Indicators] = IdentityMemo(compute)
