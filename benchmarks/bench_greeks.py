"""Greeks throughput: price + delta + gamma + theta + vega + rho in float64, full-precision CDF.

gammaext (one thread and all threads) against NumPy + scipy.special.ndtr, numba (one thread and
parallel, when installed), py_vollib_vectorized (when installed), and a trivial C++ kernel that
only reads the 6 inputs and writes 6 outputs: the memory-bandwidth ceiling.

    python -m pytest benchmarks/bench_greeks.py --benchmark-only --benchmark-columns=min,median
"""

from __future__ import annotations

import math
import os
from functools import cache

import numpy as np
import pytest
from numpy.testing import assert_allclose

import gammaext
from gammaext import _core

SIX = ("price", "delta", "gamma", "theta", "vega", "rho")
SIZES = [10**3, 10**5, 10**6, 10**7]
IDS = [f"n=1e{int(math.log10(n))}" for n in SIZES]


@cache
def inputs(n: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(n)
    return (
        rng.uniform(50, 150, n),  # spot
        rng.uniform(50, 150, n),  # strike
        rng.uniform(1 / 365, 3, n),  # t
        rng.uniform(0.05, 1.0, n),  # vol
        rng.uniform(0.0, 0.08, n),  # rate
        rng.uniform(0.0, 0.04, n),  # div
        rng.random(n) < 0.5,  # is_call
    )


@cache
def expected(n: int) -> dict[str, np.ndarray]:
    s, k, t, v, r, q, c = inputs(n)
    g = gammaext.greeks(s, k, t, v, r, q, is_call=c, which=SIX)
    return g.to_dict()


def numpy_six(s, k, t, v, r, q, c):
    """The six outputs in plain NumPy (the style of gammaext.reference, without the rest)."""
    from scipy.special import ndtr

    phi = np.where(c, 1.0, -1.0)
    sqrt_t = np.sqrt(t)
    sig = v * sqrt_t
    d1 = (np.log(s / k) + (r - q) * t) / sig + 0.5 * sig
    d2 = d1 - sig
    dq, dr = np.exp(-q * t), np.exp(-r * t)
    n1, n2 = ndtr(phi * d1), ndtr(phi * d2)
    pdf = np.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi)
    return {
        "price": phi * (s * dq * n1 - k * dr * n2),
        "delta": phi * dq * n1,
        "gamma": dq * pdf / (s * sig),
        "theta": -s * dq * pdf * v / (2 * sqrt_t) - phi * r * k * dr * n2 + phi * q * s * dq * n1,
        "vega": s * dq * pdf * sqrt_t,
        "rho": phi * k * t * dr * n2,
    }


def check(out: dict[str, np.ndarray], n: int, rtol: float = 1e-11) -> None:
    want = expected(n)
    for name in SIX:
        # Different exp/log/CDF implementations agree to ~1e-13 relative; theta cancels.
        assert_allclose(out[name], want[name], rtol=rtol, atol=1e-11 * np.abs(want[name]).max())


def rounds(n: int) -> int:
    return 3 if n >= 10**6 else 20


def run(benchmark, fn, n):
    return benchmark.pedantic(fn, rounds=rounds(n), iterations=1, warmup_rounds=1)


@pytest.mark.benchmark(group="greeks6")
@pytest.mark.parametrize("n", SIZES, ids=IDS)
@pytest.mark.parametrize("threads", [1, None], ids=["1thread", "allthreads"])
def test_gammaext(benchmark, n, threads):
    s, k, t, v, r, q, c = inputs(n)
    out = {name: np.empty(n) for name in SIX}
    benchmark.extra_info["options_per_s"] = None
    run(benchmark, lambda: gammaext.greeks(s, k, t, v, r, q, is_call=c, which=SIX, out=out,
                                           threads=threads), n)
    check(out, n, rtol=0)


@pytest.mark.benchmark(group="greeks6")
@pytest.mark.parametrize("n", SIZES, ids=IDS)
def test_numpy(benchmark, n):
    pytest.importorskip("scipy")
    if n > 10**6 and not os.environ.get("GAMMAEXT_BENCH_LARGE"):
        pytest.skip("NumPy at 1e7 needs GAMMAEXT_BENCH_LARGE=1 (several GB, minutes)")
    out = run(benchmark, lambda: numpy_six(*inputs(n)), n)
    check(out, n)


