"""The ``gammaext`` command line (also ``python -m gammaext``).

Subcommands: ``lab`` (the gamma-scalping lab on built-in defaults), ``rules CONFIG.toml`` (a
rule x scenario grid from a TOML file), ``backtest FILE.csv`` (the TradingView strategy
replica), ``bench`` (engine versus the NumPy reference), ``demo`` (Greeks of a straddle).

Exit codes: 0 success; 1 a runtime failure (e.g. an optional component missing); 2 bad usage
or a bad configuration (the message names the key); 130 interrupted (Ctrl-C: the statistics of
the chunks already done are printed and written, marked partial); 141 the output pipe closed
(``gammaext ... | head``; no message).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import math
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool cut off by a pipe


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.code = code


# --------------------------------------------------------------------------------------------
# Output helpers


def _fmt(x: Any, width: int = 10, digits: int = 4) -> str:
    if isinstance(x, str):
        return f"{x:>{width}s}"
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return f"{'-':>{width}s}"
    return f"{x:>{width}.{digits}g}"


def _ci_digits(row: dict[str, Any], low: str, high: str) -> int:
    """Significant digits that resolve a confidence interval: its ends differ in the print."""
    lo, hi = row.get(low), row.get(high)
    if not isinstance(lo, float) or not isinstance(hi, float) or not hi > lo:
        return 4
    scale = max(abs(lo), abs(hi))
    return max(4, min(9, math.ceil(math.log10(scale / (hi - lo))) + 2)) if scale > 0 else 4


def print_table(
    table: Any, file: Any = None, *, partial: bool = False, rules: Any = None
) -> None:
    """A compact text view of a lab table (the full table is in the CSV): the mean P&L per
    position with its confidence interval, its split (gamma + theta + hedge + costs + other
    = P&L, other being vega, financing and the residual), the trades (and the rolls, with a
    roll rule), and the paired difference to the baseline rule with its interval.
    ``partial`` marks an interrupted run even when no chunk had finished (no rows); ``rules``
    (name -> Rule) prints each rule's parameters."""
    from .lab import table_attr, table_rows

    file = sys.stdout if file is None else file
    rows = table_rows(table)
    base = table_attr(table, "baseline", None)
    conf = table_attr(table, "confidence", 0.95)
    print(
        f"P&L per position in price units (undiscounted, at the horizon); "
        f"{conf:.0%} confidence intervals",
        file=file,
    )
    if rules:
        for name, rule in rules.items():
            print(f"  {name} = {rule!r}", file=file)
    cols = [
        ("scenario", "scenario", 12),
        ("rule", "rule", 14),
        ("pnl_mean", "P&L", 10),
        ("pnl_ci_low", "CI low", 10),
        ("pnl_ci_high", "CI high", 10),
        ("pnl_std", "std", 9),
        ("pnl_cvar05", "CVaR 5%", 9),
        ("gamma_mean", "= gamma", 9),
        ("theta_mean", "+ theta", 9),
        ("hedge_mean", "+ hedge", 9),
        ("costs_mean", "+ costs", 9),
        ("other_mean", "+ other", 9),
        ("rebalances_mean", "trades", 7),
        *([("rolls_mean", "rolls", 6)] if any(r.get("rolls_mean", 0.0) for r in rows) else []),
        ("diff_mean", "vs " + (str(base) if base else "base"), 11),
        ("diff_ci_low", "(CI low", 10),
        ("diff_ci_high", "CI high)", 10),
    ]
    print(
        " ".join(f"{h:>{w}s}" if i > 1 else f"{h:<{w}s}" for i, (_, h, w) in enumerate(cols)),
        file=file,
    )
    for r in rows:
        r = dict(r)
        if all(isinstance(r.get(f"{f}_mean"), float) for f in ("vega", "financing", "residual")):
            r["other_mean"] = r["vega_mean"] + r["financing_mean"] + r["residual_mean"]
        digits = {
            "pnl": _ci_digits(r, "pnl_ci_low", "pnl_ci_high"),
            "diff": _ci_digits(r, "diff_ci_low", "diff_ci_high"),
        }
        cells = []
        for i, (k, _, w) in enumerate(cols):
            v = r.get(k)
            if i <= 1:
                cells.append(f"{v!s:<{w}.{w}s}")
            else:
                cells.append(_fmt(v, w, digits.get(k.split("_")[0], 4)))
        print(" ".join(cells), file=file)
    if partial or any(r.get("partial") for r in rows):
        print("PARTIAL: interrupted; rows cover only the paths done (n_paths column)", file=file)


