// Threaded entry points of the hedging engine (the per-instruction-set work is in
// hedging_kernel.cpp, chosen in dispatch.cpp).
#include "gammaext/hedging.hpp"

#include "gammaext/parallel.hpp"

namespace gammaext {

namespace {
// Paths per thread below which starting a thread costs more than it saves (one path of 252
// steps takes about a microsecond).
constexpr std::int64_t kPathsPerThread = 128;
constexpr std::int64_t kDrawRowsPerThread = 1024;
}  // namespace

void hedge(const HedgeSpec& spec, int threads, int isa) noexcept {
    parallel_for(spec.n_paths, threads, kPathsPerThread,
                 [&](int, std::int64_t lo, std::int64_t hi) { hedge_range(spec, lo, hi, isa); });
}

void random_draws(std::uint64_t seed, std::uint32_t stream, std::int64_t first_path,
                  std::int64_t n_paths, std::int64_t n_draws, bool normal, double* out,
                  int threads, int isa) noexcept {
    parallel_for(n_paths, threads, kDrawRowsPerThread, [&](int, std::int64_t lo, std::int64_t hi) {
        random_draws_range(seed, stream, first_path, lo, hi, n_draws, normal, out, isa);
    });
}

}  // namespace gammaext
