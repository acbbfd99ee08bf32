// Volatility surfaces and implied-vol dynamics (python/gammaext/surface.py, vol_dynamics.py).
#include <string>

#include "gammaext/surface.hpp"
#include "pybind.hpp"

namespace gammaext::bindings {

/// The view of a surface's arrays; the shapes are checked here, the values in Python.
SurfaceView make_surface_view(int kind, const farray& t, const farray& params, const farray& k) {
    SurfaceView s;
    if (kind < 0 || kind > static_cast<int>(SurfaceKind::grid)) {
        throw std::invalid_argument("unknown surface kind " + std::to_string(kind));
    }
    s.kind = static_cast<SurfaceKind>(kind);
    s.n_t = t.size();
    s.t = t.data();
    s.params = params.data();
    s.n_k = k.size();
    s.k = k.data();
    std::int64_t want = 0;
    switch (s.kind) {
        case SurfaceKind::flat:
            want = 1;
            break;
        case SurfaceKind::term:
            want = s.n_t;
            break;
        case SurfaceKind::svi:
            want = kSviParams * s.n_t;
            break;
        case SurfaceKind::grid:
            want = s.n_t * s.n_k;
            if (s.n_k < 1) throw std::invalid_argument("a grid surface needs at least one k");
            break;
    }
    if (s.kind != SurfaceKind::flat && s.n_t < 1) {
        throw std::invalid_argument("the surface needs at least one expiry");
    }
    if (params.size() != want) {
        throw std::invalid_argument("params has " + std::to_string(params.size()) +
                                    " elements; expected " + std::to_string(want));
    }
    return s;
}

void bind_surface(py::module_& m) {
    m.def("_surface_kind_names", [] { return names_of(GAMMAEXT_SURFACE_KINDS(GAMMAEXT_NAME)); });
    m.def(
        "_surface_eval",
        [](int kind, const farray& expiries, const farray& params, const farray& kgrid,
           const farray& k, const farray& t, bool want_vol, int threads) {
            const SurfaceView s = make_surface_view(kind, expiries, params, kgrid);
            const std::int64_t n = std::max<std::int64_t>(k.size(), t.size());
            if ((k.size() != 1 && k.size() != n) || (t.size() != 1 && t.size() != n)) {
                throw std::invalid_argument("k has " + std::to_string(k.size()) + " and t has " +
                                            std::to_string(t.size()) +
                                            " elements; expected equal lengths or 1");
            }
            farray out(n);
            double* o = out.mutable_data();
            const double* pk = k.data();
            const double* pt = t.data();
            const bool ks = k.size() == 1, ts = t.size() == 1;
            {
                const KernelScope scope;
                surface_eval(s, pk, ks, pt, ts, n, want_vol, o, threads);
            }
            return out;
        },
        "kind"_a, "expiries"_a, "params"_a, "kgrid"_a, "k"_a, "t"_a, "want_vol"_a,
        "threads"_a = 0);
    m.def(
        "_heston_expected_vol",
        [](const farray& v, const farray& tau, double kappa, double theta) {
            if (v.size() != tau.size()) {
                throw std::invalid_argument("v and tau must have equal lengths");
            }
            const std::int64_t n = v.size();
            farray out(n);
            double* o = out.mutable_data();
            const double* pv = v.data();
            const double* pt = tau.data();
            {
                const KernelScope scope;
                for (std::int64_t i = 0; i < n; ++i) {
                    o[i] = surface::heston_expected_vol(pv[i], pt[i], kappa, theta);
                }
            }
            return out;
        },
        "v"_a, "tau"_a, "kappa"_a, "theta"_a);
    m.def(
        "_atm_vol_paths",
        [](std::uint64_t seed, std::int64_t first_path, std::int64_t n_paths,
           const farray& times, double spot, double drift, double vol, double atm0, double level,
           double kappa, double xi, double rho, int threads, int isa) {
            if (n_paths < 0 || first_path < 0) {
                throw std::invalid_argument("n_paths and first_path must be >= 0");
            }
            if (times.size() < 1) throw std::invalid_argument("times needs at least one time");
            AtmVolSpec sp;
            sp.seed = seed;
            sp.first_path = first_path;
            sp.n_paths = n_paths;
            sp.n_steps = times.size() - 1;
            sp.times = times.data();
            sp.spot = spot;
            sp.drift = drift;
            sp.vol = vol;
            sp.atm0 = atm0;
            sp.level = level;
            sp.kappa = kappa;
            sp.xi = xi;
            sp.rho = rho;
            farray s_out({n_paths, sp.n_steps + 1});
            farray a_out({n_paths, sp.n_steps + 1});
            sp.spot_out = s_out.mutable_data();
            sp.atm_out = a_out.mutable_data();
            {
                const KernelScope scope;
                atm_vol_paths(sp, threads, isa);
            }
            return py::make_tuple(s_out, a_out);
        },
        "seed"_a, "first_path"_a, "n_paths"_a, "times"_a, "spot"_a, "drift"_a, "vol"_a,
        "atm0"_a, "level"_a, "kappa"_a, "xi"_a, "rho"_a, "threads"_a = 0, "isa"_a = -1);
}

}  // namespace gammaext::bindings
