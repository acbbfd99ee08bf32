"""The path-wise hedging engine: RNG, agreement with the NumPy reference, the economics of gamma
scalping within Monte Carlo error, determinism, and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import data_file
from numpy.testing import assert_allclose, assert_array_equal

import gammaext as g
from gammaext import _core, reference as R
from gammaext.hedging import HEDGE_FIELDS, random_draws, straddle

# --------------------------------------------------------------------------------------------
# Random numbers

# Known-answer vectors of Philox4x32-10 from the reference implementation accompanying Salmon
# et al., "Parallel random numbers: as easy as 1, 2, 3" (SC11, 2011), Random123 kat_vectors:
# (counter, key) -> output.
PHILOX_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize("ctr,key,expected", PHILOX_KAT, ids=["zero", "ones", "pi"])
def test_philox_known_answers(ctr, key, expected):
    assert tuple(_core._philox4x32(list(ctr), list(key))) == expected


def test_norm_ppf_matches_scipy():
    from scipy.special import ndtri

    p = np.concatenate(
        [np.linspace(1e-9, 1 - 1e-9, 20001), [2.0**-53, 1e-300, 1e-20, 0.075, 0.925, 1 - 2.0**-53]]
    )
    # AS 241 is accurate to about 1e-16 relative; 4e-15 leaves room for the tail's log/sqrt.
    assert_allclose(_core._norm_ppf(p), ndtri(p), rtol=4e-15, atol=1e-300)


def test_normals_are_box_muller_of_the_uniforms():
    """Documented generator: normals of draws (2n, 2n+1) are the Box-Muller transform of the
    uniforms (2n, 2n+1) of the same stream."""
    u = random_draws(3, "price", 50, 40, normal=False)
    z = random_draws(3, "price", 50, 40)
    r = np.sqrt(-2 * np.log(u[:, 0::2]))
    # our log/sin/cos against NumPy's, each about 1 ulp, times r <= 8.6
    assert_allclose(z[:, 0::2], r * np.cos(2 * np.pi * u[:, 1::2]), rtol=0, atol=2e-14)
    assert_allclose(z[:, 1::2], r * np.sin(2 * np.pi * u[:, 1::2]), rtol=0, atol=2e-14)
    x = np.concatenate([np.linspace(0, 1, 100001), [2.0**-53, 0.125, 0.25, 0.5, 0.75]])
    z0, z1 = _core._box_muller(np.full_like(x, math.exp(-0.5)), x)  # r = 1 (to an ulp)
    # NumPy rounds 2 pi x (up to 6.3) before its cos: an error up to ulp(6.3) = 8.9e-16 that
    # our reduction in x avoids; 2e-15 covers both.
    assert_allclose(z0, np.cos(2 * np.pi * x), rtol=0, atol=2e-15)
    assert_allclose(z1, np.sin(2 * np.pi * x), rtol=0, atol=2e-15)


def test_draws_are_uniform_and_normal():
    u = random_draws(7, "price", 200, 500, normal=False)
    assert u.min() > 0 and u.max() < 1
    z = random_draws(7, "price", 200, 500)
    # 1e5 draws: mean within 4 standard errors (0.0126), variance within 4 (0.0179).
    assert abs(z.mean()) < 4 / math.sqrt(z.size)
    assert abs(z.var() - 1) < 4 * math.sqrt(2 / z.size)
    # Kolmogorov-Smirnov on the uniforms: D < 1.63 / sqrt(n) (1% level).
    s = np.sort(u.ravel())
    d = np.max(np.abs(s - (np.arange(1, s.size + 1) - 0.5) / s.size))
    assert d < 1.63 / math.sqrt(s.size)


def test_draws_chunk_and_thread_invariant():
    full = random_draws(11, 3, 300, 17, threads=2)
    part = random_draws(11, 3, 50, 17, first_path=120, threads=1)
    assert_array_equal(part, full[120:170])
    assert_array_equal(random_draws(11, 3, 300, 17, threads=1), full)
    # streams and seeds differ
    assert not np.array_equal(random_draws(12, 3, 5, 4), full[:5, :4])
    assert not np.array_equal(random_draws(11, 4, 5, 4), full[:5, :4])


# --------------------------------------------------------------------------------------------
# Engine against the NumPy reference

COSTS = g.Costs(
    bps=2.0, half_spread_bps=1.0, half_spread=0.005, fixed=0.02, option_half_spread=0.05
)
POS = g.Position(vol=0.25, rate=0.03, div=0.01)
LEGS = g.Position(
    (
        g.Leg("call", 105.0, expiry=0.05, quantity=2.0),
        g.Leg("put", 95.0, expiry=0.1, quantity=-1.0),
        g.Leg("call", moneyness=1.0, quantity=1.0),
        g.Leg("put", moneyness=1.0, quantity=1.0),
    ),
    vol=0.22,
    rate=0.02,
    div=0.005,
)
_rng = np.random.default_rng(5)
HIST = 100 * np.exp(np.cumsum(_rng.normal(0, 0.01, 400)))
USER = HIST[None, :41] * np.exp(_rng.normal(0, 0.002, (6, 41)))

CASES = {
    "every": {"rule": g.EveryK(1)},
    "every3": {"rule": g.EveryK(3)},
    "move": {"rule": g.Move(0.01)},
    "band": {"rule": g.DeltaBand(0.1)},
    "band_edge_fraction": {"rule": g.DeltaBand(0.05, units="fraction", to="edge")},
    "whalley_wilmott": {"rule": g.WhalleyWilmott(0.001, 0.5)},
    "atr": {"rule": g.AtrMove(0.5, 5)},
    "atr_previous": {"rule": g.AtrMove(0.5, 5, since="previous")},
    "trend_band": {"rule": g.TrendBand(0.1, 5, 2.0, to="edge")},
    "vol_gate": {"rule": g.VolGate(g.Move(0.005), 1.0, 2.0, 5)},
    "band_or_max": {"rule": g.DeltaBand(0.2) | g.MaxInterval(7)},
    "never_no_initial": {"rule": g.Never(), "accounting": g.Accounting(initial_hedge=False)},
    "no_entry_exit_costs": {
        "rule": g.Move(0.01),
        "accounting": g.Accounting(
            entry_costs=False, exit_costs=False, close_options=False, financing=False
        ),
    },
    "hedge_vol": {"rule": g.Move(0.01), "position": g.Position(vol=0.25, hedge_vol=0.3, rate=0.01)},
    "legs_expiring_inside": {"rule": g.Move(0.01), "position": LEGS},
    "heston": {"paths": g.Heston(), "rule": g.Move(0.01)},
    "merton": {"paths": g.Merton(intensity=20.0), "rule": g.Move(0.01)},
    "oscillation": {"paths": g.Oscillation(noise=0.05), "rule": g.Move(0.01)},
    "trend": {"paths": g.Trend(), "rule": g.EveryK(2)},
    "bootstrap": {"paths": g.Bootstrap(prices=HIST, block=7), "rule": g.Move(0.01)},
    "noise_iid": {"rule": g.Move(0.01), "noise": g.Noise("iid", 0.002)},
    "noise_bounce": {"rule": g.EveryK(1), "noise": g.Noise("bounce", 0.001)},
    # the execution model: hedge Greeks at the observed price with another hedge vol, quotes
    # that widen with the move, impact, latency, and the research mode's fills at the print
    "noise_hedge_vol": {
        "rule": g.DeltaBand(0.1) | g.MaxInterval(5),
        "noise": g.Noise("iid", 0.003),
        "position": g.Position(vol=0.2, hedge_vol=0.25),
    },
    "quotes_impact": {
        "rule": g.Move(0.01),
        "noise": g.Noise("bounce", 0.0005),
        "costs": g.Costs(bps=1, half_spread_bps=2, spread_vol=0.5, impact_bps=3, fixed=0.01),
    },
    "latency": {"rule": g.Move(0.005), "noise": g.Noise("iid", 0.001),
                "execution": g.Execution(latency=3)},
    "latency_band": {"rule": g.WhalleyWilmott(0.001, 1.0) | g.MaxInterval(4),
                     "execution": g.Execution(latency=1)},
    "fill_observed": {"rule": g.AtrMove(1.0, 5), "noise": g.Noise("bounce", 0.001),
                      "execution": g.Execution(fill="observed")},
    "heston_coarse": {"paths": g.Heston(xi=1.0, rho=-0.7), "rule": g.EveryK(1),
                      "dt": 0.25},
    "merton_coarse": {"paths": g.Merton(intensity=60.0), "rule": g.EveryK(1), "dt": 0.1},
    # hedge vol realized so far on the observed prices (EWMA, window), per path
    "realized_ewma": {"rule": g.WhalleyWilmott(0.001, 0.5) | g.MaxInterval(6),
                      "noise": g.Noise("iid", 0.002),
                      "position": g.Position(vol=0.25, rate=0.03, hedge_vol="realized")},
    "realized_window": {"rule": g.DeltaBand(0.1),
                        "paths": g.GBM(vol=0.35),
                        "position": g.Position(vol=0.25, hedge_vol=g.HedgeVol("window", 7, 3))},
    "realized_user": {"paths": USER, "rule": g.Move(0.005), "n_paths": None, "n_steps": None,
                      "position": g.Position(hedge_vol=g.HedgeVol("ewma", 2.5, floor=0.3))},
    # Whalley-Wilmott with legs of several expiries: each discounted to its own
    "ww_legs": {"rule": g.WhalleyWilmott(0.001, 0.5), "position": LEGS},
    # the dynamic bands on their signals: the signal generator's, or the user's
    "signals_imbalance": {"paths": g.SignalGBM(signal="imbalance", rho=0.6),
                          "rule": g.ImbalanceBand(0.1, 0.7)},
    "signals_profile": {"paths": g.SignalGBM(vol=0.3, signal="profile", rho=0.6),
                        "rule": g.ProfileBand(0.1, 0.7, to="edge") | g.MaxInterval(9),
                        "noise": g.Noise("iid", 0.002)},
    "user_signals_shared": {"paths": USER, "rule": g.ProfileBand(0.05, 0.5, units="fraction"),
                            "signals": {"profile": _rng.uniform(size=41)},
                            "n_paths": None, "n_steps": None},
    "user_signals_per_path": {"paths": USER, "rule": g.ImbalanceBand(0.1, 0.9),
                              "signals": {"imbalance": _rng.uniform(-1, 1, (6, 41)),
                                          "profile": _rng.uniform(size=(6, 41))},
                              "n_paths": None, "n_steps": None,
                              "execution": g.Execution(latency=2)},
    "user_paths": {"paths": USER, "rule": g.Move(0.01), "n_paths": None, "n_steps": None},
    "user_times": {
        "paths": USER,
        "rule": g.Move(0.01),
        "n_paths": None,
        "n_steps": None,
        "times": np.cumsum(_rng.uniform(0.5, 1.5, 41)) / 252,
    },
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_engine_matches_reference(case, isa):
    kw = {"n_paths": 70, "n_steps": 40, "seed": 3, "position": POS, "costs": COSTS}
    kw.update(CASES[case])
    kw = {k: v for k, v in kw.items() if v is not None}
    paths = kw.pop("paths", None)
    got = g.simulate_hedge(paths, **kw)
    want = R.simulate_hedge(paths, **kw)
    for name in HEDGE_FIELDS:
        # Same arithmetic in a different order (and our exp/log/erfc vs NumPy/SciPy's, ~1 ulp):
        # 1e-10 of the field's scale is the bar; we see about 1e-13.
        scale = max(1.0, float(np.max(np.abs(want[name]))))
        assert_allclose(got[name], want[name], rtol=0, atol=1e-10 * scale, err_msg=name)


#: What a run without the split computes (the rest is NaN).
WITHOUT_SPLIT = ("pnl", "costs", "financing", "rebalances", "traded", "turnover", "final_spot",
                 "rolls")
SPLIT_ONLY = tuple(f for f in HEDGE_FIELDS if f not in WITHOUT_SPLIT)


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_pnl_without_split_is_the_split_runs(case, isa):
    """split=False gives the P&L and trade counts of the full run (the same trades; the P&L is
    cash plus the final book), marking the options only where needed when the rule allows."""
    kw = {"n_paths": 70, "n_steps": 40, "seed": 3, "position": POS, "costs": COSTS}
    kw.update(CASES[case])
    kw = {k: v for k, v in kw.items() if v is not None}
    paths = kw.pop("paths", None)
    full = g.simulate_hedge(paths, **kw)
    fast = g.simulate_hedge(paths, split=False, **kw)
    assert_array_equal(fast.rebalances, full.rebalances)
    for name in WITHOUT_SPLIT:
        # the same arithmetic for the deltas of the lanes that trade: equal to rounding (we
        # see the same bits)
        scale = max(1.0, float(np.max(np.abs(full[name]))))
        assert_allclose(fast[name], full[name], rtol=0, atol=1e-13 * scale, err_msg=name)
    for name in SPLIT_ONLY:
        assert np.isnan(fast[name]).all(), name


def test_pnl_without_split_vol_path_and_several_rules():
    """A vol path and several band-free rules in one pass (marks skipped), and a band among
    them (every step marked): each rule's P&L and counts are those of the split run."""
    vols = np.where(np.arange(61) < 30, 0.2, 0.25)
    kw = {"n_paths": 130, "n_steps": 60, "seed": 8, "costs": COSTS,
          "position": g.Position(vol=vols, rate=0.02), "noise": g.Noise("iid", 0.001)}
    for rules in ([g.Move(0.01), g.EveryK(4), g.AtrMove(0.7, 5) | g.MaxInterval(6)],
                  [g.Move(0.01), g.DeltaBand(0.1)]):
        full = g.simulate_rules(rules=rules, **kw)
        fast = g.simulate_rules(rules=rules, split=False, **kw)
        for a, b in zip(full, fast):
            assert_array_equal(b.rebalances, a.rebalances)
            assert_allclose(b.pnl, a.pnl, rtol=0, atol=1e-13 * float(np.max(np.abs(a.pnl))))
            assert np.isnan(b.gamma).all() and np.isnan(b.max_drawdown).all()
    # a trace needs the marks of every step: it is the split run's
    traced = g.simulate_hedge(split=False, trace=[3], **kw)
    want = g.simulate_hedge(trace=[3], **kw)
    for f in g.hedging.TRACE_FIELDS:
        assert_array_equal(traced.trace[3][f], want.trace[3][f], err_msg=f)


