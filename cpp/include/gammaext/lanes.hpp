// The selected lanes of a block packed into a dense array and back, with AVX-512's vcompresspd
// and vexpandpd into registers (GCC leaves such index loops scalar; the memory forms of the two
// instructions are slow on some cores). The same values in the same order as an index loop, so
// the same bits. AVX-512 kernels only: the others keep their index loops.
#pragma once

#ifdef __AVX512F__
#include <immintrin.h>

#include <bit>

#include "gammaext/simd.hpp"

namespace gammaext::lanes {
inline namespace GAMMAEXT_INLINE_NS {  // one copy per instruction set (simd.hpp)

/// The 8-lane masks of the lanes [0, len) (a multiple of 8) where sel[j] compares with value
/// as kCmp says (_CMP_EQ_OQ: ==, _CMP_NEQ_UQ: != as C++ has it, true for NaN); the count.
template <int kCmp>
GAMMAEXT_ALWAYS_INLINE int select(const double* __restrict sel, double value, int len,
                                  __mmask8* masks) noexcept {
    int n = 0;
    for (int v = 0; v < len / 8; ++v) {
        masks[v] = _mm512_cmp_pd_mask(_mm512_loadu_pd(sel + 8 * v), _mm512_set1_pd(value), kCmp);
        n += std::popcount(static_cast<unsigned>(masks[v]));
    }
    return n;
}

/// dst[0, n) = the lanes of src[0, len) that the masks select, in order, then entry n - 1
/// repeated up to m (for loops over a multiple of the vector width); dst has 8 slots of slack.
GAMMAEXT_ALWAYS_INLINE void pack(const double* __restrict src, double* __restrict dst,
                                 const __mmask8* masks, int len, int n, int m) noexcept {
    int at = 0;
    for (int v = 0; v < len / 8; ++v) {
        _mm512_storeu_pd(dst + at,
                         _mm512_maskz_compress_pd(masks[v], _mm512_loadu_pd(src + 8 * v)));
        at += std::popcount(static_cast<unsigned>(masks[v]));
    }
    for (int i = n; i < m; ++i) {
        dst[i] = dst[n - 1];
    }
}

/// The inverse: dst's selected lanes from packed[0, n) in order, the others kept (or 0).
template <bool kZeroOthers>
GAMMAEXT_ALWAYS_INLINE void unpack(const double* __restrict packed, double* __restrict dst,
                                   const __mmask8* masks, int len) noexcept {
    int at = 0;
    for (int v = 0; v < len / 8; ++v) {
        const __m512d p = _mm512_loadu_pd(packed + at);
        _mm512_storeu_pd(dst + 8 * v, kZeroOthers
                                          ? _mm512_maskz_expand_pd(masks[v], p)
                                          : _mm512_mask_expand_pd(_mm512_loadu_pd(dst + 8 * v),
                                                                  masks[v], p));
        at += std::popcount(static_cast<unsigned>(masks[v]));
    }
}

}  // namespace GAMMAEXT_INLINE_NS
}  // namespace gammaext::lanes
#endif
