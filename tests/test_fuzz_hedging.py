"""Fuzzing the hedging engine: random rules, costs, accounting, positions, generators and user
paths, including extreme and invalid values.

Invariants: an invalid parameter raises ValueError or TypeError naming the argument (when
the object is built, or when simulate_hedge is called); valid moderate parameters give finite
results whose parts add up to the P&L and that do not depend on the thread count; no crash or
hang (small n_paths / n_steps keep every example fast); user arrays are never modified.
GAMMAEXT_FUZZ_EXAMPLES=N runs a longer profile (see test_fuzz.py)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp
from test_fuzz import FUZZ

import gammaext as g
from gammaext.hedging import HEDGE_FIELDS, PNL_PARTS

# Fuzzed values far out of range (a rate of 2, a vol of 1e300) are valid but look like
# percentages: the InputWarning they give is documented behaviour, not a failure.
pytestmark = pytest.mark.filterwarnings("ignore::gammaext.InputWarning")

BAD = [0, -1, -1e300, math.nan, math.inf, -math.inf, 1e300, 2**63, "x", None, 1.5, True]


def value(draw, good, bad_rate):
    """A good value (a strategy) or, with probability about bad_rate, an extreme/invalid one."""
    if bad_rate and draw(st.floats(0, 1)) < bad_rate:
        return draw(st.sampled_from(BAD))
    return draw(good)


pos = st.floats(1e-4, 10.0)
frac = st.floats(1e-4, 0.5)
length = st.integers(1, 40)

RULES = {
    g.EveryK: {"k": length},
    g.Move: {"threshold": frac},
    g.DeltaBand: {"width": frac, "units": st.sampled_from(["shares", "fraction"]),
                  "to": st.sampled_from(["zero", "edge"])},
    g.TrendBand: {"width": frac, "er_length": length, "widen": st.floats(0, 5),
                  "units": st.sampled_from(["shares", "fraction"])},
    g.WhalleyWilmott: {"cost": st.floats(1e-6, 0.01), "risk_aversion": st.floats(1e-3, 10)},
    g.AtrMove: {"mult": pos, "length": length,
                "since": st.sampled_from(["last_hedge", "previous"])},
    g.MaxInterval: {"n": length},
    g.ProfileBand: {"width": frac, "strength": st.floats(0, 0.99),
                    "units": st.sampled_from(["shares", "fraction"]),
                    "to": st.sampled_from(["zero", "edge"])},
    g.ImbalanceBand: {"width": frac, "strength": st.floats(0, 0.99),
                      "units": st.sampled_from(["shares", "fraction"])},
}
SIGNAL_BANDS = (g.ProfileBand, g.ImbalanceBand)


@st.composite
def built(draw, cls, spec, bad_rate):
    """(object or None, exception or None) for cls(**kwargs) with fuzzed kwargs; a construction
    error must be ValueError/TypeError naming the class's argument."""
    kwargs = {k: value(draw, s, bad_rate) for k, s in spec.items()}
    try:
        return cls(**kwargs), kwargs
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        assert any(k in msg for k in kwargs), (cls.__name__, kwargs, msg)
        return None, kwargs


@st.composite
def rules(draw, bad_rate=0.0):
    parts = []
    kinds = draw(st.lists(st.sampled_from(list(RULES)), min_size=1, max_size=3, unique=True))
    bands = [k for k in kinds if k in (g.DeltaBand, g.TrendBand, g.WhalleyWilmott, *SIGNAL_BANDS)]
    kinds = [k for k in kinds if k not in bands[1:]]  # at most one band per rule
    for cls in kinds:
        obj, _ = draw(built(cls, RULES[cls], bad_rate))
        if obj is None:
            return None
        parts.append(obj)
    rule = parts[0] if len(parts) == 1 else g.AnyOf(*parts)
    if draw(st.integers(0, 4)) == 0:
        gate, _ = draw(built(g.VolGate, {"min_ratio": st.floats(0, 1.5),
                                         "length": length}, bad_rate))
        if gate is None:
            return None
        rule = g.VolGate(rule, gate.min_ratio, gate.max_ratio, gate.length)
    return rule


