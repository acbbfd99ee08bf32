"""The market the hedge trades in: what the trader observes (:class:`Noise`), the quotes and
the costs of a fill (:class:`Costs`), and how orders meet the quotes (:class:`Execution`).

Three prices are kept apart (docs/hedging.md, "Prices, quotes, fills"): the efficient price,
which options are marked on; the observed price, which every rule and delta uses; and the
quotes around the efficient price, where orders fill."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from ._checks import _MAX_STEPS, _count, _finite

# --------------------------------------------------------------------------------------------
# Costs and accounting


@dataclass(frozen=True)
class Costs:
    """The quotes and the trading costs of the hedge (all >= 0).

    The market quotes a bid and an ask around the efficient price ``S``: a half-spread of
    ``half_spread_bps`` (basis points of ``S``) plus ``half_spread`` (price units: a run warns
    when it is 1% of the first price or more), widened by
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
