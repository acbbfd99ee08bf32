"""A numba port of the strategy loop, as a benchmark peer for gammaext.sweep (not a product).

It covers what the benchmark sweep varies - every script input and both `exit_reissue`
readings - with the other options at their defaults (no commission, slippage or lot step,
low-first ties, brackets active on the entry bar, gaps fill at the open, sequential same-bar
entries, sizing at the signal close, levels rounded to the tick). It returns net profit and
the closed-trade count per parameter set; the benchmark asserts them equal to gammaext's.
"""

from __future__ import annotations

import math

import numba
import numpy as np

NAN = math.nan
# parameter columns of the numba sweep
COLUMNS = (
    "strike_offset_pct", "days_to_expiry", "implied_vol", "risk_free_rate", "dividend_yield",
    "hist_vol_period", "vol_ratio_threshold", "vol_ratio_short", "gamma_scalp_threshold",
    "hedge_band_pct", "use_vol_filter", "max_positions", "stop_loss_atr_mult",
    "take_profit_atr_mult", "max_drawdown_pct", "initial_capital", "order_size_pct", "mintick",
    "annualization", "exit_reissue",
)  # fmt: skip


@numba.njit(cache=True)
def _grid(x: float, step: float, up: bool) -> float:
    if step <= 0 or math.isnan(x):
        return x
    k = x / step
    r = math.floor(k + 0.5)
    if abs(k - r) < 1e-9:
        k = r
    return (math.ceil(k) if up else math.floor(k)) * step


@numba.njit(cache=True)
def _as_cdf(x: float) -> float:
    if math.isnan(x):
        return NAN
    if abs(x) > 10:
        return 1.0 if x > 0 else 0.0
    t = 1.0 / (1.0 + 0.2316419 * abs(x))
    d = 0.3989422804 * math.exp(-x * x / 2.0)
    p = t * (
        0.31938153 + t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429)))
    )
    return 1.0 - d * p if x >= 0 else d * p


