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
