// Implied-volatility surfaces in total variance, and the dynamics of implied vol along paths.
//
// A surface gives the total implied variance w(k, t) = vol(k, t)^2 t at forward log-moneyness
// k = ln(K / F(t)) and time to expiry t (years). Four kinds (docs/surfaces.md):
//   flat    w = vol^2 t                                     params: [vol]
//   term    w_i at expiries t_i (ATM, the same for every k) params: [w_0 .. w_{n-1}]
//   svi     raw SVI per expiry (J. Gatheral, "A parsimonious arbitrage-free implied volatility
//           parameterization", Global Derivatives 2004; J. Gatheral and A. Jacquier,
//           "Arbitrage-free SVI volatility surfaces", Quant. Finance 14 (2014), eq. (3.1)):
//           w_i(k) = a + b (rho (k - m) + sqrt((k - m)^2 + sigma^2))
//                                                           params: 5 per expiry (a b rho m sigma)
//   grid    w_i(k_j) on a log-moneyness grid, linear in k between nodes and constant (flat
//           total variance, so flat vol) beyond the first and last node
//                                                           params: n_t x n_k, row per expiry
// Across expiries, at fixed k: linear in total variance between t_i and t_{i+1}; before the
// first expiry and after the last, the vol of the nearest expiry at the same k (flat-vol
// extrapolation, w = w_0(k) t / t_0 or w_{n-1}(k) t / t_{n-1}). Linear interpolation in w at
// fixed k keeps w non-decreasing in t wherever the slices are (no calendar arbitrage in, none
// out); it need not keep butterfly arbitrage away between slices (Gatheral and Jacquier,
// section 5, interpolate prices instead), which is why the Python checks look at the slices.
//
// The functions are inline and allocation-free so that the hedging loop can call them per
// step (in the instruction set's inline namespace, see simd.hpp). Validation (increasing
// expiries, non-negative total variance, finite parameters) is the caller's: Python checks
// every surface when it is built.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "gammaext/simd.hpp"

