"""Reference hedging engine (NumPy): vectorized across paths, one Python loop over steps.

Written for clarity; the C++ engine (:func:`gammaext.simulate_hedge`) matches it to about 1e-10
relative when fed the same random numbers. Two entry points:

* :func:`generate_paths` builds the true and observed price paths of a generator from the
  engine's random draws (or any draws you pass), as full ``(n_paths, n_steps + 1)`` arrays;
* :func:`hedge_paths` runs the hedging accounting on such arrays.

:func:`simulate_hedge` chains the two with the same arguments as the C++ entry point.

The accounting, step by step (k = 0 .. N-1, true price S, observed price O, options marked at
the implied vol on S, hedge shares h traded at O):

0. buy the options: ``cash = -V_0 - option_half_spread * units``; hedge to ``h = -Delta_0``
   (hedge vol) if ``initial_hedge``, paying costs if ``entry_costs``.
1. financing over [t_k, t_k+1]: ``cash * expm1(rate dt) + h O_k expm1(div dt)``, added to cash;
2. the price moves; attribution with the Greeks of step k:
   gamma += 1/2 Gamma_k dS^2, theta += Theta_k dt, hedge += Delta_k dS + h dO;
3. options expiring at k+1 (first grid time on/after expiry) pay their intrinsic value into cash;
   with a roll rule and k+1 < N, the groups that expired or left the delta range are sold at
   their marks and the same legs bought at the money (``cash += V_old - V_new - spread``);
4. if k+1 < N the rule decides a trade at O_{k+1} (with costs); if k+1 = N the stock is sold
   (costs if ``exit_costs``) and live options are sold at model value (minus the option
   half-spread if ``close_options``).
The residual is the total minus the other parts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import hedging as _h
from .._arrays import FloatArray
from ..generators import _SIGNAL_KIND as _SIGNAL_KIND_BY_NAME
from .black_scholes import norm_cdf, norm_pdf
from .surface import slice_total_variance

__all__ = [
    "generate_paths",
    "generate_signals",
    "generate_state",
    "hedge_paths",
    "leg_vols",
    "simulate_hedge",
]

_EXTRA_JUMPS = 16  # Poisson CDF terms beyond m + 12 sqrt(m), as the engine


def _poisson_cdf(m: float) -> FloatArray:
    """The engine's Poisson(m) CDF at 0, 1, ...: terms from logarithms, summed in order."""
    n = math.ceil(m + 12 * math.sqrt(m)) + _EXTRA_JUMPS
    lm = math.log(m) if m > 0 else 0.0
    out, f = np.empty(n), 0.0
    for i in range(n):
        f += math.exp(-m + i * lm - math.lgamma(i + 1.0)) if m > 0 else float(i == 0)
        out[i] = f
    return out
# number -> name of the engine's enums (the engine numbers them, hedging.py looks them up)
_PATH_KIND = {v: k for k, v in _h._PATH_KIND.items()}
_NOISE_KIND = {v: k for k, v in _h._NOISE_KIND.items()}
_BAND_KIND = {v: k for k, v in _h._BAND_KIND.items()}
_HEDGE_VOL_KIND = {v: k for k, v in _h._HEDGE_VOL_KIND.items()}
_SIGNAL_KIND = {v: k for k, v in _SIGNAL_KIND_BY_NAME.items()}
_VOL_MODEL = {v: k for k, v in _h._VOL_MODEL.items()}


def _ndtri(p: FloatArray) -> FloatArray:
    """Inverse normal CDF: SciPy's ndtri, or the standard library's without SciPy."""
    try:
        from scipy.special import ndtri
    except ImportError:  # pragma: no cover - SciPy is a test dependency
        from statistics import NormalDist

        return np.asarray(np.vectorize(NormalDist().inv_cdf, otypes=[np.float64])(p))
    return np.asarray(ndtri(p))


def _draws(prep: _h.Prepared, stream: str, n: int, normal: bool) -> FloatArray:
    return _h.random_draws(
        prep.seed, stream, prep.n_paths, n, first_path=prep.first_path, normal=normal
    )


def generate_paths(
    prep: _h.Prepared, draws: dict[str, FloatArray] | None = None
) -> tuple[FloatArray, FloatArray]:
    """(true prices S, observed prices O), each ``(n_paths, n_steps + 1)``.

    ``draws`` maps stream names to arrays of draws (paths x draws); missing streams are taken
    from the engine's generator (:func:`gammaext.hedging.random_draws`), so a test can feed
    NumPy's own normals instead.
    """
    state = generate_state(prep, draws)
    return state["S"], state["O"]


