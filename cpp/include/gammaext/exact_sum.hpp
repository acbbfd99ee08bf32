// Exact, order-independent sums of doubles (the lab's mergeable statistics).
#pragma once

#include <bit>
#include <cstdint>

namespace gammaext::exact {

/// Exponent bins of a sum: value = sum over b of (hi[b] 2^32 + lo[b]) 2^(b - kBias).
inline constexpr int kBins = 2047;  // biased exponents 1..2046 (subnormals share bin 1)
inline constexpr int kBias = 1075;  // 1023 + 52: bin b holds integer mantissas times 2^(b-1075)

/// Adds the finite values x[0..n) to the bins, exactly: every double is m 2^(b - 1075) with an
/// integer |m| < 2^53, split into 32-bit halves so that up to 2^31 values never overflow
/// int64. The result does not depend on the order of the values. The caller removes
/// non-finite values (their bin would be 2047).
inline void accumulate(const double* x, std::int64_t n, std::int64_t* hi,
                       std::int64_t* lo) noexcept {
    constexpr std::uint64_t kMant = (std::uint64_t{1} << 52) - 1;
    for (std::int64_t i = 0; i < n; ++i) {
        const auto bits = std::bit_cast<std::uint64_t>(x[i]);
        const auto biased = static_cast<int>((bits >> 52) & 0x7ff);
        const std::uint64_t m = (bits & kMant) | (biased ? std::uint64_t{1} << 52 : 0);
        const int bin = biased ? biased : 1;
        const auto h = static_cast<std::int64_t>(m >> 32);
        const auto l = static_cast<std::int64_t>(m & 0xffffffffu);
        if (bits >> 63) {
            hi[bin] -= h;
            lo[bin] -= l;
        } else {
            hi[bin] += h;
            lo[bin] += l;
        }
    }
}

}  // namespace gammaext::exact
