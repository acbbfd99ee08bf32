// Declarations of the per-instruction-set kernel entry points (see simd.hpp). Only the
// dispatchers in cpp/src include this; everything else calls the dispatched functions.
#pragma once

#include <cstdint>

#include "gammaext/black_scholes.hpp"
#include "gammaext/hedging.hpp"
#include "gammaext/implied_vol.hpp"

#define GAMMAEXT_DECLARE_KERNELS(ns)                                                          \
    namespace gammaext::ns {                                                                  \
    InputReport greeks_range(const GreeksIn& in, const GreeksOut& out, std::int64_t begin,   \
                             std::int64_t end) noexcept;                                     \
    void norm_cdf(const double* x, double* y, std::int64_t n) noexcept;                      \
    void norm_pdf(const double* x, double* y, std::int64_t n) noexcept;                      \
    void hedge_range(const HedgeSpec& spec, std::int64_t begin, std::int64_t end) noexcept;  \
    void random_draws(std::uint64_t seed, std::uint32_t stream, std::int64_t first_path,     \
                      std::int64_t begin, std::int64_t end, std::int64_t n_draws, bool normal,\
                      double* out) noexcept;                                                \
    void implied_vol_range(const ImpliedVolIn& in, const ImpliedVolOut& out,                 \
                           std::int64_t begin, std::int64_t end) noexcept;                   \
    void normalised_black(const double* x, const double* s, double* b, std::int64_t n) noexcept; \
    }

GAMMAEXT_DECLARE_KERNELS(isa_baseline)
GAMMAEXT_DECLARE_KERNELS(pine_math)  // NormalMode::as26217, scalar, in pine_math.cpp
#if defined(GAMMAEXT_HAVE_AVX2)
GAMMAEXT_DECLARE_KERNELS(isa_avx2)
#endif
#if defined(GAMMAEXT_HAVE_AVX512)
GAMMAEXT_DECLARE_KERNELS(isa_avx512)
#endif