def test_pnl_without_split_identical_across_threads_and_chunks():
    """The packed deltas of the lanes that trade do not depend on which other lanes trade."""
    kw = {"n_steps": 50, "rule": g.Move(0.005) | g.MaxInterval(6), "costs": COSTS, "seed": 9,
          "noise": g.Noise("iid", 0.001), "split": False}
    full = g.simulate_hedge(n_paths=300, threads=2, **kw)
    parts = [g.simulate_hedge(n_paths=b - a, first_path=a, threads=1, **kw)
             for a, b in ((0, 37), (37, 38), (38, 300))]
    merged = g.HedgeResult.concat(parts)
    for name in WITHOUT_SPLIT:
        assert_array_equal(merged[name], full[name], err_msg=name)


def test_long_grid_without_the_group_table():
    """Beyond 16384 group-steps the engine computes each step's group constants per block
    instead of once per run: the same bits (a run one step longer has the same paths)."""
    book = g.Position((g.Leg("call", 100.0, expiry=1.5), g.Leg("put", 100.0, expiry=1.5)),
                      vol=0.2, rate=0.02)
    kw = {"n_paths": 2, "dt": 1 / 16384, "seed": 4, "rule": g.Move(0.01), "position": book,
          "costs": COSTS, "trace": [1]}
    table = g.simulate_hedge(n_steps=16383, **kw)  # 16384 x 1 group: in the table
    per_block = g.simulate_hedge(n_steps=16384, **kw)
    for f in ("option_value", "option_delta", "option_gamma", "shares", "costs", "pnl", "theta"):
        assert_array_equal(table.trace[1][f][:-1], per_block.trace[1][f][:-2], err_msg=f)


