"""Fitting raw SVI smiles to an option chain (NumPy only).

The fit of each expiry is the quasi-explicit method of Zeliade Systems ("Quasi-explicit
calibration of Gatheral's SVI model", Zeliade white paper, 2009; also S. De Marco and
C. Martini, 2009): for a fixed vertex ``(m, sigma)``, with ``y = (k - m) / sigma``, the slice is
*linear* in ``(a, d, c) = (a, rho b sigma, b sigma)``:

    w(k) = a + d y + c sqrt(y**2 + 1)

so the best ``(a, d, c)`` is a small least-squares problem on the polytope
``0 <= c <= 4 sigma``, ``|d| <= c``, ``|d| <= 4 sigma - c`` (b (1 + |rho|) <= 4, the
Rogers-Tehranchi bound on the wings' slopes; Lee's slope <= 2 is not imposed) and
``0 <= a <= max(w)``. It is solved exactly: the optimum of a
convex quadratic on a polytope is the unconstrained optimum of one set of active constraints, so
every set of up to three active constraints is solved at once (batched 6 x 6 KKT systems) and
the best feasible one kept. The outer problem over ``(m, sigma)`` (two variables) is a coarse
grid search refined by Nelder-Mead from the best grid points.

The objective is the weighted squared error in total variance with weights ``1 / vol**2``
(default), so that ``dw = 2 vol t dvol`` makes it the squared error in vol: the fit minimises
(to first order) the RMSE in vol points that :class:`SliceFit` reports.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .iv import black76_implied_vol, implied_vol
from .surface import SVI, Check, VolSurface

__all__ = [
    "Chain",
    "SliceFit",
    "SurfaceFit",
    "deribit_chain",
    "fit_svi",
    "fit_ssvi",
    "fit_svi_slice",
    "plot_smile_fit",
    "spy_chain",
    "ssvi_slice",
]

FloatArray = npt.NDArray[np.float64]

_EPS_RHO = 1e-6  # |rho| <= 1 - 1e-6: SVI needs |rho| < 1
_MIN_QUOTES = 5  # five parameters


# -- the inner, linear problem ---------------------------------------------------------------


_LIM = 1.0 - _EPS_RHO
# G x <= h for x = (a, d, c); h = _H0 + w_max _HW + sigma _HS.
_G = np.array(
    [
        [-1.0, 1.0, -_LIM],  # a + c - |d| >= 0: w stays >= 0 (min w = a + sqrt(c^2 - d^2))
        [-1.0, -1.0, -_LIM],
        [1.0, 0.0, 0.0],  # a <= max quoted w
        [0.0, 0.0, -1.0],  # c >= 0
        [0.0, 1.0, -_LIM],  # |d| <= c (|rho| < 1)
        [0.0, -1.0, -_LIM],
        [0.0, 1.0, 1.0],  # |d| <= 4 sigma - c (b (1 + |rho|) <= 4)
        [0.0, -1.0, 1.0],
    ]
)
_HW = np.array([0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0])
_HS = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 4.0, 4.0])
# Every set of up to three active constraints: its KKT matrix without the objective block, and
# the selection of its right-hand sides (unused multiplier slots get an identity row).
_SETS = [c for r in range(4) for c in itertools.combinations(range(len(_G)), r)]
_KKT = np.zeros((len(_SETS), 6, 6))
_SEL = np.zeros((len(_SETS), 3, len(_G)))
for _i, _s in enumerate(_SETS):
    for _j, _c in enumerate(_s):
        _KKT[_i, 3 + _j, :3] = _G[_c]
        _KKT[_i, :3, 3 + _j] = _G[_c]
        _SEL[_i, _j, _c] = 1.0
    for _j in range(len(_s), 3):
        _KKT[_i, 3 + _j, 3 + _j] = 1.0


def _inner(
    y: FloatArray, w: FloatArray, wt: FloatArray, sigma: float, w_max: float
) -> tuple[float, FloatArray]:
    """min over (a, d, c) in the polytope of sum wt (a + d y + c sqrt(y^2+1) - w)^2."""
    X = np.column_stack([np.ones_like(y), y, np.sqrt(y * y + 1.0)])
    Xw = X * wt[:, None]
    Q = X.T @ Xw
    q = Xw.T @ w
    c0 = float(w @ (wt * w))
    h = w_max * _HW + sigma * _HS
    K = _KKT.copy()
    K[:, :3, :3] = Q
    rhs = np.concatenate([np.broadcast_to(q, (len(_SETS), 3)), _SEL @ h], axis=1)
    det = np.linalg.det(K)
    ok = np.abs(det) > 1e-12 * (np.abs(Q).max() ** 3 + 1e-300)
    x = np.full((len(_SETS), 3), np.nan)
    x[ok] = np.linalg.solve(K[ok], rhs[ok][..., None])[..., 0][:, :3]
    feas = ok & np.all(x @ _G.T <= h + 1e-12 * (1.0 + np.abs(h)), axis=1)
    obj = 0.5 * np.einsum("ni,ij,nj->n", x, Q, x) - x @ q
    obj[~feas] = np.inf  # the empty set's vertex... x = 0 is always feasible: some set is
    best = int(np.argmin(obj))
    if not np.isfinite(obj[best]):  # pragma: no cover - x = 0 is feasible
        return math.inf, np.zeros(3)
    return float(2.0 * obj[best] + c0), x[best]


def _nelder_mead(
    f: Callable[[FloatArray], float], x0: FloatArray, step: FloatArray, iters: int = 200
) -> tuple[FloatArray, float]:
    """Plain Nelder-Mead (Nelder and Mead, Comput. J. 7 (1965) 308-313), standard
    coefficients (reflection 1, expansion 2, contraction 1/2, shrink 1/2)."""
    pts = [x0] + [x0 + np.eye(x0.size)[i] * step[i] for i in range(x0.size)]
    vals = [f(p) for p in pts]
    for _ in range(iters):
        order = np.argsort(vals)
        pts = [pts[i] for i in order]
        vals = [vals[i] for i in order]
        if abs(vals[-1] - vals[0]) <= 1e-14 * (abs(vals[0]) + 1e-300):
            break
        centre = np.mean(pts[:-1], axis=0)
        xr = centre + (centre - pts[-1])
        fr = f(xr)
        if fr < vals[0]:
            xe = centre + 2.0 * (centre - pts[-1])
            fe = f(xe)
            pts[-1], vals[-1] = (xe, fe) if fe < fr else (xr, fr)
        elif fr < vals[-2]:
            pts[-1], vals[-1] = xr, fr
        else:
            xc = centre + 0.5 * (pts[-1] - centre)
            fc = f(xc)
            if fc < vals[-1]:
                pts[-1], vals[-1] = xc, fc
            else:
                pts = [pts[0] + 0.5 * (p - pts[0]) for p in pts]
                vals = [vals[0]] + [f(p) for p in pts[1:]]
    i = int(np.argmin(vals))
    return pts[i], vals[i]


# -- per-expiry fit --------------------------------------------------------------------------


@dataclass(frozen=True)
class SliceFit:
    """The SVI fit of one expiry: ``rmse`` and ``max_error`` are in vol points (1.0 = one
    percentage point of vol), over the ``n_quotes`` quotes (log-moneyness ``k``, quoted
    ``vol``, fitted ``fitted``)."""

    t: float
    svi: SVI
    n_quotes: int
    rmse: float
    max_error: float
    k: FloatArray
    vol: FloatArray
    fitted: FloatArray


def _as_1d(name: str, value: Any) -> FloatArray:
    a = np.array(value, dtype=np.float64, copy=True).ravel()
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} has NaN or infinite values")
    return a


def fit_svi_slice(
    k: Any,
    vol: Any,
    t: float,
    *,
    weights: Any = None,
    butterfly_penalty: float = 0.0,
    below: SVI | None = None,
) -> SliceFit:
    """Fit raw SVI to one expiry's quotes.

    Parameters
    ----------
    k : array_like
        Log-moneyness ln(K/F) of the quotes.
    vol : array_like
        Their implied vols (decimal, annual), > 0.
    t : float
        Time to expiry in years, > 0.
    weights : array_like, optional
        Weights of the squared total-variance errors; default ``1 / vol**2`` (least squares
        in vol, to first order).
    butterfly_penalty : float
        0 (default): plain least squares. > 0: adds ``butterfly_penalty * sum(wt w**2) *
        sum(min(g, 0)**2)`` on 201 k spanning the quotes and [-2, 2] (the range of
        :meth:`VolSurface.arbitrage`'s default check) to the outer objective, pushing
        (m, sigma) away from smiles with Gatheral's density g < 0 (a soft constraint: check
        the result with :meth:`VolSurface.arbitrage`). 1e4 is a strong setting.
    below : SVI, optional
        The previous expiry's slice: with ``butterfly_penalty > 0``, the same penalty also
        applies to ``sum(max(w_below - w, 0)**2)`` on that grid (calendar arbitrage).
        :func:`fit_svi` passes it when fitting the expiries in order.
    """
    k = _as_1d("k", k)
    v = _as_1d("vol", vol)
    if k.shape != v.shape:
        raise ValueError(f"k has {k.size} and vol {v.size} quotes; expected equal")
    t = float(t)
    if not (math.isfinite(t) and t > 0.0):
        raise ValueError(f"t must be > 0 (years), got {t}")
    if k.size < _MIN_QUOTES:
        raise ValueError(f"an SVI fit needs at least {_MIN_QUOTES} quotes, got {k.size}")
    if np.any(v <= 0.0):
        raise ValueError("vol must be > 0")
    wt = 1.0 / (v * v) if weights is None else _as_1d("weights", weights)
    if wt.shape != k.shape or np.any(wt < 0.0):
        raise ValueError("weights must be >= 0, one per quote")
    w = v * v * t
    w_max = float(w.max())
    span = float(k.max() - k.min()) or 1.0

    lam = float(butterfly_penalty)
    if not (math.isfinite(lam) and lam >= 0.0):
        raise ValueError(f"butterfly_penalty must be >= 0, got {butterfly_penalty}")
    k_check = np.linspace(min(k.min(), -2.0), max(k.max(), 2.0), 201)
    scale = lam * float(wt @ (w * w))
    floor = None if below is None else below.total_variance(k_check)

    def obj(x: FloatArray) -> float:
        m, sigma = float(x[0]), math.exp(float(x[1]))
        f, (a, d, c) = _inner((k - m) / sigma, w, wt, sigma, w_max)
        if lam == 0.0 or c <= 0.0:
            return f
        y = (k_check - m) / sigma
        r = np.sqrt(y * y + 1.0)
        ww = a + d * y + c * r
        w1 = (d + c * y / r) / sigma
        w2 = c / (sigma * sigma * r**3)
        with np.errstate(divide="ignore", invalid="ignore"):
            g = (1 - k_check * w1 / (2 * ww)) ** 2 - w1 * w1 / 4 * (1 / ww + 0.25) + w2 / 2
        g = np.where(ww > 0, g, -1.0)
        pen = float(np.sum(np.minimum(g, 0.0) ** 2))
        if floor is not None:  # total variance in relative units, like g
            pen += float(np.sum(np.maximum(floor - ww, 0.0) ** 2)) / w_max**2
        return f + scale * pen

    grid = [
        (np.array([m, math.log(s)]), obj(np.array([m, math.log(s)])))
        for m in np.linspace(k.min(), k.max(), 9)
        for s in span * np.array([0.01, 0.03, 0.1, 0.3, 1.0])
    ]
    grid.sort(key=lambda p: p[1])
    best_x, best_f = grid[0]
    for x0, _ in grid[:3]:
        x, fx = _nelder_mead(obj, x0, np.array([0.1 * span, 0.5]))
        if fx < best_f:
            best_x, best_f = x, fx
    m, sigma = float(best_x[0]), math.exp(float(best_x[1]))
    a, d, c = _inner((k - m) / sigma, w, wt, sigma, w_max)[1]
    b = c / sigma
    rho = d / c if c > 0.0 else 0.0
    svi = SVI(
        a=float(a),
        b=float(b),
        rho=float(np.clip(rho, -1 + _EPS_RHO, 1 - _EPS_RHO)),
        m=m,
        sigma=sigma,
    )
    return _slice_fit(k, v, t, svi)


def _slice_fit(k: FloatArray, v: FloatArray, t: float, svi: SVI) -> SliceFit:
    fitted = np.sqrt(np.maximum(svi.total_variance(k), 0.0) / t)
    err = 100.0 * (fitted - v)
    return SliceFit(
        t=t,
        svi=svi,
        n_quotes=int(k.size),
        rmse=float(np.sqrt(np.mean(err * err))),
        max_error=float(np.abs(err).max()),
        k=k,
        vol=v,
        fitted=fitted,
    )


@dataclass(frozen=True)
class SurfaceFit:
    """SVI fits of every expiry and the surface they make (:class:`VolSurface`, kind "svi").
    ``skipped`` lists the expiries with fewer than five quotes. ``ssvi`` is (rho, eta, gamma)
    for :func:`fit_ssvi`, None otherwise."""

    surface: VolSurface
    slices: tuple[SliceFit, ...]
    skipped: tuple[float, ...]
    ssvi: tuple[float, float, float] | None = None

    def table(self) -> str:
        """Fit quality per expiry, as a Markdown table (vol points)."""
        rows = [
            "| t (years) | quotes | RMSE (vol pts) | max error (vol pts) |",
            "|---|---|---|---|",
        ]
        for s in self.slices:
            rows.append(f"| {s.t:.4f} | {s.n_quotes} | {s.rmse:.3f} | {s.max_error:.3f} |")
        return "\n".join(rows)


def fit_svi(
    k: Any,
    t: Any,
    vol: Any,
    *,
    weights: Any = None,
    butterfly_penalty: float = 0.0,
    spot: float | None = None,
    rate: float = 0.0,
    div: float = 0.0,
    check: Check = "none",
) -> SurfaceFit:
    """Fit raw SVI per expiry to quotes ``(k, t, vol)`` (one entry per quote; quotes with the
    same ``t`` form an expiry) and build the surface; see :func:`fit_svi_slice`. The expiries
    are fitted in order; with ``butterfly_penalty > 0`` each is also kept above the previous
    one (a soft calendar constraint). ``spot``,
    ``rate``, ``div`` and ``check`` are passed to :class:`VolSurface`. Expiries with fewer
    than five quotes are skipped (listed in ``skipped``)."""
    k = _as_1d("k", k)
    t = _as_1d("t", t)
    v = _as_1d("vol", vol)
    if not (k.shape == t.shape == v.shape):
        raise ValueError(f"k, t and vol have {k.size}, {t.size} and {v.size} quotes")
    wt = None if weights is None else _as_1d("weights", weights)
    fits: list[SliceFit] = []
    skipped: list[float] = []
    for ti in np.unique(t):
        sel = t == ti
        if sel.sum() < _MIN_QUOTES:
            skipped.append(float(ti))
            continue
        fits.append(
            fit_svi_slice(
                k[sel],
                v[sel],
                float(ti),
                weights=None if wt is None else wt[sel],
                butterfly_penalty=butterfly_penalty,
                below=fits[-1].svi if fits else None,
            )
        )
    if not fits:
        raise ValueError("no expiry has enough quotes for an SVI fit")
    surface = VolSurface.svi(
        [f.t for f in fits],
        [f.svi for f in fits],
        spot=spot,
        rate=rate,
        div=div,
        check=check,
    )
    return SurfaceFit(surface, tuple(fits), tuple(skipped))


def ssvi_slice(theta: float, rho: float, eta: float, gamma: float) -> SVI:
    """The raw SVI slice of an SSVI surface at ATM total variance ``theta``.

    SSVI (Gatheral and Jacquier 2014, section 4): ``w(k) = theta/2 (1 + rho phi k +
    sqrt((phi k + rho)^2 + 1 - rho^2))`` with the power law ``phi = eta / (theta^gamma
    (1 + theta)^(1 - gamma))``; as raw SVI ``a = theta (1 - rho^2)/2, b = theta phi/2,
    m = -rho/phi, sigma = sqrt(1 - rho^2)/phi`` (same rho).
    """
    phi = eta / (theta**gamma * (1.0 + theta) ** (1.0 - gamma))
    return SVI(
        a=theta * (1.0 - rho * rho) / 2.0,
        b=theta * phi / 2.0,
        rho=rho,
        m=-rho / phi,
        sigma=math.sqrt(1.0 - rho * rho) / phi,
    )


def fit_ssvi(
    k: Any,
    t: Any,
    vol: Any,
    *,
    spot: float | None = None,
    rate: float = 0.0,
    div: float = 0.0,
) -> SurfaceFit:
    """Fit an SSVI surface (power-law phi) to quotes ``(k, t, vol)``: one ATM total variance
    per expiry and three numbers for the whole surface.

    ``theta_i`` is each expiry's quoted total variance at k = 0 (linear in k between the two
    nearest quotes), made non-decreasing across expiries; ``(rho, eta, gamma)`` minimise the
    squared vol errors of all quotes (Nelder-Mead) within ``|rho| < 1``, ``0 < gamma <= 1/2``
    and ``eta (1 + |rho|) <= 2``. With these, ``theta phi(theta) (1 + |rho|) < 4`` and
    ``theta phi(theta)^2 (1 + |rho|) <= 4`` for every theta, Gatheral and Jacquier's sufficient
    condition for no butterfly arbitrage (2014, Theorem 4.2), and ``theta phi(theta)`` is
    increasing (their calendar condition, Theorem 4.1, needs it and a bound that the report
    checks). The surface is returned as SVI slices at the quoted expiries (linear in total
    variance between them, as every :class:`VolSurface`). Fewer parameters than per-expiry
    SVI, so a worse fit; in exchange no arbitrage (check with ``surface.arbitrage()``).
    """
    k = _as_1d("k", k)
    t = _as_1d("t", t)
    v = _as_1d("vol", vol)
    if not (k.shape == t.shape == v.shape):
        raise ValueError(f"k, t and vol have {k.size}, {t.size} and {v.size} quotes")
    if np.any(v <= 0.0) or np.any(t <= 0.0):
        raise ValueError("vol and t must be > 0")
    ts = np.unique(t)
    if ts.size < 1:
        raise ValueError("no quotes")
    groups = [t == ti for ti in ts]
    theta = np.empty(ts.size)
    for i, sel in enumerate(groups):
        order = np.argsort(k[sel])
        theta[i] = np.interp(0.0, k[sel][order], (v[sel] ** 2 * ts[i])[order])
    theta = np.maximum.accumulate(theta)
    if np.any(theta <= 0.0):
        raise ValueError("the ATM total variance must be > 0")

    def params(x: FloatArray) -> tuple[float, float, float]:
        rho = math.tanh(float(x[0])) * (1.0 - _EPS_RHO)
        eta = 2.0 / (1.0 + abs(rho)) / (1.0 + math.exp(-float(x[1])))
        gamma = 0.5 / (1.0 + math.exp(-float(x[2])))
        return rho, eta, gamma

    def obj(x: FloatArray) -> float:
        rho, eta, gamma = params(x)
        total = 0.0
        for i, sel in enumerate(groups):
            w = ssvi_slice(float(theta[i]), rho, eta, gamma).total_variance(k[sel])
            total += float(np.sum((np.sqrt(np.maximum(w, 0.0) / ts[i]) - v[sel]) ** 2))
        return total

    starts = [np.array([r, e, g]) for r in (-1.0, 0.0) for e in (0.0, 2.0) for g in (0.0,)]
    best = min(
        (_nelder_mead(obj, x0, np.array([0.5, 0.5, 0.5]), iters=300) for x0 in starts),
        key=lambda p: p[1],
    )
    rho, eta, gamma = params(best[0])
    slices = [ssvi_slice(float(th), rho, eta, gamma) for th in theta]
    fits = tuple(
        _slice_fit(k[sel], v[sel], float(ts[i]), slices[i]) for i, sel in enumerate(groups)
    )
    surface = VolSurface.svi(ts, slices, spot=spot, rate=rate, div=div)
    return SurfaceFit(surface, fits, (), (rho, eta, gamma))


# -- chains ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chain:
    """Out-of-the-money quotes of an option chain with their implied vols: per quote the time to
    expiry ``t`` (years), ``strike``, ``forward``, log-moneyness ``k = ln(strike/forward)``,
    ``is_call`` and ``vol`` (decimal). ``spot``, ``rate``, ``div`` describe the underlying."""

    t: FloatArray
    strike: FloatArray
    forward: FloatArray
    k: FloatArray
    is_call: npt.NDArray[np.bool_]
    vol: FloatArray
    spot: float
    rate: float
    div: float

    def fit(self, **kw: Any) -> SurfaceFit:
        """:func:`fit_svi` on these quotes (forwarding ``spot``, ``rate`` and ``div``)."""
        return fit_svi(self.k, self.t, self.vol, spot=self.spot, rate=self.rate, div=self.div, **kw)

    def fit_ssvi(self) -> SurfaceFit:
        """:func:`fit_ssvi` on these quotes."""
        return fit_ssvi(self.k, self.t, self.vol, spot=self.spot, rate=self.rate, div=self.div)


def _read(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _col(rows: Sequence[dict[str, str]], name: str) -> FloatArray:
    return np.array([float(r[name]) if r[name] != "" else np.nan for r in rows])


def _otm_chain(
    t: FloatArray,
    K: FloatArray,
    F: FloatArray,
    call: npt.NDArray[np.bool_],
    usable: npt.NDArray[np.bool_],
    invert: Callable[[npt.NDArray[np.bool_]], Any],
    *,
    spot: float,
    rate: float,
    div: float,
) -> Chain:
    """The out-of-the-money ``usable`` quotes with a positive implied vol (``invert(selection)``
    gives the vols of the selected quotes)."""
    keep = np.where(call, K >= F, K < F) & usable & (t > 0)
    vol = np.asarray(invert(keep))
    ok = np.isfinite(vol) & (vol > 0)
    sel = np.flatnonzero(keep)[ok]
    return Chain(
        t=t[sel],
        strike=K[sel],
        forward=F[sel],
        k=np.log(K[sel] / F[sel]),
        is_call=call[sel],
        vol=vol[ok],
        spot=spot,
        rate=rate,
        div=div,
    )


def spy_chain(path: str | os.PathLike[str], *, min_bid: float = 0.0) -> Chain:
    """Out-of-the-money quotes of the Yahoo SPY chain file (``spy_options_*.csv``, see
    ``shared/data/README.md``): mid prices of quotes with ``bid > min_bid`` and ``ask > bid``,
    inverted with :func:`gammaext.implied_vol` at the file's S, r, q and t (European BSM: SPY
    options are American, so only out-of-the-money strikes are used, where the early-exercise
    premium is small). The rate is the file's per-expiry r; ``Chain.rate`` is its mean.
    """
    rows = _read(path)
    S = _col(rows, "S")
    K = _col(rows, "strike")
    t = _col(rows, "t_years_act365")
    r = _col(rows, "r")
    q = _col(rows, "q")
    bid, ask = _col(rows, "bid"), _col(rows, "ask")
    call = np.array([row["option_type"] == "call" for row in rows])
    F = S * np.exp((r - q) * t)
    mid = 0.5 * (bid + ask)
    return _otm_chain(
        t,
        K,
        F,
        call,
        (bid > min_bid) & (ask > bid),
        lambda sel: implied_vol(
            mid[sel], S[sel], K[sel], t[sel], r[sel], q[sel], is_call=call[sel]
        ),
        spot=float(S[0]),
        rate=float(np.mean(r)),
        div=float(q[0]),
    )


def deribit_chain(path: str | os.PathLike[str]) -> Chain:
    """Out-of-the-money quotes of the Deribit BTC chain file (``deribit_btc_options_*.csv``):
    the mark price times the forward (``underlying_price``) inverted with Black-76 at r = 0,
    undiscounted (the file's pricing convention). Every quote of one expiry gets the expiry's
    median time to expiry (the instruments were sampled over three minutes)."""
    rows = _read(path)
    K = _col(rows, "strike")
    F = _col(rows, "underlying_price")
    tt = _col(rows, "t_years_act365")
    mark = _col(rows, "mark_price_btc")
    call = np.array([row["option_type"] == "call" for row in rows])
    expiry = np.array([row["expiration_utc"] for row in rows])
    t = tt.copy()
    for e in np.unique(expiry):
        t[expiry == e] = np.median(tt[expiry == e])
    return _otm_chain(
        t,
        K,
        F,
        call,
        mark > 0,
        lambda sel: black76_implied_vol(
            mark[sel] * F[sel], F[sel], K[sel], t[sel], 0.0, is_call=call[sel]
        ),
        spot=float(_col(rows, "index_price")[0]),
        rate=0.0,
        div=0.0,
    )


def plot_smile_fit(fit: SurfaceFit, *, max_panels: int = 12, title: str = "") -> Any:
    """Quotes (dots) against the fitted SVI smile (line) per expiry, vol in percent against
    log-moneyness: a matplotlib Figure (needs the ``plot`` extra). With more than
    ``max_panels`` expiries, an evenly spaced selection is drawn."""
    from .plots import _figure, _grid

    slices = fit.slices
    if len(slices) > max_panels:
        idx = np.unique(np.linspace(0, len(slices) - 1, max_panels).round().astype(int))
        slices = tuple(slices[i] for i in idx)
    nrows, ncols = _grid(len(slices))
    fig, axes = _figure(nrows, ncols, figsize=(4.2 * ncols, 3.2 * nrows), layout="constrained")
    for ax, s in zip(axes.ravel(), slices):
        kk = np.linspace(s.k.min(), s.k.max(), 200)
        ax.plot(s.k, 100 * s.vol, ".", color="tab:blue", ms=4, label="quotes")
        ax.plot(kk, 100 * np.sqrt(s.svi.total_variance(kk) / s.t), color="tab:red", label="SVI")
        ax.set_title(
            f"t = {s.t:.3f} y: RMSE {s.rmse:.2f}, max {s.max_error:.2f} vol pts", fontsize=9
        )
        ax.set_xlabel("k = ln(K/F)")
        ax.set_ylabel("implied vol (%)")
    for ax in axes.ravel()[len(slices) :]:
        ax.set_visible(False)
    axes.ravel()[0].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig
