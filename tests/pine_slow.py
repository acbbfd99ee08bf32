"""An independent, slow, pure-Python implementation of ../shared/PINE_STRATEGY_SPEC.md.

Written from the specification alone, in the shape of the thing it models: a Pine "script"
function that runs at each close and returns order objects, and a "broker emulator" that
fills them on the next bar. It shares no code with gammaext (only the float arithmetic order
of the indicator formulas, so that the comparisons agree bit for bit). Used by the tests
(trade-for-trade agreement) and the benchmark (per-set speed of a plain Python loop).

Parameters are a plain dict with the same names as gammaext.StrategyParams (options as strings).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

NA = float("nan")

DEFAULTS: dict[str, Any] = {
    "strike_offset_pct": 0.0,
    "days_to_expiry": 30.0,
    "implied_vol": 0.25,
    "risk_free_rate": 0.05,
    "dividend_yield": 0.0,
    "hist_vol_period": 20,
    "vol_ratio_threshold": 1.2,
    "vol_ratio_short": 0.8,
    "gamma_scalp_threshold": 0.5,
    "hedge_band_pct": 2.0,
    "use_vol_filter": True,
    "max_positions": 3,
    "stop_loss_atr_mult": 2.0,
    "take_profit_atr_mult": 3.0,
    "max_drawdown_pct": 15.0,
    "atr_period": 14,
    "hist_vol_fallback": 0.20,
    "initial_capital": 1_000_000.0,
    "order_size_pct": 10.0,
    "pyramiding": 5,
    "commission_pct": 0.0,
    "slippage_ticks": 0.0,
    "mintick": 0.01,
    "qty_step": 0.0,
    "annualization": 365.0,
    "exit_reissue": "on_entry",
    "tie_path": "low_first",
    "exits_on_entry_bar": True,
    "entry_bar_gap": "fill_at_open",
    "same_bar_opposite_entries": "sequential",
    "sizing_basis": "signal_close",
    "round_exit_levels": True,
    "reserve_commission": True,
    "close_at_end": False,
    "process_orders_on_close": False,
    "backtest_fill_limits_assumption": 0.0,
}


def na(x: float) -> bool:
    return math.isnan(x)


# ---------------------------------------------------------------- indicators (spec section 3)


def pine_stdev_series(src: list[float], length: int) -> list[float]:
    out = []
    valid: list[float] = []  # the non-na values so far
    for x in src:
        if not na(x):
            valid.append(x)
        window = valid[-length:]
        if len(window) < length:
            out.append(NA)
            continue
        s = 0.0
        for x in window:
            s += x
        mean = s / length
        ss = 0.0
        for x in window:
            ss += (x - mean) * (x - mean)
        out.append(math.sqrt(ss / length))
    return out


def hist_vol_series(close: list[float], period: int, ann: float, fallback: float) -> list[float]:
    rets = [NA] + [math.log(close[i] / close[i - 1]) for i in range(1, len(close))]
    sd = pine_stdev_series(rets, period)
    root = math.sqrt(ann)
    return [fallback if na(x) else x * root for x in sd]


def atr_series(high: list[float], low: list[float], close: list[float], length: int) -> list[float]:
    tr = []
    for i in range(len(close)):
        if i == 0:
            tr.append(high[0] - low[0])
        else:
            tr.append(
                max(high[i] - low[i], abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
            )
    out = []
    prev = NA
    for i in range(len(tr)):
        if na(prev):
            if i + 1 >= length:
                s = 0.0
                for x in tr[i + 1 - length : i + 1]:
                    s += x
                prev = s / length
        else:
            prev = prev + (tr[i] - prev) / length
        out.append(prev)
    return out


def as_norm_cdf(x: float) -> float:
    """Abramowitz & Stegun 26.2.17 with the script's literal constants (spec 3.4)."""
    if na(x):
        return NA
    if abs(x) > 10:
        return 1.0 if x > 0 else 0.0
    t = 1.0 / (1.0 + 0.2316419 * abs(x))
    d = 0.3989422804 * math.exp(-x * x / 2.0)
    p = t * (
        0.31938153 + t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429)))
    )
    return 1.0 - d * p if x >= 0 else d * p


def as_norm_pdf(x: float) -> float:
    return 0.3989422804 * math.exp(-x * x / 2.0)


