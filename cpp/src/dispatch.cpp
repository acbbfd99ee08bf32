// Run-time selection of the per-instruction-set kernels, and the threaded entry points.
#include <array>
#include <atomic>
#include <thread>

#include "gammaext/black_scholes.hpp"
#include "gammaext/hedging.hpp"
#include "gammaext/implied_vol.hpp"
#include "gammaext/kernels.hpp"
#include "gammaext/parallel.hpp"
#include "gammaext/simd.hpp"

namespace gammaext {

namespace {

bool cpu_has(int isa) noexcept {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    switch (isa) {
        case kIsaAvx512:
            return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                   __builtin_cpu_supports("avx512vl");
        case kIsaAvx2:
            return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        default:
            return isa == kIsaBaseline;
    }
#else
    return isa == kIsaBaseline;
#endif
}

constexpr bool compiled_in(int isa) noexcept {
    switch (isa) {
        case kIsaBaseline:
            return true;
#if defined(GAMMAEXT_HAVE_AVX2)
        case kIsaAvx2:
            return true;
#endif
#if defined(GAMMAEXT_HAVE_AVX512)
        case kIsaAvx512:
            return true;
#endif
        default:
            return false;
    }
}

// Calls the kernel `fn` of namespace isa_<name> for the chosen instruction set.
#if defined(GAMMAEXT_HAVE_AVX512)
#define GAMMAEXT_CASE_AVX512(fn, ...) \
    case kIsaAvx512:                  \
        return isa_avx512::fn(__VA_ARGS__);
#else
#define GAMMAEXT_CASE_AVX512(fn, ...)
#endif
#if defined(GAMMAEXT_HAVE_AVX2)
#define GAMMAEXT_CASE_AVX2(fn, ...) \
    case kIsaAvx2:                  \
        return isa_avx2::fn(__VA_ARGS__);
#else
#define GAMMAEXT_CASE_AVX2(fn, ...)
#endif
#define GAMMAEXT_DISPATCH(isa, fn, ...)         \
    switch (resolve_isa(isa)) {                 \
        GAMMAEXT_CASE_AVX512(fn, __VA_ARGS__)   \
        GAMMAEXT_CASE_AVX2(fn, __VA_ARGS__)     \
        default:                                \
            return isa_baseline::fn(__VA_ARGS__); \
    }

std::atomic<int> g_default_threads{0};

// Below this many elements per thread, starting a thread costs more than it saves.
constexpr std::int64_t kGreeksPerThread = 1 << 14;
// Implied vol costs about 50 times a Greek evaluation per element.
constexpr std::int64_t kImpliedVolPerThread = 1 << 10;

}  // namespace

int best_isa() noexcept {
    static const int best = [] {
        for (int isa = kIsaAvx512; isa > kIsaBaseline; --isa) {
            if (compiled_in(isa) && cpu_has(isa)) {
                return isa;
            }
        }
        return kIsaBaseline;
    }();
    return best;
}

int resolve_isa(int requested) noexcept {
    const int best = best_isa();
    if (requested < 0 || requested > best) {
        return best;
    }
    for (int isa = requested; isa > kIsaBaseline; --isa) {
        if (compiled_in(isa) && cpu_has(isa)) {
            return isa;
        }
    }
    return kIsaBaseline;
}

const char* isa_name(int isa) noexcept {
    switch (isa) {
        case kIsaAvx512:
            return "avx512";
        case kIsaAvx2:
            return "avx2";
        default:
            return "baseline";
    }
}

int default_threads() noexcept {
    const int n = g_default_threads.load(std::memory_order_relaxed);
    if (n > 0) {
        return n;
    }
    // Read once: glibc answers hardware_concurrency() by reading /sys on every call, which
    // cost ~10 us per kernel call.
    static const int hw = [] {
        const unsigned n = std::thread::hardware_concurrency();
        return n == 0 ? 1 : static_cast<int>(n);
    }();
    return hw;
}

void set_default_threads(int threads) noexcept {
    g_default_threads.store(threads > 0 ? threads : 0, std::memory_order_relaxed);
}

int effective_threads(int threads) noexcept { return threads > 0 ? threads : default_threads(); }

void InputReport::merge(const InputReport& o) noexcept {
    if (o.first_invalid >= 0 && (first_invalid < 0 || o.first_invalid < first_invalid)) {
        first_invalid = o.first_invalid;
    }
    invalid_count += o.invalid_count;
    rate_looks_percent |= o.rate_looks_percent;
    div_looks_percent |= o.div_looks_percent;
    vol_looks_percent |= o.vol_looks_percent;
}

InputReport greeks_range(const GreeksIn& in, const GreeksOut& out, NormalMode mode,
                         std::int64_t begin, std::int64_t end, int isa) noexcept {
    if (mode == NormalMode::as26217) {
        return pine_math::greeks_range(in, out, begin, end);
    }
    GAMMAEXT_DISPATCH(isa, greeks_range, in, out, begin, end)
}

InputReport greeks(const GreeksIn& in, const GreeksOut& out, NormalMode mode, int threads,
                   int isa) noexcept {
    constexpr int kMaxChunks = 1024;
    InputReport parts[kMaxChunks];
    const int nt = effective_threads(threads);
    // Threads split whole blocks, so every block holds the same elements whatever the thread
    // count (the kernel picks its cheapest exact code path per block).
    const std::int64_t blocks = (in.n + kGreeksBlock - 1) / kGreeksBlock;
    const int used = parallel_for(
        blocks, nt > kMaxChunks ? kMaxChunks : nt, kGreeksPerThread / kGreeksBlock,
        [&](int c, std::int64_t lo, std::int64_t hi) {
            const std::int64_t end = hi * kGreeksBlock < in.n ? hi * kGreeksBlock : in.n;
            parts[c] = greeks_range(in, out, mode, lo * kGreeksBlock, end, isa);
        });
    InputReport report;
    for (int c = 0; c < used; ++c) {
        report.merge(parts[c]);
    }
    return report;
}

void stream_probe(const GreeksIn& in, const GreeksOut& out, int threads) noexcept {
    std::array<double*, 6> o{};
    std::size_t k = 0;
    for (double* p : out.out) {
        if (p != nullptr && k < o.size()) {
            o[k++] = p;
        }
    }
    if (k != o.size() || in.spot.broadcast || in.strike.broadcast || in.t.broadcast ||
        in.vol.broadcast || in.rate.broadcast || in.div.broadcast) {
        return;  // the probe is only defined for six full inputs and six outputs
    }
    parallel_for(in.n, threads, kGreeksPerThread, [&](int, std::int64_t lo, std::int64_t hi) {
        const double* __restrict a = in.spot.data;
        const double* __restrict b = in.strike.data;
        const double* __restrict c = in.t.data;
        const double* __restrict d = in.vol.data;
        const double* __restrict e = in.rate.data;
        const double* __restrict f = in.div.data;
        double* __restrict o0 = o[0];
        double* __restrict o1 = o[1];
        double* __restrict o2 = o[2];
        double* __restrict o3 = o[3];
        double* __restrict o4 = o[4];
        double* __restrict o5 = o[5];
#pragma omp simd
        for (std::int64_t i = lo; i < hi; ++i) {
            const double sum = a[i] + b[i] + c[i] + d[i] + e[i] + f[i];
            o0[i] = sum;
            o1[i] = 2.0 * sum;
            o2[i] = 3.0 * sum;
            o3[i] = 4.0 * sum;
            o4[i] = 5.0 * sum;
            o5[i] = 6.0 * sum;
        }
    });
}

void norm_cdf(const double* x, double* y, std::int64_t n, NormalMode mode, int isa) noexcept {
    if (mode == NormalMode::as26217) {
        return pine_math::norm_cdf(x, y, n);
    }
    GAMMAEXT_DISPATCH(isa, norm_cdf, x, y, n)
}

void norm_pdf(const double* x, double* y, std::int64_t n, NormalMode mode, int isa) noexcept {
    if (mode == NormalMode::as26217) {
        return pine_math::norm_pdf(x, y, n);
    }
    GAMMAEXT_DISPATCH(isa, norm_pdf, x, y, n)
}

void hedge_range(const HedgeSpec& spec, std::int64_t begin, std::int64_t end, int isa) noexcept {
    GAMMAEXT_DISPATCH(isa, hedge_range, spec, begin, end)
}

void random_draws_range(std::uint64_t seed, std::uint32_t stream, std::int64_t first_path,
                        std::int64_t begin, std::int64_t end, std::int64_t n_draws, bool normal,
                        double* out, int isa) noexcept {
    GAMMAEXT_DISPATCH(isa, random_draws, seed, stream, first_path, begin, end, n_draws, normal,
                      out)
}

void implied_vol_range(const ImpliedVolIn& in, const ImpliedVolOut& out, std::int64_t begin,
                       std::int64_t end, int isa) noexcept {
    GAMMAEXT_DISPATCH(isa, implied_vol_range, in, out, begin, end)
}

void implied_vol(const ImpliedVolIn& in, const ImpliedVolOut& out, int threads, int isa) noexcept {
    parallel_for(in.n, threads, kImpliedVolPerThread, [&](int, std::int64_t lo, std::int64_t hi) {
        implied_vol_range(in, out, lo, hi, isa);
    });
}

void normalised_black(const double* x, const double* s, double* b, std::int64_t n,
                      int isa) noexcept {
    GAMMAEXT_DISPATCH(isa, normalised_black, x, s, b, n)
}

}  // namespace gammaext
