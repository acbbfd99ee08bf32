"""The kernels' results do not depend on the caller's floating-point mode (cpp/include/gammaext/
fpenv.hpp): a library linked with -ffast-math turns on flush-to-zero and denormals-are-zero for
the whole process when it is loaded, which would otherwise turn our subnormal tails into 0."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import gammaext
from gammaext import _core

TINY = np.finfo(np.float64).tiny


@pytest.fixture
def flush_to_zero() -> Iterator[None]:
    """Lets a test switch the mode; restores the one it found."""
    before = _core._set_flush_to_zero(False)
    yield
    _core._set_flush_to_zero(before)


def _subnormal_cases() -> dict[str, np.ndarray]:
    # 2 x 2^15 elements, so that threads=2 runs two chunks; strikes up to 4 x spot at a short
    # expiry take the prices and the normal CDF of -d2 through the subnormal range.
    n = 1 << 16
    strike = np.linspace(200.0, 400.0, n)
    return {
        "cdf": gammaext.norm_cdf(-np.linspace(30.0, 38.5, n)),
        "price": gammaext.price(100.0, strike, 0.02, 0.2, is_call=True, threads=2),
        "vega": gammaext.greeks(100.0, strike, 0.02, 0.2, which=("vega",), threads=2)["vega"],
    }


def test_results_do_not_depend_on_flush_to_zero(flush_to_zero: None) -> None:
    _core._set_flush_to_zero(False)
    want = _subnormal_cases()
    for name, x in want.items():
        assert np.any((x > 0) & (x < TINY)), f"{name}: no subnormal result, the test cannot fail"
    _core._set_flush_to_zero(True)
    got = _subnormal_cases()
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_hedging_and_implied_vol_under_flush_to_zero(flush_to_zero: None) -> None:
    def run() -> tuple[np.ndarray, np.ndarray]:
        res = gammaext.simulate_hedge(gammaext.GBM(), n_paths=500, n_steps=30, dt=1 / 252,
                                      position=gammaext.Position(vol=0.2),
                                      rule=gammaext.Move(0.01), seed=3, threads=2)
        vol = gammaext.implied_vol(np.array([1e-310, 1.0, 5.0]), 100.0, 100.0, 0.5)
        return res.pnl, vol

    _core._set_flush_to_zero(False)
    want = run()
    _core._set_flush_to_zero(True)
    got = run()
    for a, b in zip(got, want):
        np.testing.assert_array_equal(a, b)


def test_the_callers_mode_is_restored() -> None:
    before = _core._set_flush_to_zero(True)
    try:
        gammaext.price(100.0, 300.0, 0.02, 0.2)
        assert _core._set_flush_to_zero(True), "a kernel call cleared the caller's mode"
    finally:
        _core._set_flush_to_zero(before)
