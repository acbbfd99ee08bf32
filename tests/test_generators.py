"""Moments of each path generator against closed forms, independent of the NumPy reference.

The engine-vs-reference tests share their random draws, so a mistake made in both (a wrong
Merton compensator, say) would pass them. Here each generator's paths (final spots, or the
traced spots) are compared with what the model says, with tolerances of TOL standard errors:
each check of a correct generator fails with probability below 1e-6, whatever the seed. The
seeds are fixed; GAMMAEXT_MOMENT_SEED=N reruns the file with others.
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
from scipy import stats

import gammaext as g

SEED = int(os.environ.get("GAMMAEXT_MOMENT_SEED", "1"))
TOL = 5.0  # standard errors: two-sided P(|Z| > 5) = 6e-7
DRIFT = 0.03  # drift = rate - div: E[S_T] = S_0 e^{drift T} under the pricing measure


def final_spots(gen, n_paths, n_steps, dt, seed=SEED):
    """S_T / S_0 of n_paths paths (the options are held unhedged: only the path matters)."""
    res = g.simulate_hedge(gen, rule=g.Never(), n_paths=n_paths, n_steps=n_steps, dt=dt, seed=seed)
    return res.final_spot / gen.spot


def assert_mean(x, expected, what):
    se = np.std(x, ddof=1) / math.sqrt(x.size)
    z = (np.mean(x) - expected) / se
    assert abs(z) < TOL, f"{what}: mean {np.mean(x):.6g} +- {se:.2g}, expected {expected:.6g}"


# -------------------------------------------------------------------------------- E[S_T]

HESTON = g.Heston(v0=0.16, kappa=3.0, theta=0.04, xi=1.0, rho=-0.7, drift=DRIFT)

MARTINGALE_CASES = [
    pytest.param(g.GBM(vol=0.3, drift=DRIFT), 12, 1 / 12, id="gbm"),
    pytest.param(g.GBM(vol=0.3, drift=DRIFT), 1, 2.0, id="gbm-one-step"),
    pytest.param(HESTON, 52, 1 / 52, id="heston-weekly"),
    # kappa dt = 0.75: without Andersen's martingale correction E[S_T]/S_0 was 0.5% low
    # (about -10 standard errors here)
    pytest.param(HESTON, 4, 0.25, id="heston-quarterly"),
    # The compensator lambda (e^{m + s^2/2} - 1) is -0.42 a year here: leaving it out, or
    # getting its sign or the s^2/2 wrong, moves E[S_T] by far more than the tolerance.
    pytest.param(
        g.Merton(vol=0.2, intensity=5.0, jump_mean=-0.1, jump_std=0.15, drift=DRIFT),
        50,
        1 / 50,
        id="merton",
    ),
    pytest.param(
        g.Merton(vol=0.1, intensity=30.0, jump_mean=0.02, jump_std=0.05, drift=DRIFT),
        40,
        1 / 40,
        id="merton-frequent-jumps",
    ),
    # intensity x dt = 12: many jumps per step (once refused, now drawn from the full CDF)
    pytest.param(
        g.Merton(vol=0.1, intensity=48.0, jump_mean=-0.01, jump_std=0.03, drift=DRIFT),
        4,
        0.25,
        id="merton-coarse-grid",
    ),
]


@pytest.mark.parametrize("gen,n_steps,dt", MARTINGALE_CASES)
def test_expected_final_spot(gen, n_steps, dt):
    s = final_spots(gen, 400_000, n_steps, dt)
    assert_mean(s, math.exp(DRIFT * n_steps * dt), "S_T / S_0")


def test_gbm_log_moments():
    vol, t = 0.3, 1.0
    x = np.log(final_spots(g.GBM(vol=vol, drift=DRIFT), 200_000, 12, t / 12))
    assert_mean(x, (DRIFT - vol**2 / 2) * t, "ln S_T / S_0")
    # Var of the sample variance of normals: 2 sigma^4 / (n - 1).
    var = vol**2 * t
    assert abs(np.var(x, ddof=1) - var) < TOL * var * math.sqrt(2 / (x.size - 1))


# ------------------------------------------------------------------------------ Heston v_t


def heston_mean_variance(h, t):
    """E[v_t] = theta + (v_0 - theta) e^{-kappa t}: exact for the QE scheme too, at any step,
    since both of its branches match the conditional mean of the variance (Andersen 2008)."""
    return h.theta + (h.v0 - h.theta) * math.exp(-h.kappa * t)


@pytest.mark.parametrize("n_steps", [1, 8], ids=["one-step", "eight-steps"])
def test_heston_expected_variance(n_steps):
    """With rho = 0 the central log step of the scheme (Andersen eq. 33) is
    ``ln S_{k+1}/S_k = drift dt - (v_k + v_{k+1}) dt / 4 + sqrt((v_k + v_{k+1}) dt / 2) Z`` with
    Z independent of the variances, so ``E[ln S_T/S_0] = drift T - dt/4 sum_k (E v_k + E v_k+1)``:
    the log-price mean measures E[v] along the path. In one step of length T it gives E[v_T]
    itself: ``E[v_T] = 4 (drift T - E[ln S_T/S_0]) / T - v_0``."""
    h = g.Heston(v0=0.25, kappa=2.0, theta=0.04, xi=0.6, rho=0.0, drift=DRIFT)
    t = 1.0
    dt = t / n_steps
    x = np.log(final_spots(h, 1_000_000, n_steps, dt))
    ev = [heston_mean_variance(h, k * dt) for k in range(n_steps + 1)]
    expected = DRIFT * t - dt / 4 * sum(a + b for a, b in zip(ev, ev[1:]))
    assert_mean(x, expected, "ln S_T / S_0")
    if n_steps == 1:
        v_t = 4 * (DRIFT * t - x) / t - h.v0  # per path, its mean is E[v_T]
        assert_mean(v_t, ev[-1], "v_T")
        # Not theta (no mean reversion) nor v_0 (no variance step): both are > 10 SE away.
        se = np.std(v_t, ddof=1) / math.sqrt(x.size)
        assert min(abs(np.mean(v_t) - h.theta), abs(np.mean(v_t) - h.v0)) > 2 * TOL * se


# ------------------------------------------------------------------------------ Merton jumps


@pytest.mark.parametrize("lam,n_steps,dt", [(30.0, 20, 1 / 50), (60.0, 2, 0.2)],
                         ids=["fine", "coarse-12-per-step"])
def test_merton_jump_counts_are_poisson(lam, n_steps, dt):
    """With no diffusion and fixed jump sizes (jump_std = 0) the log return of a path is
    ``(drift - lambda kbar) T + N_T m``: the number of jumps N_T is read off exactly, and it must
    be Poisson(lambda T) (the engine draws Poisson(lambda dt) per step from its CDF, to
    m + 12 sqrt(m) + 16 terms, so also many jumps per step on a coarse grid)."""
    m = 0.05
    gen = g.Merton(vol=0.0, intensity=lam, jump_mean=m, jump_std=0.0, drift=DRIFT)
    t = n_steps * dt
    kbar = math.expm1(m)
    x = np.log(final_spots(gen, 200_000, n_steps, dt))
    counts_f = (x - (DRIFT - lam * kbar) * t) / m
    counts = np.rint(counts_f)
    assert np.abs(counts_f - counts).max() < 1e-6  # whole numbers of jumps
    mu = lam * t
    assert_mean(counts, mu, "N_T")
    # Var of the sample variance of a Poisson(mu): (mu + 2 mu^2) / n (fourth central moment
    # mu + 3 mu^2).
    assert abs(np.var(counts, ddof=1) - mu) < TOL * math.sqrt((mu + 2 * mu**2) / counts.size)
    # The whole distribution: a chi-square test over the counts with expected frequency >= 50.
    k = np.arange(int(counts.max()) + 1)
    expected = stats.poisson.pmf(k, mu) * counts.size
    observed = np.bincount(counts.astype(np.int64), minlength=k.size)
    keep = expected >= 50
    obs = np.append(observed[keep], observed[~keep].sum())
    exp = np.append(expected[keep], counts.size - expected[keep].sum())
    chi2 = float(((obs - exp) ** 2 / exp).sum())
    assert stats.chi2.sf(chi2, obs.size - 1) > 1e-6, chi2


# ------------------------------------------------------------------------ scenario generators


def test_scenarios_follow_their_formulas():
    """Oscillation and Trend: the log price is the formula plus an independent Brownian noise,
    so E[ln S_T/S_0] is the formula's value at T."""
    n_steps, dt = 30, 1 / 252
    osc = g.Oscillation(amplitude=0.03, period=7.0, noise=0.2)
    x = np.log(final_spots(osc, 100_000, n_steps, dt))
    assert_mean(x, osc.amplitude * math.sin(2 * math.pi * n_steps / osc.period), "oscillation")
    trend = g.Trend(total_return=0.25, noise=0.3)
    x = np.log(final_spots(trend, 100_000, n_steps, dt))
    assert_mean(x, math.log1p(trend.total_return), "trend")
    # Without noise every path is the formula itself.
    res = g.simulate_hedge(
        g.Oscillation(amplitude=0.03, period=7.0),
        rule=g.Never(),
        n_paths=2,
        n_steps=n_steps,
        dt=dt,
        trace=[1],
    )
    k = np.arange(n_steps + 1)
    want = 100.0 * np.exp(0.03 * np.sin(2 * math.pi * k / 7.0))
    np.testing.assert_allclose(res.trace[1]["spot"], want, rtol=1e-14)


