"""Slow, obviously correct NumPy implementations of gammaext's kernels.

The tests compare the C++ core against these, and the benchmarks measure speed ratios against
them. Users may call them too; they favour clarity over speed and never raise for bad values
(they return NaN). One module per area, re-exported here.
"""

from . import backtest
from .black_scholes import greeks, norm_cdf, norm_pdf, price
from .hedging import generate_paths, generate_signals, hedge_paths, simulate_hedge
from .iv import implied_vol

__all__ = [
    "backtest",
    "generate_paths",
    "generate_signals",
    "greeks",
    "hedge_paths",
    "implied_vol",
    "norm_cdf",
    "norm_pdf",
    "price",
    "simulate_hedge",
]
