"""What a new user trips over: inputs that must be refused with an error naming the argument,
output that must be readable, and two backtest accounting details. One regression test per
item found by trying the project from a fresh clone."""

from __future__ import annotations

import json
import math
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest
from conftest import data_file
from test_cli import run

import gammaext as g
from gammaext import lab
from gammaext.backtest import Bars, StrategyParams, load_csv
from gammaext.config import ConfigError, parse_config
from gammaext.reference import hedging as R

HUGE = 10**400


def walk(n: int = 120, seed: int = 3, scale: float = 100.0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    c = scale * np.exp(np.cumsum(rng.normal(0, 0.03, n)))
    o = np.concatenate([[c[0]], c[:-1]])
    return o, np.maximum(o, c) * 1.01, np.minimum(o, c) * 0.99, c


def times(n: int) -> np.ndarray:
    return np.datetime64("2024-01-01", "ns") + np.arange(n) * np.timedelta64(1, "D")


# ------------------------------------------------------------------ huge Python ints


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: g.price(HUGE, 100, 1, 0.2), "spot"),
        (lambda: g.greeks(100, [100, HUGE], 1, 0.2), "strike"),
        (lambda: g.implied_vol(HUGE, 100, 100, 1), "price"),
        (lambda: g.simulate_hedge(g.GBM(), n_paths=1, n_steps=2**63 - 1), "n_steps"),
        (lambda: g.simulate_hedge(g.GBM(), n_paths=2**63, n_steps=2), "n_paths"),
        (lambda: g.simulate_hedge(g.GBM(), n_paths=2, n_steps=2, first_path=2**63), "first_path"),
        (lambda: g.simulate_hedge(g.GBM(), n_paths=4, n_steps=10, trace=[2**63]), "trace"),
        (lambda: g.compare_rules({"m": g.Move(0.01)}, [lab.Scenario("s", g.GBM(),
                                                                    n_steps=2**63 - 1)]),
         "n_steps"),
        (lambda: g.Position(vol=HUGE), "vol"),
        (lambda: g.Move(HUGE), "threshold"),
    ],
)
def test_huge_ints_raise_value_error_naming_the_argument(call, name):
    with pytest.raises(ValueError, match=name):
        call()


def test_huge_ints_in_the_backtest_name_the_parameter():
    bars = Bars.from_arrays(*walk(), time=times(120))
    with pytest.raises(ValueError, match="mintick"):
        g.sweep(bars, [{"mintick": HUGE}])
    with pytest.raises(ValueError, match="timeframe"):
        g.backtest(bars, timeframe="9" * 400)
    with pytest.raises(ValueError, match="start_time"):
        g.backtest(bars, start_time=10**30)


@pytest.mark.parametrize("scale", [1e300, 1e307])
def test_prices_near_the_float_limit_give_the_same_answer_in_backtest_and_sweep(scale):
    bars = walk(scale=scale)
    errors = []
    for call in (g.backtest, g.sweep):
        with pytest.raises(ValueError, match="mintick") as exc:
            call(bars)
        errors.append(str(exc.value))
    assert errors[0] == errors[1]
    res = g.backtest(bars, mintick=0)  # without tick rounding they run
    assert res.n_trades > 0 and np.isfinite(res.equity["equity"]).all()
    assert g.sweep(bars, {"mintick": 0})["net_profit"][0, 0] == res.summary["net_profit"]


# ------------------------------------------------------------------ StrategyParams