# ------------------------------------------------------------------------------- bootstrap


def test_bootstrap_blocks():
    """Circular block bootstrap (Politis & Romano 1992): each block of ``block`` steps replays
    consecutive historical returns (wrapping around the end) from a uniformly drawn start."""
    n_hist, block, n_steps, n_paths = 40, 6, 24, 5_000
    # Distinct returns, far apart, so that each step's return names its position.
    returns = 0.001 * (np.arange(n_hist) - n_hist / 2 + 0.5)
    gen = g.Bootstrap(returns=returns, block=block)
    res = g.simulate_hedge(
        gen,
        rule=g.Never(),
        n_paths=n_paths,
        n_steps=n_steps,
        dt=1 / 252,
        seed=SEED,
        trace=range(n_paths),
    )
    spots = np.array([res.trace[i]["spot"] for i in range(n_paths)])
    steps = np.diff(np.log(spots), axis=1)
    pos = np.rint((steps / 0.001) + n_hist / 2 - 0.5).astype(np.int64)
    np.testing.assert_allclose(returns[pos], steps, rtol=0, atol=1e-12)
    # Inside a block the positions follow one another, around the end.
    starts = np.arange(0, n_steps, block)
    inner = np.setdiff1d(np.arange(1, n_steps), starts)
    np.testing.assert_array_equal(pos[:, inner], (pos[:, inner - 1] + 1) % n_hist)
    # The block starts are uniform over the positions (chi-square, 200 expected per cell) and
    # independent of one another: successive starts of a path agree as often as chance says.
    first = pos[:, starts]
    counts = np.bincount(first.ravel(), minlength=n_hist)
    assert stats.chisquare(counts).pvalue > 1e-6
    same = (first[:, 1:] == first[:, :-1]).ravel()
    p = 1 / n_hist
    assert abs(same.mean() - p) < TOL * math.sqrt(p * (1 - p) / same.size)
    # Every step's return is uniform over the history: E[ln S_T/S_0] = n_steps mean(returns).
    assert_mean(np.log(spots[:, -1] / spots[:, 0]), n_steps * returns.mean(), "ln S_T / S_0")
