"""Implied volatility throughput: gammaext vs the NumPy reference, py_vollib_vectorized and
QuantLib, on a realistic chain-like grid.

Run: python -m pytest benchmarks/bench_implied_vol.py --benchmark-group-by=param:n
Every benchmark checks its result against the vols the prices were made from, so a wrong
kernel cannot win; the peers' accuracy is recorded in extra_info.
"""

from __future__ import annotations

import os
import platform
import warnings

import numpy as np
import pytest

import gammaext
from gammaext import reference

SIZES = [10**5, 10**6]
RATE, DIV, SPOT = 0.03, 0.01, 100.0


def make_grid(n: int) -> dict[str, np.ndarray]:
    """Out-of-the-money calls and puts over 1 week to 2 years, strikes spread like a listed
    chain (about +-3 standard deviations of the forward), vols 8% to 120% with a smile."""
    rng = np.random.default_rng(7)
    t = rng.choice(np.array([7, 14, 30, 60, 91, 182, 365, 730]) / 365.0, n)
    z = rng.normal(0.0, 1.0, n).clip(-3.0, 3.0)
    atm = rng.uniform(0.1, 0.6, n)
    vol = (atm * (1.0 + 0.1 * z * z - 0.05 * z)).clip(0.08, 1.2)
    fwd = SPOT * np.exp((RATE - DIV) * t)
    strike = fwd * np.exp(z * atm * np.sqrt(t))
    is_call = strike >= fwd
    price = gammaext.price(SPOT, strike, t, vol, RATE, DIV, is_call=is_call)
    return {"price": price, "strike": strike, "t": t, "vol": vol, "is_call": is_call}


_GRIDS: dict[int, dict[str, np.ndarray]] = {}


def grid(n: int) -> dict[str, np.ndarray]:
    if n not in _GRIDS:
        _GRIDS[n] = make_grid(n)
    return _GRIDS[n]


def machine_info(benchmark) -> None:
    benchmark.extra_info["cpu"] = platform.processor() or platform.machine()
    benchmark.extra_info["simd"] = gammaext.simd_level()
    benchmark.extra_info["cores"] = os.cpu_count()


def check(benchmark, got: np.ndarray, want: np.ndarray, rtol: float) -> None:
    err = np.nanmax(np.abs(got / want - 1.0))
    benchmark.extra_info["max_rel_vol_error"] = float(err)
    benchmark.extra_info["nan_count"] = int(np.isnan(got).sum())
    assert np.isnan(got).sum() == 0
    assert err <= rtol


@pytest.mark.benchmark(group="implied_vol")
@pytest.mark.parametrize("n", SIZES, ids=lambda n: f"n={n:.0e}")
@pytest.mark.parametrize("threads", [1, None], ids=["1thread", "allthreads"])
def test_gammaext(benchmark, n, threads):
    g = grid(n)
    machine_info(benchmark)
    benchmark.extra_info["threads"] = threads or gammaext.get_num_threads()
    out = np.empty(n)
    res = benchmark(
        gammaext.implied_vol,
        g["price"], SPOT, g["strike"], g["t"], RATE, DIV,
        is_call=g["is_call"], out=out, threads=threads,
    )  # fmt: skip
    # The prices come from gammaext.price, exact to a few ulps here: full accuracy expected.
    check(benchmark, res, g["vol"], 1e-12)


@pytest.mark.benchmark(group="implied_vol")
@pytest.mark.parametrize("n", SIZES[:1], ids=lambda n: f"n={n:.0e}")
def test_numpy_reference(benchmark, n):
    g = grid(n)
    machine_info(benchmark)
    res = benchmark.pedantic(
        reference.implied_vol,
        args=(g["price"], SPOT, g["strike"], g["t"], RATE, DIV),
        kwargs={"is_call": g["is_call"]},
        rounds=2,
        iterations=1,
    )
    check(benchmark, res, g["vol"], 1e-11)


@pytest.mark.benchmark(group="implied_vol")
@pytest.mark.parametrize("n", SIZES, ids=lambda n: f"n={n:.0e}")
def test_py_vollib_vectorized(benchmark, n):
    pvv = pytest.importorskip("py_vollib_vectorized")
    g = grid(n)
    machine_info(benchmark)
    flag = np.where(g["is_call"], "c", "p")

    def run() -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(
                pvv.vectorized_implied_volatility(
                    g["price"], SPOT, g["strike"], g["t"], RATE, flag, q=DIV,
                    model="black_scholes_merton", return_as="numpy",
                )
            )  # fmt: skip

    run()  # numba compilation outside the timer
    res = benchmark.pedantic(run, rounds=3 if n <= 10**5 else 1, iterations=1)
    # py_vollib_vectorized (Let's Be Rational) is accurate to about 1e-12 too.
    check(benchmark, res, g["vol"], 1e-9)


@pytest.mark.benchmark(group="implied_vol")
@pytest.mark.parametrize("n", [2000], ids=lambda n: f"subsample={n}")
def test_quantlib(benchmark, n):
    ql = pytest.importorskip("QuantLib")
    g = grid(SIZES[0])
    machine_info(benchmark)
    price, strike, t, call = (g[k][:n] for k in ("price", "strike", "t", "is_call"))
    fwd = SPOT * np.exp((RATE - DIV) * t)
    disc = np.exp(-RATE * t)

    def run() -> np.ndarray:
        out = np.empty(n)
        for i in range(n):
            kind = ql.Option.Call if call[i] else ql.Option.Put
            sd = ql.blackFormulaImpliedStdDev(
                kind, float(strike[i]), float(fwd[i]), float(price[i]), float(disc[i]),
                0.0, ql.nullDouble(), 1e-12, 200,
            )  # fmt: skip
            out[i] = sd / np.sqrt(t[i])
        return out

    res = benchmark.pedantic(run, rounds=3, iterations=1)
    check(benchmark, res, g["vol"][:n], 1e-6)
