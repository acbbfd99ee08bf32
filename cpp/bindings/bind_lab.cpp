// Helpers of the lab's statistics (python/gammaext/lab.py).
#include "gammaext/exact_sum.hpp"
#include "pybind.hpp"

namespace gammaext::bindings {

void bind_lab(py::module_& m) {
    m.def(
        "_exact_sum_bins",
        [](const farray& x) {
            if (x.ndim() != 2) throw std::invalid_argument("x must be 2-D (rows x values)");
            const py::ssize_t rows = x.shape(0), n = x.shape(1);
            if (n >= (py::ssize_t{1} << 31)) {
                throw std::invalid_argument("at most 2**31 - 1 values per row");
            }
            py::array_t<std::int64_t> hi({rows, py::ssize_t{exact::kBins}});
            py::array_t<std::int64_t> lo({rows, py::ssize_t{exact::kBins}});
            std::int64_t* ph = hi.mutable_data();
            std::int64_t* pl = lo.mutable_data();
            const double* px = x.data();
            {
                const KernelScope scope;
                std::fill(ph, ph + rows * exact::kBins, 0);
                std::fill(pl, pl + rows * exact::kBins, 0);
                for (py::ssize_t r = 0; r < rows; ++r) {
                    exact::accumulate(px + r * n, n, ph + r * exact::kBins,
                                      pl + r * exact::kBins);
                }
            }
            return py::make_tuple(hi, lo);
        },
        "x"_a,
        "Exact sums of the rows of a finite float64 array, as exponent bins (hi, lo): row r's "
        "sum is the sum over b of (hi[r, b] * 2**32 + lo[r, b]) * 2**(b - 1075).");
}

}  // namespace gammaext::bindings
