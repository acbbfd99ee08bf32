"""Strategy backtest replica (issue 4): indicators, fill rules, accounting, input, sweeps.

Numbered behaviours refer to ../shared/PINE_STRATEGY_SPEC.md section 10; worked values are the
spec's table there. pine_slow.py is an independent pure-Python implementation of the spec.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from numpy.testing import assert_allclose, assert_array_equal

import gammaext
from gammaext import indicators as ind, reference
from gammaext.backtest import StrategyParams, pine_format

sys.path.insert(0, str(Path(__file__).parent))
import pine_slow
from conftest import data_file

BTC_1D = "btc_usdt_1d.csv"


# ------------------------------------------------------------------ helpers


def bars_from(o, h, l, c):
    return gammaext.Bars.from_arrays(o, h, l, c)


def prefix():
    """21 bars alternating 103/100 (high realised vol): bar 20 closes up at 103, so with the
    defaults the only order of the warm-up is a short sent at the close of bar 20."""
    c = [100.0 if k % 2 else 103.0 for k in range(21)]
    o = [c[0]] + c[:-1]
    h = [max(a, b) + 0.5 for a, b in zip(o, c)]
    lo = [min(a, b) - 0.5 for a, b in zip(o, c)]
    return o, h, lo, c


def scenario(tail):
    """The prefix plus tail bars (o, h, l, c)."""
    o, h, lo, c = prefix()
    for bar in tail:
        o.append(bar[0]), h.append(bar[1]), lo.append(bar[2]), c.append(bar[3])
    return bars_from(o, h, lo, c)


def short_levels():
    """(stop, target) of the short sent at bar 20's close, on the 0.01 tick (B6)."""
    _o, h, lo, c = prefix()
    a = ind.atr(h, lo, c)[-1]
    return math.ceil((103 + 2 * a) * 100) / 100, math.floor((103 - 3 * a) * 100) / 100


def slow_run(bars, **params):
    return pine_slow.run(list(bars.open), list(bars.high), list(bars.low), list(bars.close), params)


def assert_same_trades(res, slow):
    """Trade for trade, bit for bit: bars, direction, reason, prices, quantity, P&L."""
    tr = res.trades
    closed = slow["closed"]
    assert res.n_trades == len(closed)
    for k, t in enumerate(closed):
        reason = "close_all" if t.exit_reason.startswith("close_all") else t.exit_reason
        got = (
            int(tr["entry_bar"][k]),
            int(tr["exit_bar"][k]),
            tr["direction"][k],
            tr["exit_reason"][k],
            tr["entry_price"][k],
            tr["exit_price"][k],
            tr["qty"][k],
            tr["pnl"][k],
            tr["run_up"][k],
            tr["drawdown"][k],
        )
        want = (
            t.entry_bar,
            t.exit_bar,
            "long" if t.direction > 0 else "short",
            reason,
            t.entry_price,
            t.exit_price,
            t.qty,
            t.pnl,
            t.run_up,
            t.drawdown,
        )
        assert got == want, f"trade {k}"
    assert len(res.open_trades["pnl"]) == len(slow["open"])
    assert_array_equal(res.equity["equity"], slow["equity"])
    s = slow["summary"]
    for key, want in s.items():
        # metrics summed in a different order (post hoc vs incremental): 1e-9 relative
        assert_allclose(res.summary[key], want, rtol=1e-9, atol=1e-6, err_msg=key)


# ------------------------------------------------------------------ worked values (spec 10)


def test_worked_values_straddle():
    delta, gamma = ind.straddle_greeks(np.array([100_000.0]))
    # spec: 2N(d1) - 1 and 2 x gamma with the A&S CDF; same operations, so 1e-15 relative
    assert_allclose(delta[0], 0.07423527596094859, rtol=1e-15)
    assert_allclose(gamma[0], 1.1084106562158634e-04, rtol=1e-15)


@pytest.mark.parametrize(
    ("x", "want"),
    [
        (-3, 0.0013499672222303427),
        (-1, 0.15865525956256177),
        (0, 0.5000000005266043),
        (1, 0.8413447404374382),
        (2.5, 0.9937903201465275),
    ],
    ids=["-3", "-1", "0", "1", "2.5"],
)
def test_worked_values_as_cdf(x, want):
    # the script's A&S formula, reproduced exactly (spec table): 1 ulp
    assert_allclose(pine_slow.as_norm_cdf(x), want, rtol=2e-16)
    assert_allclose(reference.backtest.as26217_cdf(x), want, rtol=2e-16)
    assert_allclose(gammaext.norm_cdf(x, normal="as26217"), want, rtol=2e-16)


