// The Greek kernel with the full-precision normal, compiled once per instruction set
// (GAMMAEXT_ISA_NS names the namespace; see simd.hpp). The algorithm is in
// black_scholes_impl.hpp; the TradingView variant is in pine_math.cpp.
#include "black_scholes_impl.hpp"

namespace gammaext::GAMMAEXT_ISA_NS {

InputReport greeks_range(const GreeksIn& in, const GreeksOut& out, std::int64_t begin,
                         std::int64_t end) noexcept {
    return run<ExactMath>(in, out, begin, end);
}

void norm_cdf(const double* x, double* y, std::int64_t n) noexcept {
    map(x, y, n, [](double v) { return vmath::norm_cdf(v); });
}

void norm_pdf(const double* x, double* y, std::int64_t n) noexcept {
    map(x, y, n, [](double v) { return vmath::norm_pdf(v); });
}

}  // namespace gammaext::GAMMAEXT_ISA_NS