def tick_round(x: float, tick: float) -> float:
    return math.floor(x / tick + 0.5) * tick if tick > 0 else x


def straddle(close: float, P: dict[str, Any]) -> tuple[float, float]:
    S = close
    K = tick_round(close, P["mintick"]) * (1.0 + P["strike_offset_pct"] / 100.0)
    T = P["days_to_expiry"] / 365.0
    sigma, r, q = P["implied_vol"], P["risk_free_rate"], P["dividend_yield"]
    if T <= 0:
        call = 1.0 if S >= K else 0.0
        put = -1.0 if S <= K else 0.0
        return call + put, 0.0
    if sigma <= 0:
        return NA, 0.0
    sqrt_t = math.sqrt(T)
    d1 = (math.log(S / K) + (r - q + sigma * sigma / 2.0) * T) / (sigma * sqrt_t)
    disc = math.exp(-q * T)
    n1 = as_norm_cdf(d1)
    call = disc * n1
    put = disc * (n1 - 1.0)
    gamma = disc * as_norm_pdf(d1) / (S * sigma * sqrt_t)
    return call + put, 2.0 * gamma


# ---------------------------------------------------------------- broker objects


@dataclass
class Trade:
    direction: int
    entry_id: str
    signal_bar: int
    entry_bar: int
    entry_price: float
    qty: float
    entry_fee: float
    created_bar: int
    stop: float = NA
    limit: float = NA
    bracketed: bool = False
    hi: float = 0.0
    lo: float = 0.0
    exit_bar: int = -1
    exit_price: float = NA
    exit_fee: float = 0.0
    exit_reason: str = "open"
    exit_signal_bar: int = -1
    pnl: float = NA
    run_up: float = 0.0
    drawdown: float = 0.0


@dataclass
class MarketEntry:
    entry_id: str
    direction: int
    qty: float
    bar: int
    stop: float = NA
    limit: float = NA
    bracketed: bool = False


@dataclass
class CloseAll:
    comment: str
    bar: int


def grid(x: float, step: float, up: bool) -> float:
    if step <= 0 or na(x):
        return x
    k = x / step
    r = math.floor(k + 0.5)
    if abs(k - r) < 1e-9:
        k = r
    return (math.ceil(k) if up else math.floor(k)) * step