namespace gammaext {

/// The kinds of surface, in the order of their numbers (Python: _core._surface_kind_names()).
#define GAMMAEXT_SURFACE_KINDS(X) X(flat) X(term) X(svi) X(grid)
enum class SurfaceKind : int {
#define GAMMAEXT_X(name) name,
    GAMMAEXT_SURFACE_KINDS(GAMMAEXT_X)
#undef GAMMAEXT_X
};

inline constexpr int kSviParams = 5;  ///< a, b, rho, m, sigma

/// A read-only view of a surface's arrays (owned by the caller).
struct SurfaceView {
    SurfaceKind kind = SurfaceKind::flat;
    std::int64_t n_t = 0;             ///< expiries (0 for flat)
    const double* t = nullptr;        ///< expiries in years, strictly increasing, > 0
    const double* params = nullptr;   ///< see the table above
    std::int64_t n_k = 0;             ///< grid nodes (grid only)
    const double* k = nullptr;        ///< grid log-moneyness, strictly increasing (grid only)
};

namespace surface {
inline namespace GAMMAEXT_INLINE_NS {

/// Raw SVI total variance at log-moneyness k for p = (a, b, rho, m, sigma).
inline double svi_w(const double* p, double k) noexcept {
    const double x = k - p[3];
    return p[0] + p[1] * (p[2] * x + std::sqrt(x * x + p[4] * p[4]));
}

/// Total variance of a grid row at k: linear between nodes, flat beyond the ends.
inline double grid_w(const double* kk, const double* w, std::int64_t n_k, double k) noexcept {
    if (!(k > kk[0])) {
        return std::isnan(k) ? k : w[0];
    }
    if (k >= kk[n_k - 1]) {
        return w[n_k - 1];
    }
    std::int64_t lo = 0, hi = n_k - 1;  // kk[lo] < k < kk[hi]: bisection, O(log n_k)
    while (hi - lo > 1) {
        const std::int64_t mid = lo + (hi - lo) / 2;
        if (kk[mid] <= k) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    const double f = (k - kk[lo]) / (kk[hi] - kk[lo]);
    return w[lo] + f * (w[hi] - w[lo]);
}

/// Total variance of expiry slice i at log-moneyness k.
inline double slice_w(const SurfaceView& s, std::int64_t i, double k) noexcept {
    switch (s.kind) {
        case SurfaceKind::term:
            return s.params[i];
        case SurfaceKind::svi:
            return svi_w(s.params + i * kSviParams, k);
        case SurfaceKind::grid:
            return grid_w(s.k, s.params + i * s.n_k, s.n_k, k);
        case SurfaceKind::flat:
        default:
            return s.params[0] * s.params[0];  // not used: flat has no slices
    }
}

/// The index i with t_i <= t < t_{i+1} (0 <= i <= n_t - 2), for t_0 <= t < t_{n-1}.
inline std::int64_t bracket(const double* tt, std::int64_t n_t, double t) noexcept {
    std::int64_t lo = 0, hi = n_t - 1;
    while (hi - lo > 1) {
        const std::int64_t mid = lo + (hi - lo) / 2;
        if (tt[mid] <= t) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/// Total implied variance w(k, t) (year-units of variance: vol^2 t). t < 0 or NaN in: NaN.
inline double total_variance(const SurfaceView& s, double k, double t) noexcept {
    constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
    if (!(t >= 0.0) || std::isnan(k)) {
        return kNaN;
    }
    if (s.kind == SurfaceKind::flat) {
        return s.params[0] * s.params[0] * t;
    }
    const std::int64_t n = s.n_t;
    if (t <= s.t[0]) {  // flat vol at fixed k before the first expiry
        return slice_w(s, 0, k) * (t / s.t[0]);
    }
    if (t >= s.t[n - 1]) {  // and after the last
        return slice_w(s, n - 1, k) * (t / s.t[n - 1]);
    }
    const std::int64_t i = bracket(s.t, n, t);
    const double f = (t - s.t[i]) / (s.t[i + 1] - s.t[i]);
    const double w0 = slice_w(s, i, k);
    return w0 + f * (slice_w(s, i + 1, k) - w0);
}

/// Implied vol sqrt(w(k, t) / t). At t = 0 the limit from above: the first slice's vol at k
/// (flat vol) or the flat surface's vol.
inline double vol(const SurfaceView& s, double k, double t) noexcept {
    if (t == 0.0 && !std::isnan(k)) {
        if (s.kind == SurfaceKind::flat) {
            return s.params[0];
        }
        return std::sqrt(slice_w(s, 0, k) / s.t[0]);
    }
    return std::sqrt(total_variance(s, k, t) / t);
}

/// sqrt of the expected average Heston variance over the next tau years, given the variance v
/// now: E[(1/tau) int_0^tau v_s ds] = theta + (v - theta) (1 - e^{-kappa tau}) / (kappa tau),
/// from E[v_s] = theta + (v - theta) e^{-kappa s} (S. L. Heston, Rev. Financ. Stud. 6 (1993)
/// 327-343, the CIR mean). (1 - e^{-x}) / x is -expm1(-x) / x, which keeps its accuracy as
/// x -> 0 and tends to 1 there (the limit is sqrt(v) at tau = 0 or kappa = 0).
inline double heston_expected_vol(double v, double tau, double kappa, double theta) noexcept {
    const double x = kappa * tau;
    const double frac = x == 0.0 ? 1.0 : -std::expm1(-x) / x;
    const double avg = theta + (v - theta) * frac;
    return std::sqrt(avg < 0.0 ? 0.0 : avg);  // NaN stays NaN
}

/// One OU step of y = ln(atm vol): the transition's mean reversion factor e^{-kappa dt} and
/// standard deviation for a step of dt years.
struct OuStep {
    double decay, sd;
};
inline OuStep ou_step(double kappa, double xi, double dt) noexcept {
    if (kappa == 0.0) {
        return {1.0, xi * std::sqrt(dt)};  // Brownian limit of the OU transition
    }
    // (1 - e^{-2 kappa dt}) / (2 kappa) = -expm1(-2 kappa dt) / (2 kappa): exact for small dt.
    return {std::exp(-kappa * dt), xi * std::sqrt(-std::expm1(-2.0 * kappa * dt) / (2.0 * kappa))};
}

}  // namespace GAMMAEXT_INLINE_NS
}  // namespace surface

/// Evaluates w(k[i], t[i]) (or the vol with want_vol) for n points; k and t broadcast when their
/// length is 1. Threads split the points; each point is independent, so the result does not
/// depend on the thread count.
void surface_eval(const SurfaceView& s, const double* k, bool k_scalar, const double* t,
                  bool t_scalar, std::int64_t n, bool want_vol, double* out, int threads) noexcept;

/// Log ATM vol as an Ornstein-Uhlenbeck process, generated jointly with GBM spot paths.
///   d ln S = (drift - vol^2 / 2) dt + vol dW_S
///   d y    = kappa (ln level - y) dt + xi dW_y,   y = ln(atm vol),  d<W_S, W_y> = rho dt
/// Both steps are exact in distribution (GBM: its log-normal step; OU: the Gaussian transition
/// with mean ln level + (y - ln level) e^{-kappa dt} and variance xi^2 (1 - e^{-2 kappa dt}) /
/// (2 kappa), xi^2 dt at kappa = 0). Draws: z_S = draw k of the `price` stream (the same
/// normals, hence the same spot paths, as the hedging engine's GBM generator with this seed),
/// z_perp = draw k of the `atm_vol` stream, z_y = rho z_S + sqrt(1 - rho^2) z_perp.
struct AtmVolSpec {
    std::uint64_t seed = 0;
    std::int64_t first_path = 0, n_paths = 0, n_steps = 0;
    const double* times = nullptr;  ///< n_steps + 1 increasing times in years, times[0] = 0 ok
    double spot = 100.0, drift = 0.0, vol = 0.2;        ///< the spot's GBM
    double atm0 = 0.2, level = 0.2, kappa = 0.0, xi = 0.0, rho = 0.0;  ///< the ATM vol's OU
    double* spot_out = nullptr;  ///< n_paths x (n_steps + 1)
    double* atm_out = nullptr;   ///< n_paths x (n_steps + 1)
};

/// Fills spec's outputs; `isa` as in simd.hpp (kIsaBest: the widest this CPU runs).
void atm_vol_paths(const AtmVolSpec& spec, int threads, int isa = kIsaBest) noexcept;

}  // namespace gammaext
