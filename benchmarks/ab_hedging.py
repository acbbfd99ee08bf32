"""One number for an A/B comparison of two builds: ns per path-step of the hedging benchmark's
workload (GBM, 1e5 paths x 252 steps, a long ATM straddle, Move(1%), 2 bps, one thread, best of
3), optionally with bid-ask bounce noise. Run it alternately in each build's environment:

    for r in 1 2 3; do for py in old/.venv/bin/python new/.venv/bin/python; do
        echo "$py $($py benchmarks/ab_hedging.py) $($py benchmarks/ab_hedging.py bounce)"
    done; done

Issue #14's comparison: ``leg`` (a one-leg book, an ATM call, at a flat 20% vol) against
``smile`` (the same leg marked on a two-expiry SVI smile, sticky moneyness, times a stochastic
ATM level: the per-leg marks, the OU step and its extra draws all inside the loop), and
``smile1`` (the same on a one-expiry SVI smile: one SVI evaluation per lane and step, no
interpolation between expiries).
Issue #14's roll rule: ``roll`` (a one-month ATM straddle at a flat 20% vol, rolled at each
expiry: the per-lane strike and expiry) and ``rollband`` (also whenever its call delta leaves
[0.25, 0.75], which on some path of a block happens at almost every step) against the default
workload (the straddle without a roll, the constant-vol engine).
``ratio A B [rounds]`` runs workloads A and B alternately in one process (one run of each per
round) and prints each round's times and ratio A / B, then the median ratio: issue #14's bound
is ``ratio smile leg``. ``cores OLD.so NEW.so [workload [rounds]]`` runs one workload
alternately on two builds' engines (their ``_core`` extensions loaded by path) in one process,
and prints old / new.
Issue #15's P&L without its split: ``pnl`` (the default workload with ``split=False``: the
options marked at the start and the horizon, the hedge delta only on the paths that trade),
and what that mode costs before any trade: ``never`` (``split=False`` with ``Never()``: the
paths, the rule's pass and the bookkeeping, no order after the first hedge) and ``every5``
(``split=False`` with ``EveryK(5)``: every lane trades on one step in five); with the split,
``marks`` (``Never()``: the paths and the marks of every step, no order after the first hedge).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

from ab_greeks import load as load_core  # (run as a script: benchmarks/ on sys.path)

import gammaext as g
from gammaext import hedging

KW = {
    "position": g.Position(vol=0.2),
    "rule": g.Move(0.01),
    "costs": g.Costs(bps=2.0),
    "n_steps": 252,
    "dt": 1 / 252,
}

CALL = (g.Leg("call"),)
SMILE = g.VolSurface.svi(
    [0.5, 1.5], [g.SVI(0.02, 0.1, -0.5, 0.0, 0.1), g.SVI(0.05, 0.12, -0.4, 0.05, 0.2)]
)
SMILE1 = g.VolSurface.svi([1.0], [g.SVI(0.035, 0.11, -0.45, 0.02, 0.15)])



def workload(mode: str) -> dict[str, Any]:
    """The keyword arguments of simulate_hedge for a mode ("" the default workload)."""
    kw = dict(KW)
    if mode in ("pnl", "never", "every5"):
        kw["split"] = False
        kw["rule"] = {"pnl": g.Move(0.01), "never": g.Never(), "every5": g.EveryK(5)}[mode]
    elif mode == "marks":
        kw["rule"] = g.Never()
    elif mode == "bounce":
        kw["noise"] = g.Noise("bounce", 5e-4)
    elif mode == "leg":
        kw["position"] = g.Position(legs=CALL, vol=0.2)
    elif mode in ("smile", "smile1"):
        kw["position"] = g.Position(
            legs=CALL,
            vol=SMILE if mode == "smile" else SMILE1,
            sticky="moneyness",
            atm=g.StochasticAtmVol(0.2, 0.2, 2.0, 1.0, -0.7),
        )
    elif mode in ("roll", "rollband"):
        band = (0.25, 0.75) if mode == "rollband" else None
        kw["position"] = g.Position(
            legs=g.straddle(expiry=1 / 12), vol=0.2, roll=g.Roll(1 / 12, delta=band)
        )
    elif mode:
        raise SystemExit(f"unknown workload {mode!r}")
    return kw


def ns_per_path_step(kw: dict[str, Any], repeats: int = 3) -> float:
    """Best of `repeats` runs of 1e5 paths x 252 steps on one thread, ns per path-step."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        g.simulate_hedge(g.GBM(), n_paths=100_000, threads=1, seed=1, **kw)
        best = min(best, time.perf_counter() - t0)
    return best / (1e5 * 252) * 1e9


def runner(kw: dict[str, Any], core: ModuleType | None = None) -> Callable[[], float]:
    """One timed run of a workload, with the engine of `core` (a build's _core) if given."""

    def run() -> float:
        if core is not None:
            hedging._core = core  # the engine call of simulate_hedge
        return ns_per_path_step(kw, 1)

    return run


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] in (["ratio"], ["cores"]):
        if args[0] == "ratio":  # ratio A B [rounds]: two workloads, this build
            run_a, run_b = runner(workload(args[1])), runner(workload(args[2]))
        else:  # cores OLD.so NEW.so [workload [rounds]]: one workload, two builds' engines
            kw = workload(args[3] if len(args) > 3 else "")
            run_a = runner(kw, load_core("ab_old", args[1]))
            run_b = runner(kw, load_core("ab_new", args[2]))
            args = args[1:]
        rounds = int(args[3]) if len(args) > 3 else 10
        run_a(), run_b()  # warm-up
        rows = []
        for _ in range(rounds):
            ta, tb = run_a(), run_b()
            rows.append((ta, tb, ta / tb))
            print(f"{ta:.2f} {tb:.2f} {ta / tb:.3f}", flush=True)
        ratios = sorted(r for _, _, r in rows)
        med_a = statistics.median(r[0] for r in rows)
        med_b = statistics.median(r[1] for r in rows)
        print(f"median ratio {statistics.median(ratios):.3f} "
              f"(range {ratios[0]:.3f}-{ratios[-1]:.3f}), medians {med_a:.2f} / {med_b:.2f}")
    else:
        kw = workload(args[0] if args else "")
        g.simulate_hedge(g.GBM(), n_paths=2000, threads=1, **kw)  # warm-up
        print(f"{ns_per_path_step(kw):.2f}")
