// A minimal fork-join loop over index ranges on std::thread.
//
// No pool and no global state: each call starts its threads and joins them before returning,
// which costs tens of microseconds and is only done when every thread gets at least
// `min_per_thread` elements. The split is contiguous and depends only on (n, threads), and every
// kernel is element-wise or per-path, so results never depend on the thread count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace gammaext {

/// Process-wide default thread count (0 = all hardware threads). Atomic; the only shared state.
int default_threads() noexcept;
void set_default_threads(int threads) noexcept;

/// `threads` <= 0 means default_threads().
int effective_threads(int threads) noexcept;

/// Calls fn(chunk_index, begin, end) for `chunks` contiguous chunks covering [0, n), the first
/// on the calling thread (or any chunk whose thread cannot be started). Returns the number of
/// chunks used. fn must not throw.
template <class Fn>
int parallel_for(std::int64_t n, int threads, std::int64_t min_per_thread, Fn&& fn) {
    const std::int64_t by_size = std::max<std::int64_t>(1, n / std::max<std::int64_t>(1, min_per_thread));
    const int chunks = static_cast<int>(std::min<std::int64_t>(effective_threads(threads), by_size));
    if (chunks <= 1) {
        fn(0, std::int64_t{0}, n);
        return 1;
    }
    const auto bounds = [&](int c) { return n * c / chunks; };
    std::vector<std::thread> pool;
    pool.reserve(static_cast<std::size_t>(chunks - 1));
    for (int c = 1; c < chunks; ++c) {
        try {
            pool.emplace_back([&fn, c, lo = bounds(c), hi = bounds(c + 1)] { fn(c, lo, hi); });
        } catch (...) {  // no thread to be had (resource limits): do this chunk here instead
            fn(c, bounds(c), bounds(c + 1));
        }
    }
    fn(0, bounds(0), bounds(1));
    for (auto& th : pool) {
        th.join();
    }
    return chunks;
}

}  // namespace gammaext
