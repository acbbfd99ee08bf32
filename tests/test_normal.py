"""The normal distribution building blocks: full-precision CDF/PDF and the TradingView A&S CDF."""

from __future__ import annotations

import numpy as np
import pine_slow
import pytest
from numpy.testing import assert_array_equal

import gammaext

mpmath = pytest.importorskip("mpmath")


def exact(fn, x: np.ndarray) -> np.ndarray:
    mpmath.mp.dps = 40
    return np.array([float(fn(mpmath.mpf(float(v)))) for v in x])


def test_cdf_full_precision_in_both_tails(isa):
    x = np.concatenate([np.linspace(-37.5, 9.0, 4001), [-1e-300, 0.0, 1e-300]])
    got = gammaext.norm_cdf(x)
    want = exact(mpmath.ncdf, x)
    rel = np.abs(got - want) / want
    # Cody's erfc with an exactly split exp(-x^2): a few ulp everywhere. Beyond x = -37.5 the
    # result is subnormal and the bound becomes absolute (checked below).
    assert rel.max() < 2e-15, x[np.argmax(rel)]


def test_cdf_subnormal_tail_and_limits():
    x = np.array([-38.0, -38.4, -40.0, -1e10, -np.inf, np.inf, 40.0, np.nan])
    got = gammaext.norm_cdf(x)
    want = exact(mpmath.ncdf, x[:-1])
    assert np.all(np.abs(got[:-1] - want) <= 2 * 5e-324 + 2e-15 * want)
    assert got[4] == 0.0 and got[5] == 1.0 and np.isnan(got[-1])


def test_pdf_full_precision(isa):
    x = np.linspace(-37.5, 37.5, 3001)  # beyond, the density is subnormal
    got = gammaext.norm_pdf(x)
    want = exact(mpmath.npdf, x)
    assert (np.abs(got - want) / want).max() < 1e-15


# The TradingView script's CDF (PINE_STRATEGY_SPEC.md section 3.4) as the independent slow
# replica writes it, with the same operations in the same order: the C++ must agree bit for bit.
pine_norm_cdf = pine_slow.as_norm_cdf


def test_as26217_reproduces_the_script_bit_for_bit(rng):
    x = np.concatenate([rng.normal(0, 3, 5000), [-10.0, 10.0, -10.5, 11.0, 0.0, -0.0]])
    got = gammaext.norm_cdf(x, normal="as26217")
    assert_array_equal(got, [pine_norm_cdf(v) for v in x])


def test_as26217_worked_values_from_the_spec():
    # PINE_STRATEGY_SPEC.md section 10, "A&S norm_cdf: x = -3, -1, 0, 1, 2.5".
    got = gammaext.norm_cdf([-3.0, -1.0, 0.0, 1.0, 2.5], normal="as26217")
    want = [0.0013499672222303427, 0.15865525956256177, 0.5000000005266043,
            0.8413447404374382, 0.9937903201465275]
    assert_array_equal(got, want)


def test_normal_functions_validate_and_keep_shape():
    assert isinstance(gammaext.norm_cdf(0.3), float)
    assert gammaext.norm_pdf(np.zeros((2, 3))).shape == (2, 3)
    with pytest.raises(ValueError, match="normal must be"):
        gammaext.norm_cdf(0.0, normal="fast")
    x = np.linspace(-3, 3, 7)
    out = x.copy()
    gammaext.norm_cdf(out, out=out)  # in place is allowed
    assert_array_equal(out, gammaext.norm_cdf(x))
