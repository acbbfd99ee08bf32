"""The lab's studies and checks: the default lab and its conclusions, the spread study, the
dynamic-band study, the null test and the hedge-path traces."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .. import hedging as _h
from ..hedging import (
    GBM,
    Costs,
    DeltaBand,
    EveryK,
    Execution,
    ImbalanceBand,
    Move,
    Noise,
    Position,
    ProfileBand,
    Rule,
    SignalGBM,
)
from .rule_sets import rule_label
from .runner import (
    DEFAULT_SEED,
    _prepared_scenario,
    _to_table,
    compare_rules,
    table_attr,
    table_rows,
)
from .scenarios import Scenario, _RelativeGBM, scenario


def default_lab() -> dict[str, Any]:
    """The built-in lab: the oscillating and the trending market, and a GBM market at the
    implied vol with bid-ask bounce; hedged on the clock (every step), on 1% moves, and with a
    delta band of 5% of the option quantity; a 2 bps half-spread on every hedge trade; a long
    ATM straddle at 20% implied vol over 252 daily steps."""
    return {
        "rules": {
            "clock": EveryK(1),
            "move": Move(0.01),
            "band": DeltaBand(0.05, units="fraction"),
        },
        "scenarios": [scenario("oscillation"), scenario("trend"), scenario("noisy")],
        "costs": Costs(half_spread_bps=2.0),
        "position": Position(vol=0.2),
        "baseline": "clock",
    }


def check_conclusions(table: Any) -> dict[str, tuple[bool, str]]:
    """The lab's conclusions, checked on a :func:`compare_rules` table of :func:`default_lab`
    (confidence intervals, so a pass is not noise): ``"oscillation > 0 > trend"`` for the clock
    and the move rules, and ``"move beats clock under spread"`` in the noisy market (paired
    difference)."""
    rows = {(str(r["scenario"]), str(r["rule"])): r for r in table_rows(table)}
    out: dict[str, tuple[bool, str]] = {}
    rules = [r for r in ("clock", "move") if any(k[1] == r for k in rows)]
    if any(k[0] == "oscillation" for k in rows) and any(k[0] == "trend" for k in rows):
        ok = all(
            rows[("oscillation", r)]["pnl_ci_low"] > 0 > rows[("trend", r)]["pnl_ci_high"]
            for r in rules
            if ("oscillation", r) in rows and ("trend", r) in rows
        )
        detail = ", ".join(
            f"{r}: {rows[('oscillation', r)]['pnl_mean']:+.3g} vs "
            f"{rows[('trend', r)]['pnl_mean']:+.3g}"
            for r in rules
            if ("oscillation", r) in rows and ("trend", r) in rows
        )
        out["oscillation > 0 > trend"] = (ok, detail)
    if ("noisy", "move") in rows and ("noisy", "clock") in rows:
        m = rows[("noisy", "move")]
        c = rows[("noisy", "clock")]
        if table_attr(table, "baseline", "clock") == "clock":
            ok = m["diff_ci_low"] > 0
            detail = (
                f"move - clock = {m['diff_mean']:+.4g} "
                f"[{m['diff_ci_low']:+.4g}, {m['diff_ci_high']:+.4g}] per path (same paths); "
                f"costs {m['cost_mean']:.3g} vs {c['cost_mean']:.3g}"
            )
        else:
            ok = m["pnl_mean"] > c["pnl_mean"]
            detail = f"move {m['pnl_mean']:+.4g} vs clock {c['pnl_mean']:+.4g}"
        out["move beats clock under spread"] = (ok, detail)
    return out


#: Market microstructure of the spread study, BTC-like: hourly steps, 50% vol, 30 days, a
#: half-spread of 0.75 bp (BTC/USDT spot on a large exchange quotes a spread of about one to
#: two basis points, so 0.5-1 bp each side), and the noise levels of what the trader sees.
SPREAD_STUDY = {
    "vol": 0.5,
    "dt": 1.0 / (365.0 * 24.0),
    "n_steps": 24 * 30,
    "half_spread_bps": 0.75,
    "noises": {
        "none": None,
        "prints at bid/ask (0.75 bp)": Noise("bounce", 0.75e-4),
        "noisy mid 2 bp": Noise("iid", 2e-4),
        "noisy mid 5 bp": Noise("iid", 5e-4),
    },
    "clock": (1, 2, 4, 8, 24),
    "move": (0.001, 0.002, 0.005, 0.01, 0.02),
}


def spread_study(
    *,
    n_paths: int = 5000,
    seed: int = DEFAULT_SEED,
    threads: int | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Any:
    """The seed's claim measured: how the P&L, its spread and its cost change with the clock
    interval and the move threshold, one curve per noise level (:data:`SPREAD_STUDY`: a fair
    BTC-like market at the implied vol, a long ATM straddle, quotes of 0.75 bp half-spread).
    Returns a NumPy table with ``scenario`` (the noise level), ``rule`` (``clock=k`` or
    ``move=x``), ``family``, ``param`` and the columns of :func:`compare_rules`; every rule
    of a noise level runs on the same paths (the ``diff_*`` columns are paired with
    ``clock=1``)."""
    cfg = {**SPREAD_STUDY, **(settings or {})}
    rules = {
        **{f"clock={k}": EveryK(int(k)) for k in cfg["clock"]},
        **{f"move={x:g}": Move(float(x)) for x in cfg["move"]},
    }
    scenarios = [
        Scenario(name, GBM(vol=cfg["vol"]), n_steps=cfg["n_steps"], dt=cfg["dt"], noise=noise)
        for name, noise in cfg["noises"].items()
    ]
    table = compare_rules(
        rules, scenarios, position=Position(vol=cfg["vol"]),
        costs=Costs(half_spread_bps=cfg["half_spread_bps"]), n_paths=n_paths, seed=seed,
        threads=threads, progress=False, output="numpy", baseline=f"clock={cfg['clock'][0]}",
    )
    rows = table_rows(table)
    for r in rows:
        family, value = str(r["rule"]).split("=")
        r["family"], r["param"] = family, float(value)
    return _to_table(rows, "numpy")


def spread_study_null(
    *, n_paths: int = 5000, seed: int = DEFAULT_SEED, threads: int | None = None,
    settings: Mapping[str, Any] | None = None,
) -> tuple[bool, str, Any]:
    """:func:`null_test` in the spread study's own market (its vol, grid and largest noise, its
    rules, no costs): the study's comparisons mean something only if this passes."""
    cfg = {**SPREAD_STUDY, **(settings or {})}
    rules = {
        **{f"clock={k}": EveryK(int(k)) for k in cfg["clock"]},
        **{f"move={x:g}": Move(float(x)) for x in cfg["move"]},
    }
    noise = list(cfg["noises"].values())[-1]
    return null_test(
        rules, position=Position(vol=cfg["vol"]), noise=noise, n_paths=n_paths,
        n_steps=cfg["n_steps"], dt=cfg["dt"], seed=seed, threads=threads,
    )


