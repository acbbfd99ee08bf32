#include <optional>
#include <string>

#include "gammaext/implied_vol.hpp"
#include "pybind.hpp"

namespace gammaext::bindings {

namespace {

using i8buffer = py::array_t<std::int8_t, py::array::c_style>;

std::int8_t* status_output(std::optional<i8buffer> a, std::int64_t n) {
    if (!a) {
        return nullptr;
    }
    if (!a->writeable() || a->size() != n) {
        throw std::invalid_argument("status buffer must be writeable with " + std::to_string(n) +
                                    " elements");
    }
    return a->mutable_data();
}

}  // namespace

void bind_implied_vol(py::module_& m) {
    m.def(
        "_implied_vol",
        [](std::int64_t n, const farray& price, const farray& spot, const farray& strike,
           const farray& t, const farray& rate, const farray& div, const u8array& is_call,
           std::optional<fbuffer> vol, std::optional<i8buffer> status, int threads, int isa) {
            if (n < 0) {
                throw std::invalid_argument("n must be >= 0");
            }
            if (!vol) {
                throw std::invalid_argument("a vol buffer is required");
            }
            ImpliedVolIn in;
            in.n = n;
            if (n > 0) {
                in.price = column(price, n, "price");
                in.spot = column(spot, n, "spot");
                in.strike = column(strike, n, "strike");
                in.t = column(t, n, "t");
                in.rate = column(rate, n, "rate");
                in.div = column(div, n, "div");
                in.is_call = flag_column(is_call, n, "is_call");
            }
            ImpliedVolOut out;
            out.vol = output(vol, n, "vol");
            out.status = status_output(status, n);
            const KernelScope scope;  // the kernel touches only raw buffers
            implied_vol(in, out, threads, isa);
        },
        "n"_a, "price"_a, "spot"_a, "strike"_a, "t"_a, "rate"_a, "div"_a, "is_call"_a, "vol"_a,
        "status"_a, "threads"_a = 0, "isa"_a = -1);

    m.def(
        "_normalised_black",
        [](const farray& x, const farray& s, fbuffer& b, int isa) {
            const std::int64_t n = x.size();
            if (s.size() != n) {
                throw std::invalid_argument(size_message("s", s.size(), n));
            }
            double* pb = output(b, n, "b");
            const KernelScope scope;
            normalised_black(x.data(), s.data(), pb, n, isa);
        },
        "x"_a, "s"_a, "b"_a, "isa"_a = -1);
}

}  // namespace gammaext::bindings
