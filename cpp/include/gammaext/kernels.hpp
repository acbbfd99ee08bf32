// Declarations of the per-instruction-set kernel entry points (see simd.hpp). Only the
// dispatchers in cpp/src include this; everything else calls the dispatched functions.
#pragma once

#include <cstdint>

#include "gammaext/black_scholes.hpp"
#include "gammaext/implied_vol.hpp"

#define GAMMAEXT_DECLARE_KERNELS(ns)                                                          \
    namespace gammaext::ns {                                                                  \
    InputReport greeks_range(const GreeksIn& in, const GreeksOut& out, NormalMode mode,       \
                             std::int64_t begin, std::int64_t end) noexcept;                 \
    void norm_cdf(const double* x, double* y, std::int64_t n, NormalMode mode) noexcept;     \
    void norm_pdf(const double* x, double* y, std::int64_t n, NormalMode mode) noexcept;     \
    void implied_vol_range(const ImpliedVolIn& in, const ImpliedVolOut& out,                 \
                           std::int64_t begin, std::int64_t end) noexcept;                   \
    void normalised_black(const double* x, const double* s, double* b, std::int64_t n) noexcept; \
    }

GAMMAEXT_DECLARE_KERNELS(isa_baseline)
#if defined(GAMMAEXT_HAVE_AVX2)
GAMMAEXT_DECLARE_KERNELS(isa_avx2)
#endif
#if defined(GAMMAEXT_HAVE_AVX512)
GAMMAEXT_DECLARE_KERNELS(isa_avx512)
#endif
