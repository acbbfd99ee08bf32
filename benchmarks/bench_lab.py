"""Lab harness benchmarks: the overhead of compare_rules (chunking, exact statistics, table)
and of Dask against calling the engine directly on the same work.

Workload: GBM at the implied vol with bid-ask bounce (the ``noisy`` scenario), 252 steps, a
long ATM straddle, two rules hedged in one pass (every step and 1% moves), 2 bps half-spread.
Every variant returns the same P&L means (asserted), so a shortcut cannot win.

Run: python -m pytest benchmarks/bench_lab.py --benchmark-only --benchmark-group-by=group
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import gammaext as g
from gammaext import lab

N_PATHS = 40_000
RULES = {"clock": g.EveryK(1), "move": g.Move(0.01)}
COSTS = g.Costs(half_spread_bps=2.0)
SCENARIO = lab.scenario("noisy")
THREADS = os.cpu_count() or 1


def _engine():
    """The engine alone: one simulate_rules call, then the means (what any harness needs)."""
    res = g.simulate_rules(
        g.GBM(vol=0.2), RULES, costs=COSTS, noise=SCENARIO.noise, n_paths=N_PATHS, seed=7
    )
    return np.array([res[k].pnl.mean() for k in RULES])


def _lab(**kw):
    tab = lab.compare_rules(
        RULES,
        [SCENARIO],
        costs=COSTS,
        n_paths=N_PATHS,
        seed=7,
        progress=False,
        output="numpy",
        **kw,
    )
    return np.asarray(tab["pnl_mean"])


@pytest.fixture(scope="module")
def expected():
    return _engine()


def _check(got, expected):
    # the lab's means are correctly rounded exact sums, numpy's pairwise: a few ulp apart
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.benchmark(group="lab-harness")
def test_engine_direct(benchmark, expected):
    benchmark.extra_info.update(n_paths=N_PATHS, threads=THREADS)
    _check(benchmark(_engine), expected)


@pytest.mark.benchmark(group="lab-harness")
@pytest.mark.parametrize("chunk_size", [N_PATHS, 4096], ids=["one-chunk", "chunk4096"])
def test_compare_rules(benchmark, expected, chunk_size):
    benchmark.extra_info.update(n_paths=N_PATHS, chunk_size=chunk_size, threads=THREADS)
    _check(benchmark(_lab, chunk_size=chunk_size), expected)


@pytest.mark.benchmark(group="lab-harness")
def test_compare_rules_dask_local(benchmark, expected):
    distributed = pytest.importorskip("dask.distributed")
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=THREADS, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        benchmark.extra_info.update(n_paths=N_PATHS, chunk_size=4096, threads=THREADS)
        _check(benchmark(_lab, chunk_size=4096, client=client, threads=1), expected)


@pytest.mark.benchmark(group="lab-stats")
def test_exact_sums_per_value(benchmark):
    """The exact (order-free) sums alone: 22 fields x N_PATHS values."""
    x = np.random.default_rng(1).standard_normal((22, N_PATHS))
    out = benchmark(lab.exact_sums, x)
    assert float(lab._frac(out[0])) == pytest.approx(x[0].sum(), rel=1e-12)
