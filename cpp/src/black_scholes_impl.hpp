// The Greek kernel's implementation, shared by the per-instruction-set translation units
// (black_scholes_kernel.cpp, exact normal) and pine_math.cpp (the TradingView script's
// arithmetic). The including file defines GAMMAEXT_ISA_NS; everything here has internal linkage,
// so translation units built with different flags never share an instantiation.
//
// Work is done in blocks of kBlock elements that stay in L1:
//   1. the six inputs are read in place (broadcast scalars from a block-sized buffer), the
//      call/put flags are turned into signs;
//   2. one vectorized pass checks the inputs (the report's counts, and a "poison" term that is
//      0 for valid elements and NaN otherwise) and computes what every Greek shares: sqrt(t),
//      vol sqrt(t), d1, d2, the density n(d1); then the discount factors and (only if a
//      requested output needs it) N(phi d1) and N(phi d2);
//   3. where the price or theta is requested, the careful price in the lanes whose direct price
//      S N(d1) - K N(d2) would lose digits (see mark_careful; ExactMath only);
//   4. one short vectorized pass per requested output.
// The Python layer copies an input that shares memory with an out= buffer.
#pragma once

#include <cmath>
#include <cstdint>

#include "gammaext/black_scholes.hpp"
#include "gammaext/vmath.hpp"
#include "normalised_black.hpp"

#include "gammaext/lanes.hpp"

#ifdef __AVX512F__
#include <utility>
#endif

#ifndef GAMMAEXT_ISA_NS
#error "define GAMMAEXT_ISA_NS before including black_scholes_impl.hpp"
#endif

namespace gammaext::GAMMAEXT_ISA_NS {
namespace {

constexpr std::int64_t kBlock = kGreeksBlock;  // 12 work arrays + 6 broadcasts: 18 KiB, in L1
constexpr double kPercentRate = 1.0;  // |rate| or |div| above 100% per year looks like percent
constexpr double kPercentVol = 10.0;  // vol above 1000% looks like percent
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

/// The full-precision policy: our vectorizable exp/log/erfc.
struct ExactMath {
    /// Prices (and theta) are re-evaluated through the normalised Black function in the lanes
    /// where the direct formula would lose digits (see mark_careful).
    static constexpr bool kCareful = true;
    /// The input checks share the shared terms' vectorized pass (see shared_terms).
    static constexpr bool kOnePass = true;
    static GAMMAEXT_ALWAYS_INLINE double log(double x) noexcept { return vmath::log(x); }
    static GAMMAEXT_ALWAYS_INLINE double exp(double x) noexcept { return vmath::exp(x); }
    /// exp(-x^2/2): shared by the density and the CDF of the same argument (kTail = false: for
    /// |x| <= kCdfTailStart only, the same bits with less work).
    template <bool kTail = true>
    static GAMMAEXT_ALWAYS_INLINE double gauss(double x) noexcept {
        return vmath::half_gauss<kTail>(x);
    }
    static GAMMAEXT_ALWAYS_INLINE double pdf_from(double g) noexcept { return kInvSqrt2Pi * g; }
    template <bool kTail>
    static GAMMAEXT_ALWAYS_INLINE double cdf_from(double x, double g) noexcept {
        return vmath::norm_cdf_from<kTail>(x, g);
    }
    /// d1 = ln(F/K) / (vol sqrt t) + vol sqrt t / 2.
    static GAMMAEXT_ALWAYS_INLINE double d1(double log_sk, double r, double q, double vol,
                                            double t, double sig_t) noexcept {
        (void)vol;
        return (log_sk + (r - q) * t) / sig_t + 0.5 * sig_t;
    }
};

/// a * b, but exactly 0 when a is 0 (a density that vanished), even if b is infinite.
inline double mul0(double a, double b) noexcept { return a == 0.0 ? 0.0 : a * b; }

struct Workspace {
    alignas(64) double phi[kBlock], poison[kBlock];
    alignas(64) double sqrt_t[kBlock], sig_t[kBlock], d1[kBlock], d2[kBlock];
    alignas(64) double dq[kBlock], dr[kBlock], g1[kBlock], pdf[kBlock], n1[kBlock], n2[kBlock];
    // The careful price (kCareful only; see mark_careful): 1 in the lanes that need it, their
    // price and S e^{-qt} n(d1) from the normalised function (0 elsewhere).
    // careful_dd1: the exact d1 less the rounded one (w.d1), for theta's S e^{-qt} N(phi d1).
    alignas(64) double care[kBlock], careful[kBlock], careful_dens[kBlock], careful_dd1[kBlock];
    // The direct price's first-order correction for the roundings of vol sqrt t and of d2
    // (kCareful only; see mark_careful).
    alignas(64) double direct_fix[kBlock];
};

/// The careful lanes of a block, packed (see careful_price): their inputs, the reduced problem
/// (x <= 0 and s = vol sqrt t as double-doubles, e^{x/2}, in the money or not), the region of
/// the normalised function, the prefactor sqrt(F K) e^{-rt} and intrinsic value, and b; then
/// the lanes of one region, packed again.
struct CarefulScratch {
    static constexpr std::int64_t kLen = kBlock + 8;  // slack: AVX-512 packs whole vectors
    int lane[kBlock], member[kBlock];
    alignas(64) double s[kLen], k[kLen], t[kLen], v[kLen], r[kLen], q[kLen];
    alignas(64) double dq[kLen], dr[kLen];
    alignas(64) double phi[kLen], xn[kLen], xn_lo[kLen], s_hi[kLen], s_lo[kLen];
    alignas(64) double bm[kLen], region[kLen], norm[kLen], intrinsic[kLen], b[kLen];
    alignas(64) double gauss[kLen], split[kLen];  // Q = exp(-(h^2 + t^2)/2), see erfcx_split
    alignas(64) double d1[kLen], dd1[kLen];  // the rounded d1 (w.d1), and its error
    alignas(64) double rx[kLen], rx_lo[kLen], rs[kLen], rs_lo[kLen], rbm[kLen], rsp[kLen];
    alignas(64) double rb[kLen], rq[kLen];
};

/// Where a block reads an input from: the caller's array, or a block-sized buffer holding the
/// broadcast value (filled once per call), so that every inner loop sees contiguous memory.
class Source {
public:
    explicit Source(const Column& col) noexcept : col_(col) {
        if (col_.broadcast) {
            for (double& x : fill_) {
                x = col_.data[0];
            }
        }
    }
    [[nodiscard]] const double* block(std::int64_t i0) const noexcept {
        return col_.broadcast ? fill_ : col_.data + i0;
    }

private:
    Column col_;
    alignas(64) double fill_[kBlock];
};

void load_sign(double* __restrict dst, const FlagColumn& col, std::int64_t i0,
               std::int64_t len) noexcept {
    const std::uint8_t* __restrict src = col.data + (col.broadcast ? 0 : i0);
    if (col.broadcast) {
        const double x = src[0] != 0 ? 1.0 : -1.0;
        for (std::int64_t j = 0; j < len; ++j) {
            dst[j] = x;
        }
        return;
    }
#pragma omp simd
    for (std::int64_t j = 0; j < len; ++j) {
        // numpy bools are 0 or 1; integer arithmetic (not a select) lets GCC vectorize this.
        const int flag = src[j];
        dst[j] = static_cast<double>(2 * flag - 1);
    }
}

/// Inputs and outputs of a last, partial block, padded to a whole block.
struct TailBlock {
    alignas(64) double in[6][kBlock];
    alignas(64) double out[kNumGreeks][kBlock];

