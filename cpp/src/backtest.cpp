// Bar loop of the gamma-scalping strategy replica; see backtest.hpp and
// ../shared/PINE_STRATEGY_SPEC.md. Section numbers below refer to the specification.
//
// This file is compiled with -ffp-contract=off (CMakeLists.txt): the replica must make exactly
// the comparisons the slow Python implementation makes, so no multiply-add may be fused.
#include "gammaext/backtest.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>

#include "gammaext/indicators.hpp"
#include "gammaext/parallel.hpp"

namespace gammaext::backtest {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
/// A quotient x / step within this of a whole number counts as that number before floor/ceil,
/// so that a price or quantity already on the grid is not moved a step by representation error.
constexpr double kGridTol = 1e-9;
/// Upper bound of the pyramiding parameter (the open-trade buffer is reserved for it).
constexpr double kMaxPyramiding = 1000.0;

const char* const kParamNames[] = {
#define GAMMAEXT_X(name, def) #name,
    GAMMAEXT_BACKTEST_PARAMS(GAMMAEXT_X)
#undef GAMMAEXT_X
};
const double kParamDefaults[] = {
#define GAMMAEXT_X(name, def) def,
    GAMMAEXT_BACKTEST_PARAMS(GAMMAEXT_X)
#undef GAMMAEXT_X
};
const char* const kSummaryNames[] = {
#define GAMMAEXT_X(name) #name,
    GAMMAEXT_BACKTEST_SUMMARY(GAMMAEXT_X)
#undef GAMMAEXT_X
};

double grid_index(double x, double step) noexcept {
    const double k = x / step;
    const double r = std::floor(k + 0.5);
    return std::fabs(k - r) < kGridTol ? r : k;
}

/// Down to the grid (step <= 0: unchanged).
double floor_to(double x, double step) noexcept {
    return step > 0.0 ? std::floor(grid_index(x, step)) * step : x;
}

/// Up to the grid (step <= 0: unchanged).
double ceil_to(double x, double step) noexcept {
    return step > 0.0 ? std::ceil(grid_index(x, step)) * step : x;
}

/// Running peak-to-trough drawdown of a point sequence (amount and percent of the running peak,
/// maximised independently).
struct DrawdownTracker {
    double peak;
    double max_amount = 0.0;
    double max_pct = 0.0;
    explicit DrawdownTracker(double start) : peak(start) {}
    void add(double x) noexcept {
        peak = std::max(peak, x);
        const double dd = peak - x;
        max_amount = std::max(max_amount, dd);
        if (peak > 0.0) max_pct = std::max(max_pct, dd / peak * 100.0);
    }
};

struct Pending {
    bool active = false;
    int dir = 0;
    double qty = 0.0;
    std::int64_t signal_bar = -1;
    bool has_bracket = false;
    double stop = kNaN;
    double limit = kNaN;
};

struct PendingClose {
    bool active = false;
    ExitReason reason = ExitReason::close_all_drawdown;
    std::int64_t signal_bar = -1;
};

/// The market orders waiting for the next fill (the next open, or this close with
/// process_orders_on_close).
struct Orders {
    Pending entry_long, entry_short;
    PendingClose close;
};

/// Everything a run accumulates; one instance per run, on the stack.
class Engine {
public:
    Engine(const Series& s, const Params& p, Scratch& scratch, Summary& summary,
           std::vector<Trade>* closed)
        : s_(s), p_(p), open_(scratch.open), sm_(summary), closed_(closed),
          fee_rate_(p.commission_pct / 100.0),
          slip_(p.slippage_ticks * (p.mintick > 0.0 ? p.mintick : 0.0)),
          fill_limits_(p.backtest_fill_limits_assumption * (p.mintick > 0.0 ? p.mintick : 0.0)),
          pyramiding_(std::max(1.0, p.pyramiding)), ct_dd_(p.initial_capital),
          ib_dd_(p.initial_capital), bc_dd_(p.initial_capital), bc_trough_(p.initial_capital) {
        open_.clear();
    }

    double realized() const noexcept { return p_.initial_capital + net_; }

    double position() const noexcept {
        double pos = 0.0;
        for (const Trade& t : open_) pos += t.dir * t.qty;
        return pos;
    }

    /// Open P&L marked at `price`, net of the entry commission already paid (C1).
    double open_profit(double price) const noexcept {
        double op = 0.0;
        for (const Trade& t : open_) op += t.dir * (price - t.entry_price) * t.qty - t.entry_fee;
        return op;
    }

