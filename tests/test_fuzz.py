"""Fuzzing the public entry points with Hypothesis: random shapes, dtypes, strides, broadcasting
and extreme or non-finite values. Invariants: no crash or hang, the documented error types only,
finite outputs wherever the inputs are valid, NaN (never garbage) elsewhere, inputs untouched.

The profile is bounded for CI (settings below); GAMMAEXT_FUZZ_EXAMPLES=N runs a longer one."""

from __future__ import annotations

import os
import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import gammaext
from gammaext import GREEKS

EXAMPLES = int(os.environ.get("GAMMAEXT_FUZZ_EXAMPLES", "100"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

extreme = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=64),
    st.sampled_from([0.0, -0.0, 5e-324, 1e-300, 1e-12, 1.0, 1e12, 1e300, 1.8e308]),
)


@st.composite
def argument(draw, shape):
    """Something broadcastable to `shape`: a Python number, a 0-d or lower-rank array, a full
    array (float64, float32 or int64) or a strided view."""
    kind = draw(st.sampled_from(["int", "float", "row", "full", "float32", "strided"]))
    if kind == "int":
        return draw(st.integers(-10**6, 10**6))
    if kind == "float" or not shape:
        return draw(extreme)
    if kind == "row":
        return draw(hnp.arrays(np.int64, shape[-1:], elements=st.integers(-1000, 1000)))
    if kind == "strided":
        base = draw(hnp.arrays(np.float64, tuple(2 * d for d in shape), elements=extreme))
        return base[tuple(slice(None, None, 2) for _ in shape)]
    arr = draw(hnp.arrays(np.float64, shape, elements=extreme))
    if kind == "float32":
        with np.errstate(all="ignore"):
            return arr.astype(np.float32)
    return arr


def valid_mask(args, is_call=True):
    """Where the documented domain holds, and where moreover no result can overflow (moderate
    magnitudes, |rate t| and |div t| small enough that the discount factors stay moderate)."""
    b = np.stack(np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in args),
                                     np.asarray(is_call, dtype=np.float64)))[:6]
    s, k, t, v, r, q = b
    with np.errstate(all="ignore"):
        valid = (s > 0) & (k > 0) & (t >= 0) & (v >= 0) & np.isfinite(b).all(axis=0)
        sig = v * np.sqrt(t)
        moderate = (
            (s > 1e-50) & (s < 1e50) & (k > 1e-50) & (k < 1e50) & (t < 1e4) & (v < 1e3)
            & (np.abs(r) < 1e50) & (np.abs(q) < 1e50)
            & (np.abs(r * t) < 100) & (np.abs(q * t) < 100)
            & ((sig == 0) | (sig > 1e-30))
        )
    return valid, valid & moderate


@FUZZ
@given(data=st.data(), shape=hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
def test_greeks_never_crash(data, shape):
    args = [data.draw(argument(shape)) for _ in range(6)]
    is_call = data.draw(st.one_of(st.booleans(), hnp.arrays(np.bool_, shape)))
    copies = [np.array(a, copy=True) for a in args]
    which = data.draw(st.none() | st.lists(st.sampled_from(GREEKS), min_size=1, max_size=4))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", gammaext.InputWarning)  # percent-like values: expected
        g = gammaext.greeks(*args, is_call=is_call, which=which, errors="nan")
    for a, c in zip(args, copies):
        np.testing.assert_array_equal(np.asarray(a), c)  # inputs untouched
    valid, moderate = valid_mask(args, is_call)
    for name in g.computed:
        out = np.asarray(g[name])
        assert out.shape == valid.shape
        assert np.isnan(out[~valid]).all(), name
        # Valid, moderate inputs give finite outputs (huge ones may overflow legitimately).
        assert np.isfinite(out[moderate]).all(), name


@FUZZ
@given(data=st.data(), shape=hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=6))
def test_invalid_values_raise_value_error_only(data, shape):
    args = [data.draw(argument(shape)) for _ in range(6)]
    valid, _ = valid_mask(args)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", gammaext.InputWarning)
            gammaext.greeks(*args)
    except ValueError as e:
        assert "must be" in str(e) and not valid.all()


@FUZZ
@given(x=hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=2), elements=extreme),
       normal=st.sampled_from(["exact", "as26217"]))
def test_normal_functions_stay_in_range(x, normal):
    c = np.asarray(gammaext.norm_cdf(x, normal=normal))
    p = np.asarray(gammaext.norm_pdf(x, normal=normal))
    ok = ~np.isnan(x)
    assert ((c[ok] >= 0) & (c[ok] <= 1)).all() and (p[ok] >= 0).all()
    assert np.isnan(c[~ok]).all() and np.isnan(p[~ok]).all()