    /// The first len values of src, then copies of src[0].
    const double* pad(int column, const double* src, std::int64_t len) noexcept {
        double* dst = in[column];
        for (std::int64_t j = 0; j < kBlock; ++j) {
            dst[j] = src[j < len ? j : 0];
        }
        return dst;
    }

    void copy_out(const GreeksOut& o, std::int64_t i0, std::int64_t len) const noexcept {
        for (int g = 0; g < kNumGreeks; ++g) {
            if (double* p = o.out[static_cast<std::size_t>(g)]; p != nullptr) {
                for (std::int64_t j = 0; j < len; ++j) {
                    p[i0 + j] = out[g][j];
                }
            }
        }
    }
};

/// Whether any output needs N(phi d2) (and e^{-rt}): price, theta, rho, dual delta.
bool needs_n2(const GreeksOut& out) noexcept {
    for (const Greek g : {Greek::price, Greek::theta, Greek::rho, Greek::dual_delta}) {
        if (out.out[static_cast<int>(g)] != nullptr) {
            return true;
        }
    }
    return false;
}

bool needs_cdf(const GreeksOut& out) noexcept {
    for (const Greek g : {Greek::price, Greek::delta, Greek::theta, Greek::rho, Greek::epsilon,
                          Greek::charm, Greek::dual_delta}) {
        if (out.out[static_cast<int>(g)] != nullptr) {
            return true;
        }
    }
    return false;
}

/// d[j] = exp(-rate[j] t[j]), vectorized over a whole block.
template <class M>
void discount(double* __restrict d, const double* __restrict rate,
              const double* __restrict t) noexcept {
#pragma omp simd
    for (std::int64_t j = 0; j < kBlock; ++j) {
        d[j] = M::exp(-rate[j] * t[j]);
    }
}

/// The discount factors of a call: when the rate (or yield) and t are both scalars, as for a
/// chain with one expiry, they are computed for one block at the start (by the same vector
/// code, so the bits are those of the general case) and reused.
template <class M>
class Discount {
public:
    Discount(const Column& rate, const Column& t, const double* rate_fill,
             const double* t_fill) noexcept
        : constant_(rate.broadcast && t.broadcast) {
        if (constant_) {
            discount<M>(fixed_, rate_fill, t_fill);
        }
    }
    /// The factors of a block: the precomputed ones, or computed into scratch.
    const double* block(double* __restrict scratch, const double* __restrict rate,
                        const double* __restrict t) const noexcept {
        if (constant_) {
            return fixed_;
        }
        discount<M>(scratch, rate, t);
        return scratch;
    }

private:
    bool constant_;
    alignas(64) double fixed_[kBlock];
};

/// N(phi d1) and N(phi d2) into w.n1, w.n2 (which hold the point-mass step on entry); with
/// kN2 false N(phi d1) only (no requested output needs the other: delta, gamma, vega...), by
/// the same per-element code, so its bits are those of the pair.
/// exp(-d2^2/2) is computed from d2 itself (an exp), not as exp(-d1^2/2) F/K: that identity
/// holds for the exact d1 and F/K, and with the rounded ones the factor of N(phi d2) carried
/// the roundings of ln(S/K), (r - q) t, d1 and F/K (up to |d1 s| + s^2 + |(r - q) t| ulps),
/// which the price's error bound then had to cover (see mark_careful).
template <class M, bool kTail, bool kN2>
void cdf_pair(Workspace& w, std::int64_t len) noexcept {
    if constexpr (!kN2) {
#pragma omp simd
        for (std::int64_t j = 0; j < len; ++j) {
            const bool degenerate = !(w.sig_t[j] > 0.0);
            const double step = w.n1[j];
            w.n1[j] = degenerate ? step : M::template cdf_from<kTail>(w.phi[j] * w.d1[j], w.g1[j]);
        }
    } else {
#pragma omp simd
        for (std::int64_t j = 0; j < len; ++j) {
            const bool degenerate = !(w.sig_t[j] > 0.0);
            const double step = w.n1[j];
            const double d2 = w.d2[j];
            const double g2 = M::template gauss<kTail>(d2);
            w.n1[j] = degenerate ? step : M::template cdf_from<kTail>(w.phi[j] * w.d1[j], w.g1[j]);
            w.n2[j] = degenerate ? step : M::template cdf_from<kTail>(w.phi[j] * d2, g2);
        }
    }
}

// ---- The careful price -------------------------------------------------------------------------
//
// phi (N(phi d1) S e^{-qt} - N(phi d2) K e^{-rt}) loses digits where its two terms are close
// (far out of the money in units of vol sqrt t, in the money near the forward, at the money
// with small vol sqrt t) and where N is steep relative to its value (phi d < 0: the relative
// error of N(phi d) is |d| times the absolute error of d, itself ~eps |ln(F/K)|/(vol sqrt t)).
// The price is also sqrt(F K) e^{-rt} B(x, s), with x = ln(F/K), s = vol sqrt t and the
// normalised price B = b(-|x|, s) + [phi x > 0] 2 sinh(|x|/2) (put-call parity in normalised
// form; b is Jaeckel's normalised out-of-the-money call, normalised_black.hpp), and that form
// loses nothing: b is good to a few ulps in all four regions, 2 sinh(|x|/2) to about two, with
// x and s taken as double-doubles (the exponent of b amplifies their rounding by (x/s)^2), and
// sqrt(F K) e^{-rt} = sqrt(S e^{-qt}) sqrt(K e^{-rt}) costs a few roundings.
// It costs more than the direct formula, so a lane takes it only where an error bound of the
// direct formula exceeds kCareUlps ulps of the price, and a block only if one of its lanes
// does (mark_careful).

// Error of each direct term N(phi d) S e^{-qt} per ulp of the term, with the direct price's
// correction of mark_careful (calibrated against 40-digit mpmath on compare_greeks' grid and the
// cancelling grid of tests/test_greeks.py, calls and puts, each instruction set: the corrected
// direct price's error reached 1.41 (AVX-512) to 1.50 (baseline) ulps of T1 + T2 + P, mostly the
// normal CDF's own rounding; with 1.5 the worst direct price measured 10.7 ulps. 1.0 was the
// calibration before the correction, when the bound's term for the roundings of s and d2 gave it
// the margin; a worst-case count of every rounding would send nearly every lane down the
// careful path).
constexpr double kTermUlps = 1.5;
// The direct price is kept where the bound below is at most this many ulps of the price.
constexpr double kCareUlps = 12.0;
// Below this a probability or a term is subnormal: its relative error is unbounded.
constexpr double kSmallestNormal = 0x1p-1022;

/// w.care[j] = 1 where the direct price may be off by more than kCareUlps ulps, for point
/// masses, and (density) where theta's density would be; returns how many lanes are. Also
/// w.direct_fix[j], the direct price's correction for the two roundings that move one of its
/// terms alone. The bound, in ulps of the price: kTermUlps (T1 + T2) + |T1 - T2| (its own
/// rounding), over |T1 - T2| (T1, T2 the two terms). An error in x = ln(F/K) or in d1 shifts
/// d1 and d2 alike, and since S e^{-qt} n(d1) = K e^{-rt} n(d2) the two terms move by the same
/// amount: the price does not change to first order (this needs each N(phi d) to take its
/// Gaussian factor from its own d, see cdf_pair). Only the roundings of s = vol sqrt t (s_lo,
/// Dekker) and of d2 = d1 - s (e2, a two-sum) move one term alone; the price at the exact s
/// and d2 is the direct one plus S e^{-qt} n(d1) (s_lo - e2) (vega in s, and dP/dd2 =
/// -K e^{-rt} n(d2)), to first order. Without that correction the bound had a term
/// S e^{-qt} n(d1) (|d2| + 2s) for them: 41% of compare_greeks' calls went down the careful
/// path then, 33% now (price alone). The bound holds for normal numbers only: a lane where
/// N(phi d1), N(phi d2) or a term is subnormal (or 0) is careful (far out of the money with a
/// large vol sqrt t, e.g. d2 = -38.5: that term's digits are gone while the price is 1e-217).
double mark_careful(Workspace& w, const double* __restrict s, const double* __restrict k,
                    const double* __restrict t, const double* __restrict v,
                    const double* __restrict dq, const double* __restrict dr,
                    bool density) noexcept {
    double n_care = 0.0;
#pragma omp simd reduction(+ : n_care)
    for (std::int64_t j = 0; j < kBlock; ++j) {
        const double sig = w.sig_t[j], d1 = w.d1[j], d2 = w.d2[j];
        const double t1 = w.n1[j] * s[j] * dq[j], t2 = w.n2[j] * k[j] * dr[j];
        const double bound = kTermUlps * (t1 + t2) + std::fabs(t1 - t2);
        const double s_lo = normalised::total_deviation_lo(v[j], t[j], w.sqrt_t[j], sig);
        const double d2_v = d2 - d1;  // two-sum: e2 = d1 - sig - d2 exactly
        const double e2 = (d1 - (d2 - d2_v)) + (-sig - d2_v);
        w.direct_fix[j] = mul0(w.pdf[j], s[j] * dq[j] * (s_lo - e2));
        // A point mass (vol sqrt t = 0) is always careful: its price, D max(phi (F - K), 0), is
        // then formed as the implied-vol kernel forms the intrinsic value, which so recognises
        // it (IVStatus::at_intrinsic), and it cancels near the forward too.
        // With density (theta requested), also where n(d1) loses more than kCareUlps ulps to the
        // rounding of d1 (up to about 2 d1^2 ulps; the careful lanes take it from Q).
        const bool underflow = (w.n1[j] < kSmallestNormal) | (w.n2[j] < kSmallestNormal) |
                               (t1 < kSmallestNormal) | (t2 < kSmallestNormal);
        const bool care = (bound > kCareUlps * std::fabs(t1 - t2)) | !(sig > 0.0) | underflow |
                          (density & (2.0 * d1 * d1 > kCareUlps));
        w.care[j] = care ? 1.0 : 0.0;
        n_care += care ? 1.0 : 0.0;
    }
    return n_care;
}



constexpr double kRegionPoint = 0.0;  // vol sqrt t = 0 (or invalid): no time value
constexpr double kRegionAsym = 1.0;
constexpr double kRegionSmall = 2.0;
constexpr double kRegionMid = 3.0;  // erfcx difference or direct

/// Packed lanes [0, m): the reduced problem, the region, the prefactor and intrinsic value.
void careful_setup(CarefulScratch& c, int m) noexcept {
#pragma omp simd
    for (int i = 0; i < m; ++i) {
        double x_lo = 0.0, s_lo = 0.0;
        const double x =
            normalised::forward_log_moneyness<true>(c.s[i], c.k[i], c.t[i], c.r[i], c.q[i],
                                                      x_lo);
        const double sd = normalised::total_deviation(c.v[i], c.t[i], s_lo);
        const double xn = -std::fabs(x);
        const double xn_lo = x > 0.0 ? -x_lo : x_lo;  // |x| = -(xn + xn_lo)
        // e^{x/2} with x's low part: |x|/2 times the rounding of x would cost up to 20 ulps of
        // b_max (and of the price through the direct region) at |x| = 75.
        const double bm = vmath::exp_hl(0.5 * xn, 0.5 * xn_lo);
        c.xn[i] = xn;
        c.xn_lo[i] = xn_lo;
        c.s_hi[i] = sd;
        c.s_lo[i] = s_lo;
        c.bm[i] = bm;
        const double half = 0.5 * sd, h = normalised::h_of(xn, 1.0 / sd);
        const bool asym = normalised::in_asymptotic(h, half);
        const bool small = !asym & (half < normalised::kSmallT);
        c.split[i] = !asym & !small & normalised::erfcx_split(h, half) ? 1.0 : 0.0;
        const double region = asym ? kRegionAsym : (small ? kRegionSmall : kRegionMid);
        c.region[i] = sd > 0.0 ? region : kRegionPoint;
        // 2 sinh(|x|/2) in the money, else 0: below |x| = 1 the series in the rounded |x| plus
        // the low part of |x| times the derivative cosh(|x|/2); above, 1/b_max - b_max (whose
        // b_max has the low part already).
        const double series_lo = -xn < 1.0 ? -xn_lo * 0.5 * (bm + 1.0 / bm) : 0.0;
        const double intrinsic = normalised::two_sinh_half(-xn, bm) + series_lo;
        c.intrinsic[i] = c.phi[i] * x > 0.0 ? intrinsic : 0.0;
        c.norm[i] = std::sqrt(c.s[i] * c.dq[i]) * std::sqrt(c.k[i] * c.dr[i]);  // D sqrt(F K)
        // d1 = (x + x_lo)/(sd + s_lo) + (sd + s_lo)/2 less the kernel's rounded d1: the
        // residual of x/sd (Dekker) and the low parts, then a two-sum with sd/2. Far from the
        // money N(phi d1) inherits d1's rounding times |d1| (theta's S e^{-qt} N(phi d1) term:
        // thousands of ulps of theta at d1 = 20 with a carry); N(phi d1) + phi dd1 n(d1)
        // puts it back (second order: dd1^2 |d1|, below 1e-26).
        const double hx = x / sd;
        const double hx1 = normalised::head26(hx), hx2 = hx - hx1;
        const double sd1 = normalised::head26(sd), sd2 = sd - sd1;
        const double hres = (((x - hx1 * sd1) - hx1 * sd2) - hx2 * sd1) - hx2 * sd2;
        const double hx_lo = (hres + (x_lo - hx * s_lo)) / sd;
        const double d1_hi = hx + half;
        const double d1_v = d1_hi - hx;
        const double d1_err = (hx - (d1_hi - d1_v)) + (half - d1_v);
        const double dd1 = (d1_hi - c.d1[i]) + (d1_err + (hx_lo + 0.5 * s_lo));
        c.dd1[i] = std::fabs(dd1) < 1.0 ? dd1 : 0.0;  // point masses, NaN: no correction
        c.b[i] = 0.0;  // the time value of a point mass, and its density
        c.gauss[i] = 0.0;
    }
}

/// b(x, s) of the packed lanes in region R (normalised::kRegion*), packed once more.
template <unsigned R>
void careful_region(CarefulScratch& c, int m, double region) noexcept {
#ifdef __AVX512F__
    __mmask8 masks[kBlock / 8];
    const int n = lanes::select<_CMP_EQ_OQ>(c.region, region, m, masks);
    if (n == 0) {
        return;
    }
    const int np = lanes::padded(n);
    for (const auto& [from, to] : {std::pair{c.xn, c.rx}, std::pair{c.xn_lo, c.rx_lo},
                                   std::pair{c.s_hi, c.rs}, std::pair{c.s_lo, c.rs_lo},
                                   std::pair{c.bm, c.rbm}, std::pair{c.split, c.rsp}}) {
        lanes::pack(from, to, masks, m, n, np);
    }
#else
    int n = 0;
    for (int i = 0; i < m; ++i) {  // branch-free: the regions of random lanes are unpredictable
        c.member[n] = i;
        n += c.region[i] == region ? 1 : 0;
    }
    if (n == 0) {
        return;
    }
    const int np = lanes::pad_indices(c.member, n);
    for (int i = 0; i < np; ++i) {
        const int from = c.member[i];
        c.rx[i] = c.xn[from];
        c.rx_lo[i] = c.xn_lo[from];
        c.rs[i] = c.s_hi[from];
        c.rs_lo[i] = c.s_lo[from];
        c.rbm[i] = c.bm[from];
        c.rsp[i] = c.split[from];
    }
#endif
    constexpr bool kAsym = R == normalised::kRegionAsymptotic;
    constexpr bool kSmall = R == normalised::kRegionSmallT;
    const double* __restrict split = c.rsp;
#pragma omp simd
    for (int i = 0; i < np; ++i) {
        const normalised::Black bl = normalised::normalised_call<R>(
            c.rx[i], c.rx_lo[i], c.rs[i], c.rs_lo[i], c.rbm[i], kAsym, kSmall, split[i] != 0.0);
        c.rb[i] = bl.b;
        c.rq[i] = bl.dq;
    }
#ifdef __AVX512F__
    lanes::unpack<false>(c.rb, c.b, masks, m);
    lanes::unpack<false>(c.rq, c.gauss, masks, m);
#else
    for (int i = 0; i < n; ++i) {
        c.b[c.member[i]] = c.rb[i];
        c.gauss[c.member[i]] = c.rq[i];
    }
#endif
}

/// w.careful[j] = sqrt(S e^{-qt}) sqrt(K e^{-rt}) B(x, s) in the lanes with w.care[j] set (0 in
/// the others). The careful lanes are packed, then packed again per region of the normalised
/// function, so that each lane costs the formulas of its own region only.
void careful_price(Workspace& w, CarefulScratch& c, const double* __restrict s,
                   const double* __restrict k, const double* __restrict t,
                   const double* __restrict v, const double* __restrict r,
                   const double* __restrict q, const double* __restrict dq,
                   const double* __restrict dr) noexcept {
#ifdef __AVX512F__
    constexpr int kLanes = static_cast<int>(kBlock);
    __mmask8 masks[kBlock / 8];
    const int n = lanes::select<_CMP_NEQ_UQ>(w.care, 0.0, kLanes, masks);
    const int m = lanes::padded(n);
    for (const auto& [from, to] : {std::pair{s, c.s}, std::pair{k, c.k}, std::pair{t, c.t},
                                   std::pair{v, c.v}, std::pair{r, c.r}, std::pair{q, c.q},
                                   std::pair{static_cast<const double*>(w.phi), c.phi},
                                   std::pair{dq, c.dq}, std::pair{dr, c.dr},
                                   std::pair{static_cast<const double*>(w.d1), c.d1}}) {
        lanes::pack(from, to, masks, kLanes, n, m);
    }
#else
    int n = 0;
    for (int j = 0; j < static_cast<int>(kBlock); ++j) {  // branch-free, as in careful_region
        w.careful[j] = 0.0;
        w.careful_dd1[j] = 0.0;
        c.lane[n] = j;
        n += w.care[j] != 0.0 ? 1 : 0;
    }
    const int m = lanes::pad_indices(c.lane, n);
    for (int i = 0; i < m; ++i) {
        const int j = c.lane[i];
        c.s[i] = s[j];
        c.k[i] = k[j];
        c.t[i] = t[j];
        c.v[i] = v[j];
        c.r[i] = r[j];
        c.q[i] = q[j];
        c.phi[i] = w.phi[j];
        c.dq[i] = dq[j];
        c.dr[i] = dr[j];
        c.d1[i] = w.d1[j];
    }
#endif
    careful_setup(c, m);
    careful_region<normalised::kRegionAsymptotic>(c, m, kRegionAsym);
    careful_region<normalised::kRegionSmallT>(c, m, kRegionSmall);
    careful_region<normalised::kRegionErfcx | normalised::kRegionSplit | normalised::kRegionNear>(
        c, m, kRegionMid);
    // The price, and S e^{-qt} n(d1) = D sqrt(F K) Q/sqrt(2 pi) (for theta: the density of the
    // direct formula inherits the error of d1, 300 ulps at d1 = 17).
#pragma omp simd
    for (int i = 0; i < m; ++i) {
        c.b[i] = c.norm[i] * (c.intrinsic[i] + c.b[i]);
        c.gauss[i] = c.norm[i] * c.gauss[i] * kInvSqrt2Pi;
    }
#ifdef __AVX512F__
    // (careful_dens is read only in the careful lanes: the others keep what they hold, as in
    // the scalar path below)
    lanes::unpack<true>(c.b, w.careful, masks, kLanes);
    lanes::unpack<false>(c.gauss, w.careful_dens, masks, kLanes);
    lanes::unpack<true>(c.dd1, w.careful_dd1, masks, kLanes);
#else
    for (int i = 0; i < n; ++i) {
        w.careful[c.lane[i]] = c.b[i];
        w.careful_dens[c.lane[i]] = c.gauss[i];
        w.careful_dd1[c.lane[i]] = c.dd1[i];
    }
#endif
}

/// Writes f(j) + poison[j] for j < len into o (if requested).
template <class F>
inline void emit(double* o, const Workspace& w, std::int64_t len, F f) noexcept {
    if (o == nullptr) {
        return;
    }
#pragma omp simd
    for (std::int64_t j = 0; j < len; ++j) {
        o[j] = f(j) + w.poison[j];
    }
}

/// Steps 1 and 2 of a block. Step 1 (kChecks), the checks: NaN to add to every output
/// (w.poison: NaN for invalid or NaN inputs, 0 otherwise) and the report's counts and first
/// invalid index, from lanes [0, len) only (the others pad a partial block). Step 2 (kTerms),
/// the terms every output shares: sqrt t, vol sqrt t, d1, d2, the density and, where the
/// distribution is a point mass, the step H(phi (F - K)) as N1. Both in one pass where the
/// terms vectorize (M::kOnePass): each input is loaded once, the bad lanes need no array of
/// their own, and the pass also returns the tail test (see tail_test); the arithmetic of
/// either step is the same in one pass or two, so are its bits.
template <class M, bool kChecks, bool kTerms>
GAMMAEXT_ALWAYS_INLINE bool shared_terms(Workspace& w, InputReport& report,
                                         const double* __restrict s, const double* __restrict k,
                                         const double* __restrict t, const double* __restrict v,
                                         const double* __restrict r, const double* __restrict q,
                                         std::int64_t i0, std::int64_t len) noexcept {
    constexpr int kLanes = static_cast<int>(kBlock);
    constexpr double kNone = kLanes;
    // Counts, the first invalid lane and the largest |d|, kept as doubles, and int lanes (SSE2
    // and AVX2 have no vector compare or conversion of 64-bit integers): the loop vectorizes.
    // The terms cover the whole block; the checks alone stop at len.
    const int n_live = static_cast<int>(len);
    const int n_lanes = kTerms ? kLanes : n_live;
    double n_bad = 0.0, n_rate = 0.0, n_div = 0.0, n_vol = 0.0, first = kNone, d_max = 0.0;
#pragma omp simd reduction(+ : n_bad, n_rate, n_div, n_vol) reduction(min : first) \
    reduction(max : d_max)
    for (int j = 0; j < n_lanes; ++j) {
        const double sj = s[j], kj = k[j], tj = t[j], vj = v[j], rj = r[j], qj = q[j];
        if constexpr (kChecks) {
            const bool live = !kTerms || j < n_live;
            // Non-short-circuit | keeps the loop free of branches (so it vectorizes).
            const bool infinite =
                (std::fabs(sj) == vmath::kInf) | (std::fabs(kj) == vmath::kInf) |
                (std::fabs(tj) == vmath::kInf) | (std::fabs(vj) == vmath::kInf) |
                (std::fabs(rj) == vmath::kInf) | (std::fabs(qj) == vmath::kInf);
            const bool bad = (sj <= 0.0) | (kj <= 0.0) | (tj < 0.0) | (vj < 0.0) | infinite;
            n_bad += bad & live ? 1.0 : 0.0;
            const double at = bad & live ? j : kNone;
            first = at < first ? at : first;
            // Finite but suspicious magnitudes (infinite ones are errors, counted above).
            n_rate += (std::fabs(rj) > kPercentRate) & (std::fabs(rj) < vmath::kInf) & live
                          ? 1.0
                          : 0.0;
            n_div += (std::fabs(qj) > kPercentRate) & (std::fabs(qj) < vmath::kInf) & live
                         ? 1.0
                         : 0.0;
            n_vol += (vj > kPercentVol) & (vj < vmath::kInf) & live ? 1.0 : 0.0;
            // 0 for finite inputs, NaN if any input is NaN; NaN for invalid ones.
            w.poison[j] = bad ? vmath::kNaN : (sj + kj + tj + vj + rj + qj) * 0.0;
        }
        if constexpr (kTerms) {
            const double sqrt_t = std::sqrt(tj);
            const double sig_t = vj * sqrt_t;
            const double log_sk = M::log(sj / kj);
            const double x = log_sk + (rj - qj) * tj;  // ln(F/K)
            const bool degenerate = !(sig_t > 0.0);    // point mass (or invalid: poisoned)
            const double d1 = degenerate ? 0.0 : M::d1(log_sk, rj, qj, vj, tj, sig_t);
            const double d2 = d1 - sig_t;
            w.sqrt_t[j] = sqrt_t;
            w.sig_t[j] = sig_t;
            w.d1[j] = d1;
            w.d2[j] = d2;
            const double g1 = M::gauss(d1);
            w.g1[j] = g1;
            w.pdf[j] = degenerate ? 0.0 : M::pdf_from(g1);
            // The step H(phi (F - K)), 1/2 at the money, used when the distribution is a point.
            const double step = x > 0.0 ? 1.0 : (x < 0.0 ? 0.0 : 0.5);
            w.n1[j] = w.phi[j] > 0.0 ? step : 1.0 - step;  // overwritten below if not degenerate
            if constexpr (kChecks) {
                // A largest |d| (NaN: not counted), not a count of tail lanes: GCC 12 folds such
                // a flag through the point-mass select above into a form it cannot vectorize.
                d_max = std::fabs(d1) > d_max ? std::fabs(d1) : d_max;
                d_max = std::fabs(d2) > d_max ? std::fabs(d2) : d_max;
            }
        }
    }
    if constexpr (kChecks) {
        if (n_bad > 0.0) {
            report.invalid_count += static_cast<std::int64_t>(n_bad);
            if (report.first_invalid < 0) {
                report.first_invalid = i0 + static_cast<std::int64_t>(first);
            }
        }
        report.rate_looks_percent |= n_rate > 0.0;
        report.div_looks_percent |= n_div > 0.0;
        report.vol_looks_percent |= n_vol > 0.0;
    }
    return d_max > vmath::kCdfTailStart;
}

/// Whether some lane of the block has |d1| or |d2| beyond kCdfTailStart (see block_cdf), as a
/// pass of its own: for the two-pass policy, whose scalar shared-terms loop is left as it is.
inline bool tail_test(const Workspace& w) noexcept {
    double n_tail = 0.0;
#pragma omp simd reduction(+ : n_tail)
    for (std::int64_t j = 0; j < kBlock; ++j) {
        const bool tail = (std::fabs(w.d1[j]) > vmath::kCdfTailStart) |
                          (std::fabs(w.d2[j]) > vmath::kCdfTailStart);
        n_tail += tail ? 1.0 : 0.0;
    }
    return n_tail > 0.0;
}

/// Step 3: N(phi d1) and N(phi d2). One fact about the whole block only picks the cheapest code
/// for it, so that a result never depends on its neighbours or the thread count: no |d| beyond
/// kCdfTailStart (tail false; shared_terms tells), so Cody's asymptotic range is not needed.
template <class M>
GAMMAEXT_ALWAYS_INLINE void block_cdf(Workspace& w, bool want_n2, bool tail) noexcept {
    // (The tail test looks at d2 also when N(phi d2) is not wanted: N(phi d1) then comes from
    // the same variant as with the pair, to the last bit.)
    if (!want_n2) {
        if (tail) {
            cdf_pair<M, true, false>(w, kBlock);
        } else {
            cdf_pair<M, false, false>(w, kBlock);
        }
    } else if (tail) {
        cdf_pair<M, true, true>(w, kBlock);
    } else {
        cdf_pair<M, false, true>(w, kBlock);
    }
}

/// The inputs and shared terms of a block, for the output formulas.
struct Terms {
    const double *s, *k, *t, *v, *r, *q, *dq, *dr;
    const double *phi, *st, *sig, *d1, *d2, *pdf, *n1, *n2;
};

/// Step 4: price and theta (through the careful price where it was taken, kCareful).
template <class M, class O>
GAMMAEXT_ALWAYS_INLINE void emit_price_theta(const Workspace& w, const Terms& a, O&& o) noexcept {
    const double* __restrict phi = a.phi;
    const double* __restrict st = a.st;
    const double* __restrict pdf = a.pdf;
    const double* __restrict n1 = a.n1;
    const double* __restrict n2 = a.n2;
    const double *s = a.s, *k = a.k, *v = a.v, *r = a.r, *q = a.q, *dq = a.dq, *dr = a.dr;
    if constexpr (M::kCareful) {
        const double* __restrict care = w.care;
        const double* __restrict pc = w.careful;
        const double* __restrict pdens = w.careful_dens;
        const double* __restrict pdd1 = w.careful_dd1;
        const double* __restrict fix = w.direct_fix;
        emit(o(Greek::price), w, kBlock, [&](std::int64_t j) {
            const double direct =
                phi[j] * (n1[j] * s[j] * dq[j] - n2[j] * k[j] * dr[j]) + fix[j];
            return care[j] != 0.0 ? pc[j] : direct;
        });
        // Theta in the careful lanes: the density term from the careful S e^{-qt} n(d1), and
        // phi S e^{-qt} N(phi d1) with d1's rounding put back (see careful_setup). Through the
        // careful price P (-phi K e^{-rt} N2 = P - phi S e^{-qt} N1): -vol term + r P +
        // (q - r) phi S e^{-qt} N1, whose terms do not cancel far from the money; deep in the
        // money r P and (q - r) S e^{-qt} N1 can (by 50 at r = 5%), and there the direct form
        // -vol term - r phi K e^{-rt} N2 + q phi S e^{-qt} N1 (N2 near 1: no rounding of d2
        // to inherit) is taken where its terms are four times smaller.
        emit(o(Greek::theta), w, kBlock, [&](std::int64_t j) {
            const double vol_term = mul0(pdf[j], s[j] * dq[j] * v[j] / (2.0 * st[j]));
            const double direct = -vol_term - phi[j] * r[j] * (n2[j] * k[j]) * dr[j] +
                                  phi[j] * q[j] * (n1[j] * s[j]) * dq[j];
            const double careful_vol_term = mul0(pdens[j], v[j] / (2.0 * st[j]));
            const double term1 = phi[j] * (n1[j] * s[j]) * dq[j] + pdd1[j] * pdens[j];
            const double term2 = phi[j] * (n2[j] * k[j]) * dr[j];
            const double from_price = -careful_vol_term + r[j] * pc[j] + (q[j] - r[j]) * term1;
            const double from_terms = -careful_vol_term - r[j] * term2 + q[j] * term1;
            const double mass_price =
                std::fabs(r[j] * pc[j]) + std::fabs((q[j] - r[j]) * term1);
            const double mass_terms = std::fabs(r[j] * term2) + std::fabs(q[j] * term1);
            const double careful_theta = 4.0 * mass_terms < mass_price ? from_terms : from_price;
            return care[j] != 0.0 ? careful_theta : direct;
        });
    } else {
        emit(o(Greek::price), w, kBlock, [&](std::int64_t j) {
            return phi[j] * (n1[j] * s[j] * dq[j] - n2[j] * k[j] * dr[j]);
        });
        emit(o(Greek::theta), w, kBlock, [&](std::int64_t j) {
            return -mul0(pdf[j], s[j] * dq[j] * v[j] / (2.0 * st[j])) -
                   phi[j] * r[j] * (n2[j] * k[j]) * dr[j] + phi[j] * q[j] * (n1[j] * s[j]) * dq[j];
        });
    }
}

/// Step 5: the other Greeks, each from the shared terms.
template <class O>
GAMMAEXT_ALWAYS_INLINE void emit_greeks(const Workspace& w, const Terms& a, O&& o) noexcept {
    const double* __restrict phi = a.phi;
    const double* __restrict st = a.st;
    const double* __restrict sig = a.sig;
    const double* __restrict d1 = a.d1;
    const double* __restrict d2 = a.d2;
    const double* __restrict pdf = a.pdf;
    const double* __restrict n1 = a.n1;
    const double* __restrict n2 = a.n2;
    const double *s = a.s, *k = a.k, *t = a.t, *v = a.v, *r = a.r, *q = a.q, *dq = a.dq,
                 *dr = a.dr;
    emit(o(Greek::delta), w, kBlock, [&](std::int64_t j) { return phi[j] * n1[j] * dq[j]; });
    emit(o(Greek::gamma), w, kBlock,
         [&](std::int64_t j) { return mul0(pdf[j], dq[j] / (s[j] * sig[j])); });
    emit(o(Greek::vega), w, kBlock, [&](std::int64_t j) { return pdf[j] * s[j] * dq[j] * st[j]; });
    emit(o(Greek::rho), w, kBlock,
         [&](std::int64_t j) { return phi[j] * (n2[j] * k[j]) * t[j] * dr[j]; });
    emit(o(Greek::epsilon), w, kBlock,
         [&](std::int64_t j) { return -phi[j] * (n1[j] * s[j]) * t[j] * dq[j]; });
    emit(o(Greek::vanna), w, kBlock,
         [&](std::int64_t j) { return -mul0(pdf[j], dq[j] * d2[j] / v[j]); });
    emit(o(Greek::charm), w, kBlock, [&](std::int64_t j) {
        const double drift = 2.0 * (r[j] - q[j]) * t[j] - d2[j] * sig[j];
        return phi[j] * q[j] * n1[j] * dq[j] - mul0(pdf[j], dq[j] * drift / (2.0 * t[j] * sig[j]));
    });
    emit(o(Greek::vomma), w, kBlock, [&](std::int64_t j) {
        return mul0(pdf[j], s[j] * dq[j] * st[j] * d1[j] * d2[j] / v[j]);
    });
    emit(o(Greek::veta), w, kBlock, [&](std::int64_t j) {
        const double inner =
            q[j] + (r[j] - q[j]) * d1[j] / sig[j] - (1.0 + d1[j] * d2[j]) / (2.0 * t[j]);
        return mul0(pdf[j], s[j] * dq[j] * st[j] * inner);  // d(vega)/dt, calendar time
    });
    emit(o(Greek::speed), w, kBlock, [&](std::int64_t j) {
        return -mul0(pdf[j], dq[j] / (s[j] * s[j] * sig[j]) * (d1[j] / sig[j] + 1.0));
    });
    emit(o(Greek::zomma), w, kBlock, [&](std::int64_t j) {
        return mul0(pdf[j], dq[j] / (s[j] * sig[j]) * (d1[j] * d2[j] - 1.0) / v[j]);
    });
    emit(o(Greek::color), w, kBlock, [&](std::int64_t j) {
        const double drift = 2.0 * (r[j] - q[j]) * t[j] - d2[j] * sig[j];
        const double inner = 2.0 * q[j] * t[j] + 1.0 + drift / sig[j] * d1[j];
        return mul0(pdf[j], dq[j] / (2.0 * s[j] * t[j] * sig[j]) * inner);  // dGamma/dt
    });
    emit(o(Greek::ultima), w, kBlock, [&](std::int64_t j) {
        const double x = d1[j] * d2[j];
        const double inner = x * (1.0 - x) + d1[j] * d1[j] + d2[j] * d2[j];
        return -mul0(pdf[j], s[j] * dq[j] * st[j] / (v[j] * v[j]) * inner);
    });
    emit(o(Greek::dual_delta), w, kBlock, [&](std::int64_t j) { return -phi[j] * n2[j] * dr[j]; });
    emit(o(Greek::dual_gamma), w, kBlock, [&](std::int64_t j) {
        return mul0(pdf[j], s[j] * dq[j] / (k[j] * k[j] * sig[j]));
    });
}

/// The Greeks of elements [begin, end): per block of kBlock, the checks and shared terms, the
/// discount factors, the normal CDFs, the careful price where needed, then the outputs.
template <class M>
InputReport run(const GreeksIn& in, const GreeksOut& out, std::int64_t begin,
                std::int64_t end) noexcept {
    InputReport report;
    const bool want_cdf = needs_cdf(out);
    const bool want_n2 = needs_n2(out);
    bool want_any = false;
    for (const double* p : out.out) {
        want_any |= p != nullptr;
    }
    Workspace w;  // NOLINT: filled before use
    CarefulScratch careful_scratch;  // NOLINT: filled before use (kCareful only)
    for (std::int64_t j = 0; j < kBlock; ++j) {
        // Read (not selected) in blocks without any careful lane.
        w.careful[j] = w.careful_dens[j] = w.careful_dd1[j] = 0.0;
    }
    TailBlock tail;
    const Source spot(in.spot), strike(in.strike), time(in.t), vol(in.vol), rate(in.rate),
        div(in.div);
    const Discount<M> div_discount(in.div, in.t, div.block(0), time.block(0));
    const Discount<M> rate_discount(in.rate, in.t, rate.block(0), time.block(0));
    for (std::int64_t i0 = begin; i0 < end; i0 += kBlock) {
        const std::int64_t len = end - i0 < kBlock ? end - i0 : kBlock;
        // The maths always runs over a whole block, so that every element goes through the same
        // vector code (a scalar remainder loop could round differently, making a result depend
        // on its position): a last, partial block is padded with copies of its first element.
        const bool partial = len < kBlock;
        const double* __restrict s = partial ? tail.pad(0, spot.block(i0), len) : spot.block(i0);
        const double* __restrict k =
            partial ? tail.pad(1, strike.block(i0), len) : strike.block(i0);
        const double* __restrict t = partial ? tail.pad(2, time.block(i0), len) : time.block(i0);
        const double* __restrict v = partial ? tail.pad(3, vol.block(i0), len) : vol.block(i0);
        const double* __restrict r = partial ? tail.pad(4, rate.block(i0), len) : rate.block(i0);
        const double* __restrict q = partial ? tail.pad(5, div.block(i0), len) : div.block(i0);
        load_sign(w.phi, in.is_call, i0, len);
        for (std::int64_t j = len; j < kBlock; ++j) {
            w.phi[j] = w.phi[0];
        }
        if (!want_any || !M::kOnePass) {
            shared_terms<M, true, false>(w, report, s, k, t, v, r, q, i0, len);
        }
        if (!want_any) {
            continue;  // a validation-only call
        }
        bool cdf_tail = shared_terms<M, M::kOnePass, true>(w, report, s, k, t, v, r, q, i0, len);
        if constexpr (!M::kOnePass) {
            cdf_tail = tail_test(w);
        }
        // Discount factors: one exp per call when the rate (or yield) and t are both scalars,
        // as for a chain with one expiry, else one per element.
        const double* __restrict dq = div_discount.block(w.dq, q, t);
        // e^{-rt} only for the outputs that have a K e^{-rt} N(phi d2) term.
        const double* __restrict dr = want_n2 ? rate_discount.block(w.dr, r, t) : w.dr;
        if (want_cdf) {
            block_cdf<M>(w, want_n2, cdf_tail);
        }
        // The careful price where the direct one would lose digits (see mark_careful). Every
        // block then takes the same emit code, careful lanes or not, so that a direct price
        // never depends on whether a neighbour was careful (fused multiply-adds could differ).
        if constexpr (M::kCareful) {
            const bool want_price = (out.out[static_cast<int>(Greek::price)] != nullptr) |
                                    (out.out[static_cast<int>(Greek::theta)] != nullptr);
            const bool want_theta = out.out[static_cast<int>(Greek::theta)] != nullptr;
            if (want_price && mark_careful(w, s, k, t, v, dq, dr, want_theta) > 0.0) {
                careful_price(w, careful_scratch, s, k, t, v, r, q, dq, dr);
            }
        }
        const auto o = [&](Greek g) {
            double* p = out.out[static_cast<int>(g)];
            return p == nullptr ? nullptr : (partial ? tail.out[static_cast<int>(g)] : p + i0);
        };
        // Probabilities multiply first in the formulas, so that a zero probability times a
        // huge (even overflowing) amount gives 0, as it should, not inf * 0 = NaN.
        const Terms terms{s,      k,        t,       v,     r,     q,     dq,    dr,
                          w.phi, w.sqrt_t, w.sig_t, w.d1, w.d2, w.pdf, w.n1, w.n2};
        emit_price_theta<M>(w, terms, o);
        emit_greeks(w, terms, o);
        if (partial) {
            tail.copy_out(out, i0, len);
        }
    }
    return report;
}

/// y[i] = f(x[i]), vectorized.
template <class F>
void map(const double* __restrict x, double* __restrict y, std::int64_t n, F f) noexcept {
#pragma omp simd
    for (std::int64_t i = 0; i < n; ++i) {
        y[i] = f(x[i]);
    }
}

}  // namespace
}  // namespace gammaext::GAMMAEXT_ISA_NS