def test_worked_values_d1():
    d1 = (math.log(1.0) + (0.05 - 0.0 + 0.25 * 0.25 / 2.0) * (30 / 365)) / (
        0.25 * math.sqrt(30 / 365)
    )
    assert d1 == 0.09317460410066182  # the spec's digits, same operations
    assert_allclose(gammaext.norm_cdf(d1, normal="as26217"), 0.5371176379804743, rtol=2e-16)
    assert_allclose(gammaext.norm_cdf(d1), 0.5371175752016983, rtol=1e-15)  # exact Phi


@pytest.mark.parametrize(
    ("tf", "want"),
    [
        ("D", 365.0),
        ("2D", 365.0),
        ("W", 52.0),
        ("M", 12.0),
        ("60", 2372.5),
        ("1S", 98.85416666666667),
    ],
    ids=["D", "2D", "W", "M", "60", "1S"],
)
def test_annualization(tf, want):
    assert_allclose(ind.annualization_factor(tf), want, rtol=1e-15)


def test_annualization_bad():
    with pytest.raises(ValueError, match="timeframe"):
        ind.annualization_factor("1H")


@pytest.mark.parametrize(
    ("x", "d", "want"),
    [
        (0.0742, 2, "0.07"),
        (0.000111, 3, "0"),
        (0.5, 2, "0.5"),
        (-0.036, 2, "-0.04"),
        (-0.0001, 2, "0"),
        (1.0, 2, "1"),
    ],
    ids=["delta", "gamma", "half", "neg", "negzero", "one"],
)
def test_pine_format(x, d, want):
    assert pine_format(x, d) == want


# ------------------------------------------------------------------ indicators vs NumPy


@pytest.fixture
def ohlc(rng):
    n = 300
    c = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    o = np.concatenate(([c[0]], c[:-1])) * np.exp(rng.normal(0, 0.002, n))
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.01, n)))
    lo = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.01, n)))
    return o, h, lo, c


def test_hist_vol_vs_numpy(ohlc):
    c = ohlc[3]
    # different summation (np.std pairwise): 1e-12 relative
    assert_allclose(ind.hist_vol(c, 20), reference.backtest.hist_vol(c, 20), rtol=1e-12)
    assert_allclose(
        ind.hist_vol(c, 7, 52.0, 0.3), reference.backtest.hist_vol(c, 7, 52.0, 0.3), rtol=1e-12
    )


def test_atr_vs_numpy(ohlc):
    _o, h, lo, c = ohlc
    assert_allclose(
        ind.true_range(h, lo, c)[1:], reference.backtest.true_range(h, lo, c)[1:], rtol=0
    )
    # alpha*x + (1-alpha)*prev vs prev + (x-prev)/L: rounding only, 1e-13 relative
    assert_allclose(ind.atr(h, lo, c), reference.backtest.atr(h, lo, c), rtol=1e-13)


def test_efficiency_ratio_vs_numpy(ohlc):
    c = ohlc[3]
    got = ind.efficiency_ratio(c, 10)
    assert_allclose(got, reference.backtest.efficiency_ratio(c, 10), rtol=1e-12)
    assert np.all((got[10:] >= 0) & (got[10:] <= 1))
    assert ind.efficiency_ratio(np.ones(5), 2)[4] == 0.0  # flat window: no trend


def test_straddle_greeks_vs_numpy(ohlc):
    c = ohlc[3]
    for off in (-1.0, 0.0, 1.0):
        d, g = ind.straddle_greeks(c, strike_offset_pct=off)
        rd, rg = reference.backtest.straddle_greeks(c, strike_offset_pct=off)
        assert_allclose(d, rd, rtol=1e-12, atol=1e-15)  # operation order differs
        assert_allclose(g, rg, rtol=1e-12)


def test_behaviour_1_warmup(ohlc):
    _o, h, lo, c = ohlc
    hv = ind.hist_vol(c)
    assert np.all(hv[:20] == 0.20)
    r = np.diff(np.log(c[:21]))
    assert_allclose(hv[20], np.std(r) * math.sqrt(365), rtol=1e-13)  # pstdev of r_1..r_20
    a = ind.atr(h, lo, c)
    assert np.all(np.isnan(a[:13]))
    tr = ind.true_range(h, lo, c)
    assert tr[0] == h[0] - lo[0]
    assert_allclose(a[13], tr[:14].mean(), rtol=1e-15)
    assert_allclose(a[14], a[13] + (tr[14] - a[13]) / 14, rtol=1e-15)


