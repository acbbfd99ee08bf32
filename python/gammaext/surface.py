"""Implied-volatility surfaces: flat, term structure, raw SVI per expiry, or a user grid.

A surface gives the total implied variance ``w(k, t) = vol(k, t)**2 * t`` at forward
log-moneyness ``k = ln(strike / F(t))`` and time to expiry ``t`` (years); vols are decimals
(0.2 = 20%). The evaluation runs in C++ (``cpp/include/gammaext/surface.hpp``, the header the
hedging loop will use). Interpolation, the same for every kind (docs/surfaces.md):

* across expiries, at fixed ``k``: linear in total variance between two expiries; before the
  first expiry and after the last, the vol of the nearest expiry at that ``k`` (flat-vol
  extrapolation: ``w = w_first(k) t / t_first``);
* along ``k`` (grid surfaces): linear in total variance between nodes, the end node's total
  variance beyond the grid (flat vol in the wings).

Arbitrage checks (:meth:`VolSurface.arbitrage`) report, and raise only when asked
(``check="raise"``): butterfly arbitrage per expiry (Gatheral's density condition g(k) >= 0 for
SVI; convexity of call prices in strike on the grid's nodes) and calendar arbitrage (total
variance decreasing in t at a fixed k).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from . import _arrays, _core
from .greeks import norm_cdf

__all__ = [
    "SVI",
    "ArbitrageError",
    "ArbitrageReport",
    "ArbitrageViolation",
    "VolSurface",
    "svi_density",
]

FloatArray = npt.NDArray[np.float64]
Check = Literal["none", "warn", "raise"]

_KIND = {name: i for i, name in enumerate(_core._surface_kind_names())}
if set(_KIND) != {"flat", "term", "svi", "grid"}:  # pragma: no cover - a mismatched build
    raise ImportError(f"the C++ core's surface kinds {list(_KIND)} differ from gammaext's")

#: Default log-moneyness grid of the SVI and calendar checks: k = ln(K/F) in [-2, 2] (strikes
#: from 0.14 F to 7.4 F), 801 points.
DEFAULT_CHECK_K = np.linspace(-2.0, 2.0, 801)
#: Slack of the checks: a total-variance decrease or a density below -tol is reported. Round-off
#: of w and g is ~1e-16 relative; 1e-10 keeps equal slices (zero calendar spread) clean.
_TOL = 1e-10


def _float(name: str, value: Any) -> float:
    if isinstance(value, (str, bytes, bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x}")
    return x


def _array(name: str, value: Any, ndim: int) -> FloatArray:
    """A finite float64 copy (the caller's array is never kept or modified)."""
    a = np.array(value, dtype=np.float64, copy=True)
    if a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} has NaN or infinite values")
    a.setflags(write=False)
    return a


def _expiries(value: Any) -> FloatArray:
    t = _array("expiries", value, 1)
    if t.size == 0:
        raise ValueError("expiries is empty")
    if t[0] <= 0.0:
        raise ValueError(f"expiries must be > 0 (years), got {t[0]}")
    if np.any(np.diff(t) <= 0.0):
        i = int(np.argmax(np.diff(t) <= 0.0))
        raise ValueError(
            f"expiries must be strictly increasing: expiries[{i}] = {t[i]}, "
            f"expiries[{i + 1}] = {t[i + 1]}"
        )
    return t


