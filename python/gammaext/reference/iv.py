"""Reference implied volatility (NumPy): safeguarded Newton-bisection on the price, in vol.

Slow but obviously correct: every element keeps a bracket ``[lo, hi]`` with
``price(lo) <= target <= price(hi)`` (the Black-Scholes-Merton price increases with vol), takes
the Newton step for ``ln price(vol) = ln target``, ``vol - ln(price/target) price / vega``, when
it lands inside the bracket and the midpoint otherwise, and stops when the bracket or the price
residual is at rounding level. The price is the textbook formula with the reference normal CDF
(Haug, *The Complete Guide to Option Pricing Formulas*, 2nd ed., 1.1.6), so deep out of the
money, where ``S N(d1) - K N(d2)`` cancels, this reference is only as accurate as that formula.
Statuses follow :class:`gammaext.IVStatus` with the same rules as the C++ kernel.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._arrays import FloatArray
from .black_scholes import norm_cdf, norm_pdf

__all__ = ["bs_price_vega", "implied_vol"]

_EPS = np.finfo(np.float64).eps
_VOL_CAP = 2.0**12  # the bracket grows by doubling up to this vol (409600%)
_MAX_ITER = 200
_IMPRECISE = 1e-8  # IVStatus.imprecise beyond this attainable relative accuracy


def bs_price_vega(
    spot: FloatArray,
    strike: FloatArray,
    t: FloatArray,
    vol: FloatArray,
    rate: FloatArray,
    div: FloatArray,
    phi: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Black-Scholes-Merton price, vega (per 1.00 vol) and the size of the two terms whose
    difference is the price (its rounding scale), for vol > 0, t > 0; phi = +1 / -1."""
    sig_t = vol * np.sqrt(t)
    d1 = (np.log(spot / strike) + (rate - div) * t) / sig_t + 0.5 * sig_t
    d2 = d1 - sig_t
    dq = np.exp(-div * t)
    dr = np.exp(-rate * t)
    term1 = spot * dq * norm_cdf(phi * d1)
    term2 = strike * dr * norm_cdf(phi * d2)
    vega = spot * dq * norm_pdf(d1) * np.sqrt(t)
    return phi * (term1 - term2), vega, term1 + term2


def implied_vol(
    price: Any,
    spot: Any,
    strike: Any,
    t: Any,
    rate: Any = 0.0,
    div: Any = 0.0,
    *,
    is_call: Any = True,
    return_status: bool = False,
) -> Any:
    """Implied volatility by bracketed Newton-bisection; NaN (and a status) where none exists.

    Returns an array of the broadcast shape, or ``(vol, status)`` with ``return_status``.
    """
    P, S, K, T, r, q = (
        np.array(a, dtype=np.float64)
        for a in np.broadcast_arrays(
            *(np.asarray(a, dtype=np.float64) for a in (price, spot, strike, t, rate, div)),
            subok=False,
        )
    )
    phi = np.where(np.broadcast_to(np.asarray(is_call, dtype=bool), P.shape), 1.0, -1.0)
    shape = P.shape
    P, S, K, T, r, q, phi = (a.ravel() for a in (P, S, K, T, r, q, phi))

    with np.errstate(all="ignore"):
        finite = np.isfinite(P) & np.isfinite(S) & np.isfinite(K) & np.isfinite(T)
        finite &= np.isfinite(r) & np.isfinite(q)
        invalid = ~finite | ~(S > 0) | ~(K > 0) | ~(T > 0)
        dq, dr = np.exp(-q * T), np.exp(-r * T)
        max_p = np.where(phi > 0, S * dq, K * dr)
        # The time value in normalised form, as in the kernel: the price over D sqrt(F K), less
        # the normalised intrinsic value 2 sinh(|x|/2) in the money (x = ln(F/K)); within 4 ulps
        # of the normalised price it is rounding (at_intrinsic), below that, below_intrinsic.
        x = np.log(S / K) + (r - q) * T
        pn = P / (np.sqrt(S * dq) * np.sqrt(K * dr))
        beta = pn - np.where(phi * x > 0, 2.0 * np.sinh(0.5 * np.abs(x)), 0.0)
        tol = 4.0 * _EPS * pn

        status = np.zeros(P.shape, dtype=np.int8)
        status[(beta >= np.exp(-0.5 * np.abs(x))) | (P >= max_p)] = 2
        status[beta <= tol] = 3
        status[(beta < -tol) | (P < 0)] = 1
        status[invalid] = 4

        vol = np.full(P.shape, np.nan)
        vol[status == 3] = 0.0
        idx = np.flatnonzero(status == 0)
        s_, k_, t_, r_, q_, phi_ = (a[idx] for a in (S, K, T, r, q, phi))
        target = P[idx]
        lo = np.zeros(idx.size)
        hi = np.ones(idx.size)
        # Grow the upper end of the bracket until it prices above the target.
        for _ in range(12):
            p_hi, _v, _s = bs_price_vega(s_, k_, t_, hi, r_, q_, phi_)
            low = p_hi < target
            if not low.any():
                break
            hi = np.where(low, 2.0 * hi, hi)
        p_hi, _v, _s = bs_price_vega(s_, k_, t_, hi, r_, q_, phi_)
        unbracketed = p_hi < target  # only for prices within rounding of the maximum
        # Start at the inflection point sqrt(2 |ln(F/K)| / t) (Manaster and Koehler, 1982).
        x = np.log(s_ / k_) + (r_ - q_) * t_
        v = np.clip(np.sqrt(2.0 * np.abs(x) / t_), 0.01, 0.5 * hi)
        done = np.zeros(idx.size, dtype=bool)
        v_prev = np.full(idx.size, np.nan)
        for _ in range(_MAX_ITER):
            p_v, vega, scale = bs_price_vega(s_, k_, t_, v, r_, q_, phi_)
            f = p_v - target
            lo = np.where(f < 0, v, lo)
            hi = np.where(f > 0, v, hi)
            # Newton on ln(price) (the same root; well scaled for tiny prices too).
            newton = v - np.log(p_v / target) * p_v / vega
            inside = (newton >= lo) & (newton <= hi)
            v_new = np.where(inside, newton, 0.5 * (lo + hi))
            # A price matched to its rounding (a few ulps of the larger term) keeps this vol.
            hit = np.abs(f) <= 4.0 * _EPS * scale
            v_new = np.where(hit, v, v_new)
            converged = hit | (np.abs(v_new - v) <= 4.0 * _EPS * v)
            # The textbook price is itself noisy at a few ulps, so Newton can flip between two
            # neighbouring vols: a bracket that narrow is converged too.
            converged |= hi - lo <= 64.0 * _EPS * v
            # ... or cycle between two neighbouring vols (Newton at the noise level).
            converged |= v_new == v_prev
            v_prev = v
            v = np.where(done, v, v_new)
            done |= converged
            if done.all():
                break
        res = np.where(done & ~unbracketed, v, np.nan)
        vol[idx] = res
        status[idx[~(done & ~unbracketed)]] = 5
        # A vol the price determines only to worse than 1e-8 (eps price / (vol vega)).
        _p, vega, _s = bs_price_vega(s_, k_, t_, v, r_, q_, phi_)
        loose = done & ~unbracketed & (_EPS * target > _IMPRECISE * v * vega)
        status[idx[loose]] = 6

    if return_status:
        return vol.reshape(shape), status.reshape(shape)
    return vol.reshape(shape)