def spread_study_summary(table: Any) -> list[str]:
    """What the spread study says, one line per noise level: the P&L standard deviation of the
    move rules against the clock's at the same cost (the move family's std interpolated at
    each clock rule's cost, averaged over the clock rules inside the move family's cost
    range), and how much the noise adds to the every-step clock's cost. In a fair market the
    mean P&L is minus the cost, so cost and risk are the whole trade-off."""
    rows = table_rows(table)
    out = []
    base_cost = None
    for sc in dict.fromkeys(str(r["scenario"]) for r in rows):
        sub = [r for r in rows if r["scenario"] == sc]
        clock = sorted((r for r in sub if r["family"] == "clock"), key=lambda r: r["cost_mean"])
        move = sorted((r for r in sub if r["family"] == "move"), key=lambda r: r["cost_mean"])
        mc = np.array([r["cost_mean"] for r in move])
        ms = np.array([r["pnl_std"] for r in move])
        ratios = [
            float(np.interp(c["cost_mean"], mc, ms)) / c["pnl_std"]
            for c in clock
            if mc[0] <= c["cost_mean"] <= mc[-1]
        ]
        every = min(clock, key=lambda r: r["param"])
        base_cost = every["cost_mean"] if base_cost is None else base_cost
        change = 100 * (float(np.mean(ratios)) - 1) if ratios else 0.0
        ratio = (
            f"at the same cost the move rules' P&L std is {abs(change):.0f}% "
            f"{'lower' if change < 0 else 'higher'} than the clock's "
            f"({len(ratios)} clock rules compared)"
            if ratios
            else "no clock rule within the move rules' cost range"
        )
        out.append(
            f"{sc}: {ratio}; every-step clock cost {every['cost_mean']:.4f} "
            f"({100 * (every['cost_mean'] / base_cost - 1):+.1f}% vs no noise)"
        )
    return out


