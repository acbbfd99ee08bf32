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
