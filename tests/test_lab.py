"""The gamma-scalping lab: exact chunk statistics, compare_rules, scenarios, sweeps, plots,
progress and interruption, TOML configs, Dask scale-out."""

from __future__ import annotations

import importlib.util
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from conftest import data_file
from hypothesis import given, settings, strategies as st
from test_fuzz import FUZZ

import gammaext as g
from gammaext import config, lab

RULES = {"clock": g.EveryK(1), "move": g.Move(0.01)}
SMALL = {"n_paths": 600, "progress": False, "output": "numpy"}


def _fields_equal(a: np.ndarray, b: np.ndarray) -> None:
    """Bit-for-bit equality of two tables (NaN equal to NaN)."""
    assert a.dtype.names == b.dtype.names
    for name in a.dtype.names:
        if a.dtype[name].kind == "f":
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
        else:
            assert list(a[name]) == list(b[name]), name


# --------------------------------------------------------------------------------------------
# exact sums


def _as_fraction(s: tuple[int, int]) -> Fraction:
    return lab._frac(s)


def test_exact_sums_match_rational_sum(rng):
    x = np.vstack(
        [
            rng.standard_normal(5000) * 1e3 + 7,
            np.r_[1e300, -1e300, 5e-324, rng.standard_normal(4997) * 1e-200],
            np.zeros(5000),
        ]
    )
    for row, s in zip(x, lab.exact_sums(x)):
        assert _as_fraction(s) == sum((Fraction(v) for v in row.tolist()), Fraction(0))
        assert float(_as_fraction(s)) == math.fsum(row)  # correctly rounded


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False),
        min_size=1,
        max_size=60,
    ),
    st.integers(min_value=0, max_value=60),
)
def test_exact_sums_merge_is_exact_and_order_free(values, cut):
    x = np.asarray(values)
    cut = min(cut, x.size)
    whole = lab.exact_sums(x[None, :])[0]
    parts = lab._add(lab.exact_sums(x[None, cut:])[0], lab.exact_sums(x[None, :cut])[0])
    assert _as_fraction(whole) == _as_fraction(parts)
    assert float(_as_fraction(whole)) == math.fsum(values)


# --------------------------------------------------------------------------------------------
# the quantile sketch

SKETCH_TOL = 2.0 ** -(lab.SKETCH_BITS + 1) * (1 + 1e-9)


@FUZZ
@given(
    values=st.lists(st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False), min_size=1,
                    max_size=300),
    q=st.floats(0, 1),
    cut=st.integers(0, 300),
)
def test_sketch_quantiles_within_the_bound_and_merge_in_any_order(values, q, cut):
    x = np.asarray(values)
    sk = lab.Sketch.of(x)
    a, b = lab.Sketch.of(x[:cut]), lab.Sketch.of(x[cut:])
    for merged in (lab.Sketch.merge([a, b]), lab.Sketch.merge([b, a])):
        np.testing.assert_array_equal(merged.keys, sk.keys)
        np.testing.assert_array_equal(merged.counts, sk.counts)
    xs = np.sort(x)
    r = q * (x.size - 1)
    lo, hi = xs[int(np.floor(r))], xs[int(np.ceil(r))]
    bound = SKETCH_TOL * max(abs(lo), abs(hi))
    assert abs(sk.quantile(q) - np.quantile(x, q)) <= bound + 1e-300
    k = max(1, int(np.ceil(0.05 * x.size)))
    tail = xs[:k]
    assert abs(sk.lower_mean(k) - tail.mean()) <= SKETCH_TOL * np.abs(tail).mean() * 1.001 + 1e-9


def test_sketch_size_does_not_grow_with_paths():
    rng = np.random.default_rng(0)
    small = lab.Sketch.of(rng.normal(0, 3, 10_000))
    big = lab.Sketch.merge([lab.Sketch.of(rng.normal(0, 3, 1_000_000)) for _ in range(4)])
    assert big.n == 4_000_000 and small.n == 10_000
    # bounded by the binades spanned, not by the count: 2 * 1024 buckets per binade
    assert big.keys.size < 2 * 2**lab.SKETCH_BITS * 30
    assert big.keys.size < 5 * small.keys.size
    assert lab.Sketch.of(np.array([0.0, -0.0, np.nan, np.inf])).n == 2  # zeros kept, exact