def test_stdev_ignores_nan():
    x = np.array([np.nan, 1.0, 2.0, np.nan, 4.0])
    got = ind.stdev(x, 3)
    assert np.isnan(got[:4]).all()
    assert_allclose(got[4], np.std([1.0, 2.0, 4.0]), rtol=1e-15)


def test_vol_regime_warmup_is_exactly_neutral():
    # 0.2 / 0.25 == 0.8 exactly: neither regime during warm-up (spec 3.7)
    assert ind.vol_regime(np.array([0.2]))[0] == 0.0
    assert_array_equal(ind.vol_regime(np.array([0.31, 0.19, 0.25])), [1.0, -1.0, 0.0])


def test_indicator_errors():
    with pytest.raises(ValueError, match="length"):
        ind.atr([1.0], [1.0], [1.0], 0)
    with pytest.raises(ValueError, match="elements"):
        ind.true_range([1.0, 2.0], [1.0], [1.0, 2.0])
    with pytest.raises(TypeError):
        ind.hist_vol(["a"])


# ------------------------------------------------------------------ hand-built fill rules


def test_behaviour_3_market_entry_at_next_open_sized_at_signal():
    stop, target = short_levels()
    res = gammaext.backtest(scenario([(103.5, 104, 102.5, 103), (103, 103.5, 102.5, 103)]))
    t = res.open_trades
    assert t["signal_bar"][0] == 20 and t["entry_bar"][0] == 21
    assert t["entry_price"][0] == 103.5  # O_21
    assert t["qty"][0] == 1_000_000 * 10 / 100 / 103.0  # equity_20 x 10 % / C_20
    assert (t["stop"][0], t["limit"][0]) == (stop, target)


@pytest.mark.parametrize(
    ("bar", "reason", "price"),
    [
        # open nearer the high: O-H-L-C, the short's stop (above) first
        ((104.0, 111.0, 90.0, 100.0), "stop", "stop"),
        # equidistant open: low first by default (B1): the target
        ((100.5, 111.0, 90.0, 100.0), "limit", "target"),
    ],
    ids=["high-first-stop", "tie-low-first-target"],
)
def test_stop_and_limit_same_bar(bar, reason, price):
    stop, target = short_levels()
    # entry bar 21 neutral, bar 22 hits both levels
    res = gammaext.backtest(scenario([(103.0, 103.5, 102.5, 103.0), bar]))
    t = res.trades
    assert t["exit_bar"][0] == 22 and t["exit_reason"][0] == reason
    assert t["exit_price"][0] == (stop if price == "stop" else target)
    assert_same_trades(res, slow_run(res.bars))


def test_behaviour_6_spec_bar():
    # spec 10.6 exactly, with levels 105 / 92 placed by hand through the slow emulator
    em = pine_slow.Emulator(dict(pine_slow.DEFAULTS))
    order = pine_slow.MarketEntry("GammaShort", -1, 1.0, 0, 105.0, 92.0, True)
    em.market(order, 1, 102.0)
    em.brackets(1, 102.0, 110.0, 90.0)
    assert em.closed[0].exit_price == 105.0
    em.market(order, 2, 100.0)
    em.brackets(2, 100.0, 110.0, 90.0)
    assert em.closed[1].exit_price == 92.0


def test_tie_path_option():
    stop, _ = short_levels()
    bars = scenario([(103.0, 103.5, 102.5, 103.0), (100.5, 111.0, 90.0, 100.0)])
    res = gammaext.backtest(bars, tie_path="high_first")
    assert res.trades["exit_reason"][0] == "stop" and res.trades["exit_price"][0] == stop


def test_behaviour_7_gap_through_stop():
    stop, _ = short_levels()
    res = gammaext.backtest(scenario([(103.0, 103.5, 102.5, 103.0), (115.0, 116.0, 114.0, 115.0)]))
    t = res.trades
    assert t["exit_reason"][0] == "stop" and t["exit_price"][0] == 115.0 > stop
    assert_same_trades(res, slow_run(res.bars))


