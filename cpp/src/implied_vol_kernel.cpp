// The implied-volatility kernel, compiled once per instruction set (GAMMAEXT_ISA_NS).
//
// Notation (Jaeckel, "Let's Be Rational", 2015): x = ln(F/K) <= 0 after the reduction below,
// s = vol sqrt(t) > 0, h = x/s, t = s/2 (this `t` is half the total deviation, not the expiry),
// and the normalised out-of-the-money call
//
//     b(x, s) = e^{x/2} N(h + t) - e^{-x/2} N(h - t),        0 <= b < b_max = e^{x/2}.
//
// Since (h + t)^2 / 2 - x/2 = (h - t)^2 / 2 + x/2 = (h^2 + t^2) / 2, both terms share the factor
// Q = exp(-(h^2 + t^2)/2), and with G(z) = erfcx(-z/sqrt 2) = 2 e^{z^2/2} N(z):
//
//     b = Q/2 [G(h + t) - G(h - t)],           b_max - b = Q/2 [G(-(h + t)) + G(h - t)],
//     b'(s) = Q / sqrt(2 pi),   b''/b' = x^2/s^3 - s/4,   b'''/b' = (b''/b')^2 - 3 x^2/s^4 - 1/4.
//
// Q is taken with h^2 + t^2 split into a double-double, so that it keeps its relative accuracy
// where h^2/2 is hundreds. b is evaluated (normalised_black.hpp, shared with the Greek kernel's
// careful price) in four regions, each free of harmful cancellation:
//   asymptotic  h + t <= -12: G(-a) ~ (c/a) sum_k (-1)^k (2k-1)!! / a^{2k} (c = sqrt(2/pi)), and
//               each difference a^{-n} - b^{-n} is formed as (1 - rho^n)/a^n with
//               1 - rho^n = (2t/b)(1 + rho + ... + rho^{n-1}), rho = a/b: a sum of positive terms.
//   small t     t < 0.21: the Taylor series of G(h + t) - G(h - t) in t. G' = zG + c gives the
//               Taylor coefficients g_k of G at h by (k+1) g_{k+1} = h g_k + g_{k-1}; the odd ones
//               are polynomials in h^2 and a = 1 + h G(h)/c (taken without its cancellation,
//               see erfcx_parts; Jaeckel's expansion; the
//               coefficients below were derived from that recurrence in exact rational
//               arithmetic), b = Q c t sum_j gamma_j t^{2j}, gamma_j = a A_j(h^2) - B_j(h^2).
//   erfcx       h + t <= 0: the difference of the two erfcx values loses up to a factor
//               (|h| + t)/(2t) < 31 in this region; for |h + t| > 1/sqrt 2 it is split into
//               the exact difference of the leading terms 1/(sqrt(pi) y) and a small rest.
//   direct      h + t > 0: b = b_max - (b_max - b), the complement a sum of positive terms.
// Each lane evaluates the formulas of the regions present in its block of 64 and selects its
// own, so the loops have no branches.
//
// Inversion: put-call parity turns every input into the out-of-the-money call above; then the
// objective is ln b(s) - ln beta, or ln(b_max - b(s)) - ln(b_max - beta) when beta > b_max/2
// (both concave and close to linear in s; Jaeckel 2006, "By Implication"; each keeps the
// relative precision of the quantity that carries the information). The initial guess comes
// from a table of the exact inverse on each side of the inflection point s_c = sqrt(2|x|) (see
// GuessTable; about 1%), or for |x| > 9 or < 1e-5 from a model of the objective (see
// initial_guess; about 2% below s_c and 7% above). Then third-order Householder steps (f, f',
// f'', f''' are all closed-form), safeguarded by a bracket that each evaluation narrows (all but
// the first, less precise one); a step leaving the bracket is replaced by bisection. A lane stops after it took a step shorter
// than kConvergedStep relative (quartic convergence then leaves an error far below one ulp): two
// steps from these guesses. A block stops when all its lanes have, after at most
// kMaxIterations. A lane's result depends only on its own inputs, never on its neighbours, the
// block or the thread split: every loop runs over the whole (padded) block.
//
// Each phase is a pass of its own over the block (set-up, guess, each model step, each evaluation
// and each step), and the passes ask for 16 lanes at a time (simdlen): a lane's work is one long
// dependency chain, and with two or more independent vectors in flight the pipeline stays busy
// (on Zen 4 about 25% for AVX-512 and 30% for AVX2, measured when the model guess was the only
// one).
//
// GCC 12 vectorizes these loops only under conditions worth knowing: booleans must be combined
// with & and | (short-circuit && and || become control flow), a boolean select of booleans
// (c ? a < b : a > b) is not vectorized, neither is a division or an int select under a
// condition (write sc / (d > tiny ? d : tiny), int(flag) * n), the loops must live in functions
// that take the workspace by reference (inlined next to the workspace's owner they are not),
// and table pointers in the workspace must be plain double pointers. Check with
// -fopt-info-vec-missed after any change to the lane code: a pass that stops vectorizing costs
// the kernel 30% or more.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "gammaext/implied_vol.hpp"
#include "gammaext/vmath.hpp"
#include "normalised_black.hpp"

#ifndef GAMMAEXT_ISA_NS
#error "compile this file with -DGAMMAEXT_ISA_NS=<namespace>"
#endif

