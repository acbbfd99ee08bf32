"""What limits gammaext.greeks against a plain libmvec loop: speed and accuracy, in one process.

    python benchmarks/greeks_limit.py [--n 1e7] [--reps 7] [--sample 2000]

Issue 15 asks for the Greek kernel at 1.0x the speed of ``../shared/anchors/greeks_loop.cpp``
(the price and five Greeks of a call with glibc's vector exp, log and erfc, which need
-ffast-math) while keeping every accuracy test, issue 18's "price within 16 ulps of the exact
price of the inputs" included. This script times three things alternately on the same inputs,
one thread, 64-byte aligned arrays, ``out=`` buffers:

- the libmvec loop (built here from the anchor, which is not copied into the project; skipped if
  ``../shared`` is missing), compiled with the anchor's flags but linked without -ffast-math: a
  library linked with it carries crtfastmath.o, which sets flush-to-zero and denormals-are-zero
  for the whole process when it is loaded, and gammaext's prices near underflow then come out
  as 0 (compare_greeks.py's own run has that side effect; its 1e-10 absolute tolerance does not
  see it);
- ``plain_greeks.cpp`` (beside this file): the same textbook formulas with gammaext's own
  full-precision primitives, no validation and no careful price: what our arithmetic costs;
- ``gammaext.greeks`` (price, delta, gamma, theta, vega, rho).

on two grids: ``compare`` (compare_greeks.py's inputs) and ``no-cancel`` (near the money with
vol sqrt t >= 0.56, where S e^{-qt} N(d1) - K e^{-rt} N(d2) does not cancel, so no option takes
the careful price). Then it prices ``--sample`` options of each grid (calls) with each method
against 40-digit mpmath and prints the worst and the 99th-percentile error in ulps of the exact
price, and the share of options whose terms cancel by more than the kernel's threshold (those
that take the careful price: (T1 + T2)/P > 22/3, black_scholes_impl.hpp's mark_careful).
Last, the broadcast case: gammaext on a chain (one spot, expiry, rate and yield as scalars)
against the same values as full arrays, on ab_greeks.py's chain and on a chain where nothing
cancels.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import pathlib
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable

import numpy as np

import gammaext as gx

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
ANCHOR = ROOT.parent / "shared" / "anchors" / "greeks_loop.cpp"
NAMES = ("price", "delta", "gamma", "theta", "vega", "rho")
# Our kernels' flags (CMakeLists.txt's gammaext_flags and per-instruction-set options).
OUR_FLAGS = ["-std=c++20", "-O3", "-fno-math-errno", "-fno-trapping-math", "-ffp-contract=fast",
             "-fopenmp-simd", "-DGAMMAEXT_ISA_NS=isa_plain", f"-I{ROOT / 'cpp' / 'include'}"]
ISA_FLAGS = {"baseline": [], "avx2": ["-mavx2", "-mfma"],
             "avx512": ["-mavx512f", "-mavx512dq", "-mavx512vl", "-mavx2", "-mfma",
                        "-mprefer-vector-width=512"]}
CAREFUL_CANCEL = 22.0 / 3.0  # kTermUlps C + 1 > kCareUlps with kTermUlps 1.5, kCareUlps 12

Loop = Callable[..., None]


def build(tmp: pathlib.Path) -> dict[str, Loop]:
    """The loops as ctypes functions: plain_greeks and plain_chain always, the libmvec loop if
    the anchor exists."""
    dp = np.ctypeslib.ndpointer(dtype=np.float64, flags="C_CONTIGUOUS")
    loops: dict[str, Loop] = {}
    sources = {"plain loop, our primitives": (HERE / "plain_greeks.cpp", "plain_greeks",
                                               OUR_FLAGS + ISA_FLAGS[gx.simd_level()])}
    if ANCHOR.exists():
        sources["libmvec loop"] = (ANCHOR, "greeks_loop",
                                   ["-O3", "-march=native", "-mprefer-vector-width=512",
                                    "-ffast-math", "-fopenmp"])
    else:
        print(f"({ANCHOR} not found: no libmvec loop)")
    for name, (src, symbol, flags) in sources.items():
        obj, so = tmp / f"{symbol}.o", tmp / f"{symbol}.so"
        subprocess.run(["g++", *flags, "-fPIC", "-c", str(src), "-o", str(obj)], check=True)
        link = ["-fopenmp", "-lmvec", "-lm"] if "-fopenmp" in flags else []
        subprocess.run(["g++", "-shared", str(obj), "-o", str(so), *link], check=True)
        lib = ctypes.CDLL(str(so))
        if hasattr(lib, "set_threads"):
            lib.set_threads.argtypes = [ctypes.c_int]
            lib.set_threads(1)
        fn = getattr(lib, symbol)
        fn.argtypes = [dp] * 12 + [ctypes.c_int64]
        fn.restype = None
        loops[name] = fn
        if symbol == "plain_greeks":
            chain = lib.plain_chain
            d = ctypes.c_double
            chain.argtypes = [d, dp, d, d, d, dp] + [dp] * 6 + [ctypes.c_int64]
            chain.restype = None
            loops["plain chain"] = chain
    return loops


def aligned(x: np.ndarray) -> np.ndarray:
    buf = np.empty(x.size * 8 + 64, dtype=np.uint8)
    off = (-buf.ctypes.data) % 64
    out = buf[off:off + x.size * 8].view(np.float64)
    out[:] = x
    return out


def grid(name: str, n: int) -> tuple[np.ndarray, ...]:
    """S, K, T, r, q, vol (the anchor's argument order)."""
    rng = np.random.default_rng(12345)
    spot = 100.0 * rng.uniform(0.8, 1.2, n)
    if name == "compare":
        strike, t = spot * rng.uniform(0.5, 2.0, n), rng.uniform(1 / 365, 3.0, n)
        rate, div = rng.uniform(0.0, 0.06, n), rng.uniform(0.0, 0.04, n)
        vol = rng.uniform(0.05, 1.0, n)
    else:
        strike, t = spot * rng.uniform(0.9, 1.1, n), rng.uniform(2.0, 3.0, n)
        rate, div = rng.uniform(0.0, 0.06, n), rng.uniform(0.0, 0.04, n)
        vol = rng.uniform(0.4, 1.0, n)
    return tuple(aligned(x) for x in (spot, strike, t, rate, div, vol))


def exact(args: tuple[np.ndarray, ...], m: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact call price of the first m options, and (T1 + T2)/P, to 40 digits."""
    import mpmath as mp

    price, cancel = np.empty(m), np.empty(m)
    with mp.workdps(40):
        for i in range(m):
            s, k, t, r, q, v = (mp.mpf(float(a[i])) for a in args)
            sd = v * mp.sqrt(t)
            d1 = (mp.log(s / k) + (r - q) * t) / sd + sd / 2
            t1, t2 = s * mp.exp(-q * t) * mp.ncdf(d1), k * mp.exp(-r * t) * mp.ncdf(d1 - sd)
            price[i], cancel[i] = float(t1 - t2), float((t1 + t2) / (t1 - t2))
    return price, cancel


def run_grid(name: str, loops: dict[str, Loop], n: int, reps: int, sample: int) -> None:
    """Times the loops and gammaext.greeks on one grid, then checks their prices."""
    loops = {key: fn for key, fn in loops.items() if key != "plain chain"}
    args = grid(name, n)
    s, k, t, r, q, v = args
    outs = {key: tuple(aligned(np.zeros(n)) for _ in NAMES) for key in loops}
    ours = {nm: aligned(np.zeros(n)) for nm in NAMES}
    methods: dict[str, Callable[[], object]] = {
        key: (lambda fn=fn, o=outs[key]: fn(*args, *o, n)) for key, fn in loops.items()}
    methods["gammaext.greeks"] = lambda: gx.greeks(s, k, t, v, r, q, is_call=True, which=NAMES,
                                                   out=ours, threads=1)
    for f in methods.values():
        f()
    for key in loops:
        for i, nm in enumerate(NAMES):
            np.testing.assert_allclose(outs[key][i], ours[nm], rtol=1e-9, atol=1e-10,
                                       err_msg=f"{key}: {nm}")
    times: dict[str, list[float]] = {key: [] for key in methods}
    for _ in range(reps):
        for key, f in methods.items():
            gc.collect()
            t0 = time.perf_counter()
            f()
            times[key].append((time.perf_counter() - t0) / n * 1e9)
    print(f"\ngrid {name!r}: ns per option, median (min) of {reps}, six outputs")
    ref = statistics.median(times["libmvec loop"]) if "libmvec loop" in times else None
    for key, x in times.items():
        ratio = f"  {ref / statistics.median(x):.2f}x the libmvec loop's speed" if ref else ""
        print(f"  {key:28s} {statistics.median(x):6.2f} ({min(x):.2f}){ratio}")
    m = min(sample, n)
    want, cancel = exact(args, m)
    ok = want >= np.finfo(np.float64).tiny
    print(f"  price error against 40-digit mpmath, {ok.sum()} calls (normal prices), in ulps of"
          " the price (issue 18's test: at most 16):")
    got = {key: outs[key][0][:m] for key in loops} | {"gammaext.greeks": ours["price"][:m]}
    for key, p in got.items():
        err = np.abs(p[ok] - want[ok]) / want[ok] / np.finfo(np.float64).eps
        print(f"  {key:28s} worst {err.max():12.1f}   99th pct {np.percentile(err, 99):10.1f}"
              f"   above 16: {np.mean(err > 16):6.1%}")
    print(f"  terms cancelling by more than {CAREFUL_CANCEL:.2f} (careful price):"
          f" {np.mean(cancel[ok] > CAREFUL_CANCEL):.1%}")


def run_chain(name: str, loops: dict[str, Loop], n: int, reps: int) -> None:
    """gammaext.greeks on a chain (scalar spot, expiry, rate and yield; vectors of strikes and
    vols) against the same values as six full arrays, and the plain loop the same two ways
    (plain_chain computes sqrt t and the discount factors once), alternately."""
    rng = np.random.default_rng(12345)
    lo, hi, t, vlo = (0.5, 2.0, 0.5, 0.05) if name == "chain" else (0.9, 1.1, 2.5, 0.4)
    strike, vol = aligned(100.0 * rng.uniform(lo, hi, n)), aligned(rng.uniform(vlo, 1.0, n))
    spot, rate, div = 100.0, 0.03, 0.01
    full = {key: aligned(np.full(n, x)) for key, x in (("s", spot), ("t", t), ("r", rate),
                                                         ("q", div))}
    ours = {nm: aligned(np.zeros(n)) for nm in NAMES}
    plain = tuple(aligned(np.zeros(n)) for _ in NAMES)
    methods: dict[str, Callable[[], object]] = {
        "gammaext, scalars": lambda: gx.greeks(spot, strike, t, vol, rate, div, which=NAMES,
                                               out=ours, threads=1),
        "gammaext, full arrays": lambda: gx.greeks(full["s"], strike, full["t"], vol, full["r"],
                                                   full["q"], which=NAMES, out=ours, threads=1),
        "plain loop, scalars": lambda: loops["plain chain"](spot, strike, t, rate, div, vol,
                                                            *plain, n),
        "plain loop, full arrays": lambda: loops["plain loop, our primitives"](
            full["s"], strike, full["t"], full["r"], full["q"], vol, *plain, n),
    }
    times: dict[str, list[float]] = {key: [] for key in methods}
    for _ in range(reps):
        for key, f in methods.items():
            t0 = time.perf_counter()
            f()
            times[key].append((time.perf_counter() - t0) / n * 1e9)
    med = {key: statistics.median(x) for key, x in times.items()}
    print(f"\n{name} (K/S {lo}-{hi}, vol {vlo}-1, t = {t}), six outputs, ns per option, median"
          f" of {reps}:")
    for who in ("gammaext", "plain loop"):
        sc, fa = med[f"{who}, scalars"], med[f"{who}, full arrays"]
        print(f"  {who:12s} spot, t, rate, div as scalars {sc:6.2f}, as full arrays {fa:6.2f}:"
              f" {fa / sc:.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=float, default=1e7)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--sample", type=int, default=2000, help="options checked against mpmath")
    a = ap.parse_args()
    n = int(a.n)
    print(f"gammaext {gx.__version__}, {gx.simd_level()}, one thread, n = {n:,}")
    with tempfile.TemporaryDirectory() as tmp:
        loops = build(pathlib.Path(tmp))
        for name in ("compare", "no-cancel"):
            run_grid(name, loops, n, a.reps, a.sample)
        for name in ("chain", "no-cancel chain"):
            run_chain(name, loops, min(n, 1_000_000), 4 * a.reps)


if __name__ == "__main__":
    main()