def test_vol_path_vega_attribution():
    """A jump of the implied vol is explained by vega: with every-step hedging the residual
    stays small and the vega part carries the repricing."""
    vols = np.where(np.arange(101) < 50, 0.2, 0.25)
    flat = g.simulate_hedge(n_paths=300, n_steps=100, seed=5, position=g.Position(vol=0.2))
    path = g.simulate_hedge(n_paths=300, n_steps=100, seed=5, position=g.Position(vol=vols))
    S, _ = R.generate_paths(g.hedging.prepare(n_paths=300, n_steps=100, seed=5))
    tau = (100 - 49) / 252
    want = 0.05 * 2 * g.greeks(S[:, 49], 100.0, tau, 0.2, which="vega").vega  # straddle vega
    assert_allclose(path.vega, want, rtol=1e-12)  # the step's vega times the vol change
    assert (flat.vega == 0).all()
    # The second-order terms of the jump step (vanna dS dvol, volga dvol^2 / 2) go to the
    # residual: measured about 11% of the vega part here (a 5-point jump), bounded at 20%.
    assert np.abs(path.residual).mean() < 0.2 * np.abs(path.vega).mean()
    # a constant path gives exactly the constant-vol run (and zero vega)
    same = g.simulate_hedge(
        n_paths=300, n_steps=100, seed=5, position=g.Position(vol=np.full(101, 0.2))
    )
    assert_array_equal(same.pnl, flat.pnl)


