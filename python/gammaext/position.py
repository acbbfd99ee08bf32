"""The option book hedged by the engine: legs, the position and its marks, the accounting
switches."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import numpy as np

from . import _arrays
from ._arrays import FloatArray
from ._checks import _EXPIRY_TOL, _MAX_COUNT, GROUP_COLUMNS, _count, _finite
from .greeks import warn_percent
from .surface import SVI, VolSurface
from .vol_dynamics import StochasticAtmVol

# --------------------------------------------------------------------------------------------
# Position


def _option_kind(kind: object, who: str) -> Literal["call", "put"]:
    """"call" or "put" from the words greeks() takes for is_call, in any case ("Call", "P"...)."""
    word = _arrays._CALL_WORDS.get(kind.lower()) if isinstance(kind, str) else None
    if word is None:
        raise ValueError(f"{who} kind must be 'call' or 'put', got {kind!r}")
    return "call" if word else "put"


@dataclass(frozen=True)
class Leg:
    """One option leg: ``quantity`` (signed, units of the underlying) of a European call or put
    (``kind`` "call" or "put", or "c" / "p", in any case: stored as "call" or "put").

    ``strike`` is absolute; if it is None, the strike is ``moneyness`` times the initial spot
    (1.0: at the money). ``expiry`` in years from the first time; None means the horizon (the
    last time of the paths). An option that expires inside the path settles at intrinsic value
    at the first time of the grid on or after its expiry (within 1e-9 years), and an expiry
    between two grid times is treated as that time: the option bought, marked (price and
    Greeks) and settled is the one expiring there, so a 0.1-year leg on a daily grid (252 steps
    a year) is a 26/252-year option. An expiry after the horizon is kept as given (the option is
    sold at its mark at the horizon). A negative rate or dividend ``x`` with ``-x expiry`` above
    709.8 (``e^{-x expiry}`` overflows a float64) is refused by the run (ValueError).
    """

    kind: Literal["call", "put"] = "call"
    strike: float | None = None
    moneyness: float = 1.0
    expiry: float | None = None
    quantity: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _option_kind(self.kind, "Leg"))
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
class HedgeVol:
    """A hedge vol estimated from the prices the trader has observed so far (never the
    efficient price): the hedge delta (and the Whalley-Wilmott gamma) of each path at step k use
    it instead of the implied vol.

    kind="ewma": exponentially weighted mean of the squared observed log returns, each divided
    by its step's dt (so annualised), with half-life ``length`` steps (weight of a return
    ``length`` steps old: 1/2); the mean is normalised by the weights so far, so it needs no
    starting value. kind="window": the plain mean of the last ``length`` such values (of all
    of them while fewer are in). The hedge vol is the square root, at least ``floor``
    (annualised; it keeps the delta defined on a flat path). Warm-up: until ``warmup`` returns
    have been observed (default ``ceil(length)``, at least 2) the hedge vol is the implied vol.
    """

    kind: Literal["ewma", "window"] = "ewma"
    length: float = 20.0
    warmup: int | None = None
    floor: float = 0.01

    def __post_init__(self) -> None:
        if self.kind not in ("ewma", "window"):
            raise ValueError(f"HedgeVol kind must be 'ewma' or 'window', got {self.kind!r}")
        _finite("HedgeVol length", self.length, positive=True)
        if self.kind == "window":
            if not float(self.length).is_integer():
                raise ValueError(
                    f"HedgeVol length of a window is a whole number of steps, got {self.length!r}"
                )
            _count("HedgeVol length", int(self.length), maximum=_MAX_COUNT)
        elif self.length > _MAX_COUNT:
            raise ValueError(f"HedgeVol length must be <= 2**53, got {self.length!r}")
        if self.warmup is not None:
            _count("HedgeVol warmup", self.warmup, maximum=_MAX_COUNT)
        _finite("HedgeVol floor", self.floor, positive=True)

    @property
    def warmup_steps(self) -> int:
        """Returns observed before the estimate replaces the implied vol."""
        if self.warmup is not None:
            return int(self.warmup)
        return max(2, math.ceil(self.length))


def _check_marking_surface(sf: VolSurface) -> None:
    """A surface that marks options needs total variance > 0 everywhere (a zero vol has no
    Black-Scholes Greeks): flat vol, term and grid values, each SVI slice's minimum."""
    p = sf.params
    if sf.kind == "svi":
        low = min(SVI(*row).min_total_variance for row in p)
    else:
        low = float(np.min(p))
    if not low > 0.0:
        raise ValueError(
            f"vol surface must have total variance > 0 everywhere to mark options; its {sf.kind} "
            f"parameters reach {low!r}"
        )