# --------------------------------------------------------------------------------------------
# compare_rules


def test_table_layout_and_agreement_with_engine_summary():
    tab = lab.compare_rules(RULES, ["gbm_equal", "trend"], costs=g.Costs(bps=1), seed=3, **SMALL)
    assert isinstance(tab, np.ndarray) and tab.size == 4
    assert list(zip(tab["scenario"], tab["rule"])) == [
        ("gbm_equal", "clock"),
        ("gbm_equal", "move"),
        ("trend", "clock"),
        ("trend", "move"),
    ]
    for col in (
        "pnl_ci_low",
        "gamma_std",
        "residual_mean",
        "diff_ci_high",
        "rebalances_mean",
        "turnover_mean",
        "rolls_mean",
        "cost_mean",
        "pnl_cvar05",
        "sharpe",
        "pnl_q50",
        "partial",
    ):
        assert col in tab.dtype.names
    assert not tab["partial"].any()
    # the same paths through the engine directly
    res = g.simulate_rules(g.GBM(vol=0.2), RULES, costs=g.Costs(bps=1), n_paths=600, seed=3)
    for k, name in enumerate(RULES):
        s = res[name].summary()
        row = tab[k]
        for key in (
            "pnl_mean",
            "pnl_std",
            "gamma_mean",
            "theta_std",
            "costs_mean",
            "rebalances_mean",
            "turnover_mean",
            "sharpe",
        ):
            # the lab sums exactly (correctly rounded); numpy's pairwise sums differ by a few ulp
            np.testing.assert_allclose(row[key], s[key], rtol=1e-12, atol=1e-14, err_msg=key)
        for key in ("pnl_cvar05", "pnl_q05", "pnl_q50", "pnl_q95"):
            # from the sketch: bucket midpoints, within 2**-(SKETCH_BITS + 1) of each value
            np.testing.assert_allclose(row[key], s[key], rtol=SKETCH_TOL, err_msg=key)
        assert row["cost_mean"] == -row["costs_mean"]
        diff = res[name].pnl - res["clock"].pnl
        np.testing.assert_allclose(row["diff_mean"], diff.mean(), rtol=1e-10, atol=1e-15)


def test_pandas_output_has_attrs():
    pd = pytest.importorskip("pandas")
    tab = lab.compare_rules(RULES, ["trend"], n_paths=200, progress=False, seed=1)
    assert isinstance(tab, pd.DataFrame)
    assert tab.attrs["partial"] is False and tab.attrs["baseline"] == "clock"
    assert len(tab) == 2


@pytest.mark.parametrize(
    "kw",
    [{"chunk_size": 1}, {"chunk_size": 97}, {"chunk_size": 600, "threads": 1}, {"threads": 2}],
    ids=["chunk1", "chunk97", "one-chunk-1thread", "2threads"],
)
def test_chunking_and_threads_do_not_change_a_bit(kw):
    scen = ["oscillation", "noisy"]
    ref = lab.compare_rules(RULES, scen, seed=11, **SMALL)
    got = lab.compare_rules(RULES, scen, seed=11, **SMALL, **kw)
    _fields_equal(ref, got)


def test_common_random_numbers_and_baseline():
    tab = lab.compare_rules(
        {"move": g.Move(0.01), "clock": g.EveryK(1)}, ["noisy"], baseline="clock", seed=5, **SMALL
    )
    rows = {r["rule"]: r for r in lab.table_rows(tab)}
    assert rows["clock"]["diff_mean"] == 0 and rows["clock"]["diff_std"] == 0
    # paired difference: far tighter than the difference of two independent means
    assert rows["move"]["diff_stderr"] < 0.5 * rows["move"]["pnl_stderr"]