    /// Closes open_[idx] at `price` and records it.
    void close_trade(std::size_t idx, double price, ExitReason reason, std::int64_t bar,
                     std::int64_t exit_signal_bar) noexcept {
        Trade t = open_[idx];
        open_.erase(open_.begin() + static_cast<std::ptrdiff_t>(idx));
        t.exit_price = price;
        t.exit_bar = bar;
        t.exit_reason = static_cast<int>(reason);
        t.exit_signal_bar = exit_signal_bar;
        t.exit_fee = fee_rate_ * price * t.qty;
        t.pnl = t.dir * (price - t.entry_price) * t.qty - t.entry_fee - t.exit_fee;
        visit(t, price);  // the exit fill (slipped) is the last point of the path (7.3)
        excursions(t);
        const double r_before = realized();
        net_ += t.pnl;
        const double r_after = realized();
        Summary& m = sm_;
        m.closed_trades += 1.0;
        if (t.pnl > 0.0) {
            m.winning_trades += 1.0;
            m.gross_profit += t.pnl;
            m.largest_win = std::max(m.largest_win, t.pnl);
        } else if (t.pnl < 0.0) {
            m.losing_trades += 1.0;
            m.gross_loss += -t.pnl;
            m.largest_loss = std::max(m.largest_loss, -t.pnl);
        } else {
            m.even_trades += 1.0;
        }
        m.commission_paid += t.entry_fee + t.exit_fee;
        bars_sum_ += static_cast<double>(t.exit_bar - t.entry_bar + 1);
        if (t.dir > 0) {
            m.long_trades += 1.0;
            m.long_net_profit += t.pnl;
        } else {
            m.short_trades += 1.0;
            m.short_net_profit += t.pnl;
        }
        ct_dd_.add(r_after);
        ib_dd_.add(r_before - t.entry_fee - t.drawdown);
        ib_dd_.add(r_before - t.entry_fee + t.run_up);
        ib_dd_.add(r_after);
        if (closed_) closed_->push_back(t);
    }

    /// Run-up and drawdown from the prices visited (7.3).
    static void excursions(Trade& t) noexcept {
        const double best = t.dir > 0 ? t.hi - t.entry_price : t.entry_price - t.lo;
        const double worst = t.dir > 0 ? t.entry_price - t.lo : t.hi - t.entry_price;
        t.run_up = std::max(0.0, best) * t.qty;
        t.drawdown = std::max(0.0, worst) * t.qty;
    }

    static void visit(Trade& t, double price) noexcept {
        t.hi = std::max(t.hi, price);
        t.lo = std::min(t.lo, price);
    }

    void close_all_at(double open_price, ExitReason reason, std::int64_t bar,
                      std::int64_t signal_bar) noexcept {
        while (!open_.empty()) {
            Trade& t = open_.front();
            visit(t, open_price);
            const double price = open_price - t.dir * slip_;  // closing sells a long
            close_trade(0, price, reason, bar, signal_bar);
        }
    }

    double quantity(double equity, double price) const noexcept {
        if (!(price > 0.0)) return 0.0;  // a price below half a tick: no order, never inf
        double cash = equity * p_.order_size_pct / 100.0;
        if (p_.reserve_commission != 0.0) cash = cash / (1.0 + fee_rate_);
        return floor_to(cash / price, p_.qty_step);
    }

    /// The pending market orders, in creation order, at `price` (the open, or the close with
    /// process_orders_on_close); all pending orders are consumed.
    void fill_market(Orders& orders, double price, std::int64_t bar) noexcept {
        Pending& pl = orders.entry_long;
        Pending& ps = orders.entry_short;
        PendingClose& pc = orders.close;
        if (pl.active) fill_entry(pl, price, bar);
        if (ps.active) fill_entry(ps, price, bar);
        if (pc.active && !open_.empty()) close_all_at(price, pc.reason, bar, pc.signal_bar);
        pl.active = ps.active = pc.active = false;
    }

