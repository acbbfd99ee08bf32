# Type stub of the compiled core. Private API: use the gammaext package. Keep in step with
# cpp/bindings/*.cpp.
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
    outs: list[np.ndarray | None],
    mode: int = 0,
    threads: int = 0,
    isa: int = -1,
) -> dict[str, Any]: ...
def _norm_cdf(x: _F, y: _F, mode: int = 0, isa: int = -1) -> None: ...
def _norm_pdf(x: _F, y: _F, mode: int = 0, isa: int = -1) -> None: ...
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
