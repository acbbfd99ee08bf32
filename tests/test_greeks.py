"""Black-Scholes-Merton prices and Greeks: reference, finite differences, identities, published
values, edge cases and bad input."""

from __future__ import annotations

import math
import warnings
from functools import lru_cache

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import gammaext
from gammaext import GREEKS, reference


def random_inputs(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """A broad but well-conditioned grid: moneyness 0.5..2, 1 day..5 years, vol 5%..150%."""
    return {
        "spot": rng.uniform(50, 150, n),
        "strike": rng.uniform(50, 150, n),
        "t": np.exp(rng.uniform(np.log(1 / 365), np.log(5), n)),
        "vol": rng.uniform(0.05, 1.5, n),
        "rate": rng.uniform(-0.02, 0.12, n),
        "div": rng.uniform(-0.01, 0.08, n),
    }


# ---------------------------------------------------------------------------------------------
# Against the NumPy reference


def test_matches_reference_on_every_isa(rng, isa):
    args = random_inputs(rng, 20_000)
    is_call = rng.random(20_000) < 0.5
    got = gammaext.greeks(**args, is_call=is_call)
    want = reference.greeks(**args, is_call=is_call)
    for name in GREEKS:
        scale = np.max(np.abs(want[name]))
        # Same formulas up to the arrangement of terms, different exp/log/CDF (both within a few
        # ulp): 1e-12 relative, plus 1e-13 of the Greek's largest magnitude for the Greeks that
        # are differences of terms (theta, charm, veta, color, ultima cancel internally).
        assert_allclose(got[name], want[name], rtol=1e-12, atol=1e-13 * scale, err_msg=name)


def test_vector_call_equals_scalar_loop(rng, isa):
    args = random_inputs(rng, 50)
    is_call = rng.random(50) < 0.5
    vec = gammaext.greeks(**args, is_call=is_call)
    for i in range(50):
        one = gammaext.greeks(**{k: float(v[i]) for k, v in args.items()}, is_call=bool(is_call[i]))
        for name in GREEKS:
            assert isinstance(one[name], float)
            assert one[name] == vec[name][i], name  # the same kernel: bit for bit


def test_threads_do_not_change_results(rng):
    args = random_inputs(rng, 200_001)  # above the per-thread threshold, odd-sized chunks
    one = gammaext.greeks(**args, threads=1)
    for threads in (2, 3, 7):
        many = gammaext.greeks(**args, threads=threads)
        for name in GREEKS:
            assert_array_equal(many[name], one[name])


# ---------------------------------------------------------------------------------------------
# Greeks as derivatives: central finite differences of the kernel's own lower-order outputs

FD_POINTS = [
    # spot, strike, t, vol, rate, div
    (100.0, 100.0, 0.5, 0.25, 0.05, 0.02),
    (100.0, 80.0, 1.5, 0.40, 0.03, 0.06),
    (100.0, 125.0, 0.1, 0.15, 0.08, -0.01),
    (42.0, 40.0, 2.0, 0.60, -0.01, 0.03),
]

# name -> (lower-order output, variable, sign): name = sign * d(lower)/d(variable). Calendar-time
# Greeks are -d/dt of the expiry time t.
DERIVATIVES = {
    "delta": ("price", "spot", 1),
    "gamma": ("delta", "spot", 1),
    "theta": ("price", "t", -1),
    "vega": ("price", "vol", 1),
    "rho": ("price", "rate", 1),
    "epsilon": ("price", "div", 1),
    "vanna": ("delta", "vol", 1),
    "charm": ("delta", "t", -1),
    "vomma": ("vega", "vol", 1),
    "veta": ("vega", "t", -1),
    "speed": ("gamma", "spot", 1),
    "zomma": ("gamma", "vol", 1),
    "color": ("gamma", "t", -1),
    "ultima": ("vomma", "vol", 1),
    "dual_delta": ("price", "strike", 1),
    "dual_gamma": ("dual_delta", "strike", 1),
}


@pytest.mark.parametrize("point", FD_POINTS, ids=lambda p: "S{}K{}t{}v{}".format(*p[:4]))
@pytest.mark.parametrize("is_call", [True, False], ids=["call", "put"])
@pytest.mark.parametrize("name", list(DERIVATIVES))
def test_greek_is_derivative(point, is_call, name):
    lower, var, sign = DERIVATIVES[name]
    args = dict(zip(("spot", "strike", "t", "vol", "rate", "div"), point))
    h = 1e-5 * max(abs(args[var]), 1.0)

    def f(x: float) -> float:
        return float(gammaext.greeks(**{**args, var: x}, is_call=is_call, which=lower)[lower])

    fd = sign * (f(args[var] + h) - f(args[var] - h)) / (2 * h)
    exact = gammaext.greeks(**args, is_call=is_call, which=name)[name]
    # Central differences: truncation O(h^2) ~ 1e-10 relative, rounding ~ eps/h ~ 1e-11 of the
    # lower-order output; 1e-6 relative plus a small absolute floor covers both with margin.
    assert exact == pytest.approx(fd, rel=1e-6, abs=1e-7 * (1 + abs(f(args[var]))))


# ---------------------------------------------------------------------------------------------
# Identities


def test_put_call_parity_and_symmetries(rng, isa):
    a = random_inputs(rng, 10_000)
    c = gammaext.greeks(**a, is_call=True)
    p = gammaext.greeks(**a, is_call=False)
    dq, dr = np.exp(-a["div"] * a["t"]), np.exp(-a["rate"] * a["t"])
    forward_value = a["spot"] * dq - a["strike"] * dr
    # Parity holds to rounding of the larger leg (the price is a difference of two terms).
    assert_allclose(c.price - p.price, forward_value, rtol=0, atol=1e-12 * a["spot"].max())
    assert_allclose(c.delta - p.delta, dq, rtol=0, atol=1e-15)
    for name in ("gamma", "vega", "vanna", "vomma", "veta", "speed", "zomma", "color",
                 "ultima", "dual_gamma"):
        assert_array_equal(c[name], p[name], err_msg=name)  # computed from shared terms only
    assert_allclose(c.dual_delta - p.dual_delta, -dr, atol=1e-15)
    assert_allclose(c.rho - p.rho, a["strike"] * a["t"] * dr, rtol=1e-13)
    assert_allclose(c.epsilon - p.epsilon, -a["spot"] * a["t"] * dq, rtol=1e-13)


@settings(max_examples=200, deadline=None)
@given(
    spot=st.floats(1e-3, 1e5),
    moneyness=st.floats(0.2, 5.0),
    t=st.floats(1e-4, 30.0),
    vol=st.floats(1e-3, 3.0),
    rate=st.floats(-0.05, 0.2),
    div=st.floats(-0.05, 0.2),
)
def test_no_arbitrage_bounds(spot, moneyness, t, vol, rate, div):
    strike = spot * moneyness
    dq, dr = math.exp(-div * t), math.exp(-rate * t)
    c = gammaext.greeks(spot, strike, t, vol, rate, div, is_call=True)
    p = gammaext.greeks(spot, strike, t, vol, rate, div, is_call=False)
    tol = 1e-12 * (spot + strike)
    for g in (c, p):
        for name in GREEKS:
            assert math.isfinite(g[name]), name
    assert max(spot * dq - strike * dr, 0.0) - tol <= c.price <= spot * dq + tol
    assert max(strike * dr - spot * dq, 0.0) - tol <= p.price <= strike * dr + tol
    dq_tol = dq * (1 + 4e-16)  # our exp and math.exp may differ in the last bit
    assert 0.0 <= c.delta <= dq_tol and -dq_tol <= p.delta <= 0.0
    assert c.gamma >= 0.0 and c.vega >= 0.0


# ---------------------------------------------------------------------------------------------
# Published values. E. G. Haug, The Complete Guide to Option Pricing Formulas, 2nd ed.
# (McGraw-Hill, 2007): 1.1.1 (generalized BSM), 1.1.3 / Merton (1973) with yield, 1.1.4
# Black (1976), and the Greeks examples of 2.1 (delta: Black-76; gamma; theta; rho). J. Hull,
# Options, Futures, and Other Derivatives (Pearson), the Black-Scholes example with S = 42.
# The sources print 4 decimals (Hull: 2), hence the absolute tolerances.
PUBLISHED = [
    # id, function, args, kwargs, output, value, abs tol
    ("haug-bsm-call", "price", (60, 65, 0.25, 0.30, 0.08, 0.0), {}, None, 2.1334, 5e-5),
    ("haug-merton-put", "price", (100, 95, 0.5, 0.20, 0.10, 0.05), {"is_call": False}, None,
     2.4648, 5e-5),
    ("haug-black76-call", "b76", (19, 19, 0.75, 0.28, 0.10), {}, None, 1.7011, 5e-5),
    ("haug-black76-put", "b76", (19, 19, 0.75, 0.28, 0.10), {"is_call": False}, None, 1.7011,
     5e-5),
    ("haug-delta-call", "b76g", (105, 100, 0.5, 0.36, 0.10), {}, "delta", 0.5946, 5e-5),
    ("haug-delta-put", "b76g", (105, 100, 0.5, 0.36, 0.10), {"is_call": False}, "delta",
     -0.3566, 5e-5),
    ("haug-gamma", "greeks", (55, 60, 0.75, 0.30, 0.10, 0.0), {}, "gamma", 0.0278, 5e-5),
    ("haug-theta-put", "greeks", (430, 405, 0.0833, 0.20, 0.07, 0.05), {"is_call": False},
     "theta", -31.1924, 5e-5),
    ("haug-rho-call", "greeks", (72, 75, 1.0, 0.19, 0.09, 0.0), {}, "rho", 38.7325, 5e-5),
    ("hull-call", "price", (42, 40, 0.5, 0.20, 0.10, 0.0), {}, None, 4.76, 5e-3),
    ("hull-put", "price", (42, 40, 0.5, 0.20, 0.10, 0.0), {"is_call": False}, None, 0.81, 5e-3),
]


@pytest.mark.parametrize("case", PUBLISHED, ids=[c[0] for c in PUBLISHED])
def test_published_values(case):
    _, fn, args, kwargs, output, value, tol = case
    if fn == "price":
        got = gammaext.price(*args, **kwargs)
    elif fn == "b76":
        got = gammaext.black76_price(*args, **kwargs)
    elif fn == "b76g":
        got = gammaext.black76_greeks(*args, **kwargs)[output]
    else:
        got = gammaext.greeks(*args, **kwargs)[output]
    assert got == pytest.approx(value, abs=tol)


def test_black76_rate_sensitivity_is_minus_t_price():
    g = gammaext.black76_greeks(19.0, 21.0, 0.75, 0.28, 0.10)
    assert g.rho + g.epsilon == pytest.approx(-0.75 * g.price, rel=1e-13)


# ---------------------------------------------------------------------------------------------
# Limits: expiry, zero vol, extremes


def test_expiry_gives_intrinsic_and_step_delta():
    spot = np.array([90.0, 100.0, 110.0])
    c = gammaext.greeks(spot, 100.0, 0.0, 0.3, 0.05, 0.02, is_call=True)
    p = gammaext.greeks(spot, 100.0, 0.0, 0.3, 0.05, 0.02, is_call=False)
    assert_array_equal(c.price, [0.0, 0.0, 10.0])
    assert_array_equal(p.price, [10.0, 0.0, 0.0])
    assert_array_equal(c.delta, [0.0, 0.5, 1.0])  # at the money: half the step (documented)
    assert_array_equal(p.delta, [-1.0, -0.5, 0.0])
    for name in ("gamma", "vega", "vanna", "vomma", "speed", "zomma", "color", "ultima",
                 "dual_gamma", "veta"):
        assert_array_equal(c[name], 0.0, err_msg=name)


def test_zero_vol_is_discounted_forward_intrinsic():
    spot, strike, t, rate, div = 100.0, np.array([90.0, 110.0]), 1.0, 0.05, 0.01
    forward = spot * math.exp((rate - div) * t)
    c = gammaext.greeks(spot, strike, t, 0.0, rate, div)
    want = np.maximum(forward - strike, 0) * math.exp(-rate * t)
    assert_allclose(c.price, want, rtol=1e-15)
    assert_allclose(c.delta, [math.exp(-div * t), 0.0], rtol=1e-15)
    # theta of a certain forward: only carry terms remain.
    assert_allclose(c.theta[0], -rate * 90 * math.exp(-rate * t) + div * spot * math.exp(-div * t))


@pytest.mark.parametrize("t, vol", [(1e-12, 0.2), (1.0, 1e-12), (1e-300, 1e-300), (50.0, 5.0)])
def test_tiny_and_huge_time_or_vol_stay_finite(t, vol):
    strikes = np.array([1e-3, 50.0, 100.0, 100.0 + 1e-9, 200.0, 1e6])
    g = gammaext.greeks(100.0, strikes, t, vol, 0.05, 0.01)
    for name in GREEKS:
        assert np.isfinite(g[name]).all(), name


def test_deep_out_of_the_money_keeps_relative_accuracy():
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 50
    spot, strike, t, vol = 100.0, 40.0, 0.25, 0.2  # put about 13 standard deviations out
    got = gammaext.price(spot, strike, t, vol, is_call=False)
    s, k, tt, v = (mp.mpf(x) for x in (spot, strike, t, vol))
    d1 = (mp.log(s / k) + v * v / 2 * tt) / (v * mp.sqrt(tt))
    want = k * mp.ncdf(-(d1 - v * mp.sqrt(tt))) - s * mp.ncdf(-d1)
    assert 0 < got < 1e-15
    # The price is a difference of two tails of similar size (ratio d2/d1 ~ 0.995): relative
    # error ~ eps |d1|/(vol sqrt t) ~ 1e-14; well beyond what a polynomial CDF (1e-7 absolute)
    # could give.
    assert got == pytest.approx(float(want), rel=1e-11)


# ---------------------------------------------------------------------------------------------
# Prices to the last digits (issue 18): against 40-digit mpmath where S N(d1) - K N(d2) cancels
# (far from the money in units of vol sqrt t, in the money near the forward, at the money with
# small vol sqrt t). The inputs are doubles, so the exact price of those inputs is well defined.

EPS = np.finfo(np.float64).eps
PRICE_ULPS = 16  # the goal: within 16 eps of the exact price, wherever that is a normal double


def mp_price_theta_terms(spot, strike, t, vol, rate, div, is_call):
    """The exact price and theta of the (double) inputs, the sum of the magnitudes of theta's
    terms (the vol term, r K e^{-rt} N(phi d2), q S e^{-qt} N(phi d1)) and d1, to 40 digits, as
    floats (NaN for theta, its terms and d1 at zero vol or expiry)."""
    mp = pytest.importorskip("mpmath")
    with mp.workdps(40):
        S, K, T, v, r, q = (mp.mpf(float(a)) for a in (spot, strike, t, vol, rate, div))
        phi = 1 if is_call else -1
        dq, dr = mp.exp(-q * T), mp.exp(-r * T)
        if v == 0 or T == 0:
            return float(max(phi * (S * dq - K * dr), 0)), math.nan, math.nan, math.nan
        sd = v * mp.sqrt(T)
        d1 = (mp.log(S / K) + (r - q) * T) / sd + sd / 2
        n1, n2 = mp.ncdf(phi * d1), mp.ncdf(phi * (d1 - sd))
        price = phi * (S * dq * n1 - K * dr * n2)
        vol_term = S * dq * mp.npdf(d1) * v / (2 * mp.sqrt(T))
        theta = -vol_term - phi * r * K * dr * n2 + phi * q * S * dq * n1
        mass = vol_term + abs(r * K * dr * n2) + abs(q * S * dq * n1)
        return float(price), float(theta), float(mass), float(d1)


def mp_price_and_theta(spot, strike, t, vol, rate, div, is_call):
    """The exact price and theta of the (double) inputs, to 40 digits, as floats."""
    return mp_price_theta_terms(spot, strike, t, vol, rate, div, is_call)[:2]


def cancelling_grid(n: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """n options in four equal groups, calls and puts at random (seeded): a broad grid (K/F 0.5
    to 2, 1 day to 3 years, vol 5% to 150%); near the money with vol sqrt t from 1e-4 to 0.05
    and |ln F/K| up to 30 vol sqrt t; far from the money, |ln F/K| up to 38 vol sqrt t; in the
    money near the forward with small vol sqrt t. Rates and yields in the last three."""
    rng = np.random.default_rng(18)
    m = n // 4
    t = np.concatenate([rng.uniform(1 / 365, 3, m), np.exp(rng.uniform(np.log(1 / 365), 0, m)),
                        np.exp(rng.uniform(np.log(1 / 365), np.log(5), m)),
                        np.exp(rng.uniform(np.log(1 / 365), np.log(2), m))])
    vol = np.concatenate([rng.uniform(0.05, 1.5, m),
                          np.exp(rng.uniform(np.log(1e-3), np.log(0.05), m)),
                          np.exp(rng.uniform(np.log(0.01), np.log(1.5), m)),
                          np.exp(rng.uniform(np.log(1e-3), np.log(0.1), m))])
    sd = vol * np.sqrt(t)
    rate = np.concatenate([np.zeros(m), rng.uniform(-0.02, 0.1, 3 * m)])
    div = np.concatenate([np.zeros(m), rng.uniform(-0.01, 0.06, 3 * m)])
    spot = np.concatenate([np.full(m, 100.0), rng.uniform(50, 150, 3 * m)])
    h = np.concatenate([np.log(rng.uniform(0.5, 2, m)) / sd[:m], rng.uniform(-30, 30, m),
                        rng.uniform(-38, 38, m), rng.uniform(-8, 8, m)])
    strike = spot * np.exp((rate - div) * t - h * sd)
    return ({"spot": spot, "strike": strike, "t": t, "vol": vol, "rate": rate, "div": div},
            rng.random(4 * m) < 0.5)


@lru_cache(maxsize=1)
def cancelling_reference(n: int) -> np.ndarray:
    args, call = cancelling_grid(n)
    return np.array([mp_price_and_theta(*a) for a in zip(*args.values(), call)])


def test_price_to_the_last_digits_where_the_terms_cancel(isa):
    args, call = cancelling_grid(1600)
    want = cancelling_reference(1600)[:, 0]
    got = gammaext.price(**args, is_call=call)
    normal = want >= np.finfo(np.float64).tiny
    assert normal.sum() > 1500
    err = np.abs(got[normal] - want[normal]) / want[normal]
    worst = int(np.argmax(err))
    assert err[worst] <= PRICE_ULPS * EPS, (err[worst] / EPS, {k: v[normal][worst]
                                                               for k, v in args.items()})


def test_careful_price_does_not_depend_on_neighbours(isa):
    # Careful lanes are packed per block and per region of the normalised function: a lane's
    # price and theta must still be the same bits whatever its neighbours (reversed order,
    # one element at a time).
    args, call = cancelling_grid(1600)
    which = ("price", "theta")
    fwd = gammaext.greeks(**args, is_call=call, which=which)
    rev = gammaext.greeks(**{k: v[::-1] for k, v in args.items()}, is_call=call[::-1],
                          which=which)
    for name in which:
        assert_array_equal(fwd[name], rev[name][::-1], err_msg=name)
    for i in range(0, 1600, 53):
        one = gammaext.greeks(**{k: float(v[i]) for k, v in args.items()}, is_call=bool(call[i]),
                              which=which)
        assert one.price == fwd.price[i] and one.theta == fwd.theta[i]


@pytest.mark.parametrize("strike, t, vol, is_call", [
    (101.83787, 0.1393, 0.002766, True),   # |ln K/F| / vol sqrt t = 17.6: 36,844 ulps before
    (101.228023, 0.1926, 0.0040876, False),  # in the money, time value 1e-13 of the price
])
@pytest.mark.parametrize("rate", [0.0, 0.05])
def test_issue_18_examples(strike, t, vol, is_call, rate, isa):
    want = mp_price_and_theta(100.0, strike, t, vol, rate, rate, is_call)[0]
    got = gammaext.black76_price(100.0, strike, t, vol, rate, is_call=is_call)
    assert abs(got - want) <= PRICE_ULPS * EPS * want


@settings(max_examples=300, deadline=None)
@given(
    h=st.floats(-36.0, 36.0),  # ln(F/K) in units of vol sqrt t
    vol=st.floats(1e-4, 5.0),
    t=st.floats(1 / 365, 10.0),
    rate=st.floats(-0.05, 0.15),
    div=st.floats(-0.05, 0.1),
    is_call=st.booleans(),
)
def test_price_to_the_last_digits_random(h, vol, t, rate, div, is_call):
    sd = vol * math.sqrt(t)
    strike = 100.0 * math.exp((rate - div) * t - h * sd)
    want = mp_price_and_theta(100.0, strike, t, vol, rate, div, is_call)[0]
    if not want >= np.finfo(np.float64).tiny:
        return  # underflows: no relative accuracy to speak of
    got = gammaext.price(100.0, strike, t, vol, rate, div, is_call=is_call)
    assert abs(got - want) <= PRICE_ULPS * EPS * want, abs(got - want) / want / EPS


def test_theta_without_carry_keeps_its_digits(isa):
    # With rate = div = 0, theta = -S n(d1) vol / (2 sqrt t): far from the money the density of
    # the direct formula inherits the rounding of d1 (d1^2 ulps); the careful lanes take it
    # from the normalised function's exp(-(h^2 + t^2)/2), formed in double-double.
    grid, flags = cancelling_grid(1600)
    pick = np.r_[0:400, 800:1200]  # the broad group and the far-from-the-money one
    args = {k: v[pick] for k, v in grid.items()}
    args["rate"] = args["div"] = np.zeros(pick.size)
    call = flags[pick]
    want = np.array([mp_price_and_theta(*a)[1] for a in zip(*args.values(), call)])
    got = gammaext.greeks(**args, is_call=call, which=("theta",)).theta
    # Above 1e-290: below, with strikes like 1e15 the Gaussian factor of the normalised function
    # is subnormal while theta (it times sqrt(S K)) is not, and carries only its few bits.
    normal = np.abs(want) >= 1e-290
    assert normal.sum() > 700
    err = np.abs(got[normal] - want[normal]) / np.abs(want[normal])
    assert err.max() <= PRICE_ULPS * EPS, err.max() / EPS


@lru_cache(maxsize=1)
def theta_reference(n: int) -> np.ndarray:
    args, call = cancelling_grid(n)
    return np.array([mp_price_theta_terms(*a)[1:] for a in zip(*args.values(), call)])


def test_theta_with_carry_to_the_last_digits(isa):
    # Issue 18: theta combines both terms of the price (-phi r K e^{-rt} N2 + phi q S e^{-qt} N1,
    # besides the vol term). Far from the money with a carry the careful lanes took N(phi d1)
    # with the rounding of d1 (250,000 ulps of theta on this grid); it is put back now, and deep
    # in the money the direct form is taken where the one through the price cancels. Theta
    # itself crosses zero (where its terms cancel for any formula): the error is measured
    # against the sum of the terms' magnitudes, which is theta itself wherever it does not.
    args, call = cancelling_grid(1600)
    ref = theta_reference(1600)
    want, mass, d1 = ref[:, 0], ref[:, 1], ref[:, 2]
    got = gammaext.greeks(**args, is_call=call, which=("theta",)).theta
    # Where exp(-d1^2/2) is normal (beyond, the Gaussian factor carries only its few bits).
    normal = (np.abs(d1) < 37.0) & (mass >= 1e-290)
    assert normal.sum() > 1500
    err = np.abs(got[normal] - want[normal]) / mass[normal]
    assert err.max() <= PRICE_ULPS * EPS, err.max() / EPS
    # and relative to theta itself wherever the terms do not cancel by more than 2
    plain = normal & (mass <= 2 * np.abs(want))
    assert plain.sum() > 1100
    rel = np.abs(got[plain] - want[plain]) / np.abs(want[plain])
    assert rel.max() <= PRICE_ULPS * EPS, rel.max() / EPS


# ---------------------------------------------------------------------------------------------
# Inputs: NaN, invalid values, shapes, dtypes, out=, which=


def test_nan_in_gives_nan_out_only_there():
    spot = np.array([100.0, np.nan, 100.0])
    g = gammaext.greeks(spot, 100.0, [0.5, 0.5, np.nan], 0.2)
    for name in GREEKS:
        assert np.isfinite(g[name][0]) and np.isnan(g[name][1:]).all(), name


@pytest.mark.parametrize(
    "arg, value, message",
    [
        ("spot", -1.0, "spot must be > 0"),
        ("spot", 0.0, "spot must be > 0"),
        ("strike", 0.0, "strike must be > 0"),
        ("t", -0.1, "t must be >= 0"),
        ("vol", -0.2, "vol must be >= 0"),
        ("rate", np.inf, "rate must be finite"),
        ("div", -np.inf, "div must be finite"),
        ("spot", np.inf, "spot must be > 0 and finite"),
    ],
)
def test_invalid_values_raise_naming_argument_and_index(arg, value, message):
    args = {"spot": 100.0, "strike": 100.0, "t": 0.5, "vol": 0.2, "rate": 0.01, "div": 0.0}
    column = np.full((2, 3), args[arg])
    column[1, 2] = value
    args[arg] = column
    with pytest.raises(ValueError, match=message) as info:
        gammaext.greeks(**args)
    assert "(1, 2)" in str(info.value)
    g = gammaext.greeks(**args, errors="nan")
    assert np.isnan(g.price[1, 2]) and np.isfinite(g.price[0]).all()


def test_invalid_scalar_is_named_without_an_index():
    with pytest.raises(ValueError, match=r"^vol must be >= 0 and finite, got -0\.2 ") as info:
        gammaext.greeks(100.0, 100.0, 0.5, -0.2)
    assert "index" not in str(info.value)


def test_percent_like_inputs_warn():
    with pytest.warns(gammaext.InputWarning, match="rate"):
        gammaext.price(100, 100, 1.0, 0.2, 5.0)
    with pytest.warns(gammaext.InputWarning, match="vol"):
        gammaext.price(100, 100, 1.0, 20.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gammaext.price(100, 100, 1.0, 0.2, 0.05, 0.02)


def test_broadcasting_shapes_and_scalars():
    spot = np.linspace(80, 120, 5)[:, None]
    vol = np.array([0.1, 0.2, 0.3])
    g = gammaext.greeks(spot, 100.0, 0.5, vol, is_call=[[True, False, True]])
    assert g.price.shape == (5, 3)
    want = reference.greeks(spot, 100.0, 0.5, vol, is_call=[[True, False, True]])
    assert_allclose(g.price, want["price"], rtol=1e-13)
    assert isinstance(gammaext.price(100, 100, 1, 0.2), float)
    assert gammaext.greeks(np.float32(100), 100, 1, 0.2).price == pytest.approx(
        gammaext.price(100.0, 100.0, 1.0, 0.2), rel=1e-15
    )



@pytest.mark.parametrize("call", [True, False])
def test_python_scalars_take_the_short_path_with_the_same_result(call):
    # Python floats and ints skip the array machinery (_arrays.kernel_columns); NumPy scalars
    # and 0-d arrays take the general path. Same bits, same errors, same warnings.
    args = (101.5, 97, 0.75, 0.31, 0.02, 0.01)
    fast = gammaext.greeks(*args, is_call=call).to_dict()
    slow = gammaext.greeks(*(np.float64(a) for a in args), is_call=np.bool_(call)).to_dict()
    assert fast == slow and all(isinstance(v, float) for v in fast.values())
    p = gammaext.price(*args, is_call=call)
    assert gammaext.implied_vol(p, *args[:3], *args[4:], is_call=call) == gammaext.implied_vol(
        np.array(p), *(np.array(a) for a in args[:3]), *args[4:], is_call=np.array(call)
    )
    bad = args[:2] + (-1.0,) + args[3:]
    with pytest.raises(ValueError) as short:
        gammaext.greeks(*bad, is_call=call)
    with pytest.raises(ValueError) as general:
        gammaext.greeks(*(np.array(a) for a in bad), is_call=call)
    assert str(short.value) == str(general.value)
    assert math.isnan(gammaext.price(*args[:3], math.nan, is_call=call))
    with pytest.warns(UserWarning, match="percent"):
        gammaext.price(100.0, 100.0, 1.0, 20.0)

def test_mismatched_shapes_raise():
    with pytest.raises(ValueError, match=r"cannot be broadcast.*spot\(3,\).*strike\(2,\)"):
        gammaext.greeks([1.0, 2.0, 3.0], [1.0, 2.0], 1.0, 0.2)


@pytest.mark.parametrize("bad", [["a", "b"], np.array([1 + 2j]), np.array([True])],
                         ids=["strings", "complex", "bool"])
def test_non_numeric_dtypes_raise_type_error(bad):
    with pytest.raises(TypeError, match="spot must be real numbers"):
        gammaext.greeks(bad, 100.0, 1.0, 0.2)


def test_empty_inputs_give_empty_outputs():
    g = gammaext.greeks(np.empty((0, 3)), 100.0, 1.0, 0.2)
    assert g.price.shape == (0, 3) and g.gamma.shape == (0, 3)


def test_is_call_accepts_strings_and_ints():
    a = gammaext.price(100, [90, 110], 1, 0.2, is_call=["call", "P"])
    b = gammaext.price(100, [90, 110], 1, 0.2, is_call=[1, 0])
    c = gammaext.price(100, [90, 110], 1, 0.2, is_call=[True, False])
    assert_array_equal(a, c)
    assert_array_equal(b, c)
    with pytest.raises(ValueError, match="'call' or 'put'"):
        gammaext.price(100, 100, 1, 0.2, is_call="straddle")
    with pytest.raises(ValueError, match="0 \\(put\\) or 1 \\(call\\)"):
        gammaext.price(100, 100, 1, 0.2, is_call=2)


def test_non_contiguous_and_pandas_inputs(rng):
    base = rng.uniform(50, 150, (40, 2))
    strided = base[::2, 0]  # non-contiguous view
    got = gammaext.price(strided, 100.0, 1.0, 0.2)
    assert_allclose(got, gammaext.price(strided.copy(), 100.0, 1.0, 0.2), rtol=0)
    pd = pytest.importorskip("pandas")
    series = pd.Series(strided)
    assert_array_equal(gammaext.price(series, 100.0, 1.0, 0.2), got)


def test_inputs_are_not_modified(rng):
    args = random_inputs(rng, 1000)
    copies = {k: v.copy() for k, v in args.items()}
    gammaext.greeks(**args)
    for k in args:
        assert_array_equal(args[k], copies[k])


def test_out_buffers_are_filled_in_place(rng):
    args = random_inputs(rng, 1000)
    out = {"delta": np.empty(1000), "gamma": np.empty(1000)}
    g = gammaext.greeks(**args, which=("delta", "gamma"), out=out)
    assert g.delta is out["delta"] and g.gamma is out["gamma"]
    full = gammaext.greeks(**args)
    assert_array_equal(out["delta"], full.delta)
    assert g.price is None and g.computed == ("delta", "gamma")


def test_out_buffer_may_alias_an_input(rng):
    args = random_inputs(rng, 1000)
    want = gammaext.greeks(**args, which=("price", "gamma"))
    spot = args["spot"].copy()
    g = gammaext.greeks(**{**args, "spot": spot}, which=("price", "gamma"),
                        out={"price": spot})
    assert_array_equal(g.price, want.price)
    assert_array_equal(g.gamma, want.gamma)


@pytest.mark.parametrize(
    "buf, error, match",
    [
        (np.empty(10, dtype=np.float32), TypeError, "float64"),
        (np.empty(11), ValueError, "shape"),
        (np.empty(20)[::2], ValueError, "contiguous"),
        ([0.0] * 10, TypeError, "numpy array"),
    ],
    ids=["float32", "shape", "strided", "list"],
)
def test_bad_out_buffers_raise(buf, error, match):
    with pytest.raises(error, match=match):
        gammaext.greeks(np.full(10, 100.0), 100.0, 1.0, 0.2, which="price", out={"price": buf})


def test_which_selects_and_validates(rng):
    args = random_inputs(rng, 100)
    full = gammaext.greeks(**args)
    some = gammaext.greeks(**args, which=["vega", "price"])
    assert some.computed == ("price", "vega")
    assert_array_equal(some.vega, full.vega)
    with pytest.raises(ValueError, match="unknown output"):
        gammaext.greeks(**args, which="charmm")
    assert set(full.to_dict()) == set(GREEKS)


@pytest.mark.parametrize("which", [("delta",), ("delta", "gamma", "vega"), ("epsilon", "charm"),
                                   ("gamma",)])
def test_outputs_without_n2_are_the_same_bits(which, isa):
    # Without price, theta, rho and dual delta the kernel skips N(phi d2) and e^{-rt}; the
    # outputs it does compute are still those of the full call, to the last bit (far tails,
    # point masses and tiny vols included).
    rng = np.random.default_rng(15)
    n = 5003
    spot = 100 * rng.uniform(0.8, 1.2, n)
    args = {"spot": spot, "strike": spot * np.exp(rng.normal(0, 0.6, n)),
            "t": np.exp(rng.uniform(-8, 2, n)), "vol": np.exp(rng.uniform(-7, 1, n)),
            "rate": rng.uniform(-0.02, 0.1, n), "div": rng.uniform(0, 0.05, n)}
    args["t"][::97] = 0.0
    args["vol"][::89] = 0.0
    call = rng.random(n) < 0.5
    full = gammaext.greeks(**args, is_call=call)
    some = gammaext.greeks(**args, is_call=call, which=which)
    for name in which:
        assert_array_equal(some[name], full[name], err_msg=name)


def test_to_dataframe():
    pd = pytest.importorskip("pandas")
    df = gammaext.greeks([90.0, 110.0], 100.0, 1.0, 0.2, which=("price", "delta")).to_dataframe()
    assert isinstance(df, pd.DataFrame) and list(df.columns) == ["price", "delta"]


def test_threads_argument_and_global_setting():
    with pytest.raises(ValueError, match="threads must be >= 1"):
        gammaext.price(100, 100, 1, 0.2, threads=0)
    old = gammaext.get_num_threads()
    try:
        gammaext.set_num_threads(3)
        assert gammaext.get_num_threads() == 3
    finally:
        gammaext.set_num_threads(0)
    assert gammaext.get_num_threads() == old


def test_per_day_conversion():
    theta = gammaext.greeks(100, 100, 0.5, 0.2).theta
    assert gammaext.per_day(theta) == theta / 365
    assert gammaext.per_day(theta, basis=252) == theta / 252
    with pytest.raises(ValueError):
        gammaext.per_day(theta, basis=0)


def test_invalid_input_that_is_also_the_out_buffer_is_named():
    spot = np.array([100.0, -1.0])
    with pytest.raises(ValueError, match=r"spot must be > 0.*-1\.0"):
        gammaext.price(spot, 100.0, 1.0, 0.2, out=spot)
