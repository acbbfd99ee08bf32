"""``gammaext`` / ``python -m gammaext``: the command line (for now, a small demo)."""

from __future__ import annotations

import argparse
import sys

import numpy as np

from . import GREEKS, greeks, per_day, simd_level


def _demo() -> None:
    spot, t, vol, rate, div = 100.0, 30 / 365, 0.20, 0.04, 0.01
    print(f"Long 1 ATM straddle: spot {spot}, strike {spot}, {t * 365:.0f} days, vol {vol:.0%}, "
          f"rate {rate:.0%}, div {div:.0%}  (SIMD: {simd_level()})")
    call = greeks(spot, spot, t, vol, rate, div, is_call=True)
    put = greeks(spot, spot, t, vol, rate, div, is_call=False)
    print(f"{'':12s}{'call':>14s}{'put':>14s}{'straddle':>14s}")
    for name in GREEKS:
        c, p = call[name], put[name]
        print(f"{name:12s}{c:14.6f}{p:14.6f}{c + p:14.6f}")
    print(f"{'theta/day':12s}{per_day(call.theta):14.6f}{per_day(put.theta):14.6f}"
          f"{per_day(call.theta + put.theta):14.6f}")

    strikes = np.arange(80.0, 121.0, 5.0)
    chain = greeks(spot, strikes, t, vol, rate, div, is_call=strikes >= spot,
                   which=("price", "delta", "gamma", "vega", "theta"))
    print("\nOut-of-the-money chain (puts below 100, calls from 100):")
    print(f"{'strike':>8s}{'type':>6s}{'price':>10s}{'delta':>10s}{'gamma':>10s}"
          f"{'vega/pt':>10s}{'theta/day':>11s}")
    for i, k in enumerate(strikes):
        print(f"{k:8.1f}{'call' if k >= spot else 'put':>6s}{chain.price[i]:10.4f}"
              f"{chain.delta[i]:10.4f}{chain.gamma[i]:10.5f}{chain.vega[i] / 100:10.4f}"
              f"{per_day(chain.theta[i]):11.4f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gammaext", description="Black-Scholes Greeks and gamma-scalping tools."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("demo", help="print the Greeks of an example straddle and a small chain")
    args = parser.parse_args(argv)
    if args.command in (None, "demo"):
        _demo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
