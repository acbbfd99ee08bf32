"""The per-path results of a hedging run (:class:`HedgeResult`)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _core
from ._arrays import FloatArray
from ._checks import PNL_PARTS

# --------------------------------------------------------------------------------------------
# Results


def _summ(x: FloatArray, z: float) -> dict[str, float]:
    n = x.size
    mean = float(np.mean(x)) if n else math.nan
    std = float(np.std(x, ddof=1)) if n > 1 else math.nan
    se = std / math.sqrt(n) if n > 1 else math.nan
    return {
        "mean": mean,
        "std": std,
        "stderr": se,
        "ci_low": mean - z * se,
        "ci_high": mean + z * se,
    }


@dataclass(frozen=True, repr=False)
class HedgeResult:
    """Per-path results of :func:`simulate_hedge` (arrays of length ``n_paths``).

    ``pnl`` = ``gamma + theta + vega + vanna + volga + hedge + financing + costs + residual``
    (to rounding):

    * gamma: sum of ``1/2 Gamma_k (S_{k+1} - S_k)^2`` (true price moves, Greeks at the mark vol);
    * theta: sum of ``Theta_k dt_k`` (theta per year, calendar time);
    * vega: sum of ``Vega_k (vol_k+1 - vol_k)``, each leg at its own implied vol when they move
      (a vol path, a surface with dynamics; else 0);
    * vanna, volga: sums of ``Vanna_k dS dvol`` and ``Volga_k dvol^2 / 2``, leg by leg;
    * hedge: P&L of the net delta, ``sum Delta_k (S_{k+1} - S_k) + shares_k (O_{k+1} - O_k)``
      (options' delta on the true price, stock on the observed price O);
    * financing: interest on cash at ``rate`` and dividends on the stock at ``div``;
    * costs: all trading costs, as a (negative) P&L contribution;
    * residual: what the Taylor terms miss (higher orders, expiry settlement).

    Also ``rebalances`` (rule-triggered trades, excluding the initial hedge and the final
    unwind), ``traded`` (total shares traded, all trades), ``turnover`` (traded notional),
    ``realized_vol`` (annualized, from observed log returns), ``max_drawdown`` (of the running
    mark-to-market P&L, from a peak starting at 0), ``final_spot`` and ``rolls`` (the roll
    rule's rolls, :class:`Roll`: one per group rolled). ``trace[path]`` is a dict of per-step
    arrays (:data:`TRACE_FIELDS`) for the traced paths.
    """

    data: dict[str, FloatArray]
    first_path: int = 0
    trace: dict[int, dict[str, FloatArray]] = field(default_factory=dict)

    def __getattr__(self, name: str) -> FloatArray:
        data = object.__getattribute__(self, "data")
        if name in data:
            return data[name]  # type: ignore[no-any-return]
        raise AttributeError(name)

    def __getitem__(self, name: str) -> FloatArray:
        return self.data[name]

    def __len__(self) -> int:
        return int(self.data["pnl"].size)

    def __repr__(self) -> str:
        s = self.summary()
        return (
            f"HedgeResult(n_paths={len(self)}, first_path={self.first_path}, "
            f"pnl mean={s['pnl_mean']:.6g} +- {s['pnl_stderr']:.2g})"
        )

    @property
    def n_paths(self) -> int:
        """The number of paths (``len(result)``), as in the repr."""
        return len(self)

    @property
    def path_index(self) -> np.ndarray:
        return np.arange(self.first_path, self.first_path + len(self), dtype=np.int64)

    def summary(self, confidence: float = 0.95) -> dict[str, float]:
        """Statistics over paths: mean, std, standard error and a normal confidence interval of
        the P&L and of each part, P&L quantiles (1, 5, 25, 50, 75, 95, 99%), CVaR 5% (mean of
        the worst 5% of paths), a Sharpe-like ratio mean/std, and the means of the activity
        fields (``rebalances``, ``traded``, ``turnover``, ``realized_vol``, ``max_drawdown``,
        ``rolls``: ``<field>_mean``). Computed from the per-path arrays, so it is exact after
        :meth:`concat`."""
        if not 0 < confidence < 1:
            raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
        z = _normal_quantile(0.5 + confidence / 2)
        out: dict[str, float] = {"n_paths": float(len(self)), "confidence": confidence}
        for name in ("pnl", *PNL_PARTS):
            for k, v in _summ(self.data[name], z).items():
                out[f"{name}_{k}"] = v
        pnl = np.sort(self.data["pnl"])
        for q in (1, 5, 25, 50, 75, 95, 99):
            out[f"pnl_q{q:02d}"] = float(np.quantile(pnl, q / 100)) if pnl.size else math.nan
        tail = max(1, math.ceil(0.05 * pnl.size))
        out["pnl_cvar05"] = float(np.mean(pnl[:tail])) if pnl.size else math.nan
        std = out["pnl_std"]
        out["sharpe"] = out["pnl_mean"] / std if std and std > 0 else math.nan
        for name in ("rebalances", "traded", "turnover", "realized_vol", "max_drawdown", "rolls"):
            out[f"{name}_mean"] = float(np.mean(self.data[name])) if pnl.size else math.nan
        return out

    def to_dict(self) -> dict[str, FloatArray]:
        return dict(self.data)

    def to_dataframe(self) -> Any:
        """A pandas DataFrame, one row per path (index: global path number)."""
        import pandas as pd

        return pd.DataFrame(self.data, index=pd.Index(self.path_index, name="path"))

    @classmethod
    def concat(cls, results: Sequence[HedgeResult]) -> HedgeResult:
        """Merge chunks of consecutive paths (e.g. from workers) into one result, exactly."""
        parts = sorted(results, key=lambda r: r.first_path)
        if not parts:
            raise ValueError("concat needs at least one result")
        for a, b in itertools.pairwise(parts):
            if a.first_path + len(a) != b.first_path:
                raise ValueError(
                    f"chunks are not contiguous: {a.first_path}+{len(a)} then {b.first_path}"
                )
        data = {k: np.concatenate([r.data[k] for r in parts]) for k in parts[0].data}
        trace: dict[int, dict[str, FloatArray]] = {}
        for r in parts:
            trace.update(r.trace)
        return cls(data, parts[0].first_path, trace)


def _normal_quantile(p: float) -> float:
    return float(_core._norm_ppf(np.array([p]))[0])