namespace gammaext::GAMMAEXT_ISA_NS {
namespace {

using namespace normalised;  // NOLINT: the function this kernel inverts

constexpr std::int64_t kBlock = 64;
constexpr int kMaxIterations = 16;
// A Householder step below this (relative to s) leaves an error of order its fourth power
// (1e-20): the method converges quartically with exact derivatives.
constexpr double kConvergedStep = 1e-5;
constexpr double kEps = std::numeric_limits<double>::epsilon();
constexpr double kTiny = std::numeric_limits<double>::min();
constexpr double kHugeRatio = 1e300;  // u/u* beyond this is far from the root (see step)
// A time value (price less intrinsic value, normalised) within this many ulps of the normalised
// price is rounding: at_intrinsic (below it by more: below_intrinsic). The bound covers the
// rounding of the price (1/2), of the normalisation D sqrt(F K) (about 2) and of the intrinsic
// value 2 sinh(|x|/2) (about 1.5).
constexpr double kIntrinsicUlps = 4.0;
// The vol is `imprecise` where the price determines it only to worse than this, relative:
// eps max(1, B/(s dB/ds)) (B the normalised price) above it.
constexpr double kImpreciseAccuracy = 1e-8;

constexpr double kLnSqrt2Pi = 0.91893853320467274178;
constexpr double kSqrt2Pi = 2.50662827463100050242;

// The first Householder step only has to bring a ~1% guess to ~1e-8, so its evaluation may lose
// a few digits: it uses the erfcx difference down to this t (losing at most a factor
// (|h| + t)/(2t) < 6000, about 1e-12 relative) and skips the small-t series, the most expensive
// part of an evaluation. A step on such an evaluation never ends the iteration.
constexpr double kSmallTFirst = 1e-3;
constexpr int kGuessIterations = 4;       // Newton steps on the guess models (see initial_guess)
constexpr double kPi = 3.14159265358979323846;
constexpr double kMaxGuessStep = 8.0;

/// ln(y) for positive normal y to about 1e-8 absolute (vmath::log's reduction with a shorter
/// atanh series): enough for the model Newton steps of the initial guess.
inline double log_rough(double y) noexcept {
    constexpr double kLn2 = 0.69314718055994530942;
    double e = 0.0;
    const double m = vmath::log_reduce(y, e);
    const double f = (m - 1.0) / (m + 1.0);
    const double z = f * f;
    const double series = 1.0 + z * (1.0 / 3.0 + z * (1.0 / 5.0 + z * (1.0 / 7.0 + z / 9.0)));
    return e * kLn2 + 2.0 * f * series;
}

/// Inverse of the standard normal CDF for p in (0, 1/2], relative error below 1.2e-9 (P. J.
/// Acklam's rational approximation, 2003, published coefficients; the lower half only, which is
/// all the initial guess needs). Only used for initial guesses.
inline double norm_inv_lower(double p) noexcept {
    constexpr double kLow = 0.02425;
    constexpr double a0 = -3.969683028665376e+01, a1 = 2.209460984245205e+02,
                     a2 = -2.759285104469687e+02, a3 = 1.383577518672690e+02,
                     a4 = -3.066479806614716e+01, a5 = 2.506628277459239e+00;
    constexpr double b0 = -5.447609879822406e+01, b1 = 1.615858368580409e+02,
                     b2 = -1.556989798598866e+02, b3 = 6.680131188771972e+01,
                     b4 = -1.328068155288572e+01;
    constexpr double c0 = -7.784894002430293e-03, c1 = -3.223964580411365e-01,
                     c2 = -2.400758277161838e+00, c3 = -2.549732539343734e+00,
                     c4 = 4.374664141464968e+00, c5 = 2.938163982698783e+00;
    constexpr double d0 = 7.784695709041462e-03, d1 = 3.224671290700398e-01,
                     d2 = 2.445134137142996e+00, d3 = 3.754408661907416e+00;
    // Central region [kLow, 1/2].
    const double pc = p < kLow ? kLow : (p > 0.5 ? 0.5 : p);
    const double q = pc - 0.5;
    const double r = q * q;
    const double central = (((((a0 * r + a1) * r + a2) * r + a3) * r + a4) * r + a5) * q /
                           (((((b0 * r + b1) * r + b2) * r + b3) * r + b4) * r + 1.0);
    // Lower tail (0, kLow).
    const double pt = p < kTiny ? kTiny : (p > kLow ? kLow : p);
    const double u = std::sqrt(-2.0 * log_rough(pt));
    const double tail = (((((c0 * u + c1) * u + c2) * u + c3) * u + c4) * u + c5) /
                        ((((d0 * u + d1) * u + d2) * u + d3) * u + 1.0);
    return p < kLow ? tail : central;
}

/// Every lane's state through the iteration (structure of arrays over a block).
struct Workspace {
    alignas(64) double p[kBlock], spot[kBlock], k[kBlock], t[kBlock], r[kBlock], q[kBlock];
    alignas(64) double phi[kBlock];
    alignas(64) double x[kBlock], bmax[kBlock], beta[kBlock], target[kBlock], tval[kBlock];
    alignas(64) double s[kBlock], lo[kBlock], hi[kBlock], use_g[kBlock], active[kBlock];
    alignas(64) double status[kBlock], b[kBlock], g[kBlock], dq[kBlock], pn[kBlock];
    alignas(64) double r_asym[kBlock], r_small[kBlock], r_split[kBlock];  // see block_regions
    // The initial guess's model (see initial_guess).
    alignas(64) double m_target[kBlock], m_shift[kBlock], m_sc[kBlock], m_upper[kBlock];
    const double* table = nullptr;     ///< GuessTable::v
    const double* bc_table = nullptr;  ///< GuessTable::bc
    const double* omega_min = nullptr;  ///< GuessTable::omega_min
};

void load(double* __restrict dst, const Column& col, std::int64_t i0, std::int64_t len) noexcept {
    if (col.broadcast) {
        const double v = col.data[0];
        for (std::int64_t j = 0; j < len; ++j) {
            dst[j] = v;
        }
    } else {
        const double* __restrict src = col.data + i0;
        for (std::int64_t j = 0; j < len; ++j) {
            dst[j] = src[j];
        }
    }
}

void load_sign(double* __restrict dst, const FlagColumn& col, std::int64_t i0,
               std::int64_t len) noexcept {
    if (col.broadcast) {
        const double v = col.data[0] != 0 ? 1.0 : -1.0;
        for (std::int64_t j = 0; j < len; ++j) {
            dst[j] = v;
        }
    } else {
        const std::uint8_t* __restrict src = col.data + i0;
        for (std::int64_t j = 0; j < len; ++j) {
            const int call = src[j] != 0;  // integer arithmetic: vectorizes
            dst[j] = static_cast<double>(2 * call - 1);
        }
    }
}

constexpr double kStOk = static_cast<double>(IVStatus::ok);
constexpr double kStBelow = static_cast<double>(IVStatus::below_intrinsic);
constexpr double kStAbove = static_cast<double>(IVStatus::above_max);
constexpr double kStAt = static_cast<double>(IVStatus::at_intrinsic);
constexpr double kStInvalid = static_cast<double>(IVStatus::invalid_input);
constexpr double kStNotConverged = static_cast<double>(IVStatus::not_converged);
constexpr double kStImprecise = static_cast<double>(IVStatus::imprecise);

/// The regions the active lanes of a block need at their current s, and every lane's own
/// region flags (w.r_asym, w.r_small), which the evaluation then reads rather than recomputes:
/// with -ffp-contract, h + t could be fused differently in two loops and a lane near a
/// region boundary could select a region the block did not evaluate.
unsigned block_regions(Workspace& w, double small_t, bool allow_split) noexcept {
    double n_asym = 0.0, n_small = 0.0, n_mid = 0.0, n_split = 0.0;
#pragma omp simd reduction(+ : n_asym, n_small, n_mid, n_split)
    for (std::int64_t j = 0; j < kBlock; ++j) {
        const double s = w.s[j], t = 0.5 * s, h = h_of(w.x[j], 1.0 / s);
        const bool on = w.active[j] != 0.0;
        const bool asym = in_asymptotic(h, t);
        const bool small = !asym & (t < small_t);
        const bool split = allow_split & !asym & !small & erfcx_split(h, t);
        w.r_asym[j] = asym ? 1.0 : 0.0;
        w.r_small[j] = small ? 1.0 : 0.0;
        w.r_split[j] = split ? 1.0 : 0.0;
        n_asym += on & asym ? 1.0 : 0.0;
        n_small += on & small ? 1.0 : 0.0;
        n_mid += on & !asym & !small ? 1.0 : 0.0;
        n_split += on & split ? 1.0 : 0.0;
    }
    // Exact evaluations of erfcx lanes also take the near-the-money form (every lane decides
    // for itself inside normalised_call, so no flag is needed).
    return (n_asym > 0.0 ? kRegionAsymptotic : 0U) | (n_small > 0.0 ? kRegionSmallT : 0U) |
           (n_mid > 0.0 ? kRegionErfcx | (allow_split ? kRegionNear : 0U) : 0U) |
           (n_split > 0.0 ? kRegionSplit : 0U);
}

template <unsigned R>
[[gnu::noinline]] void evaluate_as(Workspace& w) noexcept {
#pragma omp simd simdlen(16)
    for (std::int64_t j = 0; j < kBlock; ++j) {
        const Black bl =
            normalised_call<R>(w.x[j], 0.0, w.s[j], 0.0, w.bmax[j], w.r_asym[j] != 0.0,
                               w.r_small[j] != 0.0, w.r_split[j] != 0.0);
        w.b[j] = bl.b;
        w.g[j] = bl.g;
        w.dq[j] = bl.dq;
    }
}

/// b, b_max - b and Q at every lane's s (only the regions some active lane needs), with the
/// small-t series below small_t; exact false (the first, rougher evaluation): no lane splits its
/// erfcx difference (see normalised_call).
void evaluate(Workspace& w, double small_t, bool exact) noexcept {
    switch (block_regions(w, small_t, exact)) {
        case 0U:
            return;
        case 1U:
            return evaluate_as<1U>(w);
        case 2U:
            return evaluate_as<2U>(w);
        case 3U:
            return evaluate_as<3U>(w);
        case 4U:
            return evaluate_as<4U>(w);
        case 5U:
            return evaluate_as<5U>(w);
        case 6U:
            return evaluate_as<6U>(w);
        case 7U:
            return evaluate_as<7U>(w);
        case 12U:
            return evaluate_as<12U>(w);
        case 13U:
            return evaluate_as<13U>(w);
        case 14U:
            return evaluate_as<14U>(w);
        case 15U:
            return evaluate_as<15U>(w);
        case 20U:
            return evaluate_as<20U>(w);
        case 21U:
            return evaluate_as<21U>(w);
        case 22U:
            return evaluate_as<22U>(w);
        case 23U:
            return evaluate_as<23U>(w);
        case 28U:
            return evaluate_as<28U>(w);
        case 29U:
            return evaluate_as<29U>(w);
        case 30U:
            return evaluate_as<30U>(w);
        default:
            return evaluate_as<kRegionAll>(w);
    }
}

/// a * b - ab exactly for ab = a * b rounded (Dekker's product with 26-bit heads, which
/// -ffp-contract cannot disturb).
inline double product_error(double a, double b, double ab) noexcept {
    const double a1 = head26(a), a2 = a - a1;
    const double b1 = head26(b), b2 = b - b1;
    return (((a1 * b1 - ab) + a1 * b2) + a2 * b1) + a2 * b2;
}

/// c - a * b exactly where a * b is within a few ulps of c (the heads' products are exact and
/// each difference is, by Sterbenz' lemma; a fused multiply-add changes nothing).
inline double residual(double c, double a, double b) noexcept {
    const double a1 = head26(a), a2 = a - a1;
    const double b1 = head26(b), b2 = b - b1;
    return (((c - a1 * b1) - a1 * b2) - a2 * b1) - a2 * b2;
}

/// D sqrt(F K) = sqrt(S) sqrt(K) e^{-(r+q)t/2} (returned) and p / D sqrt(F K) (in pn), the
/// latter within about half an ulp plus the exp's error: the roundings of the square roots,
/// their product and the division are put back. One division: the corrections need only a
/// few digits, so 1/norm serves for all of them (1/sqrt(S K) = e^{-(r+q)t/2}/norm).
inline double normalisation(double S, double K, double T, double r, double q, double p,
                            double& pn) noexcept {
    const double ss = std::sqrt(S), sk = std::sqrt(K);
    const double d = vmath::exp(-0.5 * ((r + q) * T));
    const double root = ss * sk;
    const double norm = root * d;
    const double inv_norm = 1.0 / norm;
    const double inv_root = d * inv_norm;
    // sqrt(S) sqrt(K) = root (1 + rem_S/(2S) + rem_K/(2K)) + product error, rem = v - sv^2.
    const double rel_sqrt =
        (residual(S, ss, ss) * K + residual(K, sk, sk) * S) * (0.5 * inv_root * inv_root);
    const double root_lo = product_error(ss, sk, root) + root * rel_sqrt;
    const double norm_lo = product_error(root, d, norm) + root_lo * d;
    // quot within an ulp of p / norm; p / (norm + norm_lo) = quot + (p - quot norm - quot
    // norm_lo) / norm.
    const double quot = p * inv_norm;
    const double fix = (residual(p, quot, norm) - quot * norm_lo) * inv_norm;
    // Out of range (S K or 1/(S K) overflowing, subnormal quotients, NaN): quot as it is.
    const bool ok = std::fabs(fix) <= 1e-10 * std::fabs(quot);
    pn = ok ? quot + fix : quot;
    return norm;
}

/// Lane j: status and the reduced problem (x <= 0, beta).
inline void setup(Workspace& w, std::int64_t j) noexcept {
    const double p = w.p[j], S = w.spot[j], K = w.k[j], T = w.t[j], r = w.r[j], q = w.q[j];
    const double phi = w.phi[j];
    // Conditions combine with & and | (not && and ||) throughout: GCC does not vectorize loops
    // whose booleans go through short-circuit control flow.
    const bool finite = (std::fabs(p) < vmath::kInf) & (std::fabs(S) < vmath::kInf) &
                        (std::fabs(K) < vmath::kInf) & (std::fabs(T) < vmath::kInf) &
                        (std::fabs(r) < vmath::kInf) & (std::fabs(q) < vmath::kInf);  // NaN: false
    const bool invalid = !finite | !(S > 0.0) | !(K > 0.0) | !(T > 0.0);


    // x = ln(F/K) to ~eps |x| (see forward_log_moneyness; the vol needs no finer x).
    double x_lo = 0.0;
    const double x = forward_log_moneyness<false>(S, K, T, r, q, x_lo);
    // D sqrt(F K) = sqrt(S) sqrt(K) e^{-(r+q)t/2}: one exp. The vol inherits the relative
    // error of beta = p / norm (divided by b's elasticity, about 1 near the money): the two
    // square roots, their product and the division would cost up to 2 ulps there, so each
    // rounding is put back (Dekker; the exp's share is below an ulp, exact for r = q = 0).
    const double norm = normalisation(S, K, T, r, q, p, w.pn[j]);
    // The out-of-the-money normalised price. The intrinsic value is subtracted in normalised
    // form, 2 sinh(|x|/2), computed from the accurate x: in price units S e^{-qt} - K e^{-rt}
    // cancels near the money and its rounding (eps S) would swamp a small time value.
    const double itm = phi * x > 0.0 ? 1.0 : 0.0;
    const double xn = -std::fabs(x);
    const double bmax = vmath::exp(0.5 * xn);
    // 2 sinh(|x|/2), plus the low part of |x| times its derivative cosh(|x|/2).
    const double xn_lo = x > 0.0 ? -x_lo : x_lo;  // |x| = -(xn + xn_lo)
    const double intrinsic_n = two_sinh_half(-xn, bmax) - xn_lo * 0.5 * (bmax + 1.0 / bmax);
    // The no-arbitrage maximum S e^{-qt} = D F (call) or K e^{-rt} = D K (put): D sqrt(F K) times
    // e^{x/2} or e^{-x/2}.
    const double max_p = norm * (phi * x < 0.0 ? bmax : 1.0 / bmax);
    const double pn = w.pn[j];
    const double beta = pn - itm * intrinsic_n;

    // The time value beta against the rounding of the price and of the normalised intrinsic
    // value (kIntrinsicUlps ulps of pn): only a time value within that is none (at_intrinsic,
    // vol 0), and only a price below the intrinsic value by more is below_intrinsic. Both are
    // judged in normalised form, where the intrinsic value has its own relative accuracy: in
    // price units S e^{-qt} - K e^{-rt} is good only to eps (S + K), which hid time values up
    // to 1e-13 of the price (of options whose vol the price still determines to 1e-4). A price
    // of zero vol comes back as at_intrinsic: the Greek kernel forms it the same way.
    const double tol = kIntrinsicUlps * kEps * pn;
    double st = kStOk;
    st = (beta >= bmax) | (p >= max_p) ? kStAbove : st;
    st = beta <= tol ? kStAt : st;
    st = (beta < -tol) | (p < 0.0) ? kStBelow : st;
    // Out of double range (|ln(F/K)| beyond ~1400, or discount factors that overflow): the
    // normalised problem cannot be represented, and is reported as invalid input.
    // (One select per condition: a combined boolean here stops GCC from vectorizing the loop.)
    st = norm > 0.0 ? st : kStInvalid;
    st = norm < vmath::kInf ? st : kStInvalid;
    st = bmax > 0.0 ? st : kStInvalid;
    st = std::fabs(beta) < vmath::kInf ? st : kStInvalid;
    st = invalid ? kStInvalid : st;
    w.status[j] = st;
    const bool go = st == kStOk;
    // Inactive lanes carry harmless values (their results are discarded).
    const double xs = go ? xn : -1.0;
    w.x[j] = xs;
    w.beta[j] = go ? beta : 0.1;
    w.bmax[j] = go ? bmax : vmath::exp(-0.5);
    w.active[j] = go ? 1.0 : 0.0;
}

/// e^y to about 3e-6 relative for |y| <= 8 (a degree-5 Taylor polynomial after reduction by
/// powers of two): enough for the model Newton steps of the initial guess.
inline double exp_rough(double y) noexcept {
    constexpr double kLog2e = 1.4426950408889634074;
    constexpr double kLn2 = 0.69314718055994530942;
    const double k = vmath::round_int(y * kLog2e);
    const double r = y - k * kLn2;
    const double p =
        1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0)))));
    return p * vmath::pow2_int(k);
}