def test_pnl_parts_add_up(rng):
    r = g.simulate_hedge(n_paths=500, rule=g.Move(0.01), costs=COSTS, position=POS, seed=9)
    parts = sum(r[k] for k in g.hedging.PNL_PARTS)
    assert_allclose(parts, r.pnl, rtol=0, atol=1e-12 * np.abs(r.pnl).max())
    assert (r.costs < 0).all()
    # every-step hedging: the Taylor terms explain nearly all (residual ~ third order)
    e = g.simulate_hedge(n_paths=500, n_steps=252, seed=9)
    assert np.abs(e.residual).mean() < 0.02 * np.abs(e.gamma).mean()


# --------------------------------------------------------------------------------------------
# Economics within Monte Carlo error


@pytest.mark.parametrize("realized", [0.3, 0.2, 0.12], ids=["above", "equal", "below"])
def test_mean_pnl_is_gamma_times_variance_gap(realized):
    """Zero-cost every-step hedging: E[P&L] = E[sum 1/2 Gamma S^2 (sr^2 - si^2) dt]."""
    implied, n, steps, T = 0.2, 2000, 100, 0.25
    kw = {
        "n_paths": n,
        "n_steps": steps,
        "dt": T / steps,
        "seed": 21,
        "position": g.Position(vol=implied),
    }
    res = g.simulate_hedge(g.GBM(vol=realized), **kw)
    prep = g.hedging.prepare(g.GBM(vol=realized), **kw)
    S, _ = R.generate_paths(prep)
    t = prep.times[:-1]
    gam = 2 * g.greeks(S[:, :-1], 100.0, T - t, implied, which="gamma").gamma
    predicted = (0.5 * gam * S[:, :-1] ** 2 * (realized**2 - implied**2) * (T / steps)).sum(1)
    diff = res.pnl - predicted
    se = diff.std(ddof=1) / math.sqrt(n)
    # The hedging error has mean zero: within 4 standard errors, plus the O(dt) bias of the
    # discrete sum (well below 2% of the predicted mean here).
    assert abs(diff.mean()) < 4 * se + 0.02 * abs(predicted.mean())
    if realized != implied:
        assert np.sign(res.pnl.mean()) == np.sign(realized - implied)
        assert abs(res.pnl.mean()) > 5 * res.pnl.std(ddof=1) / math.sqrt(n)


