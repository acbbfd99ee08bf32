"""Fuzzing the bar backtest, its CSV loader and the indicators.

Invariants: random OHLC arrays are either a valid series or a ValueError naming the bar;
random StrategyParams either run (finite equity, no crash) or raise ValueError/TypeError
naming the parameter; malformed CSV text (random lines and bytes, missing columns, bad numbers
and times, empty files) loads or raises ValueError naming the file line; indicators accept any
length >= 1 and any 1-D real series, keep its length and never crash. Inputs are never
modified. GAMMAEXT_FUZZ_EXAMPLES=N runs a longer profile (see test_fuzz.py)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, strategies as st
from hypothesis.extra import numpy as hnp
from test_fuzz import FUZZ, extreme

import gammaext
from gammaext import indicators as ind
from gammaext.backtest import Bars, StrategyParams, load_csv


@st.composite
def ohlc(draw, n_max=60, broken=True):
    """A random walk of bars, optionally broken (NaN, high < low, open outside the range...)."""
    n = draw(st.integers(1, n_max))
    steps = draw(hnp.arrays(np.float64, n, elements=st.floats(-0.1, 0.1)))
    close = 100 * np.exp(np.cumsum(steps))
    open_ = np.concatenate([[close[0]], close[:-1]])
    wick = draw(hnp.arrays(np.float64, n, elements=st.floats(0, 0.05)))
    high = np.maximum(open_, close) * (1 + wick)
    low = np.minimum(open_, close) * (1 - wick)
    cols = [open_, high, low, close]
    if broken and draw(st.booleans()):
        c = draw(st.integers(0, 3))
        i = draw(st.integers(0, n - 1))
        cols[c][i] = draw(st.one_of(extreme, st.floats(-1e3, 1e3)))
    return cols


@FUZZ
@given(cols=ohlc())
def test_random_bars_are_valid_or_name_the_bar(cols):
    copies = [c.copy() for c in cols]
    o, h, lo, c = cols
    with np.errstate(invalid="ignore"):
        valid = (np.isfinite(np.stack(cols)).all() and (np.stack(cols) > 0).all()
                 and (h >= lo).all() and ((lo <= o) & (o <= h) & (lo <= c) & (c <= h)).all())
    try:
        bars = Bars.from_arrays(*cols)
    except ValueError as exc:
        assert not valid and re.match(r"bar \d+: ", str(exc)), str(exc)
        return
    assert valid
    res = gammaext.backtest(bars, mintick=0.0)
    assert np.isfinite(res.equity["equity"]).all()
    for a, b in zip(cols, copies):
        np.testing.assert_array_equal(a, b)


NUMERIC = {
    "strike_offset_pct": st.floats(-50, 50), "days_to_expiry": st.floats(0, 400),
    "implied_vol": st.floats(0, 3), "risk_free_rate": st.floats(-0.1, 0.3),
    "dividend_yield": st.floats(-0.1, 0.3), "hist_vol_period": st.integers(1, 80),
    "vol_ratio_threshold": st.floats(0, 3), "vol_ratio_short": st.floats(0, 3),
    "gamma_scalp_threshold": st.floats(0, 3), "hedge_band_pct": st.floats(0, 50),
    "max_positions": st.integers(0, 10), "stop_loss_atr_mult": st.floats(0, 10),
    "take_profit_atr_mult": st.floats(0, 10), "max_drawdown_pct": st.floats(0, 100),
    "atr_period": st.integers(1, 80), "hist_vol_fallback": st.floats(0, 2),
    "initial_capital": st.floats(1, 1e9), "order_size_pct": st.floats(0.01, 100),
    "pyramiding": st.integers(0, 20), "commission_pct": st.floats(0, 1),
    "slippage_ticks": st.floats(0, 10), "mintick": st.sampled_from([0.0, 0.01, 1e-8]),
    "qty_step": st.sampled_from([0.0, 0.001, 1.0]),
    "backtest_fill_limits_assumption": st.floats(0, 5),
}
OPTIONS = {
    "exit_reissue": ["on_entry", "every_bar"], "tie_path": ["low_first", "high_first"],
    "entry_bar_gap": ["fill_at_open", "skip_leg"],
    "same_bar_opposite_entries": ["sequential", "last_only"],
    "sizing_basis": ["signal_close", "fill_open"],
}
FLAGS = ["use_vol_filter", "exits_on_entry_bar", "round_exit_levels", "reserve_commission",
         "close_at_end", "process_orders_on_close"]
BAD = [math.nan, math.inf, -math.inf, -1.0, 0, 1e300, -1e300, 0.5, "x", None, 2**70]


@st.composite
def strategy_params(draw, bad_rate=0.0):
    kw = {}
    for name, s in NUMERIC.items():
        if draw(st.integers(0, 3)) == 0:  # leave about a quarter at their defaults
            continue
        kw[name] = draw(st.sampled_from(BAD)) if draw(st.floats(0, 1)) < bad_rate else draw(s)
    for name, values in OPTIONS.items():
        kw[name] = draw(st.sampled_from(values))
    for name in FLAGS:
        kw[name] = draw(st.booleans())
    if bad_rate and draw(st.floats(0, 1)) < bad_rate:
        kw[draw(st.sampled_from([*OPTIONS, *FLAGS, "timeframe"]))] = draw(
            st.sampled_from(["nope", 7, None, "0", "60", "W"]))
    return kw


@FUZZ
@given(cols=ohlc(n_max=80, broken=False), kw=strategy_params())
def test_random_valid_params_run(cols, kw):
    res = gammaext.backtest(Bars.from_arrays(*cols), **kw)
    assert np.isfinite(res.equity["equity"]).all(), kw
    assert np.isfinite(res.summary["net_profit"])
    sw = gammaext.sweep(Bars.from_arrays(*cols), [StrategyParams(**kw)], threads=2)
    assert sw["net_profit"][0, 0] == res.summary["net_profit"]


@FUZZ
@given(cols=ohlc(n_max=30, broken=False), kw=strategy_params(bad_rate=0.2))
def test_random_invalid_params_name_the_parameter(cols, kw):
    try:
        res = gammaext.backtest(Bars.from_arrays(*cols), **kw)
    except (ValueError, TypeError) as exc:
        msg = str(exc)
        assert any(name in msg for name in kw) or "timeframe" in msg, (kw, msg)
        return
    assert len(res.equity["equity"]) == len(cols[0])


# ---------------------------------------------------------------------------------------------
# CSV


def good_csv(n: int, epoch: bool) -> list[str]:
    lines = ["open_time,open,high,low,close,volume"]
    for i in range(n):
        t = str(1_700_000_000_000 + i * 86_400_000) if epoch else f"2024-01-{i + 1:02d}"
        lines.append(f"{t},100,{101 + i % 3},99,100.5,{10 + i}")
    return lines


junk_field = st.one_of(
    st.sampled_from(["", "nan", "inf", "-1", "0", "1e400", "abc", "2024-13-45",
                     "99999999999999999999", "-99999999999999999999", "1e5",
                     "2024-01-01T00:00:00+99:99", "9999-12-31",
                     "1,2", '"', "\x00", "\ufeff", "2024-02-30"]),
    st.text(max_size=12),
)


@st.composite
def malformed_csv(draw):
    lines = good_csv(draw(st.integers(0, 25)), draw(st.booleans()))
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["field", "line", "drop_col", "dup", "swap", "cut"]))
        if len(lines) < 2 and op != "line":
            continue
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        if op == "field":
            fields = lines[i].split(",")
            fields[draw(st.integers(0, len(fields) - 1))] = draw(junk_field)
            lines[i] = ",".join(fields)
        elif op == "line":
            lines.insert(i, draw(st.text(max_size=30)))
        elif op == "drop_col":
            j = draw(st.integers(0, 5))
            lines = [",".join(f for k, f in enumerate(ln.split(",")) if k != j) for ln in lines]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        else:
            lines = lines[:i]
    data = "\n".join(lines).encode("utf-8", "surrogatepass")
    if draw(st.integers(0, 5)) == 0:
        data = draw(st.binary(max_size=200)) if draw(st.booleans()) else data + draw(
            st.binary(max_size=20))
    return data


@FUZZ
@given(data=malformed_csv())
def test_malformed_csv_raises_value_error_naming_the_line(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("csv") / "bars.csv"
    path.write_bytes(data)
    try:
        bars = load_csv(path)
    except ValueError as exc:
        msg = str(exc)
        assert msg.startswith("bars.csv"), msg
        assert re.search(r"line \d+|empty file", msg), msg
        return
    assert len(bars) >= 1 and bars.first_problem() is None


def test_csv_error_cases_from_fuzzing(tmp_path):
    path = tmp_path / "b.csv"
    cases = {
        b"": "empty file",
        b"open_time,open,high,low,close\n": "no bars after the header",
        b"time,open,high,low\n1,2,3,1\n": "line 1: missing column",
        b"time,open,high,low,close\n2024-01-01,1,2,1\n": "line 2: 4 fields",
        b"time,open,high,low,close\n2024-01-01,1,2,x,1\n": "line 2: low value 'x'",
        b"time,open,high,low,close\n2024-01-01,1,2,3,1\n": "line 2: high 2.0 < low 3.0",
        b"time,open,high,low,close\nyesterday,1,2,1,1\n": "line 2: 'yesterday'",
        b"time,open,high,low,close\n99999999999999999999,1,2,1,1\n": "line 2:",
        b"time,open,high,low,close\n\xff\xfe,1,2,1,1\n": "line 2:",
        b"time,open,high,low,close\n2024-01-01T00:00+99:99,1,2,1,1\n": "line 2:",
        b"time,open,high,low,close\n9999-12-31,1,2,1,1\n": "line 2:",
    }
    for data, want in cases.items():
        path.write_bytes(data)
        with pytest.raises(ValueError, match=re.escape(want)):
            load_csv(path)


# ---------------------------------------------------------------------------------------------
# Indicators


series = hnp.arrays(np.float64, st.integers(0, 50),
                    elements=st.one_of(st.floats(1e-3, 1e4), extreme))
lengths = st.one_of(st.integers(-3, 70), st.sampled_from([10**9, 2**62, 2**63, 2**100]))


@FUZZ
@given(x=series, length=lengths, dtype=st.sampled_from([np.float64, np.float32, np.int64]))
def test_indicators_with_random_lengths(x, length, dtype):
    with np.errstate(all="ignore"):
        x = x.astype(dtype)
    copy = x.copy()
    calls = {
        "stdev": lambda: ind.stdev(x, length), "rma": lambda: ind.rma(x, length),
        "atr": lambda: ind.atr(x, x, x, length), "hist_vol": lambda: ind.hist_vol(x, length),
        "efficiency_ratio": lambda: ind.efficiency_ratio(x, length),
    }
    for name, call in calls.items():
        if not 1 <= length <= 2**62:
            with pytest.raises(ValueError, match="length|period"):
                call()
            continue
        out = call()
        assert out.shape == x.shape, name
        if name == "efficiency_ratio":
            ok = ~np.isnan(out)
            assert ((out[ok] >= 0) & (out[ok] <= 1 + 1e-12)).all()
    for out in (ind.log_returns(x), ind.true_range(x, x, x), *ind.straddle_greeks(x),
                ind.vol_regime(x)):
        assert out.shape == x.shape
    np.testing.assert_array_equal(x, copy)


@pytest.mark.parametrize("bad", [np.ones((2, 2)), np.array(["a"]), 3.0], ids=["2d", "str", "0d"])
def test_indicators_reject_non_series(bad):
    with pytest.raises((ValueError, TypeError), match="src"):
        ind.stdev(bad, 3)
