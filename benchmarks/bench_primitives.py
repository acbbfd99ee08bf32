"""What the building blocks of the kernels cost per element, one thread, data in cache.

The Greeks and the hedging engine spend most of their time in full-precision exp, log and the
normal CDF; these figures bound what the kernels can reach (benchmarks/RESULTS.md, "What one
element costs"). gammaext's own functions against NumPy's SIMD exp and log (hand-written
AVX-512 loops inside NumPy) and SciPy's ``ndtr``:

    python -m pytest benchmarks/bench_primitives.py --benchmark-only --benchmark-columns=min,median
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from numpy.testing import assert_allclose

import gammaext

N = 100_000  # 0.8 MB per array: in L2/L3, so the arithmetic is measured, not memory
X = np.random.default_rng(0).uniform(-5.0, 5.0, N)  # the usual range of d1, d2: no far tail
POSITIVE = np.exp(X / 5.0)  # (0.37, 2.7), for log


def _out() -> np.ndarray:
    return np.empty(N)


CASES: dict[str, tuple[Callable[[np.ndarray], object], Callable[[], np.ndarray]]] = {
    "gammaext.norm_cdf": (lambda o: gammaext.norm_cdf(X, out=o), lambda: _ndtr(X)),
    "gammaext.norm_pdf": (
        lambda o: gammaext.norm_pdf(X, out=o),
        lambda: np.exp(-0.5 * X * X) / np.sqrt(2.0 * np.pi),
    ),
    "numpy.exp": (lambda o: np.exp(X, out=o), lambda: np.exp(X)),
    "numpy.log": (lambda o: np.log(POSITIVE, out=o), lambda: np.log(POSITIVE)),
    "scipy.special.ndtr": (lambda o: _ndtr(X, out=o), lambda: _ndtr(X)),
}


def _ndtr(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    special = pytest.importorskip("scipy.special")
    return np.asarray(special.ndtr(x, out=out))


@pytest.mark.parametrize("name", list(CASES))
def test_primitive(benchmark, name: str) -> None:
    fn, expected = CASES[name]
    out = _out()
    benchmark.extra_info["n"] = N
    benchmark.pedantic(fn, args=(out,), rounds=200, warmup_rounds=5)
    benchmark.extra_info["ns_per_element"] = benchmark.stats.stats.min / N * 1e9
    assert_allclose(out, expected(), rtol=1e-13, atol=0)
