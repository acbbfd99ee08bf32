"""Fuzzing implied_vol and black76_implied_vol: random shapes, dtypes, strides, broadcasting,
extreme and non-finite values, and prices near the no-arbitrage bounds.

Invariants: no crash and no exception for broadcastable numeric arguments (bad prices give a
status, never an error); every status is a documented IVStatus; the vol is NaN, 0 or a finite
positive number exactly as the status says; non-finite or non-positive spot/strike/t give
`invalid_input`; an ok vol reprices the input; inputs are never modified; the thread count
changes nothing. GAMMAEXT_FUZZ_EXAMPLES=N runs a longer profile (see test_fuzz.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp
from test_fuzz import FUZZ, argument, extreme

import gammaext
from gammaext import IVStatus

shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5)


@st.composite
def priced(draw, shape):
    """(price, spot, strike, t, rate, div, is_call): mostly valid market inputs whose prices come
    from gammaext.price (times a factor that may push them past the bounds), sometimes wild."""
    if draw(st.integers(0, 3)) == 0:  # wild: anything broadcastable
        args = [draw(argument(shape)) for _ in range(6)]
        return (*args, draw(st.one_of(st.booleans(), hnp.arrays(np.bool_, shape))))
    el = {
        "spot": st.floats(1e-3, 1e6), "moneyness": st.floats(0.05, 20.0),
        "t": st.floats(1e-6, 50.0), "vol": st.floats(1e-4, 5.0),
        "rate": st.floats(-0.1, 0.3), "div": st.floats(-0.1, 0.3),
    }
    spot, mny, t, vol, rate, div = (draw(hnp.arrays(np.float64, shape, elements=s))
                                    for s in el.values())
    is_call = draw(hnp.arrays(np.bool_, shape))
    price = np.asarray(gammaext.price(spot, spot * mny, t, vol, rate, div, is_call=is_call))
    factor = draw(st.sampled_from([1.0, 1.0, 1.0, 1 + 1e-15, 1 - 1e-15, 0.5, 2.0, 0.0, -1.0]))
    return price * factor, spot, spot * mny, t, rate, div, is_call


def check(args, is_call, vol, status):
    b = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in args),
                            np.asarray(is_call, dtype=np.float64))
    price, spot, strike, t, rate, div = b[:6]
    if not isinstance(status, IVStatus):
        assert status.dtype == np.int8
    vol, status = np.asarray(vol), np.asarray(status)
    assert vol.shape == status.shape == price.shape
    assert np.isin(status, [s.value for s in IVStatus]).all()
    nan_status = np.isin(status, [IVStatus.below_intrinsic, IVStatus.above_max,
                                  IVStatus.invalid_input, IVStatus.not_converged])
    assert np.isnan(vol[nan_status]).all()
    assert (vol[status == IVStatus.at_intrinsic] == 0).all()
    ok = (status == IVStatus.ok) | (status == IVStatus.imprecise)  # both return the vol
    assert (np.isfinite(vol[ok]) & (vol[ok] > 0)).all()
    with np.errstate(all="ignore"):
        bad_domain = ~np.isfinite(np.stack([price, spot, strike, t, rate, div])).all(axis=0)
        bad_domain |= (spot <= 0) | (strike <= 0) | (t <= 0)
    assert (status[bad_domain] == IVStatus.invalid_input).all()
    # An ok vol reprices the input: to 1e-9 of the price scale S e^{-qt} + K e^{-rt} (the
    # documented accuracy is ~1e-14 relative to the price; this bound leaves room for the
    # price's own rounding at any moneyness and is still far below any wrong root).
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", gammaext.InputWarning)
        scale = spot * np.exp(-div * t) + strike * np.exp(-rate * t)
        sane = ok & np.isfinite(scale) & (scale < 1e100)
        if sane.any():
            flags = np.broadcast_to(np.asarray(is_call, dtype=bool), price.shape)[sane]
            back = gammaext.price(spot[sane], strike[sane], t[sane], vol[sane], rate[sane],
                                  div[sane], is_call=flags, errors="nan")
            assert (np.abs(back - price[sane]) <= 1e-9 * scale[sane]).all()


@FUZZ
@given(data=st.data(), shape=shapes, black76=st.booleans())
def test_implied_vol_never_crashes(data, shape, black76):
    price, spot, strike, t, rate, div, is_call = data.draw(priced(shape))
    if black76:
        div = rate  # black76_implied_vol(F, ...) is implied_vol with spot=F, div=rate
    args = [price, spot, strike, t, rate, div]
    copies = [np.array(a, copy=True) for a in args]
    if black76:
        vol, status = gammaext.black76_implied_vol(price, spot, strike, t, rate, is_call=is_call,
                                                   return_status=True)
    else:
        vol, status = gammaext.implied_vol(*args, is_call=is_call, return_status=True)
    for a, c in zip(args, copies):
        np.testing.assert_array_equal(np.asarray(a), c)  # inputs untouched
    if np.ndim(status) == 0:
        assert isinstance(status, IVStatus)
    check(args, is_call, vol, status)
    # Bit-identical for any thread count.
    one = gammaext.implied_vol(*args, is_call=is_call, threads=1)
    np.testing.assert_array_equal(one, vol)


@FUZZ
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=6))
def test_implied_vol_out_buffer_may_alias_the_price(data, shape):
    price, spot, strike, t, rate, div, is_call = data.draw(priced(shape))
    price = np.array(np.broadcast_to(np.asarray(price, dtype=np.float64),
                                     np.broadcast_shapes(*(np.shape(a) for a in
                                                           (price, spot, strike, t, rate, div,
                                                            is_call)))), order="C")
    want = gammaext.implied_vol(price.copy(), spot, strike, t, rate, div, is_call=is_call)
    gammaext.implied_vol(price, spot, strike, t, rate, div, is_call=is_call, out=price)
    np.testing.assert_array_equal(price, want)


@FUZZ
@given(price=st.one_of(extreme, st.integers(-10, 10)), shape=shapes,
       dtype=st.sampled_from([np.float64, np.float32, np.int32, np.uint8, np.bool_]))
def test_implied_vol_dtypes_and_bad_arguments(price, shape, dtype):
    with np.errstate(all="ignore"):
        spot = np.full(shape, 100, dtype=dtype)
    if dtype is np.bool_:  # booleans are not prices: TypeError naming the argument
        with pytest.raises(TypeError, match="spot"):
            gammaext.implied_vol(price, spot, 100.0, 1.0)
        return
    vol, status = gammaext.implied_vol(price, spot, 100.0, 1.0, return_status=True)
    check([price, spot, 100.0, 1.0, 0.0, 0.0], True, vol, status)


def test_implied_vol_rejects_what_cannot_be_numbers():
    for bad, exc in ((np.ones(3), ValueError), ("x", (TypeError, ValueError)),
                     (np.array(["a"]), (TypeError, ValueError)), ({}, TypeError)):
        try:
            gammaext.implied_vol(1.0, np.ones(2), bad, 1.0)
        except exc as e:
            assert str(e)
        else:  # pragma: no cover
            raise AssertionError(f"{bad!r} accepted")
    # None (an object array) converts like NumPy's float(None) -> NaN: a missing value.
    _, status = gammaext.implied_vol(1.0, 100.0, [None, 100.0], 1.0, return_status=True)
    assert list(status) == [IVStatus.invalid_input, IVStatus.ok]