@pytest.mark.benchmark(group="greeks6")
@pytest.mark.parametrize("n", SIZES, ids=IDS)
@pytest.mark.parametrize("threads", [1, None], ids=["1thread", "allthreads"])
def test_memory_ceiling(benchmark, n, threads):
    """Reads the 6 inputs, writes 6 outputs, no maths: the bandwidth bound of test_gammaext."""
    s, k, t, v, r, q, c = inputs(n)
    outs = [np.empty(n) if i < 6 else None for i in range(len(gammaext.GREEKS))]
    flags = c.view(np.uint8)
    nthreads = threads or 0
    run(benchmark, lambda: _core._greeks(n, s, k, t, v, r, q, flags, outs, 0, nthreads, -1,
                                         True), n)
    assert_allclose(outs[1], 2 * (s + k + t + v + r + q), rtol=1e-15)


def _numba_body(s, k, t, v, r, q, c, out):
    for i in _prange(s.shape[0]):
        phi = 1.0 if c[i] else -1.0
        sqrt_t = math.sqrt(t[i])
        sig = v[i] * sqrt_t
        d1 = (math.log(s[i] / k[i]) + (r[i] - q[i]) * t[i]) / sig + 0.5 * sig
        d2 = d1 - sig
        dq, dr = math.exp(-q[i] * t[i]), math.exp(-r[i] * t[i])
        n1 = 0.5 * math.erfc(-phi * d1 / math.sqrt(2.0))
        n2 = 0.5 * math.erfc(-phi * d2 / math.sqrt(2.0))
        pdf = math.exp(-0.5 * d1 * d1) / math.sqrt(2 * math.pi)
        out[0, i] = phi * (s[i] * dq * n1 - k[i] * dr * n2)
        out[1, i] = phi * dq * n1
        out[2, i] = dq * pdf / (s[i] * sig)
        out[3, i] = (-s[i] * dq * pdf * v[i] / (2 * sqrt_t) - phi * r[i] * k[i] * dr * n2
                     + phi * q[i] * s[i] * dq * n1)
        out[4, i] = s[i] * dq * pdf * sqrt_t
        out[5, i] = phi * k[i] * t[i] * dr * n2


try:
    from numba import prange as _prange
except ImportError:  # numba is optional: test_numba skips
    _prange = range


@cache
def numba_kernel(parallel: bool):
    numba = pytest.importorskip("numba")
    return numba.njit(parallel=parallel)(_numba_body)


@pytest.mark.benchmark(group="greeks6")
@pytest.mark.parametrize("n", SIZES, ids=IDS)
@pytest.mark.parametrize("parallel", [False, True], ids=["1thread", "parallel"])
def test_numba(benchmark, n, parallel):
    fn = numba_kernel(parallel)
    s, k, t, v, r, q, c = inputs(n)
    out = np.empty((6, n))
    fn(s[:10], k[:10], t[:10], v[:10], r[:10], q[:10], c[:10], out[:, :10])  # compile
    run(benchmark, lambda: fn(s, k, t, v, r, q, c, out), n)
    check(dict(zip(SIX, out)), n)


@pytest.mark.benchmark(group="greeks6")
@pytest.mark.parametrize("n", SIZES[:3], ids=IDS[:3])
def test_py_vollib_vectorized(benchmark, n):
    pvv = pytest.importorskip("py_vollib_vectorized")
    s, k, t, v, r, q, c = inputs(n)
    flag = np.where(c, "c", "p")

    def call():
        price = pvv.vectorized_black_scholes_merton(flag, s, k, t, r, v, q, return_as="numpy")
        g = pvv.get_all_greeks(flag, s, k, t, r, v, q, model="black_scholes_merton",
                               return_as="dict")
        return price, g

    price, _ = run(benchmark, call, n)
    # Its CDF and Greeks are less accurate (and its units differ); the price is checked.
    assert_allclose(price.ravel(), expected(n)["price"], rtol=1e-6, atol=1e-8)