def test_lab_conclusions():
    """The seed's conclusions: oscillation earns, trend bleeds (every rule of the lab), and
    hedging on moves beats hedging on the clock under a spread (paired 95% CI above 0)."""
    d = lab.default_lab()
    tab = lab.compare_rules(n_paths=3000, progress=False, **d)
    checks = lab.check_conclusions(tab)
    assert set(checks) == {"oscillation > 0 > trend", "move beats clock under spread"}
    for name, (ok, detail) in checks.items():
        assert ok, (name, detail)


# --------------------------------------------------------------------------------------------
# scenarios


@pytest.mark.parametrize("kind", sorted(set(lab.SCENARIOS) - {"user", "bootstrap"}))
def test_builtin_scenarios_run(kind):
    tab = lab.compare_rules(
        RULES, [lab.scenario(kind, n_steps=50)], seed=2, n_paths=64, progress=False, output="numpy"
    )
    assert tab.size == 2 and np.isfinite(tab["pnl_mean"]).all()


def test_realized_vs_implied_sign():
    tab = lab.compare_rules(
        {"clock": g.EveryK(1)},
        ["gbm_above", "gbm_equal", "gbm_below"],
        seed=4,
        n_paths=2000,
        progress=False,
        output="numpy",
    )
    above, equal, below = tab["pnl_mean"]
    se = tab["pnl_stderr"]
    assert above > 5 * se[0] and below < -5 * se[2] and abs(equal) < 5 * se[1]


def test_scenario_implied_vol_follows_position():
    """gbm_above is relative: 1.25 x whatever implied vol the position has."""
    tab = lab.compare_rules(
        {"clock": g.EveryK(1)},
        ["gbm_above"],
        seed=4,
        n_paths=500,
        position=g.Position(vol=0.4),
        progress=False,
        output="numpy",
    )
    np.testing.assert_allclose(tab["realized_vol_mean"][0], 0.5, rtol=0.02)  # ~1/sqrt(2*252*500)


def test_bootstrap_scenario_of_real_series():
    path = data_file("btc_usdt_1h.csv")
    closes = lab.load_closes(path)
    sc = lab.scenario("bootstrap", file=path, n_steps=24 * 7)
    assert sc.implied_vol == pytest.approx(
        np.std(np.diff(np.log(closes)), ddof=1) * math.sqrt(365 * 24)
    )
    tab = lab.compare_rules(RULES, [sc], seed=1, n_paths=200, progress=False, output="numpy")
    assert np.isfinite(tab["pnl_mean"]).all()


def test_user_paths_chunked_equal_whole_and_strike_from_row0(rng):
    z = rng.standard_normal((50, 40)) * 0.01
    paths = 100.0 * np.exp(np.cumsum(np.c_[np.log(rng.uniform(0.8, 1.2, 50)), z], axis=1))
    scen = {"mine": paths}
    whole = lab.compare_rules(RULES, scen, seed=1, **SMALL)
    chunked = lab.compare_rules(RULES, scen, seed=1, chunk_size=7, **SMALL)
    _fields_equal(whole, chunked)
    assert whole["n_paths"][0] == 50  # all rows of the array
    res = g.simulate_rules(paths, RULES, seed=1)
    np.testing.assert_allclose(
        whole["pnl_mean"], [res["clock"].pnl.mean(), res["move"].pnl.mean()], rtol=1e-12
    )


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: lab.compare_rules(RULES, ["nope"]), "unknown scenario 'nope'"),
        (lambda: lab.compare_rules({}, ["trend"]), "no rules"),
        (lambda: lab.compare_rules(RULES, []), "no scenarios"),
        (lambda: lab.compare_rules(RULES, ["trend", "trend"]), "distinct"),
        (lambda: lab.compare_rules(RULES, ["trend"], baseline="x"), "baseline 'x'"),
        (lambda: lab.compare_rules({"a": g.Move(0.01) | g.Move(0.02)}, ["trend"]), "rule 'a'"),
        (lambda: lab.compare_rules(RULES, {"u": np.ones((2, 1))}), "2-D"),
        (lambda: lab.compare_rules(RULES, {"u": -np.ones((2, 3))}), "finite and > 0"),
        (lambda: lab.compare_rules(RULES, ["trend"], output="excel"), "output"),
        (lambda: lab.sweep("zigzag", [1], ["trend"]), "unknown rule family"),
    ],
    ids=[
        "scenario",
        "rules",
        "scenarios",
        "dup",
        "baseline",
        "bad-rule",
        "shape",
        "prices",
        "output",
        "family",
    ],
)
def test_bad_input_is_a_clear_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --------------------------------------------------------------------------------------------
# sweeps, frontier, best rules