/// Boyd's approximation of the Mills ratio R(z) = N(-z)/n(z), pi/((pi-1) z + sqrt(z^2 + 2 pi))
/// (J. T. Boyd, "Inequalities for Mills' ratio", 1959): exact at 0 and as z -> inf, within a few
/// percent between; for the initial guesses only. Returns R and sets dr = R'(z), for z > -1.
/// Also returns r = sqrt(z^2 + 2 pi), 1/r and 1/den, den = (pi - 1) z + r, for reuse (one
/// division for both reciprocals).
inline double mills_boyd(double z, double& dr, double& r, double& inv_r, double& inv_den) noexcept {
    r = std::sqrt(z * z + 2.0 * kPi);
    const double den = (kPi - 1.0) * z + r;
    const double q = 1.0 / (r * den);
    inv_r = den * q;
    inv_den = r * q;
    dr = -kPi * ((kPi - 1.0) + z * inv_r) * inv_den * inv_den;
    return kPi * inv_den;
}

/// The Householder objective of lane j: ln b, unless beta is closer to b_max than to 0; then
/// ln(b_max - b). Each is the one whose argument carries the information to full relative
/// precision (b_max - b computed as a difference would lose eps/b relative for small b).
/// Stores w.use_g and w.target (the exact logarithm) and returns the latter.
inline double set_objective(Workspace& w, std::int64_t j, double bs, double bms) noexcept {
    const bool use_g = bs > 0.5 * bms;
    const double value = use_g ? bms - bs : bs;
    const double ln_exact = vmath::log(value);
    w.use_g[j] = use_g ? 1.0 : 0.0;
    w.target[j] = ln_exact;
    w.tval[j] = value;
    return ln_exact;
}

