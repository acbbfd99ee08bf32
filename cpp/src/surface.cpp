// Vectorized surface evaluation and the joint (spot, ATM vol) path generator (surface.hpp).
// Scalar code in the portable baseline: both are per element or per path, so the threads'
// split never changes a result.
#include "gammaext/surface.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

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

/// The per-step constants of the two transitions (the same for every path).
struct StepConst {
    double mu, sd, decay, ou_sd;
};

/// Paths [lo, hi) of the joint generator: per-path state in locals, one row of each output.
void atm_vol_range(const AtmVolSpec& sp, const std::vector<StepConst>& steps, std::int64_t lo,
                   std::int64_t hi) noexcept {
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
            const StepConst& c = steps[static_cast<std::size_t>(k)];
            // The same arithmetic as the engine's GBM step (hedging_kernel.cpp, advance_gbm).
            lx += c.mu + c.sd * zs[half];
            const double zy = sp.rho * zs[half] + rho_perp * zp[half];
            y = ln_level + (y - ln_level) * c.decay + c.ou_sd * zy;
            so[k + 1] = vmath::exp(lx);  // the engine's exp, so the paths match its GBM
            ao[k + 1] = vmath::exp(y);
        }
    }
}

}  // namespace

void atm_vol_paths(const AtmVolSpec& spec, int threads) noexcept {
    std::vector<StepConst> steps;
    try {
        steps.resize(static_cast<std::size_t>(spec.n_steps));
    } catch (...) {  // O(steps) doubles: only fails when memory is gone; report NaN paths
        std::fill(spec.spot_out, spec.spot_out + spec.n_paths * (spec.n_steps + 1),
                  std::numeric_limits<double>::quiet_NaN());
        std::fill(spec.atm_out, spec.atm_out + spec.n_paths * (spec.n_steps + 1),
                  std::numeric_limits<double>::quiet_NaN());
        return;
    }
    for (std::int64_t k = 0; k < spec.n_steps; ++k) {
        const double dt = spec.times[k + 1] - spec.times[k];
        const surface::OuStep st = surface::ou_step(spec.kappa, spec.xi, dt);
        steps[static_cast<std::size_t>(k)] = {(spec.drift - 0.5 * spec.vol * spec.vol) * dt,
                                              spec.vol * std::sqrt(dt), st.decay, st.sd};
    }
    parallel_for(spec.n_paths, threads, kPathsPerThread,
                 [&](int, std::int64_t lo, std::int64_t hi) { atm_vol_range(spec, steps, lo, hi); });
}

}  // namespace gammaext
