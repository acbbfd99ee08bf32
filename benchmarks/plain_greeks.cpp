// A measuring stick for benchmarks/greeks_limit.py, not part of the library: the Black-Scholes
// price and five Greeks of a call in one vectorized loop, with gammaext's own full-precision
// primitives (vmath.hpp: exp, log, the Gaussian factor and Cody's normal CDF in both tails) and
// the textbook formula price = S e^{-qt} N(d1) - K e^{-rt} N(d2). No validation, no careful
// price where that difference cancels, no blocks: what our arithmetic alone costs, to be set
// beside a libmvec loop (the same work with glibc's vector functions under -ffast-math) and
// beside gammaext.greeks in one process.
#include <cmath>
#include <cstdint>

#include "gammaext/vmath.hpp"

namespace vm = gammaext::vmath;

extern "C" void plain_greeks(const double* __restrict spot, const double* __restrict strike,
                             const double* __restrict t, const double* __restrict rate,
                             const double* __restrict div, const double* __restrict vol,
                             double* __restrict price, double* __restrict delta,
                             double* __restrict gamma, double* __restrict theta,
                             double* __restrict vega, double* __restrict rho, std::int64_t n) {
    constexpr double kInvSqrt2Pi = 0.39894228040143267794;
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) {
        const double root_t = std::sqrt(t[i]);
        const double sig = vol[i] * root_t;
        const double d1 = (vm::log(spot[i] / strike[i]) + (rate[i] - div[i]) * t[i]) / sig +
                          0.5 * sig;
        const double d2 = d1 - sig;
        const double fwd = spot[i] * vm::exp(-div[i] * t[i]);     // S e^{-qt}
        const double pv_k = strike[i] * vm::exp(-rate[i] * t[i]);  // K e^{-rt}
        const double g1 = vm::half_gauss(d1);
        const double n1 = vm::norm_cdf_from(d1, g1);
        const double n2 = vm::norm_cdf_from(d2, vm::half_gauss(d2));
        const double dens = fwd * kInvSqrt2Pi * g1;  // S e^{-qt} n(d1)
        price[i] = fwd * n1 - pv_k * n2;
        delta[i] = fwd / spot[i] * n1;
        gamma[i] = dens / (spot[i] * spot[i] * sig);
        vega[i] = dens * root_t;
        theta[i] = -dens * vol[i] / (2.0 * root_t) - rate[i] * pv_k * n2 + div[i] * fwd * n1;
        rho[i] = pv_k * t[i] * n2;
    }
}
