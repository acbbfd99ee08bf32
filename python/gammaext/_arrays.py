"""Argument handling shared by the vectorized entry points (private).

Every public kernel wrapper goes through here so that dtypes, broadcasting, ``out=`` buffers,
``threads=`` and error messages behave the same everywhere.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from . import _core

FloatArray = npt.NDArray[np.float64]

_CALL_WORDS = {"c": True, "call": True, "p": False, "put": False}


def as_float(name: str, value: Any) -> FloatArray:
    """``value`` as a float64 array (no copy when it already is one); TypeError names ``name``."""
    try:
        arr = np.asarray(value)
    except ValueError:  # ragged nested sequences: NumPy's message does not say which argument
        raise ValueError(f"{name} must be a rectangular array (rows of equal length)") from None
    if arr.dtype.kind in "fiu":
        return arr.astype(np.float64, copy=False)
    if arr.dtype.kind == "O":
        try:
            return arr.astype(np.float64)
        except OverflowError:  # a Python int beyond float64 (10**400): a value, not a type
            raise ValueError(f"{name} has an integer too large for a float64") from None
        except (TypeError, ValueError):
            pass
    raise TypeError(f"{name} must be real numbers, got an array of dtype {arr.dtype}")


def as_flags(name: str, value: Any) -> npt.NDArray[np.bool_]:
    """Call/put flags: booleans, 0/1, or the strings 'call'/'put'/'c'/'p' (any case)."""
    arr = np.asarray(value)
    if arr.dtype.kind == "b":
        return arr
    if arr.dtype.kind in "iu":
        if arr.size and not np.isin(arr, (0, 1)).all():
            raise ValueError(f"{name} given as integers must be 0 (put) or 1 (call)")
        return arr.astype(bool)
    if arr.dtype.kind in "UO":
        words = np.char.lower(arr.astype(str))
        known = np.isin(words, list(_CALL_WORDS))
        if not known.all():
            bad = words[~known].ravel()[0]
            raise ValueError(f"{name} must be 'call' or 'put', got {bad!r}")
        return np.asarray(np.isin(words, ("c", "call")))
    raise TypeError(f"{name} must be booleans or 'call'/'put', got dtype {arr.dtype}")


def broadcast_shape(names: Sequence[str], arrays: Sequence[np.ndarray]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*(a.shape for a in arrays)))
    except ValueError:
        shapes = ", ".join(f"{n}{a.shape}" for n, a in zip(names, arrays))
        raise ValueError(f"arguments cannot be broadcast together: {shapes}") from None


def column(arr: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A 1-D view for the kernel: one element (broadcast in C++) or the full broadcast shape.

    Size-1 inputs and C-contiguous inputs of the full shape are passed without a copy; only an
    input that broadcasts along some axes but not others is materialised.
    """
    if arr.size == 1:
        return arr.reshape(1)
    if arr.shape == shape and arr.flags.c_contiguous:
        return arr.reshape(-1)
    return np.ascontiguousarray(np.broadcast_to(arr, shape)).reshape(-1)


_SCALARS = (float, int)


def kernel_columns(
    names: Sequence[str], args: Sequence[Any], is_call: Any
) -> tuple[tuple[int, ...], list[np.ndarray], np.ndarray]:
    """(shape, one 1-D float64 column per argument, the call flags as uint8) for a kernel.

    Python scalars (the common one-option call) take a short path with the same result: the
    general one costs several microseconds of NumPy calls per argument.
    """
    if type(is_call) is bool and all(type(a) in _SCALARS for a in args):
        try:
            return (), [np.array((a,), dtype=np.float64) for a in args], np.array(
                (is_call,), dtype=np.uint8
            )
        except OverflowError:  # an int beyond float64: the general path names it
            pass
    arrays = [as_float(n, a) for n, a in zip(names, args)]
    flags = as_flags("is_call", is_call)
    shape = broadcast_shape((*names, "is_call"), (*arrays, flags))
    return shape, [column(a, shape) for a in arrays], column(flags, shape).view(np.uint8)


def output_buffer(name: str, buf: Any, shape: tuple[int, ...]) -> FloatArray:
    """Validate a user ``out=`` array: float64, C-contiguous, writeable, of the result's shape."""
    if not isinstance(buf, np.ndarray):
        raise TypeError(f"out[{name!r}] must be a numpy array, got {type(buf).__name__}")
    if buf.dtype != np.float64:
        raise TypeError(f"out[{name!r}] must have dtype float64, got {buf.dtype}")
    if buf.shape != shape:
        raise ValueError(f"out[{name!r}] has shape {buf.shape}; the result has shape {shape}")
    if not buf.flags.c_contiguous or not buf.flags.writeable:
        raise ValueError(f"out[{name!r}] must be C-contiguous and writeable")
    return buf


def shares_memory(arr: np.ndarray, others: Sequence[np.ndarray]) -> bool:
    """Whether ``arr`` may overlap any of ``others`` (a cheap bounds test, never a false no)."""
    return any(np.may_share_memory(arr, o) for o in others)


def detach(columns: Sequence[np.ndarray], outs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """The kernel inputs, each copied if it may overlap an output buffer.

    Kernels read inputs in place while writing outputs, block by block and from several
    threads: an input that is (part of) an ``out=`` buffer would be overwritten before it is
    read. Copying such inputs makes every ``out=`` safe and leaves the caller's data alone.
    """
    return [c.copy() if shares_memory(c, outs) else c for c in columns]


def threads_arg(threads: int | None) -> int:
    if threads is None:
        return 0
    t = operator.index(threads)
    if t < 1:
        raise ValueError(f"threads must be >= 1 (or None for the default), got {t}")
    return t


def unravel(index: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(index, shape)) if shape else ()


def scalar_or_array(arr: FloatArray) -> float | FloatArray:
    """0-d results come back as Python floats, everything else as arrays."""
    return float(arr) if arr.ndim == 0 else arr


def set_num_threads(threads: int) -> None:
    """Set the process-wide default thread count of every kernel (``threads=None`` calls).

    ``0`` restores the default (all hardware threads). Thread-safe; the only global setting.
    """
    t = operator.index(threads)
    if t < 0:
        raise ValueError(f"threads must be >= 0, got {t}")
    _core._set_default_threads(t)


def get_num_threads() -> int:
    """The thread count used when a call passes ``threads=None``."""
    return int(_core._default_threads())


_ISA_NAMES = {"baseline": 0, "avx2": 1, "avx512": 2}


def _isa_from_env() -> int:
    """GAMMAEXT_SIMD=baseline|avx2|avx512 caps the instruction set (default: the best)."""
    name = os.environ.get("GAMMAEXT_SIMD", "").strip().lower()
    if not name:
        return -1
    if name not in _ISA_NAMES:
        raise ImportError(f"GAMMAEXT_SIMD must be one of {sorted(_ISA_NAMES)}, got {name!r}")
    return _ISA_NAMES[name]


ISA = _isa_from_env()


def simd_level() -> str:
    """The instruction set the kernels use on this machine: 'baseline', 'avx2' or 'avx512'."""
    return str(_core._isa_name(_core._resolve_isa(ISA)))