    /// A market entry at the open of `bar` (6.2 step 1).
    void fill_entry(const Pending& e, double open_price, std::int64_t bar) noexcept {
        const double price = open_price + e.dir * slip_;
        if (!open_.empty()) {
            if (open_.front().dir != e.dir) {
                // reversal: close the whole position at this fill, labelled with this entry
                close_all_at(open_price, ExitReason::reversal, bar, e.signal_bar);
            } else if (static_cast<double>(open_.size()) >= pyramiding_) {
                return;  // pyramiding limit: the order is rejected
            }
        }
        double qty = e.qty;
        if (static_cast<int>(p_.sizing_basis) == static_cast<int>(SizingBasis::fill_open)) {
            qty = quantity(realized() + open_profit(price), price);
        }
        if (!(qty > 0.0)) return;
        Trade t;
        t.dir = e.dir;
        t.signal_bar = e.signal_bar;
        t.entry_bar = bar;
        t.entry_price = price;
        t.qty = qty;
        t.has_bracket = e.has_bracket;
        t.stop = e.stop;
        t.limit = e.limit;
        t.entry_fee = fee_rate_ * price * qty;
        t.hi = open_price;
        t.lo = open_price;
        open_.push_back(t);
        sm_.max_contracts_held = std::max(sm_.max_contracts_held, std::fabs(position()));
    }

    /// The bracket of open_[idx] on bar i (6.3-6.5). Returns true when the trade was closed.
    bool check_bracket(std::size_t idx, std::int64_t i, double o, double h, double l) noexcept {
        Trade& t = open_[idx];
        const bool entry_bar = t.entry_bar == i;
        if (!t.has_bracket || (entry_bar && p_.exits_on_entry_bar == 0.0)) {
            visit(t, h);
            visit(t, l);
            return false;
        }
        const int d = t.dir;
        // backtest_fill_limits_assumption: a limit fills once the price trades `fill_limits_`
        // beyond it (the fill is still at the limit); 0 = touching fills.
        const double limit_trigger = d > 0 ? t.limit + fill_limits_ : t.limit - fill_limits_;
        const bool stop_gap = d > 0 ? o <= t.stop : o >= t.stop;
        const bool limit_gap = d > 0 ? o >= limit_trigger : o <= limit_trigger;
        bool stop_on = true;
        bool limit_on = true;
        if (entry_bar && static_cast<int>(p_.entry_bar_gap) ==
                             static_cast<int>(EntryBarGap::skip_leg)) {
            stop_on = !stop_gap;  // B3: a leg already crossed at the entry is ignored this bar
            limit_on = !limit_gap;
        } else if (stop_gap) {
            visit(t, o);
            close_trade(idx, o - d * slip_, ExitReason::stop, i, -1);
            return true;
        } else if (limit_gap) {
            visit(t, o);
            close_trade(idx, o, ExitReason::limit, i, -1);
            return true;
        }
        // 6.3: open -> high -> low -> close when the open is nearer the high, else via the low.
        const double up = std::fabs(h - o);
        const double down = std::fabs(o - l);
        const bool high_first =
            up < down || (up == down && static_cast<int>(p_.tie_path) ==
                                            static_cast<int>(TiePath::high_first));
        // A long's target and a short's stop are reached on the rising leg, the others on the
        // falling leg; the first leg of the path decides which level can be met first.
        const bool up_hit = d > 0 ? (limit_on && h >= limit_trigger) : (stop_on && h >= t.stop);
        const bool down_hit =
            d > 0 ? (stop_on && l <= t.stop) : (limit_on && l <= limit_trigger);
        // the price where the leg triggers (visited) and the fill level
        const double up_trigger = d > 0 ? limit_trigger : t.stop;
        const double down_trigger = d > 0 ? t.stop : limit_trigger;
        const double up_level = d > 0 ? t.limit : t.stop;
        const double down_level = d > 0 ? t.stop : t.limit;
        const ExitReason up_reason = d > 0 ? ExitReason::limit : ExitReason::stop;
        const ExitReason down_reason = d > 0 ? ExitReason::stop : ExitReason::limit;
        if (high_first) {
            if (up_hit) {  // first leg, open -> level
                visit(t, o);
                visit(t, up_trigger);
                close_trade(idx, fill(up_level, up_reason, d), up_reason, i, -1);
                return true;
            }
            if (down_hit) {  // second leg: open, high, then down to the level
                visit(t, o);
                visit(t, h);
                visit(t, down_trigger);
                close_trade(idx, fill(down_level, down_reason, d), down_reason, i, -1);
                return true;
            }
        } else {
            if (down_hit) {
                visit(t, o);
                visit(t, down_trigger);
                close_trade(idx, fill(down_level, down_reason, d), down_reason, i, -1);
                return true;
            }
            if (up_hit) {
                visit(t, o);
                visit(t, l);
                visit(t, up_trigger);
                close_trade(idx, fill(up_level, up_reason, d), up_reason, i, -1);
                return true;
            }
        }
        visit(t, h);
        visit(t, l);
        return false;
    }