def write_table(table: Any, path: Path) -> list[Path]:
    """Write the table as CSV (and Parquet when pyarrow is installed)."""
    from .lab import table_rows

    path.parent.mkdir(parents=True, exist_ok=True)
    written = [path]
    if hasattr(table, "to_csv"):
        table.to_csv(path, index=False)
        try:
            import pyarrow  # type: ignore[import-not-found,import-untyped,unused-ignore]  # noqa: F401
        except ImportError:
            pass
        else:
            pq = path.with_suffix(".parquet")
            table.to_parquet(pq, index=False)
            written.append(pq)
    else:
        rows = table_rows(table)
        with path.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(list(table.dtype.names))
            for r in rows:
                w.writerow([repr(v) if isinstance(v, float) else v for v in r.values()])
    return written


def _plots_available(no_plots: bool) -> bool:
    if no_plots:
        return False
    try:
        import matplotlib

        if not os.environ.get("DISPLAY") and not os.environ.get("MPLBACKEND"):
            matplotlib.use("Agg")
    except ImportError:
        print(
            "note: matplotlib is not installed; no plots (pip install 'gammaext[plot]')",
            file=sys.stderr,
        )
        return False
    return True


def _progress(args: argparse.Namespace) -> Any:
    return False if args.no_progress else None


def _client(address: str | None) -> Any:
    if not address:
        return None
    try:
        from dask.distributed import Client
    except ImportError:
        raise CliError("--scheduler needs dask.distributed: pip install 'gammaext[dask]'") from None
    client = Client(address)  # type: ignore[no-untyped-call,unused-ignore]
    workers = client.scheduler_info().get("workers", {})  # type: ignore[no-untyped-call,unused-ignore]
    threads = sum(int(w.get("nthreads", 0)) for w in workers.values())
    print(
        f"running on the Dask scheduler {address}: {len(workers)} workers, "
        f"{threads} threads"
    )
    return client


def _finish(res: Any, command: str) -> int:
    if not res.partial:
        return EXIT_OK
    done = ", ".join(f"{k} {res.done[k]}/{res.n_paths[k]}" for k in res.n_paths)
    print(
        f"gammaext {command}: interrupted; partial results (paths done: {done}) written",
        file=sys.stderr,
    )
    return EXIT_INTERRUPTED


# --------------------------------------------------------------------------------------------
# Subcommands


#: Units of the Greeks as gammaext returns them (README, Conventions): time in years, vol,
#: rate and dividend per 1.00 (a vol point is 0.01).
_GREEK_UNITS = {
    "price": "price units",
    "delta": "per 1 of spot",
    "gamma": "per 1 of spot, squared",
    "theta": "per year (theta/day below)",
    "vega": "per 1.00 of vol (/100 for a vol point)",
    "rho": "per 1.00 of rate",
    "epsilon": "per 1.00 of dividend yield",
    "vanna": "delta per 1.00 of vol",
    "charm": "delta per year",
    "vomma": "vega per 1.00 of vol",
    "veta": "vega per year",
    "speed": "gamma per 1 of spot",
    "zomma": "gamma per 1.00 of vol",
    "color": "gamma per year",
    "ultima": "vomma per 1.00 of vol",
    "dual_delta": "per 1 of strike",
    "dual_gamma": "per 1 of strike, squared",
}


