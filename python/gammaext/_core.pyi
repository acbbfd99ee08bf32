# Type stub of the compiled core. Private API: use the gammaext package. Keep in step with
# cpp/bindings/*.cpp.
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

_F = npt.NDArray[np.float64]

def _best_isa() -> int: ...
def _resolve_isa(isa: int) -> int: ...
def _isa_name(isa: int) -> str: ...
def _default_threads() -> int: ...
def _set_default_threads(threads: int) -> None: ...
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
def _hedge(
    params: _F,  # (n_rules, n_params)
    seed: int,
    times: _F,
    vols: _F,
    groups: _F,
    returns: _F,
    paths: _F,
    first_path: int,
    n_paths: int,
    trace_paths: npt.NDArray[np.int64],
    threads: int = 0,
    isa: int = -1,
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
