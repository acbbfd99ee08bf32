"""Path-wise simulation of delta hedging (gamma scalping) with rules, costs and a P&L split.

:func:`simulate_hedge` buys an option portfolio (by default a long at-the-money straddle),
delta-hedges it along price paths under a hedging rule, and reports for every path the total
P&L and its split into gamma, theta, hedge (net delta), financing, costs and residual, plus
rebalance counts, turnover, realized vol and drawdown. Paths come from a built-in generator
(:class:`GBM`, :class:`Heston`, :class:`Merton`, :class:`Oscillation`, :class:`Trend`,
:class:`Bootstrap`) run inside the C++ loop (memory O(paths)), or from an array of prices.

Conventions: times in years, rates/vols continuous decimals, quantities in units of the
underlying per option, P&L in price units at the horizon (undiscounted). The accounting is
described step by step in ``docs/hedging.md`` and implemented in the NumPy reference
:mod:`gammaext.reference.hedging`, which the engine matches to 1e-10.

The parts live in their own modules, all re-exported here: :mod:`gammaext.market` (the
execution model: what is observed, the quotes and costs, latency), :mod:`gammaext.rules`,
:mod:`gammaext.generators`, :mod:`gammaext.position` and :mod:`gammaext.results`; this module
is the driver (parameters, validation, the engine calls).

Random numbers: Philox4x32-10 keyed by ``seed``, with the path index in the counter, so path
``i`` is the same whatever ``n_paths``, ``first_path`` chunking or thread count (common random
numbers across rules: the same seed gives the same paths to every rule).
"""

from __future__ import annotations

import math
import operator
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _arrays, _core
from ._arrays import FloatArray
from .greeks import InputWarning, greeks

__all__ = [
    "GBM",
    "HEDGE_FIELDS",
    "TRACE_FIELDS",
    "Accounting",
    "AnyOf",
    "AtrMove",
    "Bootstrap",
    "Costs",
    "DeltaBand",
    "EveryK",
    "Execution",
    "HedgeResult",
    "HedgeVol",
    "Heston",
    "ImbalanceBand",
    "Leg",
    "MaxInterval",
    "Merton",
    "Move",
    "Never",
    "Noise",
    "OptionHedge",
    "Oscillation",
    "PathGenerator",
    "Position",
    "ProfileBand",
    "Roll",
    "SignalGBM",
    "Trend",
    "TrendBand",
    "VolGate",
    "WhalleyWilmott",
    "random_draws",
    "simulate_hedge",
    "simulate_rules",
    "straddle",
]


# Re-exported: gammaext.hedging is the module users (and the lab, the reference) import from.
from ._checks import (
    _BAND_KIND as _BAND_KIND,
    _CHUNK_WORK as _CHUNK_WORK,
    _EXPIRY_TOL as _EXPIRY_TOL,
    _HEDGE_VOL_KIND as _HEDGE_VOL_KIND,
    _MAX_COUNT as _MAX_COUNT,
    _MAX_STEPS as _MAX_STEPS,
    _NOISE_KIND as _NOISE_KIND,
    _VOL_MODEL as _VOL_MODEL,
    GROUP_COLUMNS as GROUP_COLUMNS,
    HEDGE_FIELDS as HEDGE_FIELDS,
    PARAM_NAMES as PARAM_NAMES,
    PNL_PARTS as PNL_PARTS,
    STREAMS as STREAMS,
    TRACE_FIELDS as TRACE_FIELDS,
    _check_prices as _check_prices,
    _count as _count,
    _enum as _enum,
    _finite as _finite,
    _path_range as _path_range,
    _seed as _seed,
    _stream as _stream,
)
from .generators import (
    _PATH_KIND as _PATH_KIND,
    GBM as GBM,
    Bootstrap as Bootstrap,
    Heston as Heston,
    Merton as Merton,
    Oscillation as Oscillation,
    PathGenerator as PathGenerator,
    SignalGBM as SignalGBM,
    Trend as Trend,
)
from .market import (
    Costs as Costs,
    Execution as Execution,
    Noise as Noise,
)
from .position import (
    Accounting as Accounting,
    HedgeVol as HedgeVol,
    Leg as Leg,
    OptionHedge as OptionHedge,
    Position as Position,
    Roll as Roll,
    _grid_expiry,
    straddle as straddle,
)
from .results import (
    HedgeResult as HedgeResult,
)
from .rules import (
    SIGNAL_OF_BAND as SIGNAL_OF_BAND,
    AnyOf as AnyOf,
    AtrMove as AtrMove,
    DeltaBand as DeltaBand,
    EveryK as EveryK,
    ImbalanceBand as ImbalanceBand,
    MaxInterval as MaxInterval,
    Move as Move,
    Never as Never,
    ProfileBand as ProfileBand,
    Rule as Rule,
    TrendBand as TrendBand,
    VolGate as VolGate,
    WhalleyWilmott as WhalleyWilmott,
)
from .vol_dynamics import StochasticAtmVol

