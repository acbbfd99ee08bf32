"""Implied volatility: accuracy against mpmath, statuses, the NumPy reference, API behaviour,
real option chains."""

from __future__ import annotations

import csv
import math
import subprocess
import sys
from functools import lru_cache

import numpy as np
import pytest
from conftest import data_file
from hypothesis import given, settings, strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import gammaext
from gammaext import IVStatus, reference
from gammaext.iv import _normalised_black

mpmath = pytest.importorskip("mpmath")

EPS = np.finfo(np.float64).eps
S0, RATE, DIV = 100.0, 0.03, 0.01


# --------------------------------------------------------------------------------------------
# An independent, high-precision oracle.


def mp_price(spot, strike, t, vol, rate, div, is_call, dps=50):
    """Black-Scholes-Merton price and vol elasticity vol * vega / price, in mpmath."""
    with mpmath.workdps(dps):
        S, K, T, v, r, q = (mpmath.mpf(float(a)) for a in (spot, strike, t, vol, rate, div))
        F = S * mpmath.exp((r - q) * T)
        sd = v * mpmath.sqrt(T)
        d1 = mpmath.log(F / K) / sd + sd / 2
        d2 = d1 - sd
        D = mpmath.exp(-r * T)
        if is_call:
            p = D * (F * mpmath.ncdf(d1) - K * mpmath.ncdf(d2))
        else:
            p = D * (K * mpmath.ncdf(-d2) - F * mpmath.ncdf(-d1))
        vega = D * F * mpmath.npdf(d1) * mpmath.sqrt(T)
        el = v * vega / p if p > 0 else mpmath.mpf(0)
        return float(p), float(el)


def mp_normalised_black(x, s, dps=50):
    with mpmath.workdps(dps):
        x, s = mpmath.mpf(float(x)), mpmath.mpf(float(s))
        h, t = x / s, s / 2
        b = mpmath.exp(x / 2) * mpmath.ncdf(h + t) - mpmath.exp(-x / 2) * mpmath.ncdf(h - t)
        el = s * mpmath.exp(-(h * h + t * t) / 2) / mpmath.sqrt(2 * mpmath.pi) / b
        return float(b), float(el)


# --------------------------------------------------------------------------------------------
# The normalised Black function the solver inverts.


def test_normalised_black_against_mpmath(rng):
    n = 1500
    x = -np.exp(rng.uniform(np.log(1e-6), np.log(40.0), n))
    x[::20] = 0.0
    x[1::7] *= -1.0  # in the money: evaluated through put-call parity
    s = np.exp(rng.uniform(np.log(1e-5), np.log(30.0), n))
    b = _normalised_black(x, s)
    ref = np.array([mp_normalised_black(a, c) for a, c in zip(x, s)])
    bref, el = ref[:, 0], ref[:, 1]
    keep = bref > 1e-300
    # A few ulps, times the elasticity s b'/b where the function is that sensitive to its
    # arguments (deep out of the money): the rounding of h = x/s alone moves b by eps h^2.
    err = np.abs(b[keep] / bref[keep] - 1)
    assert np.all(err <= 4 * EPS * (1 + el[keep])), err.max()


# --------------------------------------------------------------------------------------------
# The accuracy goal of the issue, over a dense grid.

GRID_KF = np.geomspace(0.05, 20.0, 21)
GRID_T = np.array([1 / 8760, 1 / 365, 7 / 365, 30 / 365, 0.25, 1.0, 5.0, 30.0])
GRID_VOL = np.geomspace(0.001, 5.0, 13)


@lru_cache(maxsize=1)
def grid():
    kf, t, vol, call = np.meshgrid(GRID_KF, GRID_T, GRID_VOL, [True, False], indexing="ij")
    kf, t, vol, call = (a.ravel() for a in (kf, t, vol, call))
    strike = S0 * np.exp((RATE - DIV) * t) * kf
    ref = np.array(
        [mp_price(S0, k, tt, v, RATE, DIV, c) for k, tt, v, c in zip(strike, t, vol, call)]
    )
    return strike, t, vol, call, ref[:, 0], ref[:, 1]


