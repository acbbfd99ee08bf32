// A measuring stick for benchmarks/greeks_limit.py, not part of the library: the Black-Scholes
// price and five Greeks of a call in one vectorized loop, with gammaext's own full-precision
// primitives (vmath.hpp: exp, log, the Gaussian factor and Cody's normal CDF in both tails) and
// the textbook formula price = S e^{-qt} N(d1) - K e^{-rt} N(d2). No validation, no careful
// price where that difference cancels, no blocks: what our arithmetic alone costs, to be set
// beside a libmvec loop (the same work with glibc's vector functions under -ffast-math) and
// beside gammaext.greeks in one process. plain_chain is the same loop for an option chain (one
// spot, expiry, rate and yield): what is constant per call (sqrt t, both discount factors, the
// drift) is computed once, so it shows how much broadcasting can save on this arithmetic.
#include <cmath>
#include <cstdint>

#include "gammaext/vmath.hpp"

namespace vm = gammaext::vmath;

namespace {

constexpr double kInvSqrt2Pi = 0.39894228040143267794;

/// The six outputs of element i from its inputs and its discount factors.
GAMMAEXT_ALWAYS_INLINE void six(double spot, double strike, double t, double root_t,
                                double drift_t, double rate, double div, double vol, double dq,
                                double dr, std::int64_t i, double* __restrict price,
                                double* __restrict delta, double* __restrict gamma,
                                double* __restrict theta, double* __restrict vega,
                                double* __restrict rho) noexcept {
    const double sig = vol * root_t;
    const double d1 = (vm::log(spot / strike) + drift_t) / sig + 0.5 * sig;
    const double d2 = d1 - sig;
    const double fwd = spot * dq;      // S e^{-qt}
    const double pv_k = strike * dr;  // K e^{-rt}
    const double g1 = vm::half_gauss(d1);
    const double n1 = vm::norm_cdf_from(d1, g1);
    const double n2 = vm::norm_cdf_from(d2, vm::half_gauss(d2));
    const double dens = fwd * kInvSqrt2Pi * g1;  // S e^{-qt} n(d1)
    price[i] = fwd * n1 - pv_k * n2;
    delta[i] = dq * n1;
    gamma[i] = dens / (spot * spot * sig);
    vega[i] = dens * root_t;
    theta[i] = -dens * vol / (2.0 * root_t) - rate * pv_k * n2 + div * fwd * n1;
    rho[i] = pv_k * t * n2;
}

}  // namespace

extern "C" void plain_greeks(const double* __restrict spot, const double* __restrict strike,
                             const double* __restrict t, const double* __restrict rate,
                             const double* __restrict div, const double* __restrict vol,
                             double* __restrict price, double* __restrict delta,
                             double* __restrict gamma, double* __restrict theta,
                             double* __restrict vega, double* __restrict rho, std::int64_t n) {
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) {
        six(spot[i], strike[i], t[i], std::sqrt(t[i]), (rate[i] - div[i]) * t[i], rate[i], div[i],
            vol[i], vm::exp(-div[i] * t[i]), vm::exp(-rate[i] * t[i]), i, price, delta, gamma,
            theta, vega, rho);
    }
}

extern "C" void plain_chain(double spot, const double* __restrict strike, double t, double rate,
                            double div, const double* __restrict vol, double* __restrict price,
                            double* __restrict delta, double* __restrict gamma,
                            double* __restrict theta, double* __restrict vega,
                            double* __restrict rho, std::int64_t n) {
    const double root_t = std::sqrt(t), drift_t = (rate - div) * t;
    const double dq = vm::exp(-div * t), dr = vm::exp(-rate * t);
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) {
        six(spot, strike[i], t, root_t, drift_t, rate, div, vol[i], dq, dr, i, price, delta, gamma,
            theta, vega, rho);
    }
}