@pytest.mark.parametrize(
    "kw, match",
    [
        ({"order_size_pct": math.inf}, "order_size_pct must be finite"),
        ({"hist_vol_fallback": math.inf}, "hist_vol_fallback must be finite"),
        ({"take_profit_atr_mult": math.inf}, "take_profit_atr_mult must be finite"),
        ({"stop_loss_atr_mult": -2.0}, "stop_loss_atr_mult must be >= 0"),
        ({"take_profit_atr_mult": -1.0}, "take_profit_atr_mult must be >= 0"),
        ({"hedge_band_pct": -1.0}, "hedge_band_pct must be >= 0"),
        ({"strike_offset_pct": -100.0}, "strike_offset_pct must be > -100"),
        ({"max_drawdown_pct": -5.0}, "max_drawdown_pct must be >= 0"),
        ({"mintick": "0.01"}, "mintick must be a number"),
    ],
)
def test_invalid_strategy_params_raise_at_construction(kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        StrategyParams(**kw)
    with pytest.raises((ValueError, TypeError), match=match):
        g.sweep(walk(), [kw])


def test_the_fuzz_case_that_warned_now_raises():
    # was RuntimeWarning: invalid value encountered in divide (pnl / notional)
    kw = {"order_size_pct": math.inf, "hist_vol_fallback": math.inf,
          "take_profit_atr_mult": math.inf, "commission_pct": 1.0}
    with pytest.raises(ValueError, match="must be finite"):
        g.backtest(walk(30), **kw)


def test_pnl_pct_of_a_zero_quantity_trade_is_nan_without_warning():
    from gammaext.backtest import _trade_columns

    one = np.array([1], dtype=np.int64)
    raw = {"pnl": np.array([0.0]), "dir": one, "entry_price": np.array([100.0]),
           "qty": np.array([0.0]), "signal_bar": one * 0, "exit_signal_bar": one * 0,
           "exit_reason": one * 0, "entry_bar": one * 0, "exit_bar": one * 0,
           "exit_price": np.array([100.0]), "stop": np.array([90.0]),
           "limit": np.array([110.0]), "entry_fee": np.array([0.0]),
           "exit_fee": np.array([0.0]), "run_up": np.array([0.0]),
           "drawdown": np.array([0.0])}
    ind = {"straddle_delta": np.zeros(2), "straddle_gamma": np.zeros(2)}
    bars = Bars.from_arrays(*(np.full(2, 100.0) for _ in range(4)))
    out = _trade_columns(raw, bars, ind, False)  # warnings are errors in the test suite
    assert np.isnan(out["pnl_pct"][0])


def test_start_time_after_the_last_bar_raises():
    bars = Bars.from_arrays(*walk(), time=times(120))
    with pytest.raises(ValueError, match="start_time .* after the last bar"):
        g.backtest(bars, start_time="2030-01-01")
    with pytest.raises(ValueError, match="start_time .* after the last bar"):
        g.sweep(bars, start_time="2030-01-01")
    assert g.backtest(bars, start_time=str(times(120)[-1])).start_index == 119


# ------------------------------------------------------------------ hedging objects


def test_position_warns_on_percent_and_refuses_strings():
    with pytest.warns(g.InputWarning, match="vol is 20"):
        g.Position(vol=20)
    with pytest.warns(g.InputWarning, match="rate is 5"):
        g.Position(rate=5)
    with pytest.warns(g.InputWarning, match="hedge_vol"):
        g.Position(hedge_vol=25)
    with pytest.warns(g.InputWarning, match="vol is 30"):
        g.Position(vol=[0.2, 30.0])
    with pytest.warns(g.InputWarning, match="vol is 20"):  # a flat surface too (review)
        g.Position(vol=g.VolSurface.flat(20.0))
    with pytest.raises(ValueError, match="atm must be a rectangular array"):
        g.Position(vol=0.2, atm=[[0.2, 0.2], [0.2]])
    with pytest.raises(TypeError, match="OptionHedge every must be an integer"):
        g.OptionHedge(every=True)
    with pytest.raises(TypeError, match="vol must be a number"):
        g.Position(vol="0.2")
    with pytest.raises(TypeError, match="rate must be a real number"):
        g.Position(rate="0.01")
    g.Position(vol=9.0)  # 900% is possible (no warning: warnings are errors here)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: g.Position(hedge_vol="historical"), "hedge_vol must be"),
        (lambda: g.Position(hedge_vol=-0.2), "hedge_vol must be > 0"),
        (lambda: g.HedgeVol("garch"), "HedgeVol kind"),
        (lambda: g.HedgeVol(length=0), "HedgeVol length"),
        (lambda: g.HedgeVol(length=math.inf), "HedgeVol length"),
        (lambda: g.HedgeVol("window", 7.5), "HedgeVol length"),
        (lambda: g.HedgeVol(warmup=0), "HedgeVol warmup"),
        (lambda: g.HedgeVol(floor=0.0), "HedgeVol floor"),
        (lambda: g.HedgeVol(floor=math.nan), "HedgeVol floor"),
    ],
)
def test_bad_hedge_vols_name_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


@pytest.mark.parametrize("bad", [1, 1.5, 0, -0.01, True])
def test_move_threshold_is_a_fraction(bad):
    with pytest.raises((ValueError, TypeError), match="threshold"):
        g.Move(bad)


