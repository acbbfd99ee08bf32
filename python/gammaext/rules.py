"""The hedging rules: when to rebalance, and to what. Each rule registers itself by class
arguments (see :class:`Rule`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from ._checks import _BAND_KIND, _MAX_COUNT, _count, _finite

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
        raise ValueError(
            "a rule can hold at most one band (DeltaBand, TrendBand, WhalleyWilmott, "
            "ProfileBand, ImbalanceBand)"
        )
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
    and the observed price) and T the option's expiry (with legs of several expiries,
    ``e^{-r (T - t)} Gamma^2`` is ``(sum over expiries of e^{-r (T_g - t) / 2} Gamma_g)^2``).
    Whalley & Wilmott, "An asymptotic analysis of an optimal hedging model for option pricing
    with transaction costs", Mathematical Finance 7 (1997) 307-324. Rebalances to the band
    edge by default, as the optimal policy does.
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


#: The signal each signal band reads (its band kind -> the signal's name in ``signals=``).
SIGNAL_OF_BAND = {"profile": "profile", "imbalance": "imbalance"}


@dataclass(frozen=True)
class _SignalBand(Rule):
    """A delta band whose half-width follows a per-step signal (the subclasses say how)."""

    _band_kind: ClassVar[str]
    width: float = 0.1
    strength: float = 0.5
    units: Literal["shares", "fraction"] = "shares"
    to: Literal["zero", "edge"] = "zero"

    def __post_init__(self) -> None:
        name = type(self).__name__
        _finite(f"{name} width", self.width, positive=True)
        if not 0.0 <= _finite(f"{name} strength", self.strength) < 1.0:
            raise ValueError(f"{name} strength must be in [0, 1), got {self.strength!r}")
        _band_width(self.width, self.units, 1.0)
        _to(name, self.to)

    @classmethod
    def _sweep(cls, value: float, family: str) -> Rule:
        return cls(value, units="fraction")

    def _params(self, p: dict[str, float], units: float) -> None:
        _set_band(p, self._band_kind)
        p["band"] = _band_width(self.width, self.units, units)
        p["signal_strength"] = self.strength
        p["band_to_edge"] = _to(type(self).__name__, self.to)


@dataclass(frozen=True)
class ProfileBand(_SignalBand, name="profile_band", families=("profile_band",)):
    """A delta band that follows the volume profile (the seed's dynamic banding).

    Half-width ``width (1 + strength (1 - 2 V))`` with ``V`` in [0, 1] the volume-profile
    signal at the step (the share of trailing volume traded at the current price level
    relative to the busiest level, :func:`gammaext.signals.volume_profile`; or the
    :class:`SignalGBM` generator's): near high-volume levels (V -> 1) the price tends to
    revert, so the band narrows and the hedge comes sooner; in thin zones (V -> 0) it tends to
    run, so the band widens and gamma runs. ``strength`` in [0, 1): 0 is a :class:`DeltaBand`.
    ``units`` and ``to`` as in :class:`DeltaBand`. Needs a ``profile`` signal (``signals=`` or
    :class:`SignalGBM`).
    """

    _band_kind: ClassVar[str] = "profile"


@dataclass(frozen=True)
class ImbalanceBand(_SignalBand, name="imbalance_band", families=("imbalance_band",)):
    """A delta band that leans on the order-book imbalance (the seed's dynamic banding).

    Half-width ``width (1 + strength I sign(net delta))`` with ``I`` in [-1, 1] the signed
    imbalance at the step (positive: more bids, the next move predicted up). A long-gamma book
    that the price moved away from its last hedge holds a net delta in the move's direction:
    when the imbalance predicts that the move continues, the band on that side widens and the
    hedge into the move waits; when it predicts the way back, it narrows and the hedge comes
    sooner. ``strength`` in [0, 1): 0 is a :class:`DeltaBand`. ``units`` and ``to`` as in
    :class:`DeltaBand`. Needs an ``imbalance`` signal (``signals=`` or :class:`SignalGBM`).
    """

    _band_kind: ClassVar[str] = "imbalance"


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
    ``alpha = 2 / (length + 1)``, started at the implied vol), IV the position's implied vol at
    that step: with per-leg marks (a surface, ``atm=``, Heston marks) the first leg's current
    implied vol on each path, as its marks use it.
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
