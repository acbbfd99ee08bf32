// Black-Scholes-Merton prices and Greeks of European options, vectorized.
//
// Conventions (the same in C++, Python and the tests):
//   spot, strike > 0; t >= 0 in years; vol >= 0, rate and div continuously compounded decimals.
//   is_call selects the call (true) or put (false); phi = +1 / -1 below.
//   theta, charm, veta, color are derivatives with respect to calendar time (dV/dt = -dV/dT),
//   per year. vega, vanna, vomma, zomma, ultima are per 1.00 of vol (not per vol point).
//   rho is per 1.00 of rate with div held fixed; epsilon (dividend rho) per 1.00 of div.
//   Black-76 on a forward F is the special case spot = F, div = rate.
//
// Degenerate cases: when vol * sqrt(t) == 0 (expiry or zero vol) the distribution of the forward
// is a point mass: N(phi d1) = N(phi d2) = H(phi (F - K)), a step with H(0) = 1/2 exactly at the
// money, and every term carried by the normal density (gamma, vega, the density part of theta,
// vanna, charm, vomma, veta, speed, zomma, color, ultima, dual gamma) is reported as 0: that is
// the limit away from the money; at the money the limit is infinite or depends on the path.
// The same zero is used wherever the density underflows, so huge |d1| never gives 0 * inf = NaN.
//
// Invalid inputs (spot <= 0, strike <= 0, t < 0, vol < 0, any infinite argument) give NaN and are
// counted; NaN in any argument gives NaN in every output (data, not a mistake).
#pragma once

#include <array>
#include <cstdint>

namespace gammaext {

/// Every output the Greek kernel can produce, in the order of the Python result fields
/// (gammaext.GREEKS is _core._greek_names()).
#define GAMMAEXT_GREEKS(X)                                                                    \
    X(price) X(delta) X(gamma) X(theta) X(vega) X(rho) X(epsilon) X(vanna) X(charm) X(vomma) \
    X(veta) X(speed) X(zomma) X(color) X(ultima) X(dual_delta) X(dual_gamma)
enum class Greek : int {
#define GAMMAEXT_X(name) name,
    GAMMAEXT_GREEKS(GAMMAEXT_X)
#undef GAMMAEXT_X
    count_
};
inline constexpr int kNumGreeks = static_cast<int>(Greek::count_);

/// The kernel works in blocks of this many elements, aligned to multiples of it in the arrays.
inline constexpr std::int64_t kGreeksBlock = 128;

/// How the normal distribution is evaluated (Python: normal=, _core._normal_mode_names()):
///   exact    erfc-based CDF, full double precision in both tails (vectorized)
///   as26217  Abramowitz-Stegun 26.2.17 with the TradingView script's constants
#define GAMMAEXT_NORMAL_MODES(X) X(exact) X(as26217)
enum class NormalMode : int {
#define GAMMAEXT_X(name) name,
    GAMMAEXT_NORMAL_MODES(GAMMAEXT_X)
#undef GAMMAEXT_X
};

/// A read-only input: either n contiguous values or one value broadcast to all n elements.
struct Column {
    const double* data = nullptr;
    bool broadcast = false;
};

/// Same for the call/put flags (numpy bool, one byte each).
struct FlagColumn {
    const std::uint8_t* data = nullptr;
    bool broadcast = false;
};

struct GreeksIn {
    Column spot, strike, t, vol, rate, div;
    FlagColumn is_call;
    std::int64_t n = 0;
};

/// Output buffers of length n; a null pointer means "not requested" (not computed).
struct GreeksOut {
    std::array<double*, kNumGreeks> out{};
};

/// What a call found in its inputs, besides the numbers.
struct InputReport {
    std::int64_t first_invalid = -1;  ///< smallest index with an invalid value, or -1
    std::int64_t invalid_count = 0;
    bool rate_looks_percent = false;  ///< |rate| > 1 somewhere
    bool div_looks_percent = false;   ///< |div| > 1 somewhere
    bool vol_looks_percent = false;   ///< vol > 10 somewhere
    void merge(const InputReport& o) noexcept;
};

/// Elements [begin, end) of the request, on the calling thread, with the instruction set chosen
/// by `isa` (see simd.hpp). Never throws, never allocates.
InputReport greeks_range(const GreeksIn& in, const GreeksOut& out, NormalMode mode,
                         std::int64_t begin, std::int64_t end, int isa) noexcept;

/// The whole request, split over `threads` threads (results do not depend on the split).
InputReport greeks(const GreeksIn& in, const GreeksOut& out, NormalMode mode, int threads,
                   int isa) noexcept;

/// The memory-bandwidth ceiling of greeks(): reads the six inputs (all full columns) and writes
/// their sum, times 1..6, to the six requested outputs, doing no maths (does nothing for any
/// other request). Benchmarks compare against it.
void stream_probe(const GreeksIn& in, const GreeksOut& out, int threads) noexcept;

/// Element-wise normal CDF / PDF (for users and for tests of the kernels' building blocks).
void norm_cdf(const double* x, double* y, std::int64_t n, NormalMode mode, int isa) noexcept;
void norm_pdf(const double* x, double* y, std::int64_t n, NormalMode mode, int isa) noexcept;

}  // namespace gammaext
