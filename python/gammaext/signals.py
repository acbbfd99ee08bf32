"""Per-step signals for the dynamic bands (:class:`gammaext.ProfileBand`,
:class:`gammaext.ImbalanceBand`) from market data, to pass as ``signals=`` with the same data's
prices as paths. Each value at bar k uses only bars up to k (what is known when the hedge at k
is decided)."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _arrays
from ._arrays import FloatArray
from ._checks import _count

__all__ = ["order_book_imbalance", "volume_profile"]


def volume_profile(close: Any, volume: Any, *, window: int = 168, bins: int = 24) -> FloatArray:
    """The volume-profile signal in [0, 1] at every bar: the volume traded over the trailing
    ``window`` bars (bars k - window + 1 .. k, fewer at the start) at the current close's price
    level, relative to the busiest level of that window (its point of control).

    The levels are ``bins`` equal bins between the window's lowest and highest close, and each
    bar's volume counts at its close's level. 1: the price is at the level where most volume
    traded (it tends to revert there: hedge sooner); near 0: a thin, low-volume zone (it tends
    to run: let gamma run). A window whose closes are all equal, or without volume, gives 1.

    Parameters
    ----------
    close, volume
        1-D arrays of equal length (e.g. ``gammaext.load_csv(path).close`` and ``.volume``);
        closes finite and > 0, volumes finite and >= 0.
    window, bins
        Bars in the trailing window (default 168: a week of hourly bars) and price levels.
    """
    c = _arrays.as_float("close", close)
    v = _arrays.as_float("volume", volume)
    if c.ndim != 1 or c.size < 1:
        raise ValueError(f"close must be a non-empty 1-D array, got shape {c.shape}")
    if v.shape != c.shape:
        raise ValueError(f"volume must have the shape of close {c.shape}, got {v.shape}")
    if not (np.isfinite(c).all() and (c > 0).all()):
        raise ValueError("close must be finite and > 0")
    if not (np.isfinite(v).all() and (v >= 0).all()):
        raise ValueError("volume must be finite and >= 0")
    window = _count("window", window)
    bins = _count("bins", bins)
    out = np.empty(c.size)
    for k in range(c.size):
        a = max(0, k - window + 1)
        cw, vw = c[a : k + 1], v[a : k + 1]
        lo, hi = float(cw.min()), float(cw.max())
        if hi <= lo:
            out[k] = 1.0
            continue
        level = np.minimum(((cw - lo) / (hi - lo) * bins).astype(np.int64), bins - 1)
        hist = np.bincount(level, weights=vw, minlength=bins)
        top = float(hist.max())
        out[k] = hist[level[-1]] / top if top > 0 else 1.0
    return out


def order_book_imbalance(bid_size: Any, ask_size: Any) -> FloatArray:
    """The signed order-book imbalance ``(bid - ask) / (bid + ask)`` in [-1, 1] (0 where both
    are 0): positive when more size bids than offers, predicting an up move. Sizes: arrays of
    equal shape, finite and >= 0 (e.g. the resting size at the best quotes at each bar)."""
    b = _arrays.as_float("bid_size", bid_size)
    a = _arrays.as_float("ask_size", ask_size)
    if a.shape != b.shape:
        raise ValueError(f"ask_size must have the shape of bid_size {b.shape}, got {a.shape}")
    for name, x in (("bid_size", b), ("ask_size", a)):
        if not (np.isfinite(x).all() and (x >= 0).all()):
            raise ValueError(f"{name} must be finite and >= 0")
    total = a + b
    return np.asarray(np.where(total > 0, (b - a) / np.where(total > 0, total, 1.0), 0.0))
