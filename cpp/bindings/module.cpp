// The _core extension module: one bind_<area> call per area. Docs live in the Python package.
#include <string>

#include "pybind.hpp"
#include "gammaext/parallel.hpp"
#include "gammaext/simd.hpp"

PYBIND11_MODULE(_core, m, py::mod_gil_not_used()) {
    m.doc() = "gammaext compiled core (private: use the gammaext package)";
    m.def("_best_isa", &gammaext::best_isa);
    m.def("_resolve_isa", &gammaext::resolve_isa, "isa"_a);
    m.def("_isa_name", &gammaext::isa_name, "isa"_a);
    m.def("_default_threads", &gammaext::default_threads);
    m.def("_set_default_threads", &gammaext::set_default_threads, "threads"_a);
    m.def("_set_flush_to_zero", &gammaext::FpModeGuard::set_flush_to_zero, "on"_a);
    gammaext::bindings::bind_black_scholes(m);
    gammaext::bindings::bind_backtest(m);
    gammaext::bindings::bind_hedging(m);
    gammaext::bindings::bind_implied_vol(m);
    gammaext::bindings::bind_lab(m);
    gammaext::bindings::bind_surface(m);
    // Every bound name: mypy's stubtest skips private names unless __all__ lists them, so this
    // makes `python -m mypy.stubtest gammaext._core` (.ci/run) check each against _core.pyi.
    py::list names;
    for (const auto& item : py::cast<py::dict>(m.attr("__dict__"))) {
        const auto name = py::cast<std::string>(item.first);
        if (!name.starts_with("__")) {
            names.append(name);
        }
    }
    m.attr("__all__") = names;
}