#: The dynamic-band study's market (:func:`signal_study`): a fair GBM at the implied vol, daily
#: steps over 100 days, a long ATM straddle, no costs; the bands' base half-width (shares) and
#: their response to the signal; the informativeness values of the signal generator.
SIGNAL_STUDY: dict[str, Any] = {
    "vol": 0.2,
    "n_steps": 100,
    "dt": 1 / 252,
    "width": 0.1,
    "strength": 0.6,
    "rhos": (0.0, 0.05, 0.1, 0.2, 0.4),
}


def signal_study(
    *,
    n_paths: int = 5000,
    seed: int = DEFAULT_SEED,
    threads: int | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Any:
    """When the seed's dynamic bands help: :class:`ProfileBand` and :class:`ImbalanceBand`
    against a fixed :class:`DeltaBand` of the same base width, on :class:`SignalGBM` markets
    whose volume-profile or imbalance signal has informativeness rho (:data:`SIGNAL_STUDY`).
    The market is fair and frictionless, and the price alone is the same GBM whatever rho, so
    the fixed band's mean is 0 and a band's ``diff_mean`` (paired with the fixed band on the
    same paths, with its confidence interval) is what its signal is worth. At rho = 0 the
    signal is pure noise: every diff must be 0 within its interval. Returns a NumPy table with
    the columns of :func:`compare_rules` plus ``signal`` and ``rho``."""
    cfg = {**SIGNAL_STUDY, **(settings or {})}
    w, k = float(cfg["width"]), float(cfg["strength"])
    rules = {"band": DeltaBand(w), "profile_band": ProfileBand(w, k),
             "imbalance_band": ImbalanceBand(w, k)}
    scenarios = [
        Scenario(f"{sig} rho={rho:g}", SignalGBM(vol=cfg["vol"], signal=sig, rho=float(rho)),
                 n_steps=cfg["n_steps"], dt=cfg["dt"])
        for sig in ("profile", "imbalance") for rho in cfg["rhos"]
    ]
    table = compare_rules(
        rules, scenarios, position=Position(vol=cfg["vol"]), costs=Costs(), n_paths=n_paths,
        seed=seed, threads=threads, progress=False, output="numpy", baseline="band",
    )
    rows = table_rows(table)
    for r in rows:
        sig, rho = str(r["scenario"]).split(" rho=")
        r["signal"], r["rho"] = sig, float(rho)
    return _to_table(rows, "numpy")


def signal_study_summary(table: Any) -> list[str]:
    """What the dynamic-band study says, one line per signal: the matching band's mean P&L
    minus the fixed band's (95% CI) with a pure-noise signal and at the most informative
    setting, and whether every pure-noise difference is 0 within its interval."""
    rows = table_rows(table)
    out = []
    for sig in dict.fromkeys(str(r["signal"]) for r in rows):
        own = sorted((r for r in rows if r["signal"] == sig and r["rule"] == f"{sig}_band"),
                     key=lambda r: r["rho"])
        noise = [r for r in rows if r["signal"] == sig and r["rho"] == 0.0 and r["rule"] != "band"]
        flat = all(r["diff_ci_low"] <= 0.0 <= r["diff_ci_high"] for r in noise)
        lo, hi = own[0], own[-1]
        out.append(
            f"{sig}: {sig}_band minus fixed band {lo['diff_mean']:+.4f} "
            f"[{lo['diff_ci_low']:+.4f}, {lo['diff_ci_high']:+.4f}]"
            f" at rho 0 (pure noise: {'no edge' if flat else 'AN EDGE'}), "
            f"{hi['diff_mean']:+.4f} [{hi['diff_ci_low']:+.4f}, {hi['diff_ci_high']:+.4f}] "
            f"at rho {hi['rho']:g}"
        )
    return out


#: The moving-implied-vol study (issue #14): a long ATM straddle expiring after half a year,
#: hedged daily for a quarter and then sold at its marks (so the implied vol at the exit
#: counts), on a GBM whose implied vol stands still and on the three moving-vol scenarios.
VOL_STUDY: dict[str, Any] = {
    "expiry": 0.5,
    "n_steps": 63,
    "dt": 1.0 / 252.0,
    "scenarios": ("gbm_equal", "vol_crush", "spot_vol_correlation", "vol_of_vol"),
}


def vol_study(
    *,
    n_paths: int = 5000,
    seed: int = DEFAULT_SEED,
    threads: int | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Any:
    """Delta hedging when implied vol moves: the clock and a 1% move rule on the scenarios of
    :data:`VOL_STUDY` (each leg marked at its own implied vol every step), a table with the
    columns of :func:`compare_rules`: the mean P&L with its confidence interval, and the means
    of its parts, among them ``vega_mean``, ``vanna_mean`` and ``volga_mean``."""
    cfg = {**VOL_STUDY, **(settings or {})}
    rules = {"clock": EveryK(1), "move": Move(0.01)}
    scenarios = [
        scenario(kind, n_steps=int(cfg["n_steps"]), dt=float(cfg["dt"]))
        for kind in cfg["scenarios"]
    ]
    legs = _h.straddle(expiry=float(cfg["expiry"]))
    return compare_rules(
        rules, scenarios, position=Position(legs=legs, vol=0.2), costs=Costs(), n_paths=n_paths,
        seed=seed, threads=threads, progress=False, output="numpy", baseline="clock",
    )


def vol_study_summary(table: Any) -> list[str]:
    """One line per scenario of :func:`vol_study`: the clock's mean P&L (CI) and its vega,
    vanna and volga parts."""
    out = []
    for r in table_rows(table):
        if r["rule"] != "clock":
            continue
        out.append(
            f"{r['scenario']}: clock mean {r['pnl_mean']:+.3f} "
            f"[{r['pnl_ci_low']:+.3f}, {r['pnl_ci_high']:+.3f}], of which vega "
            f"{r['vega_mean']:+.3f}, vanna {r['vanna_mean']:+.3f}, volga {r['volga_mean']:+.3f}"
        )
    return out


#: The vega-hedge comparison (issue #14): the :data:`VOL_STUDY` book hedged daily, delta
#: only or made vega-neutral every day with a one-year ATM call paying half a vol point.
VEGA_HEDGE_STUDY: dict[str, Any] = {
    "hedge_expiry": 1.0,
    "hedge_every": 1,
    "half_spread_vol": 0.005,
}


def vega_hedge_study(
    *,
    n_paths: int = 5000,
    seed: int = DEFAULT_SEED,
    threads: int | None = None,
    confidence: float = 0.95,
    settings: Mapping[str, Any] | None = None,
) -> Any:
    """Delta-only hedging against a vega-hedged book on the same paths: the
    :func:`vol_study` book (a long ATM straddle of expiry 0.5, hedged daily for a quarter and
    sold at its marks) on each scenario of :data:`VOL_STUDY`, once with the stock only and once
    also holding the :class:`~gammaext.OptionHedge` of :data:`VEGA_HEDGE_STUDY` (traded to
    vega-neutral). The option hedge draws no random numbers, so both books see the same paths
    and the ``diff_*`` columns (vega-hedged minus delta-only, path by path) are paired. A table
    (NumPy) with, per scenario and book: the mean P&L and its confidence interval, its standard
    deviation, the means of the costs and of the vega, vanna and volga parts, and the paired
    difference with its interval."""
    import math as _math
    from statistics import NormalDist

    cfg = {**VOL_STUDY, **VEGA_HEDGE_STUDY, **(settings or {})}
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    oh = _h.OptionHedge(
        expiry=float(cfg["hedge_expiry"]),
        every=int(cfg["hedge_every"]),
        half_spread_vol=float(cfg["half_spread_vol"]),
    )
    base = Position(legs=_h.straddle(expiry=float(cfg["expiry"])), vol=0.2)
    rows = []
    for kind in cfg["scenarios"]:
        sc = scenario(kind, n_steps=int(cfg["n_steps"]), dt=float(cfg["dt"]))
        pos = sc.position(base)
        if pos.surface() is None:  # implied vol stands still: a constant ATM series gives
            # the per-leg marks the option hedge needs (the same marks, bit for bit in value)
            pos = dataclasses.replace(pos, atm=np.full(int(cfg["n_steps"]) + 1, pos.vol0))
        kw: dict[str, Any] = dict(
            n_paths=n_paths, n_steps=sc.n_steps, dt=sc.dt, seed=seed, threads=threads,
            rule=EveryK(1),
        )
        books = {
            "delta_only": _h.simulate_hedge(sc.generator(base), position=pos, **kw),
            "vega_hedged": _h.simulate_hedge(
                sc.generator(base), position=dataclasses.replace(pos, option_hedge=oh), **kw
            ),
        }
        ref = books["delta_only"].pnl
        for book, res in books.items():
            d = res.pnl - ref
            n = d.size
            row: dict[str, Any] = {"scenario": sc.name, "book": book}
            x = res.pnl
            se = float(np.std(x, ddof=1)) / _math.sqrt(n)
            row.update(
                pnl_mean=float(np.mean(x)),
                pnl_ci_low=float(np.mean(x)) - z * se,
                pnl_ci_high=float(np.mean(x)) + z * se,
                pnl_std=float(np.std(x, ddof=1)),
                **{f"{f}_mean": float(np.mean(res.data[f]))
                   for f in ("costs", "vega", "vanna", "volga")},
            )
            dse = float(np.std(d, ddof=1)) / _math.sqrt(n)
            row.update(
                diff_mean=float(np.mean(d)),
                diff_ci_low=float(np.mean(d)) - z * dse,
                diff_ci_high=float(np.mean(d)) + z * dse,
            )
            rows.append(row)
    return _to_table(rows, "numpy")


def vega_hedge_summary(table: Any) -> list[str]:
    """One line per scenario of :func:`vega_hedge_study`: the P&L standard deviation of both
    books and the vega-hedged book's mean minus the delta-only one's (paired CI)."""
    rows = table_rows(table)
    out = []
    for sc in dict.fromkeys(str(r["scenario"]) for r in rows):
        a = next(r for r in rows if r["scenario"] == sc and r["book"] == "delta_only")
        b = next(r for r in rows if r["scenario"] == sc and r["book"] == "vega_hedged")
        out.append(
            f"{sc}: P&L std {a['pnl_std']:.3f} delta-only, {b['pnl_std']:.3f} vega-hedged; "
            f"mean difference {b['diff_mean']:+.3f} [{b['diff_ci_low']:+.3f}, "
            f"{b['diff_ci_high']:+.3f}] (option spread {b['costs_mean']:+.3f})"
        )
    return out


#: The null test's bound: every rule's mean P&L within this many standard errors of 0.
NULL_SE = 4.0


def null_test(
    rules: Any,
    *,
    position: Position | None = None,
    noise: Noise | None = None,
    n_paths: int = 20_000,
    n_steps: int = 252,
    dt: float | None = None,
    seed: int = DEFAULT_SEED,
    threads: int | None = None,
    execution: Execution | None = None,
) -> tuple[bool, str, Any]:
    """The lab's model on a market with no edge to find: GBM at the implied vol, no drift, no
    rate, no costs, the given noise. Every non-anticipating rule then has an expected P&L of
    exactly 0; the model passes if each rule's mean is within :data:`NULL_SE` standard errors
    of 0. Returns (passed, a one-line summary, the table)."""
    position = Position() if position is None else position
    fair = dataclasses.replace(position, rate=0.0, div=0.0)
    sc = Scenario("null", _RelativeGBM(1.0), n_steps=n_steps, dt=dt, noise=noise)
    table = compare_rules(
        rules, [sc], position=fair, costs=Costs(), n_paths=n_paths, seed=seed,
        threads=threads, progress=False, output="numpy", execution=execution,
    )
    z = {str(r["rule"]): r["pnl_mean"] / r["pnl_stderr"] for r in table_rows(table)}
    worst = max(z, key=lambda k: abs(z[k]))
    ok = all(abs(v) <= NULL_SE for v in z.values())
    what = "no noise" if noise is None else f"{noise.kind} noise {noise.size:g}"
    detail = (
        f"fair market, no costs, {what}: every rule's mean P&L within {NULL_SE:g} SE of 0"
        if ok else f"fair market, no costs, {what}: an edge where none exists"
    ) + f"; largest |mean|/SE {abs(z[worst]):.2f} ({worst})"
    return ok, detail, table


def lab_traces(
    rule: Rule,
    scenarios: Sequence[Scenario],
    *,
    position: Position | None = None,
    costs: Costs | None = None,
    seed: int = DEFAULT_SEED,
    path: int = 0,
) -> dict[str, dict[str, np.ndarray]]:
    """Per-step traces of one path (global index ``path``) of each scenario under ``rule``,
    keyed ``"scenario: rule"`` (for :func:`gammaext.plots.plot_hedge_path`)."""
    position = Position() if position is None else position
    out = {}
    for sc in scenarios:
        s, pos = _prepared_scenario(sc, position)
        kw: dict[str, Any] = {"dt": s.dt, "times": s.times}
        paths = s.paths
        if s.is_array:
            paths = np.asarray(s.paths)[path : path + 1]
        else:
            kw["n_steps"] = s.n_steps
        res = _h.simulate_hedge(
            paths,
            rule=rule,
            position=pos,
            costs=costs,
            noise=s.noise,
            n_paths=1,
            first_path=path,
            seed=seed,
            trace=[path],
            **kw,
        )
        out[f"{sc.name}: {rule_label(rule)}, path {path} (seed {seed})"] = res.trace[path]
    return out