/// Lane j: objective branch, bracket and initial guess from the model (the fallback of
/// table_guess).
///
/// The guesses solve a model of the objective (ln b below s_c, ln(b_max - b) above) built from
/// exact identities and Boyd's Mills ratio R~ (four Newton steps in ln s on the model):
///   b_max - b = Q/sqrt(2 pi) [R(h + t) + R(t - h)]                       exactly, so
///   ln(b_max - b) ~ -(h^2 + t^2)/2 - ln sqrt(2 pi) + ln(R~(h + t) + R~(t - h));
///   b ~ Q c t (1 - |h| R(|h|)) for small t, with 1 - y R~(y) = 2 pi / ((r + y)((pi-1) y + r)),
///   r = sqrt(y^2 + 2 pi), which also has the right 1/h^2 decay for large |h|.
/// Each model is shifted to be exact at s_c (where b(s_c) = e^{x/2}/2 - e^{-x/2} N(-s_c)), the
/// shift fading like s/s_c below and s_c/s above. On the test grids the guesses are within 2%
/// (lower) and 7% (upper), so that two Householder steps usually reach full precision.
inline void initial_guess(Workspace& w, std::int64_t j) noexcept {
    constexpr double kTwoPi = 6.28318530717958647693;
    const double xs = w.x[j], bs = w.beta[j], bms = w.bmax[j];
    const double sc = std::sqrt(-2.0 * xs);
    const bool atm = !(sc > kTiny);
    const double tc = 0.5 * sc;
    // b(s_c) and b_max - b(s_c) (an approximation near the money, where only the branch choice
    // depends on it).
    // e^{-x/2} N(-s_c) = e^{-x/2} e^{-s_c^2/2} erfcx(s_c/sqrt 2)/2 and s_c^2/2 = -x: no exp.
    const double nc = 0.5 * bms * erfcx_nonneg(sc * kInvSqrt2);
    const double bc = 0.5 * bms - nc;
    const double gc = 0.5 * bms + nc;
    // Below or above the inflection point s_c (always above at the money).
    const bool upper = atm | (bs >= bc);
    const double gbeta = bms - bs;
    // The objective's exact logarithm (see set_objective); the other one only feeds the model.
    const bool use_g = bs > 0.5 * bms;
    const double ln_exact = set_objective(w, j, bs, bms);
    const double ln_rough = log_rough(use_g ? bs : gbeta);
    const double lnb = use_g ? ln_rough : ln_exact, lng = use_g ? ln_exact : ln_rough;
    const double target = upper ? lng : lnb;  // of the guess model

    // The models at s_c (h = -t_c), for the shifts. Lower: -t_c^2 + ln(c t_c A(t_c)) with
    // A(y) = 2 pi / ((r + y) den), r and den of Boyd's formula at y = t_c; upper: -t_c^2 -
    // ln sqrt(2 pi) + ln(R~(0) + R~(2 t_c)), R~(0) = sqrt(pi/2). The shift is ln(b(s_c)) (or
    // ln(b_max - b(s_c))) minus that, with the two logarithms folded into one. One Mills ratio
    // serves the lane's own model.
    double dmc = 0.0, rc = 0.0, irc = 0.0, idc = 0.0;
    const double rmc = mills_boyd(upper ? 2.0 * tc : tc, dmc, rc, irc, idc);
    const double den_c = (kPi - 1.0) * tc + rc;
    const double ratio_c = (upper ? gc : bc * (rc + tc) * den_c) /
                           (upper ? kSqrtPiOver2 + rmc : kSqrt2OverPi * kTwoPi * tc);
    double shift = log_rough(ratio_c) + tc * tc + (upper ? kLnSqrt2Pi : 0.0);
    shift = atm ? 0.0 : shift;

    // Starting points: the leading term h^2 = -2 ln b below; b_max - b ~ (e^{x/2} + e^{-x/2})
    // N(-s/2) above (exact at the money).
    const double s_low = std::fabs(xs) / std::sqrt(-2.0 * lnb > kTiny ? -2.0 * lnb : kTiny);
    const double pu = gbeta * bms / (bms * bms + 1.0);
    const double s_up = -2.0 * norm_inv_lower(pu > kTiny ? pu : kTiny);
    double s = upper ? (s_up > sc ? s_up : sc) : (s_low < sc ? s_low : sc);
    s = s > kTiny ? s : kTiny;
    w.s[j] = s;
    w.m_target[j] = target;
    w.m_shift[j] = shift;
    w.m_sc[j] = sc;
    w.m_upper[j] = upper ? 1.0 : 0.0;
    // The bracket reaches past s_c on purpose: b(s_c) above is approximate near the money.
    w.lo[j] = upper ? 0.5 * sc : 0.0;
    w.hi[j] = upper ? vmath::kInf : 2.0 * sc;
}

