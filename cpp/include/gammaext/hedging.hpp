// The path-wise hedging engine: generate (or read) price paths and delta-hedge an option
// portfolio along them under a rule, with costs, in one fused loop (memory O(paths)).
//
// The numbers that describe a run (generator, vols, rule, costs, accounting switches) travel
// in one flat array indexed by HedgeParam; the X-macro below is the single list of names, and
// the Python side builds the array by name (_core._hedge_param_names()). The accounting is
// documented step by step in docs/hedging.md and in python/gammaext/reference/hedging.py,
// which the engine matches to 1e-10.
#pragma once

#include <cstdint>

#include "gammaext/surface.hpp"

namespace gammaext {

// clang-format off
#define GAMMAEXT_HEDGE_PARAMS(X)                                                              \
    /* path generator */                                                                      \
    X(path_kind) X(spot) X(drift) X(path_vol)                                                 \
    X(heston_v0) X(heston_kappa) X(heston_theta) X(heston_xi) X(heston_rho)                   \
    X(jump_intensity) X(jump_mean) X(jump_std)                                                \
    X(amplitude) X(period) X(total_return) X(scenario_noise)                                  \
    X(block_length)                                                                           \
    X(signal_kind) X(signal_rho)                                                              \
    X(noise_kind) X(noise_size)                                                               \
    /* market and marks */                                                                    \
    X(vol) X(hedge_vol) X(rate) X(div)                                                        \
    X(hedge_vol_kind) X(hedge_vol_length) X(hedge_vol_warmup) X(hedge_vol_floor)              \
    /* implied vol per leg (issue 14): the surface is HedgeSpec::surface */                   \
    X(vol_model) X(sticky_moneyness) X(surface_spot)                                          \
    X(atm_on) X(atm0) X(atm_level) X(atm_kappa) X(atm_xi) X(atm_rho)                          \
    /* an option as second hedge instrument: the last group, traded every oh_every steps */   \
    /* (when the book's vega or gamma is beyond oh_band per unit of option quantity) */        \
    X(oh_on) X(oh_every) X(oh_gamma) X(oh_is_call) X(oh_half_spread_vol) X(oh_band)           \
    /* the roll rule: an expired leg, or one whose call delta per unit leaves [lo, hi], is    */ \
    /* closed, reopened at roll_moneyness x spot, roll_tenor years later (NaN: its own)       */ \
    X(roll_on) X(roll_tenor) X(roll_moneyness) X(roll_delta_lo) X(roll_delta_hi)              \
    X(roll_on_expiry) X(roll_half_spread_vol) X(expiry_tol)                                   \
    /* rule */                                                                                \
    X(every) X(move) X(band) X(band_kind) X(band_to_edge) X(ww_cost) X(ww_risk_aversion)      \
    X(er_length) X(er_widen) X(atr_mult) X(atr_length) X(atr_from_last)                       \
    X(gate) X(gate_min) X(gate_max) X(gate_alpha) X(max_interval)                             \
    X(signal_strength)                                                                        \
    /* costs */                                                                               \
    X(cost_bps) X(half_spread_bps) X(half_spread) X(fixed_cost) X(option_half_spread)         \
    X(impact_bps)                                                                             \
    /* execution: fills at the quotes (or, research only, at the observed price) */           \
    X(fill_observed) X(latency) X(spread_vol)                                                 \
    /* accounting */                                                                          \
    X(initial_hedge) X(entry_costs) X(exit_costs) X(close_options) X(financing)
// clang-format on

enum HedgeParam : int {
#define GAMMAEXT_X(name) hp_##name,
    GAMMAEXT_HEDGE_PARAMS(GAMMAEXT_X)
#undef GAMMAEXT_X
        kNumHedgeParams
};

// The kinds carried by hp_path_kind, hp_noise_kind and hp_band_kind: a kind's number is its
// position in its list, and Python looks the numbers up by name (_core._path_kind_names() ...).
#define GAMMAEXT_PATH_KINDS(X) \
    X(gbm) X(heston) X(merton) X(oscillation) X(trend) X(bootstrap) X(signals) X(user)
#define GAMMAEXT_NOISE_KINDS(X) X(none) X(iid) X(bounce)
#define GAMMAEXT_BAND_KINDS(X) X(none) X(fixed) X(trend) X(whalley_wilmott) X(profile) X(imbalance)
// The signal generator's informative signal (the other one is pure noise).
#define GAMMAEXT_SIGNAL_KINDS(X) X(imbalance) X(profile)
// given: the implied vol, or the constant hedge_vol; ewma, window: realized so far on the
// observed prices (hedge_vol_length: the EWMA's half-life or the window, in steps)
#define GAMMAEXT_HEDGE_VOL_KINDS(X) X(given) X(ewma) X(window)
// How the options are marked: constant: one implied vol for every leg and path (hp_vol, or the
// shared path HedgeSpec::vols); surface: each leg at its own vol from HedgeSpec::surface,
// sticky strike or sticky moneyness (hp_sticky_moneyness), times atm / atm0 of the stochastic
// ATM level when hp_atm_on; heston: each leg at sqrt of the expected average Heston variance
// over its remaining life, given the path's variance (surface::heston_expected_vol), times,
// with an SVI or grid HedgeSpec::surface, its smile over its ATM-forward vol (the shape).
#define GAMMAEXT_VOL_MODELS(X) X(constant) X(surface) X(heston)

#define GAMMAEXT_X(name) name,
enum class PathKind : int { GAMMAEXT_PATH_KINDS(GAMMAEXT_X) };
enum class NoiseKind : int { GAMMAEXT_NOISE_KINDS(GAMMAEXT_X) };
enum class BandKind : int { GAMMAEXT_BAND_KINDS(GAMMAEXT_X) };
enum class HedgeVolKind : int { GAMMAEXT_HEDGE_VOL_KINDS(GAMMAEXT_X) };
enum class SignalKind : int { GAMMAEXT_SIGNAL_KINDS(GAMMAEXT_X) };
enum class VolModel : int { GAMMAEXT_VOL_MODELS(GAMMAEXT_X) };
#undef GAMMAEXT_X

// Per-path outputs, in this order (Python: HEDGE_FIELDS).
#define GAMMAEXT_HEDGE_OUTPUTS(X)                                                             \
    X(pnl) X(gamma) X(theta) X(vega) X(vanna) X(volga) X(hedge) X(financing) X(costs)        \
    X(residual) X(rebalances) X(traded) X(turnover) X(realized_vol) X(max_drawdown)          \
    X(final_spot) X(rolls)
enum HedgeOutput : int {
#define GAMMAEXT_X(name) ho_##name,
    GAMMAEXT_HEDGE_OUTPUTS(GAMMAEXT_X)
#undef GAMMAEXT_X
        kNumHedgeOutputs
};

// Per-step trace fields of the traced paths, in this order (Python: TRACE_FIELDS).
#define GAMMAEXT_TRACE_FIELDS(X)                                                              \
    X(time) X(spot) X(observed) X(option_value) X(option_delta) X(option_gamma) X(shares)    \
    X(net_delta) X(band) X(trade) X(gamma) X(theta) X(vega) X(hedge) X(financing) X(costs)   \
    X(pnl) X(implied_vol)
enum TraceField : int {
#define GAMMAEXT_X(name) tf_##name,
    GAMMAEXT_TRACE_FIELDS(GAMMAEXT_X)
#undef GAMMAEXT_X
        kNumTraceFields
};

// Columns of the option-group array that Python passes, one row per OptionGroup (Python:
// _core._group_column_names()).
#define GAMMAEXT_GROUP_COLUMNS(X) X(strike) X(expiry) X(qc) X(qp) X(expiry_step)
enum GroupColumn : int {
#define GAMMAEXT_X(name) gc_##name,
    GAMMAEXT_GROUP_COLUMNS(GAMMAEXT_X)
#undef GAMMAEXT_X
        kNumGroupColumns
};

/// One (strike, expiry) group of the portfolio: qc calls and qp puts (signed quantities).
struct OptionGroup {
    double strike = 0.0;
    double expiry = 0.0;            ///< years from times[0]
    double qc = 0.0;
    double qp = 0.0;
    std::int64_t expiry_step = 0;   ///< first step k with times[k] >= expiry (n_steps+1: never)
};

struct HedgeSpec {
    const double* p = nullptr;      ///< kNumHedgeParams values
    /// Optional: n_rules parameter arrays (kNumHedgeParams each) of which only the rule fields
    /// are read, to hedge the same paths under several rules in one pass (the paths, draws and
    /// option Greeks are computed once). Outputs then hold n_rules x n_paths values, rule-major,
    /// and the trace n_rules x n_trace x (n_steps + 1) x kNumTraceFields.
    const double* rule_params = nullptr;
    std::int64_t n_rules = 1;
    std::uint64_t seed = 0;
    const double* times = nullptr;  ///< n_steps + 1 times in years, times[0] = 0, increasing
    /// Optional implied vol at each time (else params vol); with vol_model surface, the ATM
    /// level of a user series: every leg's vol is multiplied by vols[k] / vols[0].
    const double* vols = nullptr;
    /// The implied-vol surface of vol_model surface (arrays owned by the caller, validated in
    /// Python): a function of log-moneyness ln(K / F) and time to expiry.
    SurfaceView surface{};
    /// Optional per-path ATM series of vol_model surface (replays of many windows): rows of
    /// n_steps + 1 vols, one per output row; every leg's vol on row i is multiplied by
    /// atm_rows[i][k] / atm_rows[i][0]. Null: none.
    const double* atm_rows = nullptr;
    std::int64_t n_steps = 0;
    const OptionGroup* groups = nullptr;
    std::int64_t n_groups = 0;
    const double* returns = nullptr;  ///< bootstrap: historical log returns
    std::int64_t n_returns = 0;
    const double* paths = nullptr;    ///< user paths: rows of n_steps + 1 prices
    /// Optional user signals at each time, volume profile in [0, 1] and order-book imbalance
    /// in [-1, 1]: signal_rows rows of n_steps + 1 values (1 row: shared by every path; else
    /// one per output row, like paths). Null: none (or the signal generator's).
    const double* profile = nullptr;
    const double* imbalance = nullptr;
    std::int64_t signal_rows = 0;
    std::int64_t first_path = 0;      ///< global index of output row 0 (RNG key, user row)
    std::int64_t n_paths = 0;
    double* out[kNumHedgeOutputs] = {};     ///< each n_rules x n_paths long
    /// false: the P&L without its split. Only pnl, costs, financing, rebalances, traded,
    /// turnover, final_spot and rolls are computed; gamma, theta, vega, vanna, volga, hedge,
    /// residual, realized_vol and max_drawdown are NaN. When every rule's trigger is free of
    /// the book's delta (no band: move, clock, ATR, max interval, vol gate), the vol is constant,
    /// the hedge vol given and nothing is traced, the options are then marked only at time 0,
    /// at expiries and at the horizon, and the hedge delta only on the lanes that trade.
    bool split = true;
    const std::int64_t* trace_paths = nullptr;  ///< global path indices to trace
    std::int64_t n_trace = 0;
    double* trace = nullptr;          ///< n_trace x (n_steps + 1) x kNumTraceFields
};

/// Output rows [begin, end) of the run on the calling thread with the instruction set `isa`.
void hedge_range(const HedgeSpec& spec, std::int64_t begin, std::int64_t end, int isa) noexcept;

/// The whole run over `threads` threads; results do not depend on the thread count.
void hedge(const HedgeSpec& spec, int threads, int isa) noexcept;

/// Rows [begin, end) of random_draws on the calling thread.
void random_draws_range(std::uint64_t seed, std::uint32_t stream, std::int64_t first_path,
                        std::int64_t begin, std::int64_t end, std::int64_t n_draws, bool normal,
                        double* out, int isa) noexcept;

/// Draws of one random stream for the reference engine and tests: out[i * n_draws + k] is draw
/// k of path first_path + i, a uniform (normal = false) or a normal (normal = true).
void random_draws(std::uint64_t seed, std::uint32_t stream, std::int64_t first_path,
                  std::int64_t n_paths, std::int64_t n_draws, bool normal, double* out,
                  int threads, int isa) noexcept;

}  // namespace gammaext