    /// Fill price of a bracket leg at its level: stops are slipped against the trade (7.2).
    double fill(double level, ExitReason reason, int dir) const noexcept {
        return reason == ExitReason::stop ? level - dir * slip_ : level;
    }

    /// strategy.exit for every trade (open or pending) of direction `dir` (5.4).
    void exit_call(int dir, double stop, double limit, Pending& pending) noexcept {
        if (std::isnan(stop) && std::isnan(limit)) return;  // no order placed or modified
        for (Trade& t : open_) {
            if (t.dir == dir) {
                t.has_bracket = true;
                t.stop = stop;
                t.limit = limit;
            }
        }
        if (pending.active && pending.dir == dir) {
            pending.has_bracket = true;
            pending.stop = stop;
            pending.limit = limit;
        }
    }

    /// The script's signals at the close of bar i (3.6).
    struct Signals {
        bool short_regime = false;
        bool long_entry = false;
        bool short_entry = false;
    };

    Signals signals(const Scratch& sc, std::int64_t i) const noexcept {
        const double c = s_.close[i];
        const double ratio = sc.hist_vol.data()[i] / p_.implied_vol;
        const bool long_regime = ratio > p_.vol_ratio_threshold;
        const double move = i > 0 ? c - s_.close[i - 1] : kNaN;
        const double move_threshold = sc.atr.data()[i] * p_.gamma_scalp_threshold;
        const bool up_move = move > move_threshold;
        const bool down_move = move < -move_threshold;
        const double band = p_.hedge_band_pct / 100.0;
        const bool delta_long = sc.delta.data()[i] < -band;
        const bool delta_short = sc.delta.data()[i] > band;
        const bool vol_ok = p_.use_vol_filter != 0.0 ? long_regime : true;
        return Signals{.short_regime = ratio < p_.vol_ratio_short,
                       .long_entry = vol_ok && (down_move || delta_long),
                       .short_entry = vol_ok && (up_move || delta_short)};
    }

    /// The orders of bar i, sent at its close c, in the script's statement order (5, 1.2):
    /// entries with their brackets, then the close-all calls. pos, equity and dd_exceeded are
    /// the state the script sees at the close (4).
    void send_orders(const Signals& sg, std::int64_t i, double c, double atr, double equity,
                     double pos, bool dd_exceeded, Orders& orders) noexcept {
        const bool reissue_every_bar =
            static_cast<int>(p_.exit_reissue) == static_cast<int>(ExitReissue::every_bar);
        const bool last_only = static_cast<int>(p_.same_bar_opposite_entries) ==
                               static_cast<int>(SameBarEntries::last_only);
        const bool round_levels = p_.round_exit_levels != 0.0;
        const bool vol_filter_on = p_.use_vol_filter != 0.0;
        const double open_trades = static_cast<double>(open_.size());
        const bool can_trade = !dd_exceeded && open_trades < p_.max_positions;
        if (can_trade) {
            // Bracket levels from this close (5.4): C -/+ ATR multiples, rounded away
            // from the market (B6). Computed only for an exit call.
            const auto bracket = [&](int dir) {
                const double stop = c - dir * (atr * p_.stop_loss_atr_mult);
                const double target = c + dir * (atr * p_.take_profit_atr_mult);
                if (!round_levels) return std::array<double, 2>{stop, target};
                return dir > 0 ? std::array<double, 2>{floor_to(stop, p_.mintick),
                                                       ceil_to(target, p_.mintick)}
                               : std::array<double, 2>{ceil_to(stop, p_.mintick),
                                                       floor_to(target, p_.mintick)};
            };
            const auto exit_for = [&](int dir, Pending& pending) {
                const auto lv = bracket(dir);
                exit_call(dir, lv[0], lv[1], pending);
            };
            if (sg.long_entry && pos <= 0.0) {
                send_entry(orders.entry_long, +1, i, equity, c);
                if (!reissue_every_bar) exit_for(+1, orders.entry_long);
            }
            if (reissue_every_bar) exit_for(+1, orders.entry_long);
            if (sg.short_entry && pos >= 0.0) {
                send_entry(orders.entry_short, -1, i, equity, c);
                if (!reissue_every_bar) exit_for(-1, orders.entry_short);
            }
            if (reissue_every_bar) exit_for(-1, orders.entry_short);
            if (last_only && orders.entry_long.active && orders.entry_short.active) {
                orders.entry_long.active = false;  // B4: only the bar's last entry order survives
            }
        }
        if (dd_exceeded && pos != 0.0) {
            orders.close = {true, ExitReason::close_all_drawdown, i};
        }
        if (vol_filter_on && sg.short_regime && pos != 0.0) {
            orders.close = {true, ExitReason::close_all_regime, i};  // the later comment wins
        }
    }