# --------------------------------------------------------------------------------------------
# Entry points


def _time_grid(times: Any, dt: Any, n_steps: int) -> FloatArray:
    if times is not None:
        if dt is not None:
            raise ValueError("give times= or dt=, not both")
        t = _arrays.as_float("times", times)
        if t.ndim != 1 or t.size < 2:
            raise ValueError(f"times must be 1-D with at least 2 values, got shape {t.shape}")
        if not np.isfinite(t).all() or not (np.diff(t) > 0).all():
            raise ValueError("times must be finite and strictly increasing")
        return np.ascontiguousarray(t - t[0])
    step = 1.0 / 252.0 if dt is None else _finite("dt", dt, positive=True)
    _count("n_steps", n_steps, maximum=_MAX_STEPS)
    return np.arange(n_steps + 1, dtype=np.float64) * step


class _Params(dict[str, float]):
    """The engine's parameters by name, all 0.0 to begin with. Setting a name the engine does
    not have raises KeyError at once: a typo in a rule's ``_params`` (``p["ww_cots"]``) would
    otherwise add a stray key that neither the engine nor the reference ever reads."""

    def __init__(self) -> None:
        super().__init__(dict.fromkeys(PARAM_NAMES, 0.0))

    def __setitem__(self, name: str, value: float) -> None:
        if name not in self:
            raise KeyError(f"unknown hedging engine parameter {name!r}")
        super().__setitem__(name, value)

    def update(self, *args: Any, **kwargs: float) -> None:  # dict.update skips __setitem__
        for name, value in dict(*args, **kwargs).items():
            self[name] = value


def build_params(
    paths: Any,
    position: Position,
    rule: Rule,
    costs: Costs,
    accounting: Accounting,
    noise: Noise | None,
    spot0: float,
    execution: Execution | None = None,
) -> dict[str, float]:
    """The flat parameter dict of a run (names of _core._hedge_param_names())."""
    execution = Execution() if execution is None else execution
    p = _Params()
    p.update(
        atr_length=14.0,
        er_length=1.0,
        gate_max=math.inf,
        gate_alpha=1.0,
        period=1.0,
        block_length=1.0,
        spot=spot0,
    )
    if isinstance(paths, PathGenerator):
        paths._params(p)
    else:
        p["path_kind"] = float(_PATH_KIND["user"])
    if noise is not None:
        p["noise_kind"] = float(_NOISE_KIND[noise.kind])
        p["noise_size"] = noise.size
    p["vol"] = position.vol0
    hv = position.hedge_vol
    if isinstance(hv, HedgeVol):
        p["hedge_vol"] = math.nan
        p["hedge_vol_kind"] = float(_HEDGE_VOL_KIND[hv.kind])
        p["hedge_vol_length"] = float(hv.length)
        p["hedge_vol_warmup"] = float(hv.warmup_steps)
        p["hedge_vol_floor"] = hv.floor
    else:
        p["hedge_vol"] = math.nan if hv is None else float(hv)
    p["rate"] = position.rate
    p["div"] = position.div
    _vol_model_params(p, position, paths)
    _option_hedge_params(p, position)
    _roll_params(p, position)
    units = float(sum(abs(leg.quantity) for leg in position.legs))
    rule._params(p, units)
    if costs.half_spread >= 0.01 * spot0:  # "2" meant as 2 bp is 2 price units
        warnings.warn(
            f"Costs(half_spread={costs.half_spread:g}) is {100 * costs.half_spread / spot0:.3g}% "
            f"of the first price {spot0:g}: half_spread is in price units "
            "(half_spread_bps= takes basis points)",
            InputWarning,
            stacklevel=4,
        )
    p.update(
        cost_bps=costs.bps,
        half_spread_bps=costs.half_spread_bps,
        half_spread=costs.half_spread,
        fixed_cost=costs.fixed,
        option_half_spread=costs.option_half_spread,
        impact_bps=costs.impact_bps,
        spread_vol=costs.spread_vol,
        latency=float(execution.latency),
        fill_observed=float(execution.fill == "observed"),
    )
    if math.isnan(p["ww_cost"]):  # a Whalley-Wilmott band priced at the run's own costs
        p["ww_cost"] = (costs.bps + costs.half_spread_bps) * 1e-4
    p.update(
        {
            k: float(bool(getattr(accounting, k)))
            for k in ("initial_hedge", "entry_costs", "exit_costs", "close_options", "financing")
        }
    )
    return p