def cmd_demo(args: argparse.Namespace) -> int:
    from . import GREEKS, greeks, per_day, simd_level

    spot, t, vol, rate, div = 100.0, 30 / 365, 0.20, 0.04, 0.01
    print(
        f"Long 1 ATM straddle: spot {spot}, strike {spot}, {t * 365:.0f} days, vol {vol:.0%}, "
        f"rate {rate:.0%}, div {div:.0%}  (SIMD: {simd_level()})"
    )
    call = greeks(spot, spot, t, vol, rate, div, is_call=True)
    put = greeks(spot, spot, t, vol, rate, div, is_call=False)
    print(f"{'':12s}{'call':>14s}{'put':>14s}{'straddle':>14s}  unit")
    for name in GREEKS:
        c, p = call[name], put[name]
        print(f"{name:12s}{c:14.6f}{p:14.6f}{c + p:14.6f}  {_GREEK_UNITS[name]}")
    print(
        f"{'theta/day':12s}{per_day(call.theta):14.6f}{per_day(put.theta):14.6f}"
        f"{per_day(call.theta + put.theta):14.6f}  per calendar day (theta / 365)"
    )
    strikes = np.arange(80.0, 121.0, 5.0)
    chain = greeks(
        spot,
        strikes,
        t,
        vol,
        rate,
        div,
        is_call=strikes >= spot,
        which=("price", "delta", "gamma", "vega", "theta"),
    )
    print("\nOut-of-the-money chain (puts below 100, calls from 100):")
    print(
        f"{'strike':>8s}{'type':>6s}{'price':>10s}{'delta':>10s}{'gamma':>10s}"
        f"{'vega/pt':>10s}{'theta/day':>11s}"
    )
    for i, k in enumerate(strikes):
        print(
            f"{k:8.1f}{'call' if k >= spot else 'put':>6s}{chain.price[i]:10.4f}"
            f"{chain.delta[i]:10.4f}{chain.gamma[i]:10.5f}{chain.vega[i] / 100:10.4f}"
            f"{per_day(chain.theta[i]):11.4f}"
        )
    return EXIT_OK