def test_behaviour_8_exit_on_entry_bar():
    stop, _ = short_levels()
    bars = scenario([(103.0, 111.0, 102.5, 104.0)])
    res = gammaext.backtest(bars)
    assert res.trades["entry_bar"][0] == res.trades["exit_bar"][0] == 21
    assert res.trades["exit_price"][0] == stop and res.trades["bars_held"][0] == 0
    off = gammaext.backtest(bars, exits_on_entry_bar=False)
    assert off.n_trades == 0 and len(off.open_trades["pnl"]) == 1


def test_behaviour_4_reversal():
    # bar 22 closes 3 below bar 21 (> ATR/2): long entry; fills at O_23 and reverses the short
    res = gammaext.backtest(
        scenario(
            [(103.0, 103.5, 102.5, 103.0), (103.0, 103.5, 99.5, 100.0), (100.2, 100.7, 99.7, 100.2)]
        )
    )
    t = res.trades
    assert t["exit_reason"][0] == "reversal" and t["exit_bar"][0] == 23
    assert t["exit_price"][0] == 100.2 and t["exit_id"][0] == "GammaLong"
    long_ = res.open_trades
    assert long_["direction"][0] == "long" and long_["entry_price"][0] == 100.2
    eq22 = res.equity["equity"][22]
    assert long_["qty"][0] == eq22 * 10 / 100 / 100.0  # its own quantity, sized at bar 22
    assert_same_trades(res, slow_run(res.bars))


def test_behaviour_5_same_bar_opposite_entries():
    stop, _ = short_levels()
    # bar 21 stops the short out and closes 2.5 lower (> ATR/2): flat, both entries sent
    tail = [(103.0, 111.0, 100.0, 100.5), (100.5, 101.0, 100.0, 100.5)]
    res = gammaext.backtest(scenario(tail))
    t = res.trades
    assert t["exit_reason"][1] == "reversal" and t["direction"][1] == "long"
    assert t["exit_reason"][0] == "stop" and t["exit_price"][0] == stop
    assert t["entry_bar"][1] == t["exit_bar"][1] == 22 and t["pnl"][1] == 0.0
    assert res.open_trades["direction"][0] == "short"
    assert res.summary["even_trades"] == 1
    last = gammaext.backtest(scenario(tail), same_bar_opposite_entries="last_only")
    assert last.n_trades == 1 and last.open_trades["direction"][0] == "short"
    assert last.summary["net_profit"] == res.summary["net_profit"]


def test_behaviour_11_drawdown_halt():
    # a 0.5 % halt: the short (10 % of equity) loses 0.67 % on a 6.7 % rise inside its stop
    tail = [(103.0, 103.5, 102.5, 103.0), (103.0, 110.0, 102.9, 109.9)] + [
        (109.9, 110.3, 109.5, 109.9)
    ] * 5
    res = gammaext.backtest(scenario(tail), max_drawdown_pct=0.5)
    t = res.trades
    assert res.summary["halt_bar"] == 22
    assert t["exit_reason"][0] == "close_all" and t["exit_bar"][0] == 23
    assert t["exit_comment"][0] == "Drawdown Protection" and t["exit_price"][0] == 109.9
    assert res.n_trades == 1 and len(res.open_trades["pnl"]) == 0  # nothing afterwards
    assert_same_trades(res, slow_run(res.bars, max_drawdown_pct=0.5))


def test_behaviour_10_two_close_alls_close_once():
    # vol_ratio_short above the ratio: the short regime holds together with the long one, so
    # the regime close_all is sent at every close with a position; a tiny drawdown limit makes
    # the drawdown close_all fire on the same bar. One closing order, the later comment.
    tail = [(103.0, 104.0, 102.5, 104.0)] + [(104.0, 104.5, 103.5, 104.0)] * 3
    kw = {"vol_ratio_short": 5.0, "max_drawdown_pct": 0.01}
    res = gammaext.backtest(scenario(tail), **kw)
    t = res.trades
    assert res.summary["halt_bar"] == 21
    assert res.n_trades == 1 and t["exit_bar"][0] == 22 and t["exit_reason"][0] == "close_all"
    assert t["exit_comment"][0] == "Vol Regime Shift"
    assert len(res.open_trades["pnl"]) == 0  # flat afterwards: later close_alls do nothing
    assert_same_trades(res, slow_run(res.bars, **kw))


def test_process_orders_on_close():
    res = gammaext.backtest(scenario([(103.0, 103.5, 102.5, 103.0)]), process_orders_on_close=True)
    t = res.open_trades
    assert t["signal_bar"][0] == t["entry_bar"][0] == 20 and t["entry_price"][0] == 103.0
    assert res.equity["position_size"][20] < 0  # recorded after the fill


