// The floating-point mode the kernels need, whatever mode the calling thread was left in.
//
// Every result of gammaext assumes IEEE arithmetic: round to nearest (vmath's round_int and the
// double-double tricks of the careful price rely on it), gradual underflow (the normal CDF's
// tail, prices and densities below 2.2e-308 are subnormal numbers, not 0) and no traps. A
// thread's SSE control register can say otherwise: a library linked with -ffast-math carries
// crtfastmath.o, which turns on flush-to-zero and denormals-are-zero for the whole process when
// it is loaded (a Python extension built that way, or the anchors' libmvec loops), and a caller
// may unmask an exception or change the rounding. Results would then depend on what else the
// process imported, and an unmasked exception would crash a kernel that computes inf or NaN
// on purpose. FpModeGuard sets the mode for the duration of a kernel call and restores the
// caller's (keeping the status flags the call raised); threads that the call starts inherit
// the mode of the thread that starts them (pthread_create). Elsewhere than x86 it does nothing.
#pragma once

#if defined(__SSE2__) || defined(_M_X64)
#include <xmmintrin.h>
#define GAMMAEXT_HAVE_MXCSR 1
#endif

namespace gammaext {

class FpModeGuard {
public:
#ifdef GAMMAEXT_HAVE_MXCSR
    FpModeGuard() noexcept : saved_(_mm_getcsr()) { _mm_setcsr((saved_ & ~kMode) | kKernelMode); }
    ~FpModeGuard() { _mm_setcsr((_mm_getcsr() & ~kMode) | (saved_ & kMode)); }
#else
    FpModeGuard() noexcept = default;
#endif
    FpModeGuard(const FpModeGuard&) = delete;
    FpModeGuard& operator=(const FpModeGuard&) = delete;

    /// Test hook: turns flush-to-zero and denormals-are-zero on or off for the calling thread,
    /// as a -ffast-math library does on loading; returns whether they were on (false where
    /// there is no such mode).
    static bool set_flush_to_zero(bool on) noexcept {
#ifdef GAMMAEXT_HAVE_MXCSR
        const unsigned csr = _mm_getcsr();
        _mm_setcsr(on ? csr | kFlush : csr & ~kFlush);
        return (csr & kFlush) == kFlush;
#else
        (void)on;
        return false;
#endif
    }

private:
#ifdef GAMMAEXT_HAVE_MXCSR
    static constexpr unsigned kFlushToZero = 0x8000U;      // MXCSR.FZ
    static constexpr unsigned kDenormalsAreZero = 0x0040U; // MXCSR.DAZ
    static constexpr unsigned kRounding = 0x6000U;         // MXCSR.RC, 00 = to nearest
    static constexpr unsigned kMasks = 0x1F80U;            // the six exception masks
    static constexpr unsigned kFlush = kFlushToZero | kDenormalsAreZero;
    static constexpr unsigned kMode = kFlush | kRounding | kMasks;
    static constexpr unsigned kKernelMode = kMasks;  // every exception masked, nothing else
    unsigned saved_;
#endif
};

}  // namespace gammaext