def _vol_model_params(p: dict[str, float], position: Position, paths: Any) -> None:
    """The engine's implied-vol model: one vol, a surface per leg, or Heston's."""
    surface = position.surface()
    atm = position.atm
    p["atm0"] = p["atm_level"] = 1.0
    if surface is not None:  # (under Heston marks: the smile's shape)
        p["sticky_moneyness"] = float(position.sticky == "moneyness")
        p["surface_spot"] = math.nan if surface.spot is None else surface.spot
    if atm == "heston":
        if not isinstance(paths, Heston):
            raise ValueError("Position atm='heston' needs Heston paths (its variance marks)")
        p["vol_model"] = float(_VOL_MODEL["heston"])
        return
    if surface is None:
        p["vol_model"] = float(_VOL_MODEL["constant"])
        return
    p["vol_model"] = float(_VOL_MODEL["surface"])
    if isinstance(atm, StochasticAtmVol):
        if not isinstance(paths, (GBM, Merton)):
            raise ValueError(
                "Position atm (a StochasticAtmVol) needs GBM or Merton paths: its shocks are "
                "correlated with the paths' price normals"
            )
        p.update(
            atm_on=1.0,
            atm0=atm.atm0,
            atm_level=atm.level,
            atm_kappa=atm.kappa,
            atm_xi=atm.xi,
            atm_rho=atm.rho,
        )


def _option_hedge_params(p: dict[str, float], position: Position) -> None:
    """The option as second hedge instrument (:class:`OptionHedge`), checked: it needs the
    per-leg marks (its own vol)."""
    oh = position.option_hedge
    if oh is None:
        return
    if p["vol_model"] == _VOL_MODEL["constant"]:
        raise ValueError(
            "option_hedge needs each leg at its own implied vol: give vol as a VolSurface or "
            "an atm= (with one vol for all, vega hedging is a static hedge)"
        )
    p.update(
        oh_on=1.0,
        oh_every=float(oh.every),
        oh_gamma=float(oh.target == "gamma"),
        oh_is_call=float(oh.kind == "call"),
        oh_half_spread_vol=oh.half_spread_vol,
        oh_band=oh.band,
    )


def _roll_params(p: dict[str, float], position: Position) -> None:
    """The roll rule (:class:`Roll`); the engine marks rolled legs per path (per-leg vols).
    A tenor or moneyness of None is NaN: each group's own (its expiry, its strike / spot)."""
    p["expiry_tol"] = _EXPIRY_TOL
    roll = position.roll
    if roll is None:
        return
    lo, hi = roll.delta if roll.delta is not None else (-math.inf, math.inf)
    p.update(
        roll_on=1.0,
        roll_tenor=math.nan if roll.tenor is None else roll.tenor,
        roll_moneyness=math.nan if roll.moneyness is None else roll.moneyness,
        roll_delta_lo=lo,
        roll_delta_hi=hi,
        roll_on_expiry=float(roll.on_expiry),
        roll_half_spread_vol=roll.half_spread_vol,
    )


#: e^x overflows a float64 above this.
_LOG_MAX = math.log(float(np.finfo(np.float64).max))


def _check_growth(position: Position, groups: FloatArray, times: FloatArray) -> None:
    """A negative rate (or dividend) over a very long option life: e^{-rate tau} (e^{-div tau})
    overflows, and the marks are inf - inf = NaN in both engines. tau: the longest expiry, or
    roll tenor (snapped to the grid: at most one step more)."""
    tau = float(np.max(groups[:, 1]))
    roll = position.roll
    if roll is not None and roll.tenor is not None:
        tau = max(tau, roll.tenor + float(np.max(np.diff(times))))
    for name, value in (("rate", position.rate), ("div", position.div)):
        if -value * tau > _LOG_MAX:
            raise ValueError(
                f"{name} {value!r} over an option life of {tau:.6g} years (the longest Leg or "
                f"OptionHedge expiry, or the Roll tenor): e^(-{name} x years) overflows a "
                f"float64; -{name} x years must be <= {_LOG_MAX:.1f}"
            )


