// The TradingView "Black-Scholes Gamma Scalping" script's arithmetic, reproduced bit for bit:
// its Abramowitz-Stegun 26.2.17 normal CDF and truncated density (../shared/PINE_STRATEGY_SPEC.md
// section 3.4) and Greeks computed with them. Pine evaluates every operation in IEEE double
// without fused multiply-add, so this file is compiled with -ffp-contract=off (CMakeLists.txt)
// and uses the platform's std::exp/std::log. Scalar code: replication, not speed.
#include <cmath>
#include <cstdint>

#define GAMMAEXT_ISA_NS pine_math
#include "black_scholes_impl.hpp"
#include "gammaext/kernels.hpp"

namespace gammaext {

double vmath::norm_cdf_as26217(double x) noexcept {
    constexpr double kCut = 10.0;
    if (std::isnan(x)) {
        return x;
    }
    if (std::fabs(x) > kCut) {
        return x > 0.0 ? 1.0 : 0.0;
    }
    const double t = 1.0 / (1.0 + 0.2316419 * std::fabs(x));
    const double d = 0.3989422804 * std::exp(-x * x / 2.0);
    const double p =
        t * (0.31938153 +
             t * (-0.356563782 + t * (1.781477937 + t * (-1.821255978 + t * 1.330274429))));
    return x >= 0.0 ? 1.0 - d * p : d * p;
}

double vmath::norm_pdf_as26217(double x) noexcept {
    return 0.3989422804 * std::exp(-x * x / 2.0);
}

namespace pine_math {
namespace {

/// The script's policy: platform exp/log, A&S 26.2.17 and the script's d1.
struct PineMath {
    /// The script's own price formula, bit for bit: no careful re-evaluation.
    static constexpr bool kCareful = false;
    /// The shared terms call std::log and stay scalar: the input checks and the CDF-tail test
    /// keep vectorized passes of their own, and the scalar loop is left as it is (with the
    /// checks in it, GCC ordered its operands differently and some NaN inputs came out as the
    /// other NaN, sign bit and all).
    static constexpr bool kOnePass = false;
    static double log(double x) noexcept { return std::log(x); }
    static double exp(double x) noexcept { return std::exp(x); }
    /// The script evaluates its CDF and density separately: nothing shared here.
    template <bool kTail = true>
    static double gauss(double x) noexcept { return x; }
    static double pdf_from(double x) noexcept { return vmath::norm_pdf_as26217(x); }
    template <bool kTail>
    static double cdf_from(double x, double) noexcept {
        return vmath::norm_cdf_as26217(x);
    }
    /// d1 = (ln(S/K) + (r - q + vol^2/2) t) / (vol sqrt t), grouped as the script writes it.
    static double d1(double log_sk, double r, double q, double vol, double t,
                     double sig_t) noexcept {
        return (log_sk + (r - q + vol * vol / 2.0) * t) / sig_t;
    }
};

}  // namespace

InputReport greeks_range(const GreeksIn& in, const GreeksOut& out, std::int64_t begin,
                         std::int64_t end) noexcept {
    return run<PineMath>(in, out, begin, end);
}

void norm_cdf(const double* x, double* y, std::int64_t n) noexcept {
    map(x, y, n, [](double v) { return vmath::norm_cdf_as26217(v); });
}

void norm_pdf(const double* x, double* y, std::int64_t n) noexcept {
    map(x, y, n, [](double v) { return vmath::norm_pdf_as26217(v); });
}

}  // namespace pine_math
}  // namespace gammaext
