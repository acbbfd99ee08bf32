// Run-time choice of the instruction set for the vectorized kernels.
//
// Each kernel source (cpp/src/*_kernel.cpp) is compiled once per instruction set into its own
// namespace (gammaext::isa_baseline, isa_avx2, isa_avx512; CMake decides which exist on the
// target). The public entry points take an `isa` argument: kIsaBest picks the widest one the
// running CPU supports, any other value is clamped to what is available, so a wheel built on
// one machine runs on any x86-64 and the results can be compared across instruction sets.
#pragma once

// Inline functions of headers that the kernels include (vmath.hpp, random.hpp, ...) live in an
// inline namespace named after the instruction set of the translation unit (`isa_default`
// outside the kernels). The linker keeps one out-of-line copy of an inline function per name; if
// the compiler does not inline one (sanitizer builds do not, always), the baseline kernel could
// otherwise end up calling a copy built for AVX-512 and fault on a CPU without it. Callers
// still write vmath::exp. `.ci/check_isa_symbols` checks the object files for shared copies.
// The element functions of vmath.hpp and random.hpp are called inside `#pragma omp simd` loops,
// which vectorize only if the call is inlined: that must not depend on the compiler's inlining
// budget (a large caller, -O2 or a sanitizer build would otherwise get a scalar call per element).
#if defined(__GNUC__)
#define GAMMAEXT_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define GAMMAEXT_ALWAYS_INLINE inline
#endif

#ifdef GAMMAEXT_ISA_NS
#define GAMMAEXT_INLINE_NS GAMMAEXT_ISA_NS
#else
#define GAMMAEXT_INLINE_NS isa_default
#endif

namespace gammaext {

inline constexpr int kIsaBaseline = 0;  ///< portable: SSE2 on x86-64, the default elsewhere
inline constexpr int kIsaAvx2 = 1;      ///< AVX2 + FMA
inline constexpr int kIsaAvx512 = 2;    ///< AVX-512 F/DQ/VL
inline constexpr int kIsaBest = -1;

/// The widest instruction set both compiled in and supported by this CPU.
int best_isa() noexcept;

/// `requested` if available, kIsaBest -> best_isa(), otherwise the best available below it.
int resolve_isa(int requested) noexcept;

const char* isa_name(int isa) noexcept;

}  // namespace gammaext
