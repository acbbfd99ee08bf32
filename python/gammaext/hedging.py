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

Random numbers: Philox4x32-10 keyed by ``seed``, with the path index in the counter, so path
``i`` is the same whatever ``n_paths``, ``first_path`` chunking or thread count (common random
numbers across rules: the same seed gives the same paths to every rule).
"""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal

import numpy as np

from . import _arrays, _core
from ._arrays import FloatArray
from .greeks import warn_percent

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
    "Heston",
    "Leg",
    "MaxInterval",
    "Merton",
    "Move",
    "Never",
    "Noise",
    "Oscillation",
    "PathGenerator",
    "Position",
    "Trend",
    "TrendBand",
    "VolGate",
    "WhalleyWilmott",
    "random_draws",
    "simulate_hedge",
    "simulate_rules",
    "straddle",
]

PARAM_NAMES: tuple[str, ...] = tuple(_core._hedge_param_names())
#: Per-path result fields, in order.
HEDGE_FIELDS: tuple[str, ...] = tuple(_core._hedge_output_names())
#: Per-step trace fields, in order.
TRACE_FIELDS: tuple[str, ...] = tuple(_core._trace_field_names())
#: Columns of :meth:`Position.groups`, in order.
GROUP_COLUMNS: tuple[str, ...] = tuple(_core._group_column_names())
#: The parts whose sum is the total P&L (``pnl``).
PNL_PARTS: tuple[str, ...] = (
    "gamma",
    "theta",
    "vega",
    "hedge",
    "financing",
    "costs",
    "residual",
)


def _enum(what: str, names: Sequence[str], known: set[str]) -> dict[str, int]:
    """name -> value of an enum of the C++ core, whose values are the positions of the names in
    its X-macro list (cpp/include/gammaext/hedging.hpp, random.hpp). ``known``: the names this
    package implements. The core must have exactly these, so a kind added, renamed or removed
    on one side only fails at import instead of running as another kind."""
    table = {name: i for i, name in enumerate(names)}
    if set(table) != known:
        raise ImportError(f"the C++ core's {what}s {list(table)} differ from {sorted(known)}")
    return table


_NOISE_KIND = _enum("noise kind", _core._noise_kind_names(), {"none", "iid", "bounce"})
_BAND_KIND = _enum(
    "band kind", _core._band_kind_names(), {"none", "fixed", "trend", "whalley_wilmott"}
)
#: Stream numbers of the counter-based generator (see docs/hedging.md).
STREAMS = _enum(
    "random stream",
    _core._stream_names(),
    {"price", "variance", "jump_count", "jump_size", "bootstrap", "noise"},
)
#: Path-steps x rules per call of the C++ engine (about 0.25 s on one core): the bound on
#: how long a KeyboardInterrupt waits in simulate_hedge / simulate_rules.
_CHUNK_WORK = 2**23
_EXPIRY_TOL = 1e-9  # years (0.03 s): an expiry this close to a grid time expires at that time


def _finite(name: str, value: float, *, positive: bool = False, nonneg: bool = False) -> float:
    # Strings and booleans convert with float() but are not numbers: vol="0.2" or
    # threshold=true is a mistake, not a value.
    if isinstance(value, (str, bytes, bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        x = float(value)
    except OverflowError:  # a Python int beyond float64
        raise ValueError(f"{name} must be finite, got an integer too large for a float64") from None
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x!r}")
    if positive and not x > 0:
        raise ValueError(f"{name} must be > 0, got {x!r}")
    if nonneg and x < 0:
        raise ValueError(f"{name} must be >= 0, got {x!r}")
    return x


#: Largest rule length / interval / block: the engine holds counts as doubles and int64, and
#: 2**53 is the last integer a double holds exactly (larger ones crashed or were UB).
_MAX_COUNT = 2**53


#: Largest number of time steps: the time grid alone takes 8 bytes a step (16 GiB here).
_MAX_STEPS = 2**31 - 1


def _count(name: str, value: int, minimum: int = 1, maximum: int | None = None) -> int:
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if n < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {n}")
    if maximum is not None and n > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {n}")
    return n


# --------------------------------------------------------------------------------------------
# Position


@dataclass(frozen=True)
class Leg:
    """One option leg: ``quantity`` (signed, units of the underlying) of a European call or put.

    ``strike`` is absolute; if it is None, the strike is ``moneyness`` times the initial spot
    (1.0: at the money). ``expiry`` in years from the first time; None means the horizon (the
    last time of the paths). An option that expires inside the path settles at intrinsic value
    at the first time on or after its expiry.
    """

    kind: Literal["call", "put"] = "call"
    strike: float | None = None
    moneyness: float = 1.0
    expiry: float | None = None
    quantity: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("call", "put"):
            raise ValueError(f"Leg kind must be 'call' or 'put', got {self.kind!r}")
        if self.strike is not None:
            _finite("Leg strike", self.strike, positive=True)
        _finite("Leg moneyness", self.moneyness, positive=True)
        if self.expiry is not None:
            _finite("Leg expiry", self.expiry, positive=True)
        _finite("Leg quantity", self.quantity)


def straddle(
    quantity: float = 1.0,
    *,
    strike: float | None = None,
    moneyness: float = 1.0,
    expiry: float | None = None,
) -> tuple[Leg, Leg]:
    """A call and a put of the same strike and expiry (long for quantity > 0)."""
    return (
        Leg("call", strike, moneyness, expiry, quantity),
        Leg("put", strike, moneyness, expiry, quantity),
    )


@dataclass(frozen=True)
class Position:
    """The option portfolio and how it is marked.

    Options are priced, and their Greeks taken, with Black-Scholes-Merton at the implied
    ``vol``: a constant, or a 1-D array with one implied vol per time of the grid (an
    implied-vol path shared by all paths; its changes are attributed to the ``vega`` part of
    the P&L). The hedge delta (and the gamma of the Whalley-Wilmott band) uses the constant
    ``hedge_vol`` when given, else the implied vol. ``rate`` and ``div`` are continuous
    decimals; cash earns ``rate`` and the stock pays ``div`` (see :class:`Accounting`).
    Default: a long at-the-money straddle expiring at the horizon, 20% implied vol, zero rate
    and dividend.
    """

    legs: tuple[Leg, ...] = field(default_factory=straddle)
    vol: Any = 0.2
    rate: float = 0.0
    div: float = 0.0
    hedge_vol: float | None = None

    def __post_init__(self) -> None:
        try:
            legs = tuple(self.legs)
        except TypeError:  # e.g. legs=0: name the argument rather than "int is not iterable"
            raise TypeError(f"position legs must be a sequence of Leg, got {self.legs!r}") from None
        object.__setattr__(self, "legs", legs)
        if not legs:
            raise ValueError("position has no legs (an empty portfolio has nothing to hedge)")
        for leg in legs:
            if not isinstance(leg, Leg):
                raise TypeError(f"position legs must be Leg objects, got {type(leg).__name__}")
        if all(leg.quantity == 0 for leg in legs):
            raise ValueError("position has only zero quantities")
        if isinstance(self.vol, (str, bytes, bool)):
            raise TypeError(f"vol must be a number or a 1-D array, got {self.vol!r}")
        try:
            v = _arrays.as_float("vol", self.vol)
        except TypeError:
            raise TypeError(f"vol must be a number or a 1-D array, got {self.vol!r}") from None
        if v.ndim == 0:
            object.__setattr__(self, "vol", _finite("vol", float(v), positive=True))
        elif v.ndim == 1 and v.size >= 1:
            if not (np.isfinite(v).all() and (v > 0).all()):
                bad = int(np.argmax(~(np.isfinite(v) & (v > 0))))
                raise ValueError(f"vol path must be finite and > 0; value {v[bad]!r} at {bad}")
            object.__setattr__(self, "vol", tuple(float(x) for x in v))
        else:
            raise ValueError(f"vol must be a number or a 1-D array, got shape {v.shape}")
        _finite("rate", self.rate)
        _finite("div", self.div)
        if self.hedge_vol is not None:
            _finite("hedge_vol", self.hedge_vol, positive=True)
        vols = np.atleast_1d(np.asarray(self.vol, dtype=np.float64))
        warn_percent(
            [
                f"{name} is {value!r}, above {limit}"
                for name, value, limit, bad in (
                    ("vol", float(vols.max()), "10", float(vols.max()) > 10),
                    ("hedge_vol", self.hedge_vol, "10", (self.hedge_vol or 0.0) > 10),
                    ("rate", self.rate, "1 in magnitude", abs(self.rate) > 1),
                    ("div", self.div, "1 in magnitude", abs(self.div) > 1),
                )
                if bad
            ],
            stacklevel=4,
        )

    @property
    def vol0(self) -> float:
        """The implied vol at the first time."""
        return float(self.vol[0]) if isinstance(self.vol, tuple) else float(self.vol)

    def vol_path(self, times: FloatArray) -> FloatArray:
        """The implied vol at each time (empty array: constant ``vol``)."""
        if not isinstance(self.vol, tuple):
            return np.zeros(0)
        if len(self.vol) != times.size:
            raise ValueError(
                f"vol path has {len(self.vol)} values; the time grid has {times.size} times"
            )
        return np.asarray(self.vol, dtype=np.float64)

    def groups(self, spot0: float, times: FloatArray) -> FloatArray:
        """One row per distinct (strike, expiry): :data:`GROUP_COLUMNS` (strike, expiry, call
        and put quantities, expiry step)."""
        horizon = float(times[-1])
        out: dict[tuple[float, float], list[float]] = {}
        for leg in self.legs:
            strike = float(leg.strike) if leg.strike is not None else leg.moneyness * spot0
            expiry = horizon if leg.expiry is None else float(leg.expiry)
            if expiry <= _EXPIRY_TOL:
                raise ValueError(f"Leg expiry {expiry!r} is not after the first time step")
            g = out.setdefault((strike, expiry), [0.0, 0.0])
            g[0 if leg.kind == "call" else 1] += leg.quantity
        rows = []
        for (strike, expiry), (qc, qp) in out.items():
            step = int(np.searchsorted(times, expiry - _EXPIRY_TOL, side="left"))
            row = {"strike": strike, "expiry": expiry, "qc": qc, "qp": qp, "expiry_step": step}
            rows.append([row[name] for name in GROUP_COLUMNS])  # step len(times): never expires
        return np.asarray(rows, dtype=np.float64)


# --------------------------------------------------------------------------------------------
# Costs and accounting


@dataclass(frozen=True)
class Costs:
    """The quotes and the trading costs of the hedge (all >= 0).

    The market quotes a bid and an ask around the efficient price ``S``: a half-spread of
    ``half_spread_bps`` (basis points of ``S``) plus ``half_spread`` (price units), widened by
    ``spread_vol`` times the step's absolute efficient log return (wider when the market moves:
    0.5 adds 0.5 bp of half-spread per 1 bp move). A buy of ``q`` shares fills at the ask, a
    sell at the bid; on top the trade pays the commission ``bps`` (of notional), ``fixed`` per
    trade (only when ``q != 0``) and the impact: the price moves against the trade by
    ``impact_bps`` per unit of option quantity traded (a cost quadratic in size). In all:
    ``|q| S ((bps + half_spread_bps) 1e-4 + spread_vol |dlnS| + impact_bps 1e-4 |q| / units)
    + |q| half_spread + fixed``. ``option_half_spread`` is paid per unit of option quantity
    when the options are bought and, if they are still alive at the horizon and
    ``Accounting.close_options``, when they are sold.
    """

    bps: float = 0.0
    half_spread_bps: float = 0.0
    half_spread: float = 0.0
    fixed: float = 0.0
    option_half_spread: float = 0.0
    impact_bps: float = 0.0
    spread_vol: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            _finite(f"costs.{f.name}", getattr(self, f.name), nonneg=True)


@dataclass(frozen=True)
class Execution:
    """How the trader's orders meet the market (docs/hedging.md, "Prices, quotes, fills").

    ``latency``: steps between a decision and its fill (0: filled at the decision step's
    quotes; L: decided at step k on what is observed then, filled at step k + L's quotes; the
    rule counts the orders in flight in its net delta). The initial hedge fills at once.

    ``fill``: ``"quotes"`` (default): fills at the bid or ask around the efficient price, and
    the stock is marked at the efficient price. ``"observed"`` is for research only: fills and
    marks at the observed (noisy) price, which lets a rule trade on mean-reverting mispricing
    (the noise) that no real order book offers: a seller would sometimes get more than the
    ask. It is never a default and the lab never uses it.
    """

    latency: int = 0
    fill: Literal["quotes", "observed"] = "quotes"

    def __post_init__(self) -> None:
        _count("execution latency", self.latency, 0, maximum=_MAX_STEPS)
        if self.fill not in ("quotes", "observed"):
            raise ValueError(f"execution fill must be 'quotes' or 'observed', got {self.fill!r}")


@dataclass(frozen=True)
class Accounting:
    """The accounting switches, with a desk's defaults.

    initial_hedge: hedge to delta-neutral at the first time (True).
    entry_costs: that initial hedge pays trading costs (True).
    exit_costs: the final unwind of the stock at the horizon pays trading costs (True).
    close_options: options alive at the horizon are sold at their model value minus the option
        half-spread (True); False marks them at model value without the spread.
    financing: cash earns ``rate`` and the stock position earns (or, short, pays) ``div`` over
        every step (True).
    """

    initial_hedge: bool = True
    entry_costs: bool = True
    exit_costs: bool = True
    close_options: bool = True
    financing: bool = True

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, (bool, np.bool_)):  # "yes" or 2 is a mistake, not a switch
                raise TypeError(f"accounting.{f.name} must be True or False, got {v!r}")


# --------------------------------------------------------------------------------------------
# Rules


class Rule:
    """Base class of the hedging rules; ``a | b`` is :class:`AnyOf` (rebalance if either fires).

    A rule class registers itself where it is defined, by class arguments: ``name`` (its
    ``type`` in a lab config), ``aliases`` (more config names) and ``families`` (names of
    one-parameter sweeps, :func:`gammaext.lab.sweep_rules`, built by its ``_sweep``). The
    config's rule types, the lab's sweep families and the fuzz tests read these registries.
    """

    #: Config name -> rule class (every ``name`` and alias).
    registry: ClassVar[dict[str, type[Rule]]] = {}
    #: Sweep family -> the rule class whose ``_sweep(value, family)`` builds its rules.
    families: ClassVar[dict[str, type[Rule]]] = {}

    def __init_subclass__(
        cls,
        *,
        name: str | None = None,
        aliases: tuple[str, ...] = (),
        families: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init_subclass__(**kwargs)
        for key in (*((name,) if name else ()), *aliases):
            if key in Rule.registry:
                raise TypeError(f"rule type {key!r} is registered twice")
            Rule.registry[key] = cls
        for fam in families:
            if fam in Rule.families:
                raise TypeError(f"sweep family {fam!r} is registered twice")
            Rule.families[fam] = cls

    @classmethod
    def _sweep(cls, value: float, family: str) -> Rule:  # pragma: no cover - per family
        raise NotImplementedError

    def __or__(self, other: Rule) -> AnyOf:
        return AnyOf(self, other)

    def _params(self, p: dict[str, float], units: float) -> None:  # pragma: no cover
        raise NotImplementedError


def _to(name: str, to: str) -> float:
    if to not in ("zero", "edge"):
        raise ValueError(f"{name} to= must be 'zero' or 'edge', got {to!r}")
    return 1.0 if to == "edge" else 0.0


def _band_width(width: float, units: str, n_units: float) -> float:
    if units not in ("shares", "fraction"):
        raise ValueError(f"band units must be 'shares' or 'fraction', got {units!r}")
    return width if units == "shares" else width * n_units


def _set_band(p: dict[str, float], kind: str) -> None:
    if p["band_kind"] != 0.0:
        raise ValueError("a rule can hold at most one band (DeltaBand, TrendBand, WhalleyWilmott)")
    p["band_kind"] = float(_BAND_KIND[kind])


@dataclass(frozen=True)
class Never(Rule, name="never"):
    """Never rebalance (after the optional initial hedge): the unhedged benchmark."""

    def _params(self, p: dict[str, float], units: float) -> None:
        return None


@dataclass(frozen=True)
class EveryK(Rule, name="every_k", aliases=("clock",), families=("clock",)):
    """Time-based: rebalance to delta-neutral at every ``k``-th step (steps k, 2k, ...)."""

    k: int = 1

    def __post_init__(self) -> None:
        _count("EveryK k", self.k, maximum=_MAX_COUNT)

    @classmethod
    def _sweep(cls, value: float, family: str) -> Rule:
        if not float(value).is_integer():
            raise ValueError(f"{family} values must be whole numbers of steps, got {value!r}")
        return cls(int(value))

    def _params(self, p: dict[str, float], units: float) -> None:
        if p["every"]:
            raise ValueError("a rule can hold at most one EveryK")
        p["every"] = float(self.k)


@dataclass(frozen=True)
class Move(Rule, name="move", families=("move",)):
    """Move-based: rebalance when ``|S - S_last_hedge| >= threshold S_last_hedge`` (observed
    prices), i.e. a relative move of at least ``threshold`` since the last hedge."""

    threshold: float = 0.01

    def __post_init__(self) -> None:
        if not 0 < _finite("Move threshold", self.threshold) < 1:
            raise ValueError(
                f"Move threshold is a relative move in (0, 1) (0.01 = 1%), got {self.threshold!r}"
            )

    @classmethod
    def _sweep(cls, value: float, family: str) -> Rule:
        return cls(value)

    def _params(self, p: dict[str, float], units: float) -> None:
        if p["move"]:
            raise ValueError("a rule can hold at most one Move")
        p["move"] = self.threshold


@dataclass(frozen=True)
class DeltaBand(Rule, name="delta_band", aliases=("band",), families=("band", "band_shares")):
    """Rebalance when the net delta leaves ``[-width, width]``.

    units: "shares" (width in units of the underlying) or "fraction" (width times the total
    option quantity: 0.02 is the TradingView strategy's 2% band). to: "zero" (delta-neutral) or
    "edge" (back to the nearest band edge).
    """

    width: float = 0.1
    units: Literal["shares", "fraction"] = "shares"
    to: Literal["zero", "edge"] = "zero"

    def __post_init__(self) -> None:
        _finite("DeltaBand width", self.width, positive=True)
        _band_width(self.width, self.units, 1.0)
        _to("DeltaBand", self.to)

    @classmethod
    def _sweep(cls, value: float, family: str) -> Rule:
        return cls(value, units="shares" if family == "band_shares" else "fraction")

    def _params(self, p: dict[str, float], units: float) -> None:
        _set_band(p, "fixed")
        p["band"] = _band_width(self.width, self.units, units)
        p["band_to_edge"] = _to("DeltaBand", self.to)


@dataclass(frozen=True)
class TrendBand(Rule, name="trend_band", families=("trend_band",)):
    """A delta band that widens in trends: ``width (1 + widen ER)``.

    ER is Kaufman's efficiency ratio over the last ``er_length`` steps of observed prices,
    ``|S_k - S_{k-n}| / sum |S_i - S_{i-1}|`` (0 in pure noise, 1 in a straight line; over the
    available history during the first steps), so the band lets delta run while the price
    trends, as the gamma-scalping lab recommends.
    """

    width: float = 0.1
    er_length: int = 10
    widen: float = 2.0
    units: Literal["shares", "fraction"] = "shares"
    to: Literal["zero", "edge"] = "zero"

    def __post_init__(self) -> None:
        _finite("TrendBand width", self.width, positive=True)
        _count("TrendBand er_length", self.er_length, maximum=_MAX_COUNT)
        _finite("TrendBand widen", self.widen, nonneg=True)
        _band_width(self.width, self.units, 1.0)
        _to("TrendBand", self.to)

    @classmethod
    def _sweep(cls, value: float, family: str) -> Rule:
        return cls(value, units="fraction")

    def _params(self, p: dict[str, float], units: float) -> None:
        _set_band(p, "trend")
        p["band"] = _band_width(self.width, self.units, units)
        p["er_length"] = float(self.er_length)
        p["er_widen"] = self.widen
        p["band_to_edge"] = _to("TrendBand", self.to)


@dataclass(frozen=True)
class WhalleyWilmott(Rule, name="whalley_wilmott", families=("whalley_wilmott",)):
    """Whalley-Wilmott's asymptotically optimal no-trade band around delta-neutral.

    Half-width ``H = (3/2 e^{-r (T - t)} cost S Gamma^2 / risk_aversion)^(1/3)`` shares, with
    ``cost`` the proportional cost (fraction of notional; None, the default: the run's own,
    ``(Costs.bps + Costs.half_spread_bps) 1e-4``), ``risk_aversion`` the exponential
    utility's coefficient (per unit of currency), Gamma the position's gamma (at the hedge vol
    and the observed price) and T the horizon. Whalley & Wilmott, "An asymptotic analysis of
    an optimal hedging model for option pricing with transaction costs", Mathematical Finance
    7 (1997) 307-324. Rebalances to the band edge by default, as the optimal policy does.
    """

    cost: float | None = None
    risk_aversion: float = 1.0
    to: Literal["zero", "edge"] = "edge"

    def __post_init__(self) -> None:
        if self.cost is not None:
            _finite("WhalleyWilmott cost", self.cost, positive=True)
        _finite("WhalleyWilmott risk_aversion", self.risk_aversion, positive=True)
        _to("WhalleyWilmott", self.to)

    def half_width(self, spot: Any, gamma: Any, time_left: Any = 0.0, rate: float = 0.0) -> Any:
        """The formula, for checking: half-width in shares."""
        if self.cost is None:
            raise ValueError("half_width needs a cost (the run's costs give it in a simulation)")
        x = 1.5 * np.exp(-rate * np.asarray(time_left)) * self.cost * np.asarray(spot)
        return np.cbrt(x * np.asarray(gamma) ** 2 / self.risk_aversion)

    @classmethod
    def _sweep(cls, value: float, family: str) -> Rule:
        return cls(risk_aversion=value)  # the cost: the run's own

    def _params(self, p: dict[str, float], units: float) -> None:
        _set_band(p, "whalley_wilmott")
        p["ww_cost"] = math.nan if self.cost is None else self.cost  # NaN: the run's costs
        p["ww_risk_aversion"] = self.risk_aversion
        p["band_to_edge"] = _to("WhalleyWilmott", self.to)


@dataclass(frozen=True)
class AtrMove(Rule, name="atr_move", families=("atr",)):
    """Rebalance on a move beyond ``mult`` x ATR (the TradingView strategy's trigger).

    ATR is Wilder's average true range of ``length`` steps computed on observed closes (true
    range ``|S_k - S_{k-1}|``; the mean of the first ``length`` ranges, then
    ``ATR += (TR - ATR) / length``); the trigger is off until it exists. The move is measured
    from the last hedge (``since="last_hedge"``, default) or close to close
    (``since="previous"``, as the script does).
    """

    mult: float = 0.5
    length: int = 14
    since: Literal["last_hedge", "previous"] = "last_hedge"

    def __post_init__(self) -> None:
        _finite("AtrMove mult", self.mult, positive=True)
        _count("AtrMove length", self.length, maximum=_MAX_COUNT)
        if self.since not in ("last_hedge", "previous"):
            raise ValueError(
                f"AtrMove since= must be 'last_hedge' or 'previous', got {self.since!r}"
            )

    @classmethod
    def _sweep(cls, value: float, family: str) -> Rule:
        return cls(value)

    def _params(self, p: dict[str, float], units: float) -> None:
        if p["atr_mult"]:
            raise ValueError("a rule can hold at most one AtrMove")
        p["atr_mult"] = self.mult
        p["atr_length"] = float(self.length)
        p["atr_from_last"] = 1.0 if self.since == "last_hedge" else 0.0


@dataclass(frozen=True)
class MaxInterval(Rule, name="max_interval"):
    """Rebalance when ``n`` steps have passed since the last rebalance ("at least every n").

    Not subject to a :class:`VolGate`: it is the safety net.
    """

    n: int = 24

    def __post_init__(self) -> None:
        _count("MaxInterval n", self.n, maximum=_MAX_COUNT)

    def _params(self, p: dict[str, float], units: float) -> None:
        if p["max_interval"]:
            raise ValueError("a rule can hold at most one MaxInterval")
        p["max_interval"] = float(self.n)


@dataclass(frozen=True, init=False)
class AnyOf(Rule, name="any_of"):
    """Rebalance when any of the rules fires; to delta-neutral unless only an edge band fired.

    At most one rule of each type (and one band) in a composition.
    """

    rules: tuple[Rule, ...]

    def __init__(self, *rules: Rule) -> None:
        flat: list[Rule] = []
        for r in rules:
            if not isinstance(r, Rule):
                raise TypeError(f"AnyOf takes rules, got {type(r).__name__}")
            if isinstance(r, VolGate):
                raise TypeError("VolGate must wrap the whole rule: VolGate(AnyOf(...))")
            flat.extend(r.rules if isinstance(r, AnyOf) else (r,))
        if not flat:
            raise ValueError("AnyOf needs at least one rule")
        object.__setattr__(self, "rules", tuple(flat))

    def _params(self, p: dict[str, float], units: float) -> None:
        for r in self.rules:
            r._params(p, units)


@dataclass(frozen=True)
class VolGate(Rule, name="vol_gate"):
    """Let ``rule`` act only in a volatility regime: ``min_ratio <= HV / IV <= max_ratio``.

    HV is an exponentially weighted historical vol of observed log returns (annualized,
    ``alpha = 2 / (length + 1)``, started at the implied vol), IV the position's implied vol.
    A :class:`MaxInterval` inside the rule is not gated.
    """

    rule: Rule = field(default_factory=lambda: EveryK(1))
    min_ratio: float = 1.0
    max_ratio: float = math.inf
    length: int = 20

    def __post_init__(self) -> None:
        if not isinstance(self.rule, Rule) or isinstance(self.rule, VolGate):
            raise TypeError("VolGate wraps one rule (not another VolGate)")
        _finite("VolGate min_ratio", self.min_ratio, nonneg=True)
        if not self.max_ratio >= self.min_ratio:
            raise ValueError("VolGate max_ratio must be >= min_ratio")
        _count("VolGate length", self.length, maximum=_MAX_COUNT)

    def _params(self, p: dict[str, float], units: float) -> None:
        self.rule._params(p, units)
        p["gate"] = 1.0
        p["gate_min"] = self.min_ratio
        p["gate_max"] = self.max_ratio
        p["gate_alpha"] = 2.0 / (self.length + 1.0)


# --------------------------------------------------------------------------------------------
# Path generators


class PathGenerator:
    """Base class of the built-in path generators, run inside the C++ loop. A generator class
    registers itself with its path kind (``class GBM(PathGenerator, kind="gbm")``): the kind
    names the engine's enum value (checked against the core's list at import) and is how the
    fuzz tests and docs find every generator."""

    #: Path kind -> generator class.
    registry: ClassVar[dict[str, type[PathGenerator]]] = {}
    kind: ClassVar[str]
    spot: Any  # the first price (a field of every generator)

    def __init_subclass__(cls, *, kind: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if kind in PathGenerator.registry:
            raise TypeError(f"path kind {kind!r} is registered twice")
        cls.kind = kind
        PathGenerator.registry[kind] = cls

    def start_spot(self) -> float:
        """The price at the first time."""
        return float(self.spot)

    def _params(self, p: dict[str, float]) -> None:  # pragma: no cover - per generator
        raise NotImplementedError


@dataclass(frozen=True)
class GBM(PathGenerator, kind="gbm"):
    """Geometric Brownian motion, exact log steps: ``S_t = S_0 exp((drift - vol^2/2) t + vol W_t)``.

    ``drift`` is the expected return per year (0 by default: the real-world drift of a
    hedged book barely matters).
    """

    spot: float = 100.0
    vol: float = 0.2
    drift: float = 0.0

    def __post_init__(self) -> None:
        _finite("GBM spot", self.spot, positive=True)
        _finite("GBM vol", self.vol, nonneg=True)
        _finite("GBM drift", self.drift)

    def _params(self, p: dict[str, float]) -> None:
        p.update(
            path_kind=float(_PATH_KIND[self.kind]),
            spot=self.spot,
            path_vol=self.vol,
            drift=self.drift,
        )


@dataclass(frozen=True)
class Heston(PathGenerator, kind="heston"):
    """Heston stochastic volatility, Andersen's QE scheme (variance never negative).

    ``dS/S = drift dt + sqrt(v) dW1``, ``dv = kappa (theta - v) dt + xi sqrt(v) dW2``,
    ``corr(dW1, dW2) = rho``. Andersen, "Simple and efficient simulation of the Heston
    stochastic volatility model", J. Computational Finance 11(3) (2008): QE with psi_c = 1.5 and
    the central log-price step.
    """

    spot: float = 100.0
    v0: float = 0.04
    kappa: float = 2.0
    theta: float = 0.04
    xi: float = 0.5
    rho: float = -0.7
    drift: float = 0.0

    def __post_init__(self) -> None:
        _finite("Heston spot", self.spot, positive=True)
        _finite("Heston v0", self.v0, nonneg=True)
        _finite("Heston kappa", self.kappa, positive=True)
        _finite("Heston theta", self.theta, positive=True)
        _finite("Heston xi", self.xi, positive=True)
        if not -1.0 <= _finite("Heston rho", self.rho) <= 1.0:
            raise ValueError(f"Heston rho must be in [-1, 1], got {self.rho!r}")
        _finite("Heston drift", self.drift)

    def _params(self, p: dict[str, float]) -> None:
        p.update(
            path_kind=float(_PATH_KIND[self.kind]),
            spot=self.spot,
            drift=self.drift,
            heston_v0=self.v0,
            heston_kappa=self.kappa,
            heston_theta=self.theta,
            heston_xi=self.xi,
            heston_rho=self.rho,
        )


@dataclass(frozen=True)
class Merton(PathGenerator, kind="merton"):
    """Merton jump-diffusion: GBM plus Poisson(``intensity`` per year) jumps with
    ``ln(1 + J) ~ N(jump_mean, jump_std^2)``, compensated so that ``E[S_t] = S_0 e^{drift t}``.
    """

    spot: float = 100.0
    vol: float = 0.2
    intensity: float = 1.0
    jump_mean: float = -0.05
    jump_std: float = 0.1
    drift: float = 0.0

    def __post_init__(self) -> None:
        _finite("Merton spot", self.spot, positive=True)
        _finite("Merton vol", self.vol, nonneg=True)
        _finite("Merton intensity", self.intensity, nonneg=True)
        _finite("Merton jump_mean", self.jump_mean)
        _finite("Merton jump_std", self.jump_std, nonneg=True)
        _finite("Merton drift", self.drift)

    def _params(self, p: dict[str, float]) -> None:
        p.update(
            path_kind=float(_PATH_KIND[self.kind]),
            spot=self.spot,
            path_vol=self.vol,
            drift=self.drift,
            jump_intensity=self.intensity,
            jump_mean=self.jump_mean,
            jump_std=self.jump_std,
        )


@dataclass(frozen=True)
class Oscillation(PathGenerator, kind="oscillation"):
    """The lab's oscillating market: ``ln S_k = ln S_0 + amplitude sin(2 pi k / period) + noise``.

    ``period`` in steps; the path returns to its start whenever the number of steps is a
    multiple of the period. ``noise`` is the annualized vol of an added Brownian motion.
    With period 4 every step moves by ``amplitude`` in log: realized vol
    ``amplitude sqrt(steps per year)``.
    """

    spot: float = 100.0
    amplitude: float = 0.02
    period: float = 4.0
    noise: float = 0.0

    def __post_init__(self) -> None:
        _finite("Oscillation spot", self.spot, positive=True)
        _finite("Oscillation amplitude", self.amplitude, nonneg=True)
        _finite("Oscillation period", self.period, positive=True)
        _finite("Oscillation noise", self.noise, nonneg=True)

    def _params(self, p: dict[str, float]) -> None:
        p.update(
            path_kind=float(_PATH_KIND[self.kind]),
            spot=self.spot,
            amplitude=self.amplitude,
            period=self.period,
            scenario_noise=self.noise,
        )


@dataclass(frozen=True)
class Trend(PathGenerator, kind="trend"):
    """The lab's trending market: a smooth ``total_return`` over the horizon plus tiny noise.

    ``ln S_t = ln S_0 + ln(1 + total_return) t / T + noise W_t``.
    """

    spot: float = 100.0
    total_return: float = 0.10
    noise: float = 0.01

    def __post_init__(self) -> None:
        _finite("Trend spot", self.spot, positive=True)
        if not _finite("Trend total_return", self.total_return) > -1.0:
            raise ValueError("Trend total_return must be > -1")
        _finite("Trend noise", self.noise, nonneg=True)

    def _params(self, p: dict[str, float]) -> None:
        p.update(
            path_kind=float(_PATH_KIND[self.kind]),
            spot=self.spot,
            total_return=self.total_return,
            scenario_noise=self.noise,
        )


@dataclass(frozen=True)
class Bootstrap(PathGenerator, kind="bootstrap"):
    """Circular block bootstrap of historical log returns (Politis & Romano 1992).

    Give ``prices`` (a 1-D series, e.g. closes) or ``returns`` (log returns). Each path is
    built from blocks of ``block`` consecutive returns starting at uniformly drawn positions
    (wrapping around the end). The time grid of the simulation should match the data's
    sampling (e.g. ``dt=1/(365*24)`` for hourly crypto).
    """

    prices: Any = None
    returns: Any = None
    block: int = 24
    spot: float | None = None

    def __post_init__(self) -> None:
        if (self.prices is None) == (self.returns is None):
            raise ValueError("Bootstrap needs exactly one of prices= or returns=")
        _count("Bootstrap block", self.block, maximum=_MAX_COUNT)
        if self.spot is not None:
            _finite("Bootstrap spot", self.spot, positive=True)

    def log_returns(self) -> FloatArray:
        if self.prices is not None:
            p = _arrays.as_float("Bootstrap prices", self.prices).ravel()
            _check_prices("Bootstrap prices", p.reshape(1, -1))
            if p.size < 2:
                raise ValueError("Bootstrap prices needs at least 2 values")
            r = np.diff(np.log(p))
        else:
            r = _arrays.as_float("Bootstrap returns", self.returns).ravel()
            if r.size < 1 or not np.isfinite(r).all():
                raise ValueError("Bootstrap returns must be non-empty and finite")
        return np.ascontiguousarray(r, dtype=np.float64)

    def start_spot(self) -> float:
        if self.spot is not None:
            return float(self.spot)
        if self.prices is not None:
            return float(np.ravel(np.asarray(self.prices, dtype=np.float64))[-1])
        return 100.0

    def _params(self, p: dict[str, float]) -> None:
        p.update(
            path_kind=float(_PATH_KIND[self.kind]),
            spot=self.start_spot(),
            block_length=float(self.block),
        )


@dataclass(frozen=True)
class Noise:
    """What the trader observes instead of the efficient price ``S``.

    kind "iid": a noisy mid, ``observed = S exp(size eps)``, eps i.i.d. standard normal;
    kind "bounce": the last print, at the bid or the ask with equal probability,
    ``observed = S (1 +- size)``. Options are marked (and gamma/theta attributed) on the
    efficient price; every rule, the hedge delta and gamma, the ATR and the realized vol use
    the observed price only. Orders fill at the quotes around the efficient price
    (:class:`Costs`), not at the observed price (:class:`Execution` ``fill="observed"``,
    research only, does that).
    """

    kind: Literal["iid", "bounce"] = "iid"
    size: float = 0.0005

    def __post_init__(self) -> None:
        if self.kind not in ("iid", "bounce"):
            raise ValueError(f"Noise kind must be 'iid' or 'bounce', got {self.kind!r}")
        _finite("Noise size", self.size, nonneg=True)
        if self.kind == "bounce" and self.size >= 1:
            raise ValueError("Noise size must be < 1 for a bid-ask bounce")


_PATH_KIND = _enum("path kind", _core._path_kind_names(), {*PathGenerator.registry, "user"})


# --------------------------------------------------------------------------------------------
# Results


def _summ(x: FloatArray, z: float) -> dict[str, float]:
    n = x.size
    mean = float(np.mean(x)) if n else math.nan
    std = float(np.std(x, ddof=1)) if n > 1 else math.nan
    se = std / math.sqrt(n) if n > 1 else math.nan
    return {
        "mean": mean,
        "std": std,
        "stderr": se,
        "ci_low": mean - z * se,
        "ci_high": mean + z * se,
    }


@dataclass(frozen=True, repr=False)
class HedgeResult:
    """Per-path results of :func:`simulate_hedge` (arrays of length ``n_paths``).

    ``pnl`` = ``gamma + theta + vega + hedge + financing + costs + residual`` (to rounding):

    * gamma: sum of ``1/2 Gamma_k (S_{k+1} - S_k)^2`` (true price moves, Greeks at the mark vol);
    * theta: sum of ``Theta_k dt_k`` (theta per year, calendar time);
    * vega: sum of ``Vega_k (vol_k+1 - vol_k)`` with an implied-vol path (else 0);
    * hedge: P&L of the net delta, ``sum Delta_k (S_{k+1} - S_k) + shares_k (O_{k+1} - O_k)``
      (options' delta on the true price, stock on the observed price O);
    * financing: interest on cash at ``rate`` and dividends on the stock at ``div``;
    * costs: all trading costs, as a (negative) P&L contribution;
    * residual: what the Taylor terms miss (higher orders, expiry settlement).

    Also ``rebalances`` (rule-triggered trades, excluding the initial hedge and the final
    unwind), ``traded`` (total shares traded, all trades), ``turnover`` (traded notional),
    ``realized_vol`` (annualized, from observed log returns), ``max_drawdown`` (of the running
    mark-to-market P&L, from a peak starting at 0) and ``final_spot``. ``trace[path]`` is a dict
    of per-step arrays (:data:`TRACE_FIELDS`) for the traced paths.
    """

    data: dict[str, FloatArray]
    first_path: int = 0
    trace: dict[int, dict[str, FloatArray]] = field(default_factory=dict)

    def __getattr__(self, name: str) -> FloatArray:
        data = object.__getattribute__(self, "data")
        if name in data:
            return data[name]  # type: ignore[no-any-return]
        raise AttributeError(name)

    def __getitem__(self, name: str) -> FloatArray:
        return self.data[name]

    def __len__(self) -> int:
        return int(self.data["pnl"].size)

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"HedgeResult(n_paths={len(self)}, first_path={self.first_path}, "
            f"pnl mean={s['pnl_mean']:.6g} +- {s['pnl_stderr']:.2g})"
        )

    @property
    def path_index(self) -> np.ndarray:
        return np.arange(self.first_path, self.first_path + len(self), dtype=np.int64)

    def summary(self, confidence: float = 0.95) -> dict[str, float]:
        """Statistics over paths: mean, std, standard error and a normal confidence interval of
        the P&L and of each part, P&L quantiles (1, 5, 25, 50, 75, 95, 99%), CVaR 5% (mean of
        the worst 5% of paths), a Sharpe-like ratio mean/std, and the means of the activity
        fields. Computed from the per-path arrays, so it is exact after :meth:`concat`."""
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
        z = _normal_quantile(0.5 + confidence / 2)
        out: dict[str, float] = {"n_paths": float(len(self)), "confidence": confidence}
        for name in ("pnl", *PNL_PARTS):
            for k, v in _summ(self.data[name], z).items():
                out[f"{name}_{k}"] = v
        pnl = np.sort(self.data["pnl"])
        for q in (1, 5, 25, 50, 75, 95, 99):
            out[f"pnl_q{q:02d}"] = float(np.quantile(pnl, q / 100)) if pnl.size else math.nan
        tail = max(1, math.ceil(0.05 * pnl.size))
        out["pnl_cvar05"] = float(np.mean(pnl[:tail])) if pnl.size else math.nan
        std = out["pnl_std"]
        out["sharpe"] = out["pnl_mean"] / std if std and std > 0 else math.nan
        for name in ("rebalances", "traded", "turnover", "realized_vol", "max_drawdown"):
            out[f"{name}_mean"] = float(np.mean(self.data[name])) if pnl.size else math.nan
        return out

    def to_dict(self) -> dict[str, FloatArray]:
        return dict(self.data)

    def to_dataframe(self) -> Any:
        """A pandas DataFrame, one row per path (index: global path number)."""
        import pandas as pd

        return pd.DataFrame(self.data, index=pd.Index(self.path_index, name="path"))

    @classmethod
    def concat(cls, results: Sequence[HedgeResult]) -> HedgeResult:
        """Merge chunks of consecutive paths (e.g. from workers) into one result, exactly."""
        parts = sorted(results, key=lambda r: r.first_path)
        if not parts:
            raise ValueError("concat needs at least one result")
        for a, b in itertools.pairwise(parts):
            if a.first_path + len(a) != b.first_path:
                raise ValueError(
                    f"chunks are not contiguous: {a.first_path}+{len(a)} then {b.first_path}"
                )
        data = {k: np.concatenate([r.data[k] for r in parts]) for k in parts[0].data}
        trace: dict[int, dict[str, FloatArray]] = {}
        for r in parts:
            trace.update(r.trace)
        return cls(data, parts[0].first_path, trace)


def _normal_quantile(p: float) -> float:
    return float(_core._norm_ppf(np.array([p]))[0])


# --------------------------------------------------------------------------------------------
# Entry points


def _check_prices(name: str, a: FloatArray) -> None:
    bad = ~(np.isfinite(a) & (a > 0))
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} must be finite and > 0; first bad value {a[idx]!r} at index {idx} "
            f"({int(bad.sum())} bad)"
        )


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
    p["hedge_vol"] = math.nan if position.hedge_vol is None else position.hedge_vol
    p["rate"] = position.rate
    p["div"] = position.div
    units = float(sum(abs(leg.quantity) for leg in position.legs))
    rule._params(p, units)
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


def prepare(
    paths: Any = None,
    *,
    position: Position | None = None,
    rule: Rule | None = None,
    costs: Costs | None = None,
    accounting: Accounting | None = None,
    noise: Noise | None = None,
    n_paths: int = 10_000,
    n_steps: int = 252,
    dt: float | None = None,
    times: Any = None,
    seed: int = 0,
    first_path: int = 0,
    execution: Execution | None = None,
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
    seed_i = operator.index(seed)
    if not 0 <= seed_i < 2**64:
        raise ValueError(f"seed must be in [0, 2**64), got {seed_i}")
    first = _count("first_path", first_path, 0)
    returns = np.zeros(1)
    if isinstance(paths, PathGenerator):
        n = _count("n_paths", n_paths, 0, maximum=_MAX_COUNT)
        grid = _time_grid(times, dt, n_steps)
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
        spot0 = float(user[0, 0])
    if first + n >= 2**63:  # path indices are int64 in the engine
        raise ValueError(f"first_path + n_paths must be < 2**63, got {first} + {n}")
    params = build_params(paths, position, rule, costs, accounting, noise, spot0, execution)
    groups = position.groups(spot0, grid)
    vols = position.vol_path(grid)
    return Prepared(params, grid, groups, returns, user, n, first, seed_i, vols)


def simulate_hedge(
    paths: Any = None,
    *,
    position: Position | None = None,
    rule: Rule | None = None,
    costs: Costs | None = None,
    accounting: Accounting | None = None,
    noise: Noise | None = None,
    execution: Execution | None = None,
    n_paths: int = 10_000,
    n_steps: int = 252,
    dt: float | None = None,
    times: Any = None,
    seed: int = 0,
    first_path: int = 0,
    trace: Iterable[int] = (),
    threads: int | None = None,
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
    n_paths, n_steps, dt, times
        Generators: how many paths, and the time grid (``n_steps`` steps of ``dt`` years,
        default 252 steps of 1/252, or an increasing array ``times``). Arrays of paths: ``dt``
        (default 1/252) or ``times`` with one value per column.
    seed, first_path
        The random numbers of path ``i`` depend only on ``(seed, i)``; ``first_path`` selects
        the global index of the first path, so ``first_path=a, n_paths=b-a`` gives exactly
        rows ``a..b-1`` of a larger run (chunking for clusters).
    trace
        Global path indices whose per-step state is recorded (``result.trace[i]``).
    threads
        Threads (default: the process default); results do not depend on it.

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
        n_paths=n_paths,
        n_steps=n_steps,
        dt=dt,
        times=times,
        seed=seed,
        first_path=first_path,
    )
    return _run(prep, [prep.params], trace, threads)[0]


def _run(
    prep: Prepared, rows: Sequence[Mapping[str, float]], trace: Iterable[int], threads: int | None
) -> list[HedgeResult]:
    """One pass of the engine over the paths of ``prep`` for every parameter row (rule)."""
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
            first,
            b - a,
            trace_idx[sel],
            nthreads,
            _arrays.ISA,
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


def simulate_rules(
    paths: Any = None,
    rules: Sequence[Rule] | Mapping[str, Rule] = (),
    *,
    position: Position | None = None,
    costs: Costs | None = None,
    accounting: Accounting | None = None,
    noise: Noise | None = None,
    execution: Execution | None = None,
    n_paths: int = 10_000,
    n_steps: int = 252,
    dt: float | None = None,
    times: Any = None,
    seed: int = 0,
    first_path: int = 0,
    trace: Iterable[int] = (),
    threads: int | None = None,
) -> Any:
    """Hedge the same paths under several rules in one pass.

    Same arguments as :func:`simulate_hedge`, with ``rules`` a sequence of rules (returns a
    list of :class:`HedgeResult`) or a mapping name -> rule (returns a dict). The paths, the
    random numbers and the option Greeks are computed once and shared, so the results are
    exactly those of separate :func:`simulate_hedge` calls (common random numbers) at a
    fraction of the cost.
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
    results = _run(prep, rows, trace, threads)
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
    s = STREAMS[stream] if isinstance(stream, str) else operator.index(stream)
    return np.asarray(
        _core._random_draws(
            operator.index(seed),
            s,
            _count("first_path", first_path, 0),
            _count("n_paths", n_paths, 0),
            _count("n_draws", n_draws, 0),
            bool(normal),
            _arrays.threads_arg(threads),
            _arrays.ISA,
        )
    )