@dataclass(frozen=True)
class SVI:
    """One raw SVI slice (Gatheral 2004): total variance at log-moneyness ``k``

    ``w(k) = a + b (rho (k - m) + sqrt((k - m)**2 + sigma**2))``

    ``a`` is in total-variance units (vol**2 * years), ``b >= 0`` the wings' slope,
    ``-1 < rho < 1`` their asymmetry, ``m`` the shift in k and ``sigma > 0`` the curvature at
    the vertex. Its minimum ``a + b sigma sqrt(1 - rho**2)`` must be >= 0.
    """

    a: float
    b: float
    rho: float
    m: float
    sigma: float

    def __post_init__(self) -> None:
        for name in ("a", "b", "rho", "m", "sigma"):
            object.__setattr__(self, name, _float(name, getattr(self, name)))
        if self.b < 0.0:
            raise ValueError(f"SVI b must be >= 0, got {self.b}")
        if not -1.0 < self.rho < 1.0:
            raise ValueError(f"SVI rho must be in (-1, 1), got {self.rho}")
        if self.sigma <= 0.0:
            raise ValueError(f"SVI sigma must be > 0, got {self.sigma}")
        if self.min_total_variance < 0.0:
            raise ValueError(
                "SVI slice has negative total variance: min w = a + b sigma sqrt(1 - rho^2) = "
                f"{self.min_total_variance:.6g} < 0"
            )

    @property
    def min_total_variance(self) -> float:
        """``a + b sigma sqrt(1 - rho**2)``, the minimum of w over k."""
        return self.a + self.b * self.sigma * math.sqrt(1.0 - self.rho * self.rho)

    def as_array(self) -> FloatArray:
        return np.array([self.a, self.b, self.rho, self.m, self.sigma])

    def total_variance(self, k: Any) -> Any:
        """w(k) (NumPy, broadcast)."""
        x = np.asarray(k, dtype=np.float64) - self.m
        return self.a + self.b * (self.rho * x + np.sqrt(x * x + self.sigma**2))

    def density(self, k: Any) -> Any:
        """Gatheral's g(k) (see :func:`svi_density`); butterfly arbitrage where g < 0."""
        return svi_density(self, k)


def svi_density(s: SVI, k: Any) -> Any:
    """Gatheral and Jacquier's g(k) for a raw SVI slice.

    ``g(k) = (1 - k w'/(2w))**2 - (w'**2 / 4) (1/w + 1/4) + w''/2`` (J. Gatheral and
    A. Jacquier, "Arbitrage-free SVI volatility surfaces", Quant. Finance 14 (2014) 59-71,
    Lemma 2.2): the risk-neutral density of ln(S_T/F) is ``g(k) / sqrt(2 pi w)
    exp(-d_2(k)**2 / 2)``, so a slice is free of butterfly arbitrage iff g >= 0 everywhere
    (and ``d_1`` tends to -inf as k tends to +inf).
    """
    k = np.asarray(k, dtype=np.float64)
    x = k - s.m
    r = np.sqrt(x * x + s.sigma**2)
    w = s.a + s.b * (s.rho * x + r)
    w1 = s.b * (s.rho + x / r)
    w2 = s.b * s.sigma**2 / r**3
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return (1.0 - k * w1 / (2.0 * w)) ** 2 - w1 * w1 / 4.0 * (1.0 / w + 0.25) + w2 / 2.0


@dataclass(frozen=True)
class ArbitrageViolation:
    """The worst point of one arbitrage found: ``kind`` "butterfly" (at expiry ``t``) or
    "calendar" (between expiries ``t`` and ``t_next``), at log-moneyness ``k``. ``value`` is
    negative: g(k) (SVI), the fall in the slope of call prices across a node (grid, in units of
    the forward), or the fall in total variance w(k, t_next) - w(k, t) (calendar)."""

    kind: str
    t: float
    k: float
    value: float
    t_next: float = math.nan

    def __str__(self) -> str:
        if self.kind == "calendar":
            return (
                f"calendar arbitrage between t = {self.t:.6g} and {self.t_next:.6g}: total "
                f"variance falls by {-self.value:.3g} at k = {self.k:.4g}"
            )
        return f"butterfly arbitrage at t = {self.t:.6g}: {self.value:.3g} at k = {self.k:.4g}"


@dataclass(frozen=True)
class ArbitrageReport:
    """What :meth:`VolSurface.arbitrage` found: one violation (the worst point) per offending
    expiry or pair of expiries. ``ok`` is True when there is none."""

    butterfly: tuple[ArbitrageViolation, ...]
    calendar: tuple[ArbitrageViolation, ...]
    method: str

    @property
    def ok(self) -> bool:
        return not self.butterfly and not self.calendar

    def __str__(self) -> str:
        if self.ok:
            return f"no arbitrage found ({self.method})"
        lines = [str(v) for v in (*self.butterfly, *self.calendar)]
        return f"arbitrage found ({self.method}):\n  " + "\n  ".join(lines)