def generate_state(
    prep: _h.Prepared, draws: dict[str, FloatArray] | None = None
) -> dict[str, FloatArray]:
    """:func:`generate_paths` with the generators' state along the paths, each
    ``(n_paths, n_steps + 1)``: ``S``, ``O``, ``var`` (Heston's variance; NaN for the other
    generators) and ``atm`` (the stochastic ATM vol, when the position has one; else NaN)."""
    p = prep.params
    t = prep.times
    n, N = prep.n_paths, t.size - 1
    dt = np.diff(t)
    draws = dict(draws or {})

    def get(stream: str, count: int, normal: bool) -> FloatArray:
        if stream not in draws:
            draws[stream] = _draws(prep, stream, count, normal)
        return draws[stream]

    kind = _PATH_KIND[int(p["path_kind"])]
    lx = np.empty((n, N + 1))
    var = np.full((n, N + 1), np.nan)
    atm = np.full((n, N + 1), np.nan)
    if kind == "user":
        S = prep.user.copy()
        lx = np.log(S)
    else:
        lx[:, 0] = math.log(p["spot"])
        if kind == "gbm":
            z = get("price", N, True)
            for k in range(N):
                lx[:, k + 1] = lx[:, k] + (
                    (p["drift"] - 0.5 * p["path_vol"] ** 2) * dt[k]
                    + p["path_vol"] * math.sqrt(dt[k]) * z[:, k]
                )
        elif kind == "heston":  # Andersen QE
            z = get("price", N, True)
            u = get("variance", N, False)
            kappa, theta, xi, rho = (
                p["heston_kappa"],
                p["heston_theta"],
                p["heston_xi"],
                p["heston_rho"],
            )
            v = np.full(n, p["heston_v0"])
            var[:, 0] = v
            for k in range(N):
                h = dt[k]
                e = math.exp(-kappa * h)
                m = theta + (v - theta) * e
                s2 = v * xi**2 * e * (1 - e) / kappa + theta * xi**2 * (1 - e) ** 2 / (2 * kappa)
                psi = s2 / m**2
                with np.errstate(invalid="ignore", divide="ignore"):
                    b2 = 2 / psi - 1 + np.sqrt(2 / psi) * np.sqrt(np.maximum(2 / psi - 1, 0))
                    a = m / (1 + b2)
                    v_quad = a * (np.sqrt(b2) + _ndtri(u[:, k])) ** 2
                    pp = (psi - 1) / (psi + 1)
                    beta = (1 - pp) / m
                    v_exp = np.where(u[:, k] > pp, np.log((1 - pp) / (1 - u[:, k])) / beta, 0.0)
                vn = np.where(psi <= 1.5, v_quad, v_exp)
                k0 = -rho * kappa * theta / xi * h
                k1 = 0.5 * h * (kappa * rho / xi - 0.5) - rho / xi
                k2 = 0.5 * h * (kappa * rho / xi - 0.5) + rho / xi
                k3 = 0.5 * h * (1 - rho**2)
                # Andersen's martingale correction: K0* = -ln E[exp(A V')] - (K1 + K3/2) V
                A = k2 + 0.5 * k3
                with np.errstate(invalid="ignore", divide="ignore"):
                    one_m = 1 - 2 * A * a
                    safe = np.where(one_m > 0, one_m, 1.0)
                    mgf_exp = pp + beta * (1 - pp) / (beta - A)
                    quad = psi <= 1.5
                    ln_mgf = np.where(
                        quad,
                        A * b2 * a / safe - 0.5 * np.log(safe),
                        np.log(np.where(mgf_exp > 0, mgf_exp, 1.0)),
                    )
                    exists = np.where(quad, one_m > 0, A < beta)
                k0 = np.where(exists, -ln_mgf - (k1 + 0.5 * k3) * v, k0)
                lx[:, k + 1] = (
                    lx[:, k]
                    + p["drift"] * h
                    + k0
                    + k1 * v
                    + k2 * vn
                    + np.sqrt(k3 * (v + vn)) * z[:, k]
                )
                v = vn
                var[:, k + 1] = v
        elif kind == "merton":
            z = get("price", N, True)
            u = get("jump_count", N, False)
            zj = get("jump_size", N, True)
            lam, jm, js = p["jump_intensity"], p["jump_mean"], p["jump_std"]
            kbar = math.exp(jm + 0.5 * js**2) - 1
            for k in range(N):
                cdf = _poisson_cdf(lam * dt[k])
                nj = (u[:, k][:, None] > cdf[None, :]).sum(axis=1).astype(float)
                lx[:, k + 1] = (
                    lx[:, k]
                    + (p["drift"] - 0.5 * p["path_vol"] ** 2 - lam * kbar) * dt[k]
                    + p["path_vol"] * math.sqrt(dt[k]) * z[:, k]
                    + nj * jm
                    + np.sqrt(nj) * js * zj[:, k]
                )
        elif kind in ("oscillation", "trend"):
            noise = p["scenario_noise"]
            z = get("price", N, True) if noise else np.zeros((n, N))
            walk = np.zeros(n)
            for k in range(N):
                walk = walk + noise * math.sqrt(dt[k]) * z[:, k]
                if kind == "oscillation":
                    base = math.log(p["spot"]) + p["amplitude"] * math.sin(
                        2 * math.pi * (k + 1) / p["period"]
                    )
                else:
                    base = math.log(p["spot"]) + math.log1p(p["total_return"]) * t[k + 1] / t[-1]
                lx[:, k + 1] = base + walk
        elif kind == "signals":
            z = _signal_model(prep, get)[2]
            for k in range(N):
                lx[:, k + 1] = lx[:, k] + (
                    (p["drift"] - 0.5 * p["path_vol"] ** 2) * dt[k]
                    + p["path_vol"] * math.sqrt(dt[k]) * z[:, k]
                )
        elif kind == "bootstrap":  # circular block bootstrap
            L = int(p["block_length"])
            r = prep.returns
            nb = (N + L - 1) // L
            u = get("bootstrap", nb, False)
            start = np.floor(u * r.size).astype(np.int64)
            for k in range(N):
                idx = (start[:, k // L] + k % L) % r.size
                lx[:, k + 1] = lx[:, k] + r[idx]
        S = np.exp(lx)
        S[:, 0] = p["spot"]  # exactly, as the engine: exp(log(spot)) can be an ulp off
        if p["atm_on"]:
            atm = _atm_path(p, dt, get("price", N, True), get("atm_vol", N, True))
    noise_kind = _NOISE_KIND[int(p["noise_kind"])]
    if noise_kind == "iid":
        lo = lx + p["noise_size"] * get("noise", N + 1, True)
        O = np.exp(lo)
    elif noise_kind == "bounce":
        u = get("noise", N + 1, False)
        lo = lx + np.where(u < 0.5, math.log1p(-p["noise_size"]), math.log1p(p["noise_size"]))
        O = np.exp(lo)
    else:
        O = S
    return {"S": S, "O": O, "var": var, "atm": atm}


def _atm_path(p: Mapping[str, float], dt: FloatArray, z: FloatArray, zq: FloatArray) -> FloatArray:
    """The stochastic ATM vol along the paths: the exact OU step of ln(atm) driven by the price
    normals z and the atm_vol stream's zq (gammaext.StochasticAtmVol)."""
    n, N = z.shape[0], dt.size
    kappa, xi, rho = p["atm_kappa"], p["atm_xi"], p["atm_rho"]
    lv = math.log(p["atm_level"])
    y = np.empty((n, N + 1))
    y[:, 0] = math.log(p["atm0"])
    for k in range(N):
        decay = math.exp(-kappa * dt[k])
        if kappa == 0.0:
            sd = xi * math.sqrt(dt[k])
        else:
            sd = xi * math.sqrt(-math.expm1(-2 * kappa * dt[k]) / (2 * kappa))
        zy = rho * z[:, k] + math.sqrt(max(0.0, 1 - rho * rho)) * zq[:, k]
        y[:, k + 1] = lv + (y[:, k] - lv) * decay + sd * zy
    return np.asarray(np.exp(y))


def leg_vols(prep: _h.Prepared, state: Mapping[str, FloatArray]) -> list[FloatArray] | None:
    """Each option group's implied vol along the paths (one ``(n_paths, n_steps + 1)`` array per
    row of ``prep.groups``), or None when one vol marks every leg. Where a group is no longer
    alive it keeps its last vol (no vol change is attributed after expiry)."""
    p = prep.params
    model = _VOL_MODEL[int(p["vol_model"])]
    if model == "constant":
        return None
    S, t = state["S"], prep.times
    n, N = S.shape[0], t.size - 1
    out = []
    for grp in _groups(prep):
        v = np.empty((n, N + 1))
        for k in range(N + 1):
            if k >= grp["expiry_step"]:
                v[:, k] = v[:, k - 1]
                continue
            v[:, k] = _leg_vol(prep, state, k, math.log(grp["strike"]), grp["expiry"] - t[k])
        out.append(v)
    return out


def _leg_vol(
    prep: _h.Prepared, state: Mapping[str, FloatArray], k: int, log_strike: Any, tau: float
) -> FloatArray:
    """The implied vol at step k of the legs of log strike ``log_strike`` (a number or one per
    path) with ``tau`` > 0 years to expiry, on every path."""
    p = prep.params
    n = state["S"].shape[0]
    S = state["S"]

    def surface_vol() -> FloatArray:  # at the log-moneyness ln(K / F(tau)) of the sticky rule
        s0 = np.log(S[:, 0]) if math.isnan(p["surface_spot"]) else math.log(p["surface_spot"])
        ls = np.log(S[:, k]) if p["sticky_moneyness"] else s0
        km = log_strike - (p["rate"] - p["div"]) * tau - ls
        return _surface_vol(prep.position, np.broadcast_to(km, (n,)), tau)

    if _VOL_MODEL[int(p["vol_model"])] == "heston":
        x = p["heston_kappa"] * tau
        frac = 1.0 if x == 0 else -math.expm1(-x) / x
        th = p["heston_theta"]
        v = np.sqrt(np.maximum(th + (state["var"][:, k] - th) * frac, 0.0))
        surface = prep.position.surface()
        if surface is not None and surface.has_smile:
            # the surface's shape: its vol over its ATM-forward vol at tau
            v = v * (surface_vol() / _surface_vol(prep.position, np.zeros(1), tau)[0])
        return np.asarray(v)
    v = surface_vol()
    if prep.vols.size:  # a user ATM series
        v *= prep.vols[k] / prep.vols[0]
    if prep.atm_rows.size:  # one per path
        v *= prep.atm_rows[:, k] / prep.atm_rows[:, 0]
    if p["atm_on"]:
        v *= state["atm"][:, k] / p["atm0"]
    return v


class _Rolls:
    """The roll rule (:class:`gammaext.Roll`) along the paths: each path's strike, expiry and
    expiry step of every group (``legs``), its legs' implied vols at the current step (``vol``)
    and the rolls so far (``count``)."""

    def __init__(self, prep: _h.Prepared, state: Mapping[str, FloatArray]):
        self.prep, self.state, self.p, self.t = prep, state, prep.params, prep.times
        self.groups = _groups(prep)
        n = state["S"].shape[0]
        self.legs = [
            (np.full(n, g["strike"]), np.full(n, g["expiry"]), np.full(n, g["expiry_step"]))
            for g in self.groups
        ]
        self.count = np.zeros(n)
        self.vol = self.vols_at(0, [np.zeros(n)] * len(self.groups))

    def _vols(self, k: int, log_strike: FloatArray, tau: FloatArray) -> FloatArray:
        """_leg_vol with one tau per path (one call per distinct tau)."""
        out = np.empty(tau.size)
        for tu in np.unique(tau):
            sel = tau == tu
            out[sel] = _leg_vol(self.prep, self.state, k, log_strike, float(tu))[sel]
        return out

    def vols_at(self, k: int, prev: list[FloatArray]) -> list[FloatArray]:
        """Each group's vol at step k of the legs held now; a leg not alive keeps prev's."""
        out = []
        for (strike, expiry, step), pv in zip(self.legs, prev):
            alive = k < step
            v = self._vols(k, np.log(strike), np.where(alive, expiry - self.t[k], 1.0))
            out.append(np.where(alive, v, pv))
        return out

    def _unit(self, g: int, k: int, x: FloatArray) -> tuple[FloatArray, FloatArray]:
        """(vega per unit at price x, call delta per unit at price x) of group g's legs at
        step k (0 where they are not alive)."""
        p = self.p
        strike, expiry, step = self.legs[g]
        alive = k < step
        tau = np.where(alive, expiry - self.t[k], 1.0)
        v = np.where(alive, self.vol[g], 1.0)
        d1 = (np.log(x / strike) + (p["rate"] - p["div"] + 0.5 * v**2) * tau) / (v * np.sqrt(tau))
        dq = np.exp(-p["div"] * tau)
        on = alive.astype(float)
        return on * x * dq * norm_pdf(d1) * np.sqrt(tau), on * dq * norm_cdf(d1)

    def roll(self, k: int, S: FloatArray, O: FloatArray) -> FloatArray | None:
        """The rolls at step k (0 < k < N): the legs that expired now (on_expiry) or whose call
        delta per unit at the observed price left [lo, hi] are replaced by the same legs at
        moneyness x O expiring tenor years later (NaN: the group's own moneyness, its strike
        over the spot, and tenor, its expiry). Returns their half-spread (None: no roll)."""
        p, t = self.p, self.t
        cost = np.zeros(S.size)
        rolled = False
        for g, grp in enumerate(self.groups):
            strike, expiry, step = self.legs[g]
            vega_old = self._unit(g, k, S)[0]
            cdelta = self._unit(g, k, O)[1]
            alive = k < step
            out = alive & ((cdelta < p["roll_delta_lo"]) | (cdelta > p["roll_delta_hi"]))
            trig = ((step == k) & bool(p["roll_on_expiry"])) | out
            if not trig.any():
                continue
            rolled = True
            mny = p["roll_moneyness"]
            mny = grp["strike"] / p["spot"] if math.isnan(mny) else mny
            tenor = grp["expiry"] if math.isnan(p["roll_tenor"]) else p["roll_tenor"]
            t1 = t[k] + tenor
            new_step = int(np.searchsorted(t, t1 - p["expiry_tol"], side="left"))
            if new_step < t.size:  # an expiry off the grid is the grid time it settles on
                t1 = t[new_step]
            self.legs[g] = (
                np.where(trig, mny * O, strike),
                np.where(trig, t1, expiry),
                np.where(trig, float(new_step), step),
            )
            tau = np.where(trig, self.legs[g][1] - t[k], 1.0)
            self.vol[g] = np.where(trig, self._vols(k, np.log(self.legs[g][0]), tau), self.vol[g])
            units = abs(grp["qc"]) + abs(grp["qp"])
            vega_new = self._unit(g, k, S)[0]
            cost += np.where(trig, p["roll_half_spread_vol"] * units * (vega_old + vega_new), 0.0)
            self.count += trig
        return cost if rolled else None


def _surface_vol(position: Any, k: FloatArray, tau: float) -> FloatArray:
    """The position's surface at log-moneyness k (an array) and one time to expiry tau > 0."""
    sf = position.surface()
    if sf.kind == "flat":
        return np.full(k.shape, float(sf.params[0]))
    T, kind = sf.expiries, sf.kind

    def w(i: int) -> FloatArray:
        return slice_total_variance(kind, sf.params, sf.k_grid, i, k)

    if tau <= T[0]:
        tv = w(0) * (tau / T[0])
    elif tau >= T[-1]:
        tv = w(T.size - 1) * (tau / T[-1])
    else:
        i = int(np.searchsorted(T, tau, side="right")) - 1
        tv = w(i) + (tau - T[i]) / (T[i + 1] - T[i]) * (w(i + 1) - w(i))
    return np.asarray(np.sqrt(tv / tau))


def _signal_model(
    prep: _h.Prepared, get: Any
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The signal generator (:class:`gammaext.SignalGBM`): (profile V, imbalance I, shocks z),
    each paths x times (z: the shock of step k -> k+1 at column k; its last column unused)."""
    p = prep.params
    n, N = prep.n_paths, prep.times.size - 1
    w = get("price", N + 1, True)
    e = get("signal_noise", N + 1, True)
    V = get("profile", N + 1, False)
    rho = p["signal_rho"]
    if _SIGNAL_KIND[int(p["signal_kind"])] == "imbalance":
        return V, 2 * norm_cdf(rho * w + math.sqrt(1 - rho * rho) * e) - 1, w
    c = get("coin", N + 1, False)
    z = np.empty((n, N + 1))
    for k in range(N + 1):
        prev = w[:, 0] if k == 0 else z[:, k - 1]
        sign_prev = np.where(prev < 0, -1.0, 1.0)
        keep = 0.5 + rho * (0.5 - V[:, k])  # probability that the move continues
        z[:, k] = np.where(c[:, k] < keep, sign_prev, -sign_prev) * np.abs(w[:, k])
    return V, 2 * norm_cdf(e) - 1, z


def generate_signals(
    prep: _h.Prepared, draws: dict[str, FloatArray] | None = None
) -> dict[str, FloatArray]:
    """The signals the rules see, each paths x times: the user's (``prep.signals``, a shared
    row broadcast), the signal generator's, or none."""
    n = prep.n_paths
    if _PATH_KIND[int(prep.params["path_kind"])] == "signals":
        draws = dict(draws or {})

        def get(stream: str, count: int, normal: bool) -> FloatArray:
            if stream not in draws:
                draws[stream] = _draws(prep, stream, count, normal)
            return draws[stream]

        V, I, _ = _signal_model(prep, get)
        return {"profile": V, "imbalance": I}
    return {k: np.broadcast_to(v, (n, v.shape[1])) for k, v in prep.signals.items()}


def _bs(
    S: FloatArray, K: Any, tau: Any, vol: Any, r: float, q: float, is_call: bool
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """Black-Scholes-Merton price, delta, gamma, theta (per year), vega at tau > 0 (K, tau and
    vol: each a number, or one per path)."""
    sq = np.sqrt(tau)
    d1 = (np.log(S / K) + (r - q + 0.5 * vol**2) * tau) / (vol * sq)
    d2 = d1 - vol * sq
    dq, dr = _exp(-q * tau), _exp(-r * tau)
    phi = 1.0 if is_call else -1.0
    price = phi * (S * dq * norm_cdf(phi * d1) - K * dr * norm_cdf(phi * d2))
    delta = phi * dq * norm_cdf(phi * d1)
    gamma = dq * norm_pdf(d1) / (S * vol * sq)
    theta = (
        -S * dq * norm_pdf(d1) * vol / (2 * sq)
        - phi * r * K * dr * norm_cdf(phi * d2)
        + phi * q * S * dq * norm_cdf(phi * d1)
    )
    vega = S * dq * norm_pdf(d1) * sq
    return price, delta, gamma, theta, vega


def _exp(x: Any) -> Any:
    """e^x of a number (the standard library's) or of one per path."""
    return np.exp(x) if isinstance(x, np.ndarray) else math.exp(x)


def _groups(prep: _h.Prepared) -> list[dict[str, float]]:
    """The option groups, one dict per row of ``prep.groups`` (:data:`GROUP_COLUMNS`)."""
    return [dict(zip(_h.GROUP_COLUMNS, map(float, row))) for row in prep.groups]


def _portfolio(
    prep: _h.Prepared, S: FloatArray, k: int, vol: Any, legs: list[Any] | None = None
) -> dict[str, Any]:
    """The portfolio's value and Greeks at step k, the payoff of the groups expiring there, and
    ``wgamma``: the gamma with each group discounted to its own expiry, sum e^{-r tau/2} Gamma
    (the Whalley-Wilmott band's). ``vol``: one for every group (a number or one per path), or
    a list with each group's. ``by_group``: each group's (vega, vanna, volga), quantity
    included (zeros where it is not alive). ``legs`` (the roll rule): each group's (strike,
    expiry, expiry step), one per path, instead of ``prep.groups``'."""
    p = prep.params
    t = prep.times[k]
    names = ("value", "delta", "gamma", "theta", "vega", "vanna", "volga", "pay", "wgamma")
    out: dict[str, Any] = {name: np.zeros_like(S) for name in names}
    out["by_group"] = []
    for gi, grp in enumerate(_groups(prep)):
        gvol = vol[gi] if isinstance(vol, list) else vol
        zero = np.zeros_like(S)
        out["by_group"].append((zero, zero, zero))
        strike, expiry, qc, qp = grp["strike"], grp["expiry"], grp["qc"], grp["qp"]
        step: Any = int(grp["expiry_step"])
        tau = expiry - t
        on: Any = 1.0  # 1 where alive (x 1.0 is exact)
        if legs is not None:  # per path; Greeks at any tau > 0 where not alive, times 0
            strike, expiry, step = legs[gi]
            on = (k < step).astype(float)
            tau = np.where(k < step, expiry - t, 1.0)
            gvol = np.where(k < step, gvol, 1.0)
        paid = qc * np.maximum(S - strike, 0) + qp * np.maximum(strike - S, 0)
        out["pay"] += np.where(k == step, paid, 0.0)
        if not np.any(k < step):
            continue
        for qty, is_call in ((qc, True), (qp, False)):
            if qty == 0:
                continue
            v, d, g, th, vg = _bs(S, strike, tau, gvol, p["rate"], p["div"], is_call)
            out["value"] += on * qty * v
            out["delta"] += on * qty * d
            out["gamma"] += on * qty * g
            out["wgamma"] += on * _exp(-0.5 * p["rate"] * tau) * qty * g
            out["theta"] += on * qty * th
            out["vega"] += on * qty * vg
        # vanna = -dq phi(d1) d2 / vol, volga = vega d1 d2 / vol: the same for calls and puts
        sq = np.sqrt(tau)
        d1 = (np.log(S / strike) + (p["rate"] - p["div"] + 0.5 * gvol**2) * tau) / (gvol * sq)
        d2 = d1 - gvol * sq
        dq = _exp(-p["div"] * tau)
        q = qc + qp
        vega = on * q * S * dq * norm_pdf(d1) * sq
        vanna = -on * q * dq * norm_pdf(d1) * d2 / gvol
        volga = vega * d1 * d2 / gvol
        out["vanna"] += vanna
        out["volga"] += volga
        out["by_group"][-1] = (vega, vanna, volga)
    return out


class _RuleState:
    """One rule's state along the paths (last hedge price, steps since, ATR, EWMA variance) and
    its decision at each step: the engine's ``decide``."""

    def __init__(
        self,
        p: Mapping[str, float],
        t: FloatArray,
        o0: FloatArray,
        iv0: Any,
        signals: Mapping[str, FloatArray],
    ):
        """``iv0``: the gate's implied vol at time 0 (the EWMA variance starts at its square)."""
        self.p, self.t, self.signals = p, t, signals
        n = o0.size
        self.last = o0.copy()
        self.since = np.zeros(n)
        self.atr = np.zeros(n)
        self.hv = np.broadcast_to(np.asarray(iv0, dtype=float) ** 2, (n,)).copy()
        self.L = int(p["atr_length"])
        self.er_n = int(p["er_length"])
        self.band_kind = _BAND_KIND[int(p["band_kind"])]

    def _update(self, k1: int, O: FloatArray) -> None:
        """The state's per-step updates (ATR on observed closes, EWMA of squared returns)."""
        p, o, prev = self.p, O[:, k1], O[:, k1 - 1]
        self.since += 1
        if p["atr_mult"] > 0:
            tr = np.abs(o - prev)
            if k1 < self.L:
                self.atr = self.atr + tr
            elif k1 == self.L:
                self.atr = (self.atr + tr) / self.L
            else:
                self.atr = self.atr + (tr - self.atr) / self.L
        if p["gate"]:
            lr = np.log(o / prev)
            dt = self.t[k1] - self.t[k1 - 1]
            self.hv = (1 - p["gate_alpha"]) * self.hv + p["gate_alpha"] / dt * lr * lr

    def _band(self, k1: int, O: FloatArray, wgam: FloatArray, net: FloatArray) -> FloatArray:
        p, o, n = self.p, O[:, k1], O.shape[0]
        if self.band_kind == "fixed":
            return np.full(n, p["band"])
        if self.band_kind == "trend":
            w = min(self.er_n, k1)
            path_len = np.abs(np.diff(O[:, k1 - w : k1 + 1], axis=1)).sum(axis=1)
            num = np.abs(o - O[:, k1 - w])
            er = np.where(path_len > 0, num / np.where(path_len > 0, path_len, 1), 0.0)
            return p["band"] * (1 + p["er_widen"] * er)
        if self.band_kind == "whalley_wilmott":  # wgam: each group discounted to its expiry
            return np.cbrt(1.5 * p["ww_cost"] / p["ww_risk_aversion"] * o * wgam**2)
        if self.band_kind == "profile":  # narrower at high-volume levels, wider in thin zones
            return p["band"] * (1 + p["signal_strength"] * (1 - 2 * self.signals["profile"][:, k1]))
        if self.band_kind == "imbalance":  # wider on the net delta's side if it predicts more
            side = np.sign(net)
            return p["band"] * (1 + p["signal_strength"] * self.signals["imbalance"][:, k1] * side)
        return np.full(n, math.nan)

    def decide(
        self, k1: int, O: FloatArray, net: FloatArray, wgam: FloatArray, iv: Any
    ) -> tuple[FloatArray, npt.NDArray[np.bool_], FloatArray]:
        """(trade quantity, triggered, band) at step k1 for the net delta ``net`` (``wgam``: the
        trader's discounted gamma, for the Whalley-Wilmott band; ``iv``: the implied vol the
        vol gate compares realized vol with, the shared one or per path the first leg's
        current mark vol)."""
        p, o, n = self.p, O[:, k1], O.shape[0]
        self._update(k1, O)
        band = self._band(k1, O, wgam, net)
        none = np.zeros(n, bool)
        t_every = p["every"] > 0 and k1 % int(p["every"]) == 0
        t_move = (np.abs(o - self.last) >= p["move"] * self.last) if p["move"] > 0 else none
        if p["atr_mult"] > 0 and k1 >= self.L:
            ref = self.last if p["atr_from_last"] else O[:, k1 - 1]
            t_atr = np.abs(o - ref) > p["atr_mult"] * self.atr
        else:
            t_atr = none
        t_band = (np.abs(net) > band) if self.band_kind != "none" else none
        if p["gate"]:
            lo, hi = (p["gate_min"] * iv) ** 2, (p["gate_max"] * iv) ** 2
            open_ = (self.hv >= lo) & (self.hv <= hi)
        else:
            open_ = np.ones(n, bool)
        t_max = (self.since >= p["max_interval"]) if p["max_interval"] > 0 else none
        edge_mode = bool(p["band_to_edge"])
        full = (open_ & (t_every | t_move | t_atr | (t_band & (not edge_mode)))) | t_max
        edge = ~full & open_ & t_band & edge_mode
        target = np.where(full, 0.0, np.where(net > 0, band, -band))
        trig = full | edge
        self.last = np.where(trig, o, self.last)
        self.since = np.where(trig, 0.0, self.since)
        return np.where(trig, target - net, 0.0), trig, band


def hedge_paths(
    prep: _h.Prepared,
    S: FloatArray,
    O: FloatArray,
    trace: int | None = None,
    signals: Mapping[str, FloatArray] | None = None,
    leg_vols: list[FloatArray] | None = None,
    state: Mapping[str, FloatArray] | None = None,
) -> dict[str, Any]:
    """Hedge along true prices ``S`` and observed prices ``O`` (both paths x times), with the
    signals of the dynamic bands (paths x times, :func:`generate_signals`) if a rule needs them,
    and each group's implied vol along the paths (:func:`leg_vols`) when the legs have their
    own. With a roll rule the legs' vols follow the rolls: they come from the generators'
    ``state`` (:func:`generate_state`; S alone is enough for a surface without ``atm``).

    Returns the per-path fields of :data:`gammaext.hedging.HEDGE_FIELDS` (and, if ``trace`` is
    a row number, ``"trace"``: per-step band widths and trades of that row).
    """
    p = prep.params
    t = prep.times
    N = t.size - 1
    n = S.shape[0]
    r, q = p["rate"], p["div"]
    # implied vol at each time: the path if given, else the constant
    vols = prep.vols if prep.vols.size else np.full(t.size, p["vol"])
    hvol = p["hedge_vol"]  # NaN: hedge at the implied vol
    groups = _groups(prep)
    units = sum(abs(grp["qc"]) for grp in groups) + sum(abs(grp["qp"]) for grp in groups)
    bps = (p["cost_bps"] + p["half_spread_bps"]) * 1e-4
    impact = p["impact_bps"] * 1e-4 / units if units > 0 else 0.0
    # fills and stock marks: around the efficient price (quotes), or the observed one (research)
    PX = O if p["fill_observed"] else S
    LS = np.log(S)
    latency = int(p["latency"])
    orders = np.zeros((max(latency, 1), n))  # ring of orders in flight
    pend = np.zeros(n)
    noisy = _NOISE_KIND[int(p["noise_kind"])] != "none"

    acc = {
        name: np.zeros(n)
        for name in (
            *(part for part in _h.PNL_PARTS if part != "residual"),  # the residual is derived
            "rebalances",
            "traded",
            "turnover",
            "rv",
        )
    }
    h = np.zeros(n)
    cash = np.zeros(n)

    def trade(qty: FloatArray, k: int, pay: bool) -> None:
        """Fills at step k: a buy at the ask, a sell at the bid around PX (the quoted
        half-spread widened by spread_vol |d ln S|), plus commission, fixed fee and impact."""
        nonlocal cash, h
        price = PX[:, k]
        qty = np.where(np.abs(qty) > 1e-12 * units, qty, 0.0)  # rounding noise is not a trade
        move = np.abs(LS[:, k] - LS[:, k - 1]) if k > 0 else np.zeros(n)
        rel = bps + p["spread_vol"] * move + impact * np.abs(qty)
        cost = (
            np.where(
                qty != 0,
                np.abs(qty) * price * rel + np.abs(qty) * p["half_spread"] + p["fixed_cost"],
                0.0,
            )
            if pay
            else np.zeros(n)
        )
        cash = cash - (qty * price + cost)
        h = h + qty
        acc["costs"] -= cost
        acc["traded"] += np.abs(qty)
        acc["turnover"] += np.abs(qty) * price

    HV = _realized_hedge_vols(p, t, O, vols) if p["hedge_vol_kind"] else None
    rolls = _Rolls(prep, state or {"S": S}) if p["roll_on"] else None
    LV = leg_vols
    per_leg = LV is not None or rolls is not None

    def greeks(k: int) -> tuple[dict[str, Any], dict[str, Any], Any]:
        """The marks (efficient price, implied vol), the trader's Greeks (observed price, hedge
        vol: given, or realized so far; with per-leg vols, each leg's own implied where the
        hedge vol is the implied one; the marks themselves when those are the same) and that
        hedge vol (None: the marks')."""
        legs = None
        if rolls is not None:
            mark_vol: Any = list(rolls.vol)
            legs = rolls.legs
        else:
            mark_vol = vols[k] if LV is None else [v[:, k] for v in LV]
        m = _portfolio(prep, S[:, k], k, mark_vol, legs)
        same_vol = math.isnan(hvol) or (not per_leg and hvol == vols[k])
        if HV is None and same_vol and not noisy:
            return m, m, None
        hv: Any
        if HV is not None and (not per_leg or k >= int(p["hedge_vol_warmup"])):
            hv = HV[:, k]
        elif math.isnan(hvol) or HV is not None:
            hv = mark_vol
        else:
            hv = hvol
        return m, _portfolio(prep, O[:, k], k, hv, legs), hv

    def hedge_option(k: int) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Step k's option hedge (after greeks(k)): its held quantity joins the marks and the
        trader's Greeks, then its trade; (hedge delta, discounted gamma, paid, cost)."""
        assert oh is not None
        oh.mark(m, S[:, k], k)
        view = oh.view(m, tg, O[:, k], k, hv)
        if noisy and not p["oh_gamma"]:  # the legs' vega at the observed price
            assert LV is not None  # (the option hedge needs per-leg vols)
            vega = _portfolio(prep, O[:, k], k, [v[:, k] for v in LV])["by_group"]
        else:
            vega = m["by_group"]
        paid, cost = oh.trade(m, view, sum((vg for vg, _, _ in vega[:-1]), np.zeros(n)), k, N)
        return view["hdel"], view["wgam"], paid, cost

    oh = _OptionHedge(prep, LV) if p["oh_on"] else None
    m, tg, hv = greeks(0)
    hdel, wgam = tg["delta"], tg["wgamma"]
    oh_cost = np.zeros(n)
    if oh is not None:  # the hedge option: bought at its model value (in m) plus its spread
        hdel, wgam, _, oh_cost = hedge_option(0)
    spread = p["option_half_spread"] * units
    cash = -m["value"] - spread - oh_cost
    acc["costs"] -= spread + oh_cost
    if p["initial_hedge"]:
        trade(-hdel, 0, bool(p["entry_costs"]))
    pnl0 = cash + h * PX[:, 0] + m["value"]
    peak = np.zeros(n)
    maxdd = np.maximum(-pnl0, 0.0)

    def gate_vol(k: int) -> Any:
        """The first leg's current mark vol (the rolled-in leg's after a roll), or the shared
        implied vol: what the engine's vol gate reads."""
        if rolls is not None:
            return rolls.vol[0]
        return vols[k] if LV is None else LV[0][:, k]

    rule = _RuleState(p, t, O[:, 0], gate_vol(0), signals or {})

    trace_rows: dict[str, list[float]] = {"band": [math.nan], "trade": []}

    for k in range(N):
        dt = t[k + 1] - t[k]
        if p["financing"]:
            fin = cash * math.expm1(r * dt) + h * PX[:, k] * math.expm1(q * dt)
        else:
            fin = np.zeros(n)
        cash = cash + fin
        acc["financing"] += fin
        dS = S[:, k + 1] - S[:, k]
        acc["gamma"] += 0.5 * m["gamma"] * dS * dS
        acc["theta"] += m["theta"] * dt
        dvol = vols[k + 1] - vols[k] if LV is None else 0.0  # per-leg vols: below
        acc["vega"] += m["vega"] * dvol
        acc["vanna"] += m["vanna"] * dS * dvol
        acc["volga"] += 0.5 * m["volga"] * dvol * dvol
        if rolls is not None:  # the legs held now, at k + 1
            nxt = rolls.vols_at(k + 1, rolls.vol)
            dvs = [b - a for a, b in zip(rolls.vol, nxt)]
            rolls.vol = nxt
        else:
            dvs = [lv[:, k + 1] - lv[:, k] for lv in LV or []]
        for (vg, va, vo), dv in zip(m["by_group"], dvs):
            acc["vega"] += vg * dv
            acc["vanna"] += va * dS * dv
            acc["volga"] += 0.5 * vo * dv * dv
        acc["hedge"] += m["delta"] * dS + h * (PX[:, k + 1] - PX[:, k])
        acc["rv"] += np.log(O[:, k + 1] / O[:, k]) ** 2
        k1 = k + 1
        m, tg, hv = greeks(k1)
        hdel, wgam = tg["delta"], tg["wgamma"]
        cash = cash + m["pay"]
        roll_cost = rolls.roll(k1, S[:, k1], O[:, k1]) if rolls is not None and k1 < N else None
        if roll_cost is not None:  # old legs sold, new ones bought, at their marks
            value = m["value"]
            m, tg, hv = greeks(k1)
            hdel, wgam = tg["delta"], tg["wgamma"]
            cash = cash + value - m["value"] - roll_cost
            acc["costs"] -= roll_cost
        if oh is not None:  # the old quantity at the new marks, then this step's trade
            hdel, wgam, paid, cost = hedge_option(k1)
            cash = cash - paid - cost
            acc["costs"] -= cost
        if k1 < N:
            if latency:  # the order decided L steps ago fills now; this one waits
                slot = k1 % latency
                trade(orders[slot], k1, True)
                pend = pend - orders[slot]
            qty, trig, band = rule.decide(k1, O, hdel + h + pend, wgam, gate_vol(k1))
            if latency:
                orders[slot] = qty
                pend = pend + qty
            else:
                trade(qty, k1, True)
            acc["rebalances"] += trig
            if trace is not None:
                trace_rows["band"].append(float(band[trace]))
                trace_rows["trade"].append(float(qty[trace]))
        else:
            pend = np.zeros(n)  # orders in flight are cancelled
            trade(-h, k1, bool(p["exit_costs"]))
            alive_units: Any = sum(
                abs(grp["qc"]) + abs(grp["qp"]) for grp in groups if N < grp["expiry_step"]
            )
            if rolls is not None:
                alive_units = sum(
                    (abs(grp["qc"]) + abs(grp["qp"])) * (N < leg[2])
                    for grp, leg in zip(groups, rolls.legs)
                )
            exit_spread: Any = p["option_half_spread"] * alive_units if p["close_options"] else 0.0
            if oh is not None and p["close_options"]:  # the hedge option is sold at its bid
                exit_spread = exit_spread + oh.exit_cost()
            cash = cash + m["value"] - exit_spread
            acc["costs"] -= exit_spread
            m["value"] = np.zeros(n)
        pnl = cash + h * PX[:, k1] + m["value"]
        peak = np.maximum(peak, pnl)
        maxdd = np.maximum(maxdd, peak - pnl)

    rolled = rolls.count if rolls is not None else np.zeros(n)
    out = _outputs(acc, cash, maxdd, t[-1], S[:, -1], rolled)
    if trace is not None:
        out["trace"] = trace_rows
    return out


class _OptionHedge:
    """The option as second hedge instrument (the last group of ``prep.groups``, held
    quantity 0 in the book): its quantity per path, its Greeks per unit at its own vol, and
    its trades to the vega- (or gamma-) neutral quantity every ``oh_every`` steps (with
    ``oh_band``: only where the whole book's vega or gamma is beyond it)."""

    def __init__(self, prep: _h.Prepared, LV: list[FloatArray] | None):
        assert LV is not None
        self.p, self.t, self.vol = prep.params, prep.times, LV[-1]
        grp = _groups(prep)[-1]
        self.strike, self.expiry = grp["strike"], grp["expiry"]
        self.units = sum(abs(g["qc"]) + abs(g["qp"]) for g in _groups(prep))
        self.qh = np.zeros(self.vol.shape[0])
        self.unit: dict[str, FloatArray] = {}

    def _greeks(self, S: FloatArray, k: int, v: Any) -> dict[str, FloatArray]:
        p = self.p
        r, q, tau = p["rate"], p["div"], self.expiry - self.t[k]
        price, delta, gamma, theta, vega = _bs(S, self.strike, tau, v, r, q, bool(p["oh_is_call"]))
        return dict(value=price, delta=delta, gamma=gamma, theta=theta, vega=vega,
                    wdisc=np.full_like(S, math.exp(-0.5 * r * tau)))

    def mark(self, m: dict[str, Any], S: FloatArray, k: int) -> None:
        """Adds the held quantity at step k's marks into m (and its vol Greeks slot)."""
        v = self.vol[:, k]
        u = self._greeks(S, k, v)
        r, q, tau = self.p["rate"], self.p["div"], self.expiry - self.t[k]
        d1 = (np.log(S / self.strike) + (r - q + 0.5 * v**2) * tau) / (v * math.sqrt(tau))
        d2 = d1 - v * math.sqrt(tau)
        u["vanna"] = -math.exp(-q * tau) * norm_pdf(d1) * d2 / v
        u["volga"] = u["vega"] * d1 * d2 / v
        self.unit = u
        self._add(m, self.qh)

    def view(
        self, m: dict[str, Any], tg: dict[str, Any], O: FloatArray, k: int, hv: Any
    ) -> dict[str, Any]:
        """The trader's view at step k (after mark): the option's delta and gamma per unit at
        the observed price and hedge vol ``hv`` (the legs' list: its own; None: the marks),
        its vega per unit at the observed price and its implied vol, and the whole book's
        hedge delta, gamma and discounted gamma, the held quantity included."""
        u = self.unit
        if hv is None:
            return dict(marks=True, delta=u["delta"], gamma=u["gamma"], vega=u["vega"],
                        legs_gamma=m["gamma"] - self.qh * u["gamma"], hdel=m["delta"],
                        wgam=m["wgamma"])
        own = self._greeks(O, k, hv[-1] if isinstance(hv, list) else hv)
        vega = self._greeks(O, k, self.vol[:, k])["vega"]
        return dict(marks=False, delta=own["delta"], gamma=own["gamma"], vega=vega,
                    legs_gamma=tg["gamma"],
                    hdel=tg["delta"] + self.qh * own["delta"],
                    wgam=tg["wgamma"] + self.qh * u["wdisc"] * own["gamma"])

    def _add(self, m: dict[str, Any], qty: FloatArray) -> None:
        u = self.unit
        for name in ("value", "delta", "gamma", "theta"):
            m[name] = m[name] + qty * u[name]
        m["wgamma"] = m["wgamma"] + qty * u["wdisc"] * u["gamma"]
        m["by_group"][-1] = (self.qh * u["vega"], self.qh * u["vanna"], self.qh * u["volga"])

    def trade(
        self, m: dict[str, Any], view: dict[str, Any], legs_vega: FloatArray, k: int, N: int
    ) -> tuple[FloatArray, FloatArray]:
        """Step k's trade (on its clock before the horizon, and beyond its band) on the
        trader's view: (paid at model value, cost); the view's hedge delta and gamma take it."""
        p, u = self.p, self.unit
        zero = np.zeros_like(self.qh)
        if k >= N or k % int(p["oh_every"]) != 0:
            return zero, zero
        if p["oh_gamma"]:
            book, unit = view["legs_gamma"], view["gamma"]
        else:
            book, unit = legs_vega, view["vega"]
        band = p["oh_band"] * self.units
        go = (unit > 0) & ((band == 0) | (np.abs(book + self.qh * unit) > band))
        with np.errstate(divide="ignore", invalid="ignore"):
            target = np.where(go, -book / unit, self.qh)
        qty = target - self.qh
        self.qh = target
        self._add(m, qty)
        if view["marks"]:
            view["hdel"], view["wgam"] = m["delta"], m["wgamma"]
        else:
            view["hdel"] = view["hdel"] + qty * view["delta"]
            view["wgam"] = view["wgam"] + qty * u["wdisc"] * view["gamma"]
        return qty * u["value"], np.abs(qty) * p["oh_half_spread_vol"] * u["vega"]

    def exit_cost(self) -> FloatArray:
        return np.abs(self.qh) * self.p["oh_half_spread_vol"] * self.unit["vega"]


def _realized_hedge_vols(
    p: Mapping[str, float], t: FloatArray, O: FloatArray, vols: FloatArray
) -> FloatArray:
    """The realized hedge vol of every path at every step (paths x times): the implied vol for
    the first ``hedge_vol_warmup`` steps, then the EWMA (half-life ``hedge_vol_length`` steps,
    normalised by its weights) or the window mean of x = (d ln O)^2 / dt, square-rooted and
    floored at ``hedge_vol_floor``."""
    n, N = O.shape[0], t.size - 1
    x = np.log(O[:, 1:] / O[:, :-1]) ** 2 / np.diff(t)
    kind = _HEDGE_VOL_KIND[int(p["hedge_vol_kind"])]
    length, warmup = p["hedge_vol_length"], int(min(p["hedge_vol_warmup"], N + 1))
    a = -math.expm1(-math.log(2.0) / length) if kind == "ewma" else 0.0
    window = max(1, min(int(length), N))
    out = np.empty((n, N + 1))
    s, w = np.zeros(n), 0.0
    for k in range(N + 1):
        if k > 0 and kind == "ewma":
            s = (1 - a) * s + a * x[:, k - 1]
            w = (1 - a) * w + a
        elif k > 0:
            m = min(window, k)
            s, w = x[:, k - m : k].sum(axis=1), float(m)
        out[:, k] = vols[k] if k < warmup else np.maximum(np.sqrt(s / w), p["hedge_vol_floor"])
    return out


def _outputs(
    acc: Mapping[str, FloatArray], cash: FloatArray, maxdd: FloatArray, horizon: float,
    final_spot: FloatArray, rolls: FloatArray,
) -> dict[str, Any]:
    """The per-path fields of HEDGE_FIELDS from the accumulated parts."""
    named = ("gamma", "theta", "vega", "vanna", "volga", "hedge", "financing", "costs")
    parts = sum((acc[f] for f in named), np.zeros_like(cash))
    return {
        "pnl": cash,
        **{f: acc[f] for f in named},
        "residual": cash - parts,
        **{f: acc[f] for f in ("rebalances", "traded", "turnover")},
        "realized_vol": np.sqrt(acc["rv"] / horizon),
        "max_drawdown": maxdd,
        "final_spot": final_spot.copy(),
        "rolls": rolls,
    }


def simulate_hedge(
    paths: Any = None, *, draws: dict[str, FloatArray] | None = None, **kwargs: Any
) -> dict[str, Any]:
    """Same arguments as :func:`gammaext.simulate_hedge` (no ``trace``/``threads``), plus
    optional ``draws`` to replace the engine's random numbers. Returns a dict of arrays."""
    prep = _h.prepare(paths, **kwargs)
    draws = dict(draws or {})
    state = generate_state(prep, draws)
    return hedge_paths(
        prep,
        state["S"],
        state["O"],
        signals=generate_signals(prep, draws),
        leg_vols=leg_vols(prep, state),
        state=state,
    )