def cmd_lab(args: argparse.Namespace) -> int:
    from . import lab

    t0 = time.perf_counter()
    d = lab.default_lab()
    out = Path(args.out)
    print(
        f"gammaext lab: {len(d['scenarios'])} scenarios x {len(d['rules'])} rules, "
        f"{args.paths} paths each, seed {args.seed}; long ATM straddle at 20% implied vol, "
        "252 daily steps, 2 bps half-spread on hedge trades"
    )
    res = lab.run_experiment(
        d["rules"],
        d["scenarios"],
        position=d["position"],
        costs=d["costs"],
        n_paths=args.paths,
        seed=args.seed,
        threads=args.threads,
        progress=_progress(args),
        baseline=d["baseline"],
        client=_client(args.scheduler),
        per_path=args.per_path,
    )
    table = res.table()
    print()
    print_table(table, partial=res.partial, rules=d["rules"])
    written = write_table(table, out / "lab_table.csv")
    print()
    checks = lab.check_conclusions(table)
    for name, (ok, detail) in checks.items():
        print(f"{'reproduced' if ok else 'NOT reproduced':>14s}: {name}  ({detail})")
    # The same model where no edge can exist: a conclusion above only means something if this
    # passes. (Not after a Ctrl-C: the user asked to stop.)
    if not res.partial:
        noisy_sc = next((sc for sc in res.scenarios if sc.noise is not None), None)
        null_ok, null_detail, _ = lab.null_test(
            d["rules"],
            position=d["position"],
            noise=None if noisy_sc is None else noisy_sc.noise,
            n_paths=args.paths,
            seed=args.seed,
            threads=args.threads,
        )
        print(f"{'null passed' if null_ok else 'null FAILED':>14s}: {null_detail}")
    sweep_table = None
    if not res.partial:
        noisy = [sc for sc in res.scenarios if sc.name == "noisy"]
        sweep_rules = {
            **lab.sweep_rules("move", [0.0025, 0.005, 0.01, 0.02, 0.04]),
            **lab.sweep_rules("clock", [1, 2, 5, 10, 20]),
        }
        try:
            sweep_table = lab.compare_rules(
                sweep_rules,
                noisy,
                position=d["position"],
                costs=d["costs"],
                n_paths=max(1, args.paths // 4),
                seed=args.seed,
                threads=args.threads,
                progress=_progress(args),
            )
        except KeyboardInterrupt:  # pragma: no cover - interactive
            sweep_table = None
        if sweep_table is not None:
            written += write_table(sweep_table, out / "lab_frontier.csv")
            best = lab.best_rules(sweep_table, by="utility", risk_aversion=1.0)
            for r in lab.table_rows(best):
                print(
                    f"{'best':>14s}: in {r['scenario']}, {r['rule']} (mean {r['pnl_mean']:+.3g}, "
                    f"std {r['pnl_std']:.3g}, mean-variance utility, risk aversion 1)"
                )
    study = signals = vega = None
    if not res.partial:
        study = lab.spread_study(
            n_paths=max(1, args.paths // 4), seed=args.seed, threads=args.threads
        )
        written += write_table(study, out / "lab_spread_study.csv")
        for line in lab.spread_study_summary(study):
            print(f"{'spread study':>14s}: {line}")
        ok, detail, _ = lab.spread_study_null(
            n_paths=max(1, args.paths // 4), seed=args.seed, threads=args.threads
        )
        print(f"{'study null':>14s}: {'passed' if ok else 'FAILED'}, {detail}")
        signals = lab.signal_study(
            n_paths=max(1, args.paths // 4), seed=args.seed, threads=args.threads
        )
        written += write_table(signals, out / "lab_signal_study.csv")
        for line in lab.signal_study_summary(signals):
            print(f"{'dynamic bands':>14s}: {line}")
        vols = lab.vol_study(n_paths=max(1, args.paths // 4), seed=args.seed, threads=args.threads)
        written += write_table(vols, out / "lab_vol_study.csv")
        for line in lab.vol_study_summary(vols):
            print(f"{'moving iv':>14s}: {line}")
        vega = lab.vega_hedge_study(
            n_paths=max(1, args.paths // 4), seed=args.seed, threads=args.threads
        )
        written += write_table(vega, out / "lab_vega_hedge.csv")
        for line in lab.vega_hedge_summary(vega):
            print(f"{'vega hedge':>14s}: {line}")
    if _plots_available(args.no_plots):
        from . import plots

        traces = lab.lab_traces(
            d["rules"]["move"],
            res.scenarios[:2],
            position=d["position"],
            costs=d["costs"],
            seed=args.seed,
        )
        figs = plots.lab_figures(res, table, sweep_table, traces)
        if study is not None:
            figs["spread_study"] = plots.plot_spread_study(study)
        if signals is not None:
            figs["signal_study"] = plots.plot_signal_study(signals)
        if vega is not None:
            figs["vega_hedge"] = plots.plot_vega_hedge_study(vega)
        written += plots.save_all(figs, out)
    print("\nwrote " + ", ".join(str(p) for p in written))
    print(f"(main comparison {res.elapsed:.1f} s, total {time.perf_counter() - t0:.1f} s)")
    return _finish(res, "lab")


def cmd_rules(args: argparse.Namespace) -> int:
    from . import lab
    from .config import ConfigError, load_config

    path = Path(args.config)
    if not path.exists():
        raise CliError(f"config file {path} not found", EXIT_USAGE)
    try:
        exp = load_config(path)
    except ConfigError as exc:  # not valid TOML: the key is the file's name, said once
        detail = exc.message if exc.key == path.name else str(exc)
        raise CliError(f"{path}: {detail}", EXIT_USAGE) from None
    opts = dict(exp.options)
    if args.paths is not None:
        opts["n_paths"] = args.paths
    if args.seed is not None:
        opts["seed"] = args.seed
    if args.threads is not None:
        opts["threads"] = args.threads
    out = Path(args.out)
    client = _client(args.scheduler)
    res = lab.run_experiment(
        exp.rules,
        exp.scenarios,
        progress=_progress(args),
        client=client,
        per_path=args.per_path,
        **opts,
    )
    table = res.table(exp.confidence)
    print_table(table, partial=res.partial, rules=exp.rules)
    written = write_table(table, out / "rules_table.csv")
    sweep_table = None
    if exp.sweep is not None and not res.partial:
        sopts = {k: v for k, v in opts.items() if k != "baseline"}
        sres = lab.run_experiment(
            exp.sweep["rules"],
            exp.sweep["scenarios"],
            progress=_progress(args),
            client=client,
            **sopts,
        )
        rows = sres.rows(exp.confidence)
        for r in rows:
            r["param"] = exp.sweep["params"][r["rule"]]
        sweep_table = lab._to_table(rows)
        print("\nsweep:")
        print_table(sweep_table)
        written += write_table(sweep_table, out / "sweep_table.csv")
    best = lab.best_rules(table if sweep_table is None else sweep_table)
    print()
    for r in lab.table_rows(best):
        print(
            f"best in {r['scenario']}: {r['rule']} (mean {r['pnl_mean']:+.4g}, "
            f"std {r['pnl_std']:.4g}, mean-variance utility, risk aversion 1)"
        )
    if _plots_available(args.no_plots):
        from . import plots

        figs = plots.lab_figures(res, table, sweep_table)
        written += plots.save_all(figs, out)
    print("\nwrote " + ", ".join(str(p) for p in written))
    return _finish(res, "rules")


def _backtest_module() -> Any:
    import importlib

    # the module, not the function gammaext.backtest that the package re-exports
    return importlib.import_module("gammaext.backtest")


def _overrides(items: Sequence[str] | None) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for item in items or ():
        if "=" not in item:
            raise CliError(f"--set {item!r}: expected KEY=VALUE", EXIT_USAGE)
        k, v = item.split("=", 1)
        overrides[k.strip()] = _parse_value(v.strip())
    return overrides


def _metric_text(name: str, v: float) -> str:
    """A metric as a person reads it: money with cents, counts as integers, ratios with 4
    significant digits."""
    if not math.isfinite(v):
        return "-" if math.isnan(v) else str(v)
    if name.endswith(("_trades", "_bar", "contracts_held")) and float(v).is_integer():
        return f"{int(v):,d}"
    if name.endswith("_pct") or name in ("percent_profitable",):
        return f"{v:.2f}%"
    if abs(v) >= 1000:
        return f"{v:,.2f}"
    return f"{v:.6g}"


def cmd_backtest(args: argparse.Namespace) -> int:
    bt = _backtest_module()
    path = Path(args.file)
    if not path.exists():
        raise CliError(f"bar file {path} not found", EXIT_USAGE)
    try:
        res = bt.backtest(
            str(path), start_time=args.start_time, end_time=args.end_time,
            **_overrides(args.set),
        )
    except (ValueError, TypeError) as exc:
        raise CliError(str(exc) if str(exc).startswith(path.name) else f"{path}: {exc}",
                       EXIT_USAGE) from None
    out = Path(args.out)
    written = res.write(out)
    if _plots_available(args.no_plots):
        from . import plots

        fig = plots.plot_equity(res, currency=args.currency)
        written.append(plots.save(fig, out / "equity.png"))
    for k, v in res.summary.items():
        print(f"{k:>32s}  {_metric_text(k, v)}")
    print("\nwrote " + ", ".join(str(p) for p in written))
    return EXIT_OK


def _grid_axes(items: Sequence[str] | None, grid_file: str | None) -> dict[str, list[Any]]:
    """The sweep grid: ``--grid KEY=V1,V2,...`` (repeatable) and/or a TOML file whose
    ``[grid]`` table maps parameter names to arrays of values."""
    axes: dict[str, list[Any]] = {}
    if grid_file is not None:
        from .config import read_toml

        doc = read_toml(Path(grid_file))
        unknown = sorted(set(doc) - {"grid"})
        if unknown or not isinstance(doc.get("grid"), dict):
            raise CliError(f"{grid_file}: expected one [grid] table of KEY = [values]",
                           EXIT_USAGE)
        for k, v in doc["grid"].items():
            if not isinstance(v, list) or not v:
                raise CliError(f"{grid_file}: grid.{k}: must be a non-empty array", EXIT_USAGE)
            axes[k] = v
    for item in items or ():
        if "=" not in item:
            raise CliError(f"--grid {item!r}: expected KEY=V1,V2,...", EXIT_USAGE)
        k, v = item.split("=", 1)
        values = [_parse_value(x.strip()) for x in v.split(",") if x.strip()]
        if not values:
            raise CliError(f"--grid {item!r}: no values", EXIT_USAGE)
        axes[k.strip()] = values
    if not axes:
        raise CliError("give the grid with --grid KEY=V1,V2,... or --grid-file GRID.toml",
                       EXIT_USAGE)
    return axes


def cmd_sweep(args: argparse.Namespace) -> int:
    bt = _backtest_module()
    files = [Path(f) for f in args.files]
    for f in files:
        if not f.exists():
            raise CliError(f"bar file {f} not found", EXIT_USAGE)
    axes = _grid_axes(args.grid, args.grid_file)
    fixed = _overrides(args.set)
    names = list(axes)
    try:
        series = [bt.load_csv(f) for f in files]
        plist = [
            bt.StrategyParams(**{**fixed, **dict(zip(names, combo))})
            for combo in itertools.product(*axes.values())
        ]
        res = bt.sweep(series, plist, start_time=args.start_time, end_time=args.end_time,
                       threads=args.threads)
    except (ValueError, TypeError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table = out / "sweep.csv"
    metrics = list(res.metrics)
    rows = [
        (f.name, [getattr(p, n) for n in names], {m: float(res.metrics[m][i, j]) for m in metrics})
        for i, f in enumerate(files)
        for j, p in enumerate(res.params)
    ]
    with table.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["file", *names, *metrics])
        for fname, values, ms in rows:
            w.writerow([fname, *values, *(repr(ms[m]) for m in metrics)])
    if args.sort not in metrics:
        raise CliError(f"--sort must be a metric: {', '.join(metrics)}", EXIT_USAGE)
    key = args.sort
    rows.sort(key=lambda r: -r[2][key] if math.isfinite(r[2][key]) else math.inf)
    shown = ["net_profit", "net_profit_pct", "max_drawdown", "closed_trades", "profit_factor"]
    shown = [key, *(m for m in shown if m != key)]
    print(f"{len(plist)} parameter sets x {len(files)} series; best {args.top} by {key}:")
    print(" ".join([f"{'file':<18s}", *(f"{n:>14.14s}" for n in names),
                    *(f"{m:>16.16s}" for m in shown)]))
    for fname, values, ms in rows[: args.top]:
        print(" ".join([f"{fname:<18.18s}", *(f"{v!s:>14.14s}" for v in values),
                        *(f"{_metric_text(m, ms[m]):>16s}" for m in shown)]))
    print(f"\nwrote {table}")
    return EXIT_OK


def _parse_value(text: str) -> Any:
    """A --set value: int, float, true/false, or the string itself."""
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text


def cmd_bench(args: argparse.Namespace) -> int:
    from . import GBM, Costs, Move, Position, simulate_hedge
    from .reference import hedging as ref

    kw = {
        "position": Position(vol=0.2),
        "rule": Move(0.01),
        "costs": Costs(bps=1.0),
        "n_paths": args.paths,
        "n_steps": args.steps,
        "seed": 1,
    }
    print(f"{args.paths} GBM paths x {args.steps} steps, long straddle, Move(1%), 1 bp cost")

    def best_of(fn: Any, repeat: int) -> tuple[float, Any]:
        best, out = math.inf, None
        for _ in range(repeat):
            t0 = time.perf_counter()
            out = fn()
            best = min(best, time.perf_counter() - t0)
        return best, out

    t_eng, r = best_of(lambda: simulate_hedge(GBM(), **kw), 3)
    t_ref, rr = best_of(lambda: ref.simulate_hedge(GBM(), **kw), 1)
    err = float(np.max(np.abs(r.pnl - rr["pnl"])))
    print(f"{'gammaext engine':>22s} {t_eng * 1e3:9.1f} ms")
    print(
        f"{'NumPy reference':>22s} {t_ref * 1e3:9.1f} ms   ({t_ref / t_eng:.0f}x slower; "
        f"max |P&L difference| {err:.1e})"
    )
    from . import lab

    t_lab, _ = best_of(
        lambda: lab.compare_rules(
            {"move": kw["rule"]},
            [lab.Scenario("gbm", GBM(), n_steps=args.steps)],
            position=kw["position"],
            costs=kw["costs"],
            n_paths=args.paths,
            progress=False,
            output="numpy",
        ),
        3,
    )
    print(
        f"{'lab (compare_rules)':>22s} {t_lab * 1e3:9.1f} ms   (harness overhead "
        f"{(t_lab / t_eng - 1) * 100:+.0f}%)"
    )
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# Parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gammaext",
        description="Black-Scholes Greeks and the gamma-scalping lab: which hedging rule wins "
        "under which market, after costs.",
        epilog="Exit codes: 0 ok, 1 runtime error, 2 bad usage or configuration, "
        "130 interrupted (partial results written), 141 output pipe closed. "
        "'gammaext COMMAND --help' for details.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"gammaext {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p_demo = sub.add_parser("demo", help="print the Greeks of an example straddle and a chain")
    p_demo.set_defaults(func=cmd_demo)

    def common(p: argparse.ArgumentParser, paths_default: int | None) -> None:
        p.add_argument(
            "--paths",
            type=_positive_int,
            default=paths_default,
            help="paths per scenario"
            + (f" (default {paths_default})" if paths_default else " (default: config)"),
        )
        p.add_argument(
            "--seed",
            type=_nonneg_int,
            default=None if paths_default is None else 20261122,
            help="random seed (same seed, same paths)",
        )
        p.add_argument(
            "--threads",
            type=int,
            default=None,
            help="engine threads (default: all cores; results do not depend on it)",
        )
        p.add_argument("--no-progress", action="store_true", help="no progress bar")
        p.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
        p.add_argument(
            "--scheduler",
            metavar="ADDRESS",
            default=None,
            help="run the chunks on a Dask cluster (e.g. tcp://scheduler:8786)",
        )
        p.add_argument(
            "--per-path",
            metavar="DIR",
            default=None,
            help="also write every path's results as Parquet under DIR, one file per chunk "
            "(pyarrow; on a cluster DIR must be shared by the workers)",
        )

    p_lab = sub.add_parser(
        "lab",
        help="the gamma-scalping lab on built-in defaults (table + plots)",
        description="Oscillation vs trend, and clock vs move hedging under a spread: hedges a "
        "long ATM straddle on the same paths under each rule, prints the table and the "
        "conclusions, writes CSV and PNG plots.",
    )
    common(p_lab, 20_000)
    p_lab.add_argument("--out", default="gammaext-lab", help="output folder (default %(default)s)")
    p_lab.set_defaults(func=cmd_lab)

    p_rules = sub.add_parser(
        "rules",
        help="a rule x scenario grid from a TOML file",
        description="Runs every rule of CONFIG.toml on every scenario (same paths), writes "
        "CSV (and Parquet with pyarrow) and plots. See python/gammaext/data/lab_default.toml.",
    )
    p_rules.add_argument("config", metavar="CONFIG.toml")
    common(p_rules, None)
    p_rules.add_argument(
        "--out", default="gammaext-rules", help="output folder (default %(default)s)"
    )
    p_rules.set_defaults(func=cmd_rules)

    p_bt = sub.add_parser("backtest", help="the TradingView strategy replica on a bar CSV file")
    p_bt.add_argument("file", metavar="FILE.csv")
    p_bt.add_argument("--start-time", default=None, help="first bar allowed to trade")
    p_bt.add_argument("--end-time", default=None, help="drop bars after this time")
    p_bt.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a strategy parameter (repeatable)",
    )
    p_bt.add_argument(
        "--out", default="gammaext-backtest", help="output folder (default %(default)s)"
    )
    p_bt.add_argument("--no-plots", action="store_true", help="do not write the equity PNG")
    p_bt.add_argument(
        "--currency", default="quote currency", help="label of prices and equity in the plot"
    )
    p_bt.set_defaults(func=cmd_backtest)

    p_sw = sub.add_parser(
        "sweep",
        help="the strategy replica over a parameter grid on one or more bar CSV files",
        description="Runs every combination of the grid's values (threaded) on every file and "
        "writes OUT/sweep.csv (one row per file x parameter set, every metric); prints the "
        "best rows. Example: gammaext sweep btc.csv --grid stop_loss_atr_mult=1,2,3 "
        "--grid take_profit_atr_mult=2,4 --set commission_pct=0.1",
    )
    p_sw.add_argument("files", metavar="FILE.csv", nargs="+")
    p_sw.add_argument(
        "--grid", action="append", metavar="KEY=V1,V2,...", help="a grid axis (repeatable)"
    )
    p_sw.add_argument(
        "--grid-file", metavar="GRID.toml", help="grid axes as a [grid] table of KEY = [values]"
    )
    p_sw.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="a fixed parameter (repeatable)"
    )
    p_sw.add_argument("--start-time", default=None, help="first bar allowed to trade")
    p_sw.add_argument("--end-time", default=None, help="drop bars after this time")
    p_sw.add_argument("--sort", default="net_profit", help="metric to rank by (descending)")
    p_sw.add_argument("--top", type=_positive_int, default=10, help="rows to print")
    p_sw.add_argument("--threads", type=_positive_int, default=None, help="threads")
    p_sw.add_argument("--out", default="gammaext-sweep", help="output folder (default %(default)s)")
    p_sw.set_defaults(func=cmd_sweep)

    p_bench = sub.add_parser("bench", help="quick speed check: engine vs the NumPy reference")
    p_bench.add_argument("--paths", type=_positive_int, default=2000)
    p_bench.add_argument("--steps", type=_positive_int, default=100)
    p_bench.set_defaults(func=cmd_bench)
    return parser


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _nonneg_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {v}")
    return v


def _show_warning(command: str) -> Any:
    """Warnings as one line naming the command, not Python's two-line source excerpt."""

    def show(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
        print(f"gammaext {command}: warning: {message}", file=sys.stderr)

    return show


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args.command, args.func = "demo", cmd_demo
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning(args.command)
            return int(args.func(args))
    except BrokenPipeError:
        # the reader went away (gammaext ... | head): stop quietly, as a tool killed by SIGPIPE
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except CliError as exc:
        print(f"gammaext {args.command}: error: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(f"gammaext {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, TypeError, OSError, ImportError) as exc:
        if os.environ.get("GAMMAEXT_DEBUG"):
            raise
        print(
            f"gammaext {args.command}: error: {exc} (GAMMAEXT_DEBUG=1 for a traceback)",
            file=sys.stderr,
        )
        return EXIT_ERROR