/// Lane j: one Newton step (in ln s) on the initial guess's model; a pass of its own, so that the
/// block's lanes overlap in the pipeline rather than wait on one long dependency chain. The
/// upper model converges in one step from its starting point, the lower one needs about four:
/// with kUpper false, upper lanes keep their s and the second Mills ratio is not computed.
template <bool kUpper>
inline void guess_step(Workspace& w, std::int64_t j) noexcept {
    constexpr double kTwoPi = 6.28318530717958647693;
    const double xs = w.x[j], target = w.m_target[j], shift = w.m_shift[j], sc = w.m_sc[j];
    const bool upper = kUpper & (w.m_upper[j] != 0.0);
    const double inv_sc = 1.0 / (sc > kTiny ? sc : kTiny);
    double s = w.s[j];
    const double s_in = s;
    const double inv_s = 1.0 / s;
    const double t = 0.5 * s, h = xs * inv_s;
    const double a1 = upper ? h + t : -h;
    const double a2 = t - h;
    double dr1 = 0.0, dr2 = 0.0, ry = 0.0, iry = 0.0, idy = 0.0;
    double r2s = 0.0, ir2 = 0.0, id2 = 0.0;
    const double r1 = mills_boyd(a1, dr1, ry, iry, idy);
    const double r2 = kUpper ? mills_boyd(a2, dr2, r2s, ir2, id2) : 0.0;
    // Lower: 1 - y R~(y) = 2 pi / ((r + y)((pi-1) y + r)) with y = a1, and its log-derivative.
    const double amod = kTwoPi * idy / (ry + a1);
    const double arg = upper ? r1 + r2 : kSqrt2OverPi * t * amod;
    const double m = -0.5 * (h * h + t * t) + log_rough(arg) - (upper ? kLnSqrt2Pi : 0.0);
    const double dm_low = 1.0 + a1 * (iry + ((kPi - 1.0) + a1 * iry) * idy);
    const double dm_up = kUpper ? (dr1 * (t - h) + dr2 * (t + h)) / (r1 + r2) : 0.0;
    const double ratio_sc = upper ? sc * inv_s : s * inv_sc;
    const double f = m + shift * ratio_sc - target;
    const double fp = h * h - t * t + (upper ? dm_up : dm_low) +
                      (upper ? -shift * ratio_sc : shift * ratio_sc);
    // Newton in ln s (a step of at most kMaxGuessStep in ln s).
    double d = f / fp;
    d = d > kMaxGuessStep ? kMaxGuessStep : (d < -kMaxGuessStep ? -kMaxGuessStep : d);
    double s_new = s * exp_rough(-d);
    s_new = upper ? (s_new > sc ? s_new : sc) : (s_new < sc ? s_new : sc);
    s = s_new > kTiny ? s_new : s;  // keeps NaN out
    w.s[j] = kUpper | (w.m_upper[j] == 0.0) ? s : s_in;
}

// ---- Initial guess by table, for kTableXMin <= |x| <= kTableXMax (else the model above) ----
//
// The model guess costs four Newton steps because its starting points are poor; a table of the
// exact inverse in well-chosen coordinates gives a guess as good (about 1%) for the price of a
// bilinear interpolation. Coordinates, with zeta = |x|^(1/4) (fine near the money, where the
// lower branch changes fastest):
//   lower branch (s < s_c): omega = sqrt(ln b(s_c) / ln beta), from 0 (beta -> 0) to 1 (beta =
//     b(s_c)); the table holds s/s_c;
//   upper branch: w = s_c/(s_c + s_up), s_up = -2 N^{-1}((b_max - beta)/(b_max + 1/b_max)) (the
//     start of the model guess, exact at the money, so the table holds s/s_up, which is 1 at
//     the money and as s -> inf).
// The table is built on first use, in double precision, from ln b written in log space with
// Mills ratios (no underflow: b(x, s) = Q/sqrt(2 pi) (R(|h| - t) - R(|h| + t)) below s_c and
// b_max - b = Q/sqrt(2 pi) (R(h + t) + R(t - h)) above), by inverse interpolation on dense
// samples of s. It is immutable once built (a function-local static: thread-safe, no state).
constexpr int kTabRows = 33;
constexpr int kTabCols = 33;
// The table covers kTableXMin <= |x| <= kTableXMax. Closer to the money b changes shape with x
// as fast as with s and the rows cannot follow; there, and beyond, the model guess is kept.
constexpr double kTableXMax = 9.0;
constexpr double kTableXMin = 1e-5;
constexpr double kZetaMax = 1.73205080756887729353;  // kTableXMax^(1/4)

