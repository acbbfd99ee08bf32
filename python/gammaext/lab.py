"""The gamma-scalping lab: compare hedging rules across market scenarios.

:func:`compare_rules` hedges the same random paths of every scenario under every rule (common
random numbers, so the differences between rules are not noise) and returns a tidy table, one
row per rule x scenario: mean, standard deviation and confidence interval of the total P&L and
of each P&L part, the paired difference to a baseline rule, rebalances, turnover, costs, P&L
quantiles, CVaR 5% and a Sharpe-like ratio. :func:`sweep` runs a rule family over a parameter
range (fine to coarse) and :func:`frontier` / :func:`best_rules` read the cost-versus-risk
frontier and the best rule per scenario from the table.

Exact merging. Paths are processed in chunks of path indices ``[a, b)``; the engine's
counter-based generator makes a chunk equal to rows ``a..b-1`` of a single run. Each chunk
gives partial statistics (:class:`ChunkStats`): the count, the *exact* sums of every field and
of its squares (held as big integers times a power of two, so adding them is exact and
independent of order), and the per-path P&L (8 bytes per path per rule x scenario, for the
quantiles and the CVaR). Merging is therefore exact: a chunked, threaded or Dask run gives the
same table, bit for bit, whatever the chunk size or the order in which chunks finish.

Progress and interruption: a progress bar (tqdm if installed, on a terminal) advances per
chunk; Ctrl-C between chunks (a ``KeyboardInterrupt``, also one raised by a ``progress``
callback) stops the run and returns the statistics of the chunks already done, with
``partial=True`` in every row (and ``table.attrs["partial"]`` for a DataFrame).

Scale-out: pass ``client=`` (a ``dask.distributed.Client``) and every chunk becomes a task.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import itertools
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from . import _core, hedging as _h
from .hedging import (
    GBM,
    Accounting,
    Bootstrap,
    Costs,
    DeltaBand,
    EveryK,
    Execution,
    Heston,
    ImbalanceBand,
    Merton,
    Move,
    Noise,
    Oscillation,
    Position,
    ProfileBand,
    Rule,
    SignalGBM,
    Trend,
)

__all__ = [
    "SCENARIOS",
    "ChunkStats",
    "LabResult",
    "Sketch",
    "Scenario",
    "best_rules",
    "check_conclusions",
    "compare_rules",
    "default_lab",
    "frontier",
    "lab_traces",
    "load_closes",
    "rule_label",
    "run_experiment",
    "same_variance_paths",
    "scenario",
    "signal_study",
    "signal_study_summary",
    "spread_study",
    "spread_study_null",
    "spread_study_summary",
    "sweep",
    "sweep_rules",
    "table_rows",
    "validate_rule",
]

#: Fields whose mean, std and confidence interval are reported (total P&L and its parts).
MOMENT_FIELDS: tuple[str, ...] = ("pnl", *_h.PNL_PARTS)
#: Fields whose mean is reported.
MEAN_FIELDS: tuple[str, ...] = ("rebalances", "traded", "turnover", "realized_vol", "max_drawdown")
#: Quantiles of the P&L reported (percent).
QUANTILES: tuple[int, ...] = (5, 50, 95)
#: The tail of the CVaR (fraction of the worst paths).
CVAR_LEVEL = 0.05
#: Default seed of the lab.
DEFAULT_SEED = 20261122

# --------------------------------------------------------------------------------------------
# Exact, order-independent sums


#: Values per row handed to the core at once (its 32-bit halves stay exact below 2**31).
_MAX_EXACT_COUNT = 2**30
_EXACT_BIAS = 1075  # bin b of the core holds integer mantissas times 2**(b - 1075)

ExactSum = tuple[int, int]  # (N, E): the value N * 2**E exactly


def exact_sums(x: np.ndarray) -> list[ExactSum]:
    """The exact sum of every row of a 2-D float64 array, as ``(N, E)`` = ``N * 2**E``.

    Every finite double is ``m * 2**(b - 1075)`` with an integer ``|m| < 2**53`` and a biased
    exponent b. The core (``_core._exact_sum_bins``, one pass, GIL released) adds the 32-bit
    halves of m per exponent in int64, exactly; the few non-empty exponents are then combined
    as Python integers. The result does not depend on the order of the values, so partial sums
    of chunks add up to exactly the sum of the whole. Non-finite values must be removed by the
    caller.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    rows, n = x.shape
    if n > _MAX_EXACT_COUNT:
        parts = [exact_sums(x[:, i : i + _MAX_EXACT_COUNT]) for i in range(0, n, _MAX_EXACT_COUNT)]
        return [_add_all(col) for col in zip(*parts)]
    hi, lo = _core._exact_sum_bins(x)
    out: list[ExactSum] = []
    for r in range(rows):
        total = 0
        for b in np.flatnonzero((hi[r] != 0) | (lo[r] != 0)).tolist():
            total += ((int(hi[r, b]) << 32) + int(lo[r, b])) << b
        out.append((total, -_EXACT_BIAS))
    return out


