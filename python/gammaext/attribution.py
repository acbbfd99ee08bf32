"""P&L attribution of an option position over one step when implied vol moves (pure functions).

Over a step of ``dt`` years in which spot moves by ``dS`` and the leg's implied vol by ``dvol``
(decimal: 0.01 = one vol point), the second-order Taylor expansion of the Black-Scholes-Merton
value V(S, vol, t) of one option is

    dV ~ delta dS + 1/2 gamma dS^2 + theta dt + vega dvol + vanna dS dvol + 1/2 volga dvol^2

with the Greeks at the start of the step (:func:`gammaext.greeks`: theta per year of calendar
time, vega, vanna and volga = vomma per 1.00 of vol). ``residual`` is the exact repriced change
minus these terms: third order in (dS, dvol) and first in dt times (dS, dvol), so it shrinks
like h^3 when dS and dvol scale with h and dt with h^2 (a diffusion's step).

The hedging engine (issue #14, items 3-4) will compute these per leg and per step in C++ with
the leg's own implied vol from the surface; this module is the formula it must match.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ._arrays import FloatArray
from .greeks import greeks, price

__all__ = ["StepAttribution", "attribute_path", "attribute_step"]


@dataclass(frozen=True)
class StepAttribution:
    """The parts of one step's change in value (currency, times ``quantity``)."""

    delta: FloatArray
    gamma: FloatArray
    theta: FloatArray
    vega: FloatArray
    vanna: FloatArray
    volga: FloatArray
    total: FloatArray
    residual: FloatArray

    def explained(self) -> FloatArray:
        """The sum of the Taylor terms (``total - residual``)."""
        return np.asarray(
            self.delta + self.gamma + self.theta + self.vega + self.vanna + self.volga
        )


def attribute_step(
    spot: Any,
    strike: Any,
    t: Any,
    vol: Any,
    spot_next: Any,
    vol_next: Any,
    dt: Any,
    rate: Any = 0.0,
    div: Any = 0.0,
    *,
    is_call: Any = True,
    quantity: Any = 1.0,
) -> StepAttribution:
    """Attribute the change in value of ``quantity`` options over one step.

    Parameters
    ----------
    spot, strike, t, vol, rate, div, is_call
        The option at the start of the step (as :func:`gammaext.greeks`; ``t`` years to
        expiry, ``vol`` its implied vol, decimal).
    spot_next, vol_next : array_like
        Spot and the option's implied vol at the end of the step.
    dt : array_like
        The step in years, ``0 <= dt <= t``; the option then has ``t - dt`` to expiry.
    quantity : array_like
        Options held (negative: short).

    Returns
    -------
    StepAttribution
        Arrays of the broadcast shape: ``delta`` (delta dS), ``gamma`` (gamma dS^2 / 2),
        ``theta`` (theta dt), ``vega`` (vega dvol), ``vanna`` (vanna dS dvol), ``volga``
        (volga dvol^2 / 2), the repriced ``total`` change and the ``residual``.
    """
    args = np.broadcast_arrays(
        *(
            np.asarray(a, dtype=np.float64)
            for a in (spot, strike, t, vol, spot_next, vol_next, dt, rate, div, quantity)
        )
    )
    S, K, T, v, S1, v1, h, r, q, n = args
    if np.any(h < 0.0) or np.any(h > T):
        raise ValueError("dt must be in [0, t]")
    g = greeks(
        S,
        K,
        T,
        v,
        r,
        q,
        is_call=is_call,
        which=("price", "delta", "gamma", "theta", "vega", "vanna", "vomma"),
    )
    dS = S1 - S
    dv = v1 - v
    end = price(S1, K, T - h, v1, r, q, is_call=is_call)
    parts = {
        "delta": n * g.delta * dS,
        "gamma": n * 0.5 * g.gamma * dS * dS,
        "theta": n * g.theta * h,
        "vega": n * g.vega * dv,
        "vanna": n * g.vanna * dS * dv,
        "volga": n * 0.5 * g.vomma * dv * dv,
    }
    total = n * (np.asarray(end) - np.asarray(g.price))
    explained = sum(parts.values())
    return StepAttribution(
        **{k: np.asarray(x) for k, x in parts.items()},
        total=np.asarray(total),
        residual=np.asarray(total - explained),
    )


def attribute_path(
    spot_paths: Any,
    vol_paths: Any,
    times: Any,
    strike: float,
    expiry: float,
    rate: float = 0.0,
    div: float = 0.0,
    *,
    is_call: bool = True,
    quantity: float = 1.0,
) -> StepAttribution:
    """:func:`attribute_step` over every step of every path, summed along each path.

    ``spot_paths`` and ``vol_paths`` are ``(n_paths, len(times))``: spot and the option's
    implied vol at each time (e.g. from :func:`gammaext.sticky_vols`); ``times`` in years, all
    before ``expiry``. Returns per-path sums (arrays of ``n_paths``). The option is held, not
    hedged: the delta term is what a delta hedge would offset. Works on whole paths, so it
    needs O(paths x steps) memory; the engine will accumulate the same terms per step.
    """
    S = np.asarray(spot_paths, dtype=np.float64)
    V = np.asarray(vol_paths, dtype=np.float64)
    t = np.asarray(times, dtype=np.float64)
    if S.ndim != 2 or S.shape != V.shape or S.shape[1] != t.size or t.size < 2:
        raise ValueError(
            f"spot_paths and vol_paths must both be (n_paths, {t.size}) with len(times) >= 2, "
            f"got {S.shape} and {V.shape}"
        )
    if np.any(np.diff(t) <= 0.0) or t[-1] >= expiry:
        raise ValueError("times must be strictly increasing and before expiry")
    dt = np.diff(t)
    step = attribute_step(
        S[:, :-1],
        strike,
        (expiry - t[:-1])[None, :],
        V[:, :-1],
        S[:, 1:],
        V[:, 1:],
        dt[None, :],
        rate,
        div,
        is_call=is_call,
        quantity=quantity,
    )
    return StepAttribution(
        **{
            f: np.asarray(getattr(step, f).sum(axis=1))
            for f in StepAttribution.__dataclass_fields__
        }
    )
