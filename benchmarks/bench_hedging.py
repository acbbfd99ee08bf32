"""Hedging engine benchmarks: fused C++ engine vs the NumPy reference and a numba engine.

The workload of issue 3: GBM paths x 252 steps, a long ATM straddle, a move-based rule (1%)
and a proportional cost (2 bps), end to end (path generation included). The NumPy reference is
fed by NumPy's own generator and runs the same workload (one round: it takes ~13 s); the
``ns_per_path_step`` figures in ``extra_info`` compare across thread counts. Also: time-based
hedging at every step and a run on user-supplied paths.

Run: python -m pytest benchmarks/bench_hedging.py --benchmark-only --benchmark-group-by=group
"""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

import gammaext as g
from gammaext import reference as R

N_STEPS = 252
N_PATHS = 100_000
# The NumPy reference runs the same 1e5 x 252 workload (about 13 s per round, one round): its
# cost per path-step depends on the number of paths (Python overhead per step below ~1e4 paths,
# memory traffic of its temporaries above), so a smaller run would not measure the case.
N_REF = N_PATHS
DT = 1 / 252
SIGMA = 0.2
MOVE = 0.01
BPS = 2.0
THREADS = os.cpu_count() or 1

KW = {
    "position": g.Position(vol=SIGMA),
    "rule": g.Move(MOVE),
    "costs": g.Costs(bps=BPS),
    "n_steps": N_STEPS,
    "dt": DT,
}


def _info(benchmark, n_paths, threads):
    benchmark.extra_info.update(
        n_paths=n_paths,
        n_steps=N_STEPS,
        threads=threads,
        simd=g.simd_level(),
        build="portable (GAMMAEXT_NATIVE off), runtime ISA dispatch",
    )


def _per_path_step(benchmark, n_paths):
    stats = benchmark.stats.stats if benchmark.stats else None
    if stats is not None:
        benchmark.extra_info["ns_per_path_step"] = stats.min / (n_paths * N_STEPS) * 1e9


@pytest.fixture(scope="module")
def expected():
    """Mean and standard error of the P&L on this workload (a large gammaext run, checked
    against the reference on the same random numbers first, so a wrong kernel cannot win)."""
    small = g.simulate_hedge(n_paths=200, seed=1, **KW)
    ref = R.simulate_hedge(n_paths=200, seed=1, **KW)
    np.testing.assert_allclose(small.pnl, ref["pnl"], rtol=0, atol=1e-10)
    big = g.simulate_hedge(n_paths=N_PATHS, seed=99, **KW)
    return big.pnl.mean(), big.pnl.std() / math.sqrt(N_PATHS)


def _check(pnl, expected):
    mean, se = expected
    n = pnl.size
    tol = 6 * math.sqrt(se**2 + (np.std(pnl) / math.sqrt(n)) ** 2)
    assert abs(np.mean(pnl) - mean) < tol


@pytest.mark.benchmark(group="hedging-move-1e5x252")
@pytest.mark.parametrize("threads", [1, THREADS], ids=lambda t: f"threads={t}")
def test_gammaext_fused(benchmark, expected, threads):
    _info(benchmark, N_PATHS, threads)
    res = benchmark.pedantic(
        g.simulate_hedge,
        kwargs=dict(n_paths=N_PATHS, seed=7, threads=threads, **KW),
        rounds=3,
        iterations=1,
    )
    _per_path_step(benchmark, N_PATHS)
    _check(res.pnl, expected)


@pytest.mark.benchmark(group="hedging-move-1e5x252")
def test_numpy_reference(benchmark, expected):
    _info(benchmark, N_REF, 1)
    rng = np.random.default_rng(7)

    def run():
        # NumPy's generator inside the timed region, as the engine's RNG is.
        z = rng.standard_normal((N_REF, N_STEPS))
        return R.simulate_hedge(n_paths=N_REF, seed=7, draws={"price": z}, **KW)

    res = benchmark.pedantic(run, rounds=1, iterations=1)
    _per_path_step(benchmark, N_REF)
    _check(res["pnl"], expected)


