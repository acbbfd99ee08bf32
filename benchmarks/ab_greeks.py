"""A/B of the Greek kernel of two builds in one process: the same inputs, calls alternated, so
that the machine's noise (other jobs on a shared 2-core machine moved separate runs by 10%)
hits both alike. Loads each build's ``_core`` extension by path, checks that every requested
output has the same bits in both (or says how many differ), then prints ns per option (min and
median) and the ratio old/new.

    python benchmarks/ab_greeks.py OLD/_core....so NEW/_core....so [--grid compare] [--which six]

Grids: ``compare`` (compare_greeks.py's: S = 100 U(0.8, 1.2), K/S U(0.5, 2), T U(1/365, 3),
r U(0, 0.06), q U(0, 0.04), vol U(0.05, 1)), ``chain`` (one spot, t = 0.5, r = 3%, q = 1%
as scalars; K/S U(0.5, 2), vol U(0.05, 1)) and ``chain-vectors`` (the same values, every input
a full array). One thread, calls, out= buffers; ``--isa`` picks the instruction set of both
builds (default: the best available).
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from types import ModuleType
from typing import Any

import numpy as np

WHICH = {
    "six": ("price", "delta", "gamma", "theta", "vega", "rho"),
    "price": ("price",),
    "delta": ("delta",),
    "dgv": ("delta", "gamma", "vega"),
}
ISAS = {"best": -1, "baseline": 0, "avx2": 1, "avx512": 2}  # as gammaext._arrays numbers them


def load(alias: str, path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"{alias}._core", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def inputs(grid: str, n: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(12345)
    if grid == "compare":
        spot = 100.0 * rng.uniform(0.8, 1.2, n)
        return (spot, spot * rng.uniform(0.5, 2.0, n), rng.uniform(1 / 365, 3.0, n),
                rng.uniform(0.05, 1.0, n), rng.uniform(0.0, 0.06, n), rng.uniform(0.0, 0.04, n))
    strike, vol = 100.0 * rng.uniform(0.5, 2.0, n), rng.uniform(0.05, 1.0, n)
    size = 1 if grid == "chain" else n
    spot, t, rate, div = (np.full(size, x) for x in (100.0, 0.5, 0.03, 0.01))
    return spot, strike, t, vol, rate, div


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--grid", choices=("compare", "chain", "chain-vectors"), default="compare")
    ap.add_argument("--which", choices=sorted(WHICH), default="six")
    ap.add_argument("--n", type=float, default=2e5)
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--isa", choices=("best", "baseline", "avx2", "avx512"), default="best",
                    help="the instruction set both builds use (default: the best available)")
    a = ap.parse_args()
    n = int(a.n)
    spot, strike, t, vol, rate, div = inputs(a.grid, n)
    flag = np.ones(1, dtype=np.uint8)
    isa = ISAS[a.isa]
    builds = {"old": load("ab_old", a.old), "new": load("ab_new", a.new)}
    names = builds["old"]._greek_names()
    outs: dict[str, dict[str, np.ndarray]] = {}
    calls: dict[str, Any] = {}
    for key, core in builds.items():
        outs[key] = {name: np.empty(n) for name in WHICH[a.which]}
        slots = [outs[key].get(name) for name in names]

        def call(core: ModuleType = core, slots: list[np.ndarray | None] = slots) -> None:
            core._greeks(n, spot, strike, t, vol, rate, div, flag, slots, 0, 1, isa)

        calls[key] = call
        call()
    for name in WHICH[a.which]:
        old, new = outs["old"][name], outs["new"][name]
        differ = np.count_nonzero((old != new) & ~(np.isnan(old) & np.isnan(new)))
        print(f"{name}: {'same bits' if differ == 0 else f'{differ} of {n} differ'}")
    times: dict[str, list[float]] = {key: [] for key in builds}
    for _ in range(a.reps):
        for key in builds:
            t0 = time.perf_counter()
            calls[key]()
            times[key].append((time.perf_counter() - t0) / n * 1e9)
    tm = {key: np.array(v) for key, v in times.items()}
    for key, v in tm.items():
        print(f"{key}: min {v.min():.2f} median {np.median(v):.2f} ns/option")
    print(f"old/new: {tm['old'].min() / tm['new'].min():.3f} (min), "
          f"{np.median(tm['old'] / tm['new']):.3f} (median of pairs)")


if __name__ == "__main__":
    main()
