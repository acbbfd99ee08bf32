"""One number for an A/B comparison of two builds: ns per path-step of the hedging benchmark's
workload (GBM, 1e5 paths x 252 steps, a long ATM straddle, Move(1%), 2 bps, one thread, best of
3), optionally with bid-ask bounce noise. Run it alternately in each build's environment:

    for r in 1 2 3; do for py in old/.venv/bin/python new/.venv/bin/python; do
        echo "$py $($py benchmarks/ab_hedging.py) $($py benchmarks/ab_hedging.py bounce)"
    done; done
"""

from __future__ import annotations

import sys
import time

import gammaext as g

KW = {
    "position": g.Position(vol=0.2),
    "rule": g.Move(0.01),
    "costs": g.Costs(bps=2.0),
    "n_steps": 252,
    "dt": 1 / 252,
}

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "bounce":
        KW["noise"] = g.Noise("bounce", 5e-4)
    g.simulate_hedge(g.GBM(), n_paths=2000, threads=1, **KW)  # warm-up
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        g.simulate_hedge(g.GBM(), n_paths=100_000, threads=1, seed=1, **KW)
        best = min(best, time.perf_counter() - t0)
    print(f"{best / (1e5 * 252) * 1e9:.2f}")
