// Bar indicators with TradingView Pine v6 semantics, as plain functions over arrays.
//
// Shared by the strategy backtest (backtest.hpp) and the hedging engine, so that both use one
// definition of historical volatility, ATR and the volatility regime. Definitions follow
// ../shared/PINE_STRATEGY_SPEC.md section 3:
//
//   log_returns   r_i = ln(C_i / C_{i-1}), NaN on bar 0.
//   stdev         ta.stdev(src, L): population (biased) standard deviation of the last L
//                 non-NaN values; NaN until L non-NaN values exist. Two passes over the window,
//                 oldest value first: mean = (sum x) / L, then sqrt(sum (x - mean)^2 / L).
//   hist_vol      nz(stdev(log_returns, L) * sqrt(A), fallback).
//   true_range    TR_0 = H_0 - L_0; TR_i = max(H - L, |H - C_{i-1}|, |L - C_{i-1}|).
//   rma           ta.rma(src, L): NaN until L consecutive non-NaN values, seeded with their
//                 simple mean (summed oldest first, / L), then x_i = x_{i-1} + (src_i - x_{i-1})/L
//                 (Wilder smoothing, alpha = 1/L). A NaN source value gives NaN and a re-seed.
//   atr           rma(true_range, L).
//   efficiency_ratio  Kaufman: |C_i - C_{i-n}| / sum_{k=i-n+1..i} |C_k - C_{k-1}|, NaN for
//                 i < n; 0 when the path length is 0 (no movement, no trend).
//   straddle_greeks  delta and gamma of the synthetic ATM straddle with the script's
//                 Abramowitz-Stegun 26.2.17 normal CDF (vmath::norm_cdf_as26217).
//
// All arithmetic is plain IEEE double in a fixed order (the source file of the backtest is
// compiled without FMA contraction), so the slow Python replica in the tests agrees bit for bit.
// No allocation, no exceptions; out may not alias the inputs.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "gammaext/vmath.hpp"

namespace gammaext::indicators {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

/// ln(C_i / C_{i-1}); out[0] = NaN.
inline void log_returns(const double* close, std::int64_t n, double* out) noexcept {
    for (std::int64_t i = 0; i < n; ++i) {
        out[i] = i == 0 ? kNaN : std::log(close[i] / close[i - 1]);
    }
}

/// Population standard deviation of the last `length` non-NaN values up to and including i.
inline void stdev(const double* src, std::int64_t n, std::int64_t length, double* out) noexcept {
    if (length < 1) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = kNaN;
        return;
    }
    const double len = static_cast<double>(length);
    std::int64_t valid_seen = 0;
    std::int64_t last_nan = -1;
    for (std::int64_t i = 0; i < n; ++i) {
        if (std::isnan(src[i])) {
            last_nan = i;
        } else {
            ++valid_seen;
        }
        if (valid_seen < length) {
            out[i] = kNaN;
            continue;
        }
        std::int64_t start = i - length + 1;
        if (last_nan >= start) {
            // NaN inside the window: the oldest of the last `length` non-NaN values
            start = i;
            for (std::int64_t found = 0;; --start) {
                if (!std::isnan(src[start]) && ++found == length) break;
            }
        } else {
            // common case, no NaN to skip: the same sums in the same order, without tests
            double sum = 0.0;
            for (std::int64_t k = start; k <= i; ++k) sum += src[k];
            const double mean = sum / len;
            double ss = 0.0;
            for (std::int64_t k = start; k <= i; ++k) {
                const double d = src[k] - mean;
                ss += d * d;
            }
            out[i] = std::sqrt(ss / len);
            continue;
        }
        double sum = 0.0;
        for (std::int64_t k = start; k <= i; ++k) {
            if (!std::isnan(src[k])) sum += src[k];
        }
        const double mean = sum / len;
        double ss = 0.0;
        for (std::int64_t k = start; k <= i; ++k) {
            if (!std::isnan(src[k])) {
                const double d = src[k] - mean;
                ss += d * d;
            }
        }
        out[i] = std::sqrt(ss / len);
    }
}

/// Annualised realised volatility: nz(stdev(log_returns(close), period) * sqrt(A), fallback).
/// `scratch` holds n doubles (the log returns).
inline void hist_vol(const double* close, std::int64_t n, std::int64_t period,
                     double annualization, double fallback, double* scratch,
                     double* out) noexcept {
    log_returns(close, n, scratch);
    stdev(scratch, n, period, out);
    const double root_a = std::sqrt(annualization);
    for (std::int64_t i = 0; i < n; ++i) {
        out[i] = std::isnan(out[i]) ? fallback : out[i] * root_a;
    }
}

/// Pine ta.tr(true): bar 0 has no previous close, so TR_0 = H_0 - L_0.
inline void true_range(const double* high, const double* low, const double* close,
                       std::int64_t n, double* out) noexcept {
    for (std::int64_t i = 0; i < n; ++i) {
        const double hl = high[i] - low[i];
        if (i == 0) {
            out[i] = hl;
            continue;
        }
        const double hc = std::fabs(high[i] - close[i - 1]);
        const double lc = std::fabs(low[i] - close[i - 1]);
        // max with NaN propagation (a NaN bar gives a NaN range, as in Pine)
        double m = hl;
        if (std::isnan(hc) || std::isnan(lc) || std::isnan(hl)) {
            m = kNaN;
        } else {
            m = hc > m ? hc : m;
            m = lc > m ? lc : m;
        }
        out[i] = m;
    }
}

