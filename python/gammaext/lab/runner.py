"""The lab's runner: chunks of paths through the engine, exact merging, the result table,
progress and Ctrl-C, Dask; :func:`compare_rules`, :func:`sweep`, the frontier and the best rules."""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import hedging as _h
from ..hedging import (
    Accounting,
    Costs,
    Execution,
    Position,
    Rule,
)
from .rule_sets import _as_rules, sweep_rules
from .scenarios import Scenario, _as_scenarios
from .stats import ChunkStats, Sketch

#: Default seed of the lab.
DEFAULT_SEED = 20261122


@dataclass(frozen=True)
class _Spec:
    """Everything a worker needs to compute one chunk (picklable)."""

    rules: dict[str, Rule]
    baseline: str
    position: Position
    costs: Costs
    accounting: Accounting
    seed: int
    threads: int | None
    per_path: str | None = None
    execution: Execution | None = None


def _write_per_path(
    folder: str, scenario: str, a: int, results: Mapping[str, _h.HedgeResult]
) -> None:
    """One Parquet file of chunk [a, b) of a scenario, long format: ``path``, ``rule`` and
    every per-path field; written where the chunk ran (a Dask worker needs ``folder`` on a
    shared file system), so nothing per path travels to the client."""
    try:
        import pyarrow as pa  # type: ignore[import-not-found,import-untyped,unused-ignore]
        import pyarrow.parquet as pq  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        raise ImportError(
            "per_path= writes Parquet: pip install 'gammaext[parquet]' (pyarrow)"
        ) from None
    names = list(results)
    first = next(iter(results.values()))
    n = len(first)
    path = np.tile(first.path_index, len(names))
    rule = pa.DictionaryArray.from_arrays(
        pa.array(np.repeat(np.arange(len(names), dtype=np.int32), n)), pa.array(names)
    )
    columns = {"path": pa.array(path), "rule": rule}
    for f in _h.HEDGE_FIELDS:
        columns[f] = pa.array(np.concatenate([results[r].data[f] for r in names]))
    out = Path(folder) / f"scenario={scenario}"
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), out / f"part-{a:015d}.parquet")


