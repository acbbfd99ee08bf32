"""Implied volatility of European options, vectorized, with a status per element.

The inverse of :func:`gammaext.price`: given option prices, the Black-Scholes-Merton volatility
that reproduces each one. Same conventions as :mod:`gammaext.greeks` (``t`` in years, ``rate``
and ``div`` continuously compounded decimals, the result an annualised decimal vol).

Method: Jaeckel's normalised Black function and third-order Householder steps from model-based
initial guesses (see ``cpp/include/gammaext/implied_vol.hpp``), SIMD across options, threads
across chunks, the GIL released. Accuracy: the price of the returned vol reproduces the input
price to about 1e-14 relative (to a few ulps of vol times the price's vol elasticity where that
is large, deep out of the money), and the vol is within 8 times the attainable accuracy
``eps max(1, price / (vol vega))`` (``IVStatus.imprecise`` where that is worse than 1e-8); see
``docs/implied_vol.md``.

Bad prices never raise: they give NaN (or 0 at the intrinsic value) and, with
``return_status=True``, an :class:`IVStatus` code per element. Arguments that cannot be
broadcast, or are not real numbers, raise as in :func:`gammaext.greeks`.
"""

from __future__ import annotations

import enum
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _arrays, _core
from ._arrays import FloatArray

__all__ = ["IVStatus", "black76_implied_vol", "implied_vol"]

_ARG_NAMES = ("price", "spot", "strike", "t", "rate", "div")


class IVStatus(enum.IntEnum):
    """Outcome of :func:`implied_vol` per element (``status`` array values, dtype int8)."""

    #: Converged: the vol reproduces the price.
    ok = 0
    #: Price below the forward intrinsic value ``D max(phi (F - K), 0)`` (``D = exp(-rate t)``):
    #: no volatility gives it. Vol NaN.
    below_intrinsic = 1
    #: Price at or above the no-arbitrage maximum (``spot exp(-div t)`` for a call,
    #: ``strike exp(-rate t)`` for a put). Vol NaN.
    above_max = 2
    #: Price equal to the intrinsic value within rounding (a time value of at most 4 ulps of
    #: the price, judged in normalised form; see docs/implied_vol.md). Vol 0.
    at_intrinsic = 3
    #: spot or strike <= 0, t <= 0, a NaN or infinite argument, or inputs out of double range
    #: (``|ln(F/K)|`` above about 1400, or discount factors that overflow). Vol NaN.
    invalid_input = 4
    #: The iteration did not meet its tolerance (not observed in the tests). Vol NaN.
    not_converged = 5
    #: Converged, but the price determines the vol only loosely: its attainable relative
    #: accuracy ``eps * price / (vol * vega)`` is worse than 1e-8 (a time value of a few ulps
    #: of the price deep in the money, or a price near its maximum). The vol is returned and
    #: is within a few times that bound of the exact one.
    imprecise = 6


def _solve(
    args: tuple[Any, ...],
    is_call: Any,
    return_status: bool,
    out: np.ndarray | None,
    threads: int | None,
) -> Any:
    nthreads = _arrays.threads_arg(threads)
    shape, columns, flag_column = _arrays.kernel_columns(_ARG_NAMES, args, is_call)
    n = int(np.prod(shape, dtype=np.int64))
    vol = np.empty(shape) if out is None else _arrays.output_buffer("vol", out, shape)
    status: npt.NDArray[np.int8] = np.empty(shape, dtype=np.int8)
    c_price, c_spot, c_strike, c_t, c_rate, c_div = _arrays.detach(columns, [vol])
    _core._implied_vol(
        n,
        c_price,
        c_spot,
        c_strike,
        c_t,
        c_rate,
        c_div,
        flag_column,
        vol.reshape(-1),
        status.reshape(-1),
        nthreads,
        _arrays.ISA,
    )
    result = _arrays.scalar_or_array(vol)
    if not return_status:
        return result
    if status.ndim == 0:
        return result, IVStatus(int(status))
    return result, status


def implied_vol(
    price: Any,
    spot: Any,
    strike: Any,
    t: Any,
    rate: Any = 0.0,
    div: Any = 0.0,
    *,
    is_call: Any = True,
    return_status: bool = False,
    out: np.ndarray | None = None,
    threads: int | None = None,
) -> Any:
    """Black-Scholes-Merton implied volatility, broadcast over all arguments.

    Parameters
    ----------
    price : array_like
        Option prices (same currency as ``spot`` and ``strike``).
    spot, strike : array_like
        Underlying price and strike, > 0.
    t : array_like
        Time to expiry in years, > 0.
    rate, div : array_like
        Risk-free rate and dividend (or borrow/foreign) yield, continuous decimals.
    is_call : array_like of bool or {"call", "put"}
        Option type, broadcast like the others.
    return_status : bool
        Also return an :class:`IVStatus` code per element (an int8 array, or an
        :class:`IVStatus` for scalar inputs).
    out : ndarray, optional
        Preallocated float64 C-contiguous buffer of the broadcast shape for the vols.
    threads : int, optional
        Threads to use; default :func:`gammaext.get_num_threads`. Results do not depend on it.
        The GIL is released while computing.

    Returns
    -------
    vol : ndarray or float
        Annualised implied volatility (0.2 = 20%). NaN where there is none (see
        :class:`IVStatus`), 0 where the price equals the intrinsic value.
    status : ndarray of int8 or IVStatus
        Only with ``return_status=True``.

    Notes
    -----
    Prices are compared with the *forward* intrinsic value ``D max(phi (F - K), 0)``, where
    ``F = spot exp((rate - div) t)``, so an in-the-money put with a positive rate may be worth
    less than ``strike - spot`` and still have a vol (these are European options). A price
    within a few ulps of ``spot + strike`` from the intrinsic value counts as at the intrinsic
    value (vol 0): its time value is below the rounding error of the intrinsic value itself.
    For American options (such as listed equity options), use out-of-the-money strikes.
    """
    return _solve((price, spot, strike, t, rate, div), is_call, return_status, out, threads)


def black76_implied_vol(
    price: Any,
    forward: Any,
    strike: Any,
    t: Any,
    rate: Any = 0.0,
    *,
    is_call: Any = True,
    return_status: bool = False,
    out: np.ndarray | None = None,
    threads: int | None = None,
) -> Any:
    """Black-76 implied volatility of options on a forward or future ``forward``.

    ``price`` is discounted at ``rate`` (pass ``rate=0`` for undiscounted prices, as for
    premiums quoted in the underlying's forward value). The same as :func:`implied_vol` with
    ``spot=forward, div=rate``; see there for the other arguments and the statuses.
    """
    return _solve((price, forward, strike, t, rate, rate), is_call, return_status, out, threads)


def _normalised_black(x: Any, s: Any) -> FloatArray:
    """The normalised Black call b(x, s) (private; for tests), x = ln(F/K), s = vol sqrt(t)."""
    xa, sa = np.broadcast_arrays(_arrays.as_float("x", x), _arrays.as_float("s", s))
    xa = np.ascontiguousarray(xa)
    sa = np.ascontiguousarray(sa)
    b = np.empty(xa.shape)
    _core._normalised_black(xa.reshape(-1), sa.reshape(-1), b.reshape(-1), _arrays.ISA)
    return b
