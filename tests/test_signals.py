"""The seed's dynamic bands: signals from the user and from the signal generator, what the
generator's law is, bad input, and a real series' volume profile."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import data_file
from numpy.testing import assert_allclose, assert_array_equal

import gammaext as g
from gammaext import lab, reference as R
from gammaext.hedging import prepare
from gammaext.signals import order_book_imbalance, volume_profile

KW = {"n_paths": 300, "n_steps": 60, "seed": 4}


def test_imbalance_generator_has_exactly_the_gbm_prices():
    """In imbalance mode the price shock is the GBM's own draw: the same paths, bit for bit,
    whatever rho (the signal only adds information about them)."""
    gbm = g.simulate_hedge(g.GBM(vol=0.3), **KW)
    for rho in (0.0, 0.7, 1.0):
        sig = g.simulate_hedge(g.SignalGBM(vol=0.3, signal="imbalance", rho=rho), **KW)
        assert_array_equal(sig.final_spot, gbm.final_spot)
        assert_array_equal(sig.pnl, gbm.pnl)  # a rule that ignores the signal: the same P&L


def signals_and_shocks(signal, rho, n_paths=20000, n_steps=40):
    prep = prepare(g.SignalGBM(signal=signal, rho=rho), n_paths=n_paths, n_steps=n_steps, seed=8)
    S, _ = R.generate_paths(prep)
    z = np.diff(np.log(S), axis=1) / (0.2 * math.sqrt(1 / 252)) + 0.5 * 0.2 * math.sqrt(1 / 252)
    return R.generate_signals(prep), z


@pytest.mark.parametrize("signal", ["imbalance", "profile"])
def test_signals_inform_the_next_move_and_leave_the_price_a_gbm(signal):
    sig, z = signals_and_shocks(signal, 0.6)
    # unconditionally the shocks are N(0, 1) and uncorrelated (5000-sigma bounds are loose:
    # 800,000 shocks; standard errors about 0.0011)
    assert abs(z.mean()) < 0.006 and abs(z.var() - 1) < 0.01
    assert abs(np.mean(np.sign(z[:, 1:]) * np.sign(z[:, :-1]))) < 0.006
    V, I = sig["profile"][:, :-1], sig["imbalance"][:, :-1]
    assert 0 <= V.min() and V.max() <= 1 and -1 <= I.min() and I.max() <= 1
    if signal == "imbalance":  # the imbalance predicts the sign of the next move
        assert np.mean(np.sign(I) == np.sign(z)) > 0.65
        assert abs(np.mean(np.sign(V[:, 1:] - 0.5) * np.sign(z[:, 1:]))) < 0.006
    else:  # low volume: continuation, high volume: reversal, P = 1/2 + rho (1/2 - V)
        same = np.sign(z[:, 1:]) == np.sign(z[:, :-1])
        thin, busy = V[:, 1:] < 0.25, V[:, 1:] > 0.75
        assert same[thin].mean() == pytest.approx(0.5 + 0.6 * 0.375, abs=0.01)
        assert same[busy].mean() == pytest.approx(0.5 - 0.6 * 0.375, abs=0.01)
        assert abs(np.mean(np.sign(I) == np.sign(z)) - 0.5) < 0.006


@pytest.mark.parametrize("signal", ["imbalance", "profile"])
def test_pure_noise_signal_is_independent_of_the_prices(signal):
    sig, z = signals_and_shocks(signal, 0.0)
    for name in ("profile", "imbalance"):
        x = sig[name][:, :-1]
        corr = np.corrcoef((x - x.mean()).ravel(), z.ravel())[0, 1]
        assert abs(corr) < 0.006, name
    same = np.sign(z[:, 1:]) == np.sign(z[:, :-1])
    assert abs(same[sig["profile"][:, 1:-1] < 0.25].mean() - 0.5) < 0.01


def test_signal_runs_are_the_same_at_any_thread_count_and_chunking():
    rules = {"p": g.ProfileBand(0.1, 0.8), "i": g.ImbalanceBand(0.1, 0.8, to="edge")}
    gen = g.SignalGBM(signal="profile", rho=0.4)
    one = g.simulate_rules(gen, rules, n_paths=200, n_steps=30, seed=2, threads=1)
    two = g.simulate_rules(gen, rules, n_paths=200, n_steps=30, seed=2, threads=2)
    tail = g.simulate_rules(gen, rules, n_paths=77, n_steps=30, seed=2, first_path=123)
    for k in rules:
        assert_array_equal(one[k].pnl, two[k].pnl)
        assert_array_equal(one[k].pnl[123:], tail[k].pnl)


def test_user_signals_shared_or_per_path_give_the_same_run():
    rng = np.random.default_rng(3)
    paths = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, (5, 31)), axis=1))
    v = rng.uniform(size=31)
    kw = {"rule": g.ProfileBand(0.1, 0.9)}
    shared = g.simulate_hedge(paths, signals={"profile": v}, **kw)
    rows = g.simulate_hedge(paths, signals={"profile": np.tile(v, (5, 1))}, **kw)
    assert_array_equal(shared.pnl, rows.pnl)
    # a signal that changes the band changes the run; the inputs are not modified
    other = g.simulate_hedge(paths, signals={"profile": 1 - v}, **kw)
    assert not np.array_equal(shared.rebalances, other.rebalances)
    before = v.copy()
    g.simulate_hedge(paths, signals={"profile": v}, **kw)
    assert_array_equal(v, before)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda p: g.simulate_hedge(p, rule=g.ProfileBand(), signals={"profile": np.ones(30)}),
         r"signals\['profile'\] must have shape \(31,\)"),
        (lambda p: g.simulate_hedge(p, rule=g.ProfileBand(),
                                    signals={"profile": np.ones((3, 31))}),
         r"signals\['profile'\] must have shape"),
        (lambda p: g.simulate_hedge(p, rule=g.ProfileBand(), signals={"profile": np.full(31, 2)}),
         r"signals\['profile'\] must be finite and in \[0, 1\]"),
        (lambda p: g.simulate_hedge(p, rule=g.ImbalanceBand(),
                                    signals={"imbalance": np.full(31, np.nan)}),
         r"signals\['imbalance'\] must be finite"),
        (lambda p: g.simulate_hedge(p, signals={"volume": np.ones(31)}), "unknown name"),
        (lambda p: g.simulate_hedge(p, rule=g.ProfileBand()), "needs a 'profile' signal"),
        (lambda p: g.simulate_rules(p, [g.EveryK(1), g.ImbalanceBand()],
                                    signals={"profile": np.ones(31)}),
         "needs a 'imbalance' signal"),
        (lambda p: g.simulate_hedge(g.SignalGBM(), n_paths=2, n_steps=30,
                                    signals={"profile": np.ones(31)}), "SignalGBM"),
        (lambda p: g.simulate_hedge(p, rule=g.ProfileBand(), signals={
            "profile": np.ones((5, 31)), "imbalance": np.zeros(31)}), "all arrays"),
        (lambda p: g.ProfileBand(strength=1.0), "ProfileBand strength"),
        (lambda p: g.ImbalanceBand(width=0), "ImbalanceBand width"),
        (lambda p: g.SignalGBM(rho=1.5), "SignalGBM rho"),
        (lambda p: g.SignalGBM(signal="volume"), "SignalGBM signal"),
        (lambda p: volume_profile([1.0, 2.0], [1.0]), "volume must have the shape"),
        (lambda p: volume_profile([1.0, 2.0], [1.0, -1.0]), "volume must be finite"),
        (lambda p: volume_profile([1.0, 2.0], [1.0, 1.0], window=0), "window"),
        (lambda p: order_book_imbalance([1.0], [1.0, 2.0]), "ask_size"),
    ],
)
def test_bad_signals_raise_naming_the_argument(call, match):
    paths = np.full((5, 31), 100.0) * np.linspace(1, 1.1, 31)
    with pytest.raises(ValueError, match=match):
        call(paths)


def test_volume_profile_by_hand():
    close = [10.0, 10.0, 20.0, 20.0, 15.0]
    volume = [1.0, 3.0, 2.0, 0.0, 1.0]
    # bar 0: one price -> 1; bar 2: levels 10 (4) and 20 (2): 2/4; bar 3: the same; bar 4 with
    # bins=2: 15 is in the upper level with 20 (2 + 0 + 1 = 3) against 4
    got = volume_profile(close, volume, window=10, bins=2)
    assert_allclose(got, [1.0, 1.0, 0.5, 0.5, 0.75])
    # a 2-bar window forgets: bar 4 sees 20 (0) and 15 (1): levels [15, 17.5) and [17.5, 20]
    assert volume_profile(close, volume, window=2, bins=2)[4] == 1.0
    assert_allclose(order_book_imbalance([3.0, 0.0, 1.0], [1.0, 0.0, 3.0]), [0.5, 0.0, -0.5])


def test_volume_profile_band_on_btc_hourly():
    """The seed's volume profile from real bars: BTC/USDT hourly closes and volumes, 30-day
    windows as user paths, the profile of the trailing week as their signal."""
    bars = g.load_csv(data_file("btc_usdt_1h.csv"))
    V = volume_profile(bars.close, bars.volume, window=168, bins=24)
    assert V.shape == bars.close.shape and 0 <= V.min() and V.max() == 1.0
    n = 720
    m = (bars.close.size - 1) // n
    paths = np.stack([bars.close[i * n : (i + 1) * n + 1] for i in range(m)])
    sig = np.stack([V[i * n : (i + 1) * n + 1] for i in range(m)])
    rules = {"band": g.DeltaBand(0.05, units="fraction"),
             "profile": g.ProfileBand(0.05, 0.6, units="fraction")}
    res = g.simulate_rules(paths, rules, position=g.Position(vol=0.5), dt=1 / (365 * 24),
                           signals={"profile": sig}, costs=g.Costs(half_spread_bps=0.75))
    assert all(np.isfinite(r.pnl).all() for r in res.values())
    assert not np.array_equal(res["band"].rebalances, res["profile"].rebalances)


def test_signal_study_finds_the_edge_only_when_the_signal_informs():
    table = lab.signal_study(n_paths=3000, settings={"rhos": (0.0, 0.4), "n_steps": 60})
    rows = lab.table_rows(table)
    for r in rows:
        if r["rule"] == "band":
            continue
        z = r["diff_mean"] / r["diff_stderr"]
        if r["rho"] == 0.0 or not str(r["rule"]).startswith(r["signal"]):
            assert abs(z) < 4, (r["scenario"], r["rule"], z)  # pure noise: no edge
        else:
            assert z > 8, (r["scenario"], r["rule"], z)  # informative: a large one
    lines = lab.signal_study_summary(table)
    assert len(lines) == 2 and all("no edge" in line for line in lines)