    /// Equity at the close after the bar's orders: the bar-close drawdown and the run-up (8.3).
    void track_close_equity(double equity_now) noexcept {
        bc_dd_.add(equity_now);
        bc_trough_ = std::min(bc_trough_, equity_now);
        max_runup_ = std::max(max_runup_, equity_now - bc_trough_);
        if (bc_trough_ > 0.0) {
            max_runup_pct_ =
                std::max(max_runup_pct_, (equity_now - bc_trough_) / bc_trough_ * 100.0);
        }
    }

    /// The per-bar record of bar i (8.2): equity, the script's state and its indicators.
    void record_bar(const BarOutputs& out, const Scratch& sc, std::int64_t i, double real_now,
                    double op_now, double equity_peak, double dd_pct,
                    const Signals& sg) const noexcept {
        if (out.equity) out.equity[i] = real_now + op_now;
        if (out.realized_equity) out.realized_equity[i] = real_now;
        if (out.open_profit) out.open_profit[i] = op_now;
        if (out.position_size) out.position_size[i] = position();
        if (out.equity_peak) out.equity_peak[i] = equity_peak;
        if (out.drawdown_pct) out.drawdown_pct[i] = dd_pct;
        if (out.hist_vol) out.hist_vol[i] = sc.hist_vol.data()[i];
        if (out.atr) out.atr[i] = sc.atr.data()[i];
        if (out.straddle_delta) out.straddle_delta[i] = sc.delta.data()[i];
        if (out.straddle_gamma) out.straddle_gamma[i] = sc.gamma.data()[i];
        if (out.long_entry) out.long_entry[i] = sg.long_entry ? 1.0 : 0.0;
        if (out.short_entry) out.short_entry[i] = sg.short_entry ? 1.0 : 0.0;
    }

    void run(const Scratch& sc, const BarOutputs* out) noexcept {
        const bool orders_on_close = p_.process_orders_on_close != 0.0;
        double equity_peak = p_.initial_capital;
        Orders orders;
        sm_.halt_bar = -1.0;
        for (std::int64_t i = 0; i < s_.n; ++i) {
            const double c = s_.close[i];
            // 6.2 step 1: market orders of the previous close, in creation order.
            fill_market(orders, s_.open[i], i);
            // 6.2 step 2: brackets along the bar's path, oldest trade first.
            for (std::size_t k = 0; k < open_.size();) {
                if (!check_bracket(k, i, s_.open[i], s_.high[i], s_.low[i])) ++k;
            }
            // 4: the state the script sees at the close.
            const double op = open_profit(c);
            const double real = realized();
            const double equity = real + op;
            equity_peak = std::max(equity_peak, equity);
            const double dd_pct = (equity_peak - equity) / equity_peak * 100.0;
            const bool dd_exceeded = dd_pct > p_.max_drawdown_pct;
            if (dd_exceeded && sm_.halt_bar < 0.0) sm_.halt_bar = static_cast<double>(i);
            const Signals sg = signals(sc, i);
            if (i >= s_.start) {  // D1: warm-up bars send no orders
                send_orders(sg, i, c, sc.atr.data()[i], equity, position(), dd_exceeded, orders);
            }
            // process_orders_on_close: the orders just sent fill at this close.
            if (orders_on_close) fill_market(orders, c, i);
            const double op_now = orders_on_close ? open_profit(c) : op;
            const double real_now = orders_on_close ? realized() : real;
            track_close_equity(real_now + op_now);
            if (out) record_bar(*out, sc, i, real_now, op_now, equity_peak, dd_pct, sg);
        }
        finish(out);
    }

    void send_entry(Pending& e, int dir, std::int64_t i, double equity, double c) noexcept {
        e = Pending{};
        double qty = 0.0;
        if (static_cast<int>(p_.sizing_basis) == static_cast<int>(SizingBasis::signal_close)) {
            const double price = indicators::round_to_tick(c, p_.mintick) + dir * slip_;
            qty = quantity(equity, price);
            if (!(qty > 0.0)) return;  // 5.3: a zero quantity sends no order
        }
        e.active = true;
        e.dir = dir;
        e.qty = qty;
        e.signal_bar = i;
    }

