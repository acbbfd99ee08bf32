// Bindings of the hedging engine and its random numbers. Argument checking for users is done
// in python/gammaext/hedging.py; here only sizes are checked (ValueError), so a wrong call can
// never read out of bounds.
#include <string>
#include <vector>

#include "gammaext/hedging.hpp"
#include "gammaext/random.hpp"
#include "pybind.hpp"

namespace gammaext::bindings {

namespace {

using i64array = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

/// Largest count (rule length, interval, block) accepted: 2^53, the last exact integer.
constexpr double kMaxCount = 9007199254740992.0;

void require(bool ok, const std::string& message) {
    if (!ok) {
        throw std::invalid_argument(message);
    }
}

/// _hedge: one pass of the engine over n_paths paths for every row (rule) of params. Sizes
/// are checked here (ValueError); the kernel runs without the GIL. Returns (out, trace);
/// split false: the P&L without its split (HedgeSpec::split).
py::tuple run_hedge(const farray& params, std::uint64_t seed, const farray& times,
                    const farray& vols, const farray& groups, const farray& returns,
                    const farray& paths, const farray& profile, const farray& imbalance,
                    const py::tuple& surface, const farray& atm_rows, std::int64_t first_path,
                    std::int64_t n_paths,
                    const i64array& trace_paths, int threads, int isa, bool split) {
    // One row of parameters per rule; the non-rule fields are read from row 0.
    require(params.ndim() == 2 && params.shape(0) >= 1 && params.shape(1) == kNumHedgeParams,
            "params must be (n_rules, " + std::to_string(kNumHedgeParams) + ")");
    const py::ssize_t n_rules = params.shape(0);
    require(times.ndim() == 1 && times.size() >= 2, "times needs at least 2 values");
    require(groups.ndim() == 2 && groups.shape(1) == kNumGroupColumns && groups.shape(0) >= 1,
            "groups must be an (n >= 1, " + std::to_string(kNumGroupColumns) + ") array");
    require(n_paths >= 0 && first_path >= 0, "n_paths and first_path must be >= 0");
    const std::int64_t n_steps = times.size() - 1;
    const auto kind = static_cast<PathKind>(static_cast<int>(params.at(0, hp_path_kind)));
    if (kind == PathKind::user) {
        require(paths.ndim() == 2 && paths.shape(0) == n_paths &&
                    paths.shape(1) == n_steps + 1,
                "paths must be (n_paths, n_steps + 1)");
    }
    // signals: empty (none), or rows of n_steps + 1 values, 1 row or one per path
    std::int64_t signal_rows = 0;
    for (const farray* sig : {&profile, &imbalance}) {
        if (sig->size() == 0) {
            continue;
        }
        require(sig->ndim() == 2 && sig->shape(1) == n_steps + 1 &&
                    (sig->shape(0) == 1 || sig->shape(0) == n_paths) &&
                    (signal_rows == 0 || sig->shape(0) == signal_rows),
                "signals must be (1 or n_paths, n_steps + 1), the same for both");
        signal_rows = sig->shape(0);
    }
    if (kind == PathKind::bootstrap) {
        require(returns.ndim() == 1 && returns.size() >= 1, "returns must be non-empty");
        require(params.at(0, hp_block_length) >= 1.0, "block_length must be >= 1");
    }
    for (py::ssize_t r = 0; r < n_rules; ++r) {
        require(params.at(r, hp_atr_length) >= 1.0 && params.at(r, hp_er_length) >= 1.0,
                "atr_length and er_length must be >= 1");
        // The kernel converts these counts to int64: beyond 2^53 (not even exact as
        // doubles) the conversion would be undefined behaviour. NaN fails too.
        for (const HedgeParam c : {hp_atr_length, hp_er_length, hp_every, hp_max_interval,
                                   hp_block_length, hp_oh_every}) {
            require(params.at(r, c) <= kMaxCount,
                    "rule lengths and intervals must be <= 2**53");
        }
    }
    std::vector<OptionGroup> gs(static_cast<std::size_t>(groups.shape(0)));
    auto g = groups.unchecked<2>();
    for (py::ssize_t i = 0; i < groups.shape(0); ++i) {
        gs[static_cast<std::size_t>(i)] = OptionGroup{
            .strike = g(i, gc_strike),
            .expiry = g(i, gc_expiry),
            .qc = g(i, gc_qc),
            .qp = g(i, gc_qp),
            .expiry_step = static_cast<std::int64_t>(g(i, gc_expiry_step))};
    }
    const py::ssize_t n_trace = trace_paths.size();
    for (py::ssize_t i = 0; i < n_trace; ++i) {
        const std::int64_t p = trace_paths.data()[i];
        require(p >= first_path && p < first_path + n_paths,
                "trace path " + std::to_string(p) + " is outside the simulated paths");
    }
    py::array_t<double> out({static_cast<py::ssize_t>(kNumHedgeOutputs), n_rules,
                             static_cast<py::ssize_t>(n_paths)});
    py::array_t<double> trace({n_rules, n_trace, static_cast<py::ssize_t>(n_steps + 1),
                               static_cast<py::ssize_t>(kNumTraceFields)});
    HedgeSpec spec;
    spec.p = params.data();
    spec.rule_params = params.data();
    spec.n_rules = n_rules;
    spec.seed = seed;
    spec.times = times.data();
    if (vols.size() > 0) {
        require(vols.ndim() == 1 && vols.size() == times.size(),
                "vols must have one value per time");
        spec.vols = vols.data();
    }
    // The surface of vol_model surface (and the smile of heston marks): (kind, expiries,
    // params, k grid), shapes checked here, values (increasing expiries, w >= 0) in Python.
    farray s_t, s_params, s_k;
    const double model = params.at(0, hp_vol_model);
    require(model == 0.0 || model == 1.0 || model == 2.0, "vol_model must be 0, 1 or 2");
    if (static_cast<VolModel>(static_cast<int>(params.at(0, hp_vol_model))) !=
        VolModel::constant) {
        require(surface.size() == 4, "surface must be (kind, expiries, params, k)");
        s_t = surface[1].cast<farray>();
        s_params = surface[2].cast<farray>();
        s_k = surface[3].cast<farray>();
        spec.surface = make_surface_view(surface[0].cast<int>(), s_t, s_params, s_k);
        if (atm_rows.size() > 0) {
            require(atm_rows.ndim() == 2 && atm_rows.shape(0) == n_paths &&
                        atm_rows.shape(1) == n_steps + 1,
                    "atm_rows must be (n_paths, n_steps + 1)");
            spec.atm_rows = atm_rows.data();
        }
    }
    spec.n_steps = n_steps;
    spec.groups = gs.data();
    spec.n_groups = static_cast<std::int64_t>(gs.size());
    spec.returns = returns.size() > 0 ? returns.data() : nullptr;
    spec.n_returns = returns.size();
    spec.paths = kind == PathKind::user ? paths.data() : nullptr;
    spec.profile = profile.size() > 0 ? profile.data() : nullptr;
    spec.imbalance = imbalance.size() > 0 ? imbalance.data() : nullptr;
    spec.signal_rows = signal_rows;
    spec.first_path = first_path;
    spec.n_paths = n_paths;
    double* o = out.mutable_data();
    for (int i = 0; i < kNumHedgeOutputs; ++i) {
        spec.out[i] = o + static_cast<std::int64_t>(i) * n_rules * n_paths;
    }
    spec.trace_paths = trace_paths.data();
    spec.n_trace = n_trace;
    spec.trace = trace.mutable_data();
    spec.split = split;
    {
        const KernelScope scope;  // the kernel touches only raw buffers
        hedge(spec, threads, isa);
    }
    return py::make_tuple(out, trace);
}

}  // namespace

void bind_hedging(py::module_& m) {
    m.def("_hedge_param_names",
          [] { return names_of(GAMMAEXT_HEDGE_PARAMS(GAMMAEXT_NAME)); });
    m.def("_hedge_output_names",
          [] { return names_of(GAMMAEXT_HEDGE_OUTPUTS(GAMMAEXT_NAME)); });
    m.def("_trace_field_names",
          [] { return names_of(GAMMAEXT_TRACE_FIELDS(GAMMAEXT_NAME)); });
    m.def("_path_kind_names", [] { return names_of(GAMMAEXT_PATH_KINDS(GAMMAEXT_NAME)); });
    m.def("_noise_kind_names", [] { return names_of(GAMMAEXT_NOISE_KINDS(GAMMAEXT_NAME)); });
    m.def("_band_kind_names", [] { return names_of(GAMMAEXT_BAND_KINDS(GAMMAEXT_NAME)); });
    m.def("_signal_kind_names", [] { return names_of(GAMMAEXT_SIGNAL_KINDS(GAMMAEXT_NAME)); });
    m.def("_vol_model_names", [] { return names_of(GAMMAEXT_VOL_MODELS(GAMMAEXT_NAME)); });
    m.def("_hedge_vol_kind_names",
          [] { return names_of(GAMMAEXT_HEDGE_VOL_KINDS(GAMMAEXT_NAME)); });
    m.def("_stream_names", [] { return names_of(GAMMAEXT_RNG_STREAMS(GAMMAEXT_NAME)); });
    m.def("_group_column_names",
          [] { return names_of(GAMMAEXT_GROUP_COLUMNS(GAMMAEXT_NAME)); });

    m.def("_hedge", &run_hedge, "params"_a, "seed"_a, "times"_a, "vols"_a, "groups"_a,
          "returns"_a, "paths"_a, "profile"_a, "imbalance"_a, "surface"_a, "atm_rows"_a, "first_path"_a,
          "n_paths"_a, "trace_paths"_a, "threads"_a = 0,
          "isa"_a = -1, "split"_a = true);

    m.def(
        "_random_draws",
        [](std::uint64_t seed, std::uint32_t stream, std::int64_t first_path, std::int64_t n_paths,
           std::int64_t n_draws, bool normal, int threads, int isa) {
            require(n_paths >= 0 && n_draws >= 0 && first_path >= 0,
                    "first_path, n_paths and n_draws must be >= 0");
            py::array_t<double> out({n_paths, n_draws});
            double* o = out.mutable_data();
            {
                const KernelScope scope;
                random_draws(seed, stream, first_path, n_paths, n_draws, normal, o, threads, isa);
            }
            return out;
        },
        "seed"_a, "stream"_a, "first_path"_a, "n_paths"_a, "n_draws"_a, "normal"_a,
        "threads"_a = 0, "isa"_a = -1);

    m.def(
        "_philox4x32",
        [](std::array<std::uint32_t, 4> ctr, std::array<std::uint32_t, 2> key) {
            std::array<std::uint32_t, 4> out{};
            rng::philox4x32(ctr[0], ctr[1], ctr[2], ctr[3], key[0], key[1], out.data());
            return out;
        },
        "ctr"_a, "key"_a);
    m.def(
        "_box_muller",
        [](const farray& u0, const farray& u1) {
            require(u0.size() == u1.size(), "u0 and u1 differ in size");
            farray z0(u0.size()), z1(u0.size());
            const FpModeGuard fp_mode;  // as the kernels (fpenv.hpp)
            for (py::ssize_t i = 0; i < u0.size(); ++i) {
                rng::box_muller(u0.data()[i], u1.data()[i], z0.mutable_data()[i],
                                z1.mutable_data()[i]);
            }
            return py::make_tuple(z0, z1);
        },
        "u0"_a, "u1"_a);
    m.def(
        "_norm_ppf",
        [](const farray& p) {
            farray out(p.size());
            const double* x = p.data();
            double* y = out.mutable_data();
            const FpModeGuard fp_mode;  // as the kernels (fpenv.hpp)
            for (py::ssize_t i = 0; i < p.size(); ++i) {
                y[i] = rng::norm_ppf(x[i]);
            }
            return out;
        },
        "p"_a);
}

}  // namespace gammaext::bindings
