"""Step attribution with moving implied vol: the Taylor terms, the third-order residual."""

from __future__ import annotations

import numpy as np
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


def test_path_residual_shrinks_with_dt_under_stochastic_vol() -> None:
    # A held at-the-money option along GBM paths whose implied vol moves (SVI smile, sticky
    # moneyness, scaled by an OU ATM level with vol of vol 1 and spot-vol correlation -0.7).
    # Per step the residual is third order (dS^3, dS^2 dvol, ... ~ dt^{3/2}) with a mean of
    # order dt^2, so summed over T/dt steps its RMS is O(dt): x4 steps -> /4. Without the vanna
    # and volga terms the unexplained part is the vol's quadratic variation: it does not shrink.
    from gammaext.attribution import attribute_path
    from gammaext.surface import SVI, VolSurface
    from gammaext.vol_dynamics import StochasticAtmVol, sticky_vols

    surf = VolSurface.svi(
        [0.25, 1.0],
        [SVI(0.005, 0.1, -0.5, 0.0, 0.1), SVI(0.03, 0.12, -0.4, 0.05, 0.2)],
        spot=100.0,
    )
    proc = StochasticAtmVol(atm0=0.2, level=0.25, kappa=2.0, xi=1.0, rho=-0.7)
    rms, rms_no_vv = [], []
    for n_steps in (50, 200):
        t = np.linspace(0.0, 0.25, n_steps + 1)
        S, A = proc.paths(4000, t, seed=3)
        v = sticky_vols(surf, S, t, 100.0, 0.5, sticky="moneyness", level=A / proc.atm0)
        a = attribute_path(S, v, t, 100.0, 0.5)
        assert_allclose(a.total, a.explained() + a.residual, rtol=1e-10, atol=1e-10)
        rms.append(float(np.sqrt(np.mean(a.residual**2))))
        rms_no_vv.append(float(np.sqrt(np.mean((a.residual + a.vanna + a.volga) ** 2))))
    # measured: 0.0361 -> 0.0091 (x3.96), and 0.307 -> 0.287 without vanna and volga
    assert 3.0 < rms[0] / rms[1] < 5.0
    assert rms_no_vv[1] > 0.8 * rms_no_vv[0] and rms_no_vv[1] > 20 * rms[1]


def test_path_bad_input() -> None:
    from gammaext.attribution import attribute_path

    S = np.full((2, 3), 100.0)
    with pytest.raises(ValueError, match="must both be"):
        attribute_path(S, S[:, :2], [0.0, 0.1, 0.2], 100.0, 1.0)
    with pytest.raises(ValueError, match="before expiry"):
        attribute_path(S, S * 0 + 0.2, [0.0, 0.1, 0.2], 100.0, 0.2)