def _warn_roll_entry(
    position: Position, params: Mapping[str, float], groups: FloatArray, times: FloatArray
) -> None:
    """An :class:`InputWarning` when a group's rolled-in legs start outside the roll's delta
    range: their call delta per unit at entry (the initial spot, the initial implied vol at
    that moneyness and tenor, the carry) would trigger a roll at once, at every step."""
    roll = position.roll
    if roll is None or roll.delta is None:
        return
    lo, hi = roll.delta
    r, q, spot = position.rate, position.div, params["spot"]
    out = []
    for strike, expiry in groups[:, :2]:
        mny = strike / spot if roll.moneyness is None else roll.moneyness
        tenor = expiry if roll.tenor is None else _grid_expiry(times, roll.tenor)[0]
        vol = _initial_vol(position, params, np.array([[mny * spot, tenor]]))
        cdelta = float(greeks(spot, mny * spot, tenor, vol, r, q, which="delta").delta)
        if not lo <= cdelta <= hi:
            out.append(
                f"the group of strike {strike:.6g}, expiry {expiry:.6g} reopens at moneyness "
                f"{mny:.6g}, tenor {tenor:.6g} with call delta {cdelta:.4g} (vol {vol:.4g})"
            )
    if out:
        warnings.warn(
            f"Roll delta={roll.delta!r}: " + "; ".join(out) + ", outside the range: it rolls "
            "again at every step, paying the spread each time",
            InputWarning,
            stacklevel=4,
        )


def _initial_vol(position: Position, params: Mapping[str, float], groups: FloatArray) -> float:
    """The first leg's implied vol at the first time: the engine's scalar vol when each leg has
    its own (the vol gate reads each path's current one from the marks)."""
    model = {v: k for k, v in _VOL_MODEL.items()}[int(params["vol_model"])]
    strike, expiry = float(groups[0][0]), float(groups[0][1])
    surface = position.surface()

    def smile() -> float:  # the surface's vol of the first leg
        assert surface is not None
        s0 = params["surface_spot"] if not math.isnan(params["surface_spot"]) else params["spot"]
        k = math.log(strike / s0) - (position.rate - position.div) * expiry
        return float(surface.vol(k, expiry))

    if model == "heston":
        from .vol_dynamics import heston_implied_vol

        level = float(
            heston_implied_vol(
                params["heston_v0"], expiry, params["heston_kappa"], params["heston_theta"]
            )
        )
        if surface is None or not surface.has_smile:
            return level
        return level * (smile() / float(surface.vol(0.0, expiry)))
    return smile()


def _surface_arrays(position: Position) -> tuple[Any, ...]:
    """(kind, expiries, params, k grid) of the position's surface for the engine."""
    surface = position.surface()
    if surface is None:
        return (0, np.zeros(0), np.zeros(1), np.zeros(0))
    from .surface import _KIND as _SURFACE_KIND

    return (
        _SURFACE_KIND[surface.kind],
        np.ascontiguousarray(surface.expiries),
        np.ascontiguousarray(surface.params.ravel()),
        np.ascontiguousarray(surface.k_grid),
    )


@dataclass(frozen=True)
class Prepared:
    """Everything a run needs, validated (shared by the engine and the NumPy reference)."""

    params: dict[str, float]
    times: FloatArray
    groups: FloatArray
    returns: FloatArray
    user: FloatArray
    n_paths: int
    first_path: int
    seed: int
    vols: FloatArray
    #: The user's signals by name ("profile", "imbalance"): (1 or n_paths, n_steps + 1).
    signals: Mapping[str, FloatArray] = field(default_factory=dict)
    #: The position (its surface marks the legs when params["vol_model"] is "surface").
    position: Position = field(default_factory=Position)
    #: Per-path ATM series (n_paths, n_steps + 1) scaling the surface; empty: none.
    atm_rows: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))


