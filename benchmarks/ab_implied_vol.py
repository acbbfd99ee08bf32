"""Implied vol, one thread: gammaext against py_vollib_vectorized alternately in one process, so
that the machine's noise hits both alike (bench_implied_vol.py times the peer in only 1-3
rounds, whose minimum moved by 30% from run to run). Issue 15 keeps the ratio at 10x or more.

    python benchmarks/ab_implied_vol.py [N [ROUNDS]]

The grid is bench_implied_vol.py's (out-of-the-money calls and puts over a listed-like chain).
Prints each implementation's min and median time and the ratio of the minimums and the median
of the per-round ratios.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings

import numpy as np
from bench_implied_vol import DIV, RATE, SPOT, make_grid  # (benchmarks/ is on sys.path)

import gammaext


def main() -> None:
    n = int(float(sys.argv[1])) if len(sys.argv) > 1 else 100_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    import py_vollib_vectorized as pvv

    g = make_grid(n)
    flag = np.where(g["is_call"], "c", "p")
    out = np.empty(n)

    def ours() -> None:
        gammaext.implied_vol(g["price"], SPOT, g["strike"], g["t"], RATE, DIV,
                             is_call=g["is_call"], out=out, threads=1)

    def peer() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pvv.vectorized_implied_volatility(g["price"], SPOT, g["strike"], g["t"], RATE, flag,
                                              q=DIV, model="black_scholes_merton",
                                              return_as="numpy")

    peer(), ours()  # numba compilation, first touch
    a: list[float] = []
    b: list[float] = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        ours()
        t1 = time.perf_counter()
        peer()
        a.append(t1 - t0)
        b.append(time.perf_counter() - t1)
    ratio = statistics.median(y / x for x, y in zip(a, b))
    print(f"n = {n:.0e}, {rounds} rounds: gammaext min {min(a) * 1e3:.2f} median "
          f"{statistics.median(a) * 1e3:.2f} ms; py_vollib_vectorized min {min(b) * 1e3:.2f} "
          f"median {statistics.median(b) * 1e3:.2f} ms; {min(b) / min(a):.2f}x (minimums), "
          f"{ratio:.2f}x (median of the rounds' ratios)")


if __name__ == "__main__":
    main()