class ArbitrageError(ValueError):
    """A surface built with ``check="raise"`` has butterfly or calendar arbitrage."""

    def __init__(self, report: ArbitrageReport) -> None:
        super().__init__(str(report))
        self.report = report

    def __reduce__(self) -> tuple[type[ArbitrageError], tuple[ArbitrageReport]]:
        # pickled with its report, not its message (a Dask worker's error reaches the client
        # with .report intact)
        return type(self), (self.report,)


def _call_prices(k: FloatArray, w: FloatArray) -> FloatArray:
    """Undiscounted Black calls per unit forward, c = N(d1) - e^k N(d2), w = total variance;
    the intrinsic value max(1 - e^k, 0) where w = 0."""
    sw = np.sqrt(w)
    safe = np.where(sw > 0.0, sw, 1.0)
    d1 = -k / safe + safe / 2.0
    c = np.asarray(norm_cdf(d1) - np.exp(k) * norm_cdf(d1 - safe))
    return np.where(sw > 0.0, c, np.maximum(1.0 - np.exp(k), 0.0))


class VolSurface:
    """An implied-volatility surface (build it with :meth:`flat`, :meth:`term_structure`,
    :meth:`svi` or :meth:`grid`).

    ``spot``, ``rate`` and ``div`` (optional) give the forward ``F(t) = spot exp((rate - div)
    t)`` used to turn strikes into log-moneyness; without ``spot`` only ``k`` is accepted.
    """

    def __init__(
        self,
        kind: str,
        expiries: Any,
        params: Any,
        k_grid: Any = (),
        *,
        spot: float | None = None,
        rate: float = 0.0,
        div: float = 0.0,
        check: Check = "none",
    ) -> None:
        if kind not in _KIND:
            raise ValueError(f"kind must be one of {sorted(_KIND)}, got {kind!r}")
        self.kind = kind
        self.expiries = _expiries(expiries) if kind != "flat" else _array("expiries", (), 1)
        self.k_grid = _array("k", k_grid, 1)
        self.params = _array("params", params, 2 if kind in ("svi", "grid") else 1)
        self.spot = None if spot is None else _float("spot", spot)
        if self.spot is not None and self.spot <= 0.0:
            raise ValueError(f"spot must be > 0, got {self.spot}")
        self.rate = _float("rate", rate)
        self.div = _float("div", div)
        self._validate()
        if check not in ("none", "warn", "raise"):
            raise ValueError(f"check must be 'none', 'warn' or 'raise', got {check!r}")
        if check != "none":
            report = self.arbitrage()
            if not report.ok:
                if check == "raise":
                    raise ArbitrageError(report)
                warnings.warn(str(report), UserWarning, stacklevel=3)

    # -- constructors ------------------------------------------------------------------------

    @classmethod
    def flat(cls, vol: float, **kw: Any) -> VolSurface:
        """The same vol (decimal, annual) for every strike and expiry."""
        return cls("flat", (), [_float("vol", vol)], **kw)

    @classmethod
    def term_structure(
        cls, expiries: Any, vols: Any = None, *, total_variance: Any = None, **kw: Any
    ) -> VolSurface:
        """ATM vols (or total variances vol**2 t) by expiry, the same for every strike: linear
        in total variance between expiries, flat vol before the first and after the last."""
        t = _expiries(expiries)
        w = _slice_w(t, vols, total_variance)
        return cls("term", t, w, **kw)

    @classmethod
    def svi(cls, expiries: Any, slices: Sequence[SVI] | Any, **kw: Any) -> VolSurface:
        """Raw SVI per expiry: ``slices`` is a sequence of :class:`SVI` or an ``(n, 5)`` array of
        (a, b, rho, m, sigma); linear in total variance across expiries at fixed k."""
        rows = [s if isinstance(s, SVI) else SVI(*np.asarray(s, dtype=float)) for s in slices]
        p = np.array([s.as_array() for s in rows]).reshape(-1, 5)
        return cls("svi", expiries, p, **kw)

    @classmethod
    def grid(
        cls, k: Any, expiries: Any, vols: Any = None, *, total_variance: Any = None, **kw: Any
    ) -> VolSurface:
        """A grid of vols (or total variances) over log-moneyness ``k`` (columns) and
        ``expiries`` (rows), shape ``(len(expiries), len(k))``: linear in total variance along
        k and across expiries; beyond the grid, flat vol (constant w in k, w/t in t)."""
        t = _expiries(expiries)
        kk = _array("k", k, 1)
        if kk.size == 0 or np.any(np.diff(kk) <= 0.0):
            raise ValueError("k must be non-empty and strictly increasing")
        shape = (t.size, kk.size)
        w = _slice_w(t, vols, total_variance, shape)
        return cls("grid", t, w, kk, **kw)

    def _validate(self) -> None:
        p, t, kk = self.params, self.expiries, self.k_grid
        if self.kind == "flat":
            if p.shape != (1,) or p[0] < 0.0:
                raise ValueError(f"a flat surface needs one vol >= 0, got {p}")
        elif self.kind == "term":
            if p.shape != t.shape:
                raise ValueError(f"total variance has shape {p.shape}; expected {t.shape}")
        elif self.kind == "svi":
            if p.shape != (t.size, 5):
                raise ValueError(f"SVI params have shape {p.shape}; expected ({t.size}, 5)")
            for row in p:
                SVI(*row)  # raises on a bad slice
        elif p.shape != (t.size, kk.size):
            raise ValueError(f"grid has shape {p.shape}; expected ({t.size}, {kk.size})")
        if self.kind in ("term", "grid") and np.any(p < 0.0):
            i = np.unravel_index(int(np.argmin(p)), p.shape)
            raise ValueError(f"negative total variance {p[i]:.6g} at index {tuple(map(int, i))}")

    # -- evaluation --------------------------------------------------------------------------

    def forward(self, t: Any) -> Any:
        """F(t) = spot exp((rate - div) t)."""
        if self.spot is None:
            raise ValueError("this surface has no spot: pass spot= to convert strikes")
        return self.spot * np.exp((self.rate - self.div) * np.asarray(t, dtype=np.float64))

    def log_moneyness(self, strike: Any, t: Any) -> Any:
        """k = ln(strike / F(t))."""
        return np.log(np.asarray(strike, dtype=np.float64) / self.forward(t))

    def _eval(self, k: Any, t: Any, strike: Any, want_vol: bool) -> Any:
        if t is None:
            raise ValueError("t (years to expiry) is required")
        if (k is None) == (strike is None):
            raise ValueError("give exactly one of k (log-moneyness) and strike")
        if strike is not None:
            k = self.log_moneyness(strike, t)
        ka = _arrays.as_float("k", k)
        ta = _arrays.as_float("t", t)
        kb, tb = np.broadcast_arrays(ka, ta)
        shape = kb.shape
        out = _core._surface_eval(
            _KIND[self.kind],
            self.expiries,
            self.params.ravel(),
            self.k_grid,
            np.ascontiguousarray(ka).ravel() if ka.size == 1 else np.ascontiguousarray(kb).ravel(),
            np.ascontiguousarray(ta).ravel() if ta.size == 1 else np.ascontiguousarray(tb).ravel(),
            want_vol,
            _arrays.threads_arg(None),
        )
        res = np.asarray(out).reshape(shape)
        return float(res) if res.ndim == 0 else res

    def total_variance(self, k: Any = None, t: Any = None, *, strike: Any = None) -> Any:
        """Total implied variance ``w = vol**2 t`` (years), broadcast over ``k`` (or
        ``strike``) and ``t``. NaN where k or t is NaN or t < 0."""
        return self._eval(k, t, strike, False)

    @property
    def has_smile(self) -> bool:
        """Whether the vol depends on the log-moneyness k (SVI or grid surfaces), not on the
        expiry alone (flat, term structure)."""
        return self.kind in ("svi", "grid")

    def vol(self, k: Any = None, t: Any = None, *, strike: Any = None) -> Any:
        """Implied vol (decimal, annual) at log-moneyness ``k = ln(K/F(t))`` or ``strike``,
        and time to expiry ``t`` (years), broadcast. At t = 0 the limit from above (the first
        expiry's vol at k). NaN where k or t is NaN or t < 0."""
        return self._eval(k, t, strike, True)

    # -- arbitrage ---------------------------------------------------------------------------

    def arbitrage(self, k: Any = None) -> ArbitrageReport:
        """Butterfly and calendar arbitrage of the surface's expiry slices.

        SVI: Gatheral's g(k) >= 0 on ``k`` (default :data:`DEFAULT_CHECK_K`). Grid: convexity
        of undiscounted call prices in strike across the grid's nodes (the discrete butterfly:
        every butterfly spread on three neighbouring nodes costs >= 0). Calendar: total
        variance non-decreasing in t at fixed k, on ``k`` (default: the grid's nodes for grids,
        :data:`DEFAULT_CHECK_K` otherwise). Flat and term-structure slices have no smile, so no
        butterfly; a term structure's calendar check is on its total variances.
        """
        if self.kind == "flat":
            return ArbitrageReport((), (), "flat: none possible")
        t = self.expiries
        if k is None:
            kk = self.k_grid if self.kind == "grid" else DEFAULT_CHECK_K
        else:
            kk = _array("k", k, 1)
        w = np.array([self.total_variance(kk, ti) for ti in t]).reshape(t.size, kk.size)
        fly: list[ArbitrageViolation] = []
        if self.kind == "svi":
            for ti, row in zip(t, self.params):
                # g is 0/0 where w = 0 (a slice touching zero variance): no evidence there
                g = svi_density(SVI(*row), kk)
                g = np.where(np.isnan(g), np.inf, g)
                j = int(np.argmin(g)) if g.size else 0
                if g.size and g[j] < -_TOL:
                    fly.append(
                        ArbitrageViolation("butterfly", float(ti), float(kk[j]), float(g[j]))
                    )
        elif self.kind == "grid" and kk.size >= 3:
            strikes = np.exp(kk)
            for ti, row in zip(t, w):
                c = _call_prices(kk, row)
                slope = np.diff(c) / np.diff(strikes)  # -P(S_T > K): in [-1, 0], increasing
                value = np.concatenate([np.diff(slope), -slope, slope + 1.0])
                where = np.concatenate([kk[1:-1], kk[:-1], kk[:-1]])
                j = int(np.argmin(value))
                if value[j] < -_TOL:
                    fly.append(
                        ArbitrageViolation("butterfly", float(ti), float(where[j]), float(value[j]))
                    )
        cal: list[ArbitrageViolation] = []
        for i in range(t.size - 1):
            dw = w[i + 1] - w[i]
            j = int(np.argmin(dw))
            if dw[j] < -_TOL * max(1.0, float(w[i, j])):
                cal.append(
                    ArbitrageViolation(
                        "calendar", float(t[i]), float(kk[j]), float(dw[j]), float(t[i + 1])
                    )
                )
        method = {
            "term": "calendar on the term structure's total variances",
            "svi": f"SVI density g(k) and calendar on {kk.size} k from {kk[0]:g} to {kk[-1]:g}",
            "grid": f"call-price convexity and calendar on the {kk.size} grid nodes",
        }[self.kind]
        return ArbitrageReport(tuple(fly), tuple(cal), method)

    def __repr__(self) -> str:
        n = self.expiries.size
        return f"VolSurface({self.kind!r}, {n} expiries, spot={self.spot})"


def _slice_w(
    t: FloatArray, vols: Any, total_variance: Any, shape: tuple[int, ...] | None = None
) -> FloatArray:
    """Total variances from exactly one of vols (w = vol**2 t, per row) or total_variance."""
    if (vols is None) == (total_variance is None):
        raise ValueError("give exactly one of vols and total_variance")
    shape = shape or t.shape
    name = "vols" if vols is not None else "total_variance"
    a = _array(name, vols if vols is not None else total_variance, len(shape))
    if a.shape != shape:
        raise ValueError(f"{name} has shape {a.shape}; expected {shape}")
    if vols is not None:
        if np.any(a < 0.0):
            raise ValueError("vols must be >= 0")
        a = a * a * (t if a.ndim == 1 else t[:, None])
    return a