GENERATORS = {
    g.GBM: {"spot": st.floats(1.0, 1e4), "vol": st.floats(0, 1.5), "drift": st.floats(-1, 1)},
    g.Heston: {"v0": st.floats(0, 0.5), "kappa": st.floats(0.1, 5), "theta": st.floats(0.01, 0.5),
               "xi": st.floats(0.05, 1.5), "rho": st.floats(-1, 1)},
    g.Merton: {"vol": st.floats(0, 1), "intensity": st.floats(0, 20),
               "jump_mean": st.floats(-0.3, 0.3), "jump_std": st.floats(0, 0.3)},
    g.Oscillation: {"amplitude": st.floats(0, 0.1), "period": st.floats(1, 50),
                    "noise": st.floats(0, 0.5)},
    g.Trend: {"total_return": st.floats(-0.9, 3), "noise": st.floats(0, 0.5)},
    g.SignalGBM: {"spot": st.floats(1.0, 1e4), "vol": st.floats(0, 1.5),
                  "signal": st.sampled_from(["imbalance", "profile"]), "rho": st.floats(0, 1)},
    g.Bootstrap: {"returns": hnp.arrays(np.float64, st.integers(1, 30),
                                        elements=st.floats(-0.05, 0.05)),
                  "block": st.integers(1, 30), "spot": st.floats(1.0, 1e4)},
}


SURFACES = [
    g.VolSurface.svi([0.1, 1.0], [g.SVI(0.004, 0.05, -0.6, 0.0, 0.1),
                                  g.SVI(0.04, 0.1, -0.4, 0.05, 0.2)]),
    g.VolSurface.grid([-0.5, 0.0, 0.5], [0.25, 2.0], [[0.5, 0.3, 0.4], [0.4, 0.25, 0.3]]),
    g.VolSurface.term_structure([0.05, 0.5], [0.6, 0.3]),
]


@st.composite
def setups(draw, bad_rate=0.0):
    """kwargs of simulate_hedge (or None when an object could not be built)."""
    cls = draw(st.sampled_from(list(GENERATORS)))
    gen, _ = draw(built(cls, GENERATORS[cls], bad_rate))
    rule = draw(rules(bad_rate))
    if rule is not None and any(f"{c.__name__}(" in repr(rule) for c in SIGNAL_BANDS):
        # a signal band needs its signal: the signal generator's
        gen, _ = draw(built(g.SignalGBM, GENERATORS[g.SignalGBM], bad_rate))
    costs, _ = draw(built(g.Costs, {k: st.floats(0, 5) for k in
                                    ("bps", "half_spread_bps", "half_spread", "fixed",
                                     "option_half_spread")}, bad_rate))
    legs = []
    for _ in range(draw(st.integers(1, 3))):
        leg, _ = draw(built(g.Leg, {"kind": st.sampled_from(["call", "put"]),
                                    "moneyness": st.floats(0.5, 2),
                                    "expiry": st.none() | st.floats(0.01, 1.0),
                                    "quantity": st.floats(-3, 3)}, bad_rate))
        legs.append(leg)
    if None in legs or all(leg.quantity == 0 for leg in legs):
        legs = list(g.straddle())
    # issue #14: a smile or a grid (each leg at its own vol), sticky strike or moneyness, a
    # stochastic level on GBM/Merton paths, or Heston's variance marks on Heston paths
    vol = draw(st.floats(0.01, 2) | st.sampled_from(SURFACES))
    atm = None
    if isinstance(gen, (g.GBM, g.Merton)) and draw(st.booleans()):
        atm, _ = draw(built(g.StochasticAtmVol, {"atm0": st.floats(0.05, 1),
                                                 "level": st.floats(0.05, 1),
                                                 "kappa": st.floats(0, 30),
                                                 "xi": st.floats(0, 3),
                                                 "rho": st.floats(-1, 1)}, bad_rate))
    elif isinstance(gen, g.Heston) and draw(st.booleans()):
        atm = "heston"
    position, _ = draw(built(g.Position, {"legs": st.just(tuple(legs)),
                                          "sticky": st.sampled_from(["strike", "moneyness"]),
                                          "atm": st.just(atm),
                                          "vol": st.just(vol), "rate": st.floats(-0.1, 0.2),
                                          "div": st.floats(-0.1, 0.2),
                                          "hedge_vol": st.none() | st.floats(0.01, 2)
                                          | st.sampled_from(["realized",
                                                             g.HedgeVol("window", 3, 1)])},
                             bad_rate))
    noise = None
    if draw(st.booleans()):
        noise, _ = draw(built(g.Noise, {"kind": st.sampled_from(["iid", "bounce"]),
                                        "size": st.floats(0, 0.01)}, bad_rate))
    if None in (gen, rule, costs, position):
        return None
    if draw(st.booleans()) and (position.surface() is not None or position.atm == "heston"):
        # an option as second hedge instrument (its expiry after any drawn horizon, <= 0.25)
        oh = g.OptionHedge(draw(st.sampled_from(["call", "put"])),
                           moneyness=draw(st.floats(0.7, 1.4)), expiry=draw(st.floats(0.3, 2)),
                           every=draw(st.integers(1, 7)),
                           target=draw(st.sampled_from(["vega", "gamma"])),
                           half_spread_vol=draw(st.floats(0, 0.02)),
                           band=draw(st.sampled_from([0.0, 0.01, 1.0])))
        position = dataclasses.replace(position, option_hedge=oh)
    acct = g.Accounting(*(draw(st.booleans()) for _ in range(5)))
    return {
        "paths": gen, "rule": rule, "costs": costs, "position": position, "noise": noise,
        "accounting": acct, "n_paths": value(draw, st.integers(0, 5), bad_rate),
        "n_steps": value(draw, st.integers(1, 25), bad_rate),
        "dt": value(draw, st.sampled_from([1 / 252, 1 / 365, 1 / 52, 0.01]), bad_rate),
        "seed": draw(st.integers(0, 2**64 - 1)), "first_path": draw(st.integers(0, 2**40)),
    }


