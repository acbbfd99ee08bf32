"""Volatility surfaces: evaluation against the NumPy reference, interpolation identities,
Gatheral's SVI density condition, the arbitrage reports and the errors for bad surfaces."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numpy.testing import assert_allclose

import gammaext
from gammaext import _core
from gammaext.reference import surface as ref
from gammaext.surface import SVI, ArbitrageError, VolSurface, svi_density

# Axel Vogt's raw SVI slice, the example of butterfly arbitrage in J. Gatheral and A. Jacquier,
# "Arbitrage-free SVI volatility surfaces", Quant. Finance 14 (2014), Example 3.1 (t = 1):
# (a, b, m, rho, sigma) = (-0.0410, 0.1331, 0.3586, 0.3060, 0.4153); its g(k) dips below 0.
VOGT = SVI(a=-0.0410, b=0.1331, rho=0.3060, m=0.3586, sigma=0.4153)

SLICES = [
    SVI(0.01, 0.1, -0.5, 0.0, 0.1),
    SVI(0.03, 0.12, -0.4, 0.05, 0.2),
    SVI(0.06, 0.15, -0.4, 0.05, 0.3),
]
EXPIRIES = [0.25, 1.0, 2.0]


def surfaces() -> dict[str, VolSurface]:
    kg = np.linspace(-1.0, 1.0, 9)
    w = np.array([s.total_variance(kg) for s in SLICES])
    return {
        "flat": VolSurface.flat(0.2),
        "term": VolSurface.term_structure(EXPIRIES, [0.3, 0.25, 0.22]),
        "svi": VolSurface.svi(EXPIRIES, SLICES),
        "grid": VolSurface.grid(kg, EXPIRIES, total_variance=w),
    }


@pytest.mark.parametrize("name", ["flat", "term", "svi", "grid"])
def test_matches_reference(name: str, rng: np.random.Generator) -> None:
    s = surfaces()[name]
    k = rng.uniform(-1.5, 1.5, 2000)
    t = rng.uniform(0.0, 3.0, 2000)
    t[:5] = [0.0, 0.25, 1.0, 2.0, 3.0]  # on and outside the expiries
    got = s.total_variance(k, t)
    want = ref.total_variance(s.kind, s.expiries, s.params, s.k_grid, k, t)
    # the same formulas in a different order of operations: a few ulps of w ~ 0.1
    assert_allclose(got, want, rtol=1e-13, atol=1e-16)
    assert_allclose(s.vol(k[5:], t[5:]), np.sqrt(want[5:] / t[5:]), rtol=1e-13)


def test_interpolation_identities() -> None:
    s = surfaces()["svi"]
    k = np.linspace(-1, 1, 11)
    # on an expiry, the slice itself
    for ti, sl in zip(EXPIRIES, SLICES):
        assert_allclose(s.total_variance(k, ti), sl.total_variance(k), rtol=1e-14)
    # midway: the mean of the neighbouring slices' total variances
    mid = 0.5 * (SLICES[0].total_variance(k) + SLICES[1].total_variance(k))
    assert_allclose(s.total_variance(k, 0.625), mid, rtol=1e-14)
    # flat vol before the first expiry and after the last (and the t -> 0 limit)
    for ti, first in ((0.1, 0), (0.0, 0), (5.0, 2)):
        want = np.sqrt(SLICES[first].total_variance(k) / EXPIRIES[first])
        assert_allclose(s.vol(k, ti), want, rtol=1e-14)


def test_grid_interpolation_in_k() -> None:
    kg = np.array([-0.5, 0.0, 0.5])
    s = VolSurface.grid(kg, [1.0], [[0.3, 0.2, 0.25]])
    w = np.array([0.09, 0.04, 0.0625])
    assert_allclose(s.total_variance([-0.25, 0.25], 1.0), [(w[0] + w[1]) / 2, (w[1] + w[2]) / 2])
    # flat total variance beyond the nodes
    assert_allclose(s.vol([-3.0, 3.0], 1.0), [0.3, 0.25], rtol=1e-15)


def test_strike_and_term_structure() -> None:
    s = VolSurface.term_structure([0.5, 1.0], [0.3, 0.2], spot=100.0, rate=0.05, div=0.01)
    # between expiries: linear in total variance, the same for every strike
    w = 0.3**2 * 0.5 + 0.5 * (0.2**2 - 0.3**2 * 0.5)
    assert s.total_variance(strike=150.0, t=0.75) == pytest.approx(w, rel=1e-14)
    sv = VolSurface.svi([1.0], [SLICES[1]], spot=100.0, rate=0.05, div=0.01)
    F = 100.0 * math.exp(0.04)
    assert sv.vol(strike=120.0, t=1.0) == pytest.approx(sv.vol(math.log(120.0 / F), 1.0), rel=1e-14)
    with pytest.raises(ValueError, match="spot"):
        VolSurface.flat(0.2).vol(strike=100.0, t=1.0)


def test_nan_and_negative_t_give_nan() -> None:
    s = surfaces()["svi"]
    out = s.vol([np.nan, 0.0, 0.0], [1.0, np.nan, -1.0])
    assert np.isnan(out).all()


def test_svi_density_against_finite_differences() -> None:
    # g from w, w', w'' by central differences (step 1e-4: error ~1e-8 on g ~ 1).
    k = np.linspace(-1.5, 1.5, 61)
    h = 1e-4
    w = VOGT.total_variance(k)
    w1 = (VOGT.total_variance(k + h) - VOGT.total_variance(k - h)) / (2 * h)
    w2 = (VOGT.total_variance(k + h) - 2 * w + VOGT.total_variance(k - h)) / h**2
    g = (1 - k * w1 / (2 * w)) ** 2 - w1**2 / 4 * (1 / w + 0.25) + w2 / 2
    assert_allclose(svi_density(VOGT, k), g, atol=1e-6)


def test_vogt_butterfly_arbitrage_reported() -> None:
    # Gatheral and Jacquier (2014), Example 3.1: g < 0 on part of the smile.
    rep = VolSurface.svi([1.0], [VOGT]).arbitrage()
    assert not rep.ok and len(rep.butterfly) == 1 and not rep.calendar
    assert rep.butterfly[0].value < -0.01
    assert 0.5 < rep.butterfly[0].k < 1.2
    # The same smile as a grid fails the discrete check (call prices not convex in strike).
    kg = np.linspace(-1.5, 1.5, 61)
    g = VolSurface.grid(kg, [1.0], total_variance=VOGT.total_variance(kg)[None, :])
    assert not g.arbitrage().ok
    with pytest.raises(ArbitrageError, match="butterfly") as info:
        VolSurface.svi([1.0], [VOGT], check="raise")
    # as a Dask worker's error reaches the client: pickled, with its report
    again = pickle.loads(pickle.dumps(info.value))
    assert str(again) == str(info.value)
    assert again.report.butterfly[0].k == info.value.report.butterfly[0].k  # a report, not text
    with pytest.warns(UserWarning, match="butterfly"):
        VolSurface.svi([1.0], [VOGT], check="warn")


def test_clean_surfaces_report_no_arbitrage() -> None:
    for name, s in surfaces().items():
        rep = s.arbitrage()
        assert rep.ok, (name, str(rep))
    # a density check on a grid of a smile without arbitrage: convex call prices
    assert VolSurface.svi(EXPIRIES, SLICES, check="raise").arbitrage().ok


def test_calendar_arbitrage_reported() -> None:
    # the second slice lies below the first at every k: w falls with t
    s = VolSurface.svi([0.5, 1.0], [SLICES[2], SLICES[0]])
    rep = s.arbitrage()
    assert len(rep.calendar) == 1 and rep.calendar[0].value < 0
    assert rep.calendar[0].t == 0.5 and rep.calendar[0].t_next == 1.0
    t = VolSurface.term_structure([0.5, 1.0], total_variance=[0.05, 0.04])
    assert len(t.arbitrage().calendar) == 1
    with pytest.raises(ArbitrageError, match="calendar"):
        VolSurface.term_structure([0.5, 1.0], total_variance=[0.05, 0.04], check="raise")


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: VolSurface.term_structure([1.0, 0.5], [0.2, 0.2]), "expiries must be strictly"),
        (lambda: VolSurface.term_structure([0.5, 0.5], [0.2, 0.2]), "expiries must be strictly"),
        (lambda: VolSurface.term_structure([0.0, 0.5], [0.2, 0.2]), "expiries must be > 0"),
        (lambda: VolSurface.term_structure([0.5, 1.0], [0.2]), "vols has shape"),
        (lambda: VolSurface.term_structure([0.5, 1.0], [0.2, np.nan]), "vols has NaN"),
        (lambda: VolSurface.term_structure([0.5], total_variance=[-0.01]), "negative total var"),
        (lambda: VolSurface.svi([1.0], [(-0.1, 0.1, 0.0, 0.0, 0.1)]), "negative total var"),
        (lambda: VolSurface.svi([1.0], [(0.1, -0.1, 0.0, 0.0, 0.1)]), "b must be"),
        (lambda: VolSurface.svi([1.0], [(0.1, 0.1, 1.0, 0.0, 0.1)]), "rho must be"),
        (lambda: VolSurface.grid([0.0, -1.0], [1.0], [[0.2, 0.2]]), "k must be"),
        (lambda: VolSurface.grid([0.0, 1.0], [1.0], [[0.2, 0.2, 0.2]]), "vols has shape"),
        (lambda: VolSurface.grid([0.0, 1.0], [1.0], total_variance=[[0.2, -0.2]]), "negative"),
        (lambda: VolSurface.flat(np.nan), "vol must be finite"),
        (lambda: VolSurface.flat(-0.2), "vol >= 0"),
        (lambda: VolSurface.svi([1.0], [SLICES[0]], check="maybe"), "check must be"),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_bad_surfaces_raise(build: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build()  # type: ignore[operator]


def test_inputs_not_modified() -> None:
    t = np.array([0.5, 1.0])
    v = np.array([0.3, 0.2])
    s = VolSurface.term_structure(t, v)
    t[0] = 7.0
    v[0] = 7.0
    assert s.expiries[0] == 0.5 and s.vol(0.0, 0.5) == pytest.approx(0.3)
    k = np.zeros(3)
    s.vol(k, 1.0)
    assert (k == 0).all()


def test_threads_bit_identical(rng: np.random.Generator) -> None:
    s = surfaces()["grid"]
    k = rng.uniform(-2, 2, 200_000)
    t = rng.uniform(0, 3, 200_000)
    kind = _core._surface_kind_names().index("grid")
    outs = [
        _core._surface_eval(kind, s.expiries, s.params.ravel(), s.k_grid, k, t, True, n)
        for n in (1, 2, 5)
    ]
    for o in outs[1:]:
        assert np.array_equal(o, outs[0])


def test_exported() -> None:
    assert gammaext.VolSurface is VolSurface and gammaext.SVI is SVI


_finite = dict(allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(
    a=st.floats(0.0, 0.2, **_finite),
    b=st.floats(0.0, 1.0, **_finite),
    rho=st.floats(-0.99, 0.99, **_finite),
    m=st.floats(-0.5, 0.5, **_finite),
    sigma=st.floats(0.01, 1.0, **_finite),
    bump=st.floats(0.0, 0.1, **_finite),
    k=st.floats(-3.0, 3.0, **_finite),
)
def test_interpolation_keeps_order_and_sign(
    a: float, b: float, rho: float, m: float, sigma: float, bump: float, k: float
) -> None:
    # Two slices with w_2 = w_1 + bump >= w_1 everywhere: the interpolated total variance is
    # >= 0 and non-decreasing in t at fixed k, before, between and after the expiries.
    s1 = SVI(a, b, rho, m, sigma)
    s2 = SVI(a + bump, b, rho, m, sigma)
    s = VolSurface.svi([0.5, 1.0], [s1, s2])
    t = np.linspace(0.0, 2.0, 41)
    w = s.total_variance(k, t)
    assert np.all(w >= 0.0)
    # rounding of w ~ 1: a few ulps
    assert np.all(np.diff(w) >= -1e-15 * np.maximum(1.0, w[1:]))
    assert s.arbitrage(np.array([k])).calendar == ()


@settings(max_examples=60, deadline=None)
@given(
    w=st.lists(st.floats(0.0, 1.0, **_finite), min_size=6, max_size=6),
    k=st.floats(-2.0, 2.0, **_finite),
    t=st.floats(0.5, 1.0, **_finite),
)
def test_grid_is_a_convex_combination(w: list[float], k: float, t: float) -> None:
    # Between nodes (in k and in t) the grid's total variance is a weighted mean of the four
    # surrounding node values: never outside their range.
    grid = np.array(w).reshape(2, 3)
    s = VolSurface.grid([-1.0, 0.0, 1.0], [0.5, 1.0], total_variance=grid)
    got = s.total_variance(k, t)
    assert grid.min() - 1e-15 <= got <= grid.max() + 1e-15


def test_zero_variance_slices() -> None:
    # A slice of zero total variance (a point mass at the forward) is not an arbitrage.
    assert VolSurface.svi([1.0], [SVI(0.0, 0.0, 0.0, 0.0, 1.0)]).arbitrage().ok
    assert VolSurface.grid([-1.0, 0.0, 1.0], [1.0], [[0.0, 0.0, 0.0]]).arbitrage().ok
    assert VolSurface.flat(0.0).vol(0.3, 1.0) == 0.0
