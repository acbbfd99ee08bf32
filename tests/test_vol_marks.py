"""Implied vol per leg inside the hedging engine (issue #14, items 2-4): each leg marked at its
own vol from a surface at every step (sticky strike or moneyness, times a stochastic ATM level
generated with the path), or tied to the Heston variance; the hedge at the leg's implied, a
fixed or a realized vol; vega, vanna and volga in the per-path split.

The NumPy reference (gammaext.reference.hedging) is matched to 1e-9 on every configuration;
statistical tests use fixed seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gammaext as g
from gammaext.hedging import HEDGE_FIELDS, PNL_PARTS
from gammaext.reference import hedging as ref

SVI2 = g.VolSurface.svi(
    [0.25, 1.0],
    [g.SVI(0.01, 0.1, -0.5, 0.0, 0.1), g.SVI(0.03, 0.12, -0.4, 0.05, 0.2)],
)
GRID = g.VolSurface.grid([-0.3, 0.0, 0.3], [0.5, 1.0], [[0.3, 0.22, 0.25], [0.28, 0.21, 0.23]])
TERM = g.VolSurface.term_structure([0.25, 1.0], [0.3, 0.25])
ATM = g.StochasticAtmVol(0.2, 0.25, 2.0, 1.0, -0.7)
LEGS = (
    g.Leg("call", moneyness=1.1, expiry=0.3),
    g.Leg("put", moneyness=0.9, quantity=-2.0),
    g.Leg("call", moneyness=1.0, expiry=0.7, quantity=1.5),
)
HESTON = g.Heston(v0=0.04, kappa=2.0, theta=0.05, xi=0.6, rho=-0.7)

CASES = {
    "svi_sticky_strike": dict(position=g.Position(legs=LEGS, vol=SVI2, rate=0.03, div=0.01)),
    "svi_moneyness_atm": dict(
        position=g.Position(legs=LEGS, vol=SVI2, sticky="moneyness", atm=ATM, rate=0.03)
    ),
    "grid_moneyness": dict(position=g.Position(legs=LEGS, vol=GRID, sticky="moneyness")),
    "grid_surface_spot": dict(
        position=g.Position(
            legs=LEGS,
            vol=g.VolSurface.grid([-0.3, 0.0, 0.3], [0.5], [[0.3, 0.22, 0.25]], spot=95.0),
        )
    ),
    "term_structure": dict(position=g.Position(legs=LEGS, vol=TERM)),
    "flat_atm": dict(position=g.Position(vol=0.2, atm=ATM)),
    "heston": dict(paths=HESTON, position=g.Position(legs=LEGS, atm="heston")),
    "noise_implied": dict(
        position=g.Position(legs=LEGS, vol=SVI2, sticky="moneyness", atm=ATM),
        noise=g.Noise("iid", 0.001),
    ),
    "realized_hedge_vol": dict(
        position=g.Position(legs=LEGS, vol=SVI2, sticky="moneyness", atm=ATM, hedge_vol="realized")
    ),
    "fixed_hedge_vol_ww": dict(
        position=g.Position(legs=LEGS, vol=SVI2, atm=ATM, hedge_vol=0.22),
        rule=g.WhalleyWilmott(0.001, 1.0),
    ),
    "marks_ww": dict(
        position=g.Position(legs=LEGS, vol=SVI2, atm=ATM), rule=g.WhalleyWilmott(0.001, 1.0)
    ),
    "merton_atm": dict(
        paths=g.Merton(vol=0.2, intensity=3, jump_mean=-0.05, jump_std=0.05),
        position=g.Position(vol=0.2, atm=ATM),
        rule=g.Move(0.01),
    ),
    "vol_path": dict(position=g.Position(vol=np.linspace(0.2, 0.3, 61))),
    "heston_smile_gate": dict(
        paths=HESTON,
        position=g.Position(legs=LEGS, vol=SVI2, atm="heston"),
        rule=g.VolGate(g.Move(0.005), 0.8, 1.5, 5),
    ),
    "latency_gate": dict(
        position=g.Position(legs=LEGS, vol=SVI2, sticky="moneyness", atm=ATM),
        rule=g.VolGate(g.Move(0.005), 0.5, 2.0),
        execution=g.Execution(latency=2),
    ),
}
COMMON = dict(n_paths=130, n_steps=60, dt=1 / 252, seed=7, costs=g.Costs(bps=2, fixed=0.01))


def assert_matches_reference(kw):
    """The engine against the NumPy reference on every field, and the split adding up."""
    eng = g.simulate_hedge(**kw)
    want = ref.simulate_hedge(**kw)
    for f in HEDGE_FIELDS:
        # both sum the same terms in the same order; 1e-9 leaves room for exp/log/cdf ulps
        np.testing.assert_allclose(eng.data[f], want[f], rtol=1e-9, atol=1e-9, err_msg=f)
    np.testing.assert_allclose(sum(eng.data[f] for f in PNL_PARTS), eng.pnl, atol=1e-9)


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_engine_matches_reference(name):
    kw = dict(CASES[name])
    kw.setdefault("rule", g.DeltaBand(0.1))
    assert_matches_reference({**kw, **COMMON})


def test_vol_terms_are_there_when_vols_move():
    kw = dict(CASES["svi_moneyness_atm"], rule=g.EveryK(1))
    r = g.simulate_hedge(**kw, **COMMON)
    for f in ("vega", "vanna", "volga"):
        assert np.abs(r.data[f]).mean() > 0.01, f
    flat = g.simulate_hedge(position=g.Position(legs=LEGS, vol=0.2), **COMMON)
    for f in ("vega", "vanna", "volga"):
        assert np.all(flat.data[f] == 0.0), f


@pytest.mark.parametrize(
    "rule, noise, hedge_vol",
    [
        (g.EveryK(1), None, None),
        (g.DeltaBand(0.05, to="edge"), g.Noise("bounce", 5e-4), None),
        (g.WhalleyWilmott(0.001, 1.0), None, 0.25),
        (g.Move(0.01) | g.MaxInterval(5), g.Noise("iid", 1e-3), "realized"),
    ],
    ids=["clock", "band_bounce", "ww_fixed", "move_realized"],
)
def test_flat_surface_is_the_constant_vol_engine_bit_for_bit(rule, noise, hedge_vol):
    kw = dict(rule=rule, noise=noise, n_paths=200, n_steps=50, seed=3, costs=g.Costs(bps=1))
    legs = (g.Leg("call", moneyness=1.05), g.Leg("put", moneyness=0.9, expiry=0.1, quantity=2))
    a = g.simulate_hedge(position=g.Position(legs=legs, vol=0.23, hedge_vol=hedge_vol), **kw)
    b = g.simulate_hedge(
        position=g.Position(legs=legs, vol=g.VolSurface.flat(0.23), hedge_vol=hedge_vol), **kw
    )
    for f in HEDGE_FIELDS:
        np.testing.assert_array_equal(a.data[f], b.data[f], err_msg=f)


def test_per_leg_path_with_a_still_level_is_the_constant_vol_engine():
    # atm0 = level, xi = 0: the level stays at exactly atm0 (multiplier exp(0) = 1), so the
    # per-leg path marks every leg at the flat vol: the same P&L as the constant-vol engine up
    # to the rounding of the per-lane arithmetic (vectorized d1 with its own FMA contractions).
    legs = (g.Leg("call", moneyness=1.05), g.Leg("put", moneyness=0.9, expiry=0.1, quantity=2))
    kw = dict(rule=g.DeltaBand(0.1), n_paths=300, n_steps=50, seed=4, costs=g.Costs(bps=1))
    a = g.simulate_hedge(position=g.Position(legs=legs, vol=0.23), **kw)
    still = g.StochasticAtmVol(0.23, 0.23, 1.0, 0.0)
    b = g.simulate_hedge(position=g.Position(legs=legs, vol=0.23, atm=still), **kw)
    for f in HEDGE_FIELDS:
        np.testing.assert_allclose(a.data[f], b.data[f], rtol=1e-12, atol=1e-12, err_msg=f)
    assert np.all(b.vega == 0.0) and np.all(b.volga == 0.0)


def test_fused_level_is_the_standalone_generator():
    # Inside the engine the ATM level is generated with the GBM step from the same draws as
    # StochasticAtmVol.paths: the traced spot and implied vol equal the standalone kernels'.
    times = np.arange(41) / 252
    atm = g.StochasticAtmVol(0.2, 0.3, 3.0, 1.5, -0.7)
    pos = g.Position(
        legs=(g.Leg("call", strike=105.0, expiry=0.5),), vol=SVI2, sticky="moneyness", atm=atm
    )
    r = g.simulate_hedge(
        g.GBM(vol=0.25), position=pos, n_paths=70, times=times, seed=11, trace=[0, 69]
    )
    spot, level = atm.paths(70, times, vol=0.25, seed=11)
    want = g.sticky_vols(SVI2, spot, times, 105.0, 0.5, sticky="moneyness", level=level / 0.2)
    for p in (0, 69):
        np.testing.assert_array_equal(r.trace[p]["spot"], spot[p])
        np.testing.assert_allclose(r.trace[p]["implied_vol"], want[p], rtol=1e-13)


def test_heston_marks_follow_the_variance():
    times = np.arange(31) / 252
    pos = g.Position(legs=(g.Leg("put", moneyness=0.95, expiry=0.4),), atm="heston")
    r = g.simulate_hedge(HESTON, position=pos, n_paths=5, times=times, seed=2, trace=[3])
    prep = g.hedging.prepare(HESTON, position=pos, n_paths=5, times=times, seed=2)
    var = ref.generate_state(prep)["var"][3]
    want = g.heston_implied_vol(var, 0.4 - times, 2.0, 0.05)
    np.testing.assert_allclose(r.trace[3]["implied_vol"], want, rtol=1e-12)


@pytest.mark.parametrize("direction", ["opens", "closes"])
def test_vol_gate_follows_the_current_implied_vol(direction):
    # Realized vol exactly 20% (log returns of +-0.2 sqrt(dt)); the ATM series (the first leg's
    # implied vol) steps from 30% to 10% at step 30, or back: HV / IV crosses min_ratio = 1 there,
    # so the gated clock trades only after the step (or only before it).
    n = 60
    lr = 0.2 / np.sqrt(252) * np.where(np.arange(n) % 2 == 0, 1.0, -1.0)
    path = 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(lr)]))
    hi, lo = np.full(30, 0.3), np.full(n + 1 - 30, 0.1)
    series = np.concatenate([hi, lo] if direction == "opens" else [lo[:30], np.full(31, 0.3)])
    pos = g.Position(legs=g.straddle(expiry=0.5), vol=float(series[0]), atm=series)
    kw = dict(position=pos, rule=g.VolGate(g.EveryK(1), 1.0, length=5))
    res = g.simulate_hedge(path, trace=[0], **kw)
    traded = np.abs(res.trace[0]["trade"][1:n]) > 0  # steps 1 .. n-1 (n: the close)
    after = np.arange(1, n) >= 30
    want = after if direction == "opens" else ~after
    np.testing.assert_array_equal(traded, want)
    np.testing.assert_allclose(res.trace[0]["implied_vol"], series, rtol=1e-15)
    np.testing.assert_allclose(res.pnl, ref.simulate_hedge(path, **kw)["pnl"], rtol=1e-9)


# A smile riding on the Heston level (atm="heston" with a surface): each leg's vol is the
# model's expected vol times the surface's vol over its ATM-forward vol at the same expiry.


@pytest.mark.parametrize("sticky", ["strike", "moneyness"])
@pytest.mark.parametrize("surface", [SVI2, GRID], ids=["svi", "grid"])
def test_heston_smile_matches_reference(surface, sticky):
    pos = g.Position(legs=LEGS, vol=surface, sticky=sticky, atm="heston", rate=0.02)
    assert_matches_reference(dict(paths=HESTON, position=pos, rule=g.DeltaBand(0.1), **COMMON))


@pytest.mark.parametrize("vol", [0.3, g.VolSurface.flat(0.3), TERM], ids=["number", "flat", "term"])
def test_heston_marks_without_a_smile_are_unchanged_bit_for_bit(vol):
    kw = dict(rule=g.WhalleyWilmott(0.001, 1.0), noise=g.Noise("iid", 1e-3), **COMMON)
    plain = g.simulate_hedge(HESTON, position=g.Position(legs=LEGS, atm="heston"), **kw)
    other = g.simulate_hedge(HESTON, position=g.Position(legs=LEGS, vol=vol, atm="heston"), **kw)
    for f in HEDGE_FIELDS:
        np.testing.assert_array_equal(plain.data[f], other.data[f], err_msg=f)


def test_heston_smile_is_the_level_times_the_shape():
    times = np.arange(31) / 252
    leg = g.Leg("put", moneyness=0.9, expiry=0.4)
    kw = dict(n_paths=5, times=times, seed=2, trace=[3])
    level = g.simulate_hedge(HESTON, position=g.Position(legs=(leg,), atm="heston"), **kw)
    pos = g.Position(legs=(leg,), vol=SVI2, sticky="strike", atm="heston")
    smile = g.simulate_hedge(HESTON, position=pos, **kw)
    tau = 0.4 - times
    k = np.log(0.9)  # sticky strike, rate = div = 0: ln(K / S_0) at every step
    shape = SVI2.vol(k, tau) / SVI2.vol(0.0, tau)
    assert np.all(shape > 1.05)  # a put's wing is above the ATM on this skew
    np.testing.assert_allclose(
        smile.trace[3]["implied_vol"], level.trace[3]["implied_vol"] * shape, rtol=1e-12
    )
    np.testing.assert_array_equal(smile.final_spot, level.final_spot)


def test_threads_and_chunks_are_bit_identical():
    kw = dict(CASES["svi_moneyness_atm"], rule=g.DeltaBand(0.1), n_steps=40, seed=5)
    one = g.simulate_hedge(**kw, n_paths=300, threads=1)
    two = g.simulate_hedge(**kw, n_paths=300, threads=2)
    parts = [g.simulate_hedge(**kw, first_path=a, n_paths=b - a) for a, b in ((0, 77), (77, 300))]
    cat = g.HedgeResult.concat(parts)
    for f in HEDGE_FIELDS:
        np.testing.assert_array_equal(one.data[f], two.data[f], err_msg=f)
        np.testing.assert_array_equal(one.data[f], cat.data[f], err_msg=f)


def test_common_random_numbers_across_rules():
    kw = dict(CASES["svi_moneyness_atm"], n_steps=30, n_paths=100, seed=9)
    rules = {"clock": g.EveryK(1), "band": g.DeltaBand(0.1)}
    both = g.simulate_rules(rules=rules, **kw)
    for name, rule in rules.items():
        alone = g.simulate_hedge(rule=rule, **kw)
        for f in HEDGE_FIELDS:
            np.testing.assert_array_equal(both[name].data[f], alone.data[f], err_msg=f)


def test_hedge_vol_choice_changes_the_hedge_not_the_marks():
    base = dict(legs=LEGS, vol=SVI2, sticky="moneyness", atm=ATM)
    kw = dict(rule=g.EveryK(1), n_paths=200, n_steps=40, seed=1)
    implied = g.simulate_hedge(position=g.Position(**base), **kw)
    fixed = g.simulate_hedge(position=g.Position(**base, hedge_vol=0.4), **kw)
    for f in ("gamma", "theta", "vega", "vanna", "volga"):  # the marks' parts
        np.testing.assert_array_equal(implied.data[f], fixed.data[f])
    assert np.max(np.abs(implied.hedge - fixed.hedge)) > 0.01


def _rms(x):
    return float(np.sqrt(np.mean(np.square(x))))


def test_residual_shrinks_as_dt_falls_under_stochastic_implied_vol():
    # A held ATM call (expiry 0.5) over a quarter year, SVI smile, sticky moneyness times an OU
    # ATM level (xi = 1, rho = -0.7). Each step's residual is third order in (dS, dvol) with a
    # mean of order dt^2: the path residual's RMS falls ~4x when dt falls 4x. Without the vanna
    # and volga terms the unexplained part stays (the vol's quadratic variation does not
    # shrink with dt).
    pos = g.Position(
        legs=(g.Leg("call", moneyness=1.0, expiry=0.5),),
        vol=SVI2,
        sticky="moneyness",
        atm=g.StochasticAtmVol(0.2, 0.2, 1.0, 1.0, -0.7),
    )
    acc = g.Accounting(close_options=False)
    res, unexplained = [], []
    for n_steps in (50, 200):
        r = g.simulate_hedge(
            g.GBM(vol=0.2),
            position=pos,
            rule=g.EveryK(1),
            accounting=acc,
            n_paths=4000,
            n_steps=n_steps,
            dt=0.25 / n_steps,
            seed=21,
        )
        res.append(_rms(r.residual))
        unexplained.append(_rms(r.residual + r.vanna + r.volga))
    assert 3.0 < res[0] / res[1] < 5.5, res  # O(dt): 4x expected
    assert unexplained[0] / unexplained[1] < 1.3, unexplained
    assert unexplained[1] > 5 * res[1], (unexplained, res)


def test_bad_vol_models_are_refused():
    with pytest.raises(TypeError, match="rho must be a real number"):
        g.StochasticAtmVol(0.2, 0.2, 1.0, 1.0, None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sticky"):
        g.Position(vol=SVI2, sticky="delta")
    with pytest.raises(TypeError, match="atm"):
        g.Position(atm=0.3)
    with pytest.raises(ValueError, match="atm="):
        g.Position(vol=[0.2, 0.21], atm=ATM)
    with pytest.raises(ValueError, match="Heston paths"):
        g.simulate_hedge(g.GBM(), position=g.Position(atm="heston"), n_paths=2, n_steps=2)
    with pytest.raises(ValueError, match="GBM or Merton"):
        g.simulate_hedge(HESTON, position=g.Position(atm=ATM), n_paths=2, n_steps=2)
    with pytest.raises(ValueError, match="GBM or Merton"):
        g.simulate_hedge(np.full((2, 5), 100.0), position=g.Position(atm=ATM))


def test_inputs_are_not_modified():
    paths = np.cumprod(np.full((3, 20), 1.001), axis=1) * 100
    copy = paths.copy()
    params = SVI2.params.copy()
    g.simulate_hedge(paths, position=g.Position(vol=SVI2, sticky="moneyness"))
    np.testing.assert_array_equal(paths, copy)
    np.testing.assert_array_equal(SVI2.params, params)


def test_user_paths_with_a_surface_match_the_reference():
    rng = np.random.default_rng(0)
    paths = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (5, 41)), axis=1))
    for sticky in ("strike", "moneyness"):
        kw = dict(position=g.Position(legs=LEGS, vol=GRID, sticky=sticky), rule=g.Move(0.005))
        eng = g.simulate_hedge(paths, **kw)
        want = ref.simulate_hedge(paths, **kw)
        for f in HEDGE_FIELDS:
            np.testing.assert_allclose(eng.data[f], want[f], rtol=1e-9, atol=1e-9, err_msg=f)


def test_user_atm_series_scales_the_surface():
    rng = np.random.default_rng(1)
    paths = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (3, 41)), axis=1))
    iv = 0.2 * np.exp(np.cumsum(rng.normal(0, 0.03, 41)))
    for pos in (
        g.Position(vol=SVI2, sticky="moneyness", atm=iv),
        g.Position(vol=0.2, atm=iv, hedge_vol="realized"),
    ):
        kw = dict(position=pos, rule=g.VolGate(g.Move(0.005), 0.5, 1.5))
        eng = g.simulate_hedge(paths, **kw, trace=[1])
        want = ref.simulate_hedge(paths, **kw)
        for f in HEDGE_FIELDS:
            np.testing.assert_allclose(eng.data[f], want[f], rtol=1e-9, atol=1e-9, err_msg=f)
    # the flat 20% times the series' ratio (the last time: after expiry, the last vol kept)
    np.testing.assert_allclose(eng.trace[1]["implied_vol"][:-1], (0.2 * iv / iv[0])[:-1])
    with pytest.raises(ValueError, match="atm series has 3 values"):
        g.simulate_hedge(paths, position=g.Position(vol=SVI2, atm=[0.2, 0.3, 0.2]))
    with pytest.raises(ValueError, match="atm series must be finite"):
        g.Position(vol=SVI2, atm=[0.2, -0.1])


def test_replay_on_btc_bars_from_a_fitted_chain():
    # docs/surfaces.md's worked example, shortened: hourly BTC closes, the Deribit snapshot's
    # SVI fit, an implied-vol column (a stand-in: trailing realized vol), sticky moneyness.
    from conftest import data_file

    from gammaext import lab, svi_fit

    closes = lab.load_closes(data_file("btc_usdt_1h.csv"))[-200:]
    fit = svi_fit.deribit_chain(data_file("deribit_btc_options_2020-05-21.csv")).fit()
    iv = np.linspace(0.6, 0.5, closes.size)
    pos = g.Position(legs=g.straddle(expiry=60 / 365), vol=fit.surface, sticky="moneyness", atm=iv)
    kw = dict(dt=1 / (24 * 365), position=pos, rule=g.Move(0.02), costs=g.Costs(half_spread_bps=1))
    eng = g.simulate_hedge(closes, **kw)
    want = ref.simulate_hedge(closes, **kw)
    for f in HEDGE_FIELDS:
        np.testing.assert_allclose(eng.data[f], want[f], rtol=1e-9, atol=1e-6, err_msg=f)
    assert eng.vega[0] < 0  # the level fell from 60% to 50%: a long straddle loses vega


OPTION_HEDGES = {
    "vega_every_step": g.OptionHedge(expiry=1.0),
    "vega_put_weekly_spread": g.OptionHedge(
        "put", moneyness=0.95, expiry=0.8, every=5, half_spread_vol=0.005
    ),
    "gamma_every_3": g.OptionHedge(expiry=0.9, target="gamma", every=3, half_spread_vol=0.01),
}


@pytest.mark.parametrize("name", list(OPTION_HEDGES), ids=list(OPTION_HEDGES))
@pytest.mark.parametrize(
    "rule",
    [g.EveryK(1), g.DeltaBand(0.1), g.WhalleyWilmott(0.001, 1.0)],
    ids=["clock", "band", "ww"],
)
def test_option_hedge_matches_reference(name, rule):
    pos = g.Position(
        legs=LEGS, vol=SVI2, sticky="moneyness", atm=ATM, option_hedge=OPTION_HEDGES[name]
    )
    kw = dict(position=pos, rule=rule, **COMMON)
    assert_matches_reference(kw)


def test_vega_hedge_cuts_the_vega_risk_on_the_same_paths():
    # A long 0.5-year straddle under a moving smile: delta-only against the same book made
    # vega-neutral daily with a 1-year ATM call (common random numbers: paired by path).
    legs = g.straddle(expiry=0.5)
    atm = g.StochasticAtmVol(0.2, 0.2, 2.0, 1.5, -0.7)
    kw = dict(rule=g.EveryK(1), n_paths=3000, n_steps=63, seed=3)
    base = g.Position(legs=legs, vol=SVI2, sticky="moneyness", atm=atm)
    delta_only = g.simulate_hedge(position=base, **kw)
    hedged = g.simulate_hedge(
        position=g.Position(
            legs=legs, vol=SVI2, sticky="moneyness", atm=atm, option_hedge=g.OptionHedge(expiry=1.0)
        ),
        **kw,
    )
    np.testing.assert_array_equal(delta_only.final_spot, hedged.final_spot)  # same paths
    assert hedged.pnl.std() < 0.5 * delta_only.pnl.std()
    assert np.abs(hedged.vega).mean() < 0.5 * np.abs(delta_only.vega).mean()


def test_option_hedge_is_bit_identical_across_threads_and_chunks():
    pos = g.Position(
        legs=LEGS,
        vol=SVI2,
        sticky="moneyness",
        atm=ATM,
        option_hedge=OPTION_HEDGES["gamma_every_3"],
    )
    kw = dict(position=pos, rule=g.DeltaBand(0.1), n_steps=40, seed=5)
    one = g.simulate_hedge(**kw, n_paths=200, threads=1)
    two = g.simulate_hedge(**kw, n_paths=200, threads=2)
    cat = g.HedgeResult.concat(
        [g.simulate_hedge(**kw, first_path=a, n_paths=b - a) for a, b in ((0, 65), (65, 200))]
    )
    for f in HEDGE_FIELDS:
        np.testing.assert_array_equal(one.data[f], two.data[f], err_msg=f)
        np.testing.assert_array_equal(one.data[f], cat.data[f], err_msg=f)


def test_bad_option_hedges_are_refused():
    with pytest.raises(ValueError, match="target"):
        g.OptionHedge(target="delta")
    with pytest.raises(ValueError, match="every"):
        g.OptionHedge(every=0)
    with pytest.raises(ValueError, match="half_spread_vol"):
        g.OptionHedge(half_spread_vol=-0.01)
    with pytest.raises(TypeError, match="option_hedge"):
        g.Position(option_hedge=0.3)
    oh = g.OptionHedge(expiry=1.0)
    with pytest.raises(ValueError, match="own implied vol"):
        g.simulate_hedge(position=g.Position(option_hedge=oh), n_paths=2, n_steps=3)
    with pytest.raises(ValueError, match="after the horizon"):
        g.simulate_hedge(
            position=g.Position(vol=SVI2, option_hedge=g.OptionHedge(expiry=0.01)),
            n_paths=2,
            n_steps=10,
        )
    for bad in (-0.1, math.nan, math.inf):
        with pytest.raises(ValueError, match="OptionHedge band"):
            g.OptionHedge(band=bad)


# What the trader sees decides the option hedge too (the option's delta and gamma at the observed
# price and the hedge vol, the vega target at the observed price): every hedge vol, with and
# without noise, on a clock and on a vega (or gamma) band.
TRADER_VIEWS = {
    "noise_implied": (g.Noise("iid", 0.002), None),
    "bounce_fixed": (g.Noise("bounce", 1e-3), 0.25),
    "fixed": (None, 0.18),
    "realized": (None, "realized"),
    "noise_realized_window": (g.Noise("iid", 1e-3), g.HedgeVol("window", 5)),
}
BANDED = {
    "vega_every_step": OPTION_HEDGES["vega_every_step"],
    "vega_band": g.OptionHedge("put", moneyness=0.95, expiry=0.8, band=0.05,
                               half_spread_vol=0.005),
    "gamma_band_every_2": g.OptionHedge(expiry=0.9, target="gamma", every=2, band=0.002),
}


@pytest.mark.parametrize("view", list(TRADER_VIEWS), ids=list(TRADER_VIEWS))
@pytest.mark.parametrize("name", list(BANDED), ids=list(BANDED))
def test_option_hedge_under_noise_and_every_hedge_vol_matches_reference(view, name):
    noise, hedge_vol = TRADER_VIEWS[view]
    pos = g.Position(
        legs=LEGS, vol=SVI2, sticky="moneyness", atm=ATM, hedge_vol=hedge_vol,
        option_hedge=BANDED[name],
    )
    kw = dict(position=pos, rule=g.WhalleyWilmott(0.001, 1.0), noise=noise, **COMMON)
    assert_matches_reference(kw)


def test_the_trader_view_changes_the_option_hedge_not_the_paths():
    pos = dict(legs=LEGS, vol=SVI2, sticky="moneyness", atm=ATM, option_hedge=BANDED["vega_band"])
    kw = dict(rule=g.EveryK(1), n_paths=200, n_steps=40, seed=2)
    marks = g.simulate_hedge(position=g.Position(**pos), **kw)
    fixed = g.simulate_hedge(position=g.Position(**pos, hedge_vol=0.3), **kw)
    noisy = g.simulate_hedge(position=g.Position(**pos), noise=g.Noise("iid", 0.003), **kw)
    np.testing.assert_array_equal(marks.final_spot, fixed.final_spot)
    np.testing.assert_array_equal(marks.final_spot, noisy.final_spot)
    # the same option trades (vega at the implied) but another stock hedge
    np.testing.assert_array_equal(marks.vega, fixed.vega)
    assert not np.array_equal(marks.hedge, fixed.hedge)
    assert not np.array_equal(marks.vega, noisy.vega)  # the vega seen at the observed price


def test_a_vega_band_trades_less_and_leaves_at_most_the_band():
    # One step: the first trade and the horizon's close, on a known path. A band wider than the
    # book's vega never trades; a narrow one trades to neutral like the clock.
    path = np.array([[100.0, 101.0]])
    legs = (g.Leg("call", expiry=0.5),)
    kw = dict(rule=g.Never(), accounting=g.Accounting(initial_hedge=False))

    def run(band):
        oh = g.OptionHedge(expiry=1.0, band=band, half_spread_vol=0.01)
        pos = g.Position(legs=legs, vol=SVI2, sticky="moneyness", atm=[0.2, 0.2], option_hedge=oh)
        return g.simulate_hedge(path, position=pos, **kw)

    vega0 = float(g.greeks(100.0, 100.0, 0.5, float(SVI2.vol(0.0, 0.5))).vega)
    wide, narrow, clock = run(1.01 * vega0), run(0.99 * vega0), run(0.0)
    assert wide.costs[0] == 0.0
    np.testing.assert_array_equal(narrow.costs, clock.costs)
    assert narrow.costs[0] < 0.0


def test_option_hedge_costs_are_the_formula():
    # half_spread_vol x the option's vega per unit x |quantity| at the first trade and at the sale
    # at the horizon (one step, the book's vega made zero at the start; no stock costs)
    path = np.array([[100.0, 98.0]])
    legs = (g.Leg("call", expiry=0.5, quantity=2.0),)
    hs = 0.004
    oh = g.OptionHedge("put", moneyness=0.9, expiry=1.0, half_spread_vol=hs)
    pos = g.Position(legs=legs, vol=0.2, atm=[0.2, 0.2], option_hedge=oh)
    dt = 1 / 252
    res = g.simulate_hedge(path, position=pos, rule=g.Never(), dt=dt)
    leg_vega = 2.0 * float(g.greeks(100.0, 100.0, 0.5, 0.2).vega)
    unit0 = float(g.greeks(100.0, 90.0, 1.0, 0.2, is_call=False).vega)
    qty = -leg_vega / unit0
    unit1 = float(g.greeks(98.0, 90.0, 1.0 - dt, 0.2, is_call=False).vega)
    want = -(abs(qty) * hs * unit0 + abs(qty) * hs * unit1)
    np.testing.assert_allclose(res.costs[0], want, rtol=1e-12)


def test_a_surface_with_zero_variance_cannot_mark():
    for sf in (
        g.VolSurface.flat(0.0),
        g.VolSurface.grid([-0.2, 0.0, 0.2], [0.5], [[0.2, 0.0, 0.2]]),
        g.VolSurface.term_structure([0.5, 1.0], [0.0, 0.2]),
    ):
        with pytest.raises(ValueError, match="total variance > 0"):
            g.Position(vol=sf)


def test_per_path_atm_series_replays_many_windows():
    # one ATM series per path (windows of a real series, each with its own implied vols)
    rng = np.random.default_rng(2)
    steps = rng.normal(0, 0.01, (70, 31))
    steps[:, 0] = 0.0  # every window starts at 100 (the legs' strikes are struck at row 0's start)
    paths = 100 * np.exp(np.cumsum(steps, axis=1))
    iv = 0.2 * np.exp(np.cumsum(rng.normal(0, 0.03, (70, 31)), axis=1))
    pos = g.Position(vol=SVI2, sticky="moneyness", atm=iv, option_hedge=g.OptionHedge(expiry=1.0))
    kw = dict(position=pos, rule=g.DeltaBand(0.1), trace=[0, 69])
    eng = g.simulate_hedge(paths, **kw)
    want = ref.simulate_hedge(paths, position=pos, rule=g.DeltaBand(0.1))
    for f in HEDGE_FIELDS:
        np.testing.assert_allclose(eng.data[f], want[f], rtol=1e-9, atol=1e-9, err_msg=f)
    for p in (0, 69):  # each path alone, with its row as a shared series: the same
        alone = g.simulate_hedge(
            paths[p],
            position=g.Position(
                vol=SVI2, sticky="moneyness", atm=iv[p], option_hedge=g.OptionHedge(expiry=1.0)
            ),
            rule=g.DeltaBand(0.1),
            trace=[0],
        )
        np.testing.assert_allclose(alone.pnl, eng.pnl[p : p + 1], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(alone.trace[0]["implied_vol"], eng.trace[p]["implied_vol"])
    with pytest.raises(ValueError, match="expected \\(n_paths, times\\)"):
        g.simulate_hedge(paths[:5], position=g.Position(vol=SVI2, atm=iv))


def test_a_surface_with_its_own_forward_must_share_the_positions_carry():
    # found in review: the engine read the smile at ln(K/F) with the position's rate and
    # dividend while VolSurface.vol(strike=...) used the surface's: 0.2000 against 0.2076
    slices = [(0.04, 0.1, -0.3, 0.0, 0.2)]
    surface = g.VolSurface.svi([0.5], slices, spot=100.0, rate=0.05)
    with pytest.raises(ValueError, match="rate=0.05.*Position\\(rate=surface.rate"):
        g.Position(legs=g.straddle(expiry=0.5), vol=surface)
    pos = g.Position(legs=g.straddle(expiry=0.5), vol=surface, rate=0.05)
    res = g.simulate_hedge(
        np.full(3, 100.0), dt=0.01, position=pos, rule=g.EveryK(1), trace=[0]
    )
    want = float(surface.vol(strike=100.0, t=0.5))
    np.testing.assert_allclose(res.trace[0]["implied_vol"][0], want, rtol=1e-12)
