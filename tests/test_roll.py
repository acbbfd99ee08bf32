"""The roll rule of a book (issue #14, item 5): a group's legs that expire, or whose call delta
per unit leaves a range, are sold at their mark and bought again at the money (``Roll``).

The NumPy reference (gammaext.reference.hedging) is matched to 1e-9 on every configuration;
when rolls happen and what they cost are checked against hand computations on deterministic
paths; statistical tests use fixed seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gammaext as g
from gammaext.hedging import HEDGE_FIELDS, PNL_PARTS
from gammaext.reference import hedging as ref
from gammaext.reference.black_scholes import norm_cdf, norm_pdf

SVI2 = g.VolSurface.svi(
    [0.25, 1.0],
    [g.SVI(0.01, 0.1, -0.5, 0.0, 0.1), g.SVI(0.03, 0.12, -0.4, 0.05, 0.2)],
)
GRID = g.VolSurface.grid([-0.3, 0.0, 0.3], [0.1, 1.0], [[0.3, 0.2, 0.22], [0.28, 0.21, 0.2]])
ATM = g.StochasticAtmVol(0.2, 0.25, 2.0, 1.0, -0.7)
BAND = g.Roll(0.15, delta=(0.3, 0.7), half_spread_vol=0.01)
LEGS = (
    g.Leg("call", expiry=0.1, quantity=2.0),
    g.Leg("put", moneyness=0.98, expiry=0.3, quantity=-1.0),
)

#: A strangle (0.1 years), a short call of a third strike and a later expiry: three groups.
BOOK = (
    g.Leg("put", moneyness=0.95, expiry=0.1),
    g.Leg("call", moneyness=1.05, expiry=0.1),
    g.Leg("call", expiry=0.15, quantity=-0.5),
)
#: A call spread: long the 100 call, short the 110 (0.07 years, rolled about three times).
SPREAD = (g.Leg("call", expiry=0.07), g.Leg("call", strike=110.0, expiry=0.07, quantity=-1.0))

CASES = {
    "tenor_flat": dict(position=g.Position(legs=g.straddle(expiry=0.05), roll=g.Roll(0.05))),
    "band_flat_carry": dict(
        position=g.Position(legs=LEGS, rate=0.03, div=0.01, roll=g.Roll(0.2, 1.05, (0.2, 0.8)))
    ),
    "band_only": dict(
        position=g.Position(legs=LEGS, roll=g.Roll(0.1, delta=(0.35, 0.65), on_expiry=False))
    ),
    "svi_strike": dict(position=g.Position(legs=LEGS, vol=SVI2, roll=BAND)),
    "svi_moneyness_atm": dict(
        position=g.Position(legs=LEGS, vol=SVI2, sticky="moneyness", atm=ATM, roll=BAND)
    ),
    "grid_atm_series": dict(
        position=g.Position(legs=LEGS, vol=GRID, atm=np.linspace(0.2, 0.3, 61), roll=BAND)
    ),
    "heston": dict(
        paths=g.Heston(v0=0.04, kappa=2.0, theta=0.05, xi=0.6, rho=-0.7),
        position=g.Position(legs=LEGS, atm="heston", roll=BAND),
    ),
    "heston_smile_moneyness": dict(
        paths=g.Heston(v0=0.04, kappa=2.0, theta=0.05, xi=0.6, rho=-0.7),
        position=g.Position(legs=LEGS, vol=SVI2, sticky="moneyness", atm="heston", roll=BAND),
    ),
    "noise_realized": dict(
        position=g.Position(legs=LEGS, vol=SVI2, hedge_vol="realized", roll=BAND),
        noise=g.Noise("iid", 0.001),
    ),
    "fixed_hedge_vol_ww": dict(
        position=g.Position(legs=LEGS, hedge_vol=0.25, roll=BAND),
        rule=g.WhalleyWilmott(0.001, 1.0),
    ),
    "marks_ww_option_spread": dict(
        position=g.Position(legs=LEGS, vol=SVI2, roll=BAND),
        rule=g.WhalleyWilmott(0.001, 1.0),
        costs=g.Costs(bps=2, option_half_spread=0.05),
    ),
    "latency": dict(
        position=g.Position(legs=LEGS, roll=BAND),
        rule=g.Move(0.005),
        execution=g.Execution(latency=2),
    ),
    # several strikes and expiries, each group rolled into its own moneyness and tenor
    "strangle_calendar_band": dict(
        position=g.Position(legs=BOOK, vol=SVI2, rate=0.02, div=0.01, roll=g.Roll(
            delta=(0.15, 0.85), half_spread_vol=0.01)),
        noise=g.Noise("iid", 0.001),
    ),
    "call_spread_expiry": dict(position=g.Position(legs=SPREAD, roll=g.Roll())),
    # the vol gate reads the first leg's current mark vol: the rolled-in leg's after a roll
    "vol_gate_atm": dict(
        position=g.Position(legs=g.straddle(expiry=0.05), atm=ATM, roll=g.Roll(0.05)),
        rule=g.VolGate(g.EveryK(1), 1.0, 1.3, 5),
    ),
}
# every tenor and leg expiry above is off the 1/252 grid: both engines snap them to the next
# grid time (docs/hedging.md, "Expiry")
COMMON = dict(n_paths=130, n_steps=60, dt=1 / 252, seed=7)


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
def test_engine_matches_reference(name):
    kw = {"rule": g.DeltaBand(0.1), "costs": g.Costs(bps=2, fixed=0.01), **CASES[name]}
    eng = g.simulate_hedge(**kw, **COMMON)
    want = ref.simulate_hedge(**kw, **COMMON)
    for f in HEDGE_FIELDS:
        np.testing.assert_allclose(eng.data[f], want[f], rtol=1e-9, atol=1e-9, err_msg=f)
    np.testing.assert_allclose(sum(eng.data[f] for f in PNL_PARTS), eng.pnl, atol=1e-9)
    assert eng.rolls.min() >= 1  # every case rolls on every path


def test_bit_identical_across_threads_chunks_and_rules():
    pos = g.Position(legs=LEGS, vol=SVI2, sticky="moneyness", atm=ATM, roll=BAND)
    kw = dict(position=pos, rule=g.DeltaBand(0.1), n_steps=40, seed=5)
    one = g.simulate_hedge(**kw, n_paths=200, threads=1)
    two = g.simulate_hedge(**kw, n_paths=200, threads=2)
    cat = g.HedgeResult.concat(
        [g.simulate_hedge(**kw, first_path=a, n_paths=b - a) for a, b in ((0, 65), (65, 200))]
    )
    both = g.simulate_rules(
        rules={"band": g.DeltaBand(0.1), "clock": g.EveryK(1)},
        **{k: v for k, v in kw.items() if k != "rule"},
        n_paths=200,
    )
    for f in HEDGE_FIELDS:
        np.testing.assert_array_equal(one.data[f], two.data[f], err_msg=f)
        np.testing.assert_array_equal(one.data[f], cat.data[f], err_msg=f)
        np.testing.assert_array_equal(one.data[f], both["band"].data[f], err_msg=f)
    assert one.rolls.max() > 1


def test_a_monthly_straddle_rolls_at_each_expiry_inside_the_horizon():
    # 1-month straddle on a 252-day year: expiries at steps 21, 42, ..., 231 roll (11 rolls);
    # the last one expires at the horizon and settles
    pos = g.Position(legs=g.straddle(expiry=1 / 12), roll=g.Roll(1 / 12))
    r = g.simulate_hedge(position=pos, n_paths=64, n_steps=252, dt=1 / 252, seed=1, trace=[0])
    np.testing.assert_array_equal(r.rolls, 11.0)
    value = r.trace[0]["option_value"]
    # just after a roll the book is a fresh ATM straddle: its value is about 0.8 S vol sqrt(T)
    atm = 0.8 * r.trace[0]["spot"] * 0.2 * math.sqrt(1 / 12)
    for k in range(21, 252, 21):
        assert abs(value[k] / atm[k] - 1) < 0.05, k
    assert value[-1] == 0.0  # settled at the horizon


def _call_delta(s, strike, tau, vol):
    d1 = (np.log(s / strike) + 0.5 * vol**2 * tau) / (vol * np.sqrt(tau))
    return norm_cdf(d1)


def test_a_rising_path_rolls_when_the_call_delta_leaves_the_range():
    # a deterministic path up 0.4% a step, flat 3 steps after the ATM call's delta has crossed
    # 0.75: the call is then sold and a new ATM call bought (delta back near 0.5, below 0.75
    # until the horizon)
    n, dt, vol, tenor = 60, 1 / 252, 0.2, 0.25
    t = np.arange(n + 1) * dt
    ramp = 100.0 * np.exp(0.004 * np.arange(n + 1))
    old = _call_delta(ramp, 100.0, tenor - t, vol)
    first = int(np.argmax(old[1:] > 0.75)) + 1
    assert old[first - 1] <= 0.75 < old[first] and first < n - 10
    path = np.minimum(ramp, ramp[first + 3])
    old = _call_delta(path, 100.0, tenor - t, vol)
    roll = g.Roll(tenor, delta=(0.25, 0.75), on_expiry=False)
    pos = g.Position(legs=(g.Leg("call", expiry=tenor),), vol=vol, roll=roll)
    r = g.simulate_hedge(path, position=pos, times=t, trace=[0])
    k = np.arange(first, n + 1)
    new = _call_delta(path[k], path[first], tenor - (t[k] - t[first]), vol)
    assert new.max() < 0.75  # one roll
    assert r.rolls[0] == 1.0
    delta = r.trace[0]["option_delta"]
    np.testing.assert_allclose(delta[:first], old[:first], rtol=1e-12)
    np.testing.assert_allclose(delta[first:-1], new[:-1], rtol=1e-12)
    want = ref.simulate_hedge(path, position=pos, times=t)
    np.testing.assert_allclose(r.pnl, want["pnl"], rtol=1e-12)


def test_roll_costs_are_the_half_spread_times_vega():
    # rolls at expiry only: the sale costs nothing (no vega left), the purchase of the new ATM
    # straddle half_spread_vol x vega per unit x 2 units; a deterministic path, flat vol
    n, dt, vol, tenor, hs = 80, 1 / 252, 0.3, 10 / 252, 0.004
    t = np.arange(n + 1) * dt
    path = 100.0 * np.exp(0.01 * np.sin(np.arange(n + 1)))
    pos = g.Position(legs=g.straddle(expiry=tenor), vol=vol, roll=g.Roll(tenor, half_spread_vol=hs))
    r = g.simulate_hedge(path, position=pos, times=t, rule=g.EveryK(1))
    steps = np.arange(10, n, 10)
    d1 = 0.5 * vol * math.sqrt(tenor)
    want = -hs * 2 * (path[steps] * norm_pdf(d1) * math.sqrt(tenor)).sum()
    assert r.rolls[0] == steps.size
    np.testing.assert_allclose(r.costs[0], want, rtol=1e-12)
    free = g.simulate_hedge(path, position=g.Position(
        legs=pos.legs, vol=vol, roll=g.Roll(tenor)), times=t, rule=g.EveryK(1))
    np.testing.assert_allclose(r.pnl - free.pnl, want, rtol=1e-9)  # and nothing else moved


def test_a_roll_that_never_fires_is_the_book_without_it():
    legs = (g.Leg("call", expiry=1.0), g.Leg("put", moneyness=0.9, expiry=0.8, quantity=-1.0))
    kw = dict(rule=g.DeltaBand(0.1), n_paths=100, n_steps=50, seed=3)
    never = g.Roll(0.5, delta=(1e-6, 1 - 1e-6))
    for vol in (0.2, SVI2):
        plain = g.simulate_hedge(position=g.Position(legs=legs, vol=vol), **kw)
        held = g.simulate_hedge(position=g.Position(legs=legs, vol=vol, roll=never), **kw)
        assert held.rolls.max() == 0.0 and plain.rolls.max() == 0.0
        for f in HEDGE_FIELDS:
            np.testing.assert_allclose(held.data[f], plain.data[f], rtol=1e-10, atol=1e-10)


def test_bad_rolls_are_refused():
    for kw, err, match in (
        (dict(tenor=0.0), ValueError, "tenor"),
        (dict(tenor=-1.0), ValueError, "tenor"),
        (dict(tenor=math.nan), ValueError, "tenor"),
        (dict(moneyness=0.0), ValueError, "moneyness"),
        (dict(delta=(0.6, 0.4)), ValueError, "delta"),
        (dict(delta=(0.5, 0.5)), ValueError, "delta"),
        (dict(delta=(0.0, 0.5)), ValueError, "delta"),
        (dict(delta=(0.5, 1.0)), ValueError, "delta"),
        (dict(delta=0.5), ValueError, "delta"),
        (dict(delta=("a", 0.5)), TypeError, "delta"),
        (dict(on_expiry=1), TypeError, "on_expiry"),
        (dict(on_expiry=False), ValueError, "never rolls"),
        (dict(half_spread_vol=-0.01), ValueError, "half_spread_vol"),
    ):
        with pytest.raises(err, match=match):
            g.Roll(**kw)
    with pytest.raises(TypeError, match="roll"):
        g.Position(roll=0.25)
    with pytest.raises(ValueError, match="option_hedge"):
        g.Position(vol=SVI2, roll=g.Roll(), option_hedge=g.OptionHedge(expiry=2.0))
    with pytest.raises(ValueError, match="roll"):
        g.Position(vol=np.full(11, 0.2), roll=g.Roll())
    assert g.Roll(delta=[0.2, 0.8]).delta == (0.2, 0.8)
    assert g.Roll().tenor is None and g.Roll().moneyness is None  # each group's own
    assert type(g.Roll(np.int64(1), np.float32(1.5)).tenor) is float


def test_roll_in_a_config():
    from gammaext.config import ConfigError, parse_config

    cfg = {"rules": {"m": {"type": "move"}}, "scenarios": {"s": {"kind": "noisy"}},
           "position": {"roll": {"tenor": 0.25, "delta": [0.2, 0.8]}}}
    assert parse_config(cfg).options["position"].roll == g.Roll(0.25, delta=(0.2, 0.8))
    with pytest.raises(ConfigError, match="position.roll"):
        parse_config({**cfg, "position": {"roll": {"tenor": -1.0}}})


def test_inputs_are_not_modified():
    path = 100.0 * np.exp(0.004 * np.arange(41))
    keep = path.copy()
    pos = g.Position(legs=(g.Leg("call", expiry=0.1),), roll=g.Roll(0.1, delta=(0.3, 0.7)))
    g.simulate_hedge(path, position=pos, dt=1 / 252)
    np.testing.assert_array_equal(path, keep)


def test_a_roll_moves_value_into_cash_not_into_the_residual():
    # at a roll the legs' value jumps (old mark out, new mark in) and cash takes the difference;
    # the split goes on from the new legs, so the residual is only the Taylor remainder of the
    # moves, which vanishes as dt falls (a roll mark leaking into it would not: about 5 a roll)
    pos = g.Position(legs=g.straddle(expiry=1 / 12), roll=g.Roll(1 / 12, delta=(0.3, 0.7)))
    rms, std = [], []
    for n_steps in (63, 630):
        r = g.simulate_hedge(
            g.GBM(vol=0.3), position=pos, rule=g.EveryK(1), n_paths=1000, seed=2,
            n_steps=n_steps, dt=0.25 / n_steps,
        )
        assert r.rolls.mean() > 10
        rms.append(np.sqrt(np.mean(r.residual**2)))
        std.append(r.pnl.std())
    assert rms[1] < 0.25 * rms[0] and rms[0] < 0.1 * std[0], (rms, std)


def test_an_expiry_off_the_grid_is_the_grid_time_it_settles_on():
    # 0.1 years on a 252-day grid is 25.2 steps: the leg is the option expiring at step 26
    # (bought, marked and settled as it), and a roll's t_k + 0.1 is t_k+26, bit for bit: rolls
    # at steps 26 and 52, the last legs settle at the horizon, step 78 (an expiry after the
    # horizon is kept as given: sold at its mark there)
    kw = dict(rule=g.DeltaBand(0.1), n_paths=200, n_steps=78, dt=1 / 252, seed=5, trace=[0])
    for tenor in (None, 0.1):
        roll, on_grid = (None, None) if tenor is None else (g.Roll(tenor), g.Roll(26 / 252))
        off = g.simulate_hedge(position=g.Position(legs=g.straddle(expiry=0.1), roll=roll), **kw)
        on = g.simulate_hedge(
            position=g.Position(legs=g.straddle(expiry=26 / 252), roll=on_grid), **kw
        )
        for f in HEDGE_FIELDS:
            np.testing.assert_array_equal(off.data[f], on.data[f], err_msg=f)
        assert (off.rolls == (0.0 if roll is None else 2.0)).all()
    premium = g.price(100.0, 100.0, 26 / 252, 0.2) + g.price(
        100.0, 100.0, 26 / 252, 0.2, is_call=False
    )
    value = off.trace[0]["option_value"]
    np.testing.assert_allclose(value[0], premium, rtol=1e-12)
    assert value[26] > 0.0 and value[-1] == 0.0  # rolled at 26, settled at the horizon


def test_rolls_are_in_the_summary_and_the_lab_table():
    from gammaext import lab

    rules = {"clock": g.EveryK(1), "move": g.Move(0.01)}
    pos = g.Position(legs=g.straddle(expiry=1 / 12), roll=g.Roll(1 / 12, delta=(0.3, 0.7)))
    tab = lab.compare_rules(
        rules, ["gbm_equal"], position=pos, seed=3, n_paths=300, progress=False, output="numpy"
    )
    res = g.simulate_rules(g.GBM(vol=0.2), rules, position=pos, n_paths=300, seed=3)
    for row, name in zip(tab, rules):
        s = res[name].summary()
        assert s["rolls_mean"] == res[name].rolls.mean() > 11  # the expiries and the band
        np.testing.assert_allclose(row["rolls_mean"], s["rolls_mean"], rtol=1e-12)
    plain = lab.compare_rules(
        rules, ["gbm_equal"], seed=3, n_paths=50, progress=False, output="numpy"
    )
    assert (plain["rolls_mean"] == 0.0).all()
    assert g.simulate_hedge(n_paths=50, seed=3).summary()["rolls_mean"] == 0.0


def test_the_cli_table_shows_rolls_only_with_a_roll_rule():
    import io

    from gammaext import lab
    from gammaext.cli import print_table

    pos = g.Position(legs=g.straddle(expiry=1 / 12), roll=g.Roll(1 / 12))
    kw = dict(seed=3, n_paths=40, progress=False, output="numpy")
    for position, shown in ((pos, True), (g.Position(), False)):
        out = io.StringIO()
        tab = lab.compare_rules({"clock": g.EveryK(1)}, ["gbm_equal"], position=position, **kw)
        print_table(tab, out)
        header, row = out.getvalue().splitlines()[1:3]
        assert (" rolls " in header) == shown
        if shown:  # right-aligned under its header: 11 rolls a path, one a month in the year
            end = header.index(" rolls ") + len(" rolls")
            assert row[end - 6 : end] == "    11"


def _rolled_book_values(legs, path, n_steps, dt, vol, rate, div):
    """The book's value at each step before the horizon and its rolls, by hand: each group
    (one strike and expiry, on the grid) rolls at its expiry into its own moneyness (strike /
    the first price) and tenor, at the price of that step."""
    groups = {}
    for leg in legs:
        strike = leg.strike if leg.strike is not None else leg.moneyness * path[0]
        groups.setdefault((strike, round(leg.expiry / dt)), []).append(leg)
    state = [[strike, steps, strike / path[0], steps] for strike, steps in groups]
    values, rolls = [], 0
    for k in range(n_steps):
        value = 0.0
        for st, grp in zip(state, groups.values()):
            if 0 < k == st[1]:  # expired now: the same legs at the group's moneyness and tenor
                st[0], st[1] = st[2] * path[k], k + st[3]
                rolls += 1
            for leg in grp:
                value += leg.quantity * g.price(
                    path[k], st[0], (st[1] - k) * dt, vol, rate, div, is_call=leg.kind == "call"
                )
        values.append(value)
    return np.array(values), rolls


TEN = 10 / 252  # ten days
#: Long the 100 call, short the 110 call.
CALL_SPREAD_10D = (g.Leg("call", expiry=TEN), g.Leg("call", strike=110.0, expiry=TEN, quantity=-1))


@pytest.mark.parametrize(
    "legs",
    [
        (g.Leg("put", moneyness=0.9, expiry=TEN), g.Leg("call", moneyness=1.1, expiry=TEN)),
        CALL_SPREAD_10D,
        (g.Leg("call", expiry=TEN), g.Leg("call", expiry=15 / 252, quantity=-1.0)),
    ],
    ids=["strangle", "call_spread", "calendar_spread"],
)
def test_a_book_rolls_into_its_own_shape(legs):
    # each group reopens at its own moneyness around the new price and its own tenor: the
    # strangle keeps its two strikes (0.9 and 1.1 x the price of the roll), the call spread
    # stays a spread and the calendar spread keeps its two expiries (a single Roll moneyness
    # and tenor made them a straddle and two empty books)
    n, dt, vol, rate, div = 60, 1 / 252, 0.25, 0.03, 0.01
    t = np.arange(n + 1) * dt
    path = 100.0 * np.exp(0.02 * np.sin(0.7 * np.arange(n + 1)) + 0.002 * np.arange(n + 1))
    pos = g.Position(legs=legs, vol=vol, rate=rate, div=div, roll=g.Roll())
    r = g.simulate_hedge(path, position=pos, times=t, trace=[0])
    want, rolls = _rolled_book_values(legs, path, n, dt, vol, rate, div)
    assert r.rolls[0] == rolls >= 6  # one per group rolled
    np.testing.assert_allclose(r.trace[0]["option_value"][:n], want, rtol=1e-12, atol=1e-12)
    ref_pnl = ref.simulate_hedge(path, position=pos, times=t)["pnl"]
    np.testing.assert_allclose(r.pnl, ref_pnl, rtol=1e-12)


def test_a_number_applies_to_every_group():
    # Roll(tenor, moneyness) as numbers: every group reopens at that strike and expiry (a call
    # spread becomes long and short the same call: an empty book after the first roll)
    t = np.arange(41) / 252
    path = 100.0 * np.exp(0.002 * np.arange(41))
    pos = g.Position(legs=CALL_SPREAD_10D, roll=g.Roll(TEN, 1.0))
    r = g.simulate_hedge(path, position=pos, times=t, trace=[0])
    value = r.trace[0]["option_value"]
    assert r.rolls[0] == 6 and (value[:10] > 1.0).all()
    np.testing.assert_allclose(value[10:40], 0.0, atol=1e-12)


def test_a_rolled_in_leg_outside_the_delta_range_warns():
    # a 1.5 moneyness call has a call delta far below 0.49: it would roll at every step
    pos = g.Position(roll=g.Roll(0.3, moneyness=1.5, delta=(0.49, 0.5)))
    with pytest.warns(g.InputWarning, match=r"moneyness 1\.5, tenor 0\.3.*call delta 0\.0"):
        r = g.simulate_hedge(position=pos, n_paths=10, n_steps=49, seed=1)
    assert r.rolls.mean() > 45
    # the group's own moneyness and tenor (the default): a put far out of the money
    book = (g.Leg("put", moneyness=0.7, expiry=0.1), g.Leg("call", expiry=0.1))
    pos = g.Position(legs=book, vol=SVI2, roll=g.Roll(delta=(0.2, 0.8)))
    with pytest.warns(g.InputWarning, match=r"strike 70, expiry 0\.1.*moneyness 0\.7") as rec:
        g.simulate_hedge(position=pos, n_paths=10, n_steps=20, seed=1)
    assert len(rec) == 1 and "strike 100" not in str(rec[0].message)


@pytest.mark.parametrize("rate", [0.05, 0.0])
def test_a_very_long_tenor_or_expiry_is_finite(rate):
    # e^{-rate tau} underflows to 0 past rate tau ~ 745: the marks divided by it (0/0, NaN P&L)
    kw = dict(n_paths=16, n_steps=30, seed=1, rule=g.EveryK(1))
    for pos in (
        g.Position(legs=g.straddle(expiry=0.05), rate=rate, div=0.02, roll=g.Roll(15000.0)),
        g.Position(legs=g.straddle(expiry=0.05), rate=rate, roll=g.Roll(1e8, half_spread_vol=0.01)),
        g.Position(legs=g.straddle(expiry=1e5), rate=rate),
        g.Position(legs=g.straddle(expiry=1e5), vol=SVI2, rate=rate),
    ):
        r = g.simulate_hedge(position=pos, **kw)
        want = ref.simulate_hedge(position=pos, **kw)
        assert np.isfinite(r.pnl).all()
        np.testing.assert_allclose(r.pnl, want["pnl"], rtol=1e-9, atol=1e-9)


def test_a_negative_rate_over_a_very_long_life_is_refused():
    # e^{-rate tau} overflows (NaN marks in both engines): a ValueError naming the argument
    kw = dict(n_paths=4, n_steps=10, seed=1)
    for name, pos in (
        ("rate", g.Position(legs=g.straddle(expiry=0.05), rate=-0.05, roll=g.Roll(15000.0))),
        ("rate", g.Position(legs=g.straddle(expiry=1e5), rate=-0.05)),
        ("div", g.Position(legs=g.straddle(expiry=2e4), div=-0.04, roll=g.Roll(delta=(0.1, 0.9)))),
    ):
        with pytest.raises(ValueError, match=f"{name} -0.0.*overflows"):
            g.simulate_hedge(position=pos, **kw)
    # just inside: finite
    pos = g.Position(legs=g.straddle(expiry=0.05), rate=-0.05, roll=g.Roll(10000.0))
    assert np.isfinite(g.simulate_hedge(position=pos, **kw).pnl).all()