def test_sweep_frontier_best():
    tab = lab.sweep(
        "move",
        [0.0025, 0.01, 0.04],
        ["noisy"],
        n_paths=800,
        seed=2,
        costs=g.Costs(half_spread_bps=2),
        progress=False,
        output="numpy",
        extra_rules={"clock": g.EveryK(1)},
    )
    assert list(tab["rule"]) == ["move=0.0025", "move=0.01", "move=0.04", "clock"]
    assert np.isnan(tab["param"][-1]) and tab["param"][0] == 0.0025
    # coarser threshold: fewer rebalances, lower cost, more risk
    assert (np.diff(tab["rebalances_mean"][:3]) < 0).all()
    assert (np.diff(tab["cost_mean"][:3]) < 0).all()
    assert (np.diff(tab["pnl_std"][:3]) > 0).all()
    fr = lab.frontier(tab, output="numpy")
    assert fr["efficient"][np.argmin(fr["cost_mean"])] and fr["efficient"][np.argmin(fr["pnl_std"])]
    for r in fr[~fr["efficient"]]:  # every other rule is beaten on both counts by some rule
        assert ((fr["cost_mean"] <= r["cost_mean"]) & (fr["pnl_std"] <= r["pnl_std"])).sum() > 1
    best = lab.best_rules(tab, by="-pnl_std", output="numpy")
    assert best.size == 1 and best["pnl_std"][0] == tab["pnl_std"].min()
    best = lab.best_rules(tab, by="pnl_mean", output="numpy")
    assert best["rule"][0] == tab["rule"][np.argmax(tab["pnl_mean"])]


# --------------------------------------------------------------------------------------------
# progress and interruption


def test_progress_callback_and_interrupt_returns_partial():
    calls = []

    def stop_after_two(done, total):
        calls.append((done, total))
        if len(calls) == 2:
            raise KeyboardInterrupt

    res = lab.run_experiment(
        RULES,
        ["oscillation", "noisy"],
        n_paths=1000,
        chunk_size=300,
        seed=9,
        progress=stop_after_two,
    )
    assert calls == [(300, 2000), (600, 2000)]
    assert res.partial
    assert res.done == {"oscillation": 300, "noisy": 300}
    tab = res.table(output="numpy")
    assert tab["partial"].all() and (tab["n_paths"] == 300).all()
    # the partial statistics are exactly those of a run over the paths done
    full = lab.compare_rules(
        RULES, ["oscillation", "noisy"], n_paths=300, seed=9, progress=False, output="numpy"
    )
    for name in ("pnl_mean", "pnl_std", "pnl_cvar05", "diff_mean", "rebalances_mean"):
        np.testing.assert_array_equal(tab[name], full[name])


def test_progress_off_when_not_a_terminal(capsys, monkeypatch):
    monkeypatch.setenv("CI", "1")
    lab.compare_rules(RULES, ["trend"], n_paths=100, seed=1, chunk_size=20)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


# --------------------------------------------------------------------------------------------
# plots


@pytest.fixture
def agg():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    return mpl


def test_plots_written_and_non_empty(agg, tmp_path):
    from gammaext import plots

    d = lab.default_lab()
    res = lab.run_experiment(n_paths=300, progress=False, **d)
    table = res.table(output="numpy")
    sw = lab.sweep("move", [0.005, 0.02], ["noisy"], n_paths=200, progress=False, output="numpy")
    traces = lab.lab_traces(g.Move(0.01), res.scenarios[:2])
    figs = plots.lab_figures(res, table, sw, traces)
    assert set(figs) == {"pnl_distribution", "pnl_split", "frontier", "hedge_path"}
    for path in plots.save_all(figs, tmp_path):
        data = Path(path).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, path


