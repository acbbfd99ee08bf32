"""How implied vol moves along a path: sticky strike, sticky moneyness, a stochastic ATM level
and, under Heston, implied vol tied to the model's variance.

Standalone kernels for now (docs/surfaces.md): they take or make whole paths. The hedging
engine will call the same C++ pieces (``cpp/include/gammaext/surface.hpp``) per step.

Units: times in years, vols as decimals (0.2 = 20%), rates continuous per year; the OU
parameters are annual: ``kappa`` per year (a half-life of ln 2 / kappa years), ``xi`` the vol
of log vol per sqrt(year).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from . import _arrays, _core
from ._checks import _count, _path_range, _seed
from .surface import VolSurface

__all__ = [
    "StochasticAtmVol",
    "heston_implied_vol",
    "realized_vol",
    "sticky_vols",
]

FloatArray = npt.NDArray[np.float64]
Sticky = Literal["strike", "moneyness"]


def _real(
    name: str,
    value: Any,
    *,
    lo: float | None = None,
    lo_open: bool = False,
    hi: float | None = None,
) -> float:
    if isinstance(value, (str, bytes, bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        x = float(value)
    except TypeError:  # None, a list...: name the argument (found by fuzzing)
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x}")
    if lo is not None and (x < lo or (lo_open and x == lo)):
        raise ValueError(f"{name} must be {'>' if lo_open else '>='} {lo}, got {x}")
    if hi is not None and x > hi:
        raise ValueError(f"{name} must be <= {hi}, got {x}")
    return x


def _times(times: Any) -> FloatArray:
    t = np.array(times, dtype=np.float64, copy=True)
    if t.ndim != 1 or t.size < 1:
        raise ValueError(f"times must be 1-D with at least one time, got shape {t.shape}")
    if not np.all(np.isfinite(t)):
        raise ValueError("times has NaN or infinite values")
    if np.any(np.diff(t) <= 0.0):
        raise ValueError("times must be strictly increasing")
    return t


@dataclass(frozen=True)
class StochasticAtmVol:
    """Log ATM implied vol as an Ornstein-Uhlenbeck process correlated with spot returns:

    ``d ln(atm) = kappa (ln(level) - ln(atm)) dt + xi dW``,  ``d<W, W_S> = rho dt``.

    ``atm0`` is the ATM vol now and ``level`` its long-run level (decimals; ``level`` is the
    median of the stationary law, whose log has variance ``xi**2 / (2 kappa)``). ``kappa`` is
    the mean-reversion speed per year (0: a driftless random walk in log vol), ``xi`` the vol
    of log vol per sqrt(year) and ``rho`` the correlation of its shocks with the spot's
    log-returns (equities: about -0.7). The path of vol multiplies a surface: the leg's vol is
    ``surface vol x atm(t) / atm0`` (:func:`sticky_vols` with ``level=``).
    """

    atm0: float
    level: float
    kappa: float
    xi: float
    rho: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "atm0", _real("atm0", self.atm0, lo=0.0, lo_open=True))
        object.__setattr__(self, "level", _real("level", self.level, lo=0.0, lo_open=True))
        object.__setattr__(self, "kappa", _real("kappa", self.kappa, lo=0.0))
        object.__setattr__(self, "xi", _real("xi", self.xi, lo=0.0))
        object.__setattr__(self, "rho", _real("rho", self.rho, lo=-1.0, hi=1.0))

    def log_mean(self, t: Any) -> Any:
        """E[ln atm(t)] = ln level + (ln atm0 - ln level) e^{-kappa t}."""
        t = np.asarray(t, dtype=np.float64)
        m = math.log(self.level)
        return m + (math.log(self.atm0) - m) * np.exp(-self.kappa * t)

    def log_var(self, t: Any) -> Any:
        """Var[ln atm(t)] = xi^2 (1 - e^{-2 kappa t}) / (2 kappa) (xi^2 t at kappa = 0)."""
        t = np.asarray(t, dtype=np.float64)
        if self.kappa == 0.0:
            return self.xi**2 * t
        return self.xi**2 * -np.expm1(-2.0 * self.kappa * t) / (2.0 * self.kappa)

    def paths(
        self,
        n_paths: int,
        times: Any,
        *,
        spot: float = 100.0,
        vol: float = 0.2,
        drift: float = 0.0,
        seed: int = 0,
        first_path: int = 0,
        threads: int | None = None,
    ) -> tuple[FloatArray, FloatArray]:
        """GBM spot paths (``vol``, ``drift`` per year) and this ATM vol along them, generated
        together in C++: two arrays ``(n_paths, len(times))``.

        Both transitions are exact for any step. The spot's normals are the ``price`` stream
        of the hedging engine's generator (so the spot paths are the engine's GBM paths for
        the same ``seed``), the vol's independent part the ``atm_vol`` stream; row ``i`` is
        path ``first_path + i``, a pure function of ``(seed, path)``: the same at any thread
        count and in any chunking.
        """
        t = _times(times)
        n = _count("n_paths", n_paths, 0)
        first = _count("first_path", first_path, 0)
        _path_range(first, n)
        s = _seed(seed)
        out = _core._atm_vol_paths(
            s,
            first,
            n,
            t,
            _real("spot", spot, lo=0.0, lo_open=True),
            _real("drift", drift),
            _real("vol", vol, lo=0.0),
            self.atm0,
            self.level,
            self.kappa,
            self.xi,
            self.rho,
            _arrays.threads_arg(threads),
            _arrays.ISA,
        )
        return np.asarray(out[0]), np.asarray(out[1])


def sticky_vols(
    surface: VolSurface,
    spot_paths: Any,
    times: Any,
    strike: float,
    expiry: float,
    *,
    sticky: Sticky = "strike",
    level: Any = None,
    spot0: float | None = None,
) -> FloatArray:
    """The implied vol of one option along spot paths, ``(n_paths, len(times))``.

    The surface is a function of log-moneyness and *time to expiry* ``tau = expiry - t``, so
    both rules roll down the term structure as time passes; they differ in what stays put when
    spot moves:

    * ``"strike"`` (sticky strike): a strike keeps its vol, ``vol(ln(K / F0(tau)), tau)``
      with the initial forward ``F0(tau) = spot0 e^{(rate - div) tau}``;
    * ``"moneyness"`` (sticky moneyness, a.k.a. sticky delta): the smile moves with spot,
      ``vol(ln(K / F_t(tau)), tau)``, ``F_t(tau) = S_t e^{(rate - div) tau}``.

    ``rate`` and ``div`` are the surface's. ``spot0`` defaults to the surface's spot, else the
    paths' first column. ``level`` (optional, broadcast to the paths' shape) multiplies the
    vols, e.g. ``atm / atm0`` from :class:`StochasticAtmVol`. After expiry the vol is NaN; at
    expiry, the t -> 0 limit of the surface.
    """
    S = np.asarray(spot_paths, dtype=np.float64)
    t = _times(times)
    if S.ndim != 2 or S.shape[1] != t.size:
        raise ValueError(f"spot_paths must be (n_paths, {t.size}), got shape {S.shape}")
    K = _real("strike", strike, lo=0.0, lo_open=True)
    T = _real("expiry", expiry, lo=0.0, lo_open=True)
    if sticky not in ("strike", "moneyness"):
        raise ValueError(f"sticky must be 'strike' or 'moneyness', got {sticky!r}")
    tau = T - t
    g = surface.rate - surface.div
    if sticky == "strike":
        s0 = spot0 if spot0 is not None else surface.spot
        if s0 is None:
            s0_arr = S[:, :1]
        else:
            s0_arr = np.full((1, 1), _real("spot0", s0, lo=0.0, lo_open=True))
        k = np.log(K / s0_arr) - g * tau[None, :]
        k = np.broadcast_to(k, S.shape)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.log(K / S) - g * tau[None, :]
    tt = np.broadcast_to(np.where(tau >= 0.0, tau, np.nan)[None, :], S.shape)
    out = np.asarray(surface.vol(np.ascontiguousarray(k), np.ascontiguousarray(tt)))
    if level is not None:
        out = out * np.broadcast_to(np.asarray(level, dtype=np.float64), S.shape)
    return out


def heston_implied_vol(v: Any, tau: Any, kappa: float, theta: float) -> Any:
    """Implied vol tied to Heston's variance: the square root of the expected average variance
    over the remaining life ``tau`` (years) given the variance ``v`` now,

    ``sqrt(theta + (v - theta) (1 - e^{-kappa tau}) / (kappa tau))``

    (from E[v_s] = theta + (v - theta) e^{-kappa s}; Heston, Rev. Financ. Stud. 6 (1993)).
    ``v`` and ``theta`` are variances per year (vol**2), ``kappa`` per year. It is the ATM
    implied vol to zeroth order in the vol of variance (first order when the spot-variance
    correlation is 0: the gap grows like xi**2 then, like xi otherwise; no smile).
    Broadcast; NaN in, NaN out;
    ``sqrt(v)`` at tau = 0.
    """
    k = _real("kappa", kappa, lo=0.0)
    th = _real("theta", theta, lo=0.0)
    va, ta = np.broadcast_arrays(_arrays.as_float("v", v), _arrays.as_float("tau", tau))
    if np.any(va < 0.0) or np.any(ta < 0.0):
        raise ValueError("v and tau must be >= 0")
    out = _core._heston_expected_vol(
        np.ascontiguousarray(va).ravel(), np.ascontiguousarray(ta).ravel(), k, th
    )
    res = np.asarray(out).reshape(va.shape)
    return float(res) if res.ndim == 0 else res


def realized_vol(spot_paths: Any, times: Any) -> FloatArray:
    """Realized vol so far along each path: ``sqrt(sum of squared log-returns / elapsed)``
    at every time, ``(n_paths, len(times))``, annualised (decimal); NaN at the first time.
    One of the hedge vols of issue #14 (the others: the leg's current implied vol, a fixed
    vol). Log-returns are not demeaned (a drift of mu adds mu^2 dt per step, negligible at
    hedging frequencies)."""
    S = np.asarray(spot_paths, dtype=np.float64)
    t = _times(times)
    if S.ndim != 2 or S.shape[1] != t.size:
        raise ValueError(f"spot_paths must be (n_paths, {t.size}), got shape {S.shape}")
    r2 = np.diff(np.log(S), axis=1) ** 2
    out = np.full(S.shape, np.nan)
    out[:, 1:] = np.sqrt(np.cumsum(r2, axis=1) / (t[1:] - t[0]))
    return out
