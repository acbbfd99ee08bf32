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


# ---------------------------------------------------------------------------------------------
# Every kernel at once: implied vol, the hedging engine, the backtest and its sweep, and the
# indicators, from many Python threads, with and without the library's own threads.


def _bars(seed: int, n: int = 400) -> gammaext.Bars:
    r = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(r.normal(0, 0.02, n)))
    open_ = np.concatenate([[close[0]], close[:-1]])
    wick = r.uniform(0, 0.01, n)
    return gammaext.Bars.from_arrays(open_, np.maximum(open_, close) * (1 + wick),
                                     np.minimum(open_, close) * (1 - wick), close)


def _mixed_jobs(rng):
    """(name, callable(threads) -> dict of arrays) for every kernel, sized to ~10-50 ms each."""
    from gammaext import indicators as ind

    jobs = []
    for i in range(6):
        n = int(rng.integers(1, 40_000))
        spot, strike = rng.uniform(50, 150, n), rng.uniform(50, 150, n)
        t, vol, flags = rng.uniform(0.01, 2, n), rng.uniform(0.05, 1, n), rng.random(n) < 0.5
        price = gammaext.price(spot, strike, t, vol, 0.03, 0.01, is_call=flags)
        price[::7] *= 3.0  # some above the maximum: statuses other than ok
        args = (price, spot, strike, t, 0.03, 0.01)

        def iv(th, a=args, c=flags):
            vol, status = gammaext.implied_vol(*a, is_call=c, return_status=True, threads=th)
            return {"vol": vol, "status": status}

        jobs.append((f"iv{i}", iv))
    rules = [gammaext.EveryK(1), gammaext.Move(0.01), gammaext.DeltaBand(0.1),
             gammaext.TrendBand(0.05) | gammaext.MaxInterval(5), gammaext.WhalleyWilmott(0.001),
             gammaext.VolGate(gammaext.AtrMove(0.5))]
    gens = [gammaext.GBM(vol=0.3), gammaext.Heston(), gammaext.Merton(intensity=5.0),
            gammaext.Oscillation(noise=0.1), gammaext.Trend(), gammaext.GBM()]
    for i, (rule, gen) in enumerate(zip(rules, gens)):
        jobs.append((f"hedge{i}", lambda th, r=rule, g=gen, s=i: gammaext.simulate_hedge(
            g, rule=r, costs=gammaext.Costs(bps=1), noise=gammaext.Noise("bounce", 1e-4),
            n_paths=4_000, n_steps=60, seed=s, threads=th).data))
    jobs.append(("rules", lambda th: {
        str(k): v.data["pnl"] for k, v in enumerate(gammaext.simulate_rules(
            gammaext.GBM(), rules, n_paths=1_000, n_steps=50, seed=9, threads=th))}))
    for i in range(3):
        bars = _bars(i)
        jobs.append((f"backtest{i}", lambda th, b=bars, k=i: {
            "equity": gammaext.backtest(b, stop_loss_atr_mult=1 + k,
                                        exit_reissue="every_bar").equity["equity"]}))
    grid = gammaext.param_grid(stop_loss_atr_mult=[1, 2, 3], take_profit_atr_mult=[2, 4])
    jobs.append(("sweep", lambda th: gammaext.sweep([_bars(7), _bars(8)], grid,
                                                     threads=th).metrics))
    close = _bars(5, 5_000).close
    jobs.append(("indicators", lambda th: {
        "hv": ind.hist_vol(close, 20), "atr": ind.atr(close, close, close, 14),
        "er": ind.efficiency_ratio(close, 10), "stdev": ind.stdev(close, 30),
        "delta": ind.straddle_greeks(close)[0]}))
    return jobs


def test_every_kernel_from_many_threads_matches_sequential_calls(rng):
    jobs = _mixed_jobs(rng)
    want = {name: fn(1) for name, fn in jobs}
    # Each job three times, with the library's threads off (1), at the default (None) and at 3, all
    # from 8 Python threads at once.
    work = [(name, fn, th) for name, fn in jobs for th in (1, None, 3)][::-1]
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(lambda j: (j[0], j[2], j[1](j[2])), work))
    assert len(got) == 3 * len(jobs)
    for name, th, out in got:
        for key, value in want[name].items():
            assert_array_equal(out[key], value, err_msg=f"{name} {key} threads={th}")


def test_long_hedging_run_releases_the_gil():
    ticks = 0
    done = threading.Event()

    def work() -> None:
        gammaext.simulate_hedge(n_paths=20_000, n_steps=252, seed=1, threads=1)  # ~0.15 s+
        done.set()

    worker = threading.Thread(target=work)
    worker.start()
    while not done.is_set():  # runs only while the engine does not hold the GIL
        ticks += 1
        time.sleep(0.001)
    worker.join()
    assert ticks >= 5


def test_sweep_survives_the_default_thread_count_changing_meanwhile(rng):
    # The sweep sizes per-thread scratch from the default thread count: it must read it once.
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 3000)))
    bars = gammaext.Bars(open=close, high=close * 1.01, low=close * 0.99, close=close)
    grid = gammaext.param_grid(stop_loss_atr_mult=[1.0, 2.0, 3.0, 4.0],
                               take_profit_atr_mult=[1.0, 2.0, 3.0, 4.0])
    want = gammaext.sweep(bars, grid, threads=1)["net_profit"]
    stop = threading.Event()

    def toggle() -> None:
        while not stop.is_set():
            gammaext.set_num_threads(64)
            gammaext.set_num_threads(1)

    flipper = threading.Thread(target=toggle)
    flipper.start()
    try:
        for _ in range(20):
            assert_array_equal(gammaext.sweep(bars, grid)["net_profit"], want)
    finally:
        stop.set()
        flipper.join()
        gammaext.set_num_threads(0)