def run(kw, **more):
    res = g.simulate_hedge(**kw, **more)
    assert all(res.data[f].shape == (kw["n_paths"],) for f in HEDGE_FIELDS)
    return res


@FUZZ
@given(kw=setups())
def test_valid_parameters_give_finite_results_independent_of_threads(kw):
    if kw is None:  # pragma: no cover - no bad values are drawn here
        return
    if isinstance(kw["paths"], g.Merton) and kw["paths"].intensity * kw["dt"] > 1e4:
        with pytest.raises(ValueError, match="intensity"):
            run(kw)
        return
    res = run(kw, threads=1)
    for f in HEDGE_FIELDS:
        assert np.isfinite(res.data[f]).all(), (f, kw)
    parts = sum(res.data[p] for p in PNL_PARTS)
    scale = 1 + np.abs(np.stack([res.data[p] for p in PNL_PARTS])).sum(axis=0)
    assert (np.abs(parts - res.data["pnl"]) <= 1e-9 * scale).all()  # rounding of the sum only
    two = run(kw, threads=2)
    for f in HEDGE_FIELDS:
        np.testing.assert_array_equal(two.data[f], res.data[f])


@FUZZ
@given(kw=setups(bad_rate=0.15))
def test_invalid_parameters_raise_clear_errors(kw):
    if kw is None:  # an object refused its arguments, with a clear message (checked)
        return
    try:
        res = run(kw)
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        names = ("n_paths", "n_steps", "dt", "intensity", "Leg expiry", "seed", "first_path")
        assert any(n in msg for n in names), (kw, msg)
        return
    # Absurd magnitudes (dt = 1e300 years with a dividend: exp(1e300); a dividend yield of 2^63)
    # may overflow to inf or NaN, as documented; otherwise no NaN comes out of an accepted run.
    text = repr(kw)
    if not any(big in text for big in ("e+300", "9223372036854775808", "9.223372036854776e+18")):
        for f in HEDGE_FIELDS:
            assert not np.isnan(res.data[f]).any(), (f, kw)