@dataclass(frozen=True)
class OptionHedge:
    """An option as second hedge instrument: a European ``kind`` ("call" or "put", spelt as
    :class:`Leg` takes it) of ``strike`` (or ``moneyness`` x the initial spot) expiring at
    ``expiry`` years, traded every ``every`` steps (at the first time and then each ``every``-th
    step before the horizon) to the quantity that makes the book's vega (``target="vega"``) or gamma
    (``"gamma"``) zero. With ``band > 0`` it trades on those steps only where the whole book's vega
    (or gamma), this option included, is beyond ``band`` times the legs' total quantity (sum of
    ``|quantity|``; vega per 1.00 of vol, gamma per unit of price): a no-trade band in vega, back to
    neutral when it is left (``every=1``: checked at every step). Its expiry must be after the
    horizon (ValueError otherwise): it never settles in the path, so it is marked to its own expiry,
    on the grid or not. It is marked at its own implied vol like the legs and pays a half-spread of
    ``half_spread_vol`` vol points (decimals: 0.005 is half a vol point) times its vega per unit on
    every trade, and on its sale at the horizon (``close_options``). The stock then hedges the delta
    of the whole book, this option included.

    What the trader sees decides (docs/hedging.md): the book's vega and gamma and the option's
    own are taken at the observed price (with :class:`Noise`), the vega at each option's
    implied vol, the gamma and the delta the stock hedges at the hedge vol (``hedge_vol``: the
    implied, a fixed one or the realized one; the option's own delta too). Fills are at its
    model value around the efficient price, like the stock's."""

    kind: Literal["call", "put"] = "call"
    strike: float | None = None
    moneyness: float = 1.0
    expiry: float = 1.0
    every: int = 1
    target: Literal["vega", "gamma"] = "vega"
    half_spread_vol: float = 0.0
    band: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", _option_kind(self.kind, "OptionHedge"))
        if self.target not in ("vega", "gamma"):
            raise ValueError(f"OptionHedge target must be 'vega' or 'gamma', got {self.target!r}")
        if self.strike is not None:
            _finite("OptionHedge strike", self.strike, positive=True)
        _finite("OptionHedge moneyness", self.moneyness, positive=True)
        _finite("OptionHedge expiry", self.expiry, positive=True)
        _count("OptionHedge every", self.every, 1, maximum=_MAX_COUNT)
        _finite("OptionHedge half_spread_vol", self.half_spread_vol, nonneg=True)
        _finite("OptionHedge band", self.band, nonneg=True)


@dataclass(frozen=True)
class Roll:
    """The roll rule of a book: at each step k after the first and before the horizon, an
    option group (the legs of one strike and expiry) whose legs have expired (``on_expiry``;
    they settle at intrinsic value) or, with ``delta=(lo, hi)``, whose call delta per unit
    ``e^{-div tau} N(d1)`` (at the group's own implied vol and the observed price; the same
    moneyness measure for calls and puts) has left ``[lo, hi]`` is closed at its mark and the
    same legs (kind, signed quantity) are opened again at strike ``m`` x the observed price,
    expiring ``T`` years later. By default (None) ``m`` and ``T`` are the group's own at entry:
    its strike over the initial spot (the spot a :class:`Leg` moneyness multiplies) and its
    expiry (years from the first time, after the snap to the grid below), kept through every
    roll, so a book rolls into the same shape around the new price: a straddle stays a
    straddle, a strangle a strangle, a call spread a spread and a calendar spread keeps its two
    tenors. A number for ``moneyness`` or ``tenor`` is used for every group instead: every
    group then reopens at that same strike (or expiry), so a book of several strikes (or
    expiries) collapses into one (a call spread becomes long and short the same call). An
    expiry between two grid times is the first grid time after it, as for a :class:`Leg`
    (bought, marked and settled as that option: on a daily grid of 252 steps a year,
    ``tenor=1/12`` is 21 steps and ``tenor=0.1`` 26). The legs of a group roll together; each
    path rolls on its own, and ``rolls`` counts one per group rolled. Every close and open
    pays ``half_spread_vol`` vol points (decimals: 0.005 is half a vol point) times the vega
    per unit times the units traded. The position's ``option_half_spread`` (price units) still
    applies to the first purchase and the sale at the horizon. With a delta range, a leg
    whose call delta at entry (at the initial spot and implied vol) is already outside it
    would roll again at every step: the run warns (:class:`InputWarning`)."""

    tenor: float | None = None
    moneyness: float | None = None
    delta: tuple[float, float] | None = None
    on_expiry: bool = True
    half_spread_vol: float = 0.0

    def __post_init__(self) -> None:
        if self.tenor is not None:
            tenor = _finite("Roll tenor", self.tenor, positive=True)
            if tenor <= _EXPIRY_TOL:
                raise ValueError(f"Roll tenor must be > {_EXPIRY_TOL!r} years, got {self.tenor!r}")
            object.__setattr__(self, "tenor", tenor)
        if self.moneyness is not None:
            mny = _finite("Roll moneyness", self.moneyness, positive=True)
            object.__setattr__(self, "moneyness", mny)
        _finite("Roll half_spread_vol", self.half_spread_vol, nonneg=True)
        if not isinstance(self.on_expiry, (bool, np.bool_)):
            raise TypeError(f"Roll on_expiry must be True or False, got {self.on_expiry!r}")
        if self.delta is not None:
            if not isinstance(self.delta, (tuple, list)) or len(self.delta) != 2:
                raise ValueError(f"Roll delta must be a pair (lo, hi), got {self.delta!r}")
            lo = _finite("Roll delta lo", self.delta[0])
            hi = _finite("Roll delta hi", self.delta[1])
            if not 0.0 < lo < hi < 1.0:
                raise ValueError(f"Roll delta must satisfy 0 < lo < hi < 1, got {self.delta!r}")
            object.__setattr__(self, "delta", (lo, hi))
        elif not self.on_expiry:
            raise ValueError("Roll with on_expiry=False and no delta range never rolls")