def prepare(
    paths: Any = None,
    *,
    position: Position | None = None,
    rule: Rule | None = None,
    costs: Costs | None = None,
    accounting: Accounting | None = None,
    noise: Noise | None = None,
    n_paths: int | None = None,
    n_steps: int | None = None,
    dt: float | None = None,
    times: Any = None,
    seed: int = 0,
    first_path: int = 0,
    execution: Execution | None = None,
    signals: Mapping[str, Any] | None = None,
    rules: Sequence[Rule] = (),
) -> Prepared:
    paths = GBM() if paths is None else paths
    position = Position() if position is None else position
    rule = EveryK(1) if rule is None else rule
    costs = Costs() if costs is None else costs
    accounting = Accounting() if accounting is None else accounting
    execution = Execution() if execution is None else execution
    for name, obj, cls in (
        ("position", position, Position),
        ("rule", rule, Rule),
        ("costs", costs, Costs),
        ("accounting", accounting, Accounting),
        ("execution", execution, Execution),
    ):
        if not isinstance(obj, cls):
            raise TypeError(f"{name} must be a {cls.__name__}, got {type(obj).__name__}")
    if noise is not None and not isinstance(noise, Noise):
        raise TypeError(f"noise must be a Noise, got {type(noise).__name__}")
    seed_i = _seed(seed)
    first = _count("first_path", first_path, 0)
    returns = np.zeros(1)
    if isinstance(paths, PathGenerator):
        n = _count("n_paths", 10_000 if n_paths is None else n_paths, 0, maximum=_MAX_COUNT)
        grid = _time_grid(times, dt, 252 if n_steps is None else n_steps)
        user = np.zeros((0, 0))
        if isinstance(paths, Merton) and paths.intensity * float(np.max(np.diff(grid))) > 1e4:
            # the engine sums the Poisson CDF to m + 12 sqrt(m) + 16 terms per step
            raise ValueError("Merton intensity x dt must be <= 10000 (jumps per step)")
        if isinstance(paths, Bootstrap):
            returns = paths.log_returns()
        spot0 = paths.start_spot()
    else:
        user = _arrays.as_float("paths", paths)
        if user.ndim == 1:
            user = user.reshape(1, -1)
        # At least one path: an empty (0, n) array used to fail with an IndexError below.
        if user.ndim != 2 or user.shape[1] < 2 or user.shape[0] < 1:
            raise ValueError(
                f"paths must be a 2-D array (paths x times) with at least 1 path and 2 times, "
                f"got shape {np.shape(paths)}"
            )
        _check_prices("paths", user)
        user = np.ascontiguousarray(user)
        n = user.shape[0]
        if times is None:
            grid = _time_grid(None, dt, user.shape[1] - 1)
        else:
            grid = _time_grid(times, dt, 1)
            if grid.size != user.shape[1]:
                raise ValueError(
                    f"times has {grid.size} values but paths has {user.shape[1]} columns"
                )
        _check_user_shape(user.shape, n_paths, n_steps)
        spot0 = float(user[0, 0])
    _path_range(first, n)
    params = build_params(paths, position, rule, costs, accounting, noise, spot0, execution)
    groups = position.groups(spot0, grid)
    vols = position.vol_path(grid)
    if params["vol_model"] != _VOL_MODEL["constant"]:
        params["vol"] = _initial_vol(position, params, groups)
    elif math.isnan(params["vol"]):
        raise ValueError("the position's vol gives no implied vol")  # pragma: no cover
    _check_growth(position, groups, grid)
    _warn_roll_entry(position, params, groups, grid)
    sig = _check_signals(signals, paths, n, grid.size, rules or (rule,))
    atm_rows = position.atm_rows(n, grid)
    return Prepared(
        params, grid, groups, returns, user, n, first, seed_i, vols, sig, position, atm_rows
    )


def _check_user_shape(shape: tuple[int, ...], n_paths: Any, n_steps: Any) -> None:
    """``n_paths`` and ``n_steps`` size a generator's run; with an array of paths its shape
    does, so they may be given only if they agree with it (a mistake, not silently ignored)."""
    for name, value, have, what in (
        ("n_paths", n_paths, shape[0], "paths (rows)"),
        ("n_steps", n_steps, shape[1] - 1, "steps (columns - 1)"),
    ):
        if value is not None and _count(name, value, 0) != have:
            raise ValueError(
                f"{name} is {value} but the array of paths (shape {shape}) has {have} {what}: "
                f"with an array, leave {name} out or give {have}"
            )


#: The valid range of each signal.
SIGNAL_RANGES = {"profile": (0.0, 1.0), "imbalance": (-1.0, 1.0)}