@st.composite
def user_paths(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=0, max_side=6))
    good = st.floats(1.0, 1e4)
    special = st.sampled_from([math.nan, 0.0, -1.0, math.inf, -math.inf, 5e-324])
    el = st.one_of(good, special) if draw(st.booleans()) else good
    arr = draw(hnp.arrays(np.float64, shape, elements=el))
    if draw(st.booleans()) and arr.ndim == 2 and arr.shape[1] >= 4:
        arr = arr[:, ::2]  # a strided view
    return arr


@FUZZ
@given(paths=user_paths(), rule=rules(), dt=st.sampled_from([None, 1 / 252, 1 / (365 * 24)]))
def test_user_paths(paths, rule, dt):
    copy = paths.copy()
    n_times = paths.shape[-1] if paths.ndim else 0
    signals = {"profile": np.full(n_times, 0.3), "imbalance": np.full(n_times, -0.5)}
    try:
        res = g.simulate_hedge(paths, rule=rule, dt=dt, position=g.Position(vol=0.3),
                               signals=signals)
    except ValueError as exc:
        assert "paths" in str(exc)
        bad = ~(np.isfinite(paths) & (paths > 0))
        assert paths.ndim > 2 or paths.shape[-1] < 2 or bad.any() or paths.size == 0
    else:
        assert np.isfinite(paths).all() and (paths > 0).all() and paths.ndim <= 2
        assert res.data["pnl"].shape == (1 if paths.ndim == 1 else paths.shape[0],)
        # Moderate prices give finite results; absurd magnitudes (5e-324) may give NaN/inf
        # Greeks, as documented (README, Guarantees), but never a crash.
        if ((paths > 1e-100) & (paths < 1e100)).all():
            for f in HEDGE_FIELDS:
                assert np.isfinite(res.data[f]).all(), f
    np.testing.assert_array_equal(paths, copy)  # never modified


def test_huge_rule_lengths_are_refused_or_capped():
    # Found by fuzzing: TrendBand(er_length=10**9) aborted the process (the efficiency-ratio
    # ring of er_length + 1 slots per block could not be allocated inside a noexcept thread
    # function) and er_length=2**63 segfaulted (size overflow). The ring is now capped at
    # n_steps + 1 slots (a longer window sees the same history), and counts above 2**53 (not
    # exact as doubles, UB in the engine's int64 conversion) are refused.
    small = g.simulate_hedge(rule=g.TrendBand(0.1, er_length=7), n_paths=3, n_steps=7, seed=1)
    for n in (8, 10**9, 2**53):
        big = g.simulate_hedge(rule=g.TrendBand(0.1, er_length=n), n_paths=3, n_steps=7, seed=1)
        np.testing.assert_array_equal(big.data["pnl"], small.data["pnl"])
    for make in (lambda n: g.TrendBand(0.1, er_length=n), lambda n: g.EveryK(n),
                 lambda n: g.AtrMove(0.5, length=n), lambda n: g.MaxInterval(n),
                 lambda n: g.VolGate(g.EveryK(1), length=n),
                 lambda n: g.Bootstrap(returns=[0.01, -0.01], block=n)):
        with pytest.raises(ValueError, match="must be <= 9007199254740992"):
            make(2**53 + 1)
    params = np.array([[1.0 if k in ("atr_length", "er_length", "block_length") else 0.0
                        for k in g.hedging.PARAM_NAMES]])
    params[0, g.hedging.PARAM_NAMES.index("every")] = 1e30
    with pytest.raises(ValueError, match="2\\*\\*53"):  # the binding checks too
        g._core._hedge(params, 0, np.array([0.0, 0.1]), np.zeros(0),
                       np.array([[100.0, 0.1, 1.0, 0.0, 1.0]]), np.zeros(1), np.zeros((0, 0)),
                       np.zeros((0, 0)), np.zeros((0, 0)),
                       (0, np.zeros(0), np.zeros(1), np.zeros(0)), np.zeros((0, 0)), 0, 1,
                       np.zeros(0, dtype=np.int64), 1, 0)
