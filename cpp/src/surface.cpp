// Vectorized surface evaluation and the joint (spot, ATM vol) path generator (surface.hpp).
// Scalar code in the portable baseline: both are per element or per path, so the threads'
// split never changes a result.
#include "gammaext/surface.hpp"

#include <algorithm>
#include <cmath>

#include "gammaext/parallel.hpp"
#include "gammaext/random.hpp"
#include "gammaext/vmath.hpp"

namespace gammaext {

namespace {
// Points per thread below which a thread costs more than it saves (an SVI point is ~10 ns).
constexpr std::int64_t kPointsPerThread = 1 << 15;
// Paths per thread: one path of 252 steps costs a few microseconds.
constexpr std::int64_t kPathsPerThread = 64;
}  // namespace

void surface_eval(const SurfaceView& s, const double* k, bool k_scalar, const double* t,
                  bool t_scalar, std::int64_t n, bool want_vol, double* out, int threads) noexcept {
    parallel_for(n, threads, kPointsPerThread, [&](int, std::int64_t lo, std::int64_t hi) {
        for (std::int64_t i = lo; i < hi; ++i) {
            const double ki = k[k_scalar ? 0 : i];
            const double ti = t[t_scalar ? 0 : i];
            out[i] = want_vol ? surface::vol(s, ki, ti) : surface::total_variance(s, ki, ti);
        }
    });
}

namespace {

/// Paths [lo, hi) of the joint generator: per-path state in locals, one row of each output.
void atm_vol_range(const AtmVolSpec& sp, std::int64_t lo, std::int64_t hi) noexcept {
    const auto price = static_cast<std::uint32_t>(rng::Stream::price);
    const auto perp = static_cast<std::uint32_t>(rng::Stream::atm_vol);
    const double ln_level = std::log(sp.level);
    const double rho_perp = std::sqrt(std::max(0.0, 1.0 - sp.rho * sp.rho));
    const std::int64_t stride = sp.n_steps + 1;
    for (std::int64_t i = lo; i < hi; ++i) {
        const auto path = static_cast<std::uint64_t>(sp.first_path + i);
        double* so = sp.spot_out + i * stride;
        double* ao = sp.atm_out + i * stride;
        double lx = std::log(sp.spot), y = std::log(sp.atm0);
        so[0] = sp.spot;
        ao[0] = sp.atm0;
        double zs[2] = {0.0, 0.0}, zp[2] = {0.0, 0.0};
        for (std::int64_t k = 0; k < sp.n_steps; ++k) {
            const int half = static_cast<int>(k & 1);
            if (half == 0) {  // draws k and k + 1 come from one Philox call per stream
                double u0, u1;
                const auto n = static_cast<std::uint32_t>(k >> 1);
                rng::uniform_pair(sp.seed, price, path, n, u0, u1);
                rng::box_muller(u0, u1, zs[0], zs[1]);
                rng::uniform_pair(sp.seed, perp, path, n, u0, u1);
                rng::box_muller(u0, u1, zp[0], zp[1]);
            }
            const double dt = sp.times[k + 1] - sp.times[k];
            // The same arithmetic as the engine's GBM step (hedging_kernel.cpp, advance_gbm).
            const double mu = (sp.drift - 0.5 * sp.vol * sp.vol) * dt;
            const double sd = sp.vol * std::sqrt(dt);
            lx += mu + sd * zs[half];
            const surface::OuStep st = surface::ou_step(sp.kappa, sp.xi, dt);
            const double zy = sp.rho * zs[half] + rho_perp * zp[half];
            y = ln_level + (y - ln_level) * st.decay + st.sd * zy;
            so[k + 1] = vmath::exp(lx);  // the engine's exp, so the paths match its GBM
            ao[k + 1] = std::exp(y);
        }
    }
}

}  // namespace

void atm_vol_paths(const AtmVolSpec& spec, int threads) noexcept {
    parallel_for(spec.n_paths, threads, kPathsPerThread,
                 [&](int, std::int64_t lo, std::int64_t hi) { atm_vol_range(spec, lo, hi); });
}

}  // namespace gammaext
