// Bar-by-bar replica of the TradingView "Black-Scholes Gamma Scalping Strategy" backtest.
//
// The specification is ../shared/PINE_STRATEGY_SPEC.md (docs/backtest.md summarises it): the
// script's indicators and signals (section 3), the orders it sends at each close (section 5),
// TradingView's broker emulator (section 6: market orders at the next open, brackets along the
// open-high-low-close path), and the accounting and Strategy Tester metrics (sections 7-8).
// Every ambiguous point is a field of Params with the specification's default (section 9).
//
// Margin calls and liquidation (spec 6.8) are not modelled: at 10 % of equity per position
// they cannot occur. The loop allocates nothing and throws nothing; the caller reserves the
// trade vector (capacity 2 n + 2 suffices: at most two entries fill per bar).
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

namespace gammaext::backtest {

enum class ExitReissue : int { on_entry = 0, every_bar = 1 };          // A1
enum class TiePath : int { low_first = 0, high_first = 1 };             // B1
enum class EntryBarGap : int { fill_at_open = 0, skip_leg = 1 };        // B3
enum class SameBarEntries : int { sequential = 0, last_only = 1 };      // B4
enum class SizingBasis : int { signal_close = 0, fill_open = 1 };       // B5

enum class ExitReason : int {
    open = -1,
    stop = 0,
    limit = 1,
    reversal = 2,
    close_all_drawdown = 3,
    close_all_regime = 4,
    end_of_data = 5,
};

// Every parameter as (name, default). Python passes a float64 matrix with one row per parameter
// set, columns in this order; integers and enums are stored as doubles.
#define GAMMAEXT_BACKTEST_PARAMS(X)                                                            \
    X(strike_offset_pct, 0.0)                                                                  \
    X(days_to_expiry, 30.0)                                                                    \
    X(implied_vol, 0.25)                                                                       \
    X(risk_free_rate, 0.05)                                                                    \
    X(dividend_yield, 0.0)                                                                     \
    X(hist_vol_period, 20.0)                                                                   \
    X(vol_ratio_threshold, 1.2)                                                                \
    X(vol_ratio_short, 0.8)                                                                    \
    X(gamma_scalp_threshold, 0.5)                                                              \
    X(hedge_band_pct, 2.0)                                                                     \
    X(use_vol_filter, 1.0)                                                                     \
    X(max_positions, 3.0)                                                                      \
    X(stop_loss_atr_mult, 2.0)                                                                 \
    X(take_profit_atr_mult, 3.0)                                                               \
    X(max_drawdown_pct, 15.0)                                                                  \
    X(atr_period, 14.0)                                                                        \
    X(hist_vol_fallback, 0.20)                                                                 \
    X(initial_capital, 1000000.0)                                                              \
    X(order_size_pct, 10.0)                                                                    \
    X(pyramiding, 5.0)                                                                         \
    X(commission_pct, 0.0)                                                                     \
    X(slippage_ticks, 0.0)                                                                     \
    X(mintick, 0.01)                                                                           \
    X(qty_step, 0.0)                                                                           \
    X(annualization, 365.0)                                                                    \
    X(exit_reissue, 0.0)                                                                       \
    X(tie_path, 0.0)                                                                           \
    X(exits_on_entry_bar, 1.0)                                                                 \
    X(entry_bar_gap, 0.0)                                                                      \
    X(same_bar_opposite_entries, 0.0)                                                          \
    X(sizing_basis, 0.0)                                                                       \
    X(round_exit_levels, 1.0)                                                                  \
    X(reserve_commission, 1.0)                                                                 \
    X(close_at_end, 0.0)                                                                       \
    X(process_orders_on_close, 0.0)                                                            \
    X(backtest_fill_limits_assumption, 0.0)

// Strategy Tester metrics (spec 8.3), all doubles; counts are whole numbers, undefined = NaN.
#define GAMMAEXT_BACKTEST_SUMMARY(X)                                                           \
    X(net_profit)                                                                              \
    X(net_profit_pct)                                                                          \
    X(gross_profit)                                                                            \
    X(gross_loss)                                                                              \
    X(profit_factor)                                                                           \
    X(closed_trades)                                                                           \
    X(winning_trades)                                                                          \
    X(losing_trades)                                                                           \
    X(even_trades)                                                                             \
    X(percent_profitable)                                                                      \
    X(avg_trade)                                                                               \
    X(avg_win)                                                                                 \
    X(avg_loss)                                                                                \
    X(ratio_avg_win_loss)                                                                      \
    X(largest_win)                                                                             \
    X(largest_loss)                                                                            \
    X(avg_bars_in_trades)                                                                      \
    X(open_pnl)                                                                                \
    X(open_trades)                                                                             \
    X(commission_paid)                                                                         \
    X(max_contracts_held)                                                                      \
    X(buy_hold_return)                                                                         \
    X(buy_hold_return_pct)                                                                     \
    X(max_drawdown)                                                                            \
    X(max_drawdown_pct)                                                                        \
    X(max_drawdown_bar_close)                                                                  \
    X(max_drawdown_bar_close_pct)                                                              \
    X(max_drawdown_closed_trades)                                                              \
    X(max_drawdown_closed_trades_pct)                                                          \
    X(max_runup_bar_close)                                                                     \
    X(max_runup_bar_close_pct)                                                                 \
    X(long_trades)                                                                             \
    X(long_net_profit)                                                                         \
    X(short_trades)                                                                            \
    X(short_net_profit)                                                                        \
    X(final_equity)                                                                            \
    X(halt_bar)

struct Params {
#define GAMMAEXT_X(name, def) double name = def;
    GAMMAEXT_BACKTEST_PARAMS(GAMMAEXT_X)
#undef GAMMAEXT_X
};

inline constexpr int kNumParams = 0
#define GAMMAEXT_X(name, def) +1
    GAMMAEXT_BACKTEST_PARAMS(GAMMAEXT_X)
#undef GAMMAEXT_X
    ;

struct Summary {
#define GAMMAEXT_X(name) double name = 0.0;
    GAMMAEXT_BACKTEST_SUMMARY(GAMMAEXT_X)
#undef GAMMAEXT_X
};

inline constexpr int kNumSummary = 0
#define GAMMAEXT_X(name) +1
    GAMMAEXT_BACKTEST_SUMMARY(GAMMAEXT_X)
#undef GAMMAEXT_X
    ;

/// Parameter and metric names, in matrix-column order.
const char* const* param_names() noexcept;
const double* param_defaults() noexcept;
const char* const* summary_names() noexcept;

/// Params from one row of kNumParams doubles.
Params params_from_row(const double* row) noexcept;
/// Metrics into kNumSummary doubles.
void summary_to_row(const Summary& s, double* row) noexcept;
/// nullptr when the parameters are usable, else a message naming the first bad one.
const char* check_params(const Params& p) noexcept;

/// One OHLC series; bars before `start` are warm-up (indicators only, no orders; spec D1).
struct Series {
    const double* open = nullptr;
    const double* high = nullptr;
    const double* low = nullptr;
    const double* close = nullptr;
    std::int64_t n = 0;
    std::int64_t start = 0;
};

/// One trade. Bars are indices into the series; prices are fill prices.
struct Trade {
    int dir = 0;                     // +1 long (GammaLong), -1 short (GammaShort)
    std::int64_t signal_bar = -1;    // bar whose close sent the entry (its comment)
    std::int64_t entry_bar = -1;
    double entry_price = 0.0;
    double qty = 0.0;
    double stop = std::numeric_limits<double>::quiet_NaN();  // bracket levels in force at the
    double limit = std::numeric_limits<double>::quiet_NaN(); // exit (NaN: none)
    int exit_reason = static_cast<int>(ExitReason::open);
    std::int64_t exit_bar = -1;
    std::int64_t exit_signal_bar = -1;  // bar whose close sent the closing order (-1 bracket)
    double exit_price = 0.0;
    double entry_fee = 0.0;
    double exit_fee = 0.0;
    double pnl = 0.0;                // closed: realised; open: open P&L at the last close
    double run_up = 0.0;
    double drawdown = 0.0;
    double hi = 0.0;                 // highest / lowest price visited while open
    double lo = 0.0;
    bool has_bracket = false;
};

/// Optional per-bar outputs (null pointers are skipped), n doubles each.
struct BarOutputs {
    double* equity = nullptr;
    double* realized_equity = nullptr;
    double* open_profit = nullptr;
    double* position_size = nullptr;
    double* equity_peak = nullptr;
    double* drawdown_pct = nullptr;
    double* hist_vol = nullptr;
    double* atr = nullptr;
    double* straddle_delta = nullptr;
    double* straddle_gamma = nullptr;
    double* long_entry = nullptr;
    double* short_entry = nullptr;
};

/// Per-thread working memory of one run (indicator arrays), reusable across runs. The
/// indicator arrays remember the inputs they were computed from, so consecutive runs of a sweep
/// that share them (same series, same periods...) skip the recomputation; a recomputation would
/// give the same bits, so results do not depend on how runs are grouped into threads.
struct Scratch {
    std::vector<double> hist_vol, atr, delta, gamma, tmp;
    std::vector<Trade> open;
    struct Key {
        const double* data[3] = {nullptr, nullptr, nullptr};  // the input arrays
        std::int64_t n = -1;
        double v[6] = {0, 0, 0, 0, 0, 0};
        bool operator==(const Key&) const = default;
    };
    Key hist_vol_key, atr_key, greeks_key;
    void resize(std::int64_t n, int pyramiding);
};

/// One backtest. `closed` (may be null) receives the closed trades in exit order, `open_out`
/// (may be null) the trades still open at the end. Both must have enough capacity reserved
/// (closed: 2 n + 2) so that the loop never allocates; scratch must be resized for n.
void run(const Series& s, const Params& p, Scratch& scratch, Summary& summary,
         std::vector<Trade>* closed, std::vector<Trade>* open_out,
         const BarOutputs* bars) noexcept;

/// Every (series, parameter set) pair; out is n_series x n_params x kNumSummary doubles
/// (row-major). Threads split the pairs; each result depends only on its pair.
void sweep(const std::vector<Series>& series, const std::vector<Params>& params, double* out,
           int threads);

}  // namespace gammaext::backtest