# --------------------------------------------------------------------------------------------
# TOML configs


def test_packaged_example_config_parses():
    path = Path(g.__file__).parent / "data" / "lab_default.toml"
    exp = config.load_config(path)
    assert list(exp.rules)[:2] == ["clock", "move"]
    assert {s.name for s in exp.scenarios} >= {"oscillation", "trend", "noisy"}
    assert exp.sweep is not None and len(exp.sweep["rules"]) == 5
    assert exp.options["costs"] == g.Costs(half_spread_bps=2.0)


GOOD = {"rules": {"a": {"type": "move"}}, "scenarios": {"s": {"kind": "trend"}}}


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"rules": {"a": {"type": "move", "threshold": -1}}}, "rules.a.threshold"),
        ({"rules": {"a": {"type": "mvoe"}}}, "rules.a.type"),
        ({"rules": {"a": {"threshold": 0.1}}}, "rules.a.type"),
        ({"rules": {"a": {"type": "move", "treshold": 0.1}}}, "rules.a.treshold"),
        (
            {"rules": {"a": {"type": "any_of", "rules": [{"type": "move"}, {"type": "move"}]}}},
            "rules.a.rules",
        ),
        ({"rules": {"a": {"type": "vol_gate"}}}, "rules.a.rule"),
        ({"rules": {}}, "rules"),
        ({"scenarios": {"s": {"kind": "trendy"}}}, "scenarios.s.kind"),
        ({"scenarios": {"s": {"kind": "trend", "total_return": -2}}}, "scenarios.s.total_return"),
        ({"scenarios": {"s": {"kind": "trend", "bogus": 1}}}, "scenarios.s.bogus"),
        ({"scenarios": {"s": {"kind": "noisy", "noise": {"kind": "x"}}}}, "scenarios.s.noise.kind"),
        ({"experiment": {"n_paths": 0}}, "experiment.n_paths"),
        ({"experiment": {"baseline": "zz"}}, "experiment.baseline"),
        ({"costs": {"bps": -1}}, "costs.bps"),
        ({"position": {"vol": "high"}}, "position.vol"),
        ({"sweep": {"family": "move"}}, "sweep.values"),
        ({"sweep": {"family": "nope", "values": [1]}}, "sweep.family"),
        ({"extra": {}}, "extra"),
    ],
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_bad_config_names_the_key(patch, key):
    cfg = {**GOOD, **patch}
    with pytest.raises(config.ConfigError) as info:
        config.parse_config(cfg)
    assert info.value.key == key
    assert str(info.value).startswith(f"{key}:")


# --------------------------------------------------------------------------------------------
# Dask


