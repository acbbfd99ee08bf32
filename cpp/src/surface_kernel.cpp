// The joint (spot, ATM vol) path generator of surface.hpp, compiled once per instruction set
// (see simd.hpp) and chosen at run time in surface.cpp. Paths go in blocks of kLanes lanes so
// that the Philox calls, the Box-Muller transforms and the exponentials vectorize across paths;
// each lane is one path, so a path's numbers never depend on its block or thread.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "gammaext/random.hpp"
#include "gammaext/surface.hpp"
#include "gammaext/vmath.hpp"

namespace gammaext::GAMMAEXT_ISA_NS {

namespace {

constexpr int kLanes = 16;  // paths per block: a few arrays of 16 doubles, in registers or L1

using u32 = std::uint32_t;
using u64 = std::uint64_t;

/// Normals 2n and 2n + 1 of `stream` for every lane (the engine's draw_pair, lane by lane).
GAMMAEXT_ALWAYS_INLINE void normal_pair(u64 seed, rng::Stream stream, const u32* plo,
                                        const u32* phi, u32 n, double* __restrict a,
                                        double* __restrict b) noexcept {
    rng::philox_lanes<kLanes>(seed, stream, n, plo, phi,
                              [&](int j, u32 c0, u32 c1, u32 c2, u32 c3) {
        double z0, z1;
        rng::box_muller(rng::uniform_from_bits(c0, c1), rng::uniform_from_bits(c2, c3), z0, z1);
        a[j] = z0;
        b[j] = z1;
    });
}

/// Normals 4n .. 4n + 3 of a stream drawn four per call (rng::draws_per_call; the engine's
/// draw_quad, lane by lane) into q[0..3].
GAMMAEXT_ALWAYS_INLINE void normal_quad(u64 seed, rng::Stream stream, const u32* plo,
                                        const u32* phi, u32 n,
                                        double (*__restrict q)[kLanes]) noexcept {
    rng::philox_lanes<kLanes>(seed, stream, n, plo, phi,
                              [&](int j, u32 c0, u32 c1, u32 c2, u32 c3) {
        rng::box_muller(rng::uniform_from_word(c0), rng::uniform_from_word(c1), q[0][j], q[1][j]);
        rng::box_muller(rng::uniform_from_word(c2), rng::uniform_from_word(c3), q[2][j], q[3][j]);
    });
}

}  // namespace

/// Paths [lo, hi) of spec; steps holds (mu, sd, decay, ou_sd) per step (surface.cpp).
void atm_vol_range(const AtmVolSpec& sp, const double* steps, std::int64_t lo,
                   std::int64_t hi) noexcept {
    const auto price = rng::Stream::price;
    const auto perp = rng::Stream::atm_vol;
    const double ln_level = std::log(sp.level);
    const double rho = sp.rho;
    const double rho_perp = std::sqrt(std::max(0.0, 1.0 - rho * rho));
    const std::int64_t stride = sp.n_steps + 1;
    alignas(64) u32 plo[kLanes], phi[kLanes];
    alignas(64) double lx[kLanes], y[kLanes], zs[2][kLanes], zp[4][kLanes], s[kLanes], a[kLanes];
    for (std::int64_t i0 = lo; i0 < hi; i0 += kLanes) {
        const int len = static_cast<int>(std::min<std::int64_t>(kLanes, hi - i0));
        for (int j = 0; j < kLanes; ++j) {  // spare lanes repeat the last path, never stored
            const auto path = static_cast<u64>(sp.first_path + i0 + (j < len ? j : len - 1));
            plo[j] = static_cast<u32>(path);
            phi[j] = static_cast<u32>(path >> 32);
            lx[j] = std::log(sp.spot);
            y[j] = std::log(sp.atm0);
        }
        for (int j = 0; j < len; ++j) {
            sp.spot_out[(i0 + j) * stride] = sp.spot;
            sp.atm_out[(i0 + j) * stride] = sp.atm0;
        }
        for (std::int64_t k = 0; k < sp.n_steps; ++k) {
            const int half = static_cast<int>(k & 1);
            if (half == 0) {  // price draws k and k + 1 come from one Philox call
                normal_pair(sp.seed, price, plo, phi, static_cast<u32>(k >> 1), zs[0], zs[1]);
            }
            if ((k & 3) == 0) {  // atm_vol draws k .. k + 3 from one call
                normal_quad(sp.seed, perp, plo, phi, static_cast<u32>(k >> 2), zp);
            }
            const double* c = steps + 4 * k;
            const double mu = c[0], sd = c[1], decay = c[2], ou_sd = c[3];
            const double* z = zs[half];
            const double* zq = zp[k & 3];
#pragma omp simd
            for (int j = 0; j < kLanes; ++j) {
                // The same arithmetic as the engine's GBM step (hedging_kernel.cpp, advance_gbm).
                lx[j] += mu + sd * z[j];
                y[j] = ln_level + (y[j] - ln_level) * decay + ou_sd * (rho * z[j] + rho_perp * zq[j]);
                s[j] = vmath::exp(lx[j]);
                a[j] = vmath::exp(y[j]);
            }
            for (int j = 0; j < len; ++j) {
                sp.spot_out[(i0 + j) * stride + k + 1] = s[j];
                sp.atm_out[(i0 + j) * stride + k + 1] = a[j];
            }
        }
    }
}

}  // namespace gammaext::GAMMAEXT_ISA_NS
