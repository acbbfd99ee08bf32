"""Proof at size: one rule over 1e6 ... 1e8 paths x 252 steps on a Dask LocalCluster.

Not a test (pytest does not collect it): run it by hand, on an otherwise idle machine,

    python benchmarks/scale_cluster.py --paths 1e6 1e7 1e8 [--workers 2] [--chunk 250000]

It reports, per run: wall time, path-steps per second per core, the client's peak RSS and
its growth since the first run, the workers' RSS, and the table's headline columns. The
client keeps only fixed-size statistics per rule x scenario (exact sums and the P&L sketch),
so its memory must not grow with the number of paths.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import time

import gammaext as g
from gammaext import lab


def rss_mb() -> float:
    """This process's peak resident set size (MiB; Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def worker_rss_mb() -> float:
    import psutil

    return float(psutil.Process(os.getpid()).memory_info().rss) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paths", nargs="+", type=float, default=[1e6, 1e7, 1e8])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chunk", type=int, default=250_000)
    ap.add_argument("--steps", type=int, default=252)
    args = ap.parse_args()
    from dask.distributed import Client, LocalCluster

    rules = {"move": g.Move(0.01)}
    scenario = [lab.Scenario("gbm", g.GBM(), n_steps=args.steps)]
    with (
        LocalCluster(
            n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=":0",
            silence_logs=logging.ERROR,
        ) as cluster,
        Client(cluster) as client,
    ):
        first = None
        print(
            f"{'paths':>8s} {'wall s':>8s} {'ns/path-step/core':>18s} {'client peak MiB':>16s} "
            f"{'growth MiB':>11s} {'worker MiB':>16s} {'pnl_mean':>10s} {'pnl_q05':>10s} "
            f"{'pnl_cvar05':>10s}"
        )
        for n in args.paths:
            t0 = time.perf_counter()
            tab = lab.compare_rules(
                rules, scenario, n_paths=int(n), client=client, chunk_size=args.chunk,
                threads=1, progress=False, output="numpy", seed=1,
            )
            wall = time.perf_counter() - t0
            peak = rss_mb()
            first = peak if first is None else first
            workers = client.run(worker_rss_mb)
            ns = wall * args.workers / (n * args.steps) * 1e9
            row = tab[0]
            print(
                f"{n:8.0e} {wall:8.1f} {ns:18.2f} {peak:16.1f} {peak - first:11.1f} "
                f"{'/'.join(f'{v:.0f}' for v in workers.values()):>16s} "
                f"{row['pnl_mean']:10.4f} {row['pnl_q05']:10.4f} {row['pnl_cvar05']:10.4f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
