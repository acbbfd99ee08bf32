#include <array>
#include <vector>

#include "gammaext/black_scholes.hpp"
#include "pybind.hpp"

namespace gammaext::bindings {

namespace {

py::dict report_dict(const InputReport& r) {
    return py::dict("first_invalid"_a = r.first_invalid, "invalid_count"_a = r.invalid_count,
                    "rate_looks_percent"_a = r.rate_looks_percent,
                    "div_looks_percent"_a = r.div_looks_percent,
                    "vol_looks_percent"_a = r.vol_looks_percent);
}

NormalMode normal_mode(int mode) {
    if (mode != static_cast<int>(NormalMode::exact) &&
        mode != static_cast<int>(NormalMode::as26217)) {
        throw std::invalid_argument("unknown normal mode " + std::to_string(mode));
    }
    return static_cast<NormalMode>(mode);
}

}  // namespace

void bind_black_scholes(py::module_& m) {
    m.def("_greek_names", [] { return names_of(GAMMAEXT_GREEKS(GAMMAEXT_NAME)); });
    m.def("_normal_mode_names", [] { return names_of(GAMMAEXT_NORMAL_MODES(GAMMAEXT_NAME)); });
    m.def(
        "_greeks",
        [](std::int64_t n, const farray& spot, const farray& strike, const farray& t,
           const farray& vol, const farray& rate, const farray& div, const u8array& is_call,
           const py::list& outs, int mode, int threads, int isa, bool probe) {
            if (n < 0) {
                throw std::invalid_argument("n must be >= 0");
            }
            if (outs.size() != static_cast<std::size_t>(kNumGreeks)) {
                throw std::invalid_argument("expected " + std::to_string(kNumGreeks) +
                                            " output slots");
            }
            GreeksIn in;
            in.n = n;
            if (n > 0) {
                in.spot = column(spot, n, "spot");
                in.strike = column(strike, n, "strike");
                in.t = column(t, n, "t");
                in.vol = column(vol, n, "vol");
                in.rate = column(rate, n, "rate");
                in.div = column(div, n, "div");
                in.is_call = flag_column(is_call, n, "is_call");
            }
            GreeksOut out;
            std::vector<fbuffer> keep;  // holds the converted buffers while the kernel runs
            for (std::size_t g = 0; g < out.out.size(); ++g) {
                if (!outs[g].is_none()) {  // converting only the requested slots keeps calls cheap
                    keep.push_back(outs[g].cast<fbuffer>());
                    out.out[g] = output(keep.back(), n, "greek");
                }
            }
            const NormalMode nm = normal_mode(mode);
            InputReport report;
            {
                const KernelScope scope;  // the kernel touches only raw buffers
                if (probe) {
                    stream_probe(in, out, threads);
                } else {
                    report = greeks(in, out, nm, threads, isa);
                }
            }
            return report_dict(report);
        },
        "n"_a, "spot"_a, "strike"_a, "t"_a, "vol"_a, "rate"_a, "div"_a, "is_call"_a, "outs"_a,
        "mode"_a = 0, "threads"_a = 0, "isa"_a = -1, "probe"_a = false);

    const auto unary = [](void (*fn)(const double*, double*, std::int64_t, NormalMode, int)) {
        return [fn](const farray& x, fbuffer& y, int mode, int isa) {
            const std::int64_t n = x.size();
            double* py = output(y, n, "y");
            const NormalMode nm = normal_mode(mode);
            const KernelScope scope;
            fn(x.data(), py, n, nm, isa);
        };
    };
    m.def("_norm_cdf", unary(&norm_cdf), "x"_a, "y"_a, "mode"_a = 0, "isa"_a = -1);
    m.def("_norm_pdf", unary(&norm_pdf), "x"_a, "y"_a, "mode"_a = 0, "isa"_a = -1);
}

}  // namespace gammaext::bindings
