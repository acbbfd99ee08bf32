"""Pictures of the gamma-scalping lab (matplotlib, an optional extra: ``gammaext[plot]``).

Every function returns a ``matplotlib.figure.Figure`` (built with the object-oriented API, no
pyplot state, so it is safe in scripts, notebooks and threads); :func:`save` writes PNGs. When
no display is available the Agg backend is used.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import lab as _lab

__all__ = [
    "lab_figures",
    "plot_equity",
    "plot_frontier",
    "plot_hedge_path",
    "plot_pnl_distribution",
    "plot_pnl_split",
    "plot_signal_study",
    "plot_spread_study",
    "save",
    "save_all",
]

_PARTS = ("gamma", "theta", "vega", "vanna", "volga", "hedge", "financing", "costs", "residual")
_COLORS = {
    "gamma": "tab:green",
    "theta": "tab:red",
    "vega": "tab:purple",
    "vanna": "tab:pink",
    "volga": "tab:cyan",
    "hedge": "tab:blue",
    "financing": "tab:olive",
    "costs": "tab:orange",
    "residual": "tab:gray",
}


def _figure(nrows: int = 1, ncols: int = 1, **kw: Any) -> tuple[Any, Any]:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "plots need matplotlib: pip install 'gammaext[plot]' (or pip install matplotlib)"
        ) from None
    fig = Figure(**kw)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _grid(n: int) -> tuple[int, int]:
    ncols = min(n, 3)
    return math.ceil(n / ncols), ncols


def plot_pnl_distribution(result: _lab.LabResult, bins: int = 60) -> Any:
    """Histogram of the P&L per path of every rule, one panel per scenario (same paths), from
    the runs' sketches (bucket midpoints: within 0.05% of each value). The range is the 0.1%
    to 99.9% quantiles; values beyond it are counted in the edge bins (the axis label says
    so)."""
    names = [sc.name for sc in result.scenarios]
    nr, nc = _grid(len(names))
    fig, axes = _figure(nr, nc, figsize=(5.0 * nc, 3.6 * nr), layout="constrained")
    for ax, name in zip(axes.flat, names):
        stats = {r: result.stats[(name, r)] for r in result.rules if (name, r) in result.stats}
        both = _lab.Sketch.merge([st.pnl for st in stats.values()])
        if both.n == 0:
            ax.set_visible(False)
            continue
        lo, hi = both.quantile(0.001), both.quantile(0.999)
        if not hi > lo:
            lo, hi = lo - 0.5, hi + 0.5
        edges = np.linspace(lo, hi, bins + 1)
        for rule, st in stats.items():
            counts, _ = np.histogram(
                np.clip(st.pnl.values(), lo, hi), bins=edges, weights=st.pnl.counts
            )
            ax.stairs(counts, edges, lw=1.4, label=f"{rule}: {st.mean('pnl'):.3g}")
        ax.axvline(0.0, color="k", lw=0.6)
        ax.set_title(name)
        ax.set_xlabel("P&L per path (tails beyond 0.1% / 99.9% in the edge bins)")
        ax.legend(fontsize="small", title="rule: mean", title_fontsize="small")
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    axes.flat[0].set_ylabel("paths")
    fig.suptitle("P&L distribution by hedging rule" + (" (PARTIAL)" if result.partial else ""))
    return fig


def plot_pnl_split(table: Any) -> Any:
    """The mean P&L split (gamma, theta, hedge, costs, ...) as stacked bars per rule, one panel
    per scenario, with the total P&L and its confidence interval as a black marker."""
    rows = _lab.table_rows(table)
    scenarios = list(dict.fromkeys(str(r["scenario"]) for r in rows))
    nr, nc = _grid(len(scenarios))
    fig, axes = _figure(nr, nc, figsize=(5.0 * nc, 3.8 * nr), layout="constrained")
    for ax, sc in zip(axes.flat, scenarios):
        sub = [r for r in rows if str(r["scenario"]) == sc]
        x = np.arange(len(sub))
        pos = np.zeros(len(sub))
        neg = np.zeros(len(sub))
        for part in _PARTS:
            v = np.array([r[f"{part}_mean"] for r in sub], dtype=float)
            if not np.any(np.abs(v) > 1e-12):
                continue
            base = np.where(v >= 0, pos, neg)
            ax.bar(x, v, bottom=base, color=_COLORS[part], label=part, width=0.6)
            pos += np.where(v >= 0, v, 0)
            neg += np.where(v < 0, v, 0)
        tot = np.array([r["pnl_mean"] for r in sub], dtype=float)
        err = np.array([r["pnl_ci_high"] - r["pnl_mean"] for r in sub], dtype=float)
        ax.errorbar(x, tot, yerr=err, fmt="D", color="k", ms=5, label="total (95% CI)")
        ax.axhline(0.0, color="k", lw=0.6)
        ax.set_xticks(x, [str(r["rule"]) for r in sub], rotation=20, fontsize="small")
        ax.set_title(sc)
        ax.set_ylabel("mean P&L")
    for ax in list(axes.flat)[len(scenarios) :]:
        ax.set_visible(False)
    seen: dict[str, Any] = {}
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    try:  # matplotlib >= 3.7: a legend outside the axes, accounted for by the layout
        fig.legend(list(seen.values()), list(seen), loc="outside right upper", fontsize="small")
    except ValueError:  # older matplotlib
        axes.flat[0].legend(list(seen.values()), list(seen), fontsize="x-small")
    fig.suptitle("Where the P&L comes from")
    return fig


def plot_frontier(table: Any, cost: str = "cost_mean", risk: str = "pnl_std") -> Any:
    """Cost versus risk of every rule, one panel per scenario (scenarios need not share units
    or scales), the efficient rules joined by a line."""
    rows = _lab.table_rows(_lab.frontier(table, cost, risk, output="numpy"))
    scenarios = list(dict.fromkeys(str(r["scenario"]) for r in rows)) or ["(empty)"]
    nr, nc = _grid(len(scenarios))
    fig, axes = _figure(nr, nc, figsize=(5.0 * nc, 4.0 * nr), layout="constrained")
    for k, (ax, sc) in enumerate(zip(axes.flat, scenarios)):
        sub = [r for r in rows if str(r["scenario"]) == sc]
        color = f"C{k % 10}"
        ax.scatter([r[cost] for r in sub], [r[risk] for r in sub], color=color, s=22)
        eff = sorted((r for r in sub if r["efficient"]), key=lambda r: r[cost])
        ax.plot([r[cost] for r in eff], [r[risk] for r in eff], color=color, lw=1)
        for r in sub:
            ax.annotate(
                str(r["rule"]), (r[cost], r[risk]), fontsize=7, xytext=(3, 3),
                textcoords="offset points", color="0.2",
            )
        ax.set_title(sc)
        ax.set_xlabel("mean trading cost per path" if cost == "cost_mean" else cost)
        ax.set_ylabel("P&L standard deviation" if risk == "pnl_std" else risk)
    for ax in list(axes.flat)[len(scenarios) :]:
        ax.set_visible(False)
    fig.suptitle("Cost versus risk per scenario (the line joins the efficient rules)")
    return fig


def plot_spread_study(table: Any) -> Any:
    """The spread study (:func:`gammaext.lab.spread_study`): mean P&L with its confidence
    interval, P&L standard deviation and trading cost against the clock interval (top) and
    the move threshold (bottom), one curve per noise level."""
    rows = _lab.table_rows(table)
    fig, axes = _figure(2, 3, figsize=(15.0, 7.5), layout="constrained")
    levels = list(dict.fromkeys(str(r["scenario"]) for r in rows))
    for i, (fam, xlabel) in enumerate(
        (("clock", "steps between hedges (clock)"), ("move", "move threshold (fraction)"))
    ):
        for k, lev in enumerate(levels):
            sub = sorted(
                (r for r in rows if r["scenario"] == lev and r["family"] == fam),
                key=lambda r: r["param"],
            )
            x = np.array([r["param"] for r in sub])
            color = f"C{k % 10}"
            mean = np.array([r["pnl_mean"] for r in sub])
            ax = axes[i, 0]
            ax.plot(x, mean, color=color, marker="o", ms=3, label=lev)
            ax.fill_between(
                x, [r["pnl_ci_low"] for r in sub], [r["pnl_ci_high"] for r in sub],
                color=color, alpha=0.15,
            )
            axes[i, 1].plot(x, [r["pnl_std"] for r in sub], color=color, marker="o", ms=3)
            axes[i, 2].plot(x, [r["cost_mean"] for r in sub], color=color, marker="o", ms=3)
        for j, ylabel in enumerate(("mean P&L (95% CI)", "P&L standard deviation", "cost")):
            axes[i, j].set_xscale("log")
            axes[i, j].set_xlabel(xlabel)
            axes[i, j].set_ylabel(ylabel)
    axes[0, 0].legend(fontsize="small", title="what the trader sees", title_fontsize="small")
    fig.suptitle(
        "Clock versus move hedging in a fair BTC-like market (50% vol, hourly, 30 days, "
        "0.75 bp half-spread): P&L per straddle, price units"
    )
    return fig


def plot_signal_study(table: Any) -> Any:
    """The dynamic-band study (:func:`gammaext.lab.signal_study`): each signal band's mean P&L
    minus the fixed band's on the same paths (95% CI) against the signal's informativeness
    rho, one panel per informative signal; at rho = 0 the signal is pure noise."""
    rows = _lab.table_rows(table)
    signals = list(dict.fromkeys(str(r["signal"]) for r in rows))
    fig, axes = _figure(1, len(signals), figsize=(6.0 * len(signals), 4.2), layout="constrained")
    for ax, sig in zip(axes[0], signals):
        for k, rule in enumerate(("profile_band", "imbalance_band")):
            sub = sorted((r for r in rows if r["signal"] == sig and r["rule"] == rule),
                         key=lambda r: r["rho"])
            x = np.array([r["rho"] for r in sub])
            mean = np.array([r["diff_mean"] for r in sub])
            err = np.array([[m - r["diff_ci_low"], r["diff_ci_high"] - m]
                            for m, r in zip(mean, sub)]).T
            ax.errorbar(x, mean, yerr=err, color=f"C{k}", marker="o", ms=4, capsize=3,
                        label=rule)
        ax.axhline(0.0, color="0.5", lw=0.8)
        ax.set_xlabel(f"informativeness rho of the {sig} signal")
        ax.set_ylabel("mean P&L minus the fixed band's (95% CI)")
        ax.set_title(f"{sig} signal informative, the other pure noise", fontsize="medium")
        ax.legend(fontsize="small")
    fig.suptitle(
        "Dynamic bands against a fixed delta band: fair GBM at the implied vol, no costs, "
        "P&L per straddle, price units (spot 100)"
    )
    return fig


def plot_vega_hedge_study(table: Any) -> Any:
    """The vega-hedge comparison (:func:`gammaext.lab.vega_hedge_study`): per scenario, the
    mean P&L (95% CI) and the P&L standard deviation of the delta-only and the vega-hedged
    book on the same paths."""
    rows = _lab.table_rows(table)
    scenarios = list(dict.fromkeys(str(r["scenario"]) for r in rows))
    fig, axes = _figure(1, 2, figsize=(12.0, 4.2), layout="constrained")
    x = np.arange(len(scenarios))
    for k, book in enumerate(("delta_only", "vega_hedged")):
        sub = [next(r for r in rows if r["scenario"] == sc and r["book"] == book)
               for sc in scenarios]
        mean = np.array([r["pnl_mean"] for r in sub])
        err = np.array([[m - r["pnl_ci_low"], r["pnl_ci_high"] - m] for m, r in zip(mean, sub)]).T
        axes[0, 0].bar(x + (k - 0.5) * 0.38, mean, 0.38, yerr=err, capsize=3, color=f"C{k}",
                       label=book.replace("_", " "))
        axes[0, 1].bar(x + (k - 0.5) * 0.38, [r["pnl_std"] for r in sub], 0.38, color=f"C{k}",
                       label=book.replace("_", " "))
    for ax, ylabel in zip(axes[0], ("mean P&L (95% CI)", "P&L standard deviation")):
        ax.set_xticks(x, scenarios, fontsize="small")
        ax.axhline(0.0, color="0.5", lw=0.8)
        ax.set_ylabel(ylabel)
        ax.legend(fontsize="small")
    fig.suptitle(
        "Delta-only against vega-hedged (1-year ATM call, daily, half a vol point): a long "
        "0.5-year straddle hedged daily for a quarter, sold at its marks; same paths"
    )
    return fig


def plot_hedge_path(traces: Mapping[str, Mapping[str, np.ndarray]]) -> Any:
    """The lab's picture: for each traced path (a mapping title -> trace dict of
    :data:`gammaext.hedging.TRACE_FIELDS`), the price with its hedge trades (up: bought, down:
    sold), and below it the cumulative gamma and theta P&L and the total."""
    n = len(traces)
    if n == 0:
        raise ValueError("no traces to plot")
    fig, axes = _figure(2, n, figsize=(5.5 * n, 6.0), layout="constrained")
    for j, (title, tr) in enumerate(traces.items()):
        t = np.arange(len(tr["time"]))
        top, bot = axes[0, j], axes[1, j]
        top.plot(t, tr["spot"], color="0.3", lw=1.0, label="price")
        if not np.allclose(tr["observed"], tr["spot"]):
            top.plot(t, tr["observed"], color="0.6", lw=0.5, label="observed")
        trade = np.asarray(tr["trade"])
        for sel, marker, color, lab in (
            (trade > 0, "^", "tab:green", "hedge buy"),
            (trade < 0, "v", "tab:red", "hedge sell"),
        ):
            top.scatter(
                t[sel],
                np.asarray(tr["observed"])[sel],
                marker=marker,
                color=color,
                s=14,
                label=f"{lab} ({int(sel.sum())})",
                zorder=3,
            )
        top.set_title(title)
        top.set_ylabel("price")
        top.legend(fontsize="small")
        bot.plot(t, tr["gamma"], color=_COLORS["gamma"], label="gamma P&L (cum.)")
        bot.plot(t, tr["theta"], color=_COLORS["theta"], label="theta P&L (cum.)")
        bot.plot(t, tr["pnl"], color="k", lw=1.2, label="total P&L")
        if np.any(np.asarray(tr["costs"]) != 0):
            bot.plot(t, tr["costs"], color=_COLORS["costs"], lw=0.8, label="costs (cum.)")
        bot.axhline(0.0, color="k", lw=0.5)
        bot.set_xlabel("step")
        bot.set_ylabel("P&L")
        bot.legend(fontsize="small")
    fig.suptitle("Gamma scalping: hedge trades, gamma earned and theta paid")
    return fig


def plot_equity(
    result: Any, ax: Any = None, *, currency: str = "quote currency", title: str | None = None
) -> Any:
    """A backtest (:class:`gammaext.backtest.BacktestResult`): the close with long and short
    entries and the exits above, equity and realised equity below (in ``currency``), titled
    with the net profit. With ``ax``, both go on that axes (equity on a twin y axis). Returns
    the Figure."""
    if ax is None:
        fig, axes = _figure(2, 1, figsize=(10, 6), layout="constrained")
        ax_px, ax_eq = axes[0, 0], axes[1, 0]
        ax_eq.sharex(ax_px)
    else:
        fig, ax_px = ax.figure, ax
        ax_eq = ax.twinx()
    eq = result.equity
    bars = result.bars
    x = bars.time if getattr(bars, "time", None) is not None else np.arange(len(bars.close))
    ax_px.plot(x, bars.close, color="0.4", lw=0.8, label="close")
    tr = getattr(result, "trades", None)
    if tr is not None and len(tr["pnl"]):
        for side, marker, color in (("long", "^", "tab:green"), ("short", "v", "tab:red")):
            sel = tr["direction"] == side
            ax_px.scatter(
                x[tr["entry_bar"][sel]], tr["entry_price"][sel], marker=marker, color=color,
                s=18, label=f"{side} entry", zorder=3,
            )
        ax_px.scatter(
            x[tr["exit_bar"]], tr["exit_price"], marker="x", color="k", s=14, label="exit",
            zorder=3,
        )
    ax_px.set_ylabel(f"price ({currency})")
    ax_px.legend(loc="best", fontsize="small")
    ax_eq.plot(x, eq["equity"], color="tab:blue", lw=1.0, label="equity")
    if "realized_equity" in eq:
        ax_eq.plot(
            x, eq["realized_equity"], color="tab:blue", ls=":", lw=0.8, label="realised equity"
        )
    ax_eq.set_ylabel(f"equity ({currency})")
    ax_eq.legend(loc="best", fontsize="small")
    if title is None:
        summary = getattr(result, "summary", {})
        title = "Gamma-scalping backtest"
        if "net_profit" in summary:
            title += (
                f": net profit {summary['net_profit']:,.2f} {currency}"
                f" ({summary.get('net_profit_pct', math.nan):+.2f}%),"
                f" {int(summary.get('closed_trades', 0))} trades"
            )
    fig.suptitle(title)
    return fig


def save(fig: Any, path: str | os.PathLike[str], dpi: int = 110) -> Path:
    """Write a figure as PNG (creating the folder) and return its path."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(p, dpi=dpi)
    return p


def save_all(figs: Mapping[str, Any], out: str | os.PathLike[str]) -> list[Path]:
    """Write ``{name: figure}`` as ``out/name.png``."""
    return [save(f, Path(out) / f"{name}.png") for name, f in figs.items()]


def lab_figures(
    result: _lab.LabResult,
    table: Any = None,
    frontier_table: Any = None,
    traces: Mapping[str, Mapping[str, np.ndarray]] | None = None,
) -> dict[str, Any]:
    """The standard set of figures of a lab run (the CLI's PNGs)."""
    table = result.table(output="numpy") if table is None else table
    figs = {
        "pnl_distribution": plot_pnl_distribution(result),
        "pnl_split": plot_pnl_split(table),
        "frontier": plot_frontier(table if frontier_table is None else frontier_table),
    }
    if traces:
        figs["hedge_path"] = plot_hedge_path(traces)
    return figs
