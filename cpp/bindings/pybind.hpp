// The only header that includes pybind11; shared helpers for the bind_<area>.cpp files.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "gammaext/black_scholes.hpp"
#include "gammaext/fpenv.hpp"
#include "gammaext/surface.hpp"

namespace py = pybind11;
using namespace pybind11::literals;

namespace gammaext::bindings {

/// Held by every kernel call while it runs: the GIL released (the kernels touch only raw
/// buffers) and the floating-point mode they need (fpenv.hpp), the caller's restored after.
struct KernelScope {
    py::gil_scoped_release release;
    FpModeGuard fp_mode;
};

/// A float64 input, converted (copied) only if it is not already C-contiguous float64.
using farray = py::array_t<double, py::array::c_style | py::array::forcecast>;
/// A float64 output buffer: never converted, so writes land in the caller's array.
using fbuffer = py::array_t<double, py::array::c_style>;
using u8array = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>;

inline std::string size_message(const char* name, py::ssize_t got, std::int64_t n) {
    return std::string(name) + " has " + std::to_string(got) + " elements; expected 1 or " +
           std::to_string(n);
}

/// A column of length n, or a broadcast scalar (one element).
inline Column column(const farray& a, std::int64_t n, const char* name) {
    if (a.size() != 1 && a.size() != n) {
        throw std::invalid_argument(size_message(name, a.size(), n));
    }
    return Column{a.data(), a.size() == 1};
}

inline FlagColumn flag_column(const u8array& a, std::int64_t n, const char* name) {
    if (a.size() != 1 && a.size() != n) {
        throw std::invalid_argument(size_message(name, a.size(), n));
    }
    return FlagColumn{a.data(), a.size() == 1};
}

/// A writable, C-contiguous float64 buffer of exactly n elements.
inline double* output(std::optional<fbuffer> a, std::int64_t n, const char* name) {
    if (!a) {
        return nullptr;
    }
    if (!a->writeable()) {
        throw std::invalid_argument(std::string("out buffer for ") + name + " is read-only");
    }
    if (a->size() != n) {
        throw std::invalid_argument(std::string("out buffer for ") + name + " has " +
                                    std::to_string(a->size()) + " elements; expected " +
                                    std::to_string(n));
    }
    return a->mutable_data();
}

/// The names of an X-macro list, in order: names_of(GAMMAEXT_GREEKS(GAMMAEXT_NAME)). Python
/// looks enum values and array columns up by these names.
#define GAMMAEXT_NAME(name) #name ","
inline std::vector<std::string> names_of(const char* list) {
    std::vector<std::string> out;
    std::string cur;
    for (const char* c = list; *c != '\0'; ++c) {
        if (*c == ',') {
            out.push_back(cur);
            cur.clear();
        } else {
            cur += *c;
        }
    }
    return out;
}

/// The view of a surface's arrays (bind_surface.cpp): shapes checked (ValueError), values are
/// Python's to check. The arrays must outlive the view.
SurfaceView make_surface_view(int kind, const farray& t, const farray& params, const farray& k);

void bind_black_scholes(py::module_& m);
void bind_backtest(py::module_& m);
void bind_hedging(py::module_& m);
void bind_implied_vol(py::module_& m);
void bind_lab(py::module_& m);
void bind_surface(py::module_& m);

}  // namespace gammaext::bindings