def test_fill_limits_assumption():
    _, target = short_levels()
    # the low touches the short's target but does not trade 5 ticks beyond it
    bar = (103.0, 103.5, target - 0.04, 100.0)
    assert gammaext.backtest(scenario([bar])).trades["exit_reason"][0] == "limit"
    res = gammaext.backtest(scenario([bar]), backtest_fill_limits_assumption=5)
    assert res.n_trades == 0
    bar = (103.0, 103.5, target - 0.05, 100.0)
    res = gammaext.backtest(scenario([bar]), backtest_fill_limits_assumption=5)
    assert res.trades["exit_price"][0] == target  # filled at the limit, not beyond


def test_behaviour_9_bracket_bound_to_its_trade():
    path = data_file(BTC_1D)
    res = gammaext.backtest(path)
    t = res.trades
    c = res.bars.close
    a = res.indicators["atr"]
    s = t["signal_bar"]
    long_ = t["direction"] == "long"
    # every trade carries its own signal bar's levels (on_entry), rounded away from the market
    want_stop = (
        np.where(
            long_,
            np.floor((c[s] - 2 * a[s]) / 0.01 + 1e-9),
            np.ceil((c[s] + 2 * a[s]) / 0.01 - 1e-9),
        )
        * 0.01
    )
    assert_allclose(t["stop"], want_stop, rtol=1e-15)


def test_behaviour_2_delta_short_signal_always():
    path = data_file(BTC_1D)
    res = gammaext.backtest(path)
    assert np.all(res.indicators["straddle_delta"] > 0.02)
    assert np.all(
        res.indicators["short_entry"][20:] == (res.indicators["hist_vol"][20:] / 0.25 > 1.2)
    )


def test_pyramiding_never_reached_hand_built():
    # strike offset +1 %: the band signal asks for a long on every bar (spec 3.7), but a long
    # entry needs position_size <= 0, so the open long is never added to, whatever the
    # pyramiding limit (4.3). Bar 20 (up move) sends both entries; the short is reversed into
    # the long at bar 22, which then stays alone.
    tail = [(103.0, 103.5, 102.5, 103.0)] * 4
    runs = [
        gammaext.backtest(scenario(tail), strike_offset_pct=1.0, pyramiding=k) for k in (1, 5)
    ]
    for res in runs:
        assert res.indicators["long_entry"][20:].all()
        assert list(res.trades["exit_reason"]) == ["reversal", "reversal"]
        assert list(res.open_trades["direction"]) == ["long"]
        assert res.open_trades["entry_bar"][0] == 22
        pos = res.equity["position_size"][22:]
        assert np.all(pos == pos[0]) and pos[0] > 0
    assert_array_equal(list(runs[0].summary.values()), list(runs[1].summary.values()))


def test_pyramiding_never_binds():
    # spec 4.3: entries need a flat or opposite position, so pyramiding 1 changes nothing
    path = data_file(BTC_1D)
    a = gammaext.backtest(path)
    b = gammaext.backtest(path, pyramiding=1)
    assert_array_equal(a.trades["pnl"], b.trades["pnl"])
    assert np.max(np.abs(a.equity["position_size"])) <= a.summary["max_contracts_held"]


def test_behaviour_12_accounting_identity():
    path = data_file(BTC_1D)
    for kw in ({}, {"commission_pct": 0.1, "slippage_ticks": 3}):
        res = gammaext.backtest(path, **kw)
        s = res.summary
        assert_allclose(res.trades["pnl"].sum(), s["net_profit"], rtol=1e-12)
        # equity identity at the last close
        assert_allclose(res.equity["equity"][-1], 1e6 + s["net_profit"] + s["open_pnl"], rtol=1e-14)
        assert_allclose(s["final_equity"], res.equity["equity"][-1], rtol=1e-14)


def test_first_order_after_warmup():
    res = gammaext.backtest(data_file(BTC_1D))
    assert res.trades["signal_bar"][0] == 20 and res.trades["entry_bar"][0] == 21


def test_close_all_merges_and_flat_does_nothing():
    # halt with the strategy flat: no closing trade appears; halt permanent
    res = gammaext.backtest(data_file(BTC_1D), max_drawdown_pct=0.5)
    reasons = list(res.trades["exit_reason"])
    assert reasons.count("close_all") <= 1
    after = res.trades["entry_bar"] > res.summary["halt_bar"]
    assert not after.any()