constexpr int kBcNodes = 257;

struct GuessTable {
    /// [0 .. R C): lower, s/s_c at (zeta, omega); [R C .. 2 R C): upper, s/s_up at (zeta, w);
    /// row-major, R = kTabRows, C = kTabCols.
    double v[2 * kTabRows * kTabCols];
    /// Per lower row, the smallest omega its samples reached: below it the table is not used
    /// (the leading-order s_low is, about 8% there).
    double omega_min[kTabRows];
    /// b(s_c)/(b_max sqrt|x|) = (1 - erfcx(sqrt|x|))/(2 sqrt|x|) at zeta = k zeta_max/(n-1), for
    /// the branch test (linear interpolation: ~1e-5 relative, which only moves the branch
    /// boundary within the brackets' overlap).
    double bc[kBcNodes];
};

/// Mills ratio R(y) = N(-y)/n(y) for y >= 0.
double mills(double y) noexcept { return kSqrtPiOver2 * erfcx_nonneg(y * kInvSqrt2); }

/// ln b(x, s) for s <= s_c (x < 0): the lower branch in log space.
double log_b_lower(double x, double s) noexcept {
    const double h = x / s, t = 0.5 * s;
    return -0.5 * (h * h + t * t) - kLnSqrt2Pi + vmath::log(mills(-h - t) - mills(t - h));
}

/// ln(b_max - b(x, s)) for s >= s_c: the upper branch in log space.
double log_g_upper(double x, double s) noexcept {
    const double h = x / s, t = 0.5 * s;
    return -0.5 * (h * h + t * t) - kLnSqrt2Pi + vmath::log(mills(h + t) + mills(t - h));
}

/// Fills row[0..kTabCols) with y at the nodes j/(kTabCols-1) of the increasing coordinate x
/// (linear inverse interpolation over the n samples; samples that do not increase are dropped,
/// in place; nodes outside the sampled range get the end values). Returns the smallest
/// coordinate sampled (1 if none).
double fill_row(double* xs, double* ys, int n, double* row) noexcept {
    int m = 0;
    for (int k = 0; k < n; ++k) {
        if (std::isfinite(xs[k]) && std::isfinite(ys[k]) && (m == 0 || xs[k] > xs[m - 1])) {
            xs[m] = xs[k];
            ys[m] = ys[k];
            ++m;
        }
    }
    for (int j = 0; j < kTabCols; ++j) {
        const double q = static_cast<double>(j) / (kTabCols - 1);
        if (m == 0) {
            row[j] = 1.0;
        } else if (q <= xs[0]) {
            row[j] = ys[0];
        } else if (q >= xs[m - 1]) {
            row[j] = ys[m - 1];
        } else {
            const int k = static_cast<int>(std::upper_bound(xs, xs + m, q) - xs);
            const double f = (q - xs[k - 1]) / (xs[k] - xs[k - 1]);
            row[j] = ys[k - 1] + f * (ys[k] - ys[k - 1]);
        }
    }
    return m == 0 ? 1.0 : xs[0];
}

GuessTable build_guess_table() noexcept {
    constexpr int kSamples = 2048;
    constexpr double kUpperMax = 60.0;     // s beyond which s/s_up is 1 to ~|x|/s^2
    constexpr double kLnLowerMin = -16.11809565095832;  // ln(1e-7): smallest s/s_c sampled
    GuessTable tab{};
    double xs[kSamples], ys[kSamples];  // 32 KB of stack, once
    for (int i = 0; i < kTabRows; ++i) {
        // Row 0 stands for x -> 0, where the branch formulas cancel: a small x instead.
        const double zeta = kZetaMax * (i == 0 ? 0.3 : static_cast<double>(i)) / (kTabRows - 1);
        const double x = -(zeta * zeta) * (zeta * zeta);
        const double sc = std::sqrt(-2.0 * x);
        const double ln_bc = log_b_lower(x, sc);
        for (int k = 0; k < kSamples; ++k) {
            // s/s_c from kLowerMin to 1 (geometric), so that small omega are sampled too.
            const double frac = static_cast<double>(k) / (kSamples - 1);
            const double r = vmath::exp(kLnLowerMin * (1.0 - frac));
            xs[k] = std::sqrt(ln_bc / log_b_lower(x, r * sc));
            ys[k] = r;
        }
        tab.omega_min[i] = fill_row(xs, ys, kSamples, &tab.v[i * kTabCols]);
        const double bm = vmath::exp(0.5 * x);
        const double ln_norm = vmath::log(bm + 1.0 / bm);
        const double span = vmath::log(kUpperMax / sc);
        for (int k = 0; k < kSamples; ++k) {
            // s from kUpperMax down to s_c (geometric), so that w increases.
            const double frac = static_cast<double>(k) / (kSamples - 1);
            const double s = sc * vmath::exp(span * (1.0 - frac));
            const double pu = vmath::exp(log_g_upper(x, s) - ln_norm);
            const double s_up = -2.0 * norm_inv_lower(pu > kTiny ? pu : kTiny);
            xs[k] = sc / (sc + s_up);
            ys[k] = s / s_up;
        }
        fill_row(xs, ys, kSamples, &tab.v[(kTabRows + i) * kTabCols]);
    }
    for (int k = 0; k < kBcNodes; ++k) {
        const double zeta = kZetaMax * k / (kBcNodes - 1);
        const double y = zeta * zeta;  // sqrt|x|
        constexpr double kInvSqrtPi = 0.56418958354775628695;
        tab.bc[k] = k == 0 ? kInvSqrtPi : (1.0 - erfcx_nonneg(y)) / (2.0 * y);
    }
    return tab;
}

const GuessTable& guess_table() noexcept {
    static const GuessTable table = build_guess_table();
    return table;
}

/// Whether the lane's x is inside the table's range.
inline bool in_table(double x) noexcept { return (-x <= kTableXMax) & (-x >= kTableXMin); }

/// Whether every active lane of the block lies inside the table.
bool block_in_table(const Workspace& w) noexcept {
    double n_out = 0.0;
#pragma omp simd reduction(+ : n_out)
    for (std::int64_t j = 0; j < kBlock; ++j) {
        n_out += (w.active[j] != 0.0) & !in_table(w.x[j]) ? 1.0 : 0.0;
    }
    return n_out == 0.0;
}

