"""Strategy backtest sweep: gammaext vs the slow pure-Python replica (tests/pine_slow.py).

The issue's benchmark: 10,000 parameter sets over the 729-day BTC series. The slow replica is
timed on a few sets and reported per set (a full 10,000-set run would take minutes); the ratio
is per set on one thread. Run:

    python -m pytest benchmarks/bench_backtest.py --benchmark-only -q

Inputs are built outside the timers with a seeded generator; the results are checked against
the slow replica so that a wrong loop cannot win.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

import gammaext

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import pine_slow

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SERIES = DATA / "btc_usdt_1d_2024-03-17_2026-03-15.csv"
N_SETS = 10_000
N_SLOW = 5


@pytest.fixture(scope="module")
def bars() -> gammaext.Bars:
    if not SERIES.exists():
        pytest.skip(f"{SERIES} not present")
    return gammaext.load_csv(SERIES)


@pytest.fixture(scope="module")
def grid() -> list[gammaext.StrategyParams]:
    """10,000 random parameter sets (a robustness study): stops, targets, vol windows,
    thresholds and both bracket readings vary."""
    rng = np.random.default_rng(20261122)
    return [
        gammaext.StrategyParams(
            stop_loss_atr_mult=float(rng.uniform(0.5, 4.0)),
            take_profit_atr_mult=float(rng.uniform(0.5, 6.0)),
            hist_vol_period=int(rng.integers(5, 40)),
            vol_ratio_threshold=float(rng.uniform(0.8, 1.6)),
            gamma_scalp_threshold=float(rng.uniform(0.1, 1.5)),
            exit_reissue=str(rng.choice(["on_entry", "every_bar"])),
        )
        for _ in range(N_SETS)
    ]


def slow_params(p: gammaext.StrategyParams) -> dict[str, object]:
    d = asdict(p)
    d.pop("timeframe")
    d["annualization"] = 365.0
    return d


def run_slow(bars: gammaext.Bars, sets: list[gammaext.StrategyParams]) -> list[float]:
    o, h, lo, c = (list(x) for x in (bars.open, bars.high, bars.low, bars.close))
    return [pine_slow.run(o, h, lo, c, slow_params(p))["summary"]["net_profit"] for p in sets]


@pytest.mark.benchmark(group="backtest-sweep-per-set")
def test_slow_python(benchmark, bars, grid):
    sets = grid[:N_SLOW]
    net = benchmark.pedantic(run_slow, args=(bars, sets), rounds=3, iterations=1)
    fast = gammaext.sweep(bars, sets, threads=1)["net_profit"][0]
    np.testing.assert_allclose(net, fast, rtol=1e-9)  # summation order differs
    benchmark.extra_info["sets_per_round"] = N_SLOW
    benchmark.extra_info["seconds_per_set"] = benchmark.stats.stats.min / N_SLOW


@pytest.mark.benchmark(group="backtest-sweep-per-set")
@pytest.mark.parametrize("threads", [1, 2], ids=lambda t: f"threads={t}")
def test_gammaext_sweep(benchmark, bars, grid, threads):
    res = benchmark.pedantic(
        gammaext.sweep, args=(bars, grid), kwargs={"threads": threads}, rounds=3, iterations=1
    )
    slow = run_slow(bars, grid[:3])
    np.testing.assert_allclose(res["net_profit"][0, :3], slow, rtol=1e-9)
    benchmark.extra_info["sets_per_round"] = N_SETS
    benchmark.extra_info["seconds_per_set"] = benchmark.stats.stats.min / N_SETS
    benchmark.extra_info["build"] = "default wheel flags (-O3, portable baseline, no FMA here)"


@pytest.mark.benchmark(group="backtest-sweep-per-set")
def test_numba_port(benchmark, bars, grid):
    """A lean numba port of the same loop (benchmarks/pine_numba.py: net profit and trade count
    only, options at their defaults), compiled before timing."""
    pytest.importorskip("numba")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import pine_numba

    matrix = pine_numba.param_matrix(grid)
    args = (bars.open, bars.high, bars.low, bars.close)
    pine_numba.sweep(*args, matrix[:2])  # compile outside the timer
    out = benchmark.pedantic(pine_numba.sweep, args=(*args, matrix), rounds=3, iterations=1)
    fast = gammaext.sweep(bars, grid, threads=1)
    np.testing.assert_array_equal(out[:, 0], fast["net_profit"][0])  # same arithmetic
    np.testing.assert_array_equal(out[:, 1], fast["closed_trades"][0])
    benchmark.extra_info["sets_per_round"] = N_SETS
    benchmark.extra_info["seconds_per_set"] = benchmark.stats.stats.min / N_SETS


@pytest.mark.benchmark(group="backtest-single")
def test_single_backtest_with_trades(benchmark, bars):
    res = benchmark(gammaext.backtest, bars)
    assert res.n_trades > 0
