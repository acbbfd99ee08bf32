// The normalised Black function b(x, s) of P. Jaeckel, "Let's Be Rational" (2015), evaluated
// without cancellation, shared by the implied-vol kernel (which inverts it) and the Greek kernel
// (whose price uses it wherever F N(d1) - K N(d2) would cancel). Notation and the four regions
// are described in implied_vol_kernel.cpp; docs/implied_vol.md has the summary.
//
// The including file defines GAMMAEXT_ISA_NS (one copy per instruction set, see simd.hpp):
// everything here has internal linkage and is always inlined, because it runs inside vectorized
// loops (.ci/check_isa_symbols fails on an out-of-line copy of a normalised:: function).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

#include "gammaext/simd.hpp"
#include "gammaext/vmath.hpp"

#ifndef GAMMAEXT_ISA_NS
#error "define GAMMAEXT_ISA_NS before including normalised_black.hpp"
#endif

namespace gammaext::GAMMAEXT_ISA_NS {
namespace {
namespace normalised {
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kSqrt2OverPi = 0.79788456080286535588;  // c in the comments above
constexpr double kSqrtPiOver2 = 1.25331413731550025121;  // 1/c

constexpr double kGaussUnderflow = 1500.0;  // exp(-1500/2) is below the smallest subnormal
constexpr double kAsymptoticFrom = 12.0;  // -(h + t) at and beyond which the series is used
constexpr int kAsymptoticTerms = 18;      // (2k-1)!!/12^{2k} (2k+1) < 1e-17 for k = 18
constexpr double kSmallT = 0.21;          // Jaeckel's tau = 2 eps^{1/16}: t^18 term below eps
constexpr int kSmallTerms = 9;            // gamma_0 .. gamma_8 (up to t^17)

// gamma_j = a A_j(q) - B_j(q), q = h^2, coefficients in increasing powers of q.
constexpr double kA[kSmallTerms][kSmallTerms] = {
    {1.0},
    {1.0 / 2.0, 1.0 / 6.0},
    {1.0 / 8.0, 1.0 / 12.0, 1.0 / 120.0},
    {1.0 / 48.0, 1.0 / 48.0, 1.0 / 240.0, 1.0 / 5040.0},
    {1.0 / 384.0, 1.0 / 288.0, 1.0 / 960.0, 1.0 / 10080.0, 1.0 / 362880.0},
    {1.0 / 3840.0, 1.0 / 2304.0, 1.0 / 5760.0, 1.0 / 40320.0, 1.0 / 725760.0, 1.0 / 39916800.0},
    {1.0 / 46080.0, 1.0 / 23040.0, 1.0 / 46080.0, 1.0 / 241920.0, 1.0 / 2903040.0,
     1.0 / 79833600.0, 1.0 / 6227020800.0},
    {1.0 / 645120.0, 1.0 / 276480.0, 1.0 / 460800.0, 1.0 / 1935360.0, 1.0 / 17418240.0,
     1.0 / 319334400.0, 1.0 / 12454041600.0, 1.0 / 1307674368000.0},
    {1.0 / 10321920.0, 1.0 / 3870720.0, 1.0 / 5529600.0, 1.0 / 19353600.0, 1.0 / 139345920.0,
     1.0 / 1916006400.0, 1.0 / 49816166400.0, 1.0 / 2615348736000.0,
     1.0 / 355687428096000.0},
};
constexpr double kB[kSmallTerms][kSmallTerms] = {
    {0.0},
    {1.0 / 6.0},
    {7.0 / 120.0, 1.0 / 120.0},
    {19.0 / 1680.0, 1.0 / 280.0, 1.0 / 5040.0},
    {187.0 / 120960.0, 19.0 / 24192.0, 11.0 / 120960.0, 1.0 / 362880.0},
    {437.0 / 2661120.0, 13.0 / 110880.0, 1.0 / 47520.0, 13.0 / 9979200.0, 1.0 / 39916800.0},
    {1979.0 / 138378240.0, 263.0 / 19768320.0, 97.0 / 29652480.0, 107.0 / 345945600.0,
     1.0 / 83026944.0, 1.0 / 6227020800.0},
    {4387.0 / 4151347200.0, 2533.0 / 2075673600.0, 59.0 / 153753600.0, 17.0 / 345945600.0,
     23.0 / 7925299200.0, 17.0 / 217945728000.0, 1.0 / 1307674368000.0},
    {76627.0 / 1129166438400.0, 35401.0 / 376388812800.0, 4541.0 / 125462937600.0,
     67.0 / 11405721600.0, 1007.0 / 2155681382400.0, 173.0 / 9120190464000.0,
     19.0 / 50812489728000.0, 1.0 / 355687428096000.0},
};

/// v with its 27 low mantissa bits cleared: a 26-bit head whose products with 27-bit tails are
/// exact (Dekker's splitting by masking, which -ffp-contract cannot disturb).
GAMMAEXT_ALWAYS_INLINE double head26(double v) noexcept {
    constexpr std::uint64_t kMask = ~((std::uint64_t{1} << 27) - 1);
    return std::bit_cast<double>(std::bit_cast<std::uint64_t>(v) & kMask);
}

/// ln(v) as hi + lo for positive finite v (otherwise lo = 0 and hi = -inf, inf or NaN): with
/// kFine to about 2^-100 relative, else to about eps/200 relative. For x = ln(S/K) + (r - q) t
/// near the forward, where the two terms cancel: an ulp of ln(S/K) there moved an at-the-money
/// 30-year price at 0.1% vol by 3e-14; far from the money a price amplifies a relative error of
/// x by (x/s)^2 (1300 at x/s = 36), which needs kFine (an implied vol does not: there the vol
/// depends on x through b/(s b') ~ (s/x)^2 as much).
/// fdlibm's reduction (v = 2^e m, m in [sqrt(1/2), sqrt(2))) with ln(m) = 2 atanh(s),
/// s = (m - 1)/(m + 1) = sh + sl taken in double-double, and 2 atanh(s) = 2s + (2/3) s^3 +
/// s^5 R2(s^2). With kFine the cubic and quintic terms (up to 1% and 2e-4 of the result) are
/// formed in double-double too, with sl's share, and only the rest (below 3e-6 of the result) is
/// rounded; without, the whole series beyond 2s is (below 1%).
template <bool kFine>
GAMMAEXT_ALWAYS_INLINE double log_dd(double v, double& lo) noexcept {
    constexpr double kTwoThirdsHi = 0.66666666666666663;   // 2/3 rounded
    constexpr double kTwoThirdsLo = 3.7007434154171886e-17;  // 2/3 - kTwoThirdsHi
    constexpr double kTwoFifthsHi = 0.4;                      // 2/5 rounded
    constexpr double kTwoFifthsLo = -2.2204460492503132e-17;  // 2/5 - kTwoFifthsHi
    // A subnormal v is scaled by 2^54 first (as vmath::log does); 0, inf and NaN are selected
    // at the end.
    constexpr double kSubnormalScale = 0x1p54;
    const bool subnormal = v < std::numeric_limits<double>::min();
    double e = 0.0;
    const double m = vmath::log_reduce(subnormal ? v * kSubnormalScale : v, e);
    e -= subnormal ? 54.0 : 0.0;
    const double f = m - 1.0;                // exact
    const double d = 2.0 + f;                // d + d_err = 2 + f exactly
    const double d_err = (2.0 - d) + f;
    // s = f / (d + d_err) = sh + sl: any sh near f/d will do, the exact residual corrects it.
    const double inv_d = 1.0 / d;
    const double sh = f * inv_d;
    const double sh1 = head26(sh), sh2 = sh - sh1;
    const double d1 = head26(d), d2 = d - d1;
    const double rem = ((((f - sh1 * d1) - sh1 * d2) - sh2 * d1) - sh2 * d2) - sh * d_err;
    const double sl = rem * inv_d;
    const double a = e * vmath::kLn2Hi, b = 2.0 * sh;  // both exact
    const double ab = a + b;  // two-sum
    const double abv = ab - a;
    const double ab_err = (a - (ab - abv)) + (b - abv);
    const double z = sh * sh;
    double hi = ab;
    if constexpr (kFine) {
        // sh^2 = z + z_lo and sh^3 = c + c_lo (Dekker), then (2/3) sh^3 = c3 + c3_lo, with
        // c3 = k1 c1 exact (26-bit heads), so that no fused multiply-add can change the
        // two-sum below; the other partial products are small.
        const double z_lo = ((sh1 * sh1 - z) + 2.0 * sh1 * sh2) + sh2 * sh2;
        const double c = z * sh;
        const double z1 = head26(z), z2 = z - z1;
        const double c_lo = ((((z1 * sh1 - c) + z1 * sh2) + z2 * sh1) + z2 * sh2) + z_lo * sh;
        const double k1 = head26(kTwoThirdsHi), k2 = kTwoThirdsHi - k1;
        const double c1 = head26(c), c2 = c - c1;
        const double c3 = k1 * c1;
        const double c3_lo =
            ((k1 * c2 + k2 * c1) + k2 * c2) + (kTwoThirdsHi * c_lo + kTwoThirdsLo * c);
        // (2/5) sh^5 = q5 + q5_lo the same way (up to 2e-4 of the result: its rounding alone
        // cost 25 ulps of a price at x/s = 22), with sh^5 = c5 + c5_lo = (c + c_lo)(z + z_lo).
        const double c5 = c * z;
        const double c5_lo = (((((c1 * z1 - c5) + c1 * z2) + c2 * z1) + c2 * z2) +
                              (c_lo * z + c * z_lo));
        const double f1 = head26(kTwoFifthsHi), f2 = kTwoFifthsHi - f1;
        const double c51 = head26(c5), c52 = c5 - c51;
        const double q5 = f1 * c51;
        const double q5_lo =
            ((f1 * c52 + f2 * c51) + f2 * c52) + (kTwoFifthsHi * c5_lo + kTwoFifthsLo * c5);
        // sh^7 R3(sh^2), R3(z) = sum_{k>=3} 2 z^{k-3}/(2k + 1), to s^23 as in vmath::atanh_tail:
        // below 3e-6 of the result, rounded.
        double r3 = 2.0 / 23.0;
        r3 = r3 * z + 2.0 / 21.0;
        r3 = r3 * z + 2.0 / 19.0;
        r3 = r3 * z + 2.0 / 17.0;
        r3 = r3 * z + 2.0 / 15.0;
        r3 = r3 * z + 2.0 / 13.0;
        r3 = r3 * z + 2.0 / 11.0;
        r3 = r3 * z + 2.0 / 9.0;
        r3 = r3 * z + 2.0 / 7.0;
        const double rest = c5 * z * r3;
        const double h1 = ab + c3;  // two two-sums: ab + c3 + q5 (exact products, see above)
        const double hv1 = h1 - ab;
        const double h1_err = (ab - (h1 - hv1)) + (c3 - hv1);
        hi = h1 + q5;
        const double hv2 = hi - h1;
        const double h2_err = (h1 - (hi - hv2)) + (q5 - hv2);
        // sl's share: d/ds (2s + (2/3) s^3 + (2/5) s^5) = 2 (1 + s^2 + s^4).
        lo = (ab_err + (h1_err + h2_err)) +
             (e * vmath::kLn2Lo + ((2.0 * sl * (1.0 + z + z * z)) + ((c3_lo + q5_lo) + rest)));
    } else {
        lo = ab_err + (e * vmath::kLn2Lo + (2.0 * sl + sh * vmath::atanh_tail(z)));
    }
    const bool finite = (v > 0.0) & (v < vmath::kInf);  // false for NaN
    lo = finite ? lo : 0.0;
    const double special = v == 0.0 ? -vmath::kInf : (v > 0.0 ? vmath::kInf : vmath::kNaN);
    return finite ? hi : special;
}

/// Cody's asymptotic rational for y > 4 (the caller clamps y to at least 4), in z = 1/y^2:
/// erfcx(y) = (1/sqrt(pi) - z P(z)/Q(z)) / y. Returns P and Q.
GAMMAEXT_ALWAYS_INLINE vmath::Ratio cody_erfcx_large(double z) noexcept {
    double pnum = 0.0163153871373020978 * z;
    double pden = z;
    pnum = (pnum + 0.305326634961232344) * z;
    pden = (pden + 2.56852019228982242) * z;
    pnum = (pnum + 0.360344899949804439) * z;
    pden = (pden + 1.87295284992346047) * z;
    pnum = (pnum + 0.125781726111229246) * z;
    pden = (pden + 0.527905102951428412) * z;
    pnum = (pnum + 0.0160837851487422766) * z;
    pden = (pden + 0.0605183413124413191) * z;
    pnum += 6.58749161529837803e-4;
    pden += 0.00233520497626869185;
    return {pnum, pden};
}

constexpr double kErfcxSmall = 0.46875;  // Cody's switch from the erf form to the erfc form
constexpr double kErfcxLarge = 4.0;      // and to the asymptotic form
constexpr double kInvSqrtPi = 0.56418958354775628695;
constexpr double kSqrtPi = 1.77245385090551602730;
// Above this y1, the erfcx difference of normalised_call is split (see there).
constexpr double kErfcxSplit = 0.5;

/// x = ln(F/K) = ln(S/K) + (r - q) t as x + lo (the value returned and `lo`), good to about
/// 2^-100 |x| plus 2^-100 |(r - q) t| for positive normal S/K with kFine (without, to about
/// eps/200 of ln(S/K); see log_dd), otherwise to an ulp of ln(S/K).
/// ln(S/K) is taken in double-double and the rounding errors of S/K, of r - q and of (r - q) t
/// are put back (Dekker, Knuth's two-sum): prices are sensitive to x in absolute terms
/// (d ln b/dx = -x/s^2), and near the forward ln(S/K) and (r - q) t cancel, so x must be good to
/// ~eps |x|, not just to ~eps |(r - q) t| (which moved the price of an at-the-money 30-year
/// option at 0.1% vol by 3e-14); far from the money (|x|/s = 17) even an ulp of x moves the price
/// by 150 ulps, which lo removes.
template <bool kFine>
GAMMAEXT_ALWAYS_INLINE double forward_log_moneyness(double S, double K, double T, double r,
                                                    double q, double& lo) noexcept {
    const double sk = S / K;
    const double sk1 = head26(sk), sk2 = sk - sk1;
    const double k1 = head26(K), k2 = K - k1;
    const double sk_res = (((S - sk1 * k1) - sk1 * k2) - sk2 * k1) - sk2 * k2;  // S - sk K
    const double rq = r - q;
    const double rq_v = rq - r;
    const double rq_err = (r - (rq - rq_v)) + (-q - rq_v);  // r - q - rq, exactly
    // (r - q) t = drift + drift_lo with drift = rq1 t1 exact (26-bit heads): a rounded product
    // in a two-sum could be fused into the addition (-ffp-contract), an exact one cannot.
    const double rq1 = head26(rq), rq2 = rq - rq1;
    const double t1 = head26(T), t2 = T - t1;
    const double drift = rq1 * t1;
    const double drift_lo = (rq1 * t2 + rq2 * t1) + rq2 * t2;
    double log_lo = 0.0;
    const double log_hi = log_dd<kFine>(sk, log_lo);
    const double sum = log_hi + drift;  // two-sum: sum + sum_err = log_hi + drift exactly
    const double bv = sum - log_hi;
    const double sum_err = (log_hi - (sum - bv)) + (drift - bv);
    const double rest =
        sum_err + ((log_lo + sk_res / (K * sk)) + (drift_lo + rq_err * T));
    const double x = sum + rest;
    lo = rest - (x - sum);
    return x;
}

/// vol sqrt(t) - s for st = sqrt(t) and s = vol st, both rounded, to about 2^-100 relative
/// to s: the rounding of the square root and of the product put back (Dekker).
GAMMAEXT_ALWAYS_INLINE double total_deviation_lo(double vol, double t, double st,
                                                 double s) noexcept {
    const double st1 = head26(st), st2 = st - st1;
    const double rem = ((t - st1 * st1) - 2.0 * st1 * st2) - st2 * st2;  // t - st^2
    const double v1 = head26(vol), v2 = vol - v1;
    const double prod_err = (((v1 * st1 - s) + v1 * st2) + v2 * st1) + v2 * st2;  // vol st - s
    const double sqrt_err = rem / (2.0 * st);  // sqrt(t) - st, to first order
    const double lo = prod_err + vol * sqrt_err;
    return st > 0.0 ? lo : 0.0;
}

/// s = vol sqrt(t) as s + lo (the value returned and `lo`), see total_deviation_lo.
GAMMAEXT_ALWAYS_INLINE double total_deviation(double vol, double t, double& lo) noexcept {
    const double st = std::sqrt(t);
    const double s = vol * st;
    lo = total_deviation_lo(vol, t, st, s);
    return s;
}

/// erfcx(y) = e^{y^2} erfc(y) and a(y) = 1 - sqrt(pi) y erfcx(y).
struct Erfcx {
    double value;
    double complement;
    double erf_num, erf_den;  ///< erf(min(y, 0.46875)) = min(y, 0.46875) erf_num / erf_den
};

/// erfcx(y) = e^{y^2} erfc(y) for y >= 0 (y may be +inf), from Cody's rational approximations
/// (the two lower ranges are vmath's cody_erf_small / cody_erfc_mid; erfcx needs no exp above
/// 0.46875). The asymptotic range is written here in z = 1/y^2 rather than as vmath's reversed
/// polynomials, because erfcx must stay exact for any large y (vmath's CDF clamps at y = 30,
/// where erfc underflows). Branch-free: each range gives a numerator and a denominator, and the
/// one division is done after the selection.
///
/// Also a(y) = 1 - sqrt(pi) y erfcx(y) = 1 - u R(u) (u = sqrt 2 y, R the Mills ratio), about
/// 1/(2 y^2) for large y, where the difference would lose y^2 ulps (150 at y = 8). Each of
/// Cody's ranges gives it without cancellation, sharing the denominator: below 0.46875 the
/// difference (a > 0.47 there); from there to 4 the polynomial D(y) - sqrt(pi) y C(y) of
/// erfcx = C/D, its coefficients formed once in 50-digit arithmetic (the leading terms cancel
/// there, not at run time; evaluating it loses at most 3e-5 relative to its terms); above 4,
/// sqrt(pi) z P/Q. A caller that uses one of the two gets the other's work removed (it is pure
/// arithmetic).
GAMMAEXT_ALWAYS_INLINE Erfcx erfcx_parts(double y) noexcept {
    // y <= 0.46875: e^{y^2} (1 - y P(y^2)/Q(y^2)) = e^{y^2} (Q - y P) / Q.
    const double ys = y < kErfcxSmall ? y : kErfcxSmall;
    const double ysq = ys * ys;
    const auto [xnum, xden] = vmath::cody_erf_small(ysq);
    const double small_num = vmath::exp(ysq) * (xden - ys * xnum);
    // 0.46875 < y <= 4: P(y)/Q(y).
    const double ym = y < kErfcxLarge ? y : kErfcxLarge;
    const auto [cnum, cden] = vmath::cody_erfc_mid(ym);
    double mid_a = -3.816297601959867e-08;  // D(y) - sqrt(pi) y C(y)
    mid_a = mid_a * ym + 1.9258758365679314e-06;
    mid_a = mid_a * ym - 4.695052438514181e-05;
    mid_a = mid_a * ym + 0.5007368277548779;
    mid_a = mid_a * ym + 7.864101148327032;
    mid_a = mid_a * ym + 58.169963712042914;
    mid_a = mid_a * ym + 256.27385178660603;
    mid_a = mid_a * ym + 727.1773208563878;
    mid_a = mid_a * ym + 1258.6479468114035;
    mid_a = mid_a * ym + 1230.3393548037495;
    // y > 4: (1/sqrt(pi) - z P(z)/Q(z)) / y = (Q/sqrt(pi) - z P) / (Q y), z = 1/y^2 (0 for huge
    // y, giving the 1/(y sqrt pi) limit; y = inf gives 0).
    const double yl = y > kErfcxLarge ? y : kErfcxLarge;
    const double z = 1.0 / (yl * yl);
    const auto [pnum, pden] = cody_erfcx_large(z);
    const double large_num = kInvSqrtPi * pden - z * pnum;
    const double large_den = pden * yl;
    const bool is_small = y <= kErfcxSmall, is_mid = !is_small && y <= kErfcxLarge;
    const double num = is_small ? small_num : (is_mid ? cnum : large_num);
    const double den = is_small ? xden : (is_mid ? cden : large_den);
    const double a_num =
        is_small ? xden - kSqrtPi * ys * small_num : (is_mid ? mid_a : kSqrtPi * z * pnum);
    const double a_den = is_small ? xden : (is_mid ? cden : pden);
    return {num / den, a_num / a_den, xnum, xden};
}

GAMMAEXT_ALWAYS_INLINE double erfcx_nonneg(double y) noexcept { return erfcx_parts(y).value; }

/// 2 sinh(y/2) for y >= 0, given exp(-y/2), without cancellation near 0 (Taylor series below 1).
GAMMAEXT_ALWAYS_INLINE double two_sinh_half(double y, double e_minus) noexcept {
    const double big = 1.0 / e_minus - e_minus;  // e_minus = exp(-y/2)
    const double u = 0.25 * y * y;  // (y/2)^2
    // 2 sinh(v) = 2v (1 + v^2/3! + v^4/5! + ...), v = y/2 <= 1/2: 9 terms reach 1e-19.
    double p = 1.0 / 6227020800.0;  // 1/13!
    p = p * u + 1.0 / 39916800.0;
    p = p * u + 1.0 / 362880.0;
    p = p * u + 1.0 / 5040.0;
    p = p * u + 1.0 / 120.0;
    p = p * u + 1.0 / 6.0;
    p = p * u + 1.0;
    return y < 1.0 ? y * p : big;
}

// Regions of the normalised Black function (a bit mask, so that a block of lanes evaluates only
// the formulas some lane needs).
constexpr unsigned kRegionAsymptotic = 1U;
constexpr unsigned kRegionSmallT = 2U;
constexpr unsigned kRegionErfcx = 4U;  // erfcx difference or direct (both use the same erfcx pair)
constexpr unsigned kRegionSplit = 8U;  // erfcx lanes that split the difference (see erfcx_split)
// Erfcx and direct lanes near the money take b from Cody's erf where that cancels less (see
// normalised_call); without this bit (a rough first evaluation) they do not.
constexpr unsigned kRegionNear = 16U;
constexpr unsigned kRegionAll = 31U;

GAMMAEXT_ALWAYS_INLINE bool in_asymptotic(double h, double t) noexcept { return -(h + t) >= kAsymptoticFrom; }

/// Whether a lane of the erfcx region (neither asymptotic nor small t) splits its erfcx
/// difference (see normalised_call): y1 = -(h + t)/sqrt 2 > kErfcxSplit. Callers compute it next
/// to the region flags and pass it in, for the same reason (see h_of).
GAMMAEXT_ALWAYS_INLINE bool erfcx_split(double h, double t) noexcept {
    return -(h + t) * kInvSqrt2 > kErfcxSplit;
}

/// h = x/s as the region tests and the evaluation both compute it (a multiplication by 1/s,
/// within an ulp of x/s; normalised_call adds the exact correction), so that a block evaluates
/// the regions its lanes select, to the last bit.
GAMMAEXT_ALWAYS_INLINE double h_of(double x, double inv_s) noexcept { return x * inv_s; }

struct Black {
    double b;   ///< b(x, s)
    double g;   ///< b_max - b(x, s), accurate also when b is close to b_max
    double dq;  ///< Q = exp(-(h^2 + t^2)/2), so that b'(s) = Q / sqrt(2 pi)
};

/// b(x, s) near the money, for the erfcx and direct regions (see normalised_call).
/// Near the money (|h + t| <= 0.46875 sqrt 2) the other two forms cancel: b_max - g by
/// b_max/b (4 at the money with s = 0.5: 5 ulps of b, and so of the implied vol), the
/// erfcx difference by e1/(e1 - e2) (3.7 at h = -0.23, t = 0.215). There N(h + t) =
/// (1 + erf((h + t)/sqrt 2))/2 with Cody's erf (y P(y^2)/Q(y^2), no cancellation):
///   b = b_max (1 + erf z1')/2 - e^{-x/2} N(h - t),           z1' = (h + t)/sqrt 2,
/// and where y2 <= 0.46875 too, with (e^{x/2} - e^{-x/2})/2 = -sinh(|x|/2):
///   b = (b_max erf z1' + erf(y2) / b_max)/2 - sinh(|x|/2)   (|x| = 2 |h| t: small).
/// A direct lane always takes this form (its terms are positive, but for a sinh of at
/// most |x|/2 < t^2); an erfcx lane where its own cancellation (the sum of the magnitudes
/// of its terms over b) is below the difference's. At fixed x, b is stationary in the h
/// of the erf arguments (their derivatives are +-Q/sqrt(2 pi)), so the rounded h needs no
/// correction there; in e^{-x/2} N(h - t) = Q G(z2)/2 it needs -hl Q z2 G(z2)/2 (the erf
/// term's share cancels the c of G').
/// Sets `better` where this form cancels less than the erfcx difference e1 - e2 (the sum of the
/// magnitudes of its terms against e1 b/(e1 - e2); e1 > e2 in the erfcx region).
GAMMAEXT_ALWAYS_INLINE double near_the_money(double x, double xl, double b_max, double q,
                                             double hl, double z1, double z2, double y1,
                                             double y2, const Erfcx& p1, const Erfcx& p2,
                                             bool& better) noexcept {
    const double y1n = y1 < kErfcxSmall ? y1 : kErfcxSmall;
    const double y2n = y2 < kErfcxSmall ? y2 : kErfcxSmall;
    const double e1 = p1.value, e2 = p2.value;
    // Cody's erf ratio at y1n and y2n, from erfcx_parts (a lane whose p1 was taken at -h/sqrt 2
    // is a small-t lane, which never takes this form).
    const double n1 = p1.erf_num, d1 = p1.erf_den, n2 = p2.erf_num, d2 = p2.erf_den;
    const double half_erf1 = 0.5 * b_max * ((z1 < 0.0 ? -y1n : y1n) * n1 / d1);
    const double inv_bm = 1.0 / b_max;
    const double half_erf2 = 0.5 * (y2n * n2 / d2) * inv_bm;
    // (-sinh(|x|/2) with |x| = -(x + xl): xl's share is xl cosh(x/2)/2.)
    const double sinh_half = 0.5 * two_sinh_half(-x, b_max) - 0.25 * xl * (b_max + inv_bm);
    const double minus_n2 = 0.5 * q * (e2 + hl * z2 * e2);  // e^{-x/2} N(h - t)
    const bool both_small = y2 <= kErfcxSmall;
    const double part2 = both_small ? half_erf2 - sinh_half : 0.5 * b_max - minus_n2;
    const double b = half_erf1 + part2;
    const double mass =
        std::fabs(half_erf1) + (both_small ? half_erf2 + sinh_half : 0.5 * b_max + minus_n2);
    better = mass * (e1 - e2) < b * e1;
    return b;
}

/// The normalised out-of-the-money call for x <= 0, s > 0, and its complement. Branch-free.
/// x + xl and s + sl may carry low parts (|xl| <= ulp(x), |sl| <= ulp(s); 0 where the caller has
/// none): they enter Q, whose exponent (h^2 + t^2)/2 amplifies a relative error of x or s by h^2
/// (300 at h = 17), and nothing else, where they are below the rounding. Regions not in R are
/// not evaluated (a lane that needs one of them gets NaN). The lane's region flags (and split,
/// see erfcx_split) come from its caller (see block_regions in implied_vol_kernel.cpp),
/// computed with h_of.
template <unsigned R>
GAMMAEXT_ALWAYS_INLINE Black normalised_call(double x, double xl, double s, double sl,
                                             double b_max, bool asym, bool small,
                                             bool split) noexcept {
    const double t = 0.5 * s;
    // h = x/s to about an ulp (a multiplication by 1/s), and x - h s exactly (Dekker): h + hl
    // is (x + xl)/(s + sl) to twice the working precision whatever the rounding of h.
    const double inv_s = 1.0 / s;
    const double h = h_of(x, inv_s);
    const double h1 = head26(h), h2 = h - h1;
    const double s1 = head26(s), s2 = s - s1;
    const double res = (((x - h1 * s1) - h1 * s2) - h2 * s1) - h2 * s2;
    const double hl = (res + (xl - h * sl)) * inv_s;
    // h^2 + t^2 as hi + lo: the heads' squares are exact, the rest is a small correction.
    const double t1 = head26(t), t2 = t - t1;
    const double hh = h1 * h1, tt = t1 * t1;
    const double sum = hh + tt;
    const double bv = sum - hh;
    const double sum_err = (hh - (sum - bv)) + (tt - bv);
    const double lo = sum_err + h2 * (2.0 * h1 + h2) + t2 * (2.0 * t1 + t2) +
                      (2.0 * h * hl + t * sl);  // 2 t (sl/2)
    // Beyond 1500, Q underflows to 0 whatever lo is; keep exp_hl's arguments in its range.
    const bool far = sum > kGaussUnderflow;
    const double q =
        vmath::exp_hl(far ? -0.5 * kGaussUnderflow : -0.5 * sum, far ? 0.0 : -0.5 * lo);
    const double z1 = h + t;  // h - t <= z1, and h - t < 0 always

    const bool direct = !asym & !small & (z1 > 0.0);
    // One erfcx_parts serves both the small-t lanes (its complement, at -h/sqrt 2) and the
    // erfcx/direct lanes (its value and complement, at |h + t|/sqrt 2); the second only the latter.
    const double y1 = (z1 < 0.0 ? -z1 : z1) * kInvSqrt2;
    Erfcx p1{vmath::kNaN, vmath::kNaN, vmath::kNaN, vmath::kNaN};
    if constexpr ((R & (kRegionErfcx | kRegionSmallT)) != 0U) {
        const double arg_small = -h * kInvSqrt2;
        p1 = erfcx_parts((R & kRegionErfcx) == 0U ? arg_small
                         : (R & kRegionSmallT) == 0U ? y1
                         : small ? arg_small : y1);
    }

    // erfcx region (z1 <= 0) and direct region (z1 > 0): y1 = |h + t|/sqrt 2, y2 = (t - h)/sqrt 2.
    // erfcx(y1) - erfcx(y2) cancels by up to (|h| + t)/(2t) (30 at the corner h + t = -12,
    // t = 0.21). Where y1 > 1/2 (the factor is below 3.2 elsewhere) erfcx(y) = (1 - a(y))/(sqrt(pi)
    // y) splits it: the leading terms' difference (y2 - y1)/(sqrt(pi) y1 y2) is exact in form
    // (y2 - y1 = sqrt 2 t), and the rest, a(y1)/y1 - a(y2)/y2, is at most a quarter of it, a
    // well-conditioned correction (erfcx_parts gives a to a few ulps).
    double b_erfcx = vmath::kNaN, g_direct = vmath::kNaN, b_near = vmath::kNaN;
    bool near = false;
    if constexpr ((R & kRegionErfcx) != 0U) {
        const double y2 = (t - h) * kInvSqrt2;
        const Erfcx p2 = erfcx_parts(y2);
        const double e1 = p1.value, e2 = p2.value;
        double lead_rest = vmath::kNaN;  // only where some lane splits (kRegionSplit)
        if constexpr ((R & kRegionSplit) != 0U) {
            const double lead = kInvSqrtPi * (2.0 * kInvSqrt2 * t) / (y1 * y2);
            const double rest = kInvSqrtPi * (p1.complement / y1 - p2.complement / y2);
            lead_rest = lead - rest;
        }
        // The erfcx arguments take the rounded h; h + hl is exact, and the first-order term in hl
        // (with G(z) = erfcx(-z/sqrt 2), G' = z G + c) puts it back: d/dh [G(z1) - G(h - t)] =
        // z1 G(z1) - (h - t) G(h - t), d/dh [G(-z1) + G(h - t)] = z1 G(-z1) + (h - t) G(h - t).
        const double z2 = h - t;
        b_erfcx = 0.5 * q * ((split ? lead_rest : e1 - e2) + hl * (z1 * e1 - z2 * e2));
        g_direct = 0.5 * q * ((e1 + e2) + hl * (z1 * e1 + z2 * e2));
        if constexpr ((R & kRegionNear) != 0U) {
            // See near_the_money (a direct lane always takes it, an erfcx lane where it cancels
            // less than the difference).
            bool better = false;
            b_near = near_the_money(x, xl, b_max, q, hl, z1, z2, y1, y2, p1, p2, better);
            near = (y1 <= kErfcxSmall) & (direct | better);
        }
    }
    const double b_direct = b_max - g_direct;

    // Asymptotic region: a = -(h + t) >= 12, bb = t - h = a + 2t.
    double b_asym = vmath::kNaN;
    if constexpr ((R & kRegionAsymptotic) != 0U) {
        const double a = -z1 > kAsymptoticFrom ? -z1 : kAsymptoticFrom;
        const double bb = (t - h) > a ? (t - h) : a;
        const double rho = a / bb;
        const double rho2 = rho * rho;
        const double ia2 = 1.0 / (a * a);
        double coef = 1.0;   // (-1)^k (2k-1)!! / a^{2k}
        double geo = 1.0;    // 1 + rho + ... + rho^{2k}
        double rho_n = rho;  // rho^{2k+1}
        double series = 0.0;
#pragma GCC unroll 32
        for (int k = 0; k < kAsymptoticTerms; ++k) {
            series += coef * geo;
            coef *= -(2.0 * k + 1.0) * ia2;
            geo += rho_n * (1.0 + rho);
            rho_n *= rho2;
        }
        b_asym = 0.5 * q * kSqrt2OverPi * (2.0 * t / (bb * a)) * series;
    }

    // Small-t region.
    double b_small = vmath::kNaN;
    if constexpr ((R & kRegionSmallT) != 0U) {
        // a = 1 + h G(h)/c = 1 - sqrt(pi) y erfcx(y), y = -h/sqrt 2, without its cancellation.
        const double ah = p1.complement;
        const double qh = h * h;
        const double w = t * t;
        double poly = 0.0;
#pragma GCC unroll 16
        for (int j = kSmallTerms - 1; j >= 0; --j) {
            double pa = 0.0, pb = 0.0;
#pragma GCC unroll 16
            for (int i = j; i >= 0; --i) {
                pa = pa * qh + kA[j][i];
                pb = pb * qh + kB[j][i];
            }
            poly = poly * w + (ah * pa - pb);
        }
        b_small = q * kSqrt2OverPi * t * poly;
    }

    Black r;
    r.b = asym ? b_asym : (small ? b_small : (near ? b_near : (direct ? b_direct : b_erfcx)));
    r.g = direct ? g_direct : b_max - r.b;
    r.dq = q;
    return r;
}

}  // namespace normalised
}  // namespace
}  // namespace gammaext::GAMMAEXT_ISA_NS
