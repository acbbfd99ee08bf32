// Implied volatility of European options (Black-Scholes-Merton and Black-76), vectorized, with a
// status per element instead of exceptions.
//
// Method (after P. Jaeckel, "Let's Be Rational", Wilmott 2015, pp. 40-53, and "By Implication",
// Wilmott 2006): every price is mapped to the normalised Black function of the log-moneyness
// x = ln(F/K) and the total standard deviation s = vol sqrt(t),
//
//     b(x, s) = e^{x/2} N(x/s + s/2) - e^{-x/2} N(x/s - s/2)    (a call, b = price/(D sqrt(F K)))
//
// then reduced to an out-of-the-money call with x <= 0 (put-call parity subtracts the forward
// intrinsic value; b(x, s, put) = b(-x, s, call)). b is evaluated without cancellation in four
// regions (see implied_vol_kernel.cpp) and inverted by third-order Householder steps on an
// objective that is nearly linear in s (ln b, or ln(b_max - b) for prices above b_max/2), from
// initial guesses on each side of the inflection point s_c = sqrt(2|x|) (a table of the exact
// inverse, or a model of the objective far from the money), inside a bracket.
//
// Accuracy target (tests/test_implied_vol.py): the price of the returned vol reproduces the input
// price to 1e-14 relative, or to within a few units in the last place of vol times the price's
// elasticity s b'(s) / b where that is large (deep out of the money or tiny s), which is the best
// any double-precision vol can do; the vol itself to 1e-12 relative where the vega carries it.
//
// Where the price carries no information (documented in docs/implied_vol.md): a time value that
// rounds to zero next to a large intrinsic value, a price that rounds to the maximum (the spot or
// the discounted strike, huge s), or a price that underflows. Those get a status, not a guess.
#pragma once

#include <cstdint>

#include "gammaext/black_scholes.hpp"

namespace gammaext {

/// Per-element outcome of an implied-volatility inversion (values shared with Python's IVStatus).
enum class IVStatus : std::int8_t {
    ok = 0,               ///< converged; vol is the implied volatility
    below_intrinsic = 1,  ///< price < forward intrinsic value D max(phi (F - K), 0): vol NaN
    above_max = 2,        ///< price >= the no-arbitrage maximum (S e^{-qt} call, K e^{-rt} put)
    at_intrinsic = 3,     ///< price equals the intrinsic value within rounding: vol 0
    invalid_input = 4,    ///< spot/strike <= 0, t <= 0, NaN/inf argument, out of range: NaN
    not_converged = 5,    ///< the iteration did not meet its tolerance (never seen in tests)
    imprecise = 6,        ///< vol returned, but the price determines it only to worse than 1e-8
};

struct ImpliedVolIn {
    Column price, spot, strike, t, rate, div;
    FlagColumn is_call;
    std::int64_t n = 0;
};

/// Output buffers of length n; status may be null (not requested).
struct ImpliedVolOut {
    double* vol = nullptr;
    std::int8_t* status = nullptr;
};

/// Elements [begin, end) on the calling thread with the instruction set `isa` (simd.hpp).
void implied_vol_range(const ImpliedVolIn& in, const ImpliedVolOut& out, std::int64_t begin,
                       std::int64_t end, int isa) noexcept;

/// The whole request over `threads` threads (results do not depend on the split).
void implied_vol(const ImpliedVolIn& in, const ImpliedVolOut& out, int threads, int isa) noexcept;

/// The normalised Black call b(x, s) for x <= 0, s > 0 (accurate to a few ulps where it does not
/// underflow), exposed for tests; x > 0 is evaluated as b(-x, s) + 2 sinh(x/2) (put-call parity).
void normalised_black(const double* x, const double* s, double* b, std::int64_t n,
                      int isa) noexcept;

}  // namespace gammaext
