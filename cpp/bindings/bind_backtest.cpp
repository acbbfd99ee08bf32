// Bindings of the strategy backtest (backtest.hpp) and the bar indicators (indicators.hpp).
#include <string>
#include <vector>

#include "gammaext/backtest.hpp"
#include "gammaext/indicators.hpp"
#include "pybind.hpp"

namespace gammaext::bindings {

namespace {

namespace bt = gammaext::backtest;
namespace ind = gammaext::indicators;

std::int64_t same_length(std::initializer_list<std::pair<const char*, const farray*>> arrays) {
    std::int64_t n = -1;
    for (const auto& [name, a] : arrays) {
        if (a->ndim() != 1) {
            throw std::invalid_argument(std::string(name) + " must be 1-D, got " +
                                        std::to_string(a->ndim()) + " dimensions");
        }
        if (n >= 0 && a->size() != n) {
            throw std::invalid_argument(std::string(name) + " has " + std::to_string(a->size()) +
                                        " elements; expected " + std::to_string(n));
        }
        n = a->size();
    }
    return n;
}

bt::Params params_checked(const farray& row) {
    if (row.ndim() != 1 || row.size() != bt::kNumParams) {
        throw std::invalid_argument("params must hold " + std::to_string(bt::kNumParams) +
                                    " values");
    }
    bt::Params p = bt::params_from_row(row.data());
    if (const char* msg = bt::check_params(p)) {
        throw std::invalid_argument(msg);
    }
    return p;
}

py::dict trades_dict(const std::vector<bt::Trade>& trades) {
    const auto n = static_cast<py::ssize_t>(trades.size());
    py::array_t<std::int64_t> dir(n), signal_bar(n), entry_bar(n), exit_bar(n),
        exit_signal_bar(n), exit_reason(n);
    farray entry_price(n), qty(n), stop(n), limit(n), exit_price(n), entry_fee(n), exit_fee(n),
        pnl(n), run_up(n), drawdown(n);
    for (py::ssize_t k = 0; k < n; ++k) {
        const bt::Trade& t = trades[static_cast<std::size_t>(k)];
        dir.mutable_data()[k] = t.dir;
        signal_bar.mutable_data()[k] = t.signal_bar;
        entry_bar.mutable_data()[k] = t.entry_bar;
        exit_bar.mutable_data()[k] = t.exit_bar;
        exit_signal_bar.mutable_data()[k] = t.exit_signal_bar;
        exit_reason.mutable_data()[k] = t.exit_reason;
        entry_price.mutable_data()[k] = t.entry_price;
        qty.mutable_data()[k] = t.qty;
        stop.mutable_data()[k] = t.stop;
        limit.mutable_data()[k] = t.limit;
        exit_price.mutable_data()[k] = t.exit_price;
        entry_fee.mutable_data()[k] = t.entry_fee;
        exit_fee.mutable_data()[k] = t.exit_fee;
        pnl.mutable_data()[k] = t.pnl;
        run_up.mutable_data()[k] = t.run_up;
        drawdown.mutable_data()[k] = t.drawdown;
    }
    return py::dict("dir"_a = dir, "signal_bar"_a = signal_bar, "entry_bar"_a = entry_bar,
                    "exit_bar"_a = exit_bar, "exit_signal_bar"_a = exit_signal_bar,
                    "exit_reason"_a = exit_reason, "entry_price"_a = entry_price, "qty"_a = qty,
                    "stop"_a = stop, "limit"_a = limit, "exit_price"_a = exit_price,
                    "entry_fee"_a = entry_fee, "exit_fee"_a = exit_fee, "pnl"_a = pnl,
                    "run_up"_a = run_up, "drawdown"_a = drawdown);
}

std::int64_t start_checked(std::int64_t start) {
    if (start < 0) throw std::invalid_argument("start must be >= 0");
    return start;
}

}  // namespace

void bind_backtest(py::module_& m) {
    m.def("_bt_param_names", [] {
        std::vector<std::string> names(bt::param_names(), bt::param_names() + bt::kNumParams);
        return names;
    });
    m.def("_bt_param_defaults", [] {
        return std::vector<double>(bt::param_defaults(), bt::param_defaults() + bt::kNumParams);
    });
    m.def("_bt_check_params", [](const farray& row) { params_checked(row); }, "row"_a,
          "Raise ValueError if a parameter row is invalid (the checks of _bt_run).");
    m.def("_bt_summary_names", [] {
        std::vector<std::string> names(bt::summary_names(),
                                       bt::summary_names() + bt::kNumSummary);
        return names;
    });

    m.def(
        "_bt_run",
        [](const farray& open, const farray& high, const farray& low, const farray& close,
           std::int64_t start, const farray& params, bool want_bars) {
            const std::int64_t n = same_length(
                {{"open", &open}, {"high", &high}, {"low", &low}, {"close", &close}});
            const bt::Params p = params_checked(params);
            bt::Series s{open.data(), high.data(), low.data(), close.data(), n,
                         start_checked(start)};
            bt::Scratch scratch;
            scratch.resize(n, static_cast<int>(p.pyramiding));
            std::vector<bt::Trade> closed, still_open;
            closed.reserve(static_cast<std::size_t>(2 * n + 2));
            still_open.reserve(static_cast<std::size_t>(p.pyramiding) + 2);
            const char* bar_names[] = {"equity",        "realized_equity", "open_profit",
                                       "position_size", "equity_peak",     "drawdown_pct",
                                       "hist_vol",      "atr",             "straddle_delta",
                                       "straddle_gamma", "long_entry",     "short_entry"};
            constexpr int kBarFields = 12;
            std::vector<farray> bar_arrays;
            bt::BarOutputs outs;
            if (want_bars) {
                for (int k = 0; k < kBarFields; ++k) bar_arrays.emplace_back(n);
                double** slots[] = {&outs.equity,        &outs.realized_equity,
                                    &outs.open_profit,   &outs.position_size,
                                    &outs.equity_peak,   &outs.drawdown_pct,
                                    &outs.hist_vol,      &outs.atr,
                                    &outs.straddle_delta, &outs.straddle_gamma,
                                    &outs.long_entry,    &outs.short_entry};
                for (int k = 0; k < kBarFields; ++k) {
                    *slots[k] = bar_arrays[static_cast<std::size_t>(k)].mutable_data();
                }
            }
            bt::Summary summary;
            {
                const KernelScope scope;
                bt::run(s, p, scratch, summary, &closed, &still_open,
                        want_bars ? &outs : nullptr);
            }
            farray summary_row(bt::kNumSummary);
            bt::summary_to_row(summary, summary_row.mutable_data());
            py::dict bars;
            for (int k = 0; k < static_cast<int>(bar_arrays.size()); ++k) {
                bars[bar_names[k]] = bar_arrays[static_cast<std::size_t>(k)];
            }
            return py::dict("summary"_a = summary_row, "trades"_a = trades_dict(closed),
                            "open_trades"_a = trades_dict(still_open), "bars"_a = bars);
        },
        "open"_a, "high"_a, "low"_a, "close"_a, "start"_a, "params"_a, "want_bars"_a = true);

    m.def(
        "_bt_sweep",
        [](const std::vector<farray>& opens, const std::vector<farray>& highs,
           const std::vector<farray>& lows, const std::vector<farray>& closes,
           const std::vector<std::int64_t>& starts, const farray& params, int threads) {
            const std::size_t ns = opens.size();
            if (highs.size() != ns || lows.size() != ns || closes.size() != ns ||
                starts.size() != ns) {
                throw std::invalid_argument("series lists have different lengths");
            }
            std::vector<bt::Series> series;
            series.reserve(ns);
            for (std::size_t k = 0; k < ns; ++k) {
                const std::int64_t n = same_length({{"open", &opens[k]},
                                                    {"high", &highs[k]},
                                                    {"low", &lows[k]},
                                                    {"close", &closes[k]}});
                series.push_back(bt::Series{opens[k].data(), highs[k].data(), lows[k].data(),
                                            closes[k].data(), n, start_checked(starts[k])});
            }
            if (params.ndim() != 2 || params.shape(1) != bt::kNumParams) {
                throw std::invalid_argument("params must have shape (m, " +
                                            std::to_string(bt::kNumParams) + ")");
            }
            const auto np = static_cast<std::size_t>(params.shape(0));
            std::vector<bt::Params> plist;
            plist.reserve(np);
            for (std::size_t k = 0; k < np; ++k) {
                plist.push_back(bt::params_from_row(params.data() + k * bt::kNumParams));
                if (const char* msg = bt::check_params(plist.back())) {
                    throw std::invalid_argument("parameter set " + std::to_string(k) + ": " +
                                                msg);
                }
            }
            farray out({static_cast<py::ssize_t>(ns), static_cast<py::ssize_t>(np),
                        static_cast<py::ssize_t>(bt::kNumSummary)});
            double* po = out.mutable_data();
            {
                const KernelScope scope;
                bt::sweep(series, plist, po, threads);
            }
            return out;
        },
        "opens"_a, "highs"_a, "lows"_a, "closes"_a, "starts"_a, "params"_a, "threads"_a = 0);

    // Indicators: each returns a new float64 array.
    m.def("_ind_log_returns", [](const farray& close) {
        const std::int64_t n = same_length({{"close", &close}});
        farray out(n);
        {
            const KernelScope scope;
            ind::log_returns(close.data(), n, out.mutable_data());
        }
        return out;
    }, "close"_a);
    m.def("_ind_stdev", [](const farray& src, std::int64_t length) {
        const std::int64_t n = same_length({{"src", &src}});
        farray out(n);
        {
            const KernelScope scope;
            ind::stdev(src.data(), n, length, out.mutable_data());
        }
        return out;
    }, "src"_a, "length"_a);
    m.def("_ind_rma", [](const farray& src, std::int64_t length) {
        const std::int64_t n = same_length({{"src", &src}});
        farray out(n);
        {
            const KernelScope scope;
            ind::rma(src.data(), n, length, out.mutable_data());
        }
        return out;
    }, "src"_a, "length"_a);
    m.def("_ind_hist_vol",
          [](const farray& close, std::int64_t period, double annualization, double fallback) {
              const std::int64_t n = same_length({{"close", &close}});
              farray out(n);
              std::vector<double> scratch(static_cast<std::size_t>(n));
              {
                  const KernelScope scope;
                  ind::hist_vol(close.data(), n, period, annualization, fallback, scratch.data(),
                                out.mutable_data());
              }
              return out;
          }, "close"_a, "period"_a, "annualization"_a, "fallback"_a);
    m.def("_ind_true_range", [](const farray& high, const farray& low, const farray& close) {
        const std::int64_t n = same_length({{"high", &high}, {"low", &low}, {"close", &close}});
        farray out(n);
        {
            const KernelScope scope;
            ind::true_range(high.data(), low.data(), close.data(), n, out.mutable_data());
        }
        return out;
    }, "high"_a, "low"_a, "close"_a);
    m.def("_ind_atr", [](const farray& high, const farray& low, const farray& close,
                         std::int64_t length) {
        const std::int64_t n = same_length({{"high", &high}, {"low", &low}, {"close", &close}});
        farray out(n);
        std::vector<double> scratch(static_cast<std::size_t>(n));
        {
            const KernelScope scope;
            ind::atr(high.data(), low.data(), close.data(), n, length, scratch.data(),
                     out.mutable_data());
        }
        return out;
    }, "high"_a, "low"_a, "close"_a, "length"_a);
    m.def("_ind_efficiency_ratio", [](const farray& close, std::int64_t period) {
        const std::int64_t n = same_length({{"close", &close}});
        farray out(n);
        {
            const KernelScope scope;
            ind::efficiency_ratio(close.data(), n, period, out.mutable_data());
        }
        return out;
    }, "close"_a, "period"_a);
    m.def("_ind_straddle_greeks", [](const farray& close, double strike_offset_pct,
                                     double mintick, double tau, double vol, double rate,
                                     double div) {
        const std::int64_t n = same_length({{"close", &close}});
        farray delta(n), gamma(n);
        ind::StraddleInputs in{strike_offset_pct, mintick, tau, vol, rate, div};
        {
            const KernelScope scope;
            ind::straddle_greeks(close.data(), n, in, delta.mutable_data(),
                                 gamma.mutable_data());
        }
        return py::make_tuple(delta, gamma);
    }, "close"_a, "strike_offset_pct"_a, "mintick"_a, "tau"_a, "vol"_a, "rate"_a, "div"_a);
    m.def("_ind_vol_regime", [](const farray& hist_vol, double implied_vol, double long_threshold,
                                double short_threshold) {
        const std::int64_t n = same_length({{"hist_vol", &hist_vol}});
        farray out(n);
        {
            const KernelScope scope;
            ind::vol_regime(hist_vol.data(), n, implied_vol, long_threshold, short_threshold,
                            out.mutable_data());
        }
        return out;
    }, "hist_vol"_a, "implied_vol"_a, "long_threshold"_a, "short_threshold"_a);
}

}  // namespace gammaext::bindings