    void finish(const BarOutputs* out) noexcept {
        const std::int64_t n = s_.n;
        Summary& m = sm_;
        if (n > 0 && p_.close_at_end != 0.0 && !open_.empty()) {
            const double c = s_.close[n - 1];
            while (!open_.empty()) {
                const double price = c - open_.front().dir * slip_;
                close_trade(0, price, ExitReason::end_of_data, n - 1, n - 1);
            }
            // The last bar's record shows the state after the forced close: flat, equity
            // realised (it kept the open position before).
            if (out) {
                if (out->equity) out->equity[n - 1] = realized();
                if (out->realized_equity) out->realized_equity[n - 1] = realized();
                if (out->open_profit) out->open_profit[n - 1] = 0.0;
                if (out->position_size) out->position_size[n - 1] = 0.0;
            }
        }
        const double last_close = n > 0 ? s_.close[n - 1] : kNaN;
        m.open_trades = static_cast<double>(open_.size());
        m.open_pnl = open_.empty() ? 0.0 : open_profit(last_close);
        for (Trade& t : open_) {
            t.pnl = t.dir * (last_close - t.entry_price) * t.qty - t.entry_fee;
            t.exit_price = last_close;
            excursions(t);
            m.commission_paid += t.entry_fee;
            ib_dd_.add(realized() - t.entry_fee - t.drawdown);
        }
        m.net_profit = net_;
        m.net_profit_pct = net_ / p_.initial_capital * 100.0;
        const double nc = m.closed_trades;
        m.profit_factor = m.gross_loss > 0.0 ? m.gross_profit / m.gross_loss : kNaN;
        m.percent_profitable = nc > 0.0 ? m.winning_trades / nc * 100.0 : kNaN;
        m.avg_trade = nc > 0.0 ? net_ / nc : kNaN;
        m.avg_win = m.winning_trades > 0.0 ? m.gross_profit / m.winning_trades : kNaN;
        m.avg_loss = m.losing_trades > 0.0 ? m.gross_loss / m.losing_trades : kNaN;
        m.ratio_avg_win_loss = m.avg_win / m.avg_loss;
        m.avg_bars_in_trades = nc > 0.0 ? bars_sum_ / nc : kNaN;
        if (n > 0 && s_.start < n) {
            const double growth = last_close / s_.open[s_.start] - 1.0;
            m.buy_hold_return = p_.initial_capital * growth;
            m.buy_hold_return_pct = growth * 100.0;
        } else {
            m.buy_hold_return = m.buy_hold_return_pct = kNaN;
        }
        m.max_drawdown = ib_dd_.max_amount;
        m.max_drawdown_pct = ib_dd_.max_pct;
        m.max_drawdown_bar_close = bc_dd_.max_amount;
        m.max_drawdown_bar_close_pct = bc_dd_.max_pct;
        m.max_drawdown_closed_trades = ct_dd_.max_amount;
        m.max_drawdown_closed_trades_pct = ct_dd_.max_pct;
        m.max_runup_bar_close = max_runup_;
        m.max_runup_bar_close_pct = max_runup_pct_;
        m.final_equity = realized() + m.open_pnl;
    }

private:
    const Series& s_;
    const Params& p_;
    std::vector<Trade>& open_;
    Summary& sm_;
    std::vector<Trade>* closed_;
    double fee_rate_;
    double slip_;
    double fill_limits_;
    double pyramiding_;
    double net_ = 0.0;
    double bars_sum_ = 0.0;
    DrawdownTracker ct_dd_;
    DrawdownTracker ib_dd_;
    DrawdownTracker bc_dd_;
    double bc_trough_;
    double max_runup_ = 0.0;
    double max_runup_pct_ = 0.0;
};

void compute_indicators(const Series& s, const Params& p, Scratch& sc) noexcept {
    const std::int64_t n = s.n;
    const Scratch::Key hv_key{{s.close, nullptr, nullptr}, n,
                              {p.hist_vol_period, p.annualization, p.hist_vol_fallback, 0, 0, 0}};
    if (!(sc.hist_vol_key == hv_key)) {
        indicators::hist_vol(s.close, n, static_cast<std::int64_t>(p.hist_vol_period),
                             p.annualization, p.hist_vol_fallback, sc.tmp.data(),
                             sc.hist_vol.data());
        sc.hist_vol_key = hv_key;
    }
    const Scratch::Key atr_key{{s.high, s.low, s.close}, n, {p.atr_period, 0, 0, 0, 0, 0}};
    if (!(sc.atr_key == atr_key)) {
        indicators::atr(s.high, s.low, s.close, n, static_cast<std::int64_t>(p.atr_period),
                        sc.tmp.data(), sc.atr.data());
        sc.atr_key = atr_key;
    }
    const Scratch::Key greeks_key{{s.close, nullptr, nullptr}, n,
                                  {p.strike_offset_pct, p.mintick, p.days_to_expiry,
                                   p.implied_vol, p.risk_free_rate, p.dividend_yield}};
    if (sc.greeks_key == greeks_key) return;
    sc.greeks_key = greeks_key;
    indicators::StraddleInputs in;
    in.strike_offset_pct = p.strike_offset_pct;
    in.mintick = p.mintick;
    in.tau = p.days_to_expiry / 365.0;
    in.vol = p.implied_vol;
    in.rate = p.risk_free_rate;
    in.div = p.dividend_yield;
    indicators::straddle_greeks(s.close, n, in, sc.delta.data(), sc.gamma.data());
}

bool whole(double x) noexcept { return std::floor(x) == x; }

}  // namespace