def test_derman_kamal_hedging_error():
    """Std of the hedging error ~ sqrt(pi/4) vega sigma / sqrt(N) (Kamal & Derman, 'When you
    cannot hedge continuously', Risk 12(1), 1999), realized vol = implied, zero costs."""
    sigma, T, fine = 0.2, 0.25, 256
    stds = {}
    for k in (16, 4, 1):
        r = g.simulate_hedge(
            n_paths=3000,
            n_steps=fine,
            dt=T / fine,
            rule=g.EveryK(k),
            seed=4,
            position=g.Position(vol=sigma),
        )
        stds[fine // k] = r.pnl.std(ddof=1)
    vega = 2 * g.greeks(100.0, 100.0, T, sigma, which="vega").vega  # straddle
    for n_hedges, s in stds.items():
        predicted = math.sqrt(math.pi / 4) * vega * sigma / math.sqrt(n_hedges)
        # 3000 paths: sampling error of a std ~1.3%; the law is asymptotic (gamma varies along
        # the path): 15%.
        assert s == pytest.approx(predicted, rel=0.15), n_hedges
    # the 1/sqrt(rebalances) scaling itself, within 10%
    assert stds[16] / stds[64] == pytest.approx(2.0, rel=0.1)
    assert stds[64] / stds[256] == pytest.approx(2.0, rel=0.1)


def test_lab_oscillation_earns_trend_bleeds():
    kw = {"n_paths": 1, "n_steps": 252, "position": g.Position(vol=0.2)}
    osc = g.simulate_hedge(g.Oscillation(amplitude=0.02, period=4), **kw)
    trend = g.simulate_hedge(g.Trend(total_return=0.10, noise=0.01), **kw)
    assert osc.final_spot[0] == pytest.approx(100.0, rel=1e-12)  # returns to its start
    assert trend.final_spot[0] == pytest.approx(110.0, rel=0.05)
    assert osc.pnl[0] > 0 > trend.pnl[0]
    assert osc.realized_vol[0] > 0.2 > trend.realized_vol[0]
    assert trend.theta[0] < 0 and abs(trend.gamma[0]) < 0.2 * abs(trend.theta[0])


def test_move_beats_clock_under_noise_and_costs():
    """Bid-ask bounce and a spread: hedging on the clock samples the noise and pays the spread
    on moves too small to earn it; hedging on meaningful moves does better (same paths)."""
    kw = {
        "n_paths": 2000,
        "n_steps": 500,
        "dt": 0.25 / 500,
        "seed": 8,
        "noise": g.Noise("bounce", 0.0005),
        "costs": g.Costs(half_spread_bps=2.0),
    }
    clock = g.simulate_hedge(rule=g.EveryK(1), **kw)
    move = g.simulate_hedge(rule=g.Move(0.01), **kw)
    diff = move.pnl - clock.pnl  # paired: common random numbers
    assert diff.mean() > 5 * diff.std(ddof=1) / math.sqrt(diff.size)
    # Against a clock with as many rebalances, the mean is about the same (both pay about the
    # same costs), but the move rule's P&L is far less risky: it hedges when delta has changed.
    # (Measured: std 0.56 vs 0.84; the sampling error of each std is ~1.6% with 2000 paths.)
    k = round(500 / move.rebalances.mean())
    clock_k = g.simulate_hedge(rule=g.EveryK(k), **kw)
    assert clock_k.rebalances.mean() == pytest.approx(move.rebalances.mean(), rel=0.1)
    assert move.pnl.std() < 0.8 * clock_k.pnl.std()


def test_whalley_wilmott_band_matches_formula():
    rule = g.WhalleyWilmott(cost=0.002, risk_aversion=0.2)
    pos = g.Position(vol=0.2, rate=0.03)
    r = g.simulate_hedge(
        n_paths=20, n_steps=100, rule=rule, position=pos, trace=[0, 7], costs=g.Costs(bps=20)
    )
    for p in (0, 7):
        tr = r.trace[p]
        inner = slice(1, -1)  # the band is set at rule steps (not at entry or at the horizon)
        want = rule.half_width(
            tr["observed"][inner],
            tr["option_gamma"][inner],
            tr["time"][-1] - tr["time"][inner],
            rate=0.03,
        )
        # the kernel's cube root is exp(log(x)/3): a few ulp
        assert_allclose(tr["band"][inner], want, rtol=1e-13)
        # and the rule keeps the net delta inside it after every rebalance
        # (to rounding, and trades below 1e-12 shares are dropped)
        assert (np.abs(tr["net_delta"][inner]) <= tr["band"][inner] * (1 + 1e-12) + 1e-11).all()
    assert 0 < r.rebalances.mean() < 99


def test_whalley_wilmott_discounts_to_the_legs_expiry():
    """A straddle expiring a year out, hedged over 100 days: the band discounts with the time
    to the option's expiry (not to the horizon); with two expiries, each leg's gamma with its
    own, e^{-r tau H} H^3 ~ (sum e^{-r tau_g / 2} Gamma_g)^2."""
    rule = g.WhalleyWilmott(cost=0.002, risk_aversion=0.2)
    rate, expiry = 0.08, 1.0
    pos = g.Position(g.straddle(expiry=expiry), vol=0.2, rate=rate)
    r = g.simulate_hedge(n_paths=8, n_steps=100, rule=rule, position=pos, trace=[3])
    tr = r.trace[3]
    inner = slice(1, -1)
    want = rule.half_width(tr["observed"][inner], tr["option_gamma"][inner],
                           expiry - tr["time"][inner], rate=rate)
    assert_allclose(tr["band"][inner], want, rtol=1e-13)
    horizon = rule.half_width(tr["observed"][inner], tr["option_gamma"][inner],
                              tr["time"][-1] - tr["time"][inner], rate=rate)
    assert (np.abs(tr["band"][inner] / horizon - 1) > 1e-3).all()  # the old discount differs
    # two expiries: the reference's group-by-group discount, matched by the engine
    two = g.Position((*g.straddle(expiry=0.5), *g.straddle(-0.5, expiry=1.0)), vol=0.2,
                     rate=rate)
    kw = {"n_paths": 64, "n_steps": 60, "seed": 2, "rule": rule, "position": two}
    got, ref = g.simulate_hedge(**kw), R.simulate_hedge(**kw)
    assert_allclose(got.rebalances, ref["rebalances"], atol=0)
    assert_allclose(got.pnl, ref["pnl"], rtol=0, atol=1e-10)


def test_realized_hedge_vol_tracks_the_paths_vol():
    """Paths at 35% vol, options marked at 20%: hedging at the realized vol so far comes close
    to hedging at the true 35% and far from hedging at the implied 20% (the P&L per path)."""
    kw = {"paths": g.GBM(vol=0.35), "n_paths": 400, "n_steps": 252, "seed": 9}
    at = {name: g.simulate_hedge(position=g.Position(vol=0.2, hedge_vol=hv), **kw).pnl
          for name, hv in (("true", 0.35), ("implied", None), ("ewma", "realized"),
                           ("window", g.HedgeVol("window", 30)))}
    for est in ("ewma", "window"):
        near = np.abs(at[est] - at["true"]).mean()
        assert near < 0.5 * np.abs(at["implied"] - at["true"]).mean(), est
    # a warm-up past the horizon is the implied vol throughout
    late = g.simulate_hedge(position=g.Position(vol=0.2, hedge_vol=g.HedgeVol(warmup=300)), **kw)
    assert_allclose(late.pnl, at["implied"], rtol=0, atol=1e-9)


def test_realized_hedge_vol_on_a_flat_path_is_the_floor():
    flat = np.full((1, 30), 100.0)
    flat[0, 10] = 100.5  # one move, then flat: the estimate decays to the floor
    for hv in (g.HedgeVol("window", 5, floor=0.07), g.HedgeVol("ewma", 2, floor=0.07)):
        got = g.simulate_hedge(flat, position=g.Position(hedge_vol=hv), rule=g.EveryK(1))
        ref = R.simulate_hedge(flat, position=g.Position(hedge_vol=hv), rule=g.EveryK(1))
        assert np.isfinite(got.pnl).all()
        assert_allclose(got.pnl, ref["pnl"], rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------------
# Determinism, chunking, traces


def test_identical_across_threads_and_chunks():
    kw = {
        "n_steps": 60,
        "rule": g.TrendBand(0.1) | g.MaxInterval(10),
        "costs": COSTS,
        "seed": 17,
        "noise": g.Noise("iid", 0.001),
    }
    full = g.simulate_hedge(n_paths=300, threads=2, trace=[5, 250], **kw)
    one = g.simulate_hedge(n_paths=300, threads=1, **kw)
    parts = [
        g.simulate_hedge(n_paths=b - a, first_path=a, threads=t, **kw)
        for a, b, t in ((0, 70, 1), (70, 71, 2), (71, 300, 2))
    ]
    merged = g.HedgeResult.concat(parts[::-1])
    for name in HEDGE_FIELDS:
        assert_array_equal(one[name], full[name], err_msg=name)
        assert_array_equal(merged[name], full[name], err_msg=name)
    assert merged.summary() == full.summary()
    # a trace does not change the results and matches the per-path totals
    assert full.trace[250]["pnl"][-1] == full.pnl[250]
    assert full.trace[5]["costs"][-1] == full.costs[5]
    with pytest.raises(ValueError, match="contiguous"):
        g.HedgeResult.concat([parts[0], parts[2]])


def test_simulate_rules_equals_separate_runs():
    """One pass over several rules gives exactly the separate runs (shared paths and Greeks)."""
    rules = {
        "every": g.EveryK(1),
        "move": g.Move(0.01),
        "trend": g.TrendBand(0.1, 5) | g.MaxInterval(9),
        "ww_gated": g.VolGate(g.WhalleyWilmott(0.002, 0.5), 0.9, 3.0, 5),
        "atr": g.AtrMove(0.5, 4),
    }
    kw = {
        "n_paths": 150,
        "n_steps": 40,
        "seed": 6,
        "costs": COSTS,
        "position": POS,
        "trace": [3],
        "noise": g.Noise("iid", 0.001),
    }
    together = g.simulate_rules(rules=rules, **kw)
    assert list(together) == list(rules)
    for name, rule in rules.items():
        alone = g.simulate_hedge(rule=rule, **kw)
        for f in HEDGE_FIELDS:
            assert_array_equal(together[name][f], alone[f], err_msg=f"{name}.{f}")
        for f in g.hedging.TRACE_FIELDS:
            assert_array_equal(together[name].trace[3][f], alone.trace[3][f], err_msg=f)
    as_list = g.simulate_rules(rules=list(rules.values()), **kw)
    assert_array_equal(as_list[1].pnl, together["move"].pnl)
    with pytest.raises(ValueError, match="empty"):
        g.simulate_rules(rules=[])


def test_common_random_numbers_across_rules():
    a = g.simulate_hedge(n_paths=50, n_steps=30, rule=g.EveryK(1), seed=2)
    b = g.simulate_hedge(n_paths=50, n_steps=30, rule=g.DeltaBand(0.3), seed=2)
    assert_array_equal(a.final_spot, b.final_spot)
    assert_array_equal(a.realized_vol, b.realized_vol)


def test_trace_fields():
    r = g.simulate_hedge(n_paths=3, n_steps=20, rule=g.DeltaBand(0.2), trace=[1])
    tr = r.trace[1]
    assert set(tr) == set(g.hedging.TRACE_FIELDS)
    assert tr["spot"].shape == (21,)
    assert tr["shares"][-1] == 0.0  # unwound at the horizon
    assert_allclose(np.cumsum(tr["trade"]), tr["shares"], atol=1e-12)
    assert tr["pnl"][-1] == r.pnl[1]


# --------------------------------------------------------------------------------------------
# Legitimate corner cases


def test_rule_that_never_triggers():
    r = g.simulate_hedge(n_paths=20, n_steps=30, rule=g.Move(0.9), costs=COSTS)
    assert (r.rebalances == 0).all()
    n = g.simulate_hedge(n_paths=20, n_steps=30, rule=g.Never(), costs=COSTS)
    assert_array_equal(r.pnl, n.pnl)


def test_one_step_path():
    r = g.simulate_hedge(n_paths=10, n_steps=1, costs=COSTS)
    assert np.isfinite(r.pnl).all() and (r.rebalances == 0).all()
    u = g.simulate_hedge(np.array([[100.0, 101.0]]), dt=1 / 252)
    want = R.simulate_hedge(np.array([[100.0, 101.0]]), dt=1 / 252)
    assert_allclose(u.pnl, want["pnl"], rtol=1e-12)


def test_options_expiring_inside_the_path():
    legs = (g.Leg("call", expiry=0.1), g.Leg("put", expiry=0.1))
    r = g.simulate_hedge(n_paths=5, n_steps=50, dt=0.004, position=g.Position(legs), trace=[0])
    tr = r.trace[0]
    expired = tr["time"] >= 0.1 - 1e-9
    assert expired.any() and (tr["option_value"][expired] == 0).all()
    assert (tr["option_delta"][expired] == 0).all()
    assert np.isfinite(r.pnl).all()


def test_btc_closes_as_a_path():
    import csv

    path = data_file("btc_usdt_1h.csv")
    with open(path) as f:
        closes = np.array([float(row["close"]) for row in csv.DictReader(f)])[: 24 * 30]
    hour = 1 / (365 * 24)
    r = g.simulate_hedge(
        closes,
        dt=hour,
        position=g.Position(vol=0.5),
        rule=g.DeltaBand(0.05, units="fraction"),
        costs=g.Costs(bps=5),
    )
    want = R.simulate_hedge(
        closes,
        dt=hour,
        position=g.Position(vol=0.5),
        rule=g.DeltaBand(0.05, units="fraction"),
        costs=g.Costs(bps=5),
    )
    assert_allclose(r.pnl, want["pnl"], rtol=1e-10)
    assert r.rebalances[0] > 0 and 0.1 < r.realized_vol[0] < 2.0


def test_empty_run_and_pickling():
    import pickle

    empty = g.simulate_hedge(n_paths=0, n_steps=5)
    assert len(empty) == 0 and math.isnan(empty.summary()["pnl_mean"])
    r = g.simulate_hedge(n_paths=10, n_steps=5, trace=[1], rule=g.VolGate(g.DeltaBand(0.1)))
    back = pickle.loads(pickle.dumps(r))  # results and rules travel to workers (Dask)
    assert_array_equal(back.pnl, r.pnl)
    assert back.trace[1]["pnl"][-1] == r.pnl[1]
    rule = g.VolGate(g.DeltaBand(0.1) | g.MaxInterval(5))
    assert pickle.loads(pickle.dumps(rule)) == rule


def test_summary_and_dataframe():
    r = g.simulate_hedge(n_paths=400, n_steps=20, costs=COSTS, seed=1)
    s = r.summary()
    assert s["pnl_ci_low"] < s["pnl_mean"] < s["pnl_ci_high"]
    assert s["pnl_cvar05"] <= s["pnl_q05"] <= s["pnl_q50"]
    assert s["sharpe"] == pytest.approx(s["pnl_mean"] / s["pnl_std"])
    # CVaR 5%: the mean of the worst 20 of 400 paths
    assert s["pnl_cvar05"] == pytest.approx(np.sort(r.pnl)[:20].mean(), rel=1e-12)
    pytest.importorskip("pandas")  # optional extra
    df = r.to_dataframe()
    assert list(df.columns) == list(HEDGE_FIELDS) and len(df) == 400


# --------------------------------------------------------------------------------------------
# Bad input

BAD = [
    ({"paths": np.array([[100.0, np.nan, 101.0]])}, "paths must be finite and > 0"),
    ({"paths": np.array([[100.0, -1.0, 101.0]])}, "paths must be finite"),
    ({"paths": np.ones((2, 3, 4))}, "2-D"),
    ({"paths": np.array([100.0])}, "2-D"),
    ({"paths": np.ones((2, 5)), "times": [0, 1, 2]}, "times has 3 values"),
    ({"times": [0.0, 0.1, 0.1]}, "strictly increasing"),
    ({"dt": -1.0}, "dt must be > 0"),
    ({"n_paths": -1}, "n_paths must be >= 0"),
    ({"seed": -1}, "seed"),
    ({"trace": [10**6]}, "trace path"),
    ({"rule": "every"}, "rule must be a Rule"),
    ({"position": g.Position((g.Leg(expiry=1e-12),))}, "not after the first time step"),
]


@pytest.mark.parametrize("kwargs,match", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_input(kwargs, match):
    kwargs = dict(kwargs)
    paths = kwargs.pop("paths", None)
    with pytest.raises((ValueError, TypeError), match=match):
        g.simulate_hedge(paths, n_paths=kwargs.pop("n_paths", 5), n_steps=10, **kwargs)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: g.Costs(bps=-1), "costs.bps must be >= 0"),
        (lambda: g.Costs(fixed=math.nan), "costs.fixed must be finite"),
        (lambda: g.Position(legs=()), "no legs"),
        (lambda: g.Position(vol=0), "vol must be > 0"),
        (lambda: g.Leg("straddle"), "call"),
        (lambda: g.Leg(expiry=-1.0), "expiry must be > 0"),
        (lambda: g.Move(0), r"threshold is a relative move in \(0, 1\)"),
        (lambda: g.Move(1), r"threshold is a relative move in \(0, 1\)"),
        (lambda: g.EveryK(0), "k must be >= 1"),
        (lambda: g.DeltaBand(0.1) | g.TrendBand(0.1), None),
        (lambda: g.DeltaBand(0.1, units="percent"), "units"),
        (lambda: g.AnyOf(g.VolGate(g.Move(0.01)), g.EveryK(2)), "VolGate must wrap"),
        (lambda: g.Heston(rho=2.0), "rho"),
        (lambda: g.Noise("bounce", 1.5), "< 1"),
        (lambda: g.Bootstrap(), "exactly one"),
        (lambda: g.simulate_hedge(g.Merton(intensity=5e6), n_paths=2), "intensity x dt"),
    ],
    ids=lambda x: "" if callable(x) else str(x),
)
def test_bad_objects(make, match):
    if match is None:  # two bands: rejected when the rule is compiled
        with pytest.raises(ValueError, match="at most one band"):
            g.simulate_hedge(rule=make(), n_paths=2, n_steps=3)
        return
    with pytest.raises((ValueError, TypeError), match=match):
        make()


