"""Implied-vol dynamics: the joint GBM + OU log-ATM-vol generator (against the NumPy reference
on the engine's own draws, its moments and correlation, bit-identity across threads and
chunks), sticky strike and sticky moneyness, and Heston's expected-average-variance vol."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from gammaext.hedging import random_draws
from gammaext.reference import surface as ref
from gammaext.surface import SVI, VolSurface
from gammaext.vol_dynamics import StochasticAtmVol, heston_implied_vol, sticky_vols

PROC = StochasticAtmVol(atm0=0.2, level=0.3, kappa=3.0, xi=0.8, rho=-0.7)
TIMES = np.linspace(0.0, 1.0, 253)


@pytest.mark.parametrize(
    "proc", [PROC, StochasticAtmVol(0.25, 0.25, 0.0, 0.5, 0.3)], ids=["ou", "kappa0"]
)
def test_matches_reference_on_the_engines_draws(proc: StochasticAtmVol, isa: int) -> None:
    n, seed = 37, 11  # not a multiple of the kernel's 16 lanes
    S, A = proc.paths(n, TIMES, spot=50.0, vol=0.3, drift=0.05, seed=seed, first_path=5)
    zp = random_draws(seed, "price", n, 252, first_path=5)
    zv = random_draws(seed, "atm_vol", n, 252, first_path=5)
    S2, A2 = ref.atm_vol_paths(
        TIMES,
        zp,
        zv,
        spot=50.0,
        drift=0.05,
        vol=0.3,
        atm0=proc.atm0,
        level=proc.level,
        kappa=proc.kappa,
        xi=proc.xi,
        rho=proc.rho,
    )
    # the engine's draws may come from an FMA build (last-bit differences in the Box-Muller
    # log), summed over 252 steps: 1e-12 relative
    assert_allclose(S, S2, rtol=1e-12)
    assert_allclose(A, A2, rtol=1e-12)


def test_uneven_times() -> None:
    t = np.array([0.0, 0.01, 0.05, 0.3, 0.31, 1.0])
    S, A = PROC.paths(8, t, seed=3)
    zp = random_draws(3, "price", 8, 5)
    zv = random_draws(3, "atm_vol", 8, 5)
    S2, A2 = ref.atm_vol_paths(
        t, zp, zv, spot=100.0, drift=0.0, vol=0.2, atm0=0.2, level=0.3, kappa=3.0, xi=0.8, rho=-0.7
    )
    assert_allclose(A, A2, rtol=1e-13)
    assert_allclose(S, S2, rtol=1e-13)


def test_moments_and_correlation() -> None:
    n = 20000
    t = np.linspace(0.0, 0.5, 127)
    S, A = PROC.paths(n, t, seed=2026)
    y = np.log(A)
    for j in (10, 60, 126):
        mean, var = PROC.log_mean(t[j]), PROC.log_var(t[j])
        se = math.sqrt(var / n)
        # 6 standard errors of the mean, and of the variance (normal: sd(var) = var sqrt(2/n))
        assert abs(y[:, j].mean() - mean) < 6 * se
        assert abs(y[:, j].var() - var) < 6 * var * math.sqrt(2 / n)
    # correlation of the increments of ln S and ln atm: exactly rho per step; the sample
    # correlation of 2.5e6 pairs has sd (1 - rho^2) / sqrt(n) = 3e-4
    c = np.corrcoef(np.diff(np.log(S), axis=1).ravel(), np.diff(y, axis=1).ravel())[0, 1]
    assert abs(c - PROC.rho) < 0.005
    # the spot is a martingale under zero drift: E[S_T] = S_0 within 6 standard errors
    assert abs(S[:, -1].mean() - 100.0) < 6 * S[:, -1].std() / math.sqrt(n)


def test_bit_identical_across_threads_and_chunks(isa: int) -> None:
    S1, A1 = PROC.paths(600, TIMES, seed=9, threads=1)
    for th in (2, 3, 7):
        S, A = PROC.paths(600, TIMES, seed=9, threads=th)
        assert np.array_equal(S, S1) and np.array_equal(A, A1)
    S2, A2 = PROC.paths(250, TIMES, seed=9, first_path=350, threads=2)
    assert np.array_equal(S2, S1[350:]) and np.array_equal(A2, A1[350:])


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"atm0": 0.0}, "atm0 must be > 0"),
        ({"level": -0.1}, "level must be > 0"),
        ({"kappa": -1.0}, "kappa must be >= 0"),
        ({"xi": float("nan")}, "xi must be finite"),
        ({"rho": 1.5}, "rho must be <= 1"),
    ],
    ids=["atm0", "level", "kappa", "xi", "rho"],
)
def test_bad_process(kw: dict[str, float], match: str) -> None:
    args = {"atm0": 0.2, "level": 0.2, "kappa": 1.0, "xi": 0.5, "rho": 0.0} | kw
    with pytest.raises(ValueError, match=match):
        StochasticAtmVol(**args)


def test_bad_paths_args() -> None:
    with pytest.raises(ValueError, match="times must be strictly"):
        PROC.paths(2, [0.0, 0.5, 0.5])
    with pytest.raises(ValueError, match="times has NaN"):
        PROC.paths(2, [0.0, np.nan])
    with pytest.raises(ValueError, match="n_paths"):
        PROC.paths(-1, TIMES)
    with pytest.raises(ValueError, match="spot must be > 0"):
        PROC.paths(2, TIMES, spot=0.0)


SURF = VolSurface.svi(
    [0.25, 1.0],
    [SVI(0.01, 0.1, -0.5, 0.0, 0.1), SVI(0.03, 0.12, -0.4, 0.05, 0.2)],
    spot=100.0,
    rate=0.03,
    div=0.01,
)


def test_sticky_strike_and_moneyness() -> None:
    S, _ = PROC.paths(50, TIMES, seed=4)
    K, T = 95.0, 0.8
    tau = T - TIMES
    vs = sticky_vols(SURF, S, TIMES, K, T, sticky="strike")
    vm = sticky_vols(SURF, S, TIMES, K, T, sticky="moneyness")
    g = SURF.rate - SURF.div
    want_s = np.sqrt(
        ref.total_variance(
            "svi", SURF.expiries, SURF.params, SURF.k_grid, np.log(K / 100.0) - g * tau, tau
        )
        / tau
    )
    k_m = np.log(K / S) - g * tau
    want_m = np.sqrt(
        ref.total_variance(
            "svi", SURF.expiries, SURF.params, SURF.k_grid, k_m, np.broadcast_to(tau, S.shape)
        )
        / tau
    )
    live = tau > 0
    assert_allclose(vs[:, live], np.broadcast_to(want_s[live], (50, live.sum())), rtol=1e-13)
    assert_allclose(vm[:, live], want_m[:, live], rtol=1e-13)
    # sticky strike does not depend on the path; at t = 0 both rules agree
    assert np.array_equal(vs, np.broadcast_to(vs[0], vs.shape), equal_nan=True)
    assert_allclose(vm[:, 0], vs[:, 0], rtol=1e-15)
    # after expiry: NaN
    assert np.isnan(vs[:, TIMES > T]).all() and np.isnan(vm[:, TIMES > T]).all()


def test_sticky_with_stochastic_level() -> None:
    S, A = PROC.paths(20, TIMES, seed=5)
    base = sticky_vols(SURF, S, TIMES, 100.0, 1.0, sticky="moneyness")
    moved = sticky_vols(SURF, S, TIMES, 100.0, 1.0, sticky="moneyness", level=A / PROC.atm0)
    assert_allclose(moved, base * A / PROC.atm0, rtol=1e-15)


def test_sticky_bad_input() -> None:
    S = np.full((3, 4), 100.0)
    with pytest.raises(ValueError, match="spot_paths must be"):
        sticky_vols(SURF, S, np.linspace(0, 1, 5), 100.0, 1.0)
    with pytest.raises(ValueError, match="sticky must be"):
        sticky_vols(SURF, S, np.linspace(0, 1, 4), 100.0, 1.0, sticky="delta")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="strike must be > 0"):
        sticky_vols(SURF, S, np.linspace(0, 1, 4), -1.0, 1.0)


def test_heston_implied_vol_closed_form() -> None:
    kappa, theta = 1.5, 0.04
    v = np.array([0.01, 0.04, 0.09, 0.25])
    tau = np.array([0.0, 0.1, 1.0, 10.0])
    got = heston_implied_vol(v[:, None], tau[None, :], kappa, theta)
    assert_allclose(
        got, ref.heston_expected_vol(v[:, None], tau[None, :], kappa, theta), rtol=1e-15
    )
    # the definition: the mean over [0, tau] of E[v_s] = theta + (v - theta) e^{-kappa s},
    # by Simpson's rule on 2001 points (error ~1e-13)
    for vi in v:
        for ti in tau[1:]:
            s = np.linspace(0.0, ti, 2001)
            ev = theta + (vi - theta) * np.exp(-kappa * s)
            h = s[1] - s[0]
            avg = h / 3 * (ev[0] + ev[-1] + 4 * ev[1:-1:2].sum() + 2 * ev[2:-1:2].sum()) / ti
            assert heston_implied_vol(vi, ti, kappa, theta) == pytest.approx(
                math.sqrt(avg), rel=1e-12
            )
    # limits: sqrt(v) at tau = 0 and at kappa = 0, sqrt(theta) as tau -> infinity
    assert heston_implied_vol(0.09, 0.0, kappa, theta) == 0.3
    assert heston_implied_vol(0.09, 2.0, 0.0, theta) == 0.3
    assert heston_implied_vol(0.09, 1e9, kappa, theta) == pytest.approx(0.2, rel=1e-8)
    # tiny kappa tau: expm1 keeps full accuracy (the naive 1 - e^{-x} loses ~8 digits at 1e-9)
    x = 1e-9
    assert heston_implied_vol(0.09, 1.0, x, theta) == pytest.approx(
        math.sqrt(theta + (0.09 - theta) * (1 - x / 2)), rel=1e-15
    )
    with pytest.raises(ValueError, match="v and tau must be >= 0"):
        heston_implied_vol(-0.01, 1.0, kappa, theta)
    assert np.isnan(heston_implied_vol(np.nan, 1.0, kappa, theta))


def test_many_python_threads_match_sequential_calls() -> None:
    from concurrent.futures import ThreadPoolExecutor

    k = np.linspace(-1.0, 1.0, 50_001)
    jobs = [lambda th, s=s: PROC.paths(300, TIMES, seed=s, threads=th) for s in range(4)] + [
        lambda th, s=s: (SURF.vol(k * (1 + s), 0.3 + s),) for s in range(4)
    ]
    want = [job(1) for job in jobs]
    work = [(i, th) for i in range(len(jobs)) for th in (1, None, 3)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda w: (w[0], jobs[w[0]](w[1])), work))
    for i, out in got:
        for a, b in zip(out, want[i]):
            assert np.array_equal(a, b, equal_nan=True)


def test_generator_releases_the_gil() -> None:
    import threading
    import time

    done = threading.Event()
    ticks = 0

    def work() -> None:
        PROC.paths(40_000, TIMES, seed=1, threads=1)
        done.set()

    worker = threading.Thread(target=work)
    worker.start()
    while not done.is_set():  # runs only while the kernel does not hold the GIL
        ticks += 1
        time.sleep(0.001)
    worker.join()
    assert ticks >= 5  # the call takes ~0.1 s or more


def test_heston_expected_average_variance_by_monte_carlo(rng: np.random.Generator) -> None:
    # E[(1/tau) int v ds] from simulated CIR variance paths (full-truncation Euler, 400 steps a
    # year: its bias on the mean is O(dt) and below 1e-4 here) against the closed form squared.
    kappa, theta, xi, v0, tau = 2.0, 0.04, 0.5, 0.09, 1.0
    n, steps = 20_000, 400
    dt = tau / steps
    v = np.full(n, v0)
    total = 0.5 * v
    for _ in range(steps):
        vp = np.maximum(v, 0.0)
        v = v + kappa * (theta - vp) * dt + xi * np.sqrt(vp * dt) * rng.standard_normal(n)
        total += np.maximum(v, 0.0)
    total -= 0.5 * np.maximum(v, 0.0)
    avg = total / steps  # trapezoid rule over the path
    want = heston_implied_vol(v0, tau, kappa, theta) ** 2
    se = avg.std() / math.sqrt(n)
    assert abs(avg.mean() - want) < 6 * se + 1e-4


def test_realized_vol() -> None:
    from gammaext.vol_dynamics import realized_vol

    S, _ = PROC.paths(2000, TIMES, vol=0.3, seed=8)
    rv = realized_vol(S, TIMES)
    assert np.isnan(rv[:, 0]).all()
    # after a year of daily steps: E[rv^2] = 0.09 (zero drift: -vol^2/2 dt per step adds
    # vol^4 dt / 4 ~ 2e-5); the mean of rv^2 over 2000 paths has sd 0.09 sqrt(2/252/2000)
    assert abs(np.mean(rv[:, -1] ** 2) - 0.09) < 6 * 0.09 * math.sqrt(2 / 252 / 2000) + 3e-5
    # the first step by hand
    assert_allclose(rv[:, 1], np.abs(np.log(S[:, 1] / S[:, 0])) / math.sqrt(TIMES[1]))
    with pytest.raises(ValueError, match="spot_paths must be"):
        realized_vol(S[:, :5], TIMES)


def test_paths_check_the_path_range_and_seed():
    with pytest.raises(ValueError, match=r"first_path \+ n_paths must be < 2\*\*63"):
        PROC.paths(2, [0.0, 0.1], first_path=2**63 - 1)
    with pytest.raises(TypeError, match=r"seed must be an integer in \[0, 2\*\*64\)"):
        PROC.paths(2, [0.0, 0.1], seed=1.5)
    with pytest.raises(ValueError, match="n_paths must be >= 0"):
        PROC.paths(-1, [0.0, 0.1])
