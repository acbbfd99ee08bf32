"""Exact, order-independent statistics of the lab: exact sums (big integers times a power of
two), the mergeable P&L sketch, and the per-chunk statistics (:class:`ChunkStats`)."""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

from .. import _core, hedging as _h

#: Fields whose mean, std and confidence interval are reported (total P&L and its parts).
MOMENT_FIELDS: tuple[str, ...] = ("pnl", *_h.PNL_PARTS)

#: Fields whose mean is reported.
MEAN_FIELDS: tuple[str, ...] = (
    "rebalances", "traded", "turnover", "realized_vol", "max_drawdown", "rolls"
)

#: Quantiles of the P&L reported (percent).
QUANTILES: tuple[int, ...] = (5, 50, 95)

#: The tail of the CVaR (fraction of the worst paths).
CVAR_LEVEL = 0.05


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