def _add(a: ExactSum, b: ExactSum) -> ExactSum:
    e = min(a[1], b[1])
    return ((a[0] << (a[1] - e)) + (b[0] << (b[1] - e)), e)


def _add_all(items: Iterable[ExactSum]) -> ExactSum:
    total: ExactSum = (0, 0)
    for it in items:
        total = _add(total, it)
    return total


def _frac(s: ExactSum) -> Fraction:
    n, e = s
    return Fraction(n * 2**e) if e >= 0 else Fraction(n, 2**-e)


# --------------------------------------------------------------------------------------------
# A mergeable quantile sketch

#: Mantissa bits kept by the quantile sketch: buckets of relative width 2**-SKETCH_BITS, and a
#: reported quantile within 2**-(SKETCH_BITS + 1) (relative) of the exact one.
SKETCH_BITS = 10
_SKETCH_SHIFT = 52 - SKETCH_BITS


@dataclass(frozen=True)
class Sketch:
    """Integer counts of values per bucket: a distribution whose size does not grow with the
    number of values, merged exactly in any order (so bit-identical for any chunking, thread
    count or cluster).

    A bucket is a sign, a binary exponent and the top :data:`SKETCH_BITS` bits of the
    mantissa, read off the float64's bits (no logarithm, so no platform's rounding decides a
    bucket): ``[lo, hi)`` in magnitude with ``hi - lo <= 2**-SKETCH_BITS lo``. Each value is
    represented by its bucket's midpoint, within ``2**-(SKETCH_BITS + 1)`` of it relatively
    (zero is its own bucket, exact). The size is at most ``2 * 2**SKETCH_BITS`` buckets per
    binade spanned by the values (a P&L from 1e-4 to 1e3 in magnitude: under 50,000), whatever
    the number of paths.

    ``keys`` (sorted, order-preserving bucket keys) and ``counts`` are int64 arrays.
    """

    keys: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray) -> Sketch:
        """The sketch of the finite values of ``x`` (non-finite ones are left out)."""
        x = np.asarray(x, dtype=np.float64)
        x = x[np.isfinite(x)] + 0.0  # -0.0 + 0.0 is +0.0: one zero bucket
        bits = x.view(np.int64)
        mag = (bits & np.int64(0x7FFFFFFFFFFFFFFF)) >> _SKETCH_SHIFT
        keys = np.where(bits < 0, -mag - 1, mag)  # order-preserving: negatives below zero
        k, c = np.unique(keys, return_counts=True)
        return cls(k.astype(np.int64), c.astype(np.int64))

    @classmethod
    def merge(cls, parts: Sequence[Sketch]) -> Sketch:
        keys = np.concatenate([p.keys for p in parts]) if parts else np.zeros(0, np.int64)
        counts = np.concatenate([p.counts for p in parts]) if parts else np.zeros(0, np.int64)
        k, inv = np.unique(keys, return_inverse=True)
        return cls(k.astype(np.int64), np.bincount(inv, counts, k.size).astype(np.int64))

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def values(self) -> np.ndarray:
        """The representative (midpoint) of every bucket, in the order of ``keys``."""
        neg = self.keys < 0
        mag = np.where(neg, -self.keys - 1, self.keys)
        lo = (mag << _SKETCH_SHIFT).view(np.float64)
        hi = ((mag + 1) << _SKETCH_SHIFT).view(np.float64)
        mid = np.where(mag == 0, 0.0, lo + (hi - lo) / 2)
        return np.where(neg, -mid, mid)

    def quantile(self, q: float) -> float:
        """The q-quantile, interpolated as ``numpy.quantile`` does between the order
        statistics at ranks ``floor`` and ``ceil`` of ``q (n - 1)``, each taken as its bucket's
        midpoint; NaN when empty."""
        n = self.n
        if n == 0:
            return math.nan
        cum = np.cumsum(self.counts)
        vals = self.values()
        r = q * (n - 1)
        lo, frac = int(math.floor(r)), r - math.floor(r)
        a = float(vals[np.searchsorted(cum, lo, side="right")])
        b = float(vals[np.searchsorted(cum, min(lo + 1, n - 1), side="right")])
        return a + (b - a) * frac

    def lower_mean(self, count: int) -> float:
        """The mean of the ``count`` smallest values (bucket midpoints): the CVaR's tail."""
        if count <= 0 or self.n == 0:
            return math.nan
        before = np.cumsum(self.counts) - self.counts  # values in lower buckets
        take = np.minimum(self.counts, np.maximum(count - before, 0))
        return float(_frac(exact_sums((self.values() * take)[None, :])[0]) / count)

    def histogram(self, bins: Any = 60, range: tuple[float, float] | None = None) -> Any:
        """``numpy.histogram`` of the values (bucket midpoints weighted by their counts)."""
        return np.histogram(self.values(), bins=bins, range=range, weights=self.counts)