def test_accounting_switches_are_booleans():
    with pytest.raises(TypeError, match="accounting.financing must be True or False"):
        g.Accounting(financing="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="initial_hedge"):
        g.Accounting(initial_hedge=2)  # type: ignore[arg-type]
    g.Accounting(financing=np.bool_(False))


def test_reference_starts_at_the_spot_exactly():
    # exp(log(spot)) is an ulp off; at the money with a tiny implied vol that flips the
    # strike-vs-spot comparison (the reference gave 2.6850 where the engine gives 2.1773)
    pos = g.Position(vol=1e-20)
    want = g.simulate_hedge(g.GBM(), position=pos, n_paths=3, n_steps=10)
    got = R.simulate_hedge(g.GBM(), position=pos, n_paths=3, n_steps=10)
    np.testing.assert_allclose(got["pnl"], want.pnl, rtol=1e-12)
    prep = g.hedging.prepare(g.Oscillation(), n_paths=2, n_steps=5, position=pos)
    assert (R.generate_paths(prep)[0][:, 0] == 100.0).all()


# ------------------------------------------------------------------ lab configs

BASE = {"rules": {"clock": {"type": "every_k"}}}


@pytest.mark.parametrize(
    "scenario, extra, key",
    [
        ({"kind": "gbm", "n_steps": 0}, {}, "scenarios.s.n_steps"),
        ({"kind": "gbm", "n_steps": 9223372036854775807}, {}, "scenarios.s.n_steps"),
        ({"kind": "gbm", "dt": -1}, {}, "scenarios.s.dt"),
        ({"kind": "gbm", "implied_vol": -0.1}, {}, "scenarios.s.implied_vol"),
        ({"kind": "jumps", "intensity": 1e7}, {}, "scenarios.s.intensity"),
        ({"kind": "gbm", "n_steps": 10}, {"position": {"vol": [0.2] * 3}}, "position.vol"),
        ({"kind": "gbm"}, {"accounting": {"financing": "yes"}}, "accounting.financing"),
        ({"kind": "gbm"}, {"rules": {"m": {"type": "move", "threshold": True}}},
         "rules.m.threshold"),
        ({"kind": "gbm"}, {"sweep": {"family": "clock", "values": [1.5]}}, "sweep.values"),
        ({"kind": "noisy", "size": "big"}, {}, "scenarios.s.size"),
        ({"kind": "heston", "foo": 1}, {}, "scenarios.s.foo"),
    ],
)
def test_bad_configs_name_the_key(scenario, extra, key):
    cfg = {**BASE, "scenarios": {"s": scenario}, **extra}
    with pytest.raises(ConfigError) as exc:
        parse_config(cfg)
    assert exc.value.key == key, str(exc.value)


def test_unknown_scenario_key_lists_the_allowed_ones():
    with pytest.raises(ConfigError, match="allowed: .*kappa.*xi"):
        parse_config({**BASE, "scenarios": {"s": {"kind": "heston", "foo": 1}}})


def test_clock_sweep_takes_whole_numbers_only():
    assert list(lab.sweep_rules("clock", [1, 2.0])) == ["clock=1", "clock=2"]
    with pytest.raises(ValueError, match="whole numbers"):
        lab.sweep_rules("clock", [1.5])


def test_bad_config_exits_2_naming_the_key(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[rules.c]\ntype = "every_k"\n[scenarios.s]\nkind = "gbm"\nn_steps = 0\n')
    r = run("rules", str(f), "--out", str(tmp_path / "o"), "--no-plots")
    assert r.returncode == 2 and "scenarios.s.n_steps" in r.stderr, r.stderr


def test_percent_vol_in_a_config_warns_on_one_line(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[experiment]\nn_paths = 64\n[position]\nvol = 20\n'
                 '[rules.c]\ntype = "every_k"\n[scenarios.s]\nkind = "gbm"\nn_steps = 5\n')
    r = run("rules", str(f), "--out", str(tmp_path / "o"), "--no-plots", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "gammaext rules: warning: vol is 20.0, above 10" in r.stderr
    assert "return cls(" not in r.stderr  # no Python source excerpt


# ------------------------------------------------------------------ CSV


def test_csv_duplicate_columns_and_mixed_zones(tmp_path):
    f = tmp_path / "bars.csv"
    f.write_text("time,open,high,low,close,close\n2024-01-01,1,2,1,1,1\n")
    with pytest.raises(ValueError, match=r"^bars.csv line 1: duplicate column 'close'"):
        load_csv(f)
    f.write_text("time,open,high,low,close\n2024-01-01T00:00:00Z,1,2,1,1\n"
                 "2024-01-02T00:00:00,1,2,1,1\n")
    with pytest.raises(ValueError, match=r"^bars.csv line 3: .*UTC offset"):
        load_csv(f)
    with pytest.raises(ValueError, match="time 1: .*UTC offset"):
        Bars.from_arrays([1, 1], [2, 2], [1, 1], [1, 1],
                         time=["2024-01-01T00:00:00+01:00", "2024-01-02T00:00:00"])


@pytest.mark.parametrize(
    "text, want",
    [
        ("2024-01-01 00:00:00 +01:00", "2023-12-31T23:00"),
        ("2024-01-01T00:00:00+01", "2023-12-31T23:00"),
        ("2024-01-01T00:00:00 UTC", "2024-01-01T00:00"),
        ("2024-01-01", "2024-01-01T00:00"),
    ],
)
def test_utc_offset_forms(text, want):
    from gammaext.backtest import _parse_time

    assert str(_parse_time(text, None)).startswith(want)


def test_cli_names_the_file_once(tmp_path):
    f = tmp_path / "bad1.csv"
    f.write_text("time,open,high,low,close\n2024-01-01,1,2,1,1\nxx,1,2,1,1\n")
    r = run("backtest", str(f), "--out", str(tmp_path / "o"), "--no-plots")
    assert r.returncode == 2
    assert r.stderr.count("bad1.csv") == 1 and "line 3" in r.stderr, r.stderr


# ------------------------------------------------------------------ CLI and output


def test_backtest_cli_writes_trades_metrics_and_equity(tmp_path):
    f = data_file("btc_usdt_1d.csv")
    out = tmp_path / "o"
    r = run("backtest", str(f), "--out", str(out), "--currency", "USDT",
            "--set", "commission_pct=0.1")
    assert r.returncode == 0, r.stderr
    res = g.backtest(f, commission_pct=0.1)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["summary"]["net_profit"] == res.summary["net_profit"]
    assert metrics["params"]["commission_pct"] == 0.1
    trades = (out / "trades.csv").read_text().splitlines()
    assert len(trades) == 1 + res.n_trades + len(res.open_trades["pnl"])
    header = (out / "equity.csv").read_text().splitlines()[0].split(",")
    assert header.count("time") == 1 and header[0] == "time"
    final = f"{res.summary['final_equity']:,.2f}"
    assert re.search(rf"final_equity\s+{re.escape(final)}$", r.stdout, re.M), r.stdout
    assert "e+06" not in r.stdout


def test_backtest_plot_has_markers_title_and_currency():
    pytest.importorskip("matplotlib")
    from gammaext import plots

    res = g.backtest(walk(300), mintick=0)
    assert res.n_trades > 0
    fig = plots.plot_equity(res, currency="USDT")
    price_ax, equity_ax = fig.axes[:2]
    assert len(price_ax.collections) == 3  # long entries, short entries, exits
    assert "USDT" in price_ax.get_ylabel() and "USDT" in equity_ax.get_ylabel()
    assert "net profit" in fig._suptitle.get_text()


def test_sweep_cli_from_the_command_line_and_toml(tmp_path):
    bars = tmp_path / "bars.csv"
    o, h, lo, c = walk(200)
    lines = ["time,open,high,low,close"] + [
        f"{str(t)[:10]},{float(a)!r},{float(b)!r},{float(d)!r},{float(e)!r}"
        for t, a, b, d, e in zip(times(200), o, h, lo, c)
    ]
    bars.write_text("\n".join(lines) + "\n")
    r = run("sweep", str(bars), "--grid", "stop_loss_atr_mult=1,2", "--grid",
            "take_profit_atr_mult=2,3,4", "--set", "mintick=0", "--out", str(tmp_path / "a"))
    assert r.returncode == 0, r.stderr
    rows = (tmp_path / "a" / "sweep.csv").read_text().splitlines()
    assert len(rows) == 1 + 6 and rows[0].startswith("file,stop_loss_atr_mult,take_profit")
    want = g.backtest(bars, stop_loss_atr_mult=2, take_profit_atr_mult=4, mintick=0)
    row = next(x.split(",") for x in rows[1:] if x.split(",")[1:3] == ["2", "4"])
    assert float(row[3 + list(want.summary).index("net_profit")]) == want.summary["net_profit"]
    grid = tmp_path / "grid.toml"
    grid.write_text("[grid]\nstop_loss_atr_mult = [1.0, 2.0]\n")
    r = run("sweep", str(bars), "--grid-file", str(grid), "--set", "mintick=0",
            "--out", str(tmp_path / "b"))
    assert r.returncode == 0, r.stderr
    assert len((tmp_path / "b" / "sweep.csv").read_text().splitlines()) == 3
    r = run("sweep", str(bars), "--grid", "stop_loss_atr_mult=-1", "--out", str(tmp_path / "c"))
    assert r.returncode == 2 and "stop_loss_atr_mult" in r.stderr


def test_closed_pipe_is_quiet():
    with subprocess.Popen([sys.executable, "-m", "gammaext", "demo"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as p:
        assert p.stdout is not None and p.stderr is not None
        p.stdout.close()  # the reader goes away before the first line
        err = p.stderr.read().decode()
        assert p.wait(timeout=60) == 141
    assert "Broken pipe" not in err and "Traceback" not in err


def test_demo_states_units():
    r = run("demo")
    assert r.returncode == 0
    assert re.search(r"^theta .*per year", r.stdout, re.M)
    assert re.search(r"^vega .*per 1.00 of vol", r.stdout, re.M)


def test_reprs_are_short():
    res = g.backtest(walk(300), mintick=0)
    text = repr(res)
    assert len(text) < 600 and "BacktestResult" in text and "closed trades" in text
    assert str(res) == text
    lr = g.compare_rules({"clock": g.EveryK(1), "move": g.Move(0.01)}, ["gbm"], n_paths=256,
                         output="numpy", progress=False)
    assert hasattr(lr, "dtype")
    exp = lab.run_experiment({"clock": g.EveryK(1)}, ["gbm"], n_paths=256, progress=False)
    text = repr(exp)
    assert len(text) < 600 and "LabResult" in text and "+-" in text and "sums" not in text


def test_dask_run_says_so(capsys):
    pytest.importorskip("dask.distributed")
    from dask.distributed import LocalCluster

    from gammaext.cli import _client

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                      dashboard_address=":0") as cluster:
        _client(cluster.scheduler_address).close()
    assert "running on the Dask scheduler inproc://" in capsys.readouterr().out


# ------------------------------------------------------------------ backtest accounting


def test_trade_drawdown_covers_the_loss_to_the_slipped_exit():
    f = data_file("btc_usdt_1d.csv")
    res = g.backtest(f, commission_pct=0.1, slippage_ticks=3)
    tr = res.trades
    price_loss = -(tr["pnl"] + tr["commission"])  # entry fill to exit fill, fees apart
    assert (tr["drawdown"] >= price_loss - 1e-9 * np.abs(price_loss)).all()
    assert (tr["run_up"] >= -price_loss - 1e-9 * np.abs(price_loss)).all()


def test_close_at_end_last_row_is_after_the_close():
    f = data_file("btc_usdt_1d.csv")
    res = g.backtest(f, close_at_end=True)
    eq = res.equity
    final = res.params.initial_capital + res.summary["net_profit"]
    assert eq["realized_equity"][-1] == pytest.approx(final, rel=1e-15)
    assert eq["equity"][-1] == eq["realized_equity"][-1]
    assert eq["position_size"][-1] == 0.0 and eq["open_profit"][-1] == 0.0
    assert res.summary["final_equity"] == pytest.approx(final, rel=1e-15)


@pytest.mark.parametrize(("kind", "stored"), [("Call", "call"), ("P", "put"), ("put", "put")])
def test_leg_kind_takes_the_words_greeks_takes(kind, stored):
    """Leg(kind) accepts what greeks(is_call=) accepts ("call"/"put"/"c"/"p", any case)."""
    leg = g.Leg(kind)
    assert leg.kind == stored
    assert g.Position(legs=(leg,), vol=0.2) == g.Position(
        legs=(g.Leg(stored),), vol=0.2
    )
    with pytest.raises(ValueError, match="Leg kind must be 'call' or 'put'"):
        g.Leg("straddle")
    with pytest.raises(ValueError, match="Leg kind must be 'call' or 'put'"):
        g.Leg(1)  # type: ignore[arg-type]
    assert g.OptionHedge(kind).kind == stored  # the option hedge spells its kind alike
    with pytest.raises(ValueError, match="OptionHedge kind must be 'call' or 'put'"):
        g.OptionHedge("straddle")  # type: ignore[arg-type]


def test_config_error_survives_pickling():
    """As a Dask worker's error reaches the client: with its key and message."""
    err = pickle.loads(pickle.dumps(ConfigError("rules.move.threshold", "must lie in (0, 1)")))
    assert isinstance(err, ConfigError)
    assert (err.key, err.message) == ("rules.move.threshold", "must lie in (0, 1)")
    assert str(err) == "rules.move.threshold: must lie in (0, 1)"


def test_a_half_spread_that_looks_like_basis_points_warns():
    kw = {"rule": g.Move(0.01), "n_paths": 10, "n_steps": 5, "position": g.Position(vol=0.2)}
    with pytest.warns(g.InputWarning, match=r"half_spread=2\) is 2% of the first price 100"):
        g.simulate_hedge(g.GBM(), costs=g.Costs(half_spread=2.0), **kw)
    g.simulate_hedge(g.GBM(), costs=g.Costs(half_spread=0.05), **kw)  # 5 cents: no warning