# ------------------------------------------------------------------ slow replica agreement

OPTION_SETS = [
    {},
    {"exit_reissue": "every_bar"},
    {"use_vol_filter": False},
    {"commission_pct": 0.1, "slippage_ticks": 5, "qty_step": 0.001},
    {
        "exits_on_entry_bar": False,
        "tie_path": "high_first",
        "same_bar_opposite_entries": "last_only",
    },
    {"sizing_basis": "fill_open", "strike_offset_pct": 1.0},
    {"max_drawdown_pct": 2.0},
    {"max_positions": 1, "stop_loss_atr_mult": 1.0, "take_profit_atr_mult": 1.5},
    {"entry_bar_gap": "skip_leg", "round_exit_levels": False, "close_at_end": True},
    {
        "process_orders_on_close": True,
        "backtest_fill_limits_assumption": 50,
        "commission_pct": 0.05,
    },
    {
        "hist_vol_period": 5,
        "vol_ratio_threshold": 0.9,
        "vol_ratio_short": 0.85,
        "strike_offset_pct": 0.5,
        "gamma_scalp_threshold": 0.2,
        "days_to_expiry": 0,
    },
]
OPTION_IDS = [
    "default",
    "every_bar",
    "no_filter",
    "costs",
    "path_options",
    "fill_open",
    "halt",
    "max_pos_1",
    "misc",
    "on_close",
    "inputs",
]


@pytest.fixture(scope="module")
def synthetic():
    rng = np.random.default_rng(7)
    n = 400
    c = 30_000 * np.exp(np.cumsum(rng.normal(0, 0.03, n)))
    o = np.round(np.concatenate(([c[0]], c[:-1])) * np.exp(rng.normal(0, 0.004, n)), 2)
    c = np.round(c, 2)
    h = np.round(np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.015, n))), 2)
    lo = np.round(np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.015, n))), 2)
    return bars_from(o, h, lo, c)


@pytest.mark.parametrize("opts", OPTION_SETS, ids=OPTION_IDS)
def test_slow_agrees_synthetic(synthetic, opts):
    res = gammaext.backtest(synthetic, **opts)
    assert res.n_trades > 5
    assert_same_trades(res, slow_run(synthetic, **opts))


@pytest.mark.parametrize("opts", OPTION_SETS, ids=OPTION_IDS)
def test_slow_agrees_btc(opts):
    bars = gammaext.load_csv(data_file(BTC_1D))
    res = gammaext.backtest(bars, **opts)
    assert_same_trades(res, slow_run(bars, **opts))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    vol=st.floats(0.005, 0.08),
    period=st.integers(2, 25),
    sl=st.floats(0.2, 4.0),
    tp=st.floats(0.2, 6.0),
    offset=st.sampled_from([-1.0, 0.0, 0.5, 1.0]),
    options=st.fixed_dictionaries(
        {
            "exit_reissue": st.sampled_from(["on_entry", "every_bar"]),
            "tie_path": st.sampled_from(["low_first", "high_first"]),
            "exits_on_entry_bar": st.booleans(),
            "entry_bar_gap": st.sampled_from(["fill_at_open", "skip_leg"]),
            "same_bar_opposite_entries": st.sampled_from(["sequential", "last_only"]),
            "sizing_basis": st.sampled_from(["signal_close", "fill_open"]),
            "use_vol_filter": st.booleans(),
            "max_positions": st.integers(0, 3),
            "max_drawdown_pct": st.sampled_from([1.0, 5.0, 15.0]),
            "process_orders_on_close": st.booleans(),
        }
    ),
)
def test_slow_agrees_random(seed, vol, period, sl, tp, offset, options):
    rng = np.random.default_rng(seed)
    n = 80
    c = np.round(1000 * np.exp(np.cumsum(rng.normal(0, vol, n))), 2)
    gap = rng.normal(0, vol / 3, n) * (rng.random(n) < 0.3)  # some gapped opens
    o = np.round(np.concatenate(([c[0]], c[:-1])) * np.exp(gap), 2)
    h = np.round(np.maximum(o, c) * np.exp(np.abs(rng.normal(0, vol / 2, n))), 2)
    lo = np.round(np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, vol / 2, n))), 2)
    edge = rng.random(n) < 0.1  # some bars with the high at the open or close (path edge cases)
    h[edge] = np.maximum(o, c)[edge]
    params = dict(
        options,
        hist_vol_period=period,
        stop_loss_atr_mult=sl,
        take_profit_atr_mult=tp,
        strike_offset_pct=offset,
    )
    bars = bars_from(o, h, lo, c)
    assert_same_trades(gammaext.backtest(bars, **params), slow_run(bars, **params))


