"""Reference Black-Scholes-Merton prices and Greeks (NumPy).

The tests compare the C++ core against these and the benchmarks measure speed against them.
They follow the textbook formulas line by line (Haug, *The Complete Guide to Option Pricing
Formulas*, 2nd ed., ch. 2; Wikipedia "Greeks (finance)") with the conventions of
:mod:`gammaext.greeks`, and favour clarity over speed. The normal CDF is SciPy's ``ndtr`` when
SciPy is installed, else the standard library's ``math.erfc`` element by element.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._arrays import FloatArray

__all__ = ["greeks", "norm_cdf", "norm_pdf", "price"]

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def norm_cdf(x: Any) -> FloatArray:
    """Standard normal CDF, full precision in both tails."""
    try:
        from scipy.special import ndtr
    except ImportError:  # pragma: no cover - SciPy is a test dependency
        erfc = np.vectorize(math.erfc, otypes=[np.float64])
        return np.asarray(0.5 * erfc(-np.asarray(x, dtype=np.float64) / _SQRT2))
    return np.asarray(ndtr(np.asarray(x, dtype=np.float64)))


def norm_pdf(x: Any) -> FloatArray:
    x = np.asarray(x, dtype=np.float64)
    return np.asarray(_INV_SQRT_2PI * np.exp(-0.5 * x * x))


def greeks(
    spot: Any,
    strike: Any,
    t: Any,
    vol: Any,
    rate: Any = 0.0,
    div: Any = 0.0,
    *,
    is_call: Any = True,
) -> dict[str, FloatArray]:
    """All Greeks of :data:`gammaext.GREEKS` as a dict of broadcast arrays.

    Invalid inputs give NaN (the reference never raises); degenerate ``vol * sqrt(t) == 0``
    follows the point-mass conventions of :mod:`gammaext.greeks`.
    """
    S, K, T, v, r, q = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.float64) for a in (spot, strike, t, vol, rate, div))
    )
    phi = np.where(np.broadcast_to(np.asarray(is_call, dtype=bool), S.shape), 1.0, -1.0)
    invalid = (
        (S <= 0) | (K <= 0) | (T < 0) | (v < 0)
        | np.isinf(S) | np.isinf(K) | np.isinf(T) | np.isinf(v) | np.isinf(r) | np.isinf(q)
    )

    with np.errstate(all="ignore"):
        sqrt_t = np.sqrt(T)
        sig_t = v * sqrt_t
        degenerate = ~(sig_t > 0)
        log_fk = np.log(S / K) + (r - q) * T
        d1 = np.where(degenerate, 0.0, log_fk / sig_t + 0.5 * sig_t)
        d2 = d1 - sig_t
        # Point mass: N(phi d) becomes the step H(phi ln(F/K)) with H(0) = 1/2.
        step = np.where(log_fk > 0, 1.0, np.where(log_fk < 0, 0.0, 0.5))
        step = np.where(phi > 0, step, 1.0 - step)
        N1 = np.where(degenerate, step, norm_cdf(phi * d1))
        N2 = np.where(degenerate, step, norm_cdf(phi * d2))
        n1 = np.where(degenerate, 0.0, norm_pdf(d1))
        dq = np.exp(-q * T)
        dr = np.exp(-r * T)

        def density(expr: FloatArray) -> FloatArray:
            """n(d1) * expr, taken as 0 where the density is 0 (point mass or underflow)."""
            return np.where(n1 == 0, 0.0, n1 * expr)

        gamma = density(dq / (S * sig_t))
        vega = n1 * S * dq * sqrt_t
        out = {
            "price": phi * (S * dq * N1 - K * dr * N2),
            "delta": phi * dq * N1,
            "gamma": gamma,
            "theta": (
                -density(S * dq * v / (2 * sqrt_t))
                - phi * r * K * dr * N2
                + phi * q * S * dq * N1
            ),
            "vega": vega,
            "rho": phi * K * T * dr * N2,
            "epsilon": -phi * S * T * dq * N1,
            "vanna": -density(dq * d2 / v),
            "charm": phi * q * dq * N1
            - density(dq * (2 * (r - q) * T - d2 * sig_t) / (2 * T * sig_t)),
            "vomma": density(S * dq * sqrt_t * d1 * d2 / v),
            # Veta = d(vega)/dt in calendar time (texts often print d(vega)/dT).
            "veta": density(
                S * dq * sqrt_t * (q + (r - q) * d1 / sig_t - (1 + d1 * d2) / (2 * T))
            ),
            "speed": -density(dq / (S * sig_t) / S * (d1 / sig_t + 1)),
            "zomma": density(dq / (S * sig_t) * (d1 * d2 - 1) / v),
            # Color = d(gamma)/dt in calendar time (texts often print d(gamma)/dT).
            "color": density(
                dq / (2 * S * T * sig_t)
                * (2 * q * T + 1 + (2 * (r - q) * T - d2 * sig_t) / sig_t * d1)
            ),
            "ultima": -density(
                S * dq * sqrt_t / v**2 * (d1 * d2 * (1 - d1 * d2) + d1**2 + d2**2)
            ),
            "dual_delta": -phi * dr * N2,
            # Written with n(d2) rather than n(d1) so that the kernel's form is cross-checked.
            "dual_gamma": np.where(n1 == 0, 0.0, dr * norm_pdf(d2) / (K * sig_t)),
        }
        nan_in = np.isnan(S + K + T + v + r + q)
    bad = invalid | nan_in
    return {k: np.where(bad, np.nan, val) for k, val in out.items()}


def price(
    spot: Any,
    strike: Any,
    t: Any,
    vol: Any,
    rate: Any = 0.0,
    div: Any = 0.0,
    *,
    is_call: Any = True,
) -> FloatArray:
    """The Black-Scholes-Merton price alone (see :func:`greeks`)."""
    return greeks(spot, strike, t, vol, rate, div, is_call=is_call)["price"]