@dataclass
class Emulator:
    P: dict[str, Any]
    trades_open: list[Trade] = field(default_factory=list)
    closed: list[Trade] = field(default_factory=list)
    net: float = 0.0
    max_contracts: float = 0.0

    @property
    def fee(self) -> float:
        return self.P["commission_pct"] / 100.0

    @property
    def slip(self) -> float:
        return self.P["slippage_ticks"] * (self.P["mintick"] if self.P["mintick"] > 0 else 0.0)

    def position_size(self) -> float:
        s = 0.0
        for t in self.trades_open:
            s += t.direction * t.qty
        return s

    def open_profit(self, price: float) -> float:
        s = 0.0
        for t in self.trades_open:
            s += t.direction * (price - t.entry_price) * t.qty - t.entry_fee
        return s

    def equity(self, price: float) -> float:
        return (self.P["initial_capital"] + self.net) + self.open_profit(price)

    def size(self, equity: float, price: float) -> float:
        cash = equity * self.P["order_size_pct"] / 100.0
        if self.P["reserve_commission"]:
            cash = cash / (1.0 + self.fee)
        return grid(cash / price, self.P["qty_step"], up=False)

    def close(self, t: Trade, bar: int, price: float, reason: str, signal_bar: int = -1) -> None:
        self.trades_open.remove(t)
        t.exit_bar, t.exit_price, t.exit_reason = bar, price, reason
        t.exit_signal_bar = signal_bar
        t.exit_fee = self.fee * price * t.qty
        t.pnl = t.direction * (price - t.entry_price) * t.qty - t.entry_fee - t.exit_fee
        t.hi, t.lo = max(t.hi, price), min(t.lo, price)  # the exit fill ends the path
        if t.direction > 0:
            t.run_up = max(0.0, t.hi - t.entry_price) * t.qty
            t.drawdown = max(0.0, t.entry_price - t.lo) * t.qty
        else:
            t.run_up = max(0.0, t.entry_price - t.lo) * t.qty
            t.drawdown = max(0.0, t.hi - t.entry_price) * t.qty
        self.net += t.pnl
        self.closed.append(t)

    # 6.2 step 1
    def market(self, order: Any, bar: int, o: float) -> None:
        if isinstance(order, CloseAll):
            for t in list(self.trades_open):
                t.hi, t.lo = max(t.hi, o), min(t.lo, o)
                self.close(t, bar, o - t.direction * self.slip, order.comment, order.bar)
            return
        px = o + order.direction * self.slip
        same = [t for t in self.trades_open if t.direction == order.direction]
        other = [t for t in self.trades_open if t.direction != order.direction]
        for t in other:
            t.hi, t.lo = max(t.hi, o), min(t.lo, o)
            self.close(t, bar, px, "reversal", order.bar)
        if same and len(same) >= max(1, self.P["pyramiding"]):
            return
        qty = order.qty
        if self.P["sizing_basis"] == "fill_open":
            qty = self.size(self.equity(px), px)
        if not qty > 0:
            return
        t = Trade(
            order.direction,
            order.entry_id,
            order.bar,
            bar,
            px,
            qty,
            self.fee * px * qty,
            order.bar,
            order.stop,
            order.limit,
            order.bracketed,
            o,
            o,
        )
        self.trades_open.append(t)
        self.max_contracts = max(self.max_contracts, abs(self.position_size()))

    # 6.2 step 2 (6.3-6.5)
    def brackets(self, bar: int, o: float, h: float, l: float) -> None:
        P = self.P
        for t in list(self.trades_open):
            first_bar = t.entry_bar == bar
            if not t.bracketed or (first_bar and not P["exits_on_entry_bar"]):
                t.hi, t.lo = max(t.hi, h), min(t.lo, l)
                continue
            # a limit needs the price `backtest_fill_limits_assumption` ticks beyond it
            beyond = P["backtest_fill_limits_assumption"] * max(P["mintick"], 0.0)
            trigger = t.limit + beyond if t.direction > 0 else t.limit - beyond
            if t.direction > 0:
                stop_crossed, limit_crossed = o <= t.stop, o >= trigger
            else:
                stop_crossed, limit_crossed = o >= t.stop, o <= trigger
            use_stop = use_limit = True
            if first_bar and P["entry_bar_gap"] == "skip_leg":
                use_stop, use_limit = not stop_crossed, not limit_crossed
            elif stop_crossed or limit_crossed:
                t.hi, t.lo = max(t.hi, o), min(t.lo, o)
                if stop_crossed:
                    self.close(t, bar, o - t.direction * self.slip, "stop")
                else:
                    self.close(t, bar, o, "limit")
                continue
            if abs(h - o) < abs(o - l):
                path = [o, h, l]
            elif abs(h - o) > abs(o - l):
                path = [o, l, h]
            else:
                path = [o, h, l] if P["tie_path"] == "high_first" else [o, l, h]
            done = False
            for leg in range(2):
                a, b = path[leg], path[leg + 1]
                # levels reachable on this leg, checked against its end point
                hits = []
                if b >= a:  # rising
                    if t.direction > 0 and use_limit and b >= trigger:
                        hits.append((t.limit, trigger, "limit"))
                    if t.direction < 0 and use_stop and b >= t.stop:
                        hits.append((t.stop, t.stop, "stop"))
                if b <= a:  # falling
                    if t.direction > 0 and use_stop and b <= t.stop:
                        hits.append((t.stop, t.stop, "stop"))
                    if t.direction < 0 and use_limit and b <= trigger:
                        hits.append((t.limit, trigger, "limit"))
                if hits:
                    level, reached, kind = hits[0]
                    visited = path[: leg + 1] + [reached]
                    t.hi, t.lo = max(t.hi, *visited), min(t.lo, *visited)
                    price = level - t.direction * self.slip if kind == "stop" else level
                    self.close(t, bar, price, kind)
                    done = True
                    break
            if not done:
                t.hi, t.lo = max(t.hi, h), min(t.lo, l)


# ---------------------------------------------------------------- the script and the run


