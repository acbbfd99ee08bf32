"""Re-entrancy and the GIL: many Python threads calling the kernels at once, and a long kernel
running in a thread while the interpreter keeps going."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numpy.testing import assert_array_equal

import gammaext


def test_many_python_threads_match_sequential_calls(rng):
    jobs = []
    for i in range(24):
        n = int(rng.integers(1, 60_000))
        args = (rng.uniform(50, 150, n), rng.uniform(50, 150, n), rng.uniform(0, 2, n),
                rng.uniform(0, 1, n), 0.03, 0.01)
        jobs.append((args, rng.random(n) < 0.5, None if i % 3 == 0 else 1 + i % 3))
    want = [gammaext.greeks(*a, is_call=c, threads=1).to_dict() for a, c, _ in jobs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda j: gammaext.greeks(*j[0], is_call=j[1], threads=j[2]).to_dict(),
                            jobs))
    for g, w in zip(got, want):
        for name in gammaext.GREEKS:
            assert_array_equal(g[name], w[name])


def test_kernel_releases_the_gil():
    n = 4_000_000
    spot = np.full(n, 100.0)
    ticks = 0
    done = threading.Event()

    def work() -> None:
        gammaext.greeks(spot, 100.0, 0.5, 0.2, threads=1)
        done.set()

    worker = threading.Thread(target=work)
    worker.start()
    while not done.is_set():  # this loop only runs while the kernel does not hold the GIL
        ticks += 1
        time.sleep(0.001)
    worker.join()
    assert ticks >= 5  # the kernel takes ~0.1 s or more; a held GIL would allow 0 or 1 ticks


def test_thread_count_setting_is_safe_to_change_concurrently():
    def flip(k: int) -> int:
        gammaext.set_num_threads(1 + k % 4)
        return gammaext.get_num_threads()

    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            assert all(1 <= t <= 4 for t in pool.map(flip, range(200)))
    finally:
        gammaext.set_num_threads(0)