@numba.njit(cache=True)
def _run(o, h, lo, c, q):
    n = len(c)
    period = int(q[5])
    ann = q[18]
    tick = q[17]
    # hist vol (window summed oldest first), ATR (seed mean, then prev + (tr - prev)/14)
    rets = np.empty(n)
    for i in range(1, n):
        rets[i] = math.log(c[i] / c[i - 1])
    hv = np.empty(n)
    for i in range(n):
        if i < period:
            hv[i] = 0.20
            continue
        s = 0.0
        for k in range(i - period + 1, i + 1):
            s += rets[k]
        mean = s / period
        ss = 0.0
        for k in range(i - period + 1, i + 1):
            d = rets[k] - mean
            ss += d * d
        hv[i] = math.sqrt(ss / period) * math.sqrt(ann)
    atr = np.empty(n)
    prev = NAN
    for i in range(n):
        tr = h[i] - lo[i]
        if i > 0:
            tr = max(tr, abs(h[i] - c[i - 1]), abs(lo[i] - c[i - 1]))
        if math.isnan(prev):
            if i >= 13:
                s = 0.0
                for k in range(i - 13, i + 1):
                    t2 = h[k] - lo[k]
                    if k > 0:
                        t2 = max(t2, abs(h[k] - c[k - 1]), abs(lo[k] - c[k - 1]))
                    s += t2
                prev = s / 14
        else:
            prev = prev + (tr - prev) / 14
        atr[i] = prev
    tau = q[1] / 365.0
    sigma, r, dq = q[2], q[3], q[4]
    # open trades (at most 2 at a time with these rules)
    t_dir = np.zeros(4, np.int64)
    t_qty = np.zeros(4)
    t_px = np.zeros(4)
    t_stop = np.full(4, NAN)
    t_lim = np.full(4, NAN)
    nt = 0
    net = 0.0
    closed = 0
    init = q[15]
    peak = init
    # pending: long, short (qty, stop, limit, active), close_all
    pl = np.zeros(4)
    ps = np.zeros(4)
    pc = False
    every = q[19] != 0
    for i in range(n):
        oi = o[i]
        for side in range(2):
            pend = pl if side == 0 else ps
            if pend[3] == 0:
                continue
            d = 1 if side == 0 else -1
            if nt > 0 and t_dir[0] != d:
                for k in range(nt):
                    net += t_dir[k] * (oi - t_px[k]) * t_qty[k] - 0.0 - 0.0
                    closed += 1
                nt = 0
            elif nt >= 5:
                continue
            t_dir[nt], t_qty[nt], t_px[nt] = d, pend[0], oi
            t_stop[nt], t_lim[nt] = pend[1], pend[2]
            nt += 1
        if pc and nt > 0:
            for k in range(nt):
                net += t_dir[k] * (oi - t_px[k]) * t_qty[k] - 0.0 - 0.0
                closed += 1
            nt = 0
        pl[3] = 0
        ps[3] = 0
        pc = False
        # brackets
        k = 0
        while k < nt:
            d, st, li = t_dir[k], t_stop[k], t_lim[k]
            px = NAN
            if d > 0:
                if oi <= st or oi >= li:
                    px = oi
                elif abs(h[i] - oi) < abs(oi - lo[i]):
                    px = li if h[i] >= li else (st if lo[i] <= st else NAN)
                else:
                    px = st if lo[i] <= st else (li if h[i] >= li else NAN)
            else:
                if oi >= st or oi <= li:
                    px = oi
                elif abs(h[i] - oi) < abs(oi - lo[i]):
                    px = st if h[i] >= st else (li if lo[i] <= li else NAN)
                else:
                    px = li if lo[i] <= li else (st if h[i] >= st else NAN)
            if not math.isnan(px):
                net += d * (px - t_px[k]) * t_qty[k] - 0.0 - 0.0
                closed += 1
                for m in range(k, nt - 1):
                    t_dir[m], t_qty[m], t_px[m] = t_dir[m + 1], t_qty[m + 1], t_px[m + 1]
                    t_stop[m], t_lim[m] = t_stop[m + 1], t_lim[m + 1]
                nt -= 1
            else:
                k += 1
        # the script at the close
        ci = c[i]
        op = 0.0
        pos = 0.0
        for k in range(nt):
            op += t_dir[k] * (ci - t_px[k]) * t_qty[k] - 0.0
            pos += t_dir[k] * t_qty[k]
        equity = (init + net) + op
        peak = max(peak, equity)
        dd = (peak - equity) / peak * 100.0 > q[14]
        kk = math.floor(ci / tick + 0.5) * tick * (1.0 + q[0] / 100.0)
        d1 = (math.log(ci / kk) + (r - dq + sigma * sigma / 2.0) * tau) / (sigma * math.sqrt(tau))
        n1 = _as_cdf(d1)
        disc = math.exp(-dq * tau)
        sd = disc * n1 + disc * (n1 - 1.0)
        ratio = hv[i] / sigma
        move = ci - c[i - 1] if i > 0 else NAN
        thr = atr[i] * q[8]
        band = q[9] / 100.0
        vf = ratio > q[6] if q[10] != 0 else True
        long_entry = vf and (move < -thr or sd < -band)
        short_entry = vf and (move > thr or sd > band)
        if (not dd) and nt < q[11]:
            for side in range(2):
                d = 1 if side == 0 else -1
                pend = pl if side == 0 else ps
                want = long_entry if side == 0 else short_entry
                send = want and (pos <= 0 if side == 0 else pos >= 0)
                if send:
                    qty = equity * q[16] / 100.0
                    qty = qty / (1.0 + 0.0)
                    qty = qty / (math.floor(ci / tick + 0.5) * tick + d * 0.0)
                    if qty > 0:
                        pend[0], pend[3] = qty, 1
                        pend[1], pend[2] = NAN, NAN
                if send or every:
                    st = ci - d * (atr[i] * q[12])
                    li = ci + d * (atr[i] * q[13])
                    st = _grid(st, tick, d < 0)
                    li = _grid(li, tick, d > 0)
                    if not (math.isnan(st) and math.isnan(li)):
                        for k in range(nt):
                            if t_dir[k] == d:
                                t_stop[k], t_lim[k] = st, li
                        if pend[3] != 0:
                            pend[1], pend[2] = st, li
        if (dd and pos != 0) or (q[10] != 0 and ratio < q[7] and pos != 0):
            pc = True
    return net, closed


@numba.njit(cache=True)
def sweep(o, h, lo, c, params):
    out = np.empty((params.shape[0], 2))
    for j in range(params.shape[0]):
        net, closed = _run(o, h, lo, c, params[j])
        out[j, 0] = net
        out[j, 1] = closed
    return out


def param_matrix(sets) -> np.ndarray:
    """Rows of COLUMNS from gammaext.StrategyParams (annualization 365)."""
    rows = []
    for p in sets:
        row = []
        for name in COLUMNS:
            if name == "annualization":
                row.append(365.0)
            elif name == "exit_reissue":
                row.append(1.0 if p.exit_reissue == "every_bar" else 0.0)
            else:
                row.append(float(getattr(p, name)))
        rows.append(row)
    return np.array(rows)
