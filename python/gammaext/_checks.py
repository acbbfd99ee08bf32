"""The hedging engine's names and argument checks, shared by its modules (private).

The C++ core exports every list (parameters, outputs, enums) by name; these tables are built
from them, and a kind on one side only fails at import."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import numpy as np

from . import _core
from ._arrays import FloatArray

PARAM_NAMES: tuple[str, ...] = tuple(_core._hedge_param_names())
#: Per-path result fields, in order.
HEDGE_FIELDS: tuple[str, ...] = tuple(_core._hedge_output_names())
#: Per-step trace fields, in order.
TRACE_FIELDS: tuple[str, ...] = tuple(_core._trace_field_names())
#: Columns of :meth:`Position.groups`, in order.
GROUP_COLUMNS: tuple[str, ...] = tuple(_core._group_column_names())
#: The parts whose sum is the total P&L (``pnl``).
PNL_PARTS: tuple[str, ...] = (
    "gamma",
    "theta",
    "vega",
    "vanna",
    "volga",
    "hedge",
    "financing",
    "costs",
    "residual",
)


def _enum(what: str, names: Sequence[str], known: set[str]) -> dict[str, int]:
    """name -> value of an enum of the C++ core, whose values are the positions of the names in
    its X-macro list (cpp/include/gammaext/hedging.hpp, random.hpp). ``known``: the names this
    package implements. The core must have exactly these, so a kind added, renamed or removed
    on one side only fails at import instead of running as another kind."""
    table = {name: i for i, name in enumerate(names)}
    if set(table) != known:
        raise ImportError(f"the C++ core's {what}s {list(table)} differ from {sorted(known)}")
    return table


_NOISE_KIND = _enum("noise kind", _core._noise_kind_names(), {"none", "iid", "bounce"})
_BAND_KIND = _enum(
    "band kind",
    _core._band_kind_names(),
    {"none", "fixed", "trend", "whalley_wilmott", "profile", "imbalance"},
)
_VOL_MODEL = _enum("vol model", _core._vol_model_names(), {"constant", "surface", "heston"})
_HEDGE_VOL_KIND = _enum(
    "hedge vol kind", _core._hedge_vol_kind_names(), {"given", "ewma", "window"}
)
#: Stream numbers of the counter-based generator (see docs/hedging.md).
STREAMS = _enum(
    "random stream",
    _core._stream_names(),
    {
        "price",
        "variance",
        "jump_count",
        "jump_size",
        "bootstrap",
        "noise",
        "signal_noise",
        "profile",
        "coin",
        "atm_vol",
    },
)
#: Path-steps x rules per call of the C++ engine (about 0.25 s on one core): the bound on
#: how long a KeyboardInterrupt waits in simulate_hedge / simulate_rules.
_CHUNK_WORK = 2**23
_EXPIRY_TOL = 1e-9  # years (0.03 s): an expiry this close to a grid time expires at that time


def _finite(name: str, value: float, *, positive: bool = False, nonneg: bool = False) -> float:
    # Strings and booleans convert with float() but are not numbers: vol="0.2" or
    # threshold=true is a mistake, not a value.
    if isinstance(value, (str, bytes, bool, np.bool_)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        x = float(value)
    except OverflowError:  # a Python int beyond float64
        raise ValueError(f"{name} must be finite, got an integer too large for a float64") from None
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x!r}")
    if positive and not x > 0:
        raise ValueError(f"{name} must be > 0, got {x!r}")
    if nonneg and x < 0:
        raise ValueError(f"{name} must be >= 0, got {x!r}")
    return x


#: Largest rule length / interval / block: the engine holds counts as doubles and int64, and
#: 2**53 is the last integer a double holds exactly (larger ones crashed or were UB).
_MAX_COUNT = 2**53


#: Largest number of time steps: the time grid alone takes 8 bytes a step (16 GiB here).
_MAX_STEPS = 2**31 - 1


def _count(name: str, value: int, minimum: int = 1, maximum: int | None = None) -> int:
    if isinstance(value, (bool, np.bool_)):  # an int to Python, a mistake here
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        n = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None
    if n < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {n}")
    if maximum is not None and n > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {n}")
    return n


def _seed(value: int) -> int:
    """The generator's key: an integer in [0, 2**64) (a uint64 in the engine)."""
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"seed must be an integer in [0, 2**64), got {value!r}")
    try:
        s = operator.index(value)
    except TypeError:
        raise TypeError(f"seed must be an integer in [0, 2**64), got {value!r}") from None
    if not 0 <= s < 2**64:
        raise ValueError(f"seed must be in [0, 2**64), got {s}")
    return s


def _path_range(first_path: int, n_paths: int) -> None:
    """Global path indices ``first_path .. first_path + n_paths - 1`` are int64 in the engine."""
    if first_path + n_paths >= 2**63:
        raise ValueError(f"first_path + n_paths must be < 2**63, got {first_path} + {n_paths}")


def _stream(stream: str | int) -> int:
    """A random stream of :data:`STREAMS`, by name or number."""
    valid = ", ".join(f"{k!r} ({v})" for k, v in STREAMS.items())
    if isinstance(stream, str):
        if stream not in STREAMS:
            raise ValueError(f"stream {stream!r} is unknown; the streams are {valid}")
        return STREAMS[stream]
    try:
        if isinstance(stream, (bool, np.bool_)):
            raise TypeError
        s = operator.index(stream)
    except TypeError:
        raise TypeError(f"stream must be a name or a number, got {stream!r}") from None
    if s not in STREAMS.values():
        raise ValueError(
            f"stream must be in [0, {len(STREAMS)}), got {s}; the streams are {valid}"
        )
    return s


def _check_prices(name: str, a: FloatArray) -> None:
    bad = ~(np.isfinite(a) & (a > 0))
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} must be finite and > 0; first bad value {a[idx]!r} at index {idx} "
            f"({int(bad.sum())} bad)"
        )