def test_grid_price_and_vol_accuracy():
    strike, t, vol, call, price, el = grid()
    live = price > 0  # prices that underflow to 0 carry nothing (at_intrinsic, vol 0)
    iv, status = gammaext.implied_vol(
        price, S0, strike, t, RATE, DIV, is_call=call, return_status=True
    )
    # Where the price carries no information the status says so, and only there.
    dq, dr = np.exp(-DIV * t), np.exp(-RATE * t)
    floor = np.maximum(np.where(call, S0 * dq - strike * dr, strike * dr - S0 * dq), 0)
    max_p = np.where(call, S0 * dq, strike * dr)
    at = status == IVStatus.at_intrinsic
    above = status == IVStatus.above_max
    # (the kernel's 4 ulps of S + K, plus one for NumPy's exp against the kernel's)
    assert np.all(price[at] - floor[at] <= 5 * EPS * (S0 * dq[at] + strike[at] * dr[at]))
    assert np.all(price[above] >= max_p[above] * (1 - 4 * EPS))
    # A vol wherever the price has a time value: ok, or imprecise where the price determines
    # it to worse than 1e-8 (deep in the money, tiny vol sqrt t).
    ok = (status == IVStatus.ok) | (status == IVStatus.imprecise)
    assert np.all(ok | at | above), np.unique(status)
    assert np.all(at[~live])
    assert ok.sum() > 1500  # of 4368: the rest are deep in the money or underflow

    # Price reproduced: 1e-14 relative, or a few ulps of vol times the elasticity vol*vega/price
    # where that is large (no double vol can do better there); absolute slack of a few
    # subnormal ulps (times the elasticity) where the price itself is near underflow.
    back = np.array(
        [
            mp_price(S0, k, tt, v, RATE, DIV, c)[0]
            for k, tt, v, c in zip(strike[ok], t[ok], iv[ok], call[ok])
        ]
    )
    p, e = price[ok], el[ok]
    tol = 1e-14 * p + 4 * EPS * e * p + 8 * 5e-324 * (1 + e)
    bad = np.abs(back - p) > tol
    assert not bad.any(), (np.abs(back - p) / p)[bad][:5]
    # Vol to 1e-12 wherever vega is not negligible (elasticity >= 1e-2: a price error of
    # 1e-14 moves vol by at most 1e-12).
    # (Subnormal prices carry only a few bits, so the vol they imply is only that good.)
    sens = (e >= 1e-2) & (p >= np.finfo(np.float64).tiny)
    assert_allclose(iv[ok][sens], vol[ok][sens], rtol=1e-12, atol=0)


