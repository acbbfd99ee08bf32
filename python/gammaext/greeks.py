"""Black-Scholes-Merton prices and Greeks, vectorized with NumPy broadcasting.

Conventions (every function here, the C++ core and the tests share them):

* ``spot``, ``strike`` > 0 in any currency; ``t`` >= 0 in years; ``vol`` >= 0 annualised
  (0.2 = 20%); ``rate`` and ``div`` continuously compounded decimals (0.05 = 5%).
* ``is_call``: booleans, 0/1, or the strings ``"call"``/``"put"`` (``"c"``/``"p"``).
* theta, charm, veta and color are derivatives with respect to calendar time, **per year**
  (theta = dV/dt = -dV/dT). Use :func:`per_day` for per-day figures (365 or 252 basis).
* vega, vanna, vomma, zomma and ultima are per **1.00** of vol (divide by 100 for a vol point).
* rho is per 1.00 of rate with ``div`` held fixed; epsilon (dividend rho) per 1.00 of ``div``.
* dual delta and dual gamma are the first and second derivatives with respect to the strike.
* Black-76 (options on futures or forwards) is the case ``spot = F, div = rate``; see
  :func:`black76_greeks`. Its delta is then dV/dF.

Limits and bad input:

* ``vol * sqrt(t) == 0`` (expiry, or zero vol): the forward is certain. Prices are the
  discounted forward intrinsic value, delta is a step with value 1/2 exactly at the money, and
  every Greek carried by the normal density (gamma, vega, vanna, vomma, veta, speed, zomma,
  color, ultima, dual gamma, and the density parts of theta and charm) is 0: the limit away
  from the money (at the money that limit is infinite).
* Invalid values (spot <= 0, strike <= 0, t < 0, vol < 0, any infinite argument) raise
  ``ValueError`` naming the argument, the first offending index and its value, or give NaN
  with ``errors="nan"``. NaN inputs always give NaN outputs at those places.
* ``|rate| > 1``, ``|div| > 1`` or ``vol > 10`` look like percentages and give an
  :class:`InputWarning` (they are still computed as given).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

import numpy as np

from . import _arrays, _core
from ._arrays import FloatArray

__all__ = [
    "GREEKS",
    "Greeks",
    "InputWarning",
    "black76_greeks",
    "black76_price",
    "greeks",
    "norm_cdf",
    "norm_pdf",
    "per_day",
    "price",
]

#: Every output :func:`greeks` can compute, in order (the C++ core's list).
GREEKS: tuple[str, ...] = tuple(_core._greek_names())
_INDEX = {name: i for i, name in enumerate(GREEKS)}
_NORMAL_MODES = {name: i for i, name in enumerate(_core._normal_mode_names())}
_ARG_NAMES = ("spot", "strike", "t", "vol", "rate", "div")

Normal = Literal["exact", "as26217"]
if set(get_args(Normal)) != set(_NORMAL_MODES):  # import-time check against the core
    raise ImportError(f"normal modes {get_args(Normal)} differ from the core's {_NORMAL_MODES}")
Errors = Literal["raise", "nan"]


class InputWarning(UserWarning):
    """Inputs that are valid but look like a unit mistake (percent instead of decimal)."""


def warn_percent(looks_percent: Sequence[str], stacklevel: int) -> None:
    """One :class:`InputWarning` listing the inputs that look like percentages, if any."""
    if looks_percent:
        warnings.warn(
            "; ".join(looks_percent) + ": gammaext takes decimals (0.05 for 5%), not percent",
            InputWarning,
            stacklevel=stacklevel,
        )


@dataclass(frozen=True, repr=False)
class Greeks:
    """The result of :func:`greeks`: one array (or float, for scalar inputs) per output.

    Outputs not requested with ``which=`` are ``None``. ``to_dict()`` and ``to_dataframe()``
    give the computed ones; ``result["delta"]`` works as well as ``result.delta``.
    """

    price: Any = None
    delta: Any = None
    gamma: Any = None
    theta: Any = None
    vega: Any = None
    rho: Any = None
    epsilon: Any = None
    vanna: Any = None
    charm: Any = None
    vomma: Any = None
    veta: Any = None
    speed: Any = None
    zomma: Any = None
    color: Any = None
    ultima: Any = None
    dual_delta: Any = None
    dual_gamma: Any = None

    @property
    def computed(self) -> tuple[str, ...]:
        """Names of the outputs that were computed."""
        return tuple(f.name for f in fields(self) if getattr(self, f.name) is not None)

    def __getitem__(self, name: str) -> Any:
        if name not in _INDEX:
            raise KeyError(name)
        return getattr(self, name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.computed)

    def to_dict(self) -> dict[str, Any]:
        """The computed outputs, by name."""
        return {name: getattr(self, name) for name in self.computed}

    def to_dataframe(self) -> Any:
        """A pandas DataFrame with one column per computed output (inputs flattened)."""
        import pandas as pd

        return pd.DataFrame({k: np.ravel(v) for k, v in self.to_dict().items()})

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items())
        return f"Greeks({parts})"


# The result fields are the core's outputs in the core's order (import-time check).
if tuple(f.name for f in fields(Greeks)) != GREEKS:
    raise ImportError(f"Greeks fields differ from the C++ core's outputs {GREEKS}")


def _which(which: str | Sequence[str] | None) -> tuple[str, ...]:
    if which is None:
        return GREEKS
    names = (which,) if isinstance(which, str) else tuple(which)
    unknown = [w for w in names if w not in _INDEX]
    if unknown:
        raise ValueError(f"unknown output(s) {unknown}; choose from {list(GREEKS)}")
    if not names:
        raise ValueError("which= selects nothing")
    return tuple(dict.fromkeys(names))


def _compute(
    args: Sequence[Any],
    is_call: Any,
    names: tuple[str, ...],
    out: Mapping[str, np.ndarray] | None,
    normal: Normal,
    errors: Errors,
    threads: int | None,
) -> tuple[tuple[int, ...], dict[str, FloatArray]]:
    if normal not in _NORMAL_MODES:
        raise ValueError(f"normal must be one of {list(_NORMAL_MODES)}, got {normal!r}")
    if errors not in ("raise", "nan"):
        raise ValueError(f"errors must be 'raise' or 'nan', got {errors!r}")
    nthreads = _arrays.threads_arg(threads)
    shape, columns, flag_column = _arrays.kernel_columns(_ARG_NAMES, args, is_call)
    n = math.prod(shape)

    results: dict[str, FloatArray] = {}
    extra = set(out or ()) - set(names)
    if extra:
        raise ValueError(f"out= has buffers for outputs not requested: {sorted(extra)}")
    for name in names:  # separate arrays: keeping one result does not keep the others alive
        if out is not None and name in out:
            results[name] = _arrays.output_buffer(name, out[name], shape)
        else:
            results[name] = np.empty(shape)
    slots: list[np.ndarray | None] = [None] * len(GREEKS)
    for name, buf in results.items():
        slots[_INDEX[name]] = buf.reshape(-1)
    if out:
        columns = _arrays.detach(columns, list(out.values()))

    spot, strike, time, vol, rate, div = columns
    report = _core._greeks(
        n, spot, strike, time, vol, rate, div, flag_column, slots, _NORMAL_MODES[normal],
        nthreads, _arrays.ISA,
    )
    _check_report(report, columns, shape, errors)
    return shape, results


def _check_report(
    report: dict[str, Any], columns: Sequence[np.ndarray], shape: tuple[int, ...], errors: Errors
) -> None:
    warn_percent(
        [
            f"{name} has values above {limit}"
            for name, key, limit in (
                ("rate", "rate_looks_percent", "1 in magnitude"),
                ("div", "div_looks_percent", "1 in magnitude"),
                ("vol", "vol_looks_percent", "10"),
            )
            if report[key]
        ],
        stacklevel=5,
    )
    first = int(report["first_invalid"])
    if first < 0 or errors == "nan":
        return
    index = _arrays.unravel(first, shape)
    for name, col in zip(_ARG_NAMES, columns):  # the kernel's inputs: 1 or n elements
        value = float(col[first if col.size > 1 else 0])
        rule = {"spot": "> 0", "strike": "> 0", "t": ">= 0", "vol": ">= 0"}.get(name)
        invalid = (
            np.isinf(value)
            or (rule == "> 0" and value <= 0)
            or (rule == ">= 0" and value < 0)
        )
        if invalid:
            count = int(report["invalid_count"])
            must = f"{rule} and finite" if rule else "finite"
            if not shape:  # all scalars: no index to name
                raise ValueError(
                    f"{name} must be {must}, got {value!r} (pass errors='nan' to get NaN "
                    "instead)"
                )
            raise ValueError(
                f"{name} must be {must}; first invalid value {value!r} at index "
                f"{index} ({count} invalid element{'s' if count > 1 else ''}; "
                f"pass errors='nan' to get NaN there instead)"
            )
    raise AssertionError("the kernel reported an invalid element that no argument explains")


def greeks(
    spot: Any,
    strike: Any,
    t: Any,
    vol: Any,
    rate: Any = 0.0,
    div: Any = 0.0,
    *,
    is_call: Any = True,
    which: str | Sequence[str] | None = None,
    out: Mapping[str, np.ndarray] | None = None,
    normal: Normal = "exact",
    errors: Errors = "raise",
    threads: int | None = None,
) -> Greeks:
    """Black-Scholes-Merton price and Greeks, broadcast over all arguments.

    Parameters
    ----------
    spot, strike : array_like
        Underlying price and strike, > 0.
    t : array_like
        Time to expiry in years, >= 0.
    vol : array_like
        Volatility, annualised decimal, >= 0.
    rate, div : array_like
        Risk-free rate and dividend (or borrow/foreign) yield, continuous decimals.
    is_call : array_like of bool or {"call", "put"}
        Option type, broadcast like the others.
    which : str or sequence of str, optional
        Outputs to compute (names in :data:`GREEKS`); default all. Work shared by several
        outputs (d1, d2, the density, discount factors) is done once.
    out : mapping of name to ndarray, optional
        Preallocated float64 C-contiguous buffers of the broadcast shape, filled in place.
    normal : {"exact", "as26217"}
        ``"exact"``: normal CDF to full double precision in both tails. ``"as26217"``: the
        Abramowitz-Stegun 26.2.17 polynomial of the TradingView gamma-scalping script.
    errors : {"raise", "nan"}
        What invalid inputs do (see the module docstring).
    threads : int, optional
        Threads to use; default :func:`gammaext.get_num_threads`. Results do not depend on it.
        The GIL is released while computing.

    Returns
    -------
    Greeks
        Arrays of the broadcast shape (Python floats for 0-d inputs); theta, charm, veta and
        color per year of calendar time; vega-like Greeks per 1.00 of vol.
    """
    names = _which(which)
    shape, results = _compute(
        (spot, strike, t, vol, rate, div), is_call, names, out, normal, errors, threads
    )
    return Greeks(**{k: _arrays.scalar_or_array(v) for k, v in results.items()})


def price(
    spot: Any,
    strike: Any,
    t: Any,
    vol: Any,
    rate: Any = 0.0,
    div: Any = 0.0,
    *,
    is_call: Any = True,
    out: np.ndarray | None = None,
    normal: Normal = "exact",
    errors: Errors = "raise",
    threads: int | None = None,
) -> Any:
    """Black-Scholes-Merton price, broadcast; same arguments as :func:`greeks`.

    Returns an array of the broadcast shape, or a float for scalar inputs.
    """
    buffers = None if out is None else {"price": out}
    _, results = _compute(
        (spot, strike, t, vol, rate, div), is_call, ("price",), buffers, normal, errors, threads
    )
    return _arrays.scalar_or_array(results["price"])


def black76_greeks(
    forward: Any, strike: Any, t: Any, vol: Any, rate: Any = 0.0, **kwargs: Any
) -> Greeks:
    """Black-76 Greeks of an option on a forward or future ``forward``, discounted at ``rate``.

    The same as :func:`greeks` with ``spot=forward, div=rate``: delta, gamma and the other
    spot derivatives are with respect to the forward. ``rho`` and ``epsilon`` keep their
    meaning in the spot model; the Black-76 sensitivity to the discount rate with the forward
    held fixed is ``rho + epsilon`` (which equals ``-t * price``).
    """
    return greeks(forward, strike, t, vol, rate, rate, **kwargs)


def black76_price(
    forward: Any, strike: Any, t: Any, vol: Any, rate: Any = 0.0, **kwargs: Any
) -> Any:
    """Black-76 price of an option on a forward or future (``price`` with ``div=rate``)."""
    return price(forward, strike, t, vol, rate, rate, **kwargs)


def per_day(value: Any, basis: float = 365.0) -> Any:
    """Convert a per-year time derivative (theta, charm, veta, color) to per day.

    ``basis`` is the number of days in a year: 365 (calendar, the default) or 252 (trading).
    """
    if not basis > 0:
        raise ValueError(f"basis must be > 0, got {basis}")
    return np.asarray(value, dtype=np.float64) / basis if np.ndim(value) else float(value) / basis


def _unary(kernel: Any, x: Any, normal: Normal, out: np.ndarray | None) -> Any:
    if normal not in _NORMAL_MODES:
        raise ValueError(f"normal must be one of {list(_NORMAL_MODES)}, got {normal!r}")
    arr = _arrays.as_float("x", x)
    shape = arr.shape
    if out is None:
        buf = np.empty(shape)
    else:
        buf = _arrays.output_buffer("x", out, shape)
        (arr,) = _arrays.detach([arr], [buf])
    flat = np.ascontiguousarray(arr).reshape(-1)
    kernel(flat, buf.reshape(-1), _NORMAL_MODES[normal], _arrays.ISA)
    return _arrays.scalar_or_array(buf)


def norm_cdf(x: Any, *, normal: Normal = "exact", out: np.ndarray | None = None) -> Any:
    """Standard normal CDF, element-wise.

    ``normal="exact"`` is accurate to about 1e-15 relative in both tails (down to underflow near
    x = -38.5); ``"as26217"`` is the TradingView script's Abramowitz-Stegun polynomial,
    reproduced bit for bit (absolute error up to 7.5e-8).
    """
    return _unary(_core._norm_cdf, x, normal, out)


def norm_pdf(x: Any, *, normal: Normal = "exact", out: np.ndarray | None = None) -> Any:
    """Standard normal density, element-wise (``"as26217"``: the script's truncated constant)."""
    return _unary(_core._norm_pdf, x, normal, out)