const char* const* param_names() noexcept { return kParamNames; }
const double* param_defaults() noexcept { return kParamDefaults; }
const char* const* summary_names() noexcept { return kSummaryNames; }

Params params_from_row(const double* row) noexcept {
    Params p;
    int k = 0;
#define GAMMAEXT_X(name, def) p.name = row[k++];
    GAMMAEXT_BACKTEST_PARAMS(GAMMAEXT_X)
#undef GAMMAEXT_X
    return p;
}

void summary_to_row(const Summary& s, double* row) noexcept {
    int k = 0;
#define GAMMAEXT_X(name) row[k++] = s.name;
    GAMMAEXT_BACKTEST_SUMMARY(GAMMAEXT_X)
#undef GAMMAEXT_X
}

const char* check_params(const Params& p) noexcept {
#define GAMMAEXT_X(name, def) \
    if (std::isnan(p.name)) return #name " is NaN";                                           \
    if (std::isinf(p.name)) return #name " must be finite";
    GAMMAEXT_BACKTEST_PARAMS(GAMMAEXT_X)
#undef GAMMAEXT_X
    // Signs: a negative multiple puts the stop or the target on the wrong side of the entry
    // (stop_loss_atr_mult = -2 gave hundreds of trades closed at once for nothing).
#define GAMMAEXT_NONNEG(name) \
    if (!(p.name >= 0.0)) return #name " must be >= 0";
    GAMMAEXT_NONNEG(stop_loss_atr_mult)
    GAMMAEXT_NONNEG(take_profit_atr_mult)
    GAMMAEXT_NONNEG(gamma_scalp_threshold)
    GAMMAEXT_NONNEG(hedge_band_pct)
    GAMMAEXT_NONNEG(max_drawdown_pct)
    GAMMAEXT_NONNEG(hist_vol_fallback)
    GAMMAEXT_NONNEG(vol_ratio_threshold)
    GAMMAEXT_NONNEG(vol_ratio_short)
#undef GAMMAEXT_NONNEG
    if (!(p.strike_offset_pct > -100.0)) return "strike_offset_pct must be > -100";
    if (!(p.hist_vol_period >= 1.0) || !whole(p.hist_vol_period) || p.hist_vol_period > 1e9)
        return "hist_vol_period must be a whole number >= 1";
    if (!(p.atr_period >= 1.0) || !whole(p.atr_period) || p.atr_period > 1e9)
        return "atr_period must be a whole number >= 1";
    if (!(p.initial_capital > 0.0) || std::isinf(p.initial_capital))
        return "initial_capital must be > 0 and finite";
    if (!(p.order_size_pct > 0.0)) return "order_size_pct must be > 0";
    if (!(p.pyramiding >= 0.0) || !whole(p.pyramiding) || p.pyramiding > kMaxPyramiding)
        return "pyramiding must be a whole number in [0, 1000]";
    if (!(p.commission_pct >= 0.0)) return "commission_pct must be >= 0";
    if (!(p.slippage_ticks >= 0.0)) return "slippage_ticks must be >= 0";
    if (!(p.backtest_fill_limits_assumption >= 0.0))
        return "backtest_fill_limits_assumption must be >= 0";
    if (!(p.mintick >= 0.0)) return "mintick must be >= 0";
    if (!(p.qty_step >= 0.0)) return "qty_step must be >= 0";
    if (!(p.annualization > 0.0)) return "annualization must be > 0";
    if (!(p.days_to_expiry >= 0.0)) return "days_to_expiry must be >= 0";
    if (!(p.implied_vol >= 0.0)) return "implied_vol must be >= 0";
    if (!(p.max_positions >= 0.0)) return "max_positions must be >= 0";
#define GAMMAEXT_FLAG(name, hi) \
    if (!(p.name == 0.0 || (p.name >= 0.0 && p.name <= hi && whole(p.name)))) \
        return #name " has an unknown value";
    GAMMAEXT_FLAG(use_vol_filter, 1.0)
    GAMMAEXT_FLAG(exit_reissue, 1.0)
    GAMMAEXT_FLAG(tie_path, 1.0)
    GAMMAEXT_FLAG(exits_on_entry_bar, 1.0)
    GAMMAEXT_FLAG(entry_bar_gap, 1.0)
    GAMMAEXT_FLAG(same_bar_opposite_entries, 1.0)
    GAMMAEXT_FLAG(sizing_basis, 1.0)
    GAMMAEXT_FLAG(round_exit_levels, 1.0)
    GAMMAEXT_FLAG(reserve_commission, 1.0)
    GAMMAEXT_FLAG(close_at_end, 1.0)
    GAMMAEXT_FLAG(process_orders_on_close, 1.0)
#undef GAMMAEXT_FLAG
    return nullptr;
}