def test_grid_every_isa(isa):
    strike, t, vol, call, price, el = grid()
    sub = slice(None, None, 7)
    iv = gammaext.implied_vol(price[sub], S0, strike[sub], t[sub], RATE, DIV, is_call=call[sub])
    ok = (iv > 0) & (price[sub] >= np.finfo(np.float64).tiny) & (el[sub] >= 1e-2)
    # Each instruction set meets the same vol tolerance as the default one.
    assert_allclose(iv[ok], vol[sub][ok], rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Issue 18: a vol whenever the price determines one. In the money with small vol sqrt t the time
# value is a tiny part of the price (1e-13 and less); the vol is still determined to the
# attainable accuracy eps max(1, B/(s dB/ds)) = eps max(1, price/(vol vega)), and is returned
# unless the time value is within the rounding of the price.

ATTAINABLE = 8  # the goal: vol within 8x the attainable accuracy


def mp_b76(forward, strike, t, vol, is_call, dps=50):
    """Black-76 with r = 0: the exact price, its time value and the attainable accuracy of the
    vol, eps max(1, price/(vol vega)) (all floats)."""
    with mpmath.workdps(dps):
        F, K, T, v = (mpmath.mpf(float(a)) for a in (forward, strike, t, vol))
        sd = v * mpmath.sqrt(T)
        d1 = mpmath.log(F / K) / sd + sd / 2
        d2 = d1 - sd
        phi = 1 if is_call else -1
        p = phi * (F * mpmath.ncdf(phi * d1) - K * mpmath.ncdf(phi * d2))
        tv = p - max(phi * (F - K), 0)
        vega = F * mpmath.npdf(d1) * mpmath.sqrt(T)
        return float(p), float(tv), float(EPS * max(1, p / (v * vega)))


def itm_small_vol_grid(n: int) -> tuple[np.ndarray, ...]:
    """n Black-76 options (F = 100, r = 0) in the money by 1 to 9 vol sqrt t, vol sqrt t from
    5e-4 to 0.05, calls and puts; strikes rounded to 6 decimals (exact doubles, as quoted)."""
    rng = np.random.default_rng(1802)
    t = np.exp(rng.uniform(np.log(1 / 365), np.log(2.0), n))
    vol = np.exp(rng.uniform(np.log(5e-4), np.log(0.05), n)) / np.sqrt(t)
    call = rng.random(n) < 0.5
    h = rng.uniform(1.0, 9.0, n)
    strike = np.round(100.0 * np.exp(-np.where(call, 1, -1) * h * vol * np.sqrt(t)), 6)
    return strike, t, vol, call


@lru_cache(maxsize=1)
def itm_small_vol_reference(n: int) -> np.ndarray:
    return np.array([mp_b76(100.0, *a) for a in zip(*itm_small_vol_grid(n))])


def test_in_the_money_small_vol_is_not_at_intrinsic_too_early(isa):
    strike, t, vol, call = itm_small_vol_grid(1200)
    ref = itm_small_vol_reference(1200)
    price, tv, bound = ref[:, 0], ref[:, 1], ref[:, 2]
    iv, status = gammaext.black76_implied_vol(price, 100.0, strike, t, 0.0, is_call=call,
                                              return_status=True)
    given = (status == IVStatus.ok) | (status == IVStatus.imprecise)
    at = status == IVStatus.at_intrinsic
    assert np.all(given | at), np.unique(status)
    # 0 only where the time value is within the rounding of the price (a few ulps) ...
    assert np.all(tv[at] <= 8 * EPS * price[at]), (tv[at] / price[at] / EPS).max()
    # ... a vol wherever it is more than that ...
    assert np.all(given[tv > 8 * EPS * price])
    assert given.sum() > 900  # of 1200 (the rest have a time value of a few ulps or less)
    # ... within 8x the attainable accuracy.
    err = np.abs(iv[given] / vol[given] - 1)
    worst = int(np.argmax(err / bound[given]))
    assert err[worst] <= ATTAINABLE * bound[given][worst], err[worst] / bound[given][worst]
    # imprecise says the attainable accuracy is worse than 1e-8 (judged from the kernel's own
    # evaluation: a factor 2 either way).
    assert np.all(bound[status == IVStatus.imprecise] > 0.5e-8)
    assert np.all(bound[status == IVStatus.ok] < 2e-8)
    assert (status == IVStatus.imprecise).sum() > 100


def test_issue_18_in_the_money_put():
    # Price 1.23 with a time value of about 1e-13 of it: the vol was 0 (at_intrinsic) before,
    # although the price determines it to 4e-5.
    strike, t, vol = 101.228023, 0.1926, 0.0040876
    price, tv, bound = mp_b76(100.0, strike, t, vol, False)
    assert 3e-5 < bound < 5e-5 and tv > 1e-14 * price
    iv, status = gammaext.black76_implied_vol(price, 100.0, strike, t, 0.0, is_call=False,
                                              return_status=True)
    assert status is IVStatus.imprecise
    assert abs(iv / vol - 1) <= ATTAINABLE * bound


# Random again (issue 18): near the money the normalised price cancelled (b_max - g by b_max/b, the
# erfcx difference by e1/(e1 - e2)) and a random AVX2 draw once gave 9.0x the attainable bound.
# With b from Cody's erf there, the worst over 920,000 draws of this distribution (mpmath
# prices, each instruction set) is 5.0x (benchmarks/RESULTS.md), against the 8x goal.
@settings(max_examples=200, deadline=None)
@given(
    h=st.floats(-12.0, 12.0),  # ln(F/K) in units of vol sqrt t; positive: calls in the money
    sd=st.floats(1e-4, 2.0),
    t=st.floats(1 / 365, 10.0),
    is_call=st.booleans(),
)
def test_vol_within_the_attainable_accuracy_random(h, sd, t, is_call):
    vol = sd / math.sqrt(t)
    strike = 100.0 * math.exp(-h * sd)
    price, tv, bound = mp_b76(100.0, strike, t, vol, is_call)
    if not price >= np.finfo(np.float64).tiny:
        return
    iv, status = gammaext.black76_implied_vol(price, 100.0, strike, t, 0.0, is_call=is_call,
                                              return_status=True)
    if tv > 8 * EPS * price:
        assert status in (IVStatus.ok, IVStatus.imprecise), status
    if status in (IVStatus.ok, IVStatus.imprecise):
        assert abs(iv / vol - 1) <= ATTAINABLE * bound, abs(iv / vol - 1) / bound
    else:
        assert status is IVStatus.at_intrinsic and tv <= 8 * EPS * price


# --------------------------------------------------------------------------------------------
# Round trip with gammaext.price.



@pytest.mark.parametrize("rate, div, t", [(0.06, 0.01, 30.0), (0.05, 0.0, 20.0),
                                          (0.1, 0.0, 10.0), (0.04, 0.02, 30.0)])
def test_at_the_forward_long_dated_tiny_vol(rate, div, t):
    # ln(S/K) and (r - q) t cancel at the forward; an ulp of either (~1e-16) moves b there by
    # 1/(2 s n(0)) times that, 3e-14 at vol 0.1% over 30 years. The kernel takes ln(S/K) in
    # double-double and puts back the roundings of r - q and (r - q) t (implied_vol_kernel.cpp).
    strike = S0 * math.exp((rate - div) * t)
    for vol in (0.001, 0.002, 0.005):
        for call in (True, False):
            p = mp_price(S0, strike, t, vol, rate, div, call)[0]
            iv = gammaext.implied_vol(p, S0, strike, t, rate, div, is_call=call)
            back = mp_price(S0, strike, t, iv, rate, div, call)[0]
            assert abs(back - p) <= 1e-14 * p, (vol, call, abs(back - p) / p)

@settings(max_examples=200, deadline=None)
@given(
    moneyness=st.floats(0.5, 2.0),
    t=st.floats(0.01, 5.0),
    vol=st.floats(0.05, 2.0),
    rate=st.floats(-0.02, 0.1),
    div=st.floats(0.0, 0.05),
    is_call=st.booleans(),
)
def test_round_trip_with_price(moneyness, t, vol, rate, div, is_call):
    strike = S0 * moneyness
    p = gammaext.price(S0, strike, t, vol, rate, div, is_call=is_call)
    iv = gammaext.implied_vol(p, S0, strike, t, rate, div, is_call=is_call)
    vega = gammaext.greeks(S0, strike, t, vol, rate, div, is_call=is_call, which="vega").vega
    # The price function's own rounding (a few ulps of S + K) moves vol by that over vega; the
    # recovered vol reprices to within it.
    if vega > 1e-6 * p:  # (multiplied out: vega may be subnormal, and 1/vega overflow)
        assert abs(iv - vol) * vega <= 1e-12 * vol * vega + 8 * EPS * (S0 + strike)
    assert abs(gammaext.price(S0, strike, t, iv, rate, div, is_call=is_call) - p) <= 8 * EPS * (
        S0 + strike
    )


def test_black76_round_trip():
    fwd, strike, t = 105.0, np.array([50.0, 90.0, 105.0, 130.0, 300.0]), 0.75
    vol = np.array([0.9, 0.3, 0.2, 0.25, 1.2])
    p = gammaext.black76_price(fwd, strike, t, vol, 0.04, is_call=[False, False, True, True, True])
    iv = gammaext.black76_implied_vol(
        p, fwd, strike, t, 0.04, is_call=[False, False, True, True, True]
    )
    assert_allclose(iv, vol, rtol=1e-12)  # moderate vegas: 1e-12 is the issue's target


# --------------------------------------------------------------------------------------------
# Statuses.

STATUS_CASES = [
    # (price, spot, strike, t, rate, div, is_call, expected)
    (10.0, 100.0, 100.0, 1.0, 0.0, 0.0, True, IVStatus.ok),
    (-1.0, 100.0, 100.0, 1.0, 0.0, 0.0, True, IVStatus.below_intrinsic),
    (19.0, 120.0, 100.0, 1.0, 0.0, 0.0, True, IVStatus.below_intrinsic),
    # A European put below K - S but above the forward intrinsic K e^{-rt} - S: has a vol.
    (4.9, 95.0, 100.0, 1.0, 0.05, 0.0, False, IVStatus.ok),
    (100.0, 100.0, 100.0, 1.0, 0.0, 0.0, True, IVStatus.above_max),
    (250.0, 100.0, 100.0, 1.0, 0.0, 0.0, True, IVStatus.above_max),
    (100.0, 100.0, 100.0, 1.0, 0.0, 0.0, False, IVStatus.above_max),
    (0.0, 100.0, 120.0, 1.0, 0.0, 0.0, True, IVStatus.at_intrinsic),
    (20.0, 120.0, 100.0, 1.0, 0.0, 0.0, True, IVStatus.at_intrinsic),
    (1.0, -100.0, 100.0, 1.0, 0.0, 0.0, True, IVStatus.invalid_input),
    (1.0, 100.0, 0.0, 1.0, 0.0, 0.0, True, IVStatus.invalid_input),
    (1.0, 100.0, 100.0, 0.0, 0.0, 0.0, True, IVStatus.invalid_input),
    (1.0, 100.0, 100.0, -1.0, 0.0, 0.0, True, IVStatus.invalid_input),
    (math.nan, 100.0, 100.0, 1.0, 0.0, 0.0, True, IVStatus.invalid_input),
    (1.0, 100.0, 100.0, 1.0, math.inf, 0.0, True, IVStatus.invalid_input),
    (1.0, 100.0, 100.0, 1.0, 0.0, math.nan, True, IVStatus.invalid_input),
    (math.inf, 100.0, 100.0, 1.0, 0.0, 0.0, True, IVStatus.invalid_input),
]


@pytest.mark.parametrize(
    "case", STATUS_CASES, ids=[f"{c[-1].name}-{i}" for i, c in enumerate(STATUS_CASES)]
)
def test_status(case):
    *args, is_call, expected = case
    vol, status = gammaext.implied_vol(*args, is_call=is_call, return_status=True)
    assert status is expected
    if expected is IVStatus.ok:
        assert vol > 0
    elif expected is IVStatus.at_intrinsic:
        assert vol == 0.0
    else:
        assert math.isnan(vol)
    _, ref_status = reference.implied_vol(*args, is_call=is_call, return_status=True)
    assert int(ref_status) == int(expected)


def test_bad_prices_inside_a_vector_never_raise():
    prices = np.array([10.0, -1.0, np.nan, 1e9, 0.0, 10.0])
    vol, status = gammaext.implied_vol(prices, 100.0, 100.0, 1.0, return_status=True)
    assert_array_equal(status, [0, 1, 4, 2, 3, 0])
    assert np.isnan(vol[[1, 2, 3]]).all() and vol[4] == 0.0
    assert vol[0] == vol[5]
    assert gammaext.implied_vol(prices, 100.0, 100.0, 1.0).shape == (6,)


def test_price_of_zero_vol_is_at_intrinsic():
    strike = np.array([60.0, 80.0, 95.0, 105.0, 120.0])
    for is_call in (True, False):
        p = gammaext.price(100.0, strike, 0.5, 0.0, 0.05, 0.02, is_call=is_call)
        vol, status = gammaext.implied_vol(
            p, 100.0, strike, 0.5, 0.05, 0.02, is_call=is_call, return_status=True
        )
        assert_array_equal(status, IVStatus.at_intrinsic)
        assert_array_equal(vol, 0.0)


def test_invalid_arguments_raise():
    with pytest.raises(ValueError, match="broadcast"):
        gammaext.implied_vol(np.ones(3), 100.0, np.ones(4), 1.0)
    with pytest.raises(TypeError, match="price"):
        gammaext.implied_vol(np.array(["a"]), 100.0, 100.0, 1.0)
    with pytest.raises(ValueError, match="call"):
        gammaext.implied_vol(1.0, 100.0, 100.0, 1.0, is_call="straddle")
    with pytest.raises(ValueError, match="threads"):
        gammaext.implied_vol(1.0, 100.0, 100.0, 1.0, threads=0)
    with pytest.raises(ValueError, match="shape"):
        gammaext.implied_vol(np.ones(3), 100.0, 100.0, 1.0, out=np.empty(4))
    with pytest.raises(TypeError, match="float64"):
        gammaext.implied_vol(np.ones(3), 100.0, 100.0, 1.0, out=np.empty(3, dtype=np.float32))


# --------------------------------------------------------------------------------------------
# Against the NumPy reference.


def test_agrees_with_reference(rng):
    n = 3000
    strike = S0 * np.exp(rng.normal(0.0, 0.3, n))
    t = np.exp(rng.uniform(np.log(0.01), np.log(3.0), n))
    vol = rng.uniform(0.05, 1.0, n)
    call = rng.uniform(size=n) < 0.5
    p = reference.price(S0, strike, t, vol, RATE, DIV, is_call=call)
    ours, s1 = gammaext.implied_vol(p, S0, strike, t, RATE, DIV, is_call=call, return_status=True)
    ref, s2 = reference.implied_vol(p, S0, strike, t, RATE, DIV, is_call=call, return_status=True)
    # The same statuses, except within rounding of a boundary, where the two implementations'
    # roundings may fall on either side: a time value within 16 ulps of the price, or an
    # attainable accuracy within a factor 2 of the imprecise threshold (1e-8).
    x = np.log(S0 / strike) + (RATE - DIV) * t
    pn = p / np.sqrt(S0 * np.exp(-DIV * t) * strike * np.exp(-RATE * t))
    tv = pn - np.where(np.where(call, 1, -1) * x > 0, 2 * np.sinh(np.abs(x) / 2), 0)
    vega = reference.greeks(S0, strike, t, vol, RATE, DIV, is_call=call)["vega"]
    with np.errstate(divide="ignore", invalid="ignore"):  # vega 0 where the price underflows
        accuracy = EPS * p / (vol * vega)
    near_intrinsic = (np.abs(tv) <= 16 * EPS * pn) & (tv != 0)
    boundary = near_intrinsic | ((accuracy > 0.5e-8) & (accuracy < 2e-8))
    assert boundary.mean() < 0.05  # (68 of 3000 are deep in the money: intrinsic to an ulp)
    assert_array_equal(s1[~boundary], s2[~boundary])
    ok = (s1 == 0) & (vol * vega > 1e-3 * p)
    # Both invert the same (reference) prices; the reference stops at a bracket of a few ulps.
    assert_allclose(ours[ok], ref[ok], rtol=1e-11)
    assert ok.mean() > 0.8


# --------------------------------------------------------------------------------------------
# API behaviour like greeks().


def test_scalar_in_scalar_out():
    p = gammaext.price(100.0, 110.0, 0.5, 0.25)
    iv = gammaext.implied_vol(p, 100.0, 110.0, 0.5)
    assert isinstance(iv, float)
    assert iv == pytest.approx(0.25, rel=1e-13)


def test_broadcasting_and_call_put_words():
    strike = np.array([[90.0], [100.0], [110.0]])
    t = np.array([0.25, 0.5, 1.0, 2.0])
    vol = 0.3
    is_call = np.array(["call", "put", "c", "P"])
    p = gammaext.price(100.0, strike, t, vol, is_call=is_call)
    iv = gammaext.implied_vol(p, 100.0, strike, t, is_call=is_call)
    assert iv.shape == (3, 4)
    assert_allclose(iv, vol, rtol=1e-12)
    # Non-contiguous and integer inputs.
    p_t = np.asfortranarray(p)
    assert_allclose(gammaext.implied_vol(p_t, 100, strike.astype(int), t, is_call=is_call), iv)


def test_out_buffer_and_inputs_untouched(rng):
    n = 1000
    strike = S0 * np.exp(rng.normal(0.0, 0.2, n))
    p = gammaext.price(S0, strike, 1.0, 0.2)
    p_copy, k_copy = p.copy(), strike.copy()
    out = np.empty(n)
    res = gammaext.implied_vol(p, S0, strike, 1.0, out=out)
    assert res is out
    assert_array_equal(p, p_copy)
    assert_array_equal(strike, k_copy)
    # out= may be the price array itself.
    alias = p.copy()
    gammaext.implied_vol(alias, S0, strike, 1.0, out=alias)
    assert_array_equal(alias, out)


def test_threads_do_not_change_results(rng):
    n = 50_000
    strike = S0 * np.exp(rng.normal(0.0, 0.3, n))
    t = rng.uniform(0.02, 2.0, n)
    vol = rng.uniform(0.05, 1.5, n)
    p = gammaext.price(S0, strike, t, vol, RATE, DIV)
    one = gammaext.implied_vol(p, S0, strike, t, RATE, DIV, threads=1)
    for threads in (2, 3, 7):
        assert_array_equal(gammaext.implied_vol(p, S0, strike, t, RATE, DIV, threads=threads), one)


def test_result_independent_of_neighbours(rng):
    # A lane's iteration never depends on the other lanes of its SIMD block.
    n = 500
    strike = S0 * np.exp(rng.normal(0.0, 0.4, n))
    t = rng.uniform(0.01, 3.0, n)
    p = gammaext.price(S0, strike, t, rng.uniform(0.05, 2.0, n))
    together = gammaext.implied_vol(p, S0, strike, t)
    alone = np.array([gammaext.implied_vol(p[i], S0, strike[i], t[i]) for i in range(0, n, 25)])
    assert_array_equal(alone, together[::25])



def test_far_from_the_money_beyond_the_guess_table(rng):
    # Beyond |ln(F/K)| = 9 the initial guess comes from the model instead of the table
    # (implied_vol_kernel.cpp). Such lanes are mixed into the same blocks as ordinary ones here:
    # both kinds converge, and each lane's result is the one it gets alone, to the bit.
    kf = np.array([1e-6, 3e-5, 1e-4, 2e-4, 8e3, 4e4, 1e5, 1e6])  # |x| from 8.5 to 13.8
    t, vols = 10.0, np.array([1.0, 1.5, 2.0])
    kf, vol = (a.ravel() for a in np.meshgrid(kf, vols, indexing="ij"))
    fwd = S0 * np.exp((RATE - DIV) * t)
    strike = fwd * kf
    call = kf > 1.0  # out of the money
    price = gammaext.price(S0, strike, t, vol, RATE, DIV, is_call=call)
    far = gammaext.implied_vol(price, S0, strike, t, RATE, DIV, is_call=call)
    assert np.all(np.abs(np.log(kf)) > 8.4)
    assert_allclose(far, vol, rtol=1e-12)
    back = gammaext.price(S0, strike, t, far, RATE, DIV, is_call=call)
    assert_allclose(back, price, rtol=1e-13)

    n = 300
    k2 = S0 * np.exp(rng.normal(0.0, 0.4, n))
    t2 = rng.uniform(0.01, 3.0, n)
    p2 = gammaext.price(S0, k2, t2, rng.uniform(0.05, 2.0, n))
    near = gammaext.implied_vol(p2, S0, k2, t2)
    # Interleave: every 13th element is a far one.
    at = np.arange(0, n, 13)[: len(far)]
    p_mix, k_mix, t_mix = (np.insert(a, at, b[: len(at)]) for a, b in
                           ((p2, price), (k2, strike), (t2, np.full(len(far), t))))
    c_mix = np.insert(np.full(n, True), at, call[: len(at)])
    r_mix = np.insert(np.zeros(n), at, RATE)
    q_mix = np.insert(np.zeros(n), at, DIV)
    mixed = gammaext.implied_vol(p_mix, S0, k_mix, t_mix, r_mix, q_mix, is_call=c_mix)
    is_far = np.zeros(len(mixed), bool)
    is_far[at + np.arange(len(at))] = True
    assert_array_equal(mixed[~is_far], near)
    assert_array_equal(mixed[is_far], far[: len(at)])



def test_tiny_vol_a_hair_from_the_money_converges():
    # Strikes within 1e-14..1e-4 of the spot and vol sqrt(t) down to 1e-16: prices from 1e-300
    # up, many of them with an elasticity in the hundreds (the vol is then only as good as the
    # rounding of K/S allows). The iteration must still end (no not_converged), with a finite
    # vol wherever the status is ok. (The guess table's first rows once sent such lanes to
    # s_c/2048 and they ran out of iterations.)
    spot, t = 100.0, 1.0
    k, v = np.meshgrid(spot * (1 + np.geomspace(1e-14, 1e-4, 40)), np.geomspace(1e-16, 1e-6, 40))
    k, v = k.ravel(), v.ravel()
    p = gammaext.price(spot, k, t, v)
    iv, status = gammaext.implied_vol(p, spot, k, t, return_status=True)
    assert not np.any(status == IVStatus.not_converged)
    ok = status == IVStatus.ok
    assert ok.sum() > 500
    assert np.all(np.isfinite(iv[ok]))

def test_first_calls_from_many_threads_agree():
    # The guess table is built on the first call (a function-local static in C++): calls that
    # race to it from several threads, with the GIL released, all wait for the same table.
    code = """
import threading, numpy as np, gammaext
rng = np.random.default_rng(3)
k = 100 * np.exp(rng.normal(0, 0.3, 4000)); t = rng.uniform(0.02, 2, 4000)
p = gammaext.price(100.0, k, t, rng.uniform(0.1, 0.8, 4000))
out = [None] * 6
def run(i):
    out[i] = gammaext.implied_vol(p, 100.0, k, t, threads=1)
threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
for th in threads: th.start()
for th in threads: th.join()
again = gammaext.implied_vol(p, 100.0, k, t, threads=1)
print(all(np.array_equal(o, again) for o in out) and not np.isnan(again).any())
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"

def test_empty():
    assert gammaext.implied_vol(np.array([]), 100.0, 100.0, 1.0).shape == (0,)


# --------------------------------------------------------------------------------------------
# Real data.


def _rows(name):
    with open(data_file(name), newline="") as f:
        return list(csv.DictReader(f))


def test_spy_chain_out_of_the_money():
    rows = _rows("spy_options_2026-05-01.csv")
    bid = np.array([float(r["bid"]) for r in rows])
    ask = np.array([float(r["ask"]) for r in rows])
    strike = np.array([float(r["strike"]) for r in rows])
    spot = np.array([float(r["S"]) for r in rows])
    t = np.array([float(r["t_years_act365"]) for r in rows])
    rate = np.array([float(r["r"]) for r in rows])
    div = np.array([float(r["q"]) for r in rows])
    call = np.array([r["option_type"] == "call" for r in rows])
    yahoo = np.array([float(r["yahoo_implied_volatility"]) for r in rows])
    # American options: only out-of-the-money strikes, with a two-sided quote.
    otm = np.where(call, strike > spot, strike < spot) & (bid > 0) & (ask > bid)
    mid = 0.5 * (bid + ask)
    iv, status = gammaext.implied_vol(
        mid[otm],
        spot[otm],
        strike[otm],
        t[otm],
        rate[otm],
        div[otm],
        is_call=call[otm],
        return_status=True,
    )
    assert np.mean(status == IVStatus.ok) > 0.99
    ok = status == IVStatus.ok
    # Yahoo's IV is a sanity band, not a reference (data/README.md: median 1.2 vol points).
    diff = np.abs(iv[ok] - yahoo[otm][ok])
    assert np.median(diff) < 0.02
    # Each inversion reprices its mid (the kernel's own accuracy claim on real inputs).
    back = gammaext.price(
        spot[otm][ok],
        strike[otm][ok],
        t[otm][ok],
        iv[ok],
        rate[otm][ok],
        div[otm][ok],
        is_call=call[otm][ok],
    )
    assert_allclose(back, mid[otm][ok], rtol=1e-12)


def test_deribit_chain_black76():
    rows = _rows("deribit_btc_options_2020-05-21.csv")
    fwd = np.array([float(r["underlying_price"]) for r in rows])
    strike = np.array([float(r["strike"]) for r in rows])
    t = np.array([float(r["t_years_act365"]) for r in rows])
    mark = np.array([float(r["mark_price_btc"]) for r in rows])
    mark_iv = np.array([float(r["mark_iv_pct"]) for r in rows]) / 100.0
    call = np.array([r["option_type"] == "call" for r in rows])
    otm = np.where(call, strike > fwd, strike < fwd) & (mark > 0)
    assert otm.sum() == 147  # as data/README.md counts
    iv, status = gammaext.black76_implied_vol(
        mark[otm] * fwd[otm],
        fwd[otm],
        strike[otm],
        t[otm],
        0.0,
        is_call=call[otm],
        return_status=True,
    )
    assert np.all(status == IVStatus.ok)
    # data/README.md: within 2e-3 of Deribit's mark IV for all, median 4e-5 (mark prices are
    # rounded to 1e-4 BTC or so, so the vols differ by that over vega).
    err = np.abs(iv - mark_iv[otm])
    assert err.max() < 2e-3
    assert np.median(err) < 1e-4


def test_out_buffer_overlapping_inputs_in_any_way():
    strikes = np.linspace(80.0, 120.0, 200)
    prices = gammaext.price(100.0, strikes, 1.0, 0.2)
    want = gammaext.implied_vol(prices, 100.0, strikes, 1.0)
    # A broadcast input that is a view of out=, and a price array shifted against out=.
    out = np.empty(200)
    out[0] = 100.0
    np.testing.assert_array_equal(gammaext.implied_vol(prices, out[:1], strikes, 1.0, out=out),
                                  want)
    buf = np.empty(201)
    buf[:-1] = prices
    np.testing.assert_array_equal(gammaext.implied_vol(buf[:-1], 100.0, strikes, 1.0,
                                                       out=buf[1:]), want)


def test_at_the_forward_tiny_time_value(isa):
    """At the forward b(0, s) = erf(s / sqrt 8), so s = sqrt(2 pi) beta below beta = 1e-8. The
    iteration ended at the smallest normal number there (a vol of 1e-308 for a price of 1e-15
    on a spot of 100, status imprecise); found by a random draw of the fuzz test."""
    for price, spot, t in [(1e-15, 100.0, 1.0), (1e-17, 100.0, 2.0),
                           (1.0, 1.8014398509481984e16, 8.112963841460668e31)]:
        for call in (True, False):
            vol, status = gammaext.implied_vol(price, spot, spot, t, is_call=call,
                                               return_status=True)
            assert status is IVStatus.ok
            want = math.sqrt(2 * math.pi) * (price / spot) / math.sqrt(t)
            assert vol == pytest.approx(want, rel=4 * EPS)