def _prepared_scenario(sc: Scenario, position: Position) -> tuple[Scenario, Position]:
    """Resolve callables; for arrays, fix strikes from row 0 (chunks see other rows first)."""
    pos = sc.position(position)
    gen = sc.generator(pos)
    if sc.is_array:
        arr = np.asarray(gen, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2 or arr.shape[1] < 2:
            raise ValueError(
                f"scenario {sc.name!r}: paths must be 2-D (paths x times, >= 2 times), "
                f"got shape {arr.shape}"
            )
        _h._check_prices(f"scenario {sc.name!r} paths", arr)
        spot0 = float(arr[0, 0])
        legs = tuple(
            leg
            if leg.strike is not None
            else dataclasses.replace(leg, strike=leg.moneyness * spot0)
            for leg in pos.legs
        )
        pos = dataclasses.replace(pos, legs=legs)
        return dataclasses.replace(sc, paths=arr, implied_vol=None), pos
    return dataclasses.replace(sc, paths=gen, implied_vol=None), pos


def _n_paths_of(sc: Scenario, n_paths: int) -> int:
    return int(np.asarray(sc.paths).shape[0]) if sc.is_array else n_paths


def _run_chunk(
    spec: _Spec, sc: Scenario, position: Position, a: int, b: int
) -> dict[str, ChunkStats]:
    """Hedge paths [a, b) of one scenario under every rule (one engine pass)."""
    kw: dict[str, Any] = {"n_steps": sc.n_steps, "dt": sc.dt, "times": sc.times}
    paths = sc.paths
    if sc.is_array:
        paths = np.asarray(sc.paths)[a:b]
        kw = {"dt": sc.dt, "times": sc.times}
    res = _h.simulate_rules(
        paths,
        spec.rules,
        position=position,
        costs=spec.costs,
        accounting=spec.accounting,
        noise=sc.noise,
        execution=spec.execution,
        n_paths=b - a,
        seed=spec.seed,
        first_path=a,
        threads=spec.threads,
        **kw,
    )
    if spec.per_path is not None:
        _write_per_path(spec.per_path, sc.name, a, res)
    base = res[spec.baseline]
    return {name: ChunkStats.of(r, base) for name, r in res.items()}


@dataclass
class LabResult:
    """The outcome of :func:`run_experiment`: merged statistics per (scenario, rule).

    ``stats[(scenario, rule)]`` is a :class:`ChunkStats`; :meth:`table` is the tidy table;
    :meth:`pnl` the per-path P&L (path order); ``partial`` is True when the run was
    interrupted (``done[scenario]`` paths done out of ``n_paths[scenario]``).
    """

    rules: dict[str, Rule]
    scenarios: list[Scenario]
    stats: dict[tuple[str, str], ChunkStats]
    n_paths: dict[str, int]
    done: dict[str, int]
    partial: bool
    baseline: str
    seed: int
    elapsed: float = 0.0
    position: Position = field(default_factory=Position)

    def __repr__(self) -> str:
        """A short summary (mean P&L and its standard error per cell), not the raw sums."""
        paths = ", ".join(
            f"{k} {self.done[k]:,}" + (f"/{self.n_paths[k]:,}" if self.partial else "")
            for k in self.n_paths
        )
        lines = [
            f"<LabResult: {len(self.scenarios)} scenarios x {len(self.rules)} rules, "
            f"seed {self.seed}, baseline {self.baseline!r}, {self.elapsed:.1f} s"
            + (", PARTIAL" if self.partial else ""),
            f"  paths done: {paths}",
            "  mean P&L per position +- standard error:",
        ]
        for sc in self.scenarios:
            cells = []
            for name in self.rules:
                st = self.stats.get((sc.name, name))
                if st is not None and st.n:
                    row = st.row(0.95)
                    se = row["pnl_std"] / math.sqrt(st.n)
                    cells.append(f"{name} {row['pnl_mean']:+.4g} +- {se:.2g}")
            lines.append(f"    {sc.name}: " + "; ".join(cells))
        return "\n".join(lines) + ">"

    def pnl(self, scenario: str, rule: str) -> Sketch:
        """The distribution of the P&L (a :class:`Sketch`; per-path values: ``per_path=``)."""
        return self.stats[(scenario, rule)].pnl

    def rows(self, confidence: float = 0.95) -> list[dict[str, Any]]:
        out = []
        for sc in self.scenarios:
            for name in self.rules:
                st = self.stats.get((sc.name, name))
                if st is None:
                    continue
                row: dict[str, Any] = {"scenario": sc.name, "rule": name}
                row.update(st.row(confidence))
                row["n_paths"] = st.n
                row["partial"] = st.n < self.n_paths[sc.name]
                out.append(row)
        return out

    def table(self, confidence: float = 0.95, *, output: str = "auto") -> Any:
        """The tidy table: a pandas DataFrame (``output="pandas"``, or ``"auto"`` when pandas
        is installed) or a NumPy structured array (``"numpy"``)."""
        return _to_table(
            self.rows(confidence),
            output,
            attrs={
                "partial": self.partial,
                "seed": self.seed,
                "baseline": self.baseline,
                "confidence": confidence,
                "elapsed_s": self.elapsed,
            },
        )


def _to_table(
    rows: list[dict[str, Any]], output: str = "auto", attrs: Mapping[str, Any] | None = None
) -> Any:
    if output not in ("auto", "pandas", "numpy"):
        raise ValueError(f"output must be 'auto', 'pandas' or 'numpy', got {output!r}")
    if output in ("auto", "pandas"):
        try:
            import pandas as pd  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            if output == "pandas":
                raise
        else:
            df = pd.DataFrame(rows)
            df.attrs.update(dict(attrs or {}))
            return df
    if not rows:
        return np.zeros(0, dtype=[("scenario", "U1"), ("rule", "U1")])
    dtype = []
    for k, v in rows[0].items():
        if isinstance(v, str):
            dtype.append((k, f"U{max(len(str(r[k])) for r in rows)}"))
        elif isinstance(v, (bool, np.bool_)):
            dtype.append((k, "?"))
        elif isinstance(v, (int, np.integer)):
            dtype.append((k, "i8"))
        else:
            dtype.append((k, "f8"))
    return np.array([tuple(r[k] for k, _ in dtype) for r in rows], dtype=dtype)


def table_rows(table: Any) -> list[dict[str, Any]]:
    """Rows of a table (DataFrame or structured array) as dicts."""
    if hasattr(table, "to_dict"):
        return list(table.to_dict("records"))
    names = table.dtype.names
    return [{k: (r[k].item() if hasattr(r[k], "item") else r[k]) for k in names} for r in table]


class _Progress:
    """tqdm when asked or on a terminal, a callback, or nothing."""

    def __init__(self, progress: Any, total: int, desc: str) -> None:
        self.callback: Callable[[int, int], Any] | None = None
        self.bar: Any = None
        self.total = total
        self.done = 0
        if callable(progress):
            self.callback = progress
            return
        if progress is None:
            err = sys.stderr
            progress = bool(err is not None and err.isatty()) and not os.environ.get("CI")
        if progress:
            try:
                from tqdm.auto import tqdm  # type: ignore[import-untyped,unused-ignore]
            except ImportError:
                self.callback = self._text
            else:
                self.bar = tqdm(total=total, desc=desc, unit="path", unit_scale=True, leave=False)

    def _text(self, done: int, total: int) -> None:
        print(f"\r{done}/{total} paths", end="" if done < total else "\n", file=sys.stderr)

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        if self.callback is not None:
            self.callback(self.done, self.total)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _chunks(n: int, size: int) -> list[tuple[int, int]]:
    return [(a, min(a + size, n)) for a in range(0, n, size)]


def run_experiment(
    rules: Any,
    scenarios: Any,
    *,
    position: Position | None = None,
    costs: Costs | None = None,
    accounting: Accounting | None = None,
    n_paths: int = 10_000,
    seed: int = DEFAULT_SEED,
    threads: int | None = None,
    chunk_size: int | None = None,
    progress: Any = None,
    baseline: str | None = None,
    client: Any = None,
    per_path: str | os.PathLike[str] | None = None,
    execution: Execution | None = None,
) -> LabResult:
    """Hedge every scenario's paths under every rule; see :func:`compare_rules`.

    Returns a :class:`LabResult` (the merged statistics and P&L sketches) instead of a table.
    """
    rule_map = _as_rules(rules)
    scs = _as_scenarios(scenarios)
    position = Position() if position is None else position
    costs = Costs() if costs is None else costs
    accounting = Accounting() if accounting is None else accounting
    n_paths = _h._count("n_paths", n_paths)
    base = next(iter(rule_map)) if baseline is None else baseline
    if base not in rule_map:
        raise ValueError(f"baseline {base!r} is not one of the rules {list(rule_map)}")
    folder = None if per_path is None else os.fspath(per_path)
    spec = _Spec(
        rule_map, base, position, costs, accounting, int(seed), threads, folder, execution
    )
    resolved = [_prepared_scenario(sc, position) for sc in scs]
    totals = {sc.name: _n_paths_of(sc, n_paths) for sc, _ in resolved}
    size = chunk_size or min(65_536, max(2_048, -(-n_paths // 16)))
    size = _h._count("chunk_size", size)
    # validate every scenario and rule once, cheaply (clear errors before any long run)
    check = dataclasses.replace(spec, per_path=None)
    for sc, pos in resolved:
        _run_chunk(check, sc, pos, 0, min(1, totals[sc.name]))
    # interleave: chunk 0 of every scenario, then chunk 1, ... (a partial run covers all)
    tasks = []
    longest = max(totals.values())
    for a, b in _chunks(longest, size):
        for i, (sc, _) in enumerate(resolved):
            if a < totals[sc.name]:
                tasks.append((i, a, min(b, totals[sc.name])))
    # Each finished chunk is merged at once into the running statistics (fixed size per rule
    # x scenario, so the client's memory does not grow with the number of chunks), by building
    # the new state and storing it in one assignment: a Ctrl-C landing anywhere leaves every
    # chunk either fully counted or absent.
    state: tuple[dict[tuple[str, str], ChunkStats], dict[str, int]] = ({}, dict.fromkeys(totals, 0))
    bar = _Progress(progress, sum(totals.values()), "lab")
    t0 = time.perf_counter()
    partial = False

    def record(i: int, a: int, b: int, out: dict[str, ChunkStats]) -> None:
        nonlocal state
        stats, done = state
        name = resolved[i][0].name
        new_stats = dict(stats)
        for rule, st in out.items():
            old = stats.get((name, rule))
            new_stats[(name, rule)] = st if old is None else ChunkStats.merge([old, st])
        state = (new_stats, {**done, name: done[name] + (b - a)})

    try:
        if client is None:
            for i, a, b in tasks:
                sc, pos = resolved[i]
                record(i, a, b, _run_chunk(spec, sc, pos, a, b))
                bar.update(b - a)
        else:
            partial = _run_dask(client, spec, resolved, tasks, record, bar)
    except KeyboardInterrupt:
        partial = True
    finally:
        bar.close()
    stats, done = state
    return LabResult(
        rules=rule_map,
        scenarios=[sc for sc, _ in resolved],
        stats=stats,
        n_paths=totals,
        done=done,
        partial=partial or any(done[k] < totals[k] for k in totals),
        baseline=base,
        seed=int(seed),
        elapsed=time.perf_counter() - t0,
        position=position,
    )


def _run_dask(
    client: Any,
    spec: _Spec,
    resolved: list[tuple[Scenario, Position]],
    tasks: list[tuple[int, int, int]],
    record: Callable[..., None],
    bar: _Progress,
) -> bool:
    """Submit every chunk as a task; merge as they complete. Returns True if interrupted."""
    from dask.distributed import as_completed

    spec_f = client.scatter(spec, broadcast=True)
    sc_f = [client.scatter(item, broadcast=True) for item in resolved]
    futures = {}
    for i, a, b in tasks:
        fut = client.submit(_dask_chunk, spec_f, sc_f[i], a, b, pure=False)
        futures[fut] = (i, a, b)
    try:
        for fut in as_completed(list(futures)):  # type: ignore[no-untyped-call,unused-ignore]
            i, a, b = futures.pop(fut)
            record(i, a, b, fut.result())
            fut.release()  # the worker may drop the chunk's statistics now
            bar.update(b - a)
    except KeyboardInterrupt:
        client.cancel(list(futures))
        return True
    return False


def _dask_chunk(
    spec: _Spec, item: tuple[Scenario, Position], a: int, b: int
) -> dict[str, ChunkStats]:
    return _run_chunk(spec, item[0], item[1], a, b)


def compare_rules(
    rules: Any,
    scenarios: Any,
    *,
    position: Position | None = None,
    costs: Costs | None = None,
    accounting: Accounting | None = None,
    n_paths: int = 10_000,
    seed: int = DEFAULT_SEED,
    threads: int | None = None,
    chunk_size: int | None = None,
    progress: Any = None,
    baseline: str | None = None,
    client: Any = None,
    confidence: float = 0.95,
    output: str = "auto",
    per_path: str | os.PathLike[str] | None = None,
    execution: Execution | None = None,
) -> Any:
    """Every rule on the same paths of every scenario: a tidy table, one row per rule x scenario.

    Parameters
    ----------
    rules
        A mapping name -> :class:`~gammaext.hedging.Rule`, or a sequence of rules (named by
        :func:`rule_label`).
    scenarios
        Names of built-in scenarios (:data:`SCENARIOS`), :class:`Scenario` objects, generators
        or arrays of paths; a mapping name -> any of these names them.
    position, costs, accounting, execution
        As in :func:`~gammaext.simulate_hedge` (a scenario's ``vol`` replaces the implied vol).
    n_paths, seed
        Paths per scenario (generators) and the seed: path i of a scenario is the same for
        every rule (common random numbers) and for any chunking, thread count or cluster.
    threads, chunk_size
        Engine threads, and paths per chunk (results do not depend on either).
    progress
        None: a progress bar on a terminal (tqdm if installed; off when ``$CI`` is set);
        False: none; True: always; a callable ``f(done, total)`` called after every chunk
        (raising ``KeyboardInterrupt`` in it stops the run, like Ctrl-C).
    baseline
        The rule the paired ``diff_*`` columns compare against (default: the first).
    client
        A ``dask.distributed.Client``: chunks run as Dask tasks (same result, bit for bit).
    confidence
        Of the confidence intervals (normal, mean +- z stderr).
    output
        ``"auto"`` (DataFrame if pandas is installed), ``"pandas"`` or ``"numpy"``
        (structured array).
    per_path
        A folder: every chunk also writes its per-path results there as Parquet (pyarrow
        needed), ``FOLDER/scenario=NAME/part-<first path>.parquet`` with columns ``path``,
        ``rule`` and every field of :class:`~gammaext.HedgeResult`, written by whichever
        process ran the chunk (on a cluster, a folder every worker can write). Read back with
        ``pandas.read_parquet(FOLDER)`` or ``dask.dataframe.read_parquet(FOLDER)`` (the
        scenario comes back as a column). The table never needs them: its size, and the
        client's memory, do not grow with the number of paths.

    Returns
    -------
    DataFrame or structured array
        Columns ``scenario, rule, n_paths``; ``<f>_mean, _std, _stderr, _ci_low, _ci_high`` for
        ``f`` in pnl, gamma, theta, vega, hedge, financing, costs, residual and ``diff`` (P&L
        minus the baseline rule's on the same paths); ``rebalances_mean``, ``traded_mean``,
        ``turnover_mean``, ``realized_vol_mean``, ``max_drawdown_mean``, ``rolls_mean`` (the
        roll rule's rolls, :class:`~gammaext.Roll`; 0 without one), ``cost_mean`` (cost
        paid, >= 0); ``pnl_q05, pnl_q50, pnl_q95``, ``pnl_cvar05`` (mean of the worst 5% of
        paths), ``sharpe`` (mean / std of the P&L); ``partial`` (True if interrupted).
    """
    res = run_experiment(
        rules,
        scenarios,
        position=position,
        costs=costs,
        accounting=accounting,
        n_paths=n_paths,
        seed=seed,
        threads=threads,
        chunk_size=chunk_size,
        progress=progress,
        baseline=baseline,
        client=client,
        per_path=per_path,
        execution=execution,
    )
    return res.table(confidence, output=output)


def sweep(
    family: str | Callable[[float], Rule],
    values: Iterable[float],
    scenarios: Any,
    **kwargs: Any,
) -> Any:
    """:func:`compare_rules` over one rule family and parameter values (fine to coarse).

    The table gets a ``param`` column. Feed it to :func:`frontier` (cost versus risk) and
    :func:`best_rules`. Extra rules (e.g. a clock baseline) can be added with
    ``extra_rules={name: rule}``; they get ``param`` NaN.
    """
    vals = [float(v) for v in values]
    rules = sweep_rules(family, vals)
    extra = kwargs.pop("extra_rules", None) or {}
    params = dict(zip(rules, vals))
    rules = {**rules, **_as_rules(extra)} if extra else rules
    output = kwargs.pop("output", "auto")
    confidence = kwargs.pop("confidence", 0.95)
    res = run_experiment(rules, scenarios, **kwargs)
    rows = res.rows(confidence)
    for r in rows:
        r["param"] = params.get(r["rule"], math.nan)
    return _to_table(rows, output, attrs={"partial": res.partial, "seed": res.seed})


def frontier(
    table: Any, cost: str = "cost_mean", risk: str = "pnl_std", *, output: str = "auto"
) -> Any:
    """The cost-versus-risk frontier: the table's rows with an ``efficient`` column, True for
    the rules no other rule of the same scenario beats on both cost and risk (lower is
    better for both), sorted by scenario and cost."""
    rows = table_rows(table)
    for r in rows:
        r["efficient"] = not any(
            o is not r
            and o["scenario"] == r["scenario"]
            and o[cost] <= r[cost]
            and o[risk] <= r[risk]
            and (o[cost] < r[cost] or o[risk] < r[risk])
            for o in rows
        )
    rows.sort(key=lambda r: (str(r["scenario"]), r[cost]))
    return _to_table(rows, output)


def best_rules(
    table: Any, by: str = "utility", *, risk_aversion: float = 1.0, output: str = "auto"
) -> Any:
    """The best rule of every scenario: one row per scenario.

    by: ``"utility"`` (largest ``pnl_mean - risk_aversion/2 * pnl_std**2``, mean-variance), a
    column to maximize (``"pnl_mean"``, ``"sharpe"``, ``"pnl_cvar05"``), or ``"-column"`` to
    minimize (``"-pnl_std"``).
    """
    rows = table_rows(table)
    if not rows:
        return _to_table([], output)

    def score(r: Mapping[str, Any]) -> float:
        if by == "utility":
            return float(r["pnl_mean"] - 0.5 * risk_aversion * r["pnl_std"] ** 2)
        col, sign = (by[1:], -1.0) if by.startswith("-") else (by, 1.0)
        if col not in r:
            raise ValueError(f"best_rules by={by!r}: no column {col!r}")
        return sign * float(r[col])

    best: dict[str, dict[str, Any]] = {}
    for r in rows:
        s = score(r)
        if math.isnan(s):
            continue
        sc = str(r["scenario"])
        if sc not in best or s > best[sc]["score"]:
            best[sc] = {**r, "score": s}
    return _to_table(list(best.values()), output)


def table_attr(table: Any, key: str, default: Any = None) -> Any:
    attrs = getattr(table, "attrs", None)
    return attrs.get(key, default) if isinstance(attrs, Mapping) else default