def _numba_engine():
    numba = pytest.importorskip("numba")

    @numba.njit(cache=False)
    def ncdf(x):
        return 0.5 * math.erfc(-x / math.sqrt(2.0))

    @numba.njit(cache=False)
    def straddle(s, k, tau, vol):
        """Value, delta, gamma, theta of a call + put (rate = div = 0)."""
        sq = math.sqrt(tau)
        d1 = (math.log(s / k) + 0.5 * vol * vol * tau) / (vol * sq)
        d2 = d1 - vol * sq
        pdf = math.exp(-0.5 * d1 * d1) / math.sqrt(2.0 * math.pi)
        n1, n2 = ncdf(d1), ncdf(d2)
        call = s * n1 - k * n2
        value = 2.0 * call - (s - k)
        delta = 2.0 * n1 - 1.0
        gamma = 2.0 * pdf / (s * vol * sq)
        theta = -2.0 * s * pdf * vol / (2.0 * sq)
        return value, delta, gamma, theta

    @numba.njit(parallel=True, cache=False)
    def run(n, steps, dt, spot, sigma, vol, move, bps, seed):
        out = np.empty(n)
        horizon = steps * dt
        np.random.seed(seed)  # noqa: NPY002 - numba supports only the legacy API in njit
        for i in numba.prange(n):
            s = spot
            v, d, _gm, _th = straddle(s, spot, horizon, vol)
            cash = -v
            h = -d
            cash -= h * s + abs(h) * s * bps * 1e-4
            last = s
            for k in range(steps):
                z = np.random.standard_normal()  # noqa: NPY002
                s = s * math.exp(-0.5 * sigma * sigma * dt + sigma * math.sqrt(dt) * z)
                tau = horizon - (k + 1) * dt
                if k + 1 < steps:
                    v, d, _gm, _th = straddle(s, spot, tau, vol)
                    if abs(s - last) >= move * last:
                        q = -d - h
                        cash -= q * s + abs(q) * s * bps * 1e-4
                        h += q
                        last = s
                else:
                    v = abs(s - spot)  # the straddle expires: |S - K|
                    cash += h * s - abs(h) * s * bps * 1e-4
                    h = 0.0
            out[i] = cash + v
        return out

    return run


@pytest.mark.benchmark(group="hedging-move-1e5x252")
@pytest.mark.parametrize("threads", [1, THREADS], ids=lambda t: f"threads={t}")
def test_numba_parallel(benchmark, expected, threads):
    import numba

    run = _numba_engine()
    run(64, N_STEPS, DT, 100.0, SIGMA, SIGMA, MOVE, BPS, 1)  # compile outside the timer
    _info(benchmark, N_PATHS, threads)
    previous = numba.get_num_threads()
    numba.set_num_threads(threads)
    benchmark.extra_info["numba_threading_layer"] = numba.threading_layer()
    try:
        pnl = benchmark.pedantic(
            run,
            args=(N_PATHS, N_STEPS, DT, 100.0, SIGMA, SIGMA, MOVE, BPS, 7),
            rounds=3,
            iterations=1,
        )
    finally:
        numba.set_num_threads(previous)
    _per_path_step(benchmark, N_PATHS)
    _check(pnl, expected)


@pytest.mark.benchmark(group="hedging-every-step-1e5x252")
def test_gammaext_every_step(benchmark):
    _info(benchmark, N_PATHS, THREADS)
    kw = dict(KW, rule=g.EveryK(1))
    res = benchmark.pedantic(
        g.simulate_hedge, kwargs=dict(n_paths=N_PATHS, seed=7, **kw), rounds=3, iterations=1
    )
    _per_path_step(benchmark, N_PATHS)
    assert (res.rebalances == N_STEPS - 1).all()


LAB_RULES = [
    g.EveryK(1),
    g.EveryK(5),
    g.Move(0.005),
    g.Move(0.01),
    g.Move(0.02),
    g.DeltaBand(0.1),
    g.WhalleyWilmott(0.002, 1.0),
    g.TrendBand(0.1) | g.MaxInterval(20),
]


@pytest.mark.benchmark(group="hedging-8-rules-2e4x252")
@pytest.mark.parametrize("how", ["one-pass", "separate"])
def test_gammaext_rules(benchmark, how):
    """The lab's pattern: several rules on the same paths (simulate_rules shares the paths,
    the random numbers and the option Greeks)."""
    n = 20_000
    kw = dict(KW, n_paths=n, seed=7)
    kw.pop("rule")
    _info(benchmark, n * len(LAB_RULES), THREADS)

    def run():
        if how == "one-pass":
            return g.simulate_rules(rules=LAB_RULES, **kw)
        return [g.simulate_hedge(rule=r, **kw) for r in LAB_RULES]

    res = benchmark.pedantic(run, rounds=3, iterations=1)
    _per_path_step(benchmark, n * len(LAB_RULES))
    assert len(res) == len(LAB_RULES) and all(np.isfinite(r.pnl).all() for r in res)


@pytest.mark.benchmark(group="hedging-user-paths-2e4x252")
def test_gammaext_user_paths(benchmark):
    n = 20_000
    rng = np.random.default_rng(3)
    paths = 100 * np.exp(np.cumsum(rng.normal(0, SIGMA * math.sqrt(DT), (n, N_STEPS + 1)), 1))
    _info(benchmark, n, THREADS)
    res = benchmark.pedantic(
        g.simulate_hedge,
        args=(paths,),
        kwargs={
            "position": g.Position(vol=SIGMA),
            "rule": g.Move(MOVE),
            "costs": g.Costs(bps=BPS),
            "dt": DT,
        },
        rounds=3,
        iterations=1,
    )
    _per_path_step(benchmark, n)
    assert np.isfinite(res.pnl).all()
