"""Bar indicators with TradingView Pine v6 semantics (C++ core, one definition for the whole
package: the strategy backtest and the hedging engine both use these).

All functions take 1-D price arrays (any real dtype, converted to float64, never modified) and
return new float64 arrays of the same length. Missing values are NaN (Pine's ``na``). The
definitions are those of ``../shared/PINE_STRATEGY_SPEC.md`` section 3; see
``docs/backtest.md`` for the summation order used (it matters only in the last bit).
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from . import _core
from ._arrays import FloatArray

__all__ = [
    "annualization_factor",
    "atr",
    "efficiency_ratio",
    "hist_vol",
    "log_returns",
    "rma",
    "stdev",
    "straddle_greeks",
    "true_range",
    "vol_regime",
]


def _series(name: str, value: Any) -> FloatArray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be real numbers, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.float64)


def _length(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}")
    if value > _MAX_LENGTH:  # the core takes int64: say so instead of a pybind TypeError
        raise ValueError(f"{name} must be <= 2**62, got {value}")
    return int(value)


_MAX_LENGTH = 2**62


def log_returns(close: Any) -> FloatArray:
    """``ln(C_i / C_{i-1})``; NaN on bar 0."""
    return np.asarray(_core._ind_log_returns(_series("close", close)))


def stdev(src: Any, length: int) -> FloatArray:
    """Pine ``ta.stdev(src, length)``: population (biased) standard deviation of the last
    ``length`` non-NaN values; NaN until ``length`` non-NaN values have been seen."""
    return np.asarray(_core._ind_stdev(_series("src", src), _length("length", length)))


def rma(src: Any, length: int) -> FloatArray:
    """Pine ``ta.rma`` (Wilder): NaN until ``length`` consecutive values, seeded with their
    mean, then ``x_i = x_{i-1} + (src_i - x_{i-1}) / length``."""
    return np.asarray(_core._ind_rma(_series("src", src), _length("length", length)))


def true_range(high: Any, low: Any, close: Any) -> FloatArray:
    """Pine ``ta.tr(true)``: ``H_0 - L_0`` on bar 0, then
    ``max(H - L, |H - C_prev|, |L - C_prev|)``."""
    return np.asarray(
        _core._ind_true_range(_series("high", high), _series("low", low), _series("close", close))
    )


def atr(high: Any, low: Any, close: Any, length: int = 14) -> FloatArray:
    """Pine ``ta.atr(length)`` = ``rma(true_range, length)``: NaN on bars ``0 .. length-2``,
    the mean of the first ``length`` true ranges on bar ``length-1``, then Wilder-smoothed."""
    return np.asarray(
        _core._ind_atr(
            _series("high", high),
            _series("low", low),
            _series("close", close),
            _length("length", length),
        )
    )


def hist_vol(
    close: Any, period: int = 20, annualization: float = 365.0, fallback: float = 0.20
) -> FloatArray:
    """Annualised realised volatility as the strategy computes it:
    ``nz(ta.stdev(log_returns, period) * sqrt(annualization), fallback)``.

    ``annualization`` is the bars-per-year factor (see :func:`annualization_factor`; 365 for
    daily bars). The fallback fills the warm-up bars ``0 .. period-1``.
    """
    if not annualization > 0:
        raise ValueError(f"annualization must be > 0, got {annualization}")
    return np.asarray(
        _core._ind_hist_vol(
            _series("close", close),
            _length("period", period),
            float(annualization),
            float(fallback),
        )
    )


def efficiency_ratio(close: Any, period: int = 10) -> FloatArray:
    """Kaufman's efficiency ratio ``|C_i - C_{i-n}| / sum |C_k - C_{k-1}|`` over ``n = period``
    bars, in [0, 1]; NaN for ``i < period``; 0 when the window is flat (no movement)."""
    return np.asarray(
        _core._ind_efficiency_ratio(_series("close", close), _length("period", period))
    )


def straddle_greeks(
    close: Any,
    *,
    strike_offset_pct: float = 0.0,
    days_to_expiry: float = 30.0,
    implied_vol: float = 0.25,
    rate: float = 0.05,
    div: float = 0.0,
    mintick: float = 0.01,
) -> tuple[FloatArray, FloatArray]:
    """Delta and gamma of the strategy's synthetic straddle at each close (spec 3.3-3.5).

    Strike ``round(C / mintick) * mintick * (1 + strike_offset_pct / 100)``, ``t =
    days_to_expiry / 365`` (constant), the Abramowitz-Stegun 26.2.17 normal CDF of the script.
    Returns ``(call_delta + put_delta, 2 * gamma)``.
    """
    d, g = _core._ind_straddle_greeks(
        _series("close", close),
        float(strike_offset_pct),
        float(mintick),
        float(days_to_expiry) / 365.0,
        float(implied_vol),
        float(rate),
        float(div),
    )
    return np.asarray(d), np.asarray(g)


def vol_regime(
    hist_vol: Any,
    implied_vol: float = 0.25,
    long_threshold: float = 1.2,
    short_threshold: float = 0.8,
) -> FloatArray:
    """+1 where ``hist_vol / implied_vol > long_threshold`` (long-vol regime), -1 where it is
    ``< short_threshold``, else 0 (strict comparisons, as the script)."""
    return np.asarray(
        _core._ind_vol_regime(
            _series("hist_vol", hist_vol),
            float(implied_vol),
            float(long_threshold),
            float(short_threshold),
        )
    )


_TF = re.compile(r"^(\d*)([SDWM]?)$")


def annualization_factor(timeframe: str) -> float:
    """Bars per year as the script's ``switch`` computes it (spec 3.1).

    Pine timeframe strings: ``"D"``/``"2D"`` -> 365, ``"W"`` -> 52, ``"M"`` -> 12, minutes
    (``"60"``) -> ``365 * 390 / 60``, seconds (``"1S"``) -> ``365 * 390 / 1440`` (the script's
    formula, which mixes calendar days with 390 trading minutes, replicated as written).
    """
    tf = str(timeframe).strip().upper()
    m = _TF.match(tf)
    if not tf or m is None:
        raise ValueError(f"unknown timeframe {timeframe!r}; use Pine strings like 'D', '60', 'W'")
    mult, unit = m.group(1), m.group(2)
    if unit == "D":
        return 365.0
    if unit == "W":
        return 52.0
    if unit == "M":
        return 12.0
    if unit == "S":
        return 365.0 * 390.0 / 1440.0
    # at most a year of minutes (a longer digit string once overflowed the division)
    minutes = int(mult) if len(mult) <= 6 else 10**6
    if not 1 <= minutes <= 525_600:
        raise ValueError(f"timeframe minutes must be in [1, 525600], got {timeframe!r}")
    return 365.0 * 390.0 / minutes


def timeframe_from_step(seconds: float) -> str:
    """The Pine timeframe string of a bar spacing in seconds (used to infer it from times)."""
    if seconds <= 0 or not math.isfinite(seconds):
        raise ValueError("bar spacing must be positive")
    if seconds % 86400 == 0:
        days = int(seconds // 86400)
        if days % 7 == 0 and days < 28:
            return "W"
        if days >= 28:
            return "M"
        return "D" if days == 1 else f"{days}D"
    if seconds % 60 == 0:
        return str(int(seconds // 60))
    return f"{int(seconds)}S"