# --------------------------------------------------------------------------------------------
# Scenarios


@dataclass(frozen=True)
class Scenario:
    """A named market: a path generator (or an array of paths), a time grid and options.

    paths
        A generator (:class:`~gammaext.GBM`, ...), a 2-D array of prices (paths x times; all
        rows are used, ``n_paths`` of the experiment is ignored), or a callable taking the
        experiment's :class:`~gammaext.Position` and returning a generator (e.g. a GBM whose
        realized vol is a multiple of the implied vol).
    n_steps, dt, times
        The time grid of generators (default 252 steps of 1/252 year); ``dt``/``times`` for
        arrays (default ``dt = 1/252``).
    noise
        Optional microstructure noise (:class:`~gammaext.Noise`).
    implied_vol
        If given, the implied vol of the position in this scenario (replaces ``Position.vol``).
    """

    name: str
    paths: Any
    n_steps: int = 252
    dt: float | None = None
    times: Any = None
    noise: Noise | None = None
    implied_vol: float | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("scenario name must be a non-empty string")
        if self.noise is not None and not isinstance(self.noise, Noise):
            raise TypeError(f"scenario {self.name!r}: noise must be a Noise")
        _h._count("n_steps", self.n_steps, maximum=_h._MAX_STEPS)
        if self.dt is not None:
            _h._finite("dt", self.dt, positive=True)
        if self.implied_vol is not None:
            _h._finite("implied_vol", self.implied_vol, positive=True)

    def check(self, position: Position) -> None:
        """Raise ValueError if this scenario cannot run with ``position`` (a grid the vol path
        does not fit, a jump intensity too high for the step...): what a run would find, found
        before it starts, without simulating a path."""
        gen = self.generator(position)
        pos = self.position(position)
        if self.is_array:
            _h.prepare(gen, position=pos, noise=self.noise, dt=self.dt, times=self.times)
        else:
            _h.prepare(
                gen, position=pos, noise=self.noise, dt=self.dt, times=self.times,
                n_steps=self.n_steps, n_paths=0,
            )

    @property
    def is_array(self) -> bool:
        return not (isinstance(self.paths, _h.PathGenerator) or callable(self.paths))

    def generator(self, position: Position) -> Any:
        """The generator (or array) for this position."""
        if isinstance(self.paths, _h.PathGenerator) or self.is_array:
            return self.paths
        return self.paths(position)

    def position(self, position: Position) -> Position:
        if self.implied_vol is None:
            return position
        return dataclasses.replace(position, vol=self.implied_vol)


