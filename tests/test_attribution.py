"""Step attribution with moving implied vol: the Taylor terms, the third-order residual."""

from __future__ import annotations

import pytest
from numpy.testing import assert_allclose

from gammaext.attribution import attribute_step


@pytest.mark.parametrize("is_call", [True, False], ids=["call", "put"])
def test_residual_is_third_order(is_call: bool) -> None:
    # dS and dvol scale with h, dt with h^2 (a diffusion's step): residual ~ h^3, so halving h
    # divides it by ~8 (7 to 9 leaves room for the fourth-order term at h = 0.025)
    res = []
    for h in (0.05, 0.025, 0.0125):
        a = attribute_step(
            100.0,
            105.0,
            0.5,
            0.2,
            100.0 * (1 + h),
            0.2 + 0.5 * h,
            0.5 * h * h,
            0.03,
            0.01,
            is_call=is_call,
        )
        res.append(float(a.residual))
        assert float(a.total) == pytest.approx(float(a.explained() + a.residual), abs=1e-13)
    for big, small in zip(res, res[1:]):
        assert 7.0 < big / small < 9.0


def test_vol_jump_is_explained_by_vega_and_volga() -> None:
    # A 5-vol-point jump with spot still (the example): vega alone leaves volga in the
    # residual; with volga the residual is third order in dvol (~ vega''' dvol^3 / 6).
    a = attribute_step(100.0, 100.0, 1.0, 0.2, 100.0, 0.25, 0.0)
    assert float(a.vanna) == 0.0 and float(a.gamma) == 0.0 and float(a.theta) == 0.0
    without_volga = float(a.total - a.vega)
    assert abs(float(a.residual)) < 0.1 * abs(without_volga)  # measured: 0.076
    # off the money volga is large: a 10-vol jump on a 70-strike put
    b = attribute_step(100.0, 70.0, 0.5, 0.3, 100.0, 0.4, 0.0, is_call=False)
    assert abs(float(b.residual)) < 0.1 * float(b.volga)


def test_call_put_share_the_vol_terms_and_quantity_scales() -> None:
    kw = dict(
        spot=100.0,
        strike=[90.0, 100.0, 110.0],
        t=0.3,
        vol=0.25,
        spot_next=101.0,
        vol_next=0.23,
        dt=1 / 252,
        rate=0.02,
        div=0.0,
    )
    c = attribute_step(**kw, is_call=True)  # type: ignore[arg-type]
    p = attribute_step(**kw, is_call=False)  # type: ignore[arg-type]
    for name in ("gamma", "vega", "vanna", "volga"):
        assert_allclose(getattr(c, name), getattr(p, name), rtol=1e-12)
    # delta_call - delta_put = e^{-q t}: their delta terms differ by dS
    assert_allclose(c.delta - p.delta, 1.0, rtol=1e-12)
    m = attribute_step(**kw, is_call=True, quantity=-3.0)  # type: ignore[arg-type]
    assert_allclose(m.total, -3.0 * c.total, rtol=1e-13)
    assert_allclose(m.residual, -3.0 * c.residual, rtol=1e-9, atol=1e-15)


def test_bad_dt() -> None:
    with pytest.raises(ValueError, match="dt must be"):
        attribute_step(100.0, 100.0, 0.1, 0.2, 100.0, 0.2, 0.2)
    with pytest.raises(ValueError, match="dt must be"):
        attribute_step(100.0, 100.0, 0.1, 0.2, 100.0, 0.2, -0.01)