class _Typo(g.hedging.Rule):
    """A rule whose _params misspells a parameter name (ww_cost)."""

    def _params(self, p, units):
        p["ww_cots"] = 0.001


class _TypoUpdate(g.hedging.Rule):
    def _params(self, p, units):
        p.update(every=1.0, atr_lenght=5.0)


@pytest.mark.parametrize("rule,name", [(_Typo(), "ww_cots"), (_TypoUpdate(), "atr_lenght")])
def test_unknown_parameter_name_raises_at_once(rule, name):
    # Before, the stray key was added silently and both engines read 0.0 for ww_cost.
    for run in (g.simulate_hedge, lambda **kw: g.simulate_rules(rules=[g.EveryK(1), kw["rule"]])):
        with pytest.raises(KeyError, match=f"unknown hedging engine parameter '{name}'"):
            run(rule=rule)
    p = g.hedging.build_params(
        g.GBM(), g.Position(), g.Move(0.01), g.Costs(), g.Accounting(), None, 100.0
    )
    assert list(p) == list(g.hedging.PARAM_NAMES)


def test_enum_names_from_the_core():
    """Python takes the engine's enum numbers and array columns from the C++ lists by name."""
    h = g.hedging
    for table, names in (
        (h._PATH_KIND, _core._path_kind_names()),
        (h._NOISE_KIND, _core._noise_kind_names()),
        (h._BAND_KIND, _core._band_kind_names()),
        (h.STREAMS, _core._stream_names()),
        (h._HEDGE_VOL_KIND, _core._hedge_vol_kind_names()),
        (g.generators._SIGNAL_KIND, _core._signal_kind_names()),
    ):
        assert list(table) == names and list(table.values()) == list(range(len(names)))
    assert g.GREEKS == tuple(_core._greek_names()) == tuple(g.greeks(100, 100, 1, 0.2).to_dict())
    with pytest.raises(ImportError, match="differ"):
        h._enum("path kind", ["gbm", "kou"], {"gbm"})
    # Every generator sets its own kind; user paths are the remaining one.
    kinds = set()
    for gen in (
        g.GBM(),
        g.Heston(),
        g.Merton(),
        g.Oscillation(),
        g.Trend(),
        g.Bootstrap(returns=[0.01]),
        g.SignalGBM(),
    ):
        p = h._Params()
        gen._params(p)
        kinds.add(int(p["path_kind"]))
    assert kinds | {h._PATH_KIND["user"]} == set(h._PATH_KIND.values())