def _check_signals(
    signals: Mapping[str, Any] | None,
    paths: Any,
    n_paths: int,
    n_times: int,
    rules: Sequence[Rule],
) -> dict[str, FloatArray]:
    """The user's signal arrays, checked and shaped (1 or n_paths, n_times); and whether every
    signal band has its signal (from them or from a :class:`SignalGBM`)."""
    out: dict[str, FloatArray] = {}
    for name, values in (signals or {}).items():
        if name not in SIGNAL_RANGES:
            raise ValueError(f"signals has unknown name {name!r}; known: {sorted(SIGNAL_RANGES)}")
        if isinstance(paths, SignalGBM):
            raise ValueError("signals= cannot be combined with SignalGBM (it makes its own)")
        a = _arrays.as_float(f"signals[{name!r}]", values)
        if a.ndim == 1:
            a = a.reshape(1, -1)
        if a.ndim != 2 or a.shape[1] != n_times or a.shape[0] not in (1, n_paths):
            raise ValueError(
                f"signals[{name!r}] must have shape ({n_times},) or ({n_paths}, {n_times}) "
                f"(one value per time, for all paths or per path), got {np.shape(values)}"
            )
        lo, hi = SIGNAL_RANGES[name]
        bad = ~(np.isfinite(a) & (a >= lo) & (a <= hi))
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"signals[{name!r}] must be finite and in [{lo:g}, {hi:g}]; "
                f"value {a[idx]!r} at index {idx}"
            )
        out[name] = np.ascontiguousarray(a)
    if len({a.shape[0] for a in out.values()}) > 1:
        raise ValueError("signals: all arrays must be per path, or all shared (1-D)")
    for rule in rules:
        p = _Params()
        rule._params(p, 1.0)
        kind = {v: k for k, v in _BAND_KIND.items()}[int(p["band_kind"])]
        need = SIGNAL_OF_BAND.get(kind)
        if need and need not in out and not isinstance(paths, SignalGBM):
            raise ValueError(
                f"{type(rule).__name__} needs a {need!r} signal: pass signals={{{need!r}: ...}} "
                f"or use the SignalGBM generator"
            )
    return out