def run(
    o: list[float],
    h: list[float],
    l: list[float],
    c: list[float],
    params: dict[str, Any] | None = None,
    start: int = 0,
) -> dict[str, Any]:
    P = dict(DEFAULTS)
    P.update(params or {})
    n = len(c)
    hv = hist_vol_series(c, int(P["hist_vol_period"]), P["annualization"], P["hist_vol_fallback"])
    atr = atr_series(h, l, c, int(P["atr_period"]))
    em = Emulator(P)
    pending: list[Any] = []
    equity_peak = P["initial_capital"]
    equity_curve = []
    halt_bar = -1
    for i in range(n):
        # broker: orders of the previous close
        for order in pending:
            em.market(order, i, o[i])
        pending = []
        em.brackets(i, o[i], h[i], l[i])
        # script at the close
        equity = em.equity(c[i])
        equity_peak = max(equity_peak, equity)
        current_drawdown = (equity_peak - equity) / equity_peak * 100.0
        drawdown_exceeded = current_drawdown > P["max_drawdown_pct"]
        if drawdown_exceeded and halt_bar < 0:
            halt_bar = i
        pending = script(i, em, equity, drawdown_exceeded, hv, atr, c, P) if i >= start else []
        if P["process_orders_on_close"]:
            for order in pending:
                em.market(order, i, c[i])
            pending = []
        equity_curve.append(em.equity(c[i]))
    if P["close_at_end"] and n and em.trades_open:
        for t in list(em.trades_open):
            em.close(t, n - 1, c[-1] - t.direction * em.slip, "end_of_data", n - 1)
        equity_curve[-1] = em.equity(c[-1])  # the last bar shows the state after the close
    for t in em.trades_open:
        t.pnl = t.direction * (c[-1] - t.entry_price) * t.qty - t.entry_fee
        if t.direction > 0:
            t.run_up = max(0.0, t.hi - t.entry_price) * t.qty
            t.drawdown = max(0.0, t.entry_price - t.lo) * t.qty
        else:
            t.run_up = max(0.0, t.entry_price - t.lo) * t.qty
            t.drawdown = max(0.0, t.hi - t.entry_price) * t.qty
    return {
        "closed": em.closed,
        "open": list(em.trades_open),
        "equity": equity_curve,
        "hist_vol": hv,
        "atr": atr,
        "summary": summary(em, equity_curve, P, o, c, start, halt_bar),
    }


def script(
    i: int,
    em: Emulator,
    equity: float,
    drawdown_exceeded: bool,
    hv: list[float],
    atr: list[float],
    c: list[float],
    P: dict[str, Any],
) -> list[Any]:
    """The strategy's order block at the close of bar i (spec 1.2); returns the orders sent."""
    sd, _sg = straddle(c[i], P)
    vol_ratio = hv[i] / P["implied_vol"]
    long_vol_regime = vol_ratio > P["vol_ratio_threshold"]
    short_vol_regime = vol_ratio < P["vol_ratio_short"]
    price_move = c[i] - c[i - 1] if i > 0 else NA
    move_threshold = atr[i] * P["gamma_scalp_threshold"]
    up = price_move > move_threshold
    down = price_move < -move_threshold
    band = P["hedge_band_pct"] / 100.0
    vol_filter = long_vol_regime if P["use_vol_filter"] else True
    long_entry = vol_filter and (down or sd < -band)
    short_entry = vol_filter and (up or sd > band)
    pos = em.position_size()
    can_trade = (not drawdown_exceeded) and len(em.trades_open) < P["max_positions"]
    tick = P["mintick"]
    levels = {
        1: (c[i] - atr[i] * P["stop_loss_atr_mult"], c[i] + atr[i] * P["take_profit_atr_mult"]),
        -1: (c[i] + atr[i] * P["stop_loss_atr_mult"], c[i] - atr[i] * P["take_profit_atr_mult"]),
    }
    if P["round_exit_levels"]:
        levels = {
            1: (grid(levels[1][0], tick, False), grid(levels[1][1], tick, True)),
            -1: (grid(levels[-1][0], tick, True), grid(levels[-1][1], tick, False)),
        }
    sent: list[Any] = []

    def exit_call(direction: int) -> None:
        stop, limit = levels[direction]
        if na(stop) and na(limit):
            return
        for t in em.trades_open:
            if t.direction == direction and t.created_bar <= i:
                t.stop, t.limit, t.bracketed = stop, limit, True
        for order in sent:
            if isinstance(order, MarketEntry) and order.direction == direction:
                order.stop, order.limit, order.bracketed = stop, limit, True

    def entry(entry_id: str, direction: int) -> None:
        qty = 0.0
        if P["sizing_basis"] == "signal_close":
            qty = em.size(equity, tick_round(c[i], tick) + direction * em.slip)
            if not qty > 0:
                return
        sent.append(MarketEntry(entry_id, direction, qty, i))

    every = P["exit_reissue"] == "every_bar"
    if can_trade:
        if long_entry and pos <= 0:
            entry("GammaLong", 1)
            if not every:
                exit_call(1)
        if every:
            exit_call(1)
        if short_entry and pos >= 0:
            entry("GammaShort", -1)
            if not every:
                exit_call(-1)
        if every:
            exit_call(-1)
        entries = [s for s in sent if isinstance(s, MarketEntry)]
        if P["same_bar_opposite_entries"] == "last_only" and len(entries) > 1:
            sent = entries[-1:]
    close_comment = None
    if drawdown_exceeded and pos != 0:
        close_comment = "close_all_drawdown"
    if P["use_vol_filter"] and short_vol_regime and pos != 0:
        close_comment = "close_all_regime"
    if close_comment:
        sent.append(CloseAll(close_comment, i))
    return sent