/// Pine ta.rma (Wilder's moving average), see the header comment.
inline void rma(const double* src, std::int64_t n, std::int64_t length, double* out) noexcept {
    if (length < 1) {
        for (std::int64_t i = 0; i < n; ++i) out[i] = kNaN;
        return;
    }
    const double len = static_cast<double>(length);
    double prev = kNaN;
    std::int64_t run = 0;  // consecutive non-NaN source values ending at i
    for (std::int64_t i = 0; i < n; ++i) {
        run = std::isnan(src[i]) ? 0 : run + 1;
        if (std::isnan(prev)) {
            if (run >= length) {
                double sum = 0.0;
                for (std::int64_t k = i - length + 1; k <= i; ++k) sum += src[k];
                prev = sum / len;
            }
        } else {
            prev = prev + (src[i] - prev) / len;
        }
        out[i] = prev;
    }
}

/// Pine ta.atr(length) = rma(true_range, length). `scratch` holds n doubles.
inline void atr(const double* high, const double* low, const double* close, std::int64_t n,
                std::int64_t length, double* scratch, double* out) noexcept {
    true_range(high, low, close, n, scratch);
    rma(scratch, n, length, out);
}

/// Kaufman's efficiency ratio over `period` bars (see the header comment).
inline void efficiency_ratio(const double* close, std::int64_t n, std::int64_t period,
                             double* out) noexcept {
    for (std::int64_t i = 0; i < n; ++i) {
        if (period < 1 || i < period) {
            out[i] = kNaN;
            continue;
        }
        const double direction = std::fabs(close[i] - close[i - period]);
        double path = 0.0;
        for (std::int64_t k = i - period + 1; k <= i; ++k) {
            path += std::fabs(close[k] - close[k - 1]);
        }
        // path == 0 means a flat window: no trend, ratio 0 (not 0/0).
        out[i] = path > 0.0 ? direction / path : (std::isnan(path) ? kNaN : 0.0);
    }
}

/// Pine math.round(x / mintick) * mintick (ties up); mintick <= 0 leaves x unchanged.
inline double round_to_tick(double x, double mintick) noexcept {
    if (!(mintick > 0.0)) return x;
    return std::floor(x / mintick + 0.5) * mintick;
}

/// Inputs of the synthetic straddle (script inputs, section 3.3-3.5 of the spec).
struct StraddleInputs {
    double strike_offset_pct = 0.0;  // strike = round_to_tick(C) * (1 + offset / 100)
    double mintick = 0.01;           // price tick for the ATM strike (<= 0: no rounding)
    double tau = 30.0 / 365.0;       // years, constant
    double vol = 0.25;               // implied vol
    double rate = 0.05;              // continuous
    double div = 0.0;                // continuous
};

/// Straddle delta (call + put) and straddle gamma (2 x gamma) at spot = close_i, per the script:
/// d1 = (ln(S/K) + (r - q + sigma^2/2) tau) / (sigma sqrt(tau)), A&S 26.2.17 CDF.
/// tau <= 0: deltas are the script's step functions and gamma 0; sigma <= 0 (tau > 0): d1 is na,
/// so the deltas are NaN and gamma 0. Either output may be null.
inline void straddle_greeks(const double* close, std::int64_t n, const StraddleInputs& in,
                            double* delta_out, double* gamma_out) noexcept {
    const double tau = in.tau;
    const double sigma = in.vol;
    const bool live = tau > 0.0 && sigma > 0.0;
    const double sqrt_tau = tau > 0.0 ? std::sqrt(tau) : kNaN;
    const double disc_q = std::exp(-in.div * tau);
    const double drift = (in.rate - in.div + sigma * sigma / 2.0) * tau;
    const double sig_rt = sigma * sqrt_tau;
    const double k_factor = 1.0 + in.strike_offset_pct / 100.0;
    for (std::int64_t i = 0; i < n; ++i) {
        const double s = close[i];
        const double k = round_to_tick(s, in.mintick) * k_factor;
        double delta = kNaN;
        double gamma = 0.0;
        if (tau <= 0.0) {
            // expired option: the script's intrinsic step deltas
            delta = (s >= k ? 1.0 : 0.0) + (s <= k ? -1.0 : 0.0);
        } else if (live) {
            const double d1 = (std::log(s / k) + drift) / sig_rt;
            const double nd1 = vmath::norm_cdf_as26217(d1);
            delta = disc_q * nd1 + disc_q * (nd1 - 1.0);
            gamma = 2.0 * (disc_q * vmath::norm_pdf_as26217(d1) / (s * sigma * sqrt_tau));
        }
        if (delta_out) delta_out[i] = delta;
        if (gamma_out) gamma_out[i] = gamma;
    }
}

/// Volatility regime from hist_vol / implied_vol: +1 above `long_threshold` (strict), -1 below
/// `short_threshold` (strict), else 0 (NaN ratio: 0).
inline void vol_regime(const double* hist_vol, std::int64_t n, double implied_vol,
                       double long_threshold, double short_threshold, double* out) noexcept {
    for (std::int64_t i = 0; i < n; ++i) {
        const double ratio = hist_vol[i] / implied_vol;
        out[i] = ratio > long_threshold ? 1.0 : (ratio < short_threshold ? -1.0 : 0.0);
    }
}

}  // namespace gammaext::indicators