def simulate_hedge(
    paths: Any = None,
    *,
    position: Position | None = None,
    rule: Rule | None = None,
    costs: Costs | None = None,
    accounting: Accounting | None = None,
    noise: Noise | None = None,
    execution: Execution | None = None,
    signals: Mapping[str, Any] | None = None,
    n_paths: int | None = None,
    n_steps: int | None = None,
    dt: float | None = None,
    times: Any = None,
    seed: int = 0,
    first_path: int = 0,
    trace: Iterable[int] = (),
    threads: int | None = None,
    split: bool = True,
) -> HedgeResult:
    """Simulate delta hedging of an option position along many price paths.

    Parameters
    ----------
    paths
        A generator (:class:`GBM` (default), :class:`Heston`, :class:`Merton`,
        :class:`Oscillation`, :class:`Trend`, :class:`Bootstrap`), or an array of prices
        (paths x times, or one 1-D series); prices must be finite and > 0.
    position
        The options held (:class:`Position`; default a long ATM straddle to the horizon, 20%
        implied vol).
    rule
        When to rebalance (default ``EveryK(1)``, every step). See :class:`Move`,
        :class:`DeltaBand`, :class:`WhalleyWilmott`, :class:`AtrMove`, :class:`TrendBand`,
        :class:`VolGate`, :class:`MaxInterval`, :class:`AnyOf` (``a | b``), :class:`Never`.
    costs, accounting
        :class:`Costs` (default none) and :class:`Accounting` (desk defaults).
    noise
        Optional :class:`Noise`: what the trader observes is a noisy price; every rule, delta
        and indicator uses it. Trades still fill at the quotes around the efficient price.
    execution
        :class:`Execution`: latency, and (research only) fills at the observed price.
    signals
        Per-step signals of the dynamic bands (:class:`ProfileBand`, :class:`ImbalanceBand`):
        a mapping ``{"profile": V, "imbalance": I}`` (either or both) of arrays with one value
        per time, shape ``(n_steps + 1,)`` (shared by all paths) or ``(n_paths, n_steps + 1)``;
        V in [0, 1], I in [-1, 1]. The value at time k is what the rule knows at step k. Not
        with :class:`SignalGBM`, which makes its own.
    n_paths, n_steps, dt, times
        Generators: how many paths (default 10000), and the time grid (``n_steps`` steps of
        ``dt`` years, default 252 steps of 1/252, or an increasing array ``times``). Arrays of
        paths: ``dt`` (default 1/252) or ``times`` with one value per column; their shape gives
        the paths and steps, so ``n_paths`` / ``n_steps``, if given, must agree with it
        (else ValueError).
    seed, first_path
        The random numbers of path ``i`` depend only on ``(seed, i)``; ``first_path`` selects
        the global index of the first path, so ``first_path=a, n_paths=b-a`` gives exactly
        rows ``a..b-1`` of a larger run (chunking for clusters).
    trace
        Global path indices whose per-step state is recorded (``result.trace[i]``).
    threads
        Threads (default: the process default); results do not depend on it.
    split
        ``False``: the P&L without its split, for runs that need only the P&L and the trade
        counts. ``pnl``, ``costs``, ``financing``, ``rebalances``, ``traded``, ``turnover``,
        ``final_spot`` and ``rolls`` are those of ``split=True`` (the P&L is cash plus the
        final book value, the same trades); ``gamma``, ``theta``, ``vega``, ``vanna``,
        ``volga``, ``hedge``, ``residual``, ``realized_vol`` and ``max_drawdown`` are NaN.
        It saves the option marks of every step where the rule's trigger does not read the
        book's delta (:class:`Move`, :class:`EveryK`, :class:`AtrMove`, :class:`MaxInterval`,
        :class:`VolGate`, :class:`Never` and their :class:`AnyOf`), at one implied vol (a
        number or a vol path), a given hedge vol and with no ``trace`` (a trace is still
        complete, and costs the marks): the options are then marked at the start, at expiries
        and at the horizon, and the hedge delta only on the paths that trade at a step. Bands
        (:class:`DeltaBand`, :class:`WhalleyWilmott`, :class:`TrendBand`, the signal bands)
        compare the delta with the band at every step, so they still mark every step and save
        only the split's sums.

    Returns
    -------
    HedgeResult

    Notes
    -----
    The GIL is released while the engine runs. Long runs are handed to it in chunks of about
    2**23 path-steps, so Ctrl-C (KeyboardInterrupt) stops a run within about a quarter of a
    second per core-chunk; chunking does not change any result.
    """
    prep = prepare(
        paths,
        position=position,
        rule=rule,
        costs=costs,
        accounting=accounting,
        noise=noise,
        execution=execution,
        signals=signals,
        n_paths=n_paths,
        n_steps=n_steps,
        dt=dt,
        times=times,
        seed=seed,
        first_path=first_path,
    )
    return _run(prep, [prep.params], trace, threads, split)[0]


