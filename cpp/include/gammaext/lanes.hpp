// The selected lanes of a block packed into a dense array and back. Packed loops run over a
// whole number of vectors (the last selected lane repeated: padded, pad_indices), so that every
// lane goes through the vector body, never a scalar remainder that could round differently
// (-ffp-contract): a lane's result does not depend on its neighbours. On AVX-512, select, pack
// and unpack do it with vcompresspd and vexpandpd into registers (GCC leaves such index loops
// scalar; the memory forms of the two instructions are slow on some cores): the same values in
// the same order as an index loop, so the same bits. The other kernels keep their index loops.
#pragma once

#include "gammaext/simd.hpp"

#ifdef __AVX512F__
#include <immintrin.h>

#include <bit>
#endif

namespace gammaext::lanes {
inline namespace GAMMAEXT_INLINE_NS {  // one copy per instruction set (simd.hpp)

inline constexpr int kPack = 8;  // the widest vector (AVX-512: 8 doubles) divides it

/// n rounded up to a whole number of vectors (a multiple of kPack).
constexpr int padded(int n) noexcept { return (n + kPack - 1) / kPack * kPack; }

/// idx[n, padded(n)) = idx[n - 1] (n > 0); returns padded(n).
inline int pad_indices(int* idx, int n) noexcept {
    const int m = padded(n);
    for (int i = n; i < m; ++i) {
        idx[i] = idx[n - 1];
    }
    return m;
}

#ifdef __AVX512F__
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

#endif

}  // namespace GAMMAEXT_INLINE_NS
}  // namespace gammaext::lanes