class _PathSeries:
    """A per-path ATM implied-vol series (``Position(atm=2-D array)``), kept as one read-only
    float64 copy (not Python tuples: a 1e5 x 253 series is 200 MB as an array and gigabytes as
    tuples). Equal when the values are."""

    __slots__ = ("values",)

    def __init__(self, values: FloatArray) -> None:
        a = np.array(values, dtype=np.float64, order="C", copy=True)
        a.setflags(write=False)
        self.values = a

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _PathSeries) and np.array_equal(self.values, other.values)

    def __hash__(self) -> int:
        return hash((self.values.shape, self.values[:, :1].tobytes()))

    def __repr__(self) -> str:
        return f"<ATM series, {self.values.shape[0]} paths x {self.values.shape[1]} times>"


@dataclass(frozen=True)
class Position:
    """The option portfolio and how it is marked.

    Options are priced, and their Greeks taken, with Black-Scholes-Merton at the implied
    ``vol``: a constant, or a 1-D array with one implied vol per time of the grid (an
    implied-vol path shared by all paths; its changes are attributed to the ``vega`` part of
    the P&L). The hedge delta (and the gamma of the Whalley-Wilmott band) uses the constant
    ``hedge_vol`` when it is a number, the realized vol so far of each path when it is a
    :class:`HedgeVol` (or ``"realized"``: ``HedgeVol()``), else (None or ``"implied"``) the
    implied vol. ``rate`` and ``div`` are continuous
    decimals; cash earns ``rate`` and the stock pays ``div`` (see :class:`Accounting`).
    Default: a long at-the-money straddle expiring at the horizon, 20% implied vol, zero rate
    and dividend.

    Implied vol per leg (docs/surfaces.md): ``vol`` may be a :class:`VolSurface`; each leg is
    then marked at its own vol ``surface(ln(K / F(tau)), tau)`` at every step, ``tau`` its time
    to expiry, with ``F(tau) = S e^{(rate - div) tau}`` from the spot that stays put:
    ``sticky="strike"`` the initial one (the surface's ``spot`` if it has one, else each path's
    first price), ``sticky="moneyness"`` the current one (the smile moves with spot). ``atm``
    moves the whole surface: a :class:`StochasticAtmVol` multiplies every vol by
    ``atm(t) / atm0`` (generated in the engine with the path; GBM and Merton paths), a 1-D
    array of ATM vols, one per time of the grid (a user implied-vol series, the same on every
    path: a replay), multiplies them by ``atm[k] / atm[0]``, and ``"heston"`` marks every leg
    at ``heston_implied_vol`` of the path's variance (Heston paths), times, when ``vol`` is an
    SVI or grid surface, the smile's shape ``surface(k, tau) / surface(0, tau)`` (the model
    sets the level, the surface the shape; a number, a flat or a term-structure ``vol`` is not
    used for marks). The hedge vol (``hedge_vol``) is then by default each leg's current
    implied vol.

    ``option_hedge``: an :class:`OptionHedge` (a second hedge instrument); ``roll``: a
    :class:`Roll` (each group's legs closed and reopened when they expire or their delta
    leaves a range; a number ``vol`` then marks them as a flat surface).
    """

    legs: tuple[Leg, ...] = field(default_factory=straddle)
    vol: Any = 0.2
    rate: float = 0.0
    div: float = 0.0
    hedge_vol: float | HedgeVol | str | None = None
    sticky: Literal["strike", "moneyness"] = "strike"
    atm: StochasticAtmVol | Literal["heston"] | Any = None
    option_hedge: OptionHedge | None = None
    roll: Roll | None = None

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
        if self.sticky not in ("strike", "moneyness"):
            raise ValueError(f"sticky must be 'strike' or 'moneyness', got {self.sticky!r}")
        self._check_atm()
        if self.option_hedge is not None and not isinstance(self.option_hedge, OptionHedge):
            raise TypeError(
                f"option_hedge must be an OptionHedge, got {type(self.option_hedge).__name__}"
            )
        self._check_roll()
        if isinstance(self.vol, VolSurface):
            _check_marking_surface(self.vol)
            self._check_rest()
            self._check_carry(self.vol)
            return
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
        if isinstance(self.vol, tuple) and self.roll is not None:
            raise ValueError(
                "roll needs each leg at its own implied vol: give vol as a number or a "
                "VolSurface, not a path"
            )
        if isinstance(self.vol, tuple) and self.atm is not None:
            raise ValueError(
                "atm= moves a surface: give vol as a number or a VolSurface, not a path"
            )
        self._check_rest()

    def _check_roll(self) -> None:
        if self.roll is None:
            return
        if not isinstance(self.roll, Roll):
            raise TypeError(f"roll must be a Roll, got {type(self.roll).__name__}")
        if self.option_hedge is not None:
            raise ValueError("roll together with option_hedge is not supported")

    def _check_rest(self) -> None:
        _finite("rate", self.rate)
        _finite("div", self.div)
        if isinstance(self.hedge_vol, str):
            if self.hedge_vol not in ("implied", "realized"):
                raise ValueError(
                    f"hedge_vol must be a number, a HedgeVol, 'implied' or 'realized', "
                    f"got {self.hedge_vol!r}"
                )
            object.__setattr__(
                self, "hedge_vol", HedgeVol() if self.hedge_vol == "realized" else None
            )
        elif self.hedge_vol is not None and not isinstance(self.hedge_vol, HedgeVol):
            object.__setattr__(
                self, "hedge_vol", _finite("hedge_vol", self.hedge_vol, positive=True)
            )
        fixed = self.hedge_vol if isinstance(self.hedge_vol, float) else None
        vol = self.vol0 if isinstance(self.vol, VolSurface) else self.vol
        vols = np.atleast_1d(np.asarray(vol, dtype=np.float64))
        warn_percent(
            [
                f"{name} is {value!r}, above {limit}"
                for name, value, limit, bad in (
                    ("vol", float(vols.max()), "10", float(vols.max()) > 10),
                    ("hedge_vol", fixed, "10", (fixed or 0.0) > 10),
                    ("rate", self.rate, "1 in magnitude", abs(self.rate) > 1),
                    ("div", self.div, "1 in magnitude", abs(self.div) > 1),
                )
                if bad
            ],
            stacklevel=4,
        )

    def _check_carry(self, surface: VolSurface) -> None:
        """A surface that converts strikes with its own forward (it has a ``spot``) must use
        the position's rate and dividend: the engine reads its smile at ``ln(K / F)`` with the
        position's carry, and a different carry would shift the whole smile silently."""
        if surface.spot is not None and (surface.rate, surface.div) != (self.rate, self.div):
            raise ValueError(
                f"vol surface has rate={surface.rate!r}, div={surface.div!r} (its forward) but "
                f"the position has rate={self.rate!r}, div={self.div!r}: pass "
                "Position(rate=surface.rate, div=surface.div, ...) or build the surface with "
                "the position's carry"
            )

    def _check_atm(self) -> None:
        atm = self.atm
        if atm is None or isinstance(atm, (StochasticAtmVol, _PathSeries)):
            return
        what = f"atm must be a StochasticAtmVol, 'heston', an array or None, got {atm!r}"
        if isinstance(atm, str):
            if atm != "heston":
                raise ValueError(what)
            return
        if isinstance(atm, (bytes, bool, int, float)):
            raise TypeError(what)
        try:
            a = _arrays.as_float("atm", atm)
        except TypeError:
            raise TypeError(what) from None
        if a.ndim not in (1, 2) or a.size < 1:
            raise ValueError(
                "atm series must be 1-D (one ATM vol per time) or 2-D (one row per path), "
                f"got shape {a.shape}"
            )
        ok = np.isfinite(a) & (a > 0)
        if not ok.all():
            bad = tuple(int(i) for i in np.argwhere(~ok)[0])
            raise ValueError(f"atm series must be finite and > 0; value {a[bad]!r} at {bad}")
        if a.ndim == 1:
            object.__setattr__(self, "atm", tuple(float(x) for x in a))
        else:
            object.__setattr__(self, "atm", _PathSeries(a))

    @property
    def vol0(self) -> float:
        """The implied vol at the first time (NaN for a surface: one per leg)."""
        if isinstance(self.vol, VolSurface):
            return float(self.vol.params[0]) if self.vol.kind == "flat" else math.nan
        return float(self.vol[0]) if isinstance(self.vol, tuple) else float(self.vol)

    def surface(self) -> VolSurface | None:
        """The surface the legs are marked on, or None when one vol marks every leg (a number
        or a vol path without ``atm``, or a flat surface without ``atm``: the engine's
        constant-vol path, bit for bit). With a roll, a number is a flat surface."""
        v = self.vol
        if isinstance(v, VolSurface):
            if v.kind == "flat" and self.atm is None and self.roll is None:
                return None
            return v
        # rolled legs have their own strike and expiry per path: the per-leg marks
        if isinstance(self.atm, (StochasticAtmVol, tuple, _PathSeries)) or self.roll is not None:
            return VolSurface.flat(float(v))
        return None

    def vol_path(self, times: FloatArray) -> FloatArray:
        """The implied vol at each time (empty array: constant ``vol``)."""
        if isinstance(self.atm, tuple):
            # a user ATM series shared by every path: it scales the surface
            if len(self.atm) != times.size:
                raise ValueError(
                    f"atm series has {len(self.atm)} values; the time grid has {times.size} times"
                )
            return np.asarray(self.atm, dtype=np.float64)
        if isinstance(self.vol, VolSurface) and self.vol.kind == "flat" and self.atm is None:
            return np.zeros(0)
        if not isinstance(self.vol, tuple):
            return np.zeros(0)
        if len(self.vol) != times.size:
            raise ValueError(
                f"vol path has {len(self.vol)} values; the time grid has {times.size} times"
            )
        return np.asarray(self.vol, dtype=np.float64)

    def atm_rows(self, n_paths: int, times: FloatArray) -> FloatArray:
        """The per-path ATM series ``(n_paths, len(times))`` (empty: none)."""
        if not isinstance(self.atm, _PathSeries):
            return np.zeros((0, 0))
        a = self.atm.values
        if a.shape != (n_paths, times.size):
            raise ValueError(
                f"atm series has shape {a.shape}; expected (n_paths, times) = "
                f"({n_paths}, {times.size})"
            )
        return a

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
            g = out.setdefault((strike, _grid_expiry(times, expiry)[0]), [0.0, 0.0])
            g[0 if leg.kind == "call" else 1] += leg.quantity
        rows = []
        for (strike, expiry), (qc, qp) in out.items():
            step = _grid_expiry(times, expiry)[1]
            row = {"strike": strike, "expiry": expiry, "qc": qc, "qp": qp, "expiry_step": step}
            rows.append([row[name] for name in GROUP_COLUMNS])  # step len(times): never expires
        oh = self.option_hedge
        if oh is not None:  # the last row, held quantity 0 in the book (the engine trades it)
            if oh.expiry <= horizon + _EXPIRY_TOL:
                raise ValueError(
                    f"OptionHedge expiry {oh.expiry!r} must be after the horizon {horizon!r}"
                )
            strike = float(oh.strike) if oh.strike is not None else oh.moneyness * spot0
            row = {"strike": strike, "expiry": float(oh.expiry), "qc": 0.0, "qp": 0.0,
                   "expiry_step": float(times.size)}
            rows.append([row[name] for name in GROUP_COLUMNS])
        return np.asarray(rows, dtype=np.float64)


def _grid_expiry(times: FloatArray, expiry: float) -> tuple[float, int]:
    """An expiry (years from the first time) as the engine holds it: the first grid time on or
    after it (within ``_EXPIRY_TOL``), where it settles, and that time's step; an expiry after
    the horizon stays as it is (step ``len(times)``: it never settles). Marks before settlement
    then use the remaining life to the settlement time, so price, Greeks and payoff agree (an
    option marked to an earlier expiry but settled later gets the last step's variance free)."""
    step = int(np.searchsorted(times, expiry - _EXPIRY_TOL, side="left"))
    return (float(times[step]) if step < times.size else expiry), step


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