def test_inputs_not_modified():
    paths = USER.copy()
    times = np.cumsum(np.ones(41)) / 252
    t0 = times.copy()
    g.simulate_hedge(paths, times=times, rule=g.Move(0.01))
    assert_array_equal(paths, USER)
    assert_array_equal(times, t0)


# --------------------------------------------------------------------------------------------
# Property: any rule/cost/accounting combination agrees with the reference

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies


@st.composite
def _runs(draw):
    rules = [
        g.EveryK(draw(st.integers(1, 5))),
        g.Move(draw(st.floats(0.001, 0.05))),
        g.DeltaBand(draw(st.floats(0.01, 0.5)), to=draw(st.sampled_from(["zero", "edge"]))),
        g.WhalleyWilmott(draw(st.floats(1e-4, 1e-2)), draw(st.floats(0.01, 10.0))),
        g.AtrMove(draw(st.floats(0.1, 3.0)), draw(st.integers(1, 10))),
        g.TrendBand(draw(st.floats(0.01, 0.5)), draw(st.integers(1, 8)), draw(st.floats(0, 5))),
    ]
    rule = draw(st.sampled_from(rules))
    if draw(st.booleans()):
        rule = rule | g.MaxInterval(draw(st.integers(1, 10)))
    if draw(st.booleans()):
        rule = g.VolGate(rule, draw(st.floats(0.0, 1.5)), math.inf, draw(st.integers(1, 10)))
    costs = g.Costs(
        bps=draw(st.floats(0, 20)),
        half_spread=draw(st.floats(0, 0.05)),
        fixed=draw(st.floats(0, 0.1)),
        option_half_spread=draw(st.floats(0, 0.2)),
    )
    acc = g.Accounting(*(draw(st.booleans()) for _ in range(5)))
    pos = g.Position(
        straddle(
            draw(st.floats(-2, 2).filter(lambda x: abs(x) > 0.1)),
            moneyness=draw(st.floats(0.8, 1.2)),
            expiry=draw(st.sampled_from([None, 0.05, 0.5])),
        ),
        vol=draw(st.floats(0.05, 0.8)),
        rate=draw(st.floats(-0.02, 0.1)),
        div=draw(st.floats(0, 0.05)),
    )
    noise = draw(st.sampled_from([None, g.Noise("iid", 0.001), g.Noise("bounce", 0.002)]))
    return {"rule": rule, "costs": costs, "accounting": acc, "position": pos, "noise": noise}


