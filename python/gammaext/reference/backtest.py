"""NumPy references for the bar indicators of the strategy backtest (spec section 3).

Written with whole-array NumPy operations (sliding windows, ``np.std``), not the loops of the
C++ core, so they agree to rounding (about 1e-15 relative), not bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

_F = npt.NDArray[np.float64]

__all__ = ["as26217_cdf", "atr", "efficiency_ratio", "hist_vol", "straddle_greeks", "true_range"]


def hist_vol(
    close: Any, period: int = 20, annualization: float = 365.0, fallback: float = 0.20
) -> _F:
    """nz(population stdev of the last `period` log returns * sqrt(annualization), fallback)."""
    c = np.asarray(close, dtype=np.float64)
    r = np.diff(np.log(c))  # returns 1 .. n-1
    out = np.full(c.shape, fallback)
    if len(r) >= period:
        sd = sliding_window_view(r, period).std(axis=1, ddof=0)
        out[period:] = sd * np.sqrt(annualization)
    return out


def true_range(high: Any, low: Any, close: Any) -> _F:
    h, lo, c = (np.asarray(a, dtype=np.float64) for a in (high, low, close))
    prev = np.concatenate(([np.nan], c[:-1]))
    tr = np.fmax(h - lo, np.fmax(np.abs(h - prev), np.abs(lo - prev)))
    return tr


def atr(high: Any, low: Any, close: Any, length: int = 14) -> _F:
    """Wilder ATR: NaN before bar length-1, the mean of the first `length` ranges, then
    alpha = 1/length exponential smoothing (written as alpha*x + (1-alpha)*prev)."""
    tr = true_range(high, low, close)
    out = np.full(tr.shape, np.nan)
    if len(tr) >= length:
        out[length - 1] = tr[:length].mean()
        alpha = 1.0 / length
        for i in range(length, len(tr)):
            out[i] = alpha * tr[i] + (1.0 - alpha) * out[i - 1]
    return out


def efficiency_ratio(close: Any, period: int = 10) -> _F:
    c = np.asarray(close, dtype=np.float64)
    out = np.full(c.shape, np.nan)
    if len(c) > period:
        direction = np.abs(c[period:] - c[:-period])
        path = sliding_window_view(np.abs(np.diff(c)), period).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[period:] = np.where(path > 0, direction / np.where(path > 0, path, 1.0), 0.0)
    return out


def as26217_cdf(x: Any) -> _F:
    """Abramowitz & Stegun 26.2.17 with the script's constants (|x| > 10 saturates)."""
    x = np.asarray(x, dtype=np.float64)
    t = 1.0 / (1.0 + 0.2316419 * np.abs(x))
    d = 0.3989422804 * np.exp(-x * x / 2.0)
    p = t * (
        0.31938153 + t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429)))
    )
    y = np.where(x >= 0, 1.0 - d * p, d * p)
    out: _F = np.where(np.abs(x) > 10, (x > 0).astype(float), y)
    return out


def straddle_greeks(
    close: Any,
    strike_offset_pct: float = 0.0,
    days_to_expiry: float = 30.0,
    implied_vol: float = 0.25,
    rate: float = 0.05,
    div: float = 0.0,
    mintick: float = 0.01,
) -> tuple[_F, _F]:
    s = np.asarray(close, dtype=np.float64)
    k = np.floor(s / mintick + 0.5) * mintick * (1 + strike_offset_pct / 100)
    t = days_to_expiry / 365.0
    v = implied_vol
    d1 = (np.log(s / k) + (rate - div + 0.5 * v**2) * t) / (v * np.sqrt(t))
    n1 = as26217_cdf(d1)
    disc = np.exp(-div * t)
    delta = disc * (2 * n1 - 1)
    gamma = 2 * disc * 0.3989422804 * np.exp(-0.5 * d1**2) / (s * v * np.sqrt(t))
    return delta, gamma