@dataclass(frozen=True)
class _RelativeGBM:
    """GBM whose vol is ``ratio`` times the implied vol (picklable, for Dask)."""

    ratio: float
    drift: float = 0.0
    spot: float = 100.0

    def __call__(self, position: Position) -> GBM:
        return GBM(spot=self.spot, vol=self.ratio * position.vol0, drift=self.drift)


def same_variance_paths(
    n_steps: int = 252, size: float = 0.02, swing: int = 63, spot: float = 100.0
) -> dict[str, np.ndarray]:
    """Three price paths with the same realized variance: every step is a log return of
    ``+-size``, in different orders. ``oscillating`` alternates up and down; ``swinging`` goes
    ``swing`` steps up, then ``swing`` down, and so on; ``trending`` only goes up. Hedged at the
    same implied vol they still earn very different amounts: the gamma P&L of a step is
    1/2 Gamma S^2 size^2, and the dollar gamma Gamma S^2 of an at-the-money option is large
    only while the price stays near the strike (docs/lab.md, "The path trap")."""
    n = _h._count("n_steps", n_steps)
    k = np.arange(n)
    signs = {
        "oscillating": np.where(k % 2 == 0, 1.0, -1.0),
        "swinging": np.where((k // _h._count("swing", swing)) % 2 == 0, 1.0, -1.0),
        "trending": np.ones(n),
    }
    step = _h._finite("size", size, positive=True)
    return {
        name: spot * np.exp(np.concatenate([[0.0], np.cumsum(step * sg)]))
        for name, sg in signs.items()
    }


def load_closes(path: str | os.PathLike[str], column: str = "close") -> np.ndarray:
    """Closes from a CSV file with a header (e.g. ``../shared/data/btc_usdt_1h.csv``).

    A small reader (no pandas): the column is found by name, case-insensitively; values must be
    finite and > 0 (the error names the line).
    """
    import csv

    p = Path(path)
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise ValueError(f"{p.name}: empty file") from None
        if column.lower() not in header:
            raise ValueError(f"{p.name}: no column {column!r}; columns are {header}")
        j = header.index(column.lower())
        out = []
        for ln, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                v = float(row[j])
            except (ValueError, IndexError):
                raise ValueError(f"{p.name} line {ln}: {column} is not a number") from None
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{p.name} line {ln}: {column} {v!r} must be finite and > 0")
            out.append(v)
    if len(out) < 2:
        raise ValueError(f"{p.name}: fewer than 2 prices")
    return np.asarray(out, dtype=np.float64)


def default_series() -> Path:
    """The default bar file of the ``bootstrap`` scenario: ``$GAMMAEXT_DATA/btc_usdt_1h.csv``,
    else ``shared/data/btc_usdt_1h.csv`` under the working directory or its parent."""
    name = "btc_usdt_1h.csv"
    env = os.environ.get("GAMMAEXT_DATA")
    candidates = [Path(env) / name] if env else []
    candidates += [Path("shared/data") / name, Path("../shared/data") / name]
    for c in candidates:
        if c.exists():
            return c
    return candidates[-1]


#: Built-in scenarios by kind, filled where each is defined (:func:`_kind`); :func:`scenario`
#: builds one with overrides.
SCENARIOS: dict[str, Callable[..., Scenario]] = {}


def _kind(name: str) -> Callable[[Callable[..., Scenario]], Callable[..., Scenario]]:
    """Registers a scenario maker under ``name`` (one place per scenario kind)."""

    def register(make: Callable[..., Scenario]) -> Callable[..., Scenario]:
        if name in SCENARIOS:
            raise TypeError(f"scenario kind {name!r} is registered twice")
        SCENARIOS[name] = make
        return make

    return register


def _gbm_ratio(ratio: float) -> Callable[..., Scenario]:
    def make(name: str = "", ratio: float = ratio, drift: float = 0.0, **kw: Any) -> Scenario:
        return Scenario(
            name or f"gbm_{ratio:g}x",
            _RelativeGBM(ratio, drift),
            description=f"GBM, realized vol {ratio:g} x implied",
            **kw,
        )

    return make


for _name, _ratio in (("gbm_above", 1.25), ("gbm_equal", 1.0), ("gbm_below", 0.75)):
    _kind(_name)(_gbm_ratio(_ratio))


@_kind("oscillation")
def _oscillation(
    name: str = "oscillation",
    amplitude: float = 0.02,
    period: float = 4.0,
    noise: float = 0.05,
    **kw: Any,
) -> Scenario:
    return Scenario(
        name,
        Oscillation(amplitude=amplitude, period=period, noise=noise),
        description="the lab's oscillating market (returns to its start)",
        **kw,
    )


@_kind("trend")
def _trend(
    name: str = "trend", total_return: float = 0.10, noise: float = 0.01, **kw: Any
) -> Scenario:
    return Scenario(
        name,
        Trend(total_return=total_return, noise=noise),
        description="the lab's smooth trend with tiny noise",
        **kw,
    )


_GRID_KEYS = ("n_steps", "dt", "times", "noise", "implied_vol")


@_kind("gbm")
def _gbm(name: str = "gbm", **kw: Any) -> Scenario:
    grid = {k: kw.pop(k) for k in _GRID_KEYS if k in kw}
    return Scenario(name, GBM(**kw), description="GBM", **grid)


@_kind("heston")
def _heston(name: str = "heston", **kw: Any) -> Scenario:
    grid = {k: kw.pop(k) for k in _GRID_KEYS if k in kw}
    return Scenario(name, Heston(**kw), description="Heston stochastic vol (QE)", **grid)


@_kind("jumps")
def _jumps(name: str = "jumps", **kw: Any) -> Scenario:
    grid = {k: kw.pop(k) for k in _GRID_KEYS if k in kw}
    kw.setdefault("intensity", 4.0)
    kw.setdefault("jump_mean", -0.03)
    kw.setdefault("jump_std", 0.06)
    return Scenario(name, Merton(**kw), description="Merton jump-diffusion", **grid)


@_kind("noisy")
def _noisy(
    name: str = "noisy", kind: str = "bounce", size: float = 0.0005, ratio: float = 1.0, **kw: Any
) -> Scenario:
    noise = kw.pop("noise", None) or Noise(kind, size)  # type: ignore[arg-type]
    return Scenario(
        name,
        _RelativeGBM(ratio),
        noise=noise,
        description=f"GBM at the implied vol, {kind} noise {size:g}",
        **kw,
    )


@_kind("signals")
def _signals(name: str = "signals", **kw: Any) -> Scenario:
    grid = {k: kw.pop(k) for k in _GRID_KEYS if k in kw}
    gen = SignalGBM(**kw)
    return Scenario(
        name, gen, description=f"GBM with a {gen.signal} signal of informativeness {gen.rho:g}",
        **grid,
    )


@_kind("bootstrap")
def _bootstrap(
    name: str = "bootstrap",
    file: str | os.PathLike[str] | None = None,
    prices: Any = None,
    column: str = "close",
    block: int = 24,
    periods_per_year: float = 365.0 * 24.0,
    n_steps: int = 24 * 30,
    implied_vol: float | None = None,
    **kw: Any,
) -> Scenario:
    if prices is None:
        path = Path(file) if file is not None else default_series()
        if not path.exists():
            raise FileNotFoundError(f"bootstrap scenario: price file {path} not found (file=)")
        prices = load_closes(path, column)
    prices = np.asarray(prices, dtype=np.float64)
    if implied_vol is None:  # price the options at the series' own historical vol (fair)
        implied_vol = float(np.std(np.diff(np.log(prices)), ddof=1) * math.sqrt(periods_per_year))
    return Scenario(
        name,
        Bootstrap(prices=prices, block=block),
        n_steps=n_steps,
        dt=1.0 / periods_per_year,
        implied_vol=implied_vol,
        description="block bootstrap of a real series",
        **kw,
    )


@_kind("user")
def _user(name: str = "user", paths: Any = None, **kw: Any) -> Scenario:
    if paths is None:
        raise ValueError("the user scenario needs paths= (a 2-D array of prices)")
    return Scenario(name, np.asarray(paths, dtype=np.float64), description="user paths", **kw)


#: Built-in scenarios by name; :func:`scenario` builds one with overrides.


def scenario_keys(kind: str) -> set[str]:
    """The parameters a built-in scenario kind takes (for error messages)."""
    make = SCENARIOS[kind]
    generator = {"gbm": GBM, "heston": Heston, "jumps": Merton}.get(kind)
    keys = {f.name for f in dataclasses.fields(generator)} if generator else set()
    keys |= {
        p.name
        for p in inspect.signature(make).parameters.values()
        if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "name"
    }
    return keys | set(_GRID_KEYS)


def scenario(kind: str, name: str | None = None, **params: Any) -> Scenario:
    """A built-in scenario by kind (see :data:`SCENARIOS`), with parameters overridden.

    ``gbm_above`` / ``gbm_equal`` / ``gbm_below``: GBM with realized vol 1.25 / 1 / 0.75 x the
    implied vol (``ratio=``, ``drift=``); ``oscillation`` (``amplitude``, ``period``,
    ``noise``) and ``trend`` (``total_return``, ``noise``): the lab's two markets; ``heston``
    (:class:`~gammaext.Heston` arguments); ``jumps`` (:class:`~gammaext.Merton` arguments);
    ``noisy``: GBM at the implied vol with bid-ask bounce (``kind``, ``size``); ``bootstrap``:
    block bootstrap of ``file``'s closes (default ``../shared/data/btc_usdt_1h.csv``) or of
    ``prices``, hourly, 30 days, priced at the series' own vol; ``user``: ``paths=`` an array.
    ``gbm``: a plain :class:`~gammaext.GBM` (``spot``, ``vol``, ``drift``). Every scenario also
    takes ``n_steps``, ``dt``, ``times``, ``noise`` and ``implied_vol``.
    """
    try:
        make = SCENARIOS[kind]
    except KeyError:
        raise ValueError(f"unknown scenario {kind!r}; built-in: {sorted(SCENARIOS)}") from None
    if "noise" in params and isinstance(params["noise"], Mapping):
        params["noise"] = Noise(**params["noise"])
    return make(name=name or kind, **params)


def _as_scenarios(scenarios: Any) -> list[Scenario]:
    if isinstance(scenarios, (str, Scenario, _h.PathGenerator)):
        scenarios = [scenarios]
    items: list[tuple[str | None, Any]]
    if isinstance(scenarios, Mapping):
        items = list(scenarios.items())
    else:
        items = [(None, s) for s in scenarios]
    out: list[Scenario] = []
    for key, s in items:
        if isinstance(s, str):
            s = scenario(s, name=key)
        elif isinstance(s, Scenario):
            s = s if key is None else dataclasses.replace(s, name=key)
        elif isinstance(s, _h.PathGenerator):
            s = Scenario(key or type(s).__name__.lower(), s)
        elif isinstance(s, np.ndarray) or (isinstance(s, Sequence) and key is not None):
            s = Scenario(key or "user", np.asarray(s, dtype=np.float64))
        else:
            raise TypeError(
                f"scenario {key!r}: expected a name, a Scenario, a generator or an array; "
                f"got {type(s).__name__}"
            )
        out.append(s)
    if not out:
        raise ValueError("no scenarios")
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise ValueError(f"scenario names must be distinct, got {names}")
    return out


# --------------------------------------------------------------------------------------------
# Rules


def rule_label(rule: Rule) -> str:
    """A short label: ``Move(0.01)``, ``EveryK(1)``, ``DeltaBand(0.1)|MaxInterval(24)``."""
    if isinstance(rule, _h.AnyOf):
        return "|".join(rule_label(r) for r in rule.rules)
    if isinstance(rule, _h.VolGate):
        return f"VolGate({rule_label(rule.rule)},{rule.min_ratio:g})"
    names: list[str] = (
        [f.name for f in dataclasses.fields(rule)] if dataclasses.is_dataclass(rule) else []
    )
    first = [getattr(rule, n) for n in names[:1]]
    arg = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in first)
    return f"{type(rule).__name__}({arg})"


def _as_rules(rules: Any) -> dict[str, Rule]:
    if isinstance(rules, Rule):
        rules = [rules]
    if isinstance(rules, Mapping):
        out = {str(k): v for k, v in rules.items()}
    else:
        out = {}
        for r in rules:
            label = rule_label(r) if isinstance(r, Rule) else repr(r)
            if label in out:
                label = f"{label}#{len(out)}"
            out[label] = r
    if not out:
        raise ValueError("no rules")
    for k, r in out.items():
        if not isinstance(r, Rule):
            raise TypeError(f"rule {k!r} must be a Rule, got {type(r).__name__}")
        try:
            validate_rule(r)
        except ValueError as exc:
            raise ValueError(f"rule {k!r}: {exc}") from None
    return out


def validate_rule(rule: Rule) -> None:
    """Raise ValueError if the rule cannot be run (e.g. two Move rules in one AnyOf)."""
    rule._params(_h._Params(), 1.0)


def sweep_rules(family: str | Callable[[float], Rule], values: Iterable[float]) -> dict[str, Rule]:
    """Rules of one family over parameter values, named ``family=value``.

    family: ``move`` (relative move threshold), ``clock`` (every k steps), ``band`` (delta band
    as a fraction of the option quantity), ``band_shares``, ``trend_band``, ``atr`` (ATR
    multiple), ``whalley_wilmott`` (risk aversion; the cost is the run's own),
    ``profile_band`` and ``imbalance_band`` (base width as a fraction; they need signals), or
    a callable value -> Rule.
    """
    make: Callable[[float], Rule]
    if isinstance(family, str):
        try:
            cls = Rule.families[family]
        except KeyError:
            raise ValueError(
                f"unknown rule family {family!r}; known: {sorted(Rule.families)}"
            ) from None
        fname = family
        make = functools.partial(cls._sweep, family=family)
    else:
        make, fname = family, getattr(family, "__name__", "rule")
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("sweep values are empty")
    return {f"{fname}={v:g}": make(v) for v in vals}


# --------------------------------------------------------------------------------------------
# Partial statistics of chunks


@dataclass
class ChunkStats:
    """Mergeable statistics of one rule x scenario over a set of paths (exact).

    ``sums[f]`` / ``sumsq[f]``: exact sums of field f and of its squares (:func:`exact_sums`);
    ``diff``/``diffsq``: of the paired P&L difference to the baseline rule; ``pnl``: the
    :class:`Sketch` of the P&L (quantiles, CVaR, histograms); ``ranges``: the path index ranges
    covered; ``nonfinite[f]``: count of non-finite values (excluded; the statistic is then NaN).
    Its size does not grow with the number of paths.
    """

    n: int
    sums: dict[str, ExactSum]
    sumsq: dict[str, ExactSum]
    pnl: Sketch
    ranges: list[tuple[int, int]]
    nonfinite: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, res: _h.HedgeResult, base: _h.HedgeResult | None) -> ChunkStats:
        names = [*MOMENT_FIELDS, *MEAN_FIELDS]
        cols = [np.asarray(res.data[f], dtype=np.float64) for f in names]
        diff = res.data["pnl"] - (base.data["pnl"] if base is not None else res.data["pnl"])
        cols.append(diff)
        names.append("diff")
        x = np.vstack(cols)
        bad = ~np.isfinite(x)
        nonfinite = {f: int(c) for f, c in zip(names, bad.sum(axis=1)) if c}
        if nonfinite:
            x = np.where(bad, 0.0, x)
        sq_rows = [*range(len(MOMENT_FIELDS)), len(names) - 1]
        s = exact_sums(x)
        sq = exact_sums(x[sq_rows] * x[sq_rows])
        sqnames = [names[i] for i in sq_rows]
        a = res.first_path
        return cls(
            n=len(res),
            sums=dict(zip(names, s)),
            sumsq=dict(zip(sqnames, sq)),
            pnl=Sketch.of(res.data["pnl"]),
            ranges=[(a, a + len(res))],
            nonfinite=nonfinite,
        )

    @classmethod
    def merge(cls, parts: Sequence[ChunkStats]) -> ChunkStats:
        """Exact merge (any order); chunks are put in path order; overlap is an error."""
        if not parts:
            raise ValueError("nothing to merge")
        order = sorted(parts, key=lambda c: c.ranges[0][0] if c.ranges else -1)
        ranges = sorted(r for c in order for r in c.ranges)
        for (a0, b0), (a1, _) in itertools.pairwise(ranges):
            if a1 < b0:
                raise ValueError(f"chunks overlap: [{a0}, {b0}) and [{a1}, ...)")
        merged: list[tuple[int, int]] = []
        for a, b in ranges:
            if merged and merged[-1][1] == a:
                merged[-1] = (merged[-1][0], b)
            else:
                merged.append((a, b))
        nonfinite: dict[str, int] = {}
        for c in order:
            for k, v in c.nonfinite.items():
                nonfinite[k] = nonfinite.get(k, 0) + v
        return cls(
            n=sum(c.n for c in order),
            sums={k: _add_all(c.sums[k] for c in order) for k in order[0].sums},
            sumsq={k: _add_all(c.sumsq[k] for c in order) for k in order[0].sumsq},
            pnl=Sketch.merge([c.pnl for c in order]),
            ranges=merged,
            nonfinite=nonfinite,
        )

    def mean(self, f: str) -> float:
        """The exact mean of field f (NaN with non-finite values or no paths)."""
        n = self.n - self.nonfinite.get(f, 0)
        return float(_frac(self.sums[f]) / n) if n and not self.nonfinite.get(f) else math.nan

    def _moments(self, f: str, z: float) -> dict[str, float]:
        n = self.n - self.nonfinite.get(f, 0)
        if self.nonfinite.get(f) or n == 0:
            return dict.fromkeys(("mean", "std", "stderr", "ci_low", "ci_high"), math.nan)
        s1 = _frac(self.sums[f])
        mean = s1 / n
        if n < 2:
            std = se = math.nan
        else:
            var = (_frac(self.sumsq[f]) - s1 * s1 / n) / (n - 1)
            std = math.sqrt(max(float(var), 0.0))
            se = std / math.sqrt(n)
        m = float(mean)
        return {"mean": m, "std": std, "stderr": se, "ci_low": m - z * se, "ci_high": m + z * se}

    def row(self, confidence: float = 0.95) -> dict[str, float]:
        """The statistics: ``<field>_mean/_std/_stderr/_ci_low/_ci_high`` for the P&L and its
        parts, ``diff_*`` (paired P&L minus the baseline's), quantiles, CVaR, Sharpe-like
        ratio, means of the activity fields and ``cost_mean`` (mean cost paid, >= 0)."""
        z = statistics.NormalDist().inv_cdf(0.5 + confidence / 2)
        out: dict[str, float] = {"n_paths": float(self.n)}
        for f in MOMENT_FIELDS:
            for k, v in self._moments(f, z).items():
                out[f"{f}_{k}"] = v
        for k, v in self._moments("diff", z).items():
            out[f"diff_{k}"] = v
        for f in MEAN_FIELDS:
            out[f"{f}_mean"] = self.mean(f)
        out["cost_mean"] = -out["costs_mean"]
        ok = self.n > 0 and not self.nonfinite.get("pnl")
        for q in QUANTILES:
            out[f"pnl_q{q:02d}"] = self.pnl.quantile(q / 100) if ok else math.nan
        tail = max(1, math.ceil(CVAR_LEVEL * self.n))
        out["pnl_cvar05"] = self.pnl.lower_mean(tail) if ok else math.nan
        std = out["pnl_std"]
        out["sharpe"] = out["pnl_mean"] / std if std > 0 else math.nan
        return out


# --------------------------------------------------------------------------------------------
# The experiment


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
        ``turnover_mean``, ``realized_vol_mean``, ``max_drawdown_mean``, ``cost_mean`` (cost
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


# --------------------------------------------------------------------------------------------
# The lab's defaults (``gammaext lab``)


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


def table_attr(table: Any, key: str, default: Any = None) -> Any:
    attrs = getattr(table, "attrs", None)
    return attrs.get(key, default) if isinstance(attrs, Mapping) else default


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
