// Vectorized surface evaluation and the threaded entry of the joint (spot, ATM vol) path
// generator (surface.hpp; its per-instruction-set kernel is surface_kernel.cpp). Both work per
// element or per path, so the threads' split never changes a result.
#include "gammaext/surface.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "gammaext/parallel.hpp"
#include "gammaext/simd.hpp"

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

// The per-instruction-set generators (surface_kernel.cpp).
#define GAMMAEXT_DECLARE_ATM_VOL(ns)                                                      \
    namespace ns {                                                                        \
    void atm_vol_range(const AtmVolSpec& sp, const double* steps, std::int64_t lo,        \
                       std::int64_t hi) noexcept;                                         \
    }
GAMMAEXT_DECLARE_ATM_VOL(isa_baseline)
#if defined(GAMMAEXT_HAVE_AVX2)
GAMMAEXT_DECLARE_ATM_VOL(isa_avx2)
#endif
#if defined(GAMMAEXT_HAVE_AVX512)
GAMMAEXT_DECLARE_ATM_VOL(isa_avx512)
#endif

namespace {

void atm_vol_range(const AtmVolSpec& sp, const double* steps, std::int64_t lo, std::int64_t hi,
                   int isa) noexcept {
    switch (resolve_isa(isa)) {
#if defined(GAMMAEXT_HAVE_AVX512)
        case kIsaAvx512:
            return isa_avx512::atm_vol_range(sp, steps, lo, hi);
#endif
#if defined(GAMMAEXT_HAVE_AVX2)
        case kIsaAvx2:
            return isa_avx2::atm_vol_range(sp, steps, lo, hi);
#endif
        default:
            return isa_baseline::atm_vol_range(sp, steps, lo, hi);
    }
}

}  // namespace

void atm_vol_paths(const AtmVolSpec& spec, int threads, int isa) noexcept {
    std::vector<double> steps;  // (mu, sd, decay, ou_sd) per step, the same for every path
    try {
        steps.resize(4 * static_cast<std::size_t>(spec.n_steps));
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
        double* c = steps.data() + 4 * k;
        c[0] = (spec.drift - 0.5 * spec.vol * spec.vol) * dt;  // as the engine's advance_gbm
        c[1] = spec.vol * std::sqrt(dt);
        c[2] = st.decay;
        c[3] = st.sd;
    }
    parallel_for(spec.n_paths, threads, kPathsPerThread, [&](int, std::int64_t lo, std::int64_t hi) {
        atm_vol_range(spec, steps.data(), lo, hi, isa);
    });
}

}  // namespace gammaext