@hypothesis.settings(max_examples=25, deadline=None, derandomize=True)
@hypothesis.given(run=_runs(), seed=st.integers(0, 2**64 - 1))
def test_property_engine_matches_reference(run, seed):
    kw = dict(n_paths=16, n_steps=25, dt=1 / 100, seed=seed, **run)
    got = g.simulate_hedge(**kw)
    want = R.simulate_hedge(**kw)
    for name in HEDGE_FIELDS:
        scale = max(1.0, float(np.max(np.abs(want[name]))))
        assert_allclose(got[name], want[name], rtol=0, atol=1e-10 * scale, err_msg=name)


# --- new-user errors: the argument at fault is named, with its range -------------------------


def test_random_draws_checks_the_path_range():
    with pytest.raises(ValueError, match=r"first_path \+ n_paths must be < 2\*\*63"):
        random_draws(0, "price", 2, 1, first_path=2**63 - 1)
    assert random_draws(0, "price", 1, 1, first_path=2**63 - 2).shape == (1, 1)


@pytest.mark.parametrize(
    ("stream", "match"),
    [
        (99, r"stream must be in \[0, 10\), got 99; the streams are 'price' \(0\)"),
        (-1, r"stream must be in \[0, 10\), got -1; the streams are 'price' \(0\)"),
        ("prices", r"stream 'prices' is unknown; the streams are 'price' \(0\).*'atm_vol' \(9\)"),
    ],
)
def test_random_draws_rejects_unknown_streams(stream, match):
    with pytest.raises(ValueError, match=match):
        random_draws(0, stream, 1, 1)


@pytest.mark.parametrize("seed", [-1, 2**64])
def test_random_draws_checks_the_seed(seed):
    with pytest.raises(ValueError, match=r"seed must be in \[0, 2\*\*64\), got "):
        random_draws(seed, "price", 1, 1)
    assert random_draws(2**64 - 1, "price", 1, 1).shape == (1, 1)


@pytest.mark.parametrize(("seed", "exc"), [(1.5, TypeError), (-1, ValueError), (True, TypeError)])
def test_simulate_hedge_names_a_bad_seed(seed, exc):
    with pytest.raises(exc, match=r"seed must be .*in \[0, 2\*\*64\)"):
        g.simulate_hedge(n_paths=2, n_steps=2, seed=seed)
    with pytest.raises(exc, match=r"seed must be .*in \[0, 2\*\*64\)"):
        random_draws(seed, "price", 1, 1)


def test_hedge_result_n_paths_matches_the_repr():
    res = g.simulate_hedge(n_paths=7, n_steps=3, first_path=5)
    assert res.n_paths == len(res) == 7
    assert f"n_paths={res.n_paths}, first_path=5" in repr(res)
    assert g.HedgeResult.concat([res]).n_paths == 7


def test_user_paths_refuse_a_disagreeing_n_paths_or_n_steps():
    closes = 100.0 * np.exp(np.cumsum(np.full(101, 0.001)))  # one series: 1 path, 100 steps
    with pytest.raises(ValueError, match=r"n_paths is 50 but the array of paths .* has 1 paths"):
        g.simulate_hedge(closes, n_paths=50)
    with pytest.raises(ValueError, match=r"n_steps is 50 but the array of paths .* has 100 steps"):
        g.simulate_hedge(closes, n_steps=50)
    with pytest.raises(ValueError, match="n_paths is 3"):
        g.simulate_rules(np.vstack([closes, closes]), [g.EveryK(1)], n_paths=3)
    # agreeing (or left out) is fine
    a = g.simulate_hedge(closes, n_paths=1, n_steps=100)
    assert_array_equal(a.pnl, g.simulate_hedge(closes).pnl)
