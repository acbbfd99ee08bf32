# Type stub of the compiled core. Private API: use the gammaext package. Keep in step with
# cpp/bindings/*.cpp.
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

# Every bound name, as the module lists them (checked by `python -m mypy.stubtest gammaext._core`).
__all__ = [
    "_best_isa",
    "_resolve_isa",
    "_isa_name",
    "_default_threads",
    "_set_default_threads",
    "_set_flush_to_zero",
    "_greek_names",
    "_normal_mode_names",
    "_greeks",
    "_norm_cdf",
    "_norm_pdf",
    "_bt_param_names",
    "_bt_param_defaults",
    "_bt_check_params",
    "_bt_summary_names",
    "_bt_run",
    "_bt_sweep",
    "_ind_log_returns",
    "_ind_stdev",
    "_ind_rma",
    "_ind_hist_vol",
    "_ind_true_range",
    "_ind_atr",
    "_ind_efficiency_ratio",
    "_ind_straddle_greeks",
    "_ind_vol_regime",
    "_hedge_param_names",
    "_hedge_output_names",
    "_trace_field_names",
    "_path_kind_names",
    "_noise_kind_names",
    "_band_kind_names",
    "_hedge_vol_kind_names",
    "_vol_model_names",
    "_signal_kind_names",
    "_stream_names",
    "_group_column_names",
    "_hedge",
    "_random_draws",
    "_philox4x32",
    "_box_muller",
    "_norm_ppf",
    "_implied_vol",
    "_normalised_black",
    "_exact_sum_bins",
    "_surface_kind_names",
    "_surface_eval",
    "_heston_expected_vol",
    "_atm_vol_paths",
]

_F = npt.NDArray[np.float64]

def _best_isa() -> int: ...
def _resolve_isa(isa: int) -> int: ...
def _isa_name(isa: int) -> str: ...
def _default_threads() -> int: ...
def _set_default_threads(threads: int) -> None: ...
def _set_flush_to_zero(on: bool) -> bool: ...
def _greeks(
    n: int,
    spot: _F,
    strike: _F,
    t: _F,
    vol: _F,
    rate: _F,
    div: _F,
    is_call: npt.NDArray[np.uint8],
    outs: Sequence[np.ndarray | None],
    mode: int = 0,
    threads: int = 0,
    isa: int = -1,
    probe: bool = False,
) -> dict[str, Any]: ...
def _greek_names() -> list[str]: ...
def _normal_mode_names() -> list[str]: ...
def _norm_cdf(x: _F, y: _F, mode: int = 0, isa: int = -1) -> None: ...
def _norm_pdf(x: _F, y: _F, mode: int = 0, isa: int = -1) -> None: ...

# Strategy backtest (cpp/bindings/bind_backtest.cpp)
def _bt_param_names() -> list[str]: ...
def _bt_param_defaults() -> list[float]: ...
def _bt_check_params(row: npt.NDArray[np.float64]) -> None: ...
def _bt_summary_names() -> list[str]: ...
def _bt_run(
    open: _F, high: _F, low: _F, close: _F, start: int, params: _F, want_bars: bool = True
) -> dict[str, Any]: ...
def _bt_sweep(
    opens: list[_F],
    highs: list[_F],
    lows: list[_F],
    closes: list[_F],
    starts: list[int],
    params: _F,
    threads: int = 0,
) -> _F: ...

# Bar indicators (cpp/include/gammaext/indicators.hpp)
def _ind_log_returns(close: _F) -> _F: ...
def _ind_stdev(src: _F, length: int) -> _F: ...
def _ind_rma(src: _F, length: int) -> _F: ...
def _ind_hist_vol(close: _F, period: int, annualization: float, fallback: float) -> _F: ...
def _ind_true_range(high: _F, low: _F, close: _F) -> _F: ...
def _ind_atr(high: _F, low: _F, close: _F, length: int) -> _F: ...
def _ind_efficiency_ratio(close: _F, period: int) -> _F: ...
def _ind_straddle_greeks(
    close: _F,
    strike_offset_pct: float,
    mintick: float,
    tau: float,
    vol: float,
    rate: float,
    div: float,
) -> tuple[_F, _F]: ...
def _ind_vol_regime(
    hist_vol: _F, implied_vol: float, long_threshold: float, short_threshold: float
) -> _F: ...

# Hedging engine (cpp/bindings/bind_hedging.cpp)
def _hedge_param_names() -> list[str]: ...
def _hedge_output_names() -> list[str]: ...
def _trace_field_names() -> list[str]: ...
def _path_kind_names() -> list[str]: ...
def _noise_kind_names() -> list[str]: ...
def _band_kind_names() -> list[str]: ...
def _hedge_vol_kind_names() -> list[str]: ...
def _vol_model_names() -> list[str]: ...
def _signal_kind_names() -> list[str]: ...
def _stream_names() -> list[str]: ...
def _group_column_names() -> list[str]: ...
def _hedge(
    params: _F,  # (n_rules, n_params)
    seed: int,
    times: _F,
    vols: _F,
    groups: _F,
    returns: _F,
    paths: _F,
    profile: _F,
    imbalance: _F,
    surface: tuple[int, _F, _F, _F],  # kind, expiries, params, k grid
    atm_rows: _F,  # (n_paths, n_steps + 1) or empty
    first_path: int,
    n_paths: int,
    trace_paths: npt.NDArray[np.int64],
    threads: int = 0,
    isa: int = -1,
    split: bool = True,
) -> tuple[_F, _F]: ...
def _random_draws(
    seed: int,
    stream: int,
    first_path: int,
    n_paths: int,
    n_draws: int,
    normal: bool,
    threads: int = 0,
    isa: int = -1,
) -> _F: ...
def _philox4x32(ctr: list[int], key: list[int]) -> list[int]: ...
def _box_muller(u0: _F, u1: _F) -> tuple[_F, _F]: ...
def _norm_ppf(p: _F) -> _F: ...

# Implied volatility (cpp/bindings/bind_implied_vol.cpp)
def _implied_vol(
    n: int,
    price: _F,
    spot: _F,
    strike: _F,
    t: _F,
    rate: _F,
    div: _F,
    is_call: npt.NDArray[np.uint8],
    vol: _F | None,
    status: npt.NDArray[np.int8] | None,
    threads: int = 0,
    isa: int = -1,
) -> None: ...
def _normalised_black(x: _F, s: _F, b: _F, isa: int = -1) -> None: ...

# Lab statistics (cpp/bindings/bind_lab.cpp)
def _exact_sum_bins(
    x: npt.NDArray[np.float64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]: ...

# Volatility surfaces and implied-vol dynamics (cpp/bindings/bind_surface.cpp)
def _surface_kind_names() -> list[str]: ...
def _surface_eval(
    kind: int,
    expiries: _F,
    params: _F,
    kgrid: _F,
    k: _F,
    t: _F,
    want_vol: bool,
    threads: int = 0,
) -> _F: ...
def _heston_expected_vol(v: _F, tau: _F, kappa: float, theta: float) -> _F: ...
def _atm_vol_paths(
    seed: int,
    first_path: int,
    n_paths: int,
    times: _F,
    spot: float,
    drift: float,
    vol: float,
    atm0: float,
    level: float,
    kappa: float,
    xi: float,
    rho: float,
    threads: int = 0,
    isa: int = -1,
) -> tuple[_F, _F]: ...
