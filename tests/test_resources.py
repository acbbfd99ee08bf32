"""Resources: repeated calls do not leak, memory of fused hedging stays O(paths), and sizes
beyond 2^31 elements go through 64-bit index arithmetic."""

from __future__ import annotations

import gc
import os
import sys

import numpy as np
import pytest

import gammaext

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc needed")
# AddressSanitizer keeps freed memory in quarantine, so RSS says nothing under .ci/sanitize.
rss_meaningful = pytest.mark.skipif(bool(os.environ.get("GAMMAEXT_SANITIZED")),
                                    reason="RSS is not meaningful under AddressSanitizer")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def growth(fn, rounds: int) -> int:
    for _ in range(5):  # warm up allocator pools and caches
        fn()
    gc.collect()
    before = rss_bytes()
    for _ in range(rounds):
        fn()
    gc.collect()
    return rss_bytes() - before


@linux_only
@rss_meaningful
def test_repeated_greeks_calls_do_not_leak(rng):
    spot = rng.uniform(50, 150, 100_000)
    out = {"delta": np.empty(100_000)}

    def call() -> None:
        gammaext.greeks(spot, 100.0, 0.5, 0.2, which=("price", "gamma"))
        gammaext.greeks(spot, 100.0, 0.5, 0.2, which="delta", out=out)
        try:
            gammaext.greeks(-spot, 100.0, 0.5, 0.2)
        except ValueError:
            pass

    # 300 rounds allocate ~1 GB in total; a leak of even one output per call would show.
    assert growth(call, 300) < 16 * 2**20


@linux_only
@rss_meaningful
def test_fused_hedging_memory_is_per_path_not_per_step():
    def run(n_steps: int) -> None:
        gammaext.simulate_hedge(gammaext.GBM(vol=0.2), n_paths=20_000, n_steps=n_steps,
                                dt=1 / 252, seed=1, threads=1)

    run(10)
    gc.collect()
    before = rss_bytes()
    run(2_000)  # paths x steps would be 320 MB of prices alone
    gc.collect()
    assert rss_bytes() - before < 64 * 2**20


def test_element_counts_beyond_int32_use_64_bit_indexing():
    # A broadcast view of 2^31 + 3 elements costs no memory; the kernel reports the invalid
    # element's flat index, which must not wrap around 2^31.
    n = 2**31 + 3
    flags = np.zeros(1, dtype=np.uint8)
    spot = np.array([-1.0])  # invalid everywhere: the report comes back without computing
    report = gammaext._core._greeks(n, spot, np.array([1.0]), np.array([1.0]),
                                    np.array([0.2]), np.array([0.0]), np.array([0.0]), flags,
                                    [None] * len(gammaext.GREEKS), 0, 0, -1)
    assert report["first_invalid"] == 0 and report["invalid_count"] == n


@linux_only
@rss_meaningful
def test_repeated_iv_hedging_and_backtest_calls_do_not_leak(rng):
    n = 50_000
    spot, strike = rng.uniform(50, 150, n), rng.uniform(50, 150, n)
    price = gammaext.price(spot, strike, 0.5, 0.3)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 500)))
    bars = gammaext.Bars.from_arrays(close, close * 1.01, close * 0.99, close)

    def call() -> None:
        gammaext.implied_vol(price, spot, strike, 0.5, return_status=True)
        gammaext.simulate_hedge(gammaext.GBM(), rule=gammaext.Move(0.01) | gammaext.DeltaBand(0.2),
                                n_paths=2_000, n_steps=50, trace=[0, 1])
        gammaext.simulate_rules(gammaext.GBM(), [gammaext.EveryK(1), gammaext.TrendBand(0.1)],
                                n_paths=500, n_steps=50)
        gammaext.backtest(bars)
        gammaext.sweep(bars, gammaext.param_grid(stop_loss_atr_mult=[1, 2]))
        for bad in (lambda: gammaext.simulate_hedge(np.array([[1.0, -1.0]])),
                    lambda: gammaext.backtest(bars, atr_period=0)):
            try:
                bad()
            except ValueError:
                pass

    # Each round allocates a few MB (outputs, traces, trade lists); 100 rounds ~ 0.5 GB in
    # total, so a leak of any per-call buffer would show far above the allowance.
    assert growth(call, 100) < 16 * 2**20


def test_keyboard_interrupt_stops_a_long_hedging_run_between_chunks(monkeypatch):
    # simulate_hedge hands the paths to C++ in chunks of ~2^23 path-steps (~0.25 s on one core);
    # Python raises KeyboardInterrupt between two chunks. Here the interrupt arrives while the
    # second chunk runs (deterministically: raised from inside the call), so the run must stop
    # right after it, not after the ~120 chunks of the whole run.
    import _thread

    calls = 0
    real = gammaext._core._hedge

    def hedge(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 2:
            _thread.interrupt_main()  # delivered when control returns to Python
        return real(*args, **kwargs)

    monkeypatch.setattr(gammaext._core, "_hedge", hedge)
    with pytest.raises(KeyboardInterrupt):
        gammaext.simulate_hedge(n_paths=200_000, n_steps=5_000, seed=1, threads=1)
    assert calls == 2


def test_chunked_hedging_runs_are_identical(monkeypatch):
    # The chunking that makes Ctrl-C responsive must not change a bit: generators, user paths
    # with noise, several rules, first_path and traces across chunk boundaries.
    paths = 100 * np.exp(np.cumsum(np.random.default_rng(1).normal(0, 0.01, (700, 31)), axis=1))
    rules = [gammaext.EveryK(1), gammaext.TrendBand(0.05), gammaext.AtrMove(0.5)]

    def runs():
        return [
            *gammaext.simulate_rules(gammaext.Heston(), rules, n_paths=700, n_steps=30, seed=4,
                                     first_path=5, trace=[5, 69, 70, 704]),
            *gammaext.simulate_rules(paths, rules, noise=gammaext.Noise("iid", 1e-3),
                                     first_path=3, trace=[3, 600]),
        ]

    whole = runs()
    monkeypatch.setattr(gammaext.hedging, "_CHUNK_WORK", 64 * 30 * 3)  # 1 block per chunk
    chunked = runs()
    for a, b in zip(whole, chunked):
        for k in a.data:
            np.testing.assert_array_equal(a.data[k], b.data[k])
        assert a.trace.keys() == b.trace.keys()
        for p in a.trace:
            for k in a.trace[p]:
                np.testing.assert_array_equal(a.trace[p][k], b.trace[p][k])
