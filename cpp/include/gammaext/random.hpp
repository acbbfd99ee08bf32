// Counter-based random numbers for the Monte Carlo engines: Philox4x32-10 and an inverse-CDF
// normal, both branch-free so that loops over paths vectorize.
//
// Generator. Philox4x32-10 of J. K. Salmon, M. A. Moraes, R. O. Dror and D. E. Shaw, "Parallel
// random numbers: as easy as 1, 2, 3", Proc. SC11 (2011), section 4.2: a 10-round bijection of a
// 128-bit counter under a 64-bit key. Each round multiplies two of the four 32-bit words by the
// constants M0 = 0xD2511F53, M1 = 0xCD9E8D57 (hi and lo halves of the 64-bit products are
// mixed with the other words and the key), and the key is bumped by the Weyl constants
// W0 = 0x9E3779B9 (golden ratio), W1 = 0xBB67AE85 (sqrt(3) - 1) between rounds. The paper shows
// it passes TestU01 BigCrush with a margin of rounds; the known-answer vectors of its reference
// implementation are checked in tests/test_hedging.py.
//
// How gammaext addresses it (the stream layout, documented in docs/hedging.md):
//   key     = (seed & 0xffffffff, seed >> 32)
//   counter = (draw >> 1, stream, path & 0xffffffff, path >> 32)
// so draw `draw` of stream `stream` of path `path` is a pure function of (seed, stream, path,
// draw). One Philox call gives 128 bits: the even draw takes words 0-1, the odd draw words 2-3.
// The atm_vol stream takes four draws per call instead (counter draw >> 2, draw 4n + i from
// word i alone; draws_per_call).
// Paths [a, b) generated alone are therefore bit-identical to rows a..b-1 of a larger run, at
// any thread count and any chunking.
//
// Uniforms: the top 52 of the 64 bits, u = (m + 1/2) 2^-52, exactly representable, in (0, 1)
// (atm_vol: u = (w + 1/2) 2^-32 of its 32-bit word w).
// Normals: the Box-Muller transform (G. E. P. Box and M. E. Muller, "A note on the generation
// of random normal deviates", Ann. Math. Statist. 29 (1958) 610-611) of the pair (u0, u1) of
// one Philox call: z_even = r cos(2 pi u1), z_odd = r sin(2 pi u1), r = sqrt(-2 log u0) (atm_vol:
// the pairs (u_4n, u_4n+1) and (u_4n+2, u_4n+3) alike). The
// sine and cosine are reduced exactly in u (quarter turns) and evaluated by Taylor polynomials
// on [-pi/4, pi/4] (truncation below 1e-19), so the whole transform is branch-free and about
// 1 ulp accurate; |z| <= 8.6 because u0 >= 2^-53. It costs about half of an inverse-CDF normal
// (one log and one sqrt per two normals). The inverse CDF norm_ppf (Wichura's AS 241) is kept
// for the Heston QE step, which needs a monotone map of one uniform.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

#include "gammaext/vmath.hpp"