def test_start_time_warmup():
    bars = gammaext.load_csv(data_file("btc_usdt_1d_2024-03-17_2026-03-15.csv"))
    res = gammaext.backtest(bars, start_time="2025-01-04")
    assert res.bars.time[res.start_index] == np.datetime64("2025-01-04")
    assert res.trades["signal_bar"].min() >= res.start_index
    slow = pine_slow.run(
        list(bars.open),
        list(bars.high),
        list(bars.low),
        list(bars.close),
        {},
        start=res.start_index,
    )
    assert_same_trades(res, slow)
    assert res.start_time == np.datetime64("2025-01-04")
    # warm indicators: orders can start on the first trading day (not 21 bars later)
    ref = gammaext.backtest(bars, start_time="2025-01-04", end_time="2026-01-02")
    assert ref.bars.time[-1] == np.datetime64("2026-01-02")
    assert ref.trades["signal_bar"][0] - ref.start_index < 20


# ------------------------------------------------------------------ input


def write(tmp_path, text, name="bars.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


GOOD = "open_time,open,high,low,close,volume\n" + "\n".join(
    f"2025-01-{d:02d} 00:00:00+00:00,100,101,99,100.5,1" for d in range(1, 4)
)


def test_csv_binance_header(tmp_path):
    bars = gammaext.load_csv(write(tmp_path, GOOD))
    assert len(bars) == 3 and bars.time[0] == np.datetime64("2025-01-01T00:00")
    assert bars.close[2] == 100.5


def test_csv_no_header_epoch_ms(tmp_path):
    rows = [f"{1735689600000 + k * 86400000},100,101,99,100,5,0,0,0,0,0,0" for k in range(3)]
    bars = gammaext.load_csv(write(tmp_path, "\n".join(rows)))
    assert bars.time[1] == np.datetime64("2025-01-02T00:00")


def test_csv_named_columns(tmp_path):
    text = "When;O;Hi;Lo;Last\n2025-01-01;1;2;0.5;1.5\n2025-01-02;1.5;2;1;1.2\n"
    bars = gammaext.load_csv(
        write(tmp_path, text),
        delimiter=";",
        time_column="When",
        columns={"high": "Hi", "low": "Lo", "close": "Last"},
    )
    assert bars.high[0] == 2.0


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty file"),
        ("open_time,open,high,close\n2025-01-01,1,2,1\n", r"line 1: missing column.*low"),
        (GOOD.replace("100.5,1\n2025-01-02", "abc,1\n2025-01-02", 1), r"line 2: close .*'abc'"),
        (GOOD.replace(",101,99,", ",98,99,", 1), r"line 2: high 98.0 < low 99.0"),
        (GOOD.replace("2025-01-03", "2025-01-02"), r"line 4: time .* not after"),
        (GOOD + "\n2025-01-09 00:00:00,100,101\n", r"line 5: 3 fields"),
        (GOOD.replace("2025-01-02 00:00:00+00:00", "yesterday"), r"line 3: 'yesterday'"),
        (GOOD.replace(",100.5,1\n2025-01-02", ",105,1\n2025-01-02", 1), r"line 2: close 105"),
        ("open_time,open,high,low,close\n", "no bars"),
    ],
    ids=[
        "empty",
        "missing",
        "non-numeric",
        "high<low",
        "time",
        "fields",
        "bad-time",
        "close-range",
        "header-only",
    ],
)
def test_csv_errors_name_the_line(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        gammaext.load_csv(write(tmp_path, text))


def test_hourly_csv_infers_timeframe():
    bars = gammaext.load_csv(data_file("btc_usdt_1h.csv"))
    res = gammaext.backtest(
        gammaext.Bars(
            bars.open[:600], bars.high[:600], bars.low[:600], bars.close[:600], bars.time[:600]
        )
    )
    assert res.annualization == 365 * 390 / 60


def test_dataframe_and_arrays_agree():
    pd = pytest.importorskip("pandas")
    path = data_file(BTC_1D)
    df = pd.read_csv(path)
    a = gammaext.backtest(df)
    b = gammaext.backtest(path)
    c = gammaext.backtest(
        (df.open.to_numpy(), df.high.to_numpy(), df.low.to_numpy(), df.close.to_numpy())
    )
    assert_array_equal(a.trades["pnl"], b.trades["pnl"])
    assert_array_equal(c.trades["pnl"], b.trades["pnl"])
    assert list(a.to_dataframe().columns)[:3] == ["trade_no", "direction", "entry_id"]
    assert len(a.equity_dataframe()) == len(df)


def test_array_validation_and_no_mutation():
    o, h, lo, c = (np.array(x) for x in prefix())
    copies = [x.copy() for x in (o, h, lo, c)]
    gammaext.backtest((o, h, lo, c))
    for x, y in zip((o, h, lo, c), copies):
        assert_array_equal(x, y)
    bad = h.copy()
    bad[5] = lo[5] - 1
    with pytest.raises(ValueError, match="bar 5: high < low"):
        gammaext.backtest((o, bad, lo, c))
    with pytest.raises(ValueError, match="exit_reissue"):
        gammaext.backtest((o, h, lo, c), exit_reissue="sometimes")
    with pytest.raises(TypeError, match="unknown strategy parameter"):
        gammaext.backtest((o, h, lo, c), stop_los=1)
    with pytest.raises(ValueError, match="hist_vol_period"):
        gammaext.backtest((o, h, lo, c), hist_vol_period=0)


def test_bars_always_valid_and_read_only():
    o, h, lo, c = (np.array(x) for x in prefix())
    with pytest.raises(ValueError, match="bar 3: prices must be finite"):
        gammaext.Bars(o, h, lo, np.where(np.arange(len(c)) == 3, np.nan, c))
    with pytest.raises(ValueError, match="time has 2 entries"):
        gammaext.Bars(o, h, lo, c, time=np.array(["2025-01-01", "2025-01-02"], "M8[D]"))
    bars = gammaext.Bars(o, h, lo, c)
    assert not bars.close.flags.writeable and bars.close is not c


def test_tick_too_coarse():
    x = np.full(30, 0.004)
    with pytest.raises(ValueError, match="mintick 0.01 is too coarse"):
        gammaext.backtest((x, x, x, x))
    assert gammaext.backtest((x, x, x, x), mintick=1e-6).summary["final_equity"] == 1e6


def test_params_match_core():
    from gammaext import _core

    p = StrategyParams()
    for name, default in zip(_core._bt_param_names(), _core._bt_param_defaults()):
        if name == "annualization":
            continue
        assert p.to_row(365.0)[list(_core._bt_param_names()).index(name)] == default, name


def test_plot():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    res = gammaext.backtest(scenario([(103.0, 111.0, 102.5, 104.0)] * 3))
    fig = res.plot()
    assert len(fig.axes) == 2
    plt.close(fig)


# ------------------------------------------------------------------ sweeps


def test_sweep_matches_backtest_and_threads(synthetic):
    grid = gammaext.param_grid(
        stop_loss_atr_mult=[1.0, 2.0, 3.0],
        take_profit_atr_mult=[2.0, 4.0],
        exit_reissue=["on_entry", "every_bar"],
    )
    one = gammaext.sweep(synthetic, grid, threads=1)
    two = gammaext.sweep([synthetic, synthetic], grid, threads=2)
    for name, v in one.metrics.items():
        assert_array_equal(v[0], two[name][0], err_msg=name)
        assert_array_equal(two[name][0], two[name][1], err_msg=name)
    for j, p in enumerate(grid):
        res = gammaext.backtest(synthetic, p)
        for name, value in res.summary.items():
            assert_array_equal(one[name][0, j], value, err_msg=name)
    df = pytest.importorskip("pandas") and one.to_dataframe()
    assert len(df) == len(grid)


def test_sweep_many_series_any_order(synthetic):
    # parameter sets given in an order the core regroups (hist-vol window descending)
    grid = [
        StrategyParams(hist_vol_period=k, stop_loss_atr_mult=1.0 + k / 10)
        for k in (30, 5, 20, 5, 12)
    ]
    other = scenario([(103.0, 111.0, 100.0, 100.5)] + [(100.5, 101.0, 100.0, 100.5)] * 30)
    sw = gammaext.sweep([synthetic, other], grid, threads=2)
    for i, series in enumerate([synthetic, other]):
        for j, p in enumerate(grid):
            assert sw["net_profit"][i, j] == gammaext.backtest(series, p).summary["net_profit"]


def test_sweep_empty_params():
    with pytest.raises(ValueError, match="empty"):
        gammaext.sweep(bars_from(*prefix()), [])