void Scratch::resize(std::int64_t n, int pyramiding) {
    hist_vol_key = atr_key = greeks_key = Key{};
    const auto m = static_cast<std::size_t>(std::max<std::int64_t>(n, 1));
    hist_vol.resize(m);
    atr.resize(m);
    delta.resize(m);
    gamma.resize(m);
    tmp.resize(m);
    open.reserve(static_cast<std::size_t>(std::max(pyramiding, 1)) + 2);
}

void run(const Series& s, const Params& p, Scratch& scratch, Summary& summary,
         std::vector<Trade>* closed, std::vector<Trade>* open_out,
         const BarOutputs* bars) noexcept {
    summary = Summary{};
    compute_indicators(s, p, scratch);
    Engine engine(s, p, scratch, summary, closed);
    engine.run(scratch, bars);
    if (open_out) {
        for (const Trade& t : scratch.open) open_out->push_back(t);
    }
}

void sweep(const std::vector<Series>& series, const std::vector<Params>& params, double* out,
           int threads) {
    const auto n_params = static_cast<std::int64_t>(params.size());
    const std::int64_t pairs = static_cast<std::int64_t>(series.size()) * n_params;
    std::int64_t max_n = 1;
    for (const Series& s : series) max_n = std::max(max_n, s.n);
    int max_pyr = 1;
    for (const Params& p : params) max_pyr = std::max(max_pyr, static_cast<int>(p.pyramiding));
    // Scratch for every chunk parallel_for may use, allocated before any thread starts.
    // The thread count is read once: the process default may change concurrently, and the
    // scratch must cover every chunk parallel_for can create.
    const int nt = std::max(1, effective_threads(threads));
    std::vector<Scratch> scratch(static_cast<std::size_t>(nt));
    for (Scratch& sc : scratch) sc.resize(max_n, max_pyr);
    // Visit the parameter sets grouped by their indicator inputs, so that consecutive runs on
    // a thread reuse the indicator arrays (Scratch keys). Each result still depends only on its
    // own (series, parameters) pair and lands at its own place in `out`.
    std::vector<std::size_t> order(params.size());
    for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
    const auto indicator_inputs = [](const Params& p) {
        return std::array<double, 9>{p.hist_vol_period,   p.annualization, p.hist_vol_fallback,
                                     p.strike_offset_pct, p.mintick,       p.days_to_expiry,
                                     p.implied_vol,       p.risk_free_rate, p.dividend_yield};
    };
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        return indicator_inputs(params[a]) < indicator_inputs(params[b]);
    });
    constexpr std::int64_t kMinPairsPerThread = 4;
    parallel_for(pairs, nt, kMinPairsPerThread,
                 [&](int chunk, std::int64_t lo, std::int64_t hi) {
                     Scratch& sc = scratch[static_cast<std::size_t>(chunk)];
                     Summary sm;
                     for (std::int64_t k = lo; k < hi; ++k) {
                         const auto si = static_cast<std::size_t>(k / n_params);
                         const std::size_t pi = order[static_cast<std::size_t>(k % n_params)];
                         run(series[si], params[pi], sc, sm, nullptr, nullptr, nullptr);
                         const auto slot = static_cast<std::int64_t>(si) * n_params +
                                           static_cast<std::int64_t>(pi);
                         summary_to_row(sm, out + slot * kNumSummary);
                     }
                 });
}

}  // namespace gammaext::backtest