def summary(
    em: Emulator,
    equity: list[float],
    P: dict[str, Any],
    o: list[float],
    c: list[float],
    start: int,
    halt_bar: int,
) -> dict[str, float]:
    """Strategy Tester metrics (spec 8.3), computed from the trade list after the run."""
    init = P["initial_capital"]
    closed = em.closed
    pnls = [t.pnl for t in closed]
    wins = [p for p in pnls if p > 0]
    losses = [-p for p in pnls if p < 0]
    nc = len(pnls)
    gp, gl = sum(wins), sum(losses)
    nan = float("nan")

    def dd(points: list[float]) -> tuple[float, float]:
        peak, amount, pct = points[0], 0.0, 0.0
        for x in points:
            peak = max(peak, x)
            amount = max(amount, peak - x)
            pct = max(pct, (peak - x) / peak * 100.0)
        return amount, pct

    realized = [init]
    ib = [init]
    r = init
    net_acc = 0.0
    for t in closed:
        ib += [r - t.entry_fee - t.drawdown, r - t.entry_fee + t.run_up]
        net_acc += t.pnl
        r = init + net_acc
        realized.append(r)
        ib.append(r)
    open_pnl = 0.0
    for t in em.trades_open:
        open_pnl += t.pnl
        ib.append(r - t.entry_fee - t.drawdown)
    trough, runup, runup_pct = init, 0.0, 0.0
    for x in equity:
        trough = min(trough, x)
        runup = max(runup, x - trough)
        runup_pct = max(runup_pct, (x - trough) / trough * 100.0)
    net = sum(pnls)
    growth = c[-1] / o[start] - 1.0
    m = {
        "net_profit": net,
        "gross_profit": gp,
        "gross_loss": gl,
        "profit_factor": gp / gl if gl > 0 else nan,
        "closed_trades": nc,
        "winning_trades": len(wins),
        "losing_trades": len(losses),
        "even_trades": nc - len(wins) - len(losses),
        "percent_profitable": len(wins) / nc * 100 if nc else nan,
        "avg_trade": net / nc if nc else nan,
        "largest_win": max(wins, default=0.0),
        "largest_loss": max(losses, default=0.0),
        "avg_bars_in_trades": sum(t.exit_bar - t.entry_bar + 1 for t in closed) / nc if nc else nan,
        "open_pnl": open_pnl,
        "open_trades": len(em.trades_open),
        "commission_paid": sum(t.entry_fee + t.exit_fee for t in closed)
        + sum(t.entry_fee for t in em.trades_open),
        "max_contracts_held": em.max_contracts,
        "buy_hold_return": init * growth,
        "max_drawdown": dd(ib)[0],
        "max_drawdown_pct": dd(ib)[1],
        "max_drawdown_bar_close": dd([init] + equity)[0],
        "max_drawdown_bar_close_pct": dd([init] + equity)[1],
        "max_drawdown_closed_trades": dd(realized)[0],
        "max_drawdown_closed_trades_pct": dd(realized)[1],
        "max_runup_bar_close": runup,
        "max_runup_bar_close_pct": runup_pct,
        "long_trades": sum(1 for t in closed if t.direction > 0),
        "short_trades": sum(1 for t in closed if t.direction < 0),
        "final_equity": init + net + open_pnl,
        "halt_bar": halt_bar,
    }
    return m
