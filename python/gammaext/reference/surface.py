"""NumPy references for the surfaces and the implied-vol dynamics (gammaext.surface,
gammaext.vol_dynamics): loops over expiries written for clarity, the same documented
interpolation as the C++ header ``cpp/include/gammaext/surface.hpp``."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

__all__ = [
    "atm_vol_paths",
    "heston_expected_vol",
    "slice_total_variance",
    "total_variance",
]


def slice_total_variance(
    kind: str, params: FloatArray, k_grid: FloatArray, i: int, k: FloatArray
) -> FloatArray:
    """Total variance of expiry slice ``i`` at log-moneyness ``k``."""
    k = np.asarray(k, dtype=np.float64)
    if kind == "term":
        return np.full_like(k, params[i])
    if kind == "svi":
        a, b, rho, m, sigma = params[i]
        return np.asarray(a + b * (rho * (k - m) + np.sqrt((k - m) ** 2 + sigma**2)))
    # grid: np.interp is linear between nodes and holds the end values beyond them
    return np.asarray(np.interp(k, k_grid, params[i]))


def total_variance(
    kind: str, expiries: FloatArray, params: FloatArray, k_grid: FloatArray, k: Any, t: Any
) -> FloatArray:
    """w(k, t), broadcast: linear in total variance between expiries at fixed k, flat vol
    (w proportional to t) before the first expiry and after the last. NaN for t < 0 or NaN."""
    k, t = np.broadcast_arrays(np.asarray(k, dtype=float), np.asarray(t, dtype=float))
    out = np.full(k.shape, np.nan)
    if kind == "flat":
        ok = t >= 0
        out[ok] = params[0] ** 2 * t[ok]
        out[np.isnan(k)] = np.nan
        return out
    T = np.asarray(expiries)
    for idx in np.ndindex(k.shape):
        ki, ti = k[idx], t[idx]
        if not ti >= 0 or np.isnan(ki):
            continue
        ka = np.array([ki])
        if ti <= T[0]:
            out[idx] = slice_total_variance(kind, params, k_grid, 0, ka)[0] * ti / T[0]
        elif ti >= T[-1]:
            out[idx] = slice_total_variance(kind, params, k_grid, T.size - 1, ka)[0] * ti / T[-1]
        else:
            i = int(np.searchsorted(T, ti, side="right")) - 1
            w0 = slice_total_variance(kind, params, k_grid, i, ka)[0]
            w1 = slice_total_variance(kind, params, k_grid, i + 1, ka)[0]
            out[idx] = w0 + (ti - T[i]) / (T[i + 1] - T[i]) * (w1 - w0)
    return out


def heston_expected_vol(v: Any, tau: Any, kappa: float, theta: float) -> FloatArray:
    """sqrt(theta + (v - theta) (1 - exp(-kappa tau)) / (kappa tau)); sqrt(v) at kappa tau = 0."""
    v, tau = np.broadcast_arrays(np.asarray(v, dtype=float), np.asarray(tau, dtype=float))
    x = kappa * tau
    with np.errstate(divide="ignore", invalid="ignore"):
        frac = np.where(x == 0.0, 1.0, -np.expm1(-x) / np.where(x == 0.0, 1.0, x))
    return np.asarray(np.sqrt(np.maximum(theta + (v - theta) * frac, 0.0)))


def atm_vol_paths(
    times: FloatArray,
    z_price: FloatArray,
    z_perp: FloatArray,
    *,
    spot: float,
    drift: float,
    vol: float,
    atm0: float,
    level: float,
    kappa: float,
    xi: float,
    rho: float,
) -> tuple[FloatArray, FloatArray]:
    """GBM spot and OU log-ATM-vol paths from given normals (paths x steps): the exact
    transitions, z_vol = rho z_price + sqrt(1 - rho^2) z_perp."""
    n, N = z_price.shape
    S = np.empty((n, N + 1))
    A = np.empty((n, N + 1))
    lx = np.full(n, np.log(spot))
    y = np.full(n, np.log(atm0))
    S[:, 0], A[:, 0] = spot, atm0
    m = np.log(level)
    for k in range(N):
        dt = times[k + 1] - times[k]
        lx = lx + (drift - 0.5 * vol * vol) * dt + vol * np.sqrt(dt) * z_price[:, k]
        if kappa == 0.0:
            decay, sd = 1.0, xi * np.sqrt(dt)
        else:
            decay = np.exp(-kappa * dt)
            sd = xi * np.sqrt((1.0 - np.exp(-2.0 * kappa * dt)) / (2.0 * kappa))
        zy = rho * z_price[:, k] + np.sqrt(max(0.0, 1.0 - rho * rho)) * z_perp[:, k]
        y = m + (y - m) * decay + sd * zy
        S[:, k + 1] = np.exp(lx)
        A[:, k + 1] = np.exp(y)
    return S, A