/// Lane j: objective branch, bracket and initial guess from the table (see GuessTable); a lane
/// beyond the table keeps the guess in w.s (the model's).
inline void table_guess(Workspace& w, std::int64_t j) noexcept {
    const double xs = w.x[j], bs = w.beta[j], bms = w.bmax[j];
    const double sc = std::sqrt(-2.0 * xs);
    const bool atm = !(sc > kTiny);
    const double zeta = std::sqrt(sc * kInvSqrt2);  // |x|^(1/4)
    // b(s_c), for the branch, from the table.
    const double* bct = w.bc_table;
    double az = zeta * ((kBcNodes - 1) / kZetaMax);
    az = az < kBcNodes - 1.0 ? az : kBcNodes - 1.0 - 1e-9;
    const int iz = static_cast<int>(az);
    const double bc = bms * (sc * kInvSqrt2) * (bct[iz] + (az - iz) * (bct[iz + 1] - bct[iz]));
    const bool upper = atm | (bs >= bc);
    const double gbeta = bms - bs;
    // Lower lanes have use_g false (beta < b(s_c) < b_max/2): ln_exact is ln beta there.
    const double ln_exact = set_objective(w, j, bs, bms);
    // Table coordinates.
    const double ratio = log_rough(bc > kTiny ? bc : kTiny) / ln_exact;
    const double omega = std::sqrt(ratio > 0.0 ? (ratio < 1.0 ? ratio : 1.0) : 0.0);  // NaN: 0
    const double pu = gbeta * bms / (bms * bms + 1.0);
    const double s_up = -2.0 * norm_inv_lower(pu > kTiny ? pu : kTiny);
    const double den = sc + s_up;
    const double wu = sc / (den > kTiny ? den : kTiny);  // 0 at the money
    double a = zeta * ((kTabRows - 1) / kZetaMax);
    a = a < kTabRows - 1.0 ? a : kTabRows - 1.0 - 1e-9;
    double c = (upper ? wu : omega) * (kTabCols - 1);
    c = c < kTabCols - 1.0 ? (c > 0.0 ? c : 0.0) : kTabCols - 1.0 - 1e-9;
    const int ia = static_cast<int>(a), ic = static_cast<int>(c);
    const double u = a - ia, v = c - ic;
    const int at = static_cast<int>(upper) * (kTabRows * kTabCols) + ia * kTabCols + ic;
    const double* tab = w.table;
    const double val = (tab[at] * (1.0 - u) + tab[at + kTabCols] * u) * (1.0 - v) +
                       (tab[at + 1] * (1.0 - u) + tab[at + kTabCols + 1] * u) * v;
    // Below s_c the leading-order solution s_low = |x| / sqrt(-2 ln beta) is a lower bound of s
    // (the neglected terms of ln b are negative); it takes over where the table's coordinate
    // leaves its sampled range (tiny beta very near the money, where the lower rows end).
    const double s_low = -xs / std::sqrt(-2.0 * ln_exact > kTiny ? -2.0 * ln_exact : kTiny);
    const double* om_min = w.omega_min;
    const double deep_below = om_min[ia] > om_min[ia + 1] ? om_min[ia] : om_min[ia + 1];
    const double s_table = sc * val > s_low ? sc * val : s_low;
    const double s_lower = omega < deep_below ? s_low : s_table;
    double s = upper ? s_up * val : s_lower;
    s = upper ? (s > sc ? s : sc) : (s < sc ? s : sc);
    s = s > kTiny ? s : kTiny;
    const bool in = in_table(xs);
    w.s[j] = in ? s : w.s[j];
    w.lo[j] = in ? (upper ? 0.5 * sc : 0.0) : w.lo[j];
    w.hi[j] = in ? (upper ? vmath::kInf : 2.0 * sc) : w.hi[j];
}

/// One safeguarded Householder step for lane j from b, b_max - b, Q at w.s[j] (in w.b, w.g,
/// w.dq). Lanes that have stopped keep their values; kMayStop false: the evaluation was the
/// first, less precise one (kSmallTFirst), and no lane stops.
template <bool kMayStop>
inline void step(Workspace& w, std::int64_t j) noexcept {
    const double s = w.s[j], x = w.x[j];
    const bool upper = w.use_g[j] != 0.0;
    const double u = upper ? w.g[j] : w.b[j];
    const double db = w.dq[j] * kInvSqrt2Pi;  // b'(s)
    // f = ln(u / u*), not ln u - ln u*: near the root the difference of two logarithms of
    // magnitude |ln u| keeps only eps |ln u| absolutely (8 ulps of a small b at the money); the
    // logarithm of the ratio keeps its own relative accuracy. Far from it (a ratio that
    // over- or underflows) the difference is taken.
    const double ratio = u / w.tval[j];
    const bool in_range = (ratio > kTiny) & (ratio < kHugeRatio);  // false for NaN
    const double f = vmath::log(in_range ? ratio : u) - (in_range ? 0.0 : w.target[j]);
    // f > 0 means b too large (lower: u = b) or too small (upper: u = b_max - b).
    const bool s_too_big = (upper ? -f : f) > 0.0;
    // The first, less precise evaluation does not narrow the bracket either: where the guess is
    // within its error of the root, the sign of f could be wrong.
    double lo = w.lo[j], hi = w.hi[j];
    lo = kMayStop & !s_too_big ? s : lo;
    hi = kMayStop & s_too_big ? s : hi;
    // Householder (order 3) on f = ln u - ln u*: with r = u'/u, k2 = b''/b', k3 = b'''/b',
    // f' = r, f''/f' = k2 - r, f'''/f' = k3 - 3 r k2 + 2 r^2.
    const double rr = (upper ? -db : db) / u;
    const double inv_s = 1.0 / s;
    const double x2s = x * x * inv_s * inv_s * inv_s;
    const double k2 = x2s - 0.25 * s;
    const double k3 = k2 * k2 - 3.0 * x2s * inv_s - 0.25;
    const double nu = -f / rr;
    const double h2 = k2 - rr;
    const double h3 = k3 - 3.0 * rr * k2 + 2.0 * rr * rr;
    const double delta = nu * (1.0 + 0.5 * h2 * nu) / (1.0 + h2 * nu + h3 * nu * nu / 6.0);
    double s_new = s + delta;
    // Equality allowed: lo or hi is the s just evaluated, and a converged step may round to it.
    const bool inside = (s_new >= lo) & (s_new <= hi) & (s_new > 0.0);  // false for NaN
    const double bisect = hi < vmath::kInf ? (lo > 0.0 ? std::sqrt(lo * hi) : 0.5 * hi) : 2.0 * s;
    s_new = inside ? s_new : bisect;
    const bool done = kMayStop & inside & (std::fabs(delta) <= kConvergedStep * s);
    const bool on = w.active[j] != 0.0;
    w.s[j] = on ? s_new : s;
    w.lo[j] = on ? lo : w.lo[j];
    w.hi[j] = on ? hi : w.hi[j];
    w.active[j] = on & !done ? 1.0 : 0.0;
}