namespace gammaext::rng {
inline namespace GAMMAEXT_INLINE_NS {  // one copy per instruction set (simd.hpp)

inline constexpr std::uint32_t kPhiloxM0 = 0xD2511F53U;
inline constexpr std::uint32_t kPhiloxM1 = 0xCD9E8D57U;
inline constexpr std::uint32_t kPhiloxW0 = 0x9E3779B9U;
inline constexpr std::uint32_t kPhiloxW1 = 0xBB67AE85U;
inline constexpr int kPhiloxRounds = 10;

/// Random streams of the path generators (the `stream` word of the counter): a stream's number
/// is its position in this list (Python: _core._stream_names()).
///   price       normals of the price (Brownian) increments, draw k = step k
///   variance    Heston: uniforms of the variance step (Andersen QE)
///   jump_count  Merton: uniforms for the Poisson number of jumps
///   jump_size   Merton: normals for the summed jump sizes
///   bootstrap   block bootstrap: uniforms choosing each block's start
///   noise       microstructure noise: normals (iid) or uniforms (bounce), draw k = time k
///   signal_noise  signal generator: normals, the imbalance's own noise, draw k = time k
///   profile     signal generator: uniforms, the volume-profile signal, draw k = time k
///   coin        signal generator: uniforms deciding continuation or reversal, draw k = time k
///   atm_vol     stochastic ATM implied vol (surface.hpp): normals independent of the price's,
///               draw k = step k
#define GAMMAEXT_RNG_STREAMS(X) \
    X(price) X(variance) X(jump_count) X(jump_size) X(bootstrap) X(noise) X(signal_noise) \
    X(profile) X(coin) X(atm_vol)
enum class Stream : std::uint32_t {
#define GAMMAEXT_X(name) name,
    GAMMAEXT_RNG_STREAMS(GAMMAEXT_X)
#undef GAMMAEXT_X
};

/// Philox4x32-10 in place: the counter words c0..c3 become the four output words for key
/// (k0, k1). Unrolled and free of arrays, so that a loop over lanes calling it vectorizes.
GAMMAEXT_ALWAYS_INLINE void philox4x32_inplace(std::uint32_t& c0, std::uint32_t& c1,
                                               std::uint32_t& c2, std::uint32_t& c3,
                                               std::uint32_t k0, std::uint32_t k1) noexcept {
#pragma GCC unroll 10
    for (int round = 0; round < kPhiloxRounds; ++round) {
        const std::uint64_t p0 = static_cast<std::uint64_t>(kPhiloxM0) * c0;
        const std::uint64_t p1 = static_cast<std::uint64_t>(kPhiloxM1) * c2;
        const auto hi0 = static_cast<std::uint32_t>(p0 >> 32);
        const auto lo0 = static_cast<std::uint32_t>(p0);
        const auto hi1 = static_cast<std::uint32_t>(p1 >> 32);
        const auto lo1 = static_cast<std::uint32_t>(p1);
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
        k0 += kPhiloxW0;
        k1 += kPhiloxW1;
    }
}

/// Philox4x32-10: the four output words for (counter c0..c3, key k0, k1).
GAMMAEXT_ALWAYS_INLINE void philox4x32(std::uint32_t c0, std::uint32_t c1, std::uint32_t c2, std::uint32_t c3,
                       std::uint32_t k0, std::uint32_t k1, std::uint32_t out[4]) noexcept {
    philox4x32_inplace(c0, c1, c2, c3, k0, k1);
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/// (m + 1/2) 2^-52 for the top 52 bits m of (hi:lo): exact, strictly inside (0, 1).
GAMMAEXT_ALWAYS_INLINE double uniform_from_bits(std::uint32_t lo, std::uint32_t hi) noexcept {
    constexpr std::uint64_t kOneBits = 0x3FF0000000000000ULL;  // 1.0
    constexpr double kHalfUlp = 0x1p-53;
    const std::uint64_t bits = (static_cast<std::uint64_t>(hi) << 32) | lo;
    // 1.m as a double minus 1 is m 2^-52 exactly; the shift keeps the 52 high bits.
    return (std::bit_cast<double>(kOneBits | (bits >> 12)) - 1.0) + kHalfUlp;
}

/// (w + 1/2) 2^-32 for one 32-bit word w: exact, strictly inside (0, 1). The uniforms of a
/// stream drawn four per Philox call (draws_per_call).
GAMMAEXT_ALWAYS_INLINE double uniform_from_word(std::uint32_t w) noexcept {
    return (static_cast<double>(w) + 0.5) * 0x1p-32;
}

/// Draws per Philox call of a stream: 4 for atm_vol (one 32-bit word per uniform: its normals
/// only drive the ATM level, where 2^-32 resolution and |z| <= 6.8 are ample, and the smile
/// book draws it at every step), 2 for every other stream (two words per uniform).
constexpr int draws_per_call(Stream stream) noexcept { return stream == Stream::atm_vol ? 4 : 2; }

/// Philox4x32-10 (philox4x32_inplace) of counter (n, stream, path) for kLanes paths (path
/// words plo, phi), each lane's four output words passed to emit(j, w0, w1, w2, w3); for the
/// kernels' loops over a block of paths. With AVX-512 each 32-bit word lives in the low half of
/// a 64-bit lane (Word = uint64): a multiply reads only the low halves (one vpmuludq), the XORs
/// and the products' low halves are those of the 32-bit words, and whatever the high halves
/// hold is dropped at the end; the same numbers as with 32-bit words, without the permutes
/// that packed them into 64-bit products and back every round (about 1 ns per stream and
/// path-step). With AVX2 and SSE2 that layout halves the lanes per instruction and was no
/// faster (SSE2: twice as slow), so they keep 32-bit words.
#ifdef __AVX512F__
using PhiloxWord = std::uint64_t;
#else
using PhiloxWord = std::uint32_t;
#endif
template <int kLanes, class Emit>
GAMMAEXT_ALWAYS_INLINE void philox_lanes(std::uint64_t seed, Stream stream, std::uint32_t n,
                                         const std::uint32_t* __restrict plo,
                                         const std::uint32_t* __restrict phi,
                                         Emit&& emit) noexcept {
    using Word = PhiloxWord;
    using u32 = std::uint32_t;
    using u64 = std::uint64_t;
    // the round keys, the same for every lane
    Word key0[kPhiloxRounds], key1[kPhiloxRounds];
    auto k0 = static_cast<u32>(seed), k1 = static_cast<u32>(seed >> 32);
    for (int round = 0; round < kPhiloxRounds; ++round) {
        key0[round] = k0;
        key1[round] = k1;
        k0 += kPhiloxW0;
        k1 += kPhiloxW1;
    }
#pragma omp simd
    for (int j = 0; j < kLanes; ++j) {
        Word c0 = n, c1 = static_cast<u32>(stream), c2 = plo[j], c3 = phi[j];
#pragma GCC unroll 10
        for (int round = 0; round < kPhiloxRounds; ++round) {
            const u64 p0 = static_cast<u64>(static_cast<u32>(c0)) * kPhiloxM0;
            const u64 p1 = static_cast<u64>(static_cast<u32>(c2)) * kPhiloxM1;
            c0 = static_cast<Word>(p1 >> 32) ^ c1 ^ key0[round];
            c2 = static_cast<Word>(p0 >> 32) ^ c3 ^ key1[round];
            c1 = static_cast<Word>(p1);
            c3 = static_cast<Word>(p0);
        }
        emit(j, static_cast<u32>(c0), static_cast<u32>(c1), static_cast<u32>(c2),
             static_cast<u32>(c3));
    }
}

/// The pair of uniforms (draws 2n and 2n+1) of (seed, stream, path) at counter n.
GAMMAEXT_ALWAYS_INLINE void uniform_pair(std::uint64_t seed, std::uint32_t stream, std::uint64_t path,
                         std::uint32_t n, double& u0, double& u1) noexcept {
    std::uint32_t w[4];
    philox4x32(n, stream, static_cast<std::uint32_t>(path), static_cast<std::uint32_t>(path >> 32),
               static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32), w);
    u0 = uniform_from_bits(w[0], w[1]);
    u1 = uniform_from_bits(w[2], w[3]);
}

/// sin(2 pi u) and cos(2 pi u) for u in [0, 1], branch-free.
GAMMAEXT_ALWAYS_INLINE void sincos_2pi(double u, double& sin_out, double& cos_out) noexcept {
    constexpr double kHalfPi = 1.57079632679489661923;
    const double v = 4.0 * u;                   // quarter turns, exact
    const double k = vmath::round_int(v);       // quadrant 0..4
    const double x = (v - k) * kHalfPi;         // v - k is exact, |x| <= pi/4
    const double x2 = x * x;
    // Taylor series: sin to x^17, cos to x^18 (next terms < 1e-19 on |x| <= pi/4).
    double ps = -1.0 / 355687428096000.0;       // -1/17!
    ps = ps * x2 + 1.0 / 1307674368000.0;       // 1/15!
    ps = ps * x2 - 1.0 / 6227020800.0;          // -1/13!
    ps = ps * x2 + 1.0 / 39916800.0;            // 1/11!
    ps = ps * x2 - 1.0 / 362880.0;              // -1/9!
    ps = ps * x2 + 1.0 / 5040.0;                // 1/7!
    ps = ps * x2 - 1.0 / 120.0;                 // -1/5!
    ps = ps * x2 + 1.0 / 6.0;                   // 1/3!
    const double s = x - x * x2 * ps;
    double pc = 1.0 / 6402373705728000.0;       // 1/18!
    pc = pc * x2 - 1.0 / 20922789888000.0;      // -1/16!
    pc = pc * x2 + 1.0 / 87178291200.0;         // 1/14!
    pc = pc * x2 - 1.0 / 479001600.0;           // -1/12!
    pc = pc * x2 + 1.0 / 3628800.0;             // 1/10!
    pc = pc * x2 - 1.0 / 40320.0;               // -1/8!
    pc = pc * x2 + 1.0 / 720.0;                 // 1/6!
    pc = pc * x2 - 1.0 / 24.0;                  // -1/4!
    pc = pc * x2 + 0.5;                         // 1/2!
    const double c = 1.0 - x2 * pc;
    // Rotate by k quarter turns (k = 4 is k = 0).
    const bool q1 = k == 1.0, q2 = k == 2.0, q3 = k == 3.0;
    sin_out = q1 ? c : (q2 ? -s : (q3 ? -c : s));
    cos_out = q1 ? -s : (q2 ? -c : (q3 ? s : c));
}

/// Box-Muller: two independent standard normals from two uniforms in (0, 1).
GAMMAEXT_ALWAYS_INLINE void box_muller(double u0, double u1, double& z0, double& z1) noexcept {
    const double r = std::sqrt(-2.0 * vmath::log_normal(u0));  // u0 >= 2^-53
    double s, c;
    sincos_2pi(u1, s, c);
    z0 = r * c;
    z1 = r * s;
}

/// Inverse of the standard normal CDF for p in (0, 1), Wichura's AS 241 (PPND16), branch-free.
GAMMAEXT_ALWAYS_INLINE double norm_ppf(double p) noexcept {
    constexpr double kSplit1 = 0.425;  // |p - 1/2| <= 0.425: central rational function in q^2
    constexpr double kSplit2 = 5.0;    // r = sqrt(-log(min(p, 1-p))) <= 5: intermediate tail
    constexpr double kConst1 = 0.180625;  // 0.425^2
    constexpr double kConst2 = 1.6;
    const double q = p - 0.5;

    // Central region: q A(r)/B(r), r = 0.180625 - q^2.
    const double rc = kConst1 - q * q;
    const double num_c =
        (((((((2.5090809287301226727e+3 * rc + 3.3430575583588128105e+4) * rc +
              6.7265770927008700853e+4) * rc + 4.5921953931549871457e+4) * rc +
            1.3731693765509461125e+4) * rc + 1.9715909503065514427e+3) * rc +
          1.3314166789178437745e+2) * rc + 3.3871328727963666080e+0);
    const double den_c =
        (((((((5.2264952788528545610e+3 * rc + 2.8729085735721942674e+4) * rc +
              3.9307895800092710610e+4) * rc + 2.1213794301586595867e+4) * rc +
            5.3941960214247511077e+3) * rc + 6.8718700749205790830e+2) * rc +
          4.2313330701600911252e+1) * rc + 1.0);
    // Tails: r = sqrt(-log(min(p, 1 - p))).
    const double pm = q < 0.0 ? p : 1.0 - p;
    const double pt = pm > 0.0 ? pm : 0.5;  // central lanes: any value that keeps log finite
    const double r = std::sqrt(-vmath::log(pt));
    const double r1 = r - kConst2;
    const double num_1 =
        (((((((7.74545014278341407640e-4 * r1 + 2.27238449892691845833e-2) * r1 +
              2.41780725177450611770e-1) * r1 + 1.27045825245236838258e+0) * r1 +
            3.64784832476320460504e+0) * r1 + 5.76949722146069140550e+0) * r1 +
          4.63033784615654529590e+0) * r1 + 1.42343711074968357734e+0);
    const double den_1 =
        (((((((1.05075007164441684324e-9 * r1 + 5.47593808499534494600e-4) * r1 +
              1.51986665636164571966e-2) * r1 + 1.48103976427480074590e-1) * r1 +
            6.89767334985100004550e-1) * r1 + 1.67638483018380384940e+0) * r1 +
          2.05319162663775882187e+0) * r1 + 1.0);
    const double r2 = r - kSplit2;
    const double num_2 =
        (((((((2.01033439929228813265e-7 * r2 + 2.71155556874348757815e-5) * r2 +
              1.24266094738807843860e-3) * r2 + 2.65321895265761230930e-2) * r2 +
            2.96560571828504891230e-1) * r2 + 1.78482653991729133580e+0) * r2 +
          5.46378491116411436990e+0) * r2 + 6.65790464350110377720e+0);
    const double den_2 =
        (((((((2.04426310338993978564e-15 * r2 + 1.42151175831644588870e-7) * r2 +
              1.84631831751005468180e-5) * r2 + 7.86869131145613259100e-4) * r2 +
            1.48753612908506148525e-2) * r2 + 1.36929880922735805310e-1) * r2 +
          5.99832206555887937690e-1) * r2 + 1.0);
    // Select the numerator and denominator of the region, then divide once.
    const bool central = (q < 0.0 ? -q : q) <= kSplit1;
    const bool inner = r <= kSplit2;
    const double tail_num = (q < 0.0 ? -1.0 : 1.0) * (inner ? num_1 : num_2);
    const double num = central ? q * num_c : tail_num;
    const double den = central ? den_c : (inner ? den_1 : den_2);
    return num / den;
}

}  // namespace GAMMAEXT_INLINE_NS
}  // namespace gammaext::rng