def test_dask_equals_single_process_bit_for_bit(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    per_path = tmp_path if importlib.util.find_spec("pyarrow") else None
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        scen = ["oscillation", "noisy"]
        kw = {
            "n_paths": 900,
            "seed": 21,
            "progress": False,
            "output": "numpy",
            "costs": g.Costs(half_spread_bps=2),
        }
        dist = lab.compare_rules(
            RULES, scen, client=client, chunk_size=128, per_path=per_path, **kw
        )
    local = lab.compare_rules(RULES, scen, **kw)
    _fields_equal(local, dist)
    if per_path is not None:  # the workers wrote every path, the client none
        import pyarrow.parquet as pq

        assert pq.read_table(per_path).num_rows == 2 * len(RULES) * 900


def test_scenario_objects_callables_and_implied_vol_override():
    sc = lab.Scenario("rich", lambda pos: g.GBM(vol=2 * pos.vol0), n_steps=60, implied_vol=0.1)
    tab = lab.compare_rules(
        {"clock": g.EveryK(1)}, [sc], n_paths=400, seed=1, progress=False, output="numpy"
    )
    # realized 2 x 0.1 = 0.2 against 0.1 implied: gamma wins
    np.testing.assert_allclose(tab["realized_vol_mean"][0], 0.2, rtol=0.05)
    assert tab["pnl_ci_low"][0] > 0


def test_load_closes(tmp_path):
    f = tmp_path / "bars.csv"
    f.write_text("time,Close\n1,100\n2,101.5\n")
    np.testing.assert_array_equal(lab.load_closes(f), [100.0, 101.5])
    f.write_text("time,close\n1,100\n2,-1\n")
    with pytest.raises(ValueError, match="line 3"):
        lab.load_closes(f)
    with pytest.raises(ValueError, match="no column 'open'"):
        lab.load_closes(f, column="open")


def test_load_closes_checks_times_and_field_counts(tmp_path):
    f = tmp_path / "bars.csv"
    f.write_text("time,close\n2024-01-01,100\n2024-01-03,101\n2024-01-02,102\n")
    with pytest.raises(ValueError, match=r"bars.csv line 4: time '2024-01-02' .*must increase"):
        lab.load_closes(f)
    f.write_text("time,close\n1,100\n1,101\n")
    with pytest.raises(ValueError, match=r"bars.csv line 3: .*times must increase"):
        lab.load_closes(f)
    f.write_text("time,open,close\n1,99,100\n2,101\n")
    with pytest.raises(ValueError, match=r"bars.csv line 3: 2 fields, the header has 3"):
        lab.load_closes(f)
    f.write_text("open,close\n99,100\n101,99\n")  # no time column: nothing to order
    np.testing.assert_array_equal(lab.load_closes(f), [100.0, 99.0])


def test_plot_equity_of_a_backtest_like_result(agg):
    from types import SimpleNamespace

    from gammaext import plots

    n = 50
    res = SimpleNamespace(
        equity={"equity": np.linspace(1e4, 1.1e4, n)},
        bars=SimpleNamespace(close=np.linspace(100, 120, n), time=None),
    )
    fig = plots.plot_equity(res)
    assert len(fig.axes) == 2


# --------------------------------------------------------------------------------------------
# per-path results on disk


def test_per_path_parquet_matches_the_engine_and_the_table(tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    rules = {"clock": g.EveryK(1), "move": g.Move(0.01)}
    sc = [lab.Scenario("gbm", g.GBM(), n_steps=20), lab.Scenario("trend", g.Trend(), n_steps=20)]
    kw = {"n_paths": 300, "seed": 9, "progress": False, "output": "numpy"}
    plain = lab.compare_rules(rules, sc, **kw)
    folder = tmp_path / "paths"
    written = lab.compare_rules(rules, sc, chunk_size=128, per_path=folder, **kw)
    _fields_equal(plain, written)  # writing changes nothing in the table
    df = pd.read_parquet(folder)
    assert len(df) == 2 * 2 * 300 and sorted(df["scenario"].unique()) == ["gbm", "trend"]
    assert len(list((folder / "scenario=gbm").iterdir())) == 3  # one file per chunk
    want = g.simulate_rules(g.GBM(), rules, n_paths=300, n_steps=20, seed=9)
    for name in rules:
        got = df[(df["scenario"] == "gbm") & (df["rule"] == name)].sort_values("path")
        np.testing.assert_array_equal(got["path"], np.arange(300))
        np.testing.assert_array_equal(got["pnl"], want[name].pnl)
        np.testing.assert_array_equal(got["rebalances"], want[name].rebalances)


def test_the_path_trap_same_realized_variance_different_pnl():
    """The seed's oscillation-versus-trend contrast made precise: the three paths have the same
    |returns| (so the same realized variance), yet hedged every step at 20% they earn +21.86,
    +1.66 and +0.68: the gamma P&L is weighted by the dollar gamma, large only near the
    strike."""
    paths = lab.same_variance_paths()
    rv = {k: float(np.sum(np.diff(np.log(p)) ** 2)) for k, p in paths.items()}
    assert max(rv.values()) - min(rv.values()) < 1e-12
    pnl = {
        k: float(g.simulate_hedge(p, position=g.Position(vol=0.2), rule=g.EveryK(1)).pnl[0])
        for k, p in paths.items()
    }
    np.testing.assert_allclose(
        [pnl["oscillating"], pnl["swinging"], pnl["trending"]], [21.8634, 1.6598, 0.6755],
        atol=1e-4,
    )


def test_spread_study_table_and_summary():
    tab = lab.spread_study(n_paths=300, settings={"n_steps": 48})
    assert tab.size == 4 * 10 and set(tab["family"]) == {"clock", "move"}
    assert (tab["cost_mean"] > 0).all()
    lines = lab.spread_study_summary(tab)
    assert len(lines) == 4 and all("than the clock's" in ln or "no clock" in ln for ln in lines)
    # fewer hedges, less cost, more risk: monotone along each family at this size
    for fam in ("clock", "move"):
        sub = tab[(tab["family"] == fam) & (tab["scenario"] == "none")]
        sub = sub[np.argsort(sub["param"])]
        assert (np.diff(sub["cost_mean"]) < 0).all() and (np.diff(sub["pnl_std"]) > 0).all()


def test_moving_implied_vol_scenarios_and_study():
    # issue #14: the three moving-vol scenario kinds, from Python and from TOML, and the study
    # `gammaext lab` prints: a straddle sold at its marks after a quarter.
    t = lab.vol_study(n_paths=3000, seed=5)
    rows = {(r["scenario"], r["rule"]): r for r in lab.table_rows(t)}
    still = rows[("gbm_equal", "clock")]
    assert still["pnl_ci_low"] < 0.0 < still["pnl_ci_high"]  # fair: no edge
    assert still["vega_mean"] == 0.0
    crush = rows[("vol_crush", "clock")]
    assert crush["pnl_ci_high"] < -5.0 and crush["vega_mean"] < -5.0  # 40% -> 20%
    corr = rows[("spot_vol_correlation", "clock")]
    assert corr["vanna_mean"] < 0.0  # vol rises as spot falls: a long straddle's vanna loses
    assert rows[("vol_of_vol", "clock")]["volga_mean"] > 0.5  # long volga gains
    assert len(lab.vol_study_summary(t)) == 4


def test_moving_implied_vol_scenario_from_toml(tmp_path):
    from gammaext import config

    f = tmp_path / "x.toml"
    f.write_text(
        '[rules.clock]\ntype = "every_k"\nk = 1\n'
        '[scenarios.crush]\nkind = "vol_crush"\nentry_vol = 0.3\nkappa = 10.0\nsticky = "strike"\n'
        '[scenarios.corr]\nkind = "spot_vol_correlation"\nrho = -0.5\nn_steps = 20\n'
    )
    exp = config.load_config(f)
    crush, corr = exp.scenarios
    assert crush.atm == g.StochasticAtmVol(0.3, 0.2, 10.0, 0.3, 0.0) and crush.sticky == "strike"
    assert crush.position(g.Position()).vol == 0.3
    assert corr.atm.rho == -0.5 and corr.n_steps == 20
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[rules.clock]\ntype = "every_k"\nk = 1\n[scenarios.c]\nkind = "vol_of_vol"\nxi = -1\n'
    )
    with pytest.raises(ValueError, match="xi"):
        config.load_config(bad)


def test_vega_hedge_study_pairs_the_books_on_the_same_paths():
    t = lab.vega_hedge_study(n_paths=2000, seed=3)
    rows = {(r["scenario"], r["book"]): r for r in lab.table_rows(t)}
    for sc in lab.VOL_STUDY["scenarios"]:
        a, b = rows[(sc, "delta_only")], rows[(sc, "vega_hedged")]
        assert a["diff_mean"] == 0.0
        assert b["pnl_std"] < a["pnl_std"], sc  # the vega hedge cuts the risk everywhere
        assert abs(b["vega_mean"]) < 1e-9  # vega-neutral every day: no vega P&L left
        assert b["costs_mean"] < 0.0  # it pays the option's spread
    crush = rows[("vol_crush", "vega_hedged")]
    assert crush["diff_ci_low"] > 5.0  # hedged against the crush
    assert len(lab.vega_hedge_summary(t)) == len(lab.VOL_STUDY["scenarios"])
    if importlib.util.find_spec("matplotlib") is not None:
        from gammaext import plots

        plots.plot_vega_hedge_study(t)