/// Runs fn on every lane of the block, vectorized. (Not inlined on purpose: inlined into the
/// function that owns the workspace, GCC 13 finds "no vectype" for the loads and gives up.)
template <void (*Fn)(Workspace&, std::int64_t) noexcept>
[[gnu::noinline]] void for_lanes(Workspace& w) noexcept {
#pragma omp simd simdlen(16)
    for (std::int64_t j = 0; j < kBlock; ++j) {
        Fn(w, j);
    }
}

double count_active(const Workspace& w) noexcept {
    double n = 0.0;
#pragma omp simd reduction(+ : n)
    for (std::int64_t j = 0; j < kBlock; ++j) {
        n += w.active[j];
    }
    return n;
}

}  // namespace

void implied_vol_range(const ImpliedVolIn& in, const ImpliedVolOut& out, std::int64_t begin,
                       std::int64_t end) noexcept {
    Workspace w;  // NOLINT: filled before use
    const GuessTable& table = guess_table();
    w.table = table.v;
    w.bc_table = table.bc;
    w.omega_min = table.omega_min;
    for (std::int64_t i0 = begin; i0 < end; i0 += kBlock) {
        const std::int64_t len = end - i0 < kBlock ? end - i0 : kBlock;
        load(w.p, in.price, i0, len);
        load(w.spot, in.spot, i0, len);
        load(w.k, in.strike, i0, len);
        load(w.t, in.t, i0, len);
        load(w.r, in.rate, i0, len);
        load(w.q, in.div, i0, len);
        load_sign(w.phi, in.is_call, i0, len);
        // Every loop runs over the whole block (the tail of the last one is padded with invalid
        // lanes), so that each element goes through the same vector code wherever it sits:
        // results do not depend on the block or thread split, to the last bit.
        for (std::int64_t j = len; j < kBlock; ++j) {
            w.p[j] = vmath::kNaN;
            w.spot[j] = w.k[j] = w.t[j] = 1.0;
            w.r[j] = w.q[j] = 0.0;
            w.phi[j] = 1.0;
        }

        for_lanes<setup>(w);
        // Lanes beyond the table take the model guess (computed only in blocks that have
        // some), every other lane the table's: which one a lane gets depends on its own x only.
        if (!block_in_table(w)) {
            for_lanes<initial_guess>(w);
            for_lanes<guess_step<true>>(w);
            for (int it = 1; it < kGuessIterations; ++it) {
                for_lanes<guess_step<false>>(w);
            }
        }
        for_lanes<table_guess>(w);
        for (int it = 0; it < kMaxIterations && count_active(w) > 0.0; ++it) {
            const bool first = it == 0;
            evaluate(w, first ? kSmallTFirst : kSmallT, !first);
            if (first) {
                for_lanes<step<false>>(w);
            } else {
                for_lanes<step<true>>(w);
            }
        }

        double* __restrict vol = out.vol + i0;
#pragma omp simd simdlen(16)
        for (std::int64_t j = 0; j < len; ++j) {
            double st = w.status[j];
            // At the forward (x = 0) the normalised price is erf(s / sqrt 8) =
            // s / sqrt(2 pi) (1 - s^2 / 24 + ...): for a time value below 1e-8 that is
            // s = sqrt(2 pi) beta to the last bit. The iteration, whose guesses are built for
            // larger s, could end there at the smallest normal number instead (a vol of 1e-308
            // for a price of 1e-15 on a spot of 100).
            const bool atm_tiny = (st == kStOk) & (w.x[j] == 0.0) & (w.beta[j] < 1e-8);
            const double s_final = atm_tiny ? kSqrt2Pi * w.beta[j] : w.s[j];
            st = st == kStOk && w.active[j] != 0.0 && !atm_tiny ? kStNotConverged : st;
            // The attainable accuracy eps max(1, B/(s B')), B' = Q/sqrt(2 pi) at the last
            // evaluation (a step of at most 1e-5 away): a vol the price pins down only loosely
            // (a time value of a few ulps of the price, or a price at its maximum) says so.
            const double slope = w.s[j] * w.dq[j] * kInvSqrt2Pi;  // s dB/ds
            st = (st == kStOk) & !atm_tiny & (kEps * w.pn[j] > kImpreciseAccuracy * slope)
                     ? kStImprecise
                     : st;
            // s / sqrt(t) to about half an ulp: the roundings of the square root and of the
            // division put back (an ulp of the vol where the price determines it to one).
            // (One division: v0 = s/sqrt(t) within an ulp, then the residual.)
            const double st_root = std::sqrt(w.t[j]);
            const double inv_st = 1.0 / st_root;
            const double v0 = s_final * inv_st;
            const double st_err = residual(w.t[j], st_root, st_root) * (0.5 * inv_st);
            const double v_fix = (residual(s_final, v0, st_root) - v0 * st_err) * inv_st;
            // NaN, inf, 0, or out of range (t subnormal: inv_st overflows): v0 as it is.
            const bool v_ok = std::fabs(v_fix) <= 1e-10 * v0;
            const double v = v_ok ? v0 + v_fix : v0;
            // A vol below the normal double range (s / sqrt t underflows: spot 1e174 with
            // t 1e300, or a subnormal price) is out of range like the normalisation above:
            // invalid input, not a vol of 0 or a subnormal no price formula can use.
            st = ((st == kStOk) | (st == kStImprecise)) & !(v >= kTiny) ? kStInvalid : st;
            vol[j] = (st == kStOk) | (st == kStImprecise) ? v : (st == kStAt ? 0.0 : vmath::kNaN);
            w.status[j] = st;
        }
        if (out.status != nullptr) {
            std::int8_t* __restrict status = out.status + i0;
            for (std::int64_t j = 0; j < len; ++j) {
                status[j] = static_cast<std::int8_t>(w.status[j]);
            }
        }
    }
}

void normalised_black(const double* x, const double* s, double* b, std::int64_t n) noexcept {
#pragma omp simd simdlen(16)
    for (std::int64_t i = 0; i < n; ++i) {
        const double xi = x[i];
        const double ax = std::fabs(xi);
        const double bm = vmath::exp(-0.5 * ax);
        // Every region is evaluated here, so the flags need no agreement with another loop.
        const double si = s[i], t = 0.5 * si;
        const double h = h_of(-ax, 1.0 / si);
        const bool asym = in_asymptotic(h, t);
        const bool small = !asym & (t < kSmallT);
        const bool split = !asym & !small & erfcx_split(h, t);
        const Black bl = normalised_call<kRegionAll>(-ax, 0.0, si, 0.0, bm, asym, small, split);
        b[i] = xi > 0.0 ? bl.b + two_sinh_half(ax, bm) : bl.b;
    }
}

}  // namespace gammaext::GAMMAEXT_ISA_NS
