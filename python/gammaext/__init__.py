"""gammaext: fast Black-Scholes-Merton Greeks, implied volatility and gamma-scalping simulation.

A C++ core (vectorized, multi-threaded, GIL released) under a NumPy API. See the README for the
conventions: time in years, decimals for rates and vols, theta per calendar year, vega per 1.00.
"""

from __future__ import annotations

from importlib import metadata as _metadata

try:
    from . import _core  # noqa: F401
except ImportError as exc:  # pragma: no cover - only on a broken install
    raise ImportError(
        "gammaext's compiled core (_core) could not be imported. Install the package with "
        "'pip install .' from a source checkout (a C++20 compiler is needed), and do not run "
        "Python from inside the source tree's python/ folder. Original error: " + str(exc)
    ) from exc

from . import hedging as _hedging, indicators, reference, signals
from ._arrays import get_num_threads, set_num_threads, simd_level
from .attribution import StepAttribution, attribute_path, attribute_step
from .backtest import (
    BacktestResult,
    Bars,
    StrategyParams,
    SweepResult,
    backtest,
    load_csv,
    param_grid,
    sweep,
)
from .greeks import (
    GREEKS,
    Greeks,
    InputWarning,
    black76_greeks,
    black76_price,
    greeks,
    norm_cdf,
    norm_pdf,
    per_day,
    price,
)
from .hedging import (  # rules and generators: re-exported (as X), listed by the registries
    GBM as GBM,
    Accounting,
    AnyOf as AnyOf,
    AtrMove as AtrMove,
    Bootstrap as Bootstrap,
    Costs,
    DeltaBand as DeltaBand,
    EveryK as EveryK,
    Execution,
    HedgeResult,
    HedgeVol,
    Heston as Heston,
    ImbalanceBand as ImbalanceBand,
    Leg,
    MaxInterval as MaxInterval,
    Merton as Merton,
    Move as Move,
    Never as Never,
    Noise,
    OptionHedge,
    Oscillation as Oscillation,
    Position,
    ProfileBand as ProfileBand,
    Roll,
    SignalGBM as SignalGBM,
    Trend as Trend,
    TrendBand as TrendBand,
    VolGate as VolGate,
    WhalleyWilmott as WhalleyWilmott,
    simulate_hedge,
    simulate_rules,
    straddle,
)
from .iv import IVStatus, black76_implied_vol, implied_vol
from .lab import Scenario, compare_rules, run_experiment
from .surface import SVI, ArbitrageReport, VolSurface
from .svi_fit import fit_svi
from .vol_dynamics import StochasticAtmVol, heston_implied_vol, sticky_vols

__version__ = _metadata.version("gammaext")  # one source of truth: pyproject.toml

#: The public names: these, and every registered rule and path generator (the registries in
#: gammaext.rules and gammaext.generators; tests/test_registries.py checks that each is
#: imported above).
__all__ = [
    "__version__",
    "Accounting",
    "ArbitrageReport",
    "attribute_path",
    "attribute_step",
    "backtest",
    "BacktestResult",
    "Bars",
    "black76_greeks",
    "black76_implied_vol",
    "black76_price",
    "compare_rules",
    "Costs",
    "Execution",
    "fit_svi",
    "get_num_threads",
    "Greeks",
    "GREEKS",
    "greeks",
    "heston_implied_vol",
    "HedgeResult",
    "HedgeVol",
    "implied_vol",
    "indicators",
    "InputWarning",
    "IVStatus",
    "Leg",
    "load_csv",
    "Noise",
    "OptionHedge",
    "norm_cdf",
    "norm_pdf",
    "param_grid",
    "per_day",
    "Position",
    "price",
    "reference",
    "Roll",
    "run_experiment",
    "Scenario",
    "set_num_threads",
    "simd_level",
    "simulate_hedge",
    "signals",
    "simulate_rules",
    "straddle",
    "StepAttribution",
    "sticky_vols",
    "StochasticAtmVol",
    "StrategyParams",
    "SVI",
    "sweep",
    "SweepResult",
    "VolSurface",
]
__all__ += sorted(
    {
        cls.__name__
        for cls in (*_hedging.Rule.registry.values(), *_hedging.PathGenerator.registry.values())
    }
    - {"Rule"}
)
