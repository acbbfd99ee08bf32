// Branch-free, vectorizable elementary functions in plain double arithmetic.
//
// Why our own: libm's exp/log/erfc are scalar calls that stop a loop from vectorizing, and
// glibc's vector variants (libmvec) are only declared under -ffast-math, which we never use.
// Everything here is straight-line code (selects, not branches) on doubles and 64-bit integers,
// so GCC and Clang vectorize the calling loops at whatever width the translation unit is built
// for. The results do not depend on the platform's libm.
//
// Accuracy (checked against mpmath in tests/test_normal.py and test_greeks.py):
//   exp_hl, exp        about 1 ulp over the whole range, subnormal results included
//   log                about 1 ulp for every positive normal or subnormal input
//   norm_cdf           a few ulp relative in both tails down to underflow (Cody's erfc)
//   norm_pdf           about 1 ulp (exp(-x*x/2) with x*x split exactly)
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "gammaext/simd.hpp"

namespace gammaext::vmath {

/// The normal CDF of Abramowitz & Stegun 26.2.17 exactly as the TradingView strategy writes it
/// (absolute error up to about 7.5e-8), for replicating that script bit for bit. Defined in
/// cpp/src/pine_math.cpp, compiled without FMA contraction and with the platform's std::exp (as
/// Pine evaluates it), so it is the same function in every translation unit; not vectorized.
double norm_cdf_as26217(double x) noexcept;

/// The density as the TradingView strategy writes it (truncated 1/sqrt(2 pi), std::exp).
double norm_pdf_as26217(double x) noexcept;

inline namespace GAMMAEXT_INLINE_NS {  // one copy per instruction set (simd.hpp)

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
inline constexpr double kInf = std::numeric_limits<double>::infinity();

// Adding then subtracting 1.5 * 2^52 rounds |x| < 2^51 to the nearest integer, and leaves that
// integer in the low mantissa bits of the sum: no float-to-int conversion instruction is needed
// (AVX2 has none for 64-bit integers).
inline constexpr double kShifter = 0x1.8p52;

/// round(x) for |x| < 2^51, ties to even (the current rounding mode).
GAMMAEXT_ALWAYS_INLINE double round_int(double x) noexcept { return (x + kShifter) - kShifter; }

/// 2^k as a double, for an integral double k in [-1022, 1023].
GAMMAEXT_ALWAYS_INLINE double pow2_int(double k) noexcept {
    const auto bits = std::bit_cast<std::uint64_t>(k + kShifter) -
                      std::bit_cast<std::uint64_t>(kShifter);  // k as a two's-complement integer
    return std::bit_cast<double>((bits + 1023U) << 52);
}

/// ln 2 split so that k * kLn2Hi is exact for |k| < 2^11 (21 trailing zero bits; fdlibm's),
/// and kLn2Lo = ln 2 - kLn2Hi.
inline constexpr double kLn2Hi = 6.93147180369123816490e-01;
inline constexpr double kLn2Lo = 1.90821492927058770002e-10;

/// e^r for |r| <= ln2/2: 1 + r + r^2 P(r), P of degree 9: the Chebyshev interpolant of
/// (e^r - 1 - r)/r^2 on [-ln2/2, ln2/2] (mpmath.chebyfit, 10 nodes), maximum relative error of
/// e^r 1.6e-17.
GAMMAEXT_ALWAYS_INLINE double exp_reduced(double r) noexcept {
    double p = 2.5100375832561234e-08;
    p = p * r + 2.7620075879983367e-07;
    p = p * r + 2.7557268480310024e-06;
    p = p * r + 2.4801521322368692e-05;
    p = p * r + 0.00019841269863040545;
    p = p * r + 0.0013888888917196719;
    p = p * r + 0.008333333333330065;
    p = p * r + 0.041666666666624164;
    p = p * r + 0.16666666666666669;
    p = p * r + 0.5000000000000001;
    return 1.0 + (r + r * r * p);
}

/// exp(hi + lo), where lo is a correction to hi much smaller than hi.
///
/// Taking the argument in two parts lets callers pass -x^2/2 without the rounding error of x*x,
/// which exp would amplify by |x^2/2| (up to 700 times the unit roundoff).
/// Method: Cody-Waite reduction hi + lo = k ln2 + r with |r| <= ln2/2, a degree-11 polynomial
/// for e^r (approximation error 1.6e-17 on that interval), and scaling by 2^k in two
/// steps so that subnormal results are rounded once. Overflows to +inf above 709.78, underflows
/// to +0 below -745.13, NaN propagates.
GAMMAEXT_ALWAYS_INLINE double exp_hl(double hi, double lo) noexcept {
    constexpr double kLog2e = 1.4426950408889634074;
    constexpr double kMax = 710.0;   // e^710 overflows: the result is +inf either way
    constexpr double kMin = -746.0;  // e^-746 is below half the smallest subnormal: +0
    hi = hi > kMax ? kMax : hi;
    hi = hi < kMin ? kMin : hi;  // NaN passes both clamps and propagates through r
    const double k = round_int((hi + lo) * kLog2e);  // keeps |r| <= ln2/2 whatever lo is
    const double r = ((hi - k * kLn2Hi) - k * kLn2Lo) + lo;
    const double er = exp_reduced(r);
    // k lies in [-1077, 1025]: split it so that both factors are normal powers of two.
    const double k1 = round_int(k * 0.5);
    return er * pow2_int(k1) * pow2_int(k - k1);
}

GAMMAEXT_ALWAYS_INLINE double exp(double x) noexcept { return exp_hl(x, 0.0); }

/// exp_hl(hi, lo) where the result is known to be a normal number: the same bits, without the
/// clamps and with one scaling by 2^k (exact for a normal result).
GAMMAEXT_ALWAYS_INLINE double exp_hl_normal(double hi, double lo) noexcept {
    constexpr double kLog2e = 1.4426950408889634074;
    const double k = round_int((hi + lo) * kLog2e);
    const double r = ((hi - k * kLn2Hi) - k * kLn2Lo) + lo;
    return exp_reduced(r) * pow2_int(k);
}

/// exp(x) with x clamped to [-708, 709], where e^x is a normal number: the same bits as exp
/// there (exp_hl_normal: one scaling by 2^k is exact for a normal result, where exp splits it
/// in two for subnormal ones). NaN propagates.
GAMMAEXT_ALWAYS_INLINE double exp_normal(double x) noexcept {
    x = x > 709.0 ? 709.0 : x;
    x = x < -708.0 ? -708.0 : x;
    return exp_hl_normal(x, 0.0);
}

/// v = 2^e m for positive normal v, with m in [sqrt(1/2), sqrt(2)): returns m, sets e (an
/// integer, as a double). Bits only (a double compare for m: SSE2 has no 64-bit integer
/// compare, which would stop the baseline build vectorizing).
GAMMAEXT_ALWAYS_INLINE double log_reduce(double v, double& e) noexcept {
    constexpr std::uint64_t kMantissa = 0x000FFFFFFFFFFFFFULL;
    constexpr std::uint64_t kOneExp = 0x3FF0000000000000ULL;  // exponent field of 1.0
    constexpr double kSqrt2 = 1.41421356237309504880;
    const auto iv = std::bit_cast<std::uint64_t>(v);
    const double m1 = std::bit_cast<double>((iv & kMantissa) | kOneExp);  // [1, 2)
    const bool upper = m1 >= kSqrt2;  // from sqrt(2) on, m/2 and e+1
    // Biased exponent (0..2047) as a double without an int-to-float instruction.
    const double biased =
        std::bit_cast<double>((iv >> 52) | std::bit_cast<std::uint64_t>(0x1p52)) - 0x1p52;
    e = biased - 1023.0 + (upper ? 1.0 : 0.0);
    return upper ? 0.5 * m1 : m1;
}

/// R(z) in 2 atanh(s) = 2s + s R(z), z = s^2, R(z) = sum_{k>=1} 2 z^k / (2k + 1), to s^22
/// (truncation below 2^-60 for |s| <= 0.1716, i.e. m in [sqrt(1/2), sqrt(2))).
GAMMAEXT_ALWAYS_INLINE double atanh_tail(double z) noexcept {
    double r = 2.0 / 23.0;
    r = r * z + 2.0 / 21.0;
    r = r * z + 2.0 / 19.0;
    r = r * z + 2.0 / 17.0;
    r = r * z + 2.0 / 15.0;
    r = r * z + 2.0 / 13.0;
    r = r * z + 2.0 / 11.0;
    r = r * z + 2.0 / 9.0;
    r = r * z + 2.0 / 7.0;
    r = r * z + 2.0 / 5.0;
    r = r * z + 2.0 / 3.0;
    return r * z;
}

/// log(2^-shift x) for a positive normal x (log's core, no special cases).
GAMMAEXT_ALWAYS_INLINE double log_scaled(double x, double shift) noexcept {
    double e0 = 0.0;
    const double m = log_reduce(x, e0);
    const double e = e0 - shift;
    const double f = m - 1.0;
    const double s = f / (2.0 + f);
    const double r = atanh_tail(s * s);
    const double hfsq = 0.5 * f * f;
    const double logm = f - (hfsq - s * (hfsq + r));
    return e * kLn2Hi + (logm + e * kLn2Lo);
}

/// log(x) for a positive normal finite x (a uniform in (0, 1), say): log's arithmetic without
/// its special cases (a dozen operations fewer). Inlined into another expression, GCC may fuse
/// its multiply-adds differently from log's, so with FMA a result can differ by an ulp.
GAMMAEXT_ALWAYS_INLINE double log_normal(double x) noexcept { return log_scaled(x, 0.0); }

/// Natural logarithm. log(0) = -inf, log(x < 0) = NaN, log(inf) = inf, NaN propagates.
///
/// Method: x = 2^e m with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s) with s = (m-1)/(m+1),
/// |s| <= 0.1716, as f - f^2/2 + s (f^2/2 + R(s^2)) (the fdlibm arrangement, which keeps the
/// leading term exact), with the atanh series to s^22 (truncation error below 2^-60).
GAMMAEXT_ALWAYS_INLINE double log(double x) noexcept {
    constexpr double kSmallestNormal = 0x1p-1022;
    constexpr double kSubnormalScale = 0x1p54;
    const bool subnormal = x < kSmallestNormal;
    double result = log_scaled(subnormal ? x * kSubnormalScale : x, subnormal ? 54.0 : 0.0);
    result = x == 0.0 ? -kInf : result;
    result = x < 0.0 ? kNaN : result;
    result = x == kInf ? kInf : result;
    return x != x ? x : result;
}

/// exp(-x^2/2), with x^2 split exactly so that the result keeps full relative accuracy out to
/// where it underflows (|x| ~ 38.6): the Gaussian factor shared by the density and the CDF.
///
/// kTail = false: only for |x| <= kCdfTailStart (the lanes norm_cdf_from<false> serves, where
/// e^{-x^2/2} >= e^{-16} is a normal number): the same bits without the clamp, the NaN select
/// and exp's subnormal scaling.
template <bool kTail = true>
GAMMAEXT_ALWAYS_INLINE double half_gauss(double x) noexcept {
    constexpr double kSplit = 65536.0;  // xh = x rounded to 2^-16: xh^2 is exact for |x| < 2^10
    constexpr double kClamp = 40.0;     // beyond it the result is 0 in double precision
    double a = x < 0.0 ? -x : x;
    if constexpr (kTail) {
        a = a > kClamp ? kClamp : a;  // also maps +-inf to a point where the result is 0
    }
    const double ah = round_int(a * kSplit) / kSplit;
    const double lo = (a - ah) * (a + ah);  // x^2 = ah^2 + lo, ah^2 exact
    if constexpr (!kTail) {
        return exp_hl_normal(-0.5 * ah * ah, -0.5 * lo);
    }
    const double result = exp_hl(-0.5 * ah * ah, -0.5 * lo);
    return x != x ? x : result;
}

/// Standard normal density exp(-x^2/2)/sqrt(2 pi), full relative accuracy.
GAMMAEXT_ALWAYS_INLINE double norm_pdf(double x) noexcept {
    constexpr double kInvSqrt2Pi = 0.39894228040143267794;
    return kInvSqrt2Pi * half_gauss(x);
}

/// A numerator and a denominator (one division, by the caller, after selecting).
struct Ratio {
    double num;
    double den;
};

/// Cody's rational for |y| <= 0.46875 in w = y^2 (coefficients of CALERF, see norm_cdf_from):
/// erf(y) = y num/den.
GAMMAEXT_ALWAYS_INLINE Ratio cody_erf_small(double w) noexcept {
    const double a = (((0.185777706184603153 * w + 3.1611237438705656) * w +
                       113.864154151050156) * w + 377.485237685302021) * w +
                     3209.37758913846947;
    const double b = (((w + 23.6012909523441209) * w + 244.024637934444173) * w +
                      1282.61652607737228) * w + 2844.23683343917062;
    return {a, b};
}

/// Cody's rational for 0.46875 < y <= 4: erfc(y) = exp(-y^2) num/den.
GAMMAEXT_ALWAYS_INLINE Ratio cody_erfc_mid(double y) noexcept {
    const double c = (((((((2.15311535474403846e-8 * y + 0.564188496988670089) * y +
                           8.88314979438837594) * y + 66.1191906371416295) * y +
                         298.635138197400131) * y + 881.95222124176909) * y +
                       1712.04761263407058) * y + 2051.07837782607147) * y +
                     1230.33935479799725;
    const double d = (((((((y + 15.7449261107098347) * y + 117.693950891312499) * y +
                          537.181101862009858) * y + 1621.38957456669019) * y +
                        3290.79923573345963) * y + 4362.61909014324716) * y +
                      3439.36767414372164) * y + 1230.33935480374942;

    return {c, d};
}

/// Standard normal CDF Phi(x) given g = half_gauss(x) (so that a caller who also needs the
/// density computes the exponential once).
///
/// Phi(x) = erfc(-x/sqrt 2)/2, with erfc after W. J. Cody, "Rational Chebyshev approximations
/// for the error function", Math. Comp. 23 (1969) 631-637, coefficients of his netlib routine
/// CALERF (specfun, 1985). In the tails erfc(y) = exp(-y^2) R(y) and exp(-y^2) = g exactly, so
/// the factor that carries the tail's relative accuracy is computed from x itself, never from
/// the rounded y = x/sqrt 2 (which would cost x^2 ulps: 2e-13 at x = -37); R is insensitive to
/// that rounding. Cody's three ranges are each written as one fraction num/den, the right one is
/// selected per lane and divided once: no branches, one division, no exp of its own.
///
/// kTail = false leaves out Cody's asymptotic range (|x| > 4 sqrt 2) and the clamp of y: a
/// caller that knows no element of a block is that far out (the common case) saves a third of
/// the work; the result is identical for the elements it is valid for.
template <bool kTail = true>
GAMMAEXT_ALWAYS_INLINE double norm_cdf_from(double x, double g) noexcept {
    constexpr double kInvSqrt2 = 0.70710678118654752440;
    constexpr double kThresh = 0.46875;  // Cody's switch between the erf and erfc forms
    constexpr double kFour = 4.0;        // switch to the asymptotic form
    constexpr double kClamp = 30.0;      // erfc(27.3) is below the smallest subnormal (g = 0)
    constexpr double kInvSqrtPi = 0.56418958354775628695;
    double y = (x < 0.0 ? -x : x) * kInvSqrt2;
    if constexpr (kTail) {
        y = y > kClamp ? kClamp : y;
    }
    const double w = y * y;

    // y <= 0.46875: erfc = 1 - y A(w)/B(w) = (B - y A)/B.
    const auto [a, b] = cody_erf_small(w);
    const double num_small = b - y * a;

    // 0.46875 < y <= 4: erfc = exp(-y^2) C(y)/D(y).
    const auto [c, d] = cody_erfc_mid(y);

    const bool small = y <= kThresh;
    if constexpr (!kTail) {
        const double e = (small ? num_small / b : c / d) * (small ? 1.0 : g);
        return x < 0.0 ? 0.5 * e : 1.0 - 0.5 * e;  // a NaN x propagates through c / d
    }
    // y > 4: Cody's erfc = exp(-y^2)/y (1/sqrt(pi) - z P(z)/Q(z)), z = 1/y^2, with P and Q of
    // degree 5. Multiplying through by y^12 turns it into polynomials in w = y^2 with the
    // coefficients reversed (P~(w) = w^5 P(1/w), Q~(w) = w^5 Q(1/w)) and no division:
    //   erfc = exp(-y^2) (w Q~/sqrt(pi) - P~) / (w y Q~).
    const double pr = ((((6.58749161529837803e-4 * w + 0.0160837851487422766) * w +
                         0.125781726111229246) * w + 0.360344899949804439) * w +
                       0.305326634961232344) * w + 0.0163153871373020978;
    const double qr = ((((0.00233520497626869185 * w + 0.0605183413124413191) * w +
                         0.527905102951428412) * w + 1.87295284992346047) * w +
                       2.56852019228982242) * w + 1.0;
    const double num_large = w * qr * kInvSqrtPi - pr;
    const double den_large = w * y * qr;

    const bool large = y > kFour;
    const double num = small ? num_small : (large ? num_large : c);
    const double den = small ? b : (large ? den_large : d);
    const double e = (num / den) * (small ? 1.0 : g);  // erfc(|x|/sqrt 2)
    const double result = x < 0.0 ? 0.5 * e : 1.0 - 0.5 * e;
    return x != x ? x : result;
}

/// Standard normal CDF, accurate to a few ulp in both tails down to underflow.
GAMMAEXT_ALWAYS_INLINE double norm_cdf(double x) noexcept { return norm_cdf_from<true>(x, half_gauss(x)); }

/// |x| beyond which norm_cdf_from<false> must not be used (4 sqrt 2 = 5.657, with a margin).
inline constexpr double kCdfTailStart = 5.65;

}  // namespace GAMMAEXT_INLINE_NS
}  // namespace gammaext::vmath