def _run(
    prep: Prepared,
    rows: Sequence[Mapping[str, float]],
    trace: Iterable[int],
    threads: int | None,
    split: bool = True,
) -> list[HedgeResult]:
    """One pass of the engine over the paths of ``prep`` for every parameter row (rule);
    ``split=False``: the P&L without its split (see :func:`simulate_hedge`)."""
    wanted = sorted({operator.index(i) for i in trace})
    for i in wanted:  # checked as Python ints: 2**63 must not reach int64
        if not prep.first_path <= i < prep.first_path + prep.n_paths:
            raise ValueError(
                f"trace path {i} is outside the simulated paths "
                f"[{prep.first_path}, {prep.first_path + prep.n_paths})"
            )
    trace_idx = np.asarray(wanted, dtype=np.int64)
    params = np.array([[row[k] for k in PARAM_NAMES] for row in rows], dtype=np.float64)
    nthreads = _arrays.threads_arg(threads)
    n, n_steps = prep.n_paths, prep.times.size - 1
    # Long runs go to the core in chunks of paths: Python can only act on Ctrl-C
    # (KeyboardInterrupt) between calls into C++, so this bounds the wait to about one chunk.
    # Exact: path i's numbers depend only on (seed, i), so chunking changes nothing.
    chunk = max(64, _CHUNK_WORK // max(1, n_steps * len(rows)) // 64 * 64)
    out = np.empty((len(HEDGE_FIELDS), len(rows), n))
    tr = np.empty((len(rows), trace_idx.size, n_steps + 1, len(TRACE_FIELDS)))
    for a in range(0, max(n, 1), chunk):
        b = min(n, a + chunk)
        first = prep.first_path + a
        sel = (trace_idx >= first) & (trace_idx < prep.first_path + b)
        out[:, :, a:b], tr[:, sel] = _core._hedge(
            params,
            prep.seed,
            prep.times,
            prep.vols,
            prep.groups,
            prep.returns,
            prep.user[a:b] if prep.user.shape[0] else prep.user,
            _signal_rows(prep, "profile", a, b),
            _signal_rows(prep, "imbalance", a, b),
            _surface_arrays(prep.position),
            prep.atm_rows[a:b] if prep.atm_rows.size else prep.atm_rows,
            first,
            b - a,
            trace_idx[sel],
            nthreads,
            _arrays.ISA,
            bool(split),
        )
    results = []
    for r in range(len(rows)):
        data = {name: out[i, r] for i, name in enumerate(HEDGE_FIELDS)}
        traces = {
            int(p): {name: tr[r, j, :, f] for f, name in enumerate(TRACE_FIELDS)}
            for j, p in enumerate(trace_idx)
        }
        results.append(HedgeResult(data, prep.first_path, traces))
    return results


def _signal_rows(prep: Prepared, name: str, a: int, b: int) -> FloatArray:
    """The rows of one signal for output rows [a, b) (all of a shared one; none: empty)."""
    sig = prep.signals.get(name)
    if sig is None:
        return np.zeros((0, 0))
    return sig if sig.shape[0] == 1 else sig[a:b]


def simulate_rules(
    paths: Any = None,
    rules: Sequence[Rule] | Mapping[str, Rule] = (),
    *,
    position: Position | None = None,
    costs: Costs | None = None,
    accounting: Accounting | None = None,
    noise: Noise | None = None,
    execution: Execution | None = None,
    signals: Mapping[str, Any] | None = None,
    n_paths: int | None = None,
    n_steps: int | None = None,
    dt: float | None = None,
    times: Any = None,
    seed: int = 0,
    first_path: int = 0,
    trace: Iterable[int] = (),
    threads: int | None = None,
    split: bool = True,
) -> Any:
    """Hedge the same paths under several rules in one pass.

    Same arguments as :func:`simulate_hedge`, with ``rules`` a sequence of rules (returns a
    list of :class:`HedgeResult`) or a mapping name -> rule (returns a dict). The paths, the
    random numbers and the option Greeks are computed once and shared, so the results are
    exactly those of separate :func:`simulate_hedge` calls (common random numbers) at a
    fraction of the cost. ``split=False``: the P&L without its split, as in
    :func:`simulate_hedge` (the marks are saved only if every rule's trigger allows it).
    """
    named = isinstance(rules, Mapping)
    items = list(rules.items()) if isinstance(rules, Mapping) else list(enumerate(rules))
    if not items:
        raise ValueError("rules is empty")
    for key, r in items:
        if not isinstance(r, Rule):
            raise TypeError(f"rules[{key!r}] must be a Rule, got {type(r).__name__}")
    prep = prepare(
        paths,
        position=position,
        rule=items[0][1],
        costs=costs,
        accounting=accounting,
        noise=noise,
        execution=execution,
        signals=signals,
        rules=[r for _, r in items],
        n_paths=n_paths,
        n_steps=n_steps,
        dt=dt,
        times=times,
        seed=seed,
        first_path=first_path,
    )
    gen = GBM() if paths is None else paths
    rows = [
        build_params(
            gen,
            Position() if position is None else position,
            r,
            Costs() if costs is None else costs,
            Accounting() if accounting is None else accounting,
            noise,
            prep.params["spot"],
            execution,
        )
        for _, r in items
    ]
    results = _run(prep, rows, trace, threads, split)
    if named:
        return {key: res for (key, _), res in zip(items, results)}
    return results


def random_draws(
    seed: int,
    stream: str | int,
    n_paths: int,
    n_draws: int,
    *,
    first_path: int = 0,
    normal: bool = True,
    threads: int | None = None,
) -> FloatArray:
    """The engine's random numbers: ``out[i, k]`` is draw ``k`` of path ``first_path + i`` in
    ``stream`` (see :data:`STREAMS`), a standard normal (or a uniform in (0, 1) with
    ``normal=False``). Philox4x32-10 keyed by ``seed``; see docs/hedging.md."""
    s = _stream(stream)
    seed_i = _seed(seed)
    first = _count("first_path", first_path, 0)
    n = _count("n_paths", n_paths, 0)
    _path_range(first, n)
    return np.asarray(
        _core._random_draws(
            seed_i,
            s,
            first,
            n,
            _count("n_draws", n_draws, 0),
            bool(normal),
            _arrays.threads_arg(threads),
            _arrays.ISA,
        )
    )
