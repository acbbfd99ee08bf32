"""Backtests of the TradingView "Black-Scholes Gamma Scalping Strategy", trade for trade.

A C++ bar loop replicates the script's indicators and orders and TradingView's broker emulator
(``../shared/PINE_STRATEGY_SPEC.md``; ``docs/backtest.md`` lists every ambiguous point and the
option chosen). Entry points:

* :func:`backtest` - one run, with the trade list, equity curve and Strategy Tester metrics;
* :func:`sweep` - many parameter sets and/or many series in one threaded call (metrics only);
* :func:`load_csv` / :class:`Bars` - OHLC input from arrays, a pandas DataFrame or a CSV file.

Prices are in the quote currency; quantities in base units; P&L = price difference x quantity
(point value 1). Times are ``numpy.datetime64[ns]`` in UTC.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import math
import operator
import os
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from . import _core
from ._arrays import FloatArray, threads_arg
from .indicators import annualization_factor, timeframe_from_step

__all__ = [
    "BacktestResult",
    "Bars",
    "StrategyParams",
    "SweepResult",
    "backtest",
    "load_csv",
    "param_grid",
    "sweep",
]

TimeArray = npt.NDArray[np.datetime64]

# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------

_OPTION_VALUES: dict[str, tuple[str, ...]] = {
    "exit_reissue": ("on_entry", "every_bar"),
    "tie_path": ("low_first", "high_first"),
    "entry_bar_gap": ("fill_at_open", "skip_leg"),
    "same_bar_opposite_entries": ("sequential", "last_only"),
    "sizing_basis": ("signal_close", "fill_open"),
}


@dataclass(frozen=True)
class StrategyParams:
    """Every input of the script, the strategy properties and the replica's options.

    Script inputs (defaults as in the source; spec 2.1): ``strike_offset_pct`` (percent),
    ``days_to_expiry`` (days, t = days/365, constant), ``implied_vol`` (decimal),
    ``risk_free_rate`` and ``dividend_yield`` (continuous decimals), ``hist_vol_period`` (bars),
    ``vol_ratio_threshold`` / ``vol_ratio_short`` (HV/IV regime bounds),
    ``gamma_scalp_threshold`` (ATR multiple of a significant move), ``hedge_band_pct``
    (percent of delta), ``use_vol_filter``, ``max_positions``, ``stop_loss_atr_mult``,
    ``take_profit_atr_mult``, ``max_drawdown_pct`` (percent of peak equity). Hard-coded in the
    script but exposed: ``atr_period`` (14) and ``hist_vol_fallback`` (0.20).

    Strategy properties (spec 2.2-2.3): ``initial_capital``, ``order_size_pct`` (percent of
    equity), ``pyramiding``, ``commission_pct`` (percent of traded value per fill),
    ``slippage_ticks``, ``mintick`` (price tick; 0 = no rounding; default 0.01, Binance spot
    BTCUSDT), ``qty_step`` (lot step; 0 = none), ``timeframe`` (Pine string such as ``"D"``
    or ``"60"``; None = inferred from the bar times, else ``"D"``) or ``annualization``
    (bars per year, overrides ``timeframe``).

    Options for the ambiguous points (spec section 9), defaults first: ``exit_reissue``
    ("on_entry" | "every_bar"), ``tie_path`` ("low_first" | "high_first"),
    ``exits_on_entry_bar`` (True), ``entry_bar_gap`` ("fill_at_open" | "skip_leg"),
    ``same_bar_opposite_entries`` ("sequential" | "last_only"), ``sizing_basis``
    ("signal_close" | "fill_open"), ``round_exit_levels`` (True), ``reserve_commission``
    (True), ``close_at_end`` (False).

    Further TradingView properties: ``process_orders_on_close`` (False: market orders fill at
    the next open; True: at the close of the bar that sent them) and
    ``backtest_fill_limits_assumption`` (ticks the price must trade beyond a limit before it
    fills, at the limit; default 0 = touching fills). Not modelled (no effect with this
    strategy's defaults, see docs/backtest.md): margin calls, ``calc_on_order_fills``,
    ``close_entries_rule="ANY"``, the bar magnifier.
    """

    strike_offset_pct: float = 0.0
    days_to_expiry: float = 30.0
    implied_vol: float = 0.25
    risk_free_rate: float = 0.05
    dividend_yield: float = 0.0
    hist_vol_period: int = 20
    vol_ratio_threshold: float = 1.2
    vol_ratio_short: float = 0.8
    gamma_scalp_threshold: float = 0.5
    hedge_band_pct: float = 2.0
    use_vol_filter: bool = True
    max_positions: int = 3
    stop_loss_atr_mult: float = 2.0
    take_profit_atr_mult: float = 3.0
    max_drawdown_pct: float = 15.0
    atr_period: int = 14
    hist_vol_fallback: float = 0.20
    initial_capital: float = 1_000_000.0
    order_size_pct: float = 10.0
    pyramiding: int = 5
    commission_pct: float = 0.0
    slippage_ticks: float = 0.0
    mintick: float = 0.01
    qty_step: float = 0.0
    annualization: float | None = None
    exit_reissue: Literal["on_entry", "every_bar"] = "on_entry"
    tie_path: Literal["low_first", "high_first"] = "low_first"
    exits_on_entry_bar: bool = True
    entry_bar_gap: Literal["fill_at_open", "skip_leg"] = "fill_at_open"
    same_bar_opposite_entries: Literal["sequential", "last_only"] = "sequential"
    sizing_basis: Literal["signal_close", "fill_open"] = "signal_close"
    round_exit_levels: bool = True
    reserve_commission: bool = True
    close_at_end: bool = False
    process_orders_on_close: bool = False
    backtest_fill_limits_assumption: float = 0.0
    timeframe: str | None = None

    def __post_init__(self) -> None:
        for name, allowed in _OPTION_VALUES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        # Numbers are range-checked by the core (check_params); here only their type, so that
        # mintick="x" names mintick instead of failing later in a comparison.
        for name in _PARAM_NAMES:
            v = getattr(self, name)
            if name not in _OPTION_VALUES and not (name == "annualization" and v is None):
                if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2**1023:
                    raise ValueError(f"{name} must be finite, got an integer beyond float64")
                if not _is_real(v) or isinstance(v, str):
                    raise TypeError(f"{name} must be a number, got {v!r}")
        if self.timeframe is not None:
            if not isinstance(self.timeframe, str):
                tf = self.timeframe
                raise TypeError(f"timeframe must be a string like 'D' or '60', got {tf!r}")
            annualization_factor(self.timeframe)  # validates
        # The ranges are the core's (check_params), checked here too so that a bad set fails
        # where it is made, not later inside a sweep.
        ann = 1.0 if self.annualization is None else float(self.annualization)
        _core._bt_check_params(self.to_row(ann))

    def replace(self, **changes: Any) -> StrategyParams:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_row(self, annualization: float) -> FloatArray:
        """The parameter row of the C++ core (column order of ``_core._bt_param_names()``)."""
        row = np.empty(len(_PARAM_NAMES))
        for k, name in enumerate(_PARAM_NAMES):
            v = annualization if name == "annualization" else getattr(self, name)
            if name in _OPTION_VALUES:
                v = _OPTION_VALUES[name].index(v)
            try:
                row[k] = float(v)
            except (TypeError, ValueError):
                raise TypeError(f"{name} must be a number, got {v!r}") from None
        return row

    def resolve_annualization(self, times: TimeArray | None) -> float:
        if self.annualization is not None:
            return float(self.annualization)
        if self.timeframe is not None:
            return annualization_factor(self.timeframe)
        return annualization_factor(infer_timeframe(times))


_PARAM_NAMES: list[str] = list(_core._bt_param_names())
_SUMMARY_NAMES: list[str] = list(_core._bt_summary_names())
_PY_FIELDS = {f.name for f in fields(StrategyParams)}
assert set(_PARAM_NAMES) <= _PY_FIELDS, "StrategyParams out of step with the C++ parameters"

_PARAMS_TYPE = StrategyParams | Mapping[str, Any] | None


def _as_params(params: _PARAMS_TYPE, overrides: Mapping[str, Any]) -> StrategyParams:
    if params is None:
        base = StrategyParams()
    elif isinstance(params, StrategyParams):
        base = params
    elif isinstance(params, Mapping):
        base = StrategyParams(**_check_names(params))
    else:
        raise TypeError(f"params must be StrategyParams or a mapping, got {type(params).__name__}")
    return base.replace(**_check_names(overrides)) if overrides else base


def _check_names(values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(values) - _PY_FIELDS)
    if unknown:
        raise TypeError(f"unknown strategy parameter(s) {unknown}; known: {sorted(_PY_FIELDS)}")
    return dict(values)


def _param_matrix(plist: Sequence[StrategyParams], anns: FloatArray) -> FloatArray:
    """The core's parameter matrix, built column by column (a sweep may hold 10^4+ sets)."""
    matrix = np.empty((len(plist), len(_PARAM_NAMES)))
    names = [n for n in _PARAM_NAMES if n != "annualization"]
    # One attrgetter call per parameter set, then whole columns: the serial Python part of a
    # threaded sweep stays small.
    columns = dict(zip(names, zip(*map(operator.attrgetter(*names), plist)))) if plist else {}
    for k, name in enumerate(_PARAM_NAMES):
        if name == "annualization":
            matrix[:, k] = anns
        elif not plist:
            continue
        elif name in _OPTION_VALUES:
            index = {v: j for j, v in enumerate(_OPTION_VALUES[name])}
            matrix[:, k] = [index[v] for v in columns[name]]
        else:
            try:
                matrix[:, k] = columns[name]
            except (TypeError, ValueError):
                bad = next(v for v in columns[name] if not _is_real(v))
                raise TypeError(f"{name} must be a number, got {bad!r}") from None
    return matrix


def _is_real(v: Any) -> bool:
    try:
        float(v)
    except (TypeError, ValueError):
        return False
    return True


def param_grid(**axes: Iterable[Any]) -> list[StrategyParams]:
    """Every combination of the given values (cartesian product), other fields at default.

    >>> len(param_grid(stop_loss_atr_mult=[1, 2], take_profit_atr_mult=[2, 3, 4]))
    6
    """
    names = list(axes)
    _check_names(dict.fromkeys(names))
    return [
        StrategyParams(**dict(zip(names, combo)))
        for combo in itertools.product(*(list(v) for v in axes.values()))
    ]


# --------------------------------------------------------------------------------------------
# Bars and CSV input
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bars:
    """An OHLC(V) series: float64 arrays of equal length, times as datetime64[ns] (or None).

    Build with :meth:`from_arrays`, :meth:`from_dataframe` or :func:`load_csv`; each validates
    the data (finite positive prices, ``low <= open, close <= high``, increasing times) and
    names the first bad bar.
    """

    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    time: TimeArray | None = None
    volume: FloatArray | None = None

    def __post_init__(self) -> None:
        # Own read-only float64 copies, checked: a Bars is always a valid series.
        n = None
        for name in ("open", "high", "low", "close", "volume"):
            v = getattr(self, name)
            if v is None:
                continue
            arr = np.asarray(v)
            if arr.dtype.kind not in "fiu":
                raise TypeError(f"{name} must be real numbers, got dtype {arr.dtype}")
            if arr.ndim != 1:
                raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
            if n is not None and len(arr) != n:
                raise ValueError(f"{name} has {len(arr)} bars; open has {n}")
            n = len(arr)
            arr = np.array(arr, dtype=np.float64)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        if self.time is not None:
            t = _as_times(self.time)
            if len(t) != n:
                raise ValueError(f"time has {len(t)} entries; close has {n}")
            t = t.copy()
            t.flags.writeable = False
            object.__setattr__(self, "time", t)
        problem = self.first_problem()
        if problem is not None:
            raise ValueError(f"bar {problem[0]}: {problem[1]}")

    def __len__(self) -> int:
        return int(self.close.shape[0])

    @classmethod
    def from_arrays(
        cls,
        open: Any,
        high: Any,
        low: Any,
        close: Any,
        time: Any = None,
        volume: Any = None,
    ) -> Bars:
        """From 1-D arrays (copied); ``time`` as datetime64, epoch integers or ISO strings."""
        return cls(open, high, low, close, time, volume)

    @classmethod
    def from_dataframe(
        cls,
        df: Any,
        *,
        time_column: str | None = None,
        columns: Mapping[str, str] | None = None,
    ) -> Bars:
        """From a pandas DataFrame; columns found as in :func:`load_csv` (or named), the time
        from ``time_column``, a detected time column, or a DatetimeIndex."""
        names = [str(c) for c in df.columns]
        found = _find_columns(names, columns, time_column, where="DataFrame")
        data = {k: df[names[j]].to_numpy() for k, j in found.items() if k != "time"}
        time = None
        if "time" in found:
            time = df[names[found["time"]]].to_numpy()
        elif "DatetimeIndex" in type(df.index).__name__:
            time = df.index.to_numpy()
        if time is not None and np.asarray(time).dtype.kind not in "Mi":
            time = [str(x) for x in time]  # parsed (and zones checked) by _as_times
        return cls.from_arrays(
            data["open"],
            data["high"],
            data["low"],
            data["close"],
            time,
            data.get("volume"),
        )

    def first_problem(self) -> tuple[int, str] | None:
        """(index, message) of the first invalid bar, or None."""
        o, h, lo, c = self.open, self.high, self.low, self.close
        checks = [
            (
                ~np.isfinite(o) | ~np.isfinite(h) | ~np.isfinite(lo) | ~np.isfinite(c),
                "prices must be finite",
            ),
            ((o <= 0) | (h <= 0) | (lo <= 0) | (c <= 0), "prices must be > 0"),
            (h < lo, "high < low"),
            ((o > h) | (o < lo), "open outside [low, high]"),
            ((c > h) | (c < lo), "close outside [low, high]"),
        ]
        first: tuple[int, str] | None = None
        for bad, msg in checks:
            idx = np.flatnonzero(bad)
            if idx.size and (first is None or idx[0] < first[0]):
                first = (int(idx[0]), msg)
        if self.time is not None and len(self.time) > 1:
            idx = np.flatnonzero(np.diff(self.time.astype(np.int64)) <= 0)
            if idx.size and (first is None or idx[0] + 1 < first[0]):
                first = (int(idx[0]) + 1, "time is not increasing")
        if first is not None:
            i = first[0]
            return i, f"{first[1]} (open={o[i]}, high={h[i]}, low={lo[i]}, close={c[i]})"
        return None


def _as_times(value: Any) -> TimeArray:
    arr = np.asarray(value)
    if arr.dtype.kind == "M":
        return _to_ns(arr)
    if arr.dtype.kind in "iu":
        return _epoch_to_datetime(arr.astype(np.int64))
    if arr.dtype.kind in "UO":
        texts = [str(x) for x in arr]
        _check_zones(texts)
        return np.array([_parse_time(x, lineno=None) for x in texts], dtype="datetime64[ns]")
    raise TypeError(f"time must be datetime64, epoch integers or strings, got {arr.dtype}")


#: The range of datetime64[ns] (years 1677-2262), in microseconds so that comparing with any
#: parsed time cannot overflow. NumPy's conversion to ns wraps around silently outside it
#: (found by fuzzing: "9999-12-31" became 1816-03-29, epoch 99999999999 s became 2216).
_NS_RANGE_US = (np.datetime64("1677-09-22", "us"), np.datetime64("2262-04-11", "us"))


def _to_ns(t: Any) -> TimeArray:
    """datetime64 of any unit to datetime64[ns]; ValueError (naming the value) outside its range."""
    us = np.asarray(t).astype("datetime64[us]")
    bad = np.isnat(us) | (us < _NS_RANGE_US[0]) | (us > _NS_RANGE_US[1])
    if bad.any():
        value = np.asarray(t).ravel()[int(np.flatnonzero(bad.ravel())[0])]
        raise ValueError(f"time {value} is outside the supported range (1678 to 2261)")
    return np.asarray(t).astype("datetime64[ns]")


def _epoch_to_datetime(v: npt.NDArray[np.int64]) -> TimeArray:
    """Epoch integers; the unit (s, ms, us, ns) is read from the magnitude (Binance exports
    switched from milliseconds to microseconds in 2025)."""
    mag = int(np.max(np.abs(v.astype(np.float64)))) if v.size else 0  # abs(int64 min) wraps
    unit = "s" if mag < 10**11 else "ms" if mag < 10**14 else "us" if mag < 10**17 else "ns"
    return _to_ns(v.astype(f"datetime64[{unit}]"))


_TZ = re.compile(r"\s*(Z|UTC|[+-]\d{2}(?::?\d{2})?)$", re.IGNORECASE)


def _zone(s: str) -> re.Match[str] | None:
    """The UTC offset at the end of a time string (``Z``, ``UTC``, ``+HH:MM``, ``+HHMM``,
    ``+HH``), or None. A numeric offset needs a time of day before it: the ``-01`` that ends
    ``2024-01-01`` is the day."""
    m = _TZ.search(s)
    if m is None or re.fullmatch(r"-?\d+", s):
        return None
    if m.group(1)[0] in "+-" and ":" not in s[: m.start()]:
        return None
    return m


def _has_zone(text: str) -> bool:
    """Whether a time string carries a UTC offset."""
    return _zone(text.strip()) is not None


def _check_zones(texts: Sequence[str]) -> None:
    """Refuse a series that mixes times with and without a UTC offset: the naive ones are
    read as UTC, which is a guess the user should make, not the loader."""
    zoned = [_has_zone(t) for t in texts]
    if any(zoned) and not all(zoned):
        k = zoned.index(not zoned[0])
        raise ValueError(_mixed_zones(texts[k], zoned[0], None, k))


def _mixed_zones(text: str, first_zoned: bool, lineno: int | None, index: int = 0) -> str:
    where = f"line {lineno}: " if lineno is not None else f"time {index}: "
    first, other = ("with", "without") if first_zoned else ("without", "with")
    return (
        f"{where}{text.strip()!r} mixes times {first} a UTC offset and times {other} one "
        "(give every time an offset, or none)"
    )


def _parse_time(text: str, lineno: int | None) -> np.datetime64:
    s = text.strip()
    where = f"line {lineno}: " if lineno is not None else ""
    if re.fullmatch(r"-?\d+", s):
        try:
            return np.datetime64(_epoch_to_datetime(np.array([int(s)], dtype=np.int64))[0], "ns")
        except (OverflowError, ValueError):  # beyond int64, or outside the datetime64 range
            raise ValueError(f"{where}{text!r} is not a time in range (1678 to 2261)") from None
    offset_min = 0
    m = _zone(s)
    if m:
        tz = m.group(1).upper()
        s = s[: m.start()]
        if tz not in ("Z", "UTC"):
            digits = tz[1:].replace(":", "").ljust(4, "0")
            if int(digits[:2]) > 23 or int(digits[2:]) > 59:
                raise ValueError(f"{where}{text!r} has an invalid UTC offset")
            offset_min = int(digits[:2]) * 60 + int(digits[2:])
            if tz[0] == "-":
                offset_min = -offset_min
    try:
        with warnings.catch_warnings():  # NumPy only warns about a zone it cannot read
            warnings.simplefilter("error", UserWarning)
            t: np.datetime64 = _to_ns(np.datetime64(s.replace(" ", "T"))).reshape(-1)[0]
    except (ValueError, UserWarning):
        raise ValueError(f"{where}{text!r} is not a date/time in range (1678 to 2261)") from None
    return t - np.timedelta64(offset_min, "m")


def _check_width(name: str, ln: int, row: Sequence[str], width: int) -> None:
    """A row of a CSV file must have the header's number of fields."""
    if len(row) != width:
        raise ValueError(f"{name} line {ln}: {len(row)} fields, the header has {width}")


class _TimeOrder:
    """The times of a CSV file's rows, read in order: each must parse, carry a UTC offset if and
    only if the first does, and be after the previous one (times must increase). Errors name
    the file and line. Shared by :func:`load_csv` and :func:`gammaext.lab.load_closes`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.prev: np.datetime64 | None = None
        self.first_zoned: bool | None = None

    def __call__(self, text: str, ln: int) -> np.datetime64:
        try:
            zoned = _has_zone(text)
            self.first_zoned = zoned if self.first_zoned is None else self.first_zoned
            if zoned != self.first_zoned:
                raise ValueError(_mixed_zones(text, self.first_zoned, ln))
            t = _parse_time(text, lineno=ln)
        except ValueError as exc:
            raise ValueError(f"{self.name} {exc}") from None
        if self.prev is not None and not t > self.prev:
            raise ValueError(
                f"{self.name} line {ln}: time {text.strip()!r} is not after the "
                "previous row's (times must increase)"
            )
        self.prev = t
        return t


_ALIASES = {
    "time": ("open_time", "timestamp", "time", "date", "datetime", "open time", "opentime", "ts"),
    "open": ("open", "o"),
    "high": ("high", "h"),
    "low": ("low", "l"),
    "close": ("close", "c", "price"),
    "volume": ("volume", "vol", "v"),
}
#: Binance kline layout when a file has no header.
_BINANCE_NO_HEADER = {"time": 0, "open": 1, "high": 2, "low": 3, "close": 4, "volume": 5}


def _find_columns(
    header: Sequence[str],
    columns: Mapping[str, str] | None,
    time_column: str | None,
    where: str,
) -> dict[str, int]:
    names = [h.strip() for h in header]
    lower = [h.lower() for h in names]
    dup = next((h for k, h in enumerate(lower) if h and h in lower[:k]), None)
    if dup is not None:
        raise ValueError(f"{where}: duplicate column {names[lower.index(dup)]!r} (columns {names})")
    given = dict(columns or {})
    if time_column is not None:
        given["time"] = time_column
    bad = sorted(set(given) - set(_ALIASES))
    if bad:
        raise ValueError(f"columns= keys must be among {sorted(_ALIASES)}, got {bad}")
    found: dict[str, int] = {}
    for key, aliases in _ALIASES.items():
        if key in given:
            if given[key] not in names:
                raise ValueError(
                    f"{where}: no column {given[key]!r} (for {key}); columns are {names}"
                )
            found[key] = names.index(given[key])
            continue
        for alias in aliases:
            if alias in lower:
                found[key] = lower.index(alias)
                break
    missing = [k for k in ("open", "high", "low", "close") if k not in found]
    if missing:
        raise ValueError(
            f"{where}: missing column(s) {missing}; columns are {names} "
            "(name them with columns={'close': ...})"
        )
    return found


def load_csv(
    path: str | os.PathLike[str],
    *,
    time_column: str | None = None,
    columns: Mapping[str, str] | None = None,
    delimiter: str = ",",
) -> Bars:
    """Read OHLC(V) bars from a CSV file (Binance kline exports and similar).

    Columns are found by name, case-insensitively (``open_time``/``timestamp``/``time``/
    ``date``, ``open``, ``high``, ``low``, ``close``, ``volume``), or named with ``time_column``
    and ``columns={"close": "Close", ...}``. A file without a header whose first field is a
    number is read as Binance's raw kline layout (open time, open, high, low, close, volume,
    ...). Times: ISO 8601 strings (a trailing ``Z`` or ``+HH:MM`` offset is converted to UTC) or
    epoch integers in s/ms/us/ns (unit from the magnitude). Parsed with numpy, no pandas.

    Raises ``ValueError`` naming the file line (1 = header) and the problem: empty file,
    missing column, wrong field count, a non-numeric or non-positive price, high < low, open or
    close outside the bar's range, a bad or non-increasing time.
    """
    path = os.fspath(path)
    name = os.path.basename(path)
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:  # was a bare UnicodeDecodeError without the line
        line = raw[: exc.start].count(b"\n") + 1
        raise ValueError(f"{name} line {line}: not UTF-8 text (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            rows.append((len(rows) + 1, row))
    except csv.Error as exc:  # e.g. a field over the csv module's size limit (not a ValueError)
        raise ValueError(f"{name} line {len(rows) + 1}: {exc}") from None
    rows = [(ln, r) for ln, r in rows if r and any(f.strip() for f in r)]
    if not rows:
        raise ValueError(f"{name}: empty file (no header and no bars)")
    first_ln, first = rows[0]
    if _is_number(first[0]) and columns is None and time_column is None:
        if len(first) < 5:
            raise ValueError(f"{name} line {first_ln}: no header and fewer than 5 fields")
        found = dict(_BINANCE_NO_HEADER)
        if len(first) < 6:
            del found["volume"]
        body = rows
        width = len(first)
    else:
        found = _find_columns(first, columns, time_column, where=f"{name} line {first_ln}")
        body = rows[1:]
        width = len(first)
    if not body:
        raise ValueError(f"{name}: no bars after the header (line {first_ln})")
    cols: dict[str, list[float]] = {k: [] for k in found if k != "time"}
    times: list[np.datetime64] = []
    time_of = _TimeOrder(name)
    for ln, row in body:
        _check_width(name, ln, row, width)
        vals: dict[str, float] = {}
        for key, j in found.items():
            if key == "time":
                continue
            text = row[j].strip()
            try:
                v = float(text)
            except ValueError:
                raise ValueError(
                    f"{name} line {ln}: {key} value {text!r} is not a number"
                ) from None
            if not math.isfinite(v) or (key != "volume" and v <= 0):
                raise ValueError(f"{name} line {ln}: {key} value {text!r} must be finite and > 0")
            vals[key] = v
            cols[key].append(v)
        if vals["high"] < vals["low"]:
            raise ValueError(f"{name} line {ln}: high {vals['high']} < low {vals['low']}")
        for key in ("open", "close"):
            if not vals["low"] <= vals[key] <= vals["high"]:
                raise ValueError(
                    f"{name} line {ln}: {key} {vals[key]} outside [low {vals['low']}, "
                    f"high {vals['high']}]"
                )
        if "time" in found:
            times.append(time_of(row[found["time"]], ln))
    time = np.array(times, dtype="datetime64[ns]") if "time" in found else None
    vol = np.array(cols["volume"]) if "volume" in cols else None
    return Bars(
        np.array(cols["open"]),
        np.array(cols["high"]),
        np.array(cols["low"]),
        np.array(cols["close"]),
        time,
        vol,
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def as_bars(data: Any, **kwargs: Any) -> Bars:
    """Bars from Bars, a CSV path, a pandas DataFrame, a mapping of columns, or a tuple
    ``(open, high, low, close[, time])``."""
    if isinstance(data, Bars):
        return data
    if isinstance(data, (str, os.PathLike)):
        return load_csv(data, **kwargs)
    if hasattr(data, "columns") and hasattr(data, "iloc"):
        return Bars.from_dataframe(data, **kwargs)
    if isinstance(data, Mapping):
        lower = {str(k).lower(): v for k, v in data.items()}
        tkey = next((a for a in _ALIASES["time"] if a in lower), None)
        return Bars.from_arrays(
            lower["open"],
            lower["high"],
            lower["low"],
            lower["close"],
            lower[tkey] if tkey else None,
            lower.get("volume"),
        )
    if isinstance(data, (tuple, list)) and len(data) in (4, 5):
        return Bars.from_arrays(*data)
    raise TypeError(
        "data must be Bars, a CSV path, a DataFrame, a dict of columns or (open, high, low, "
        f"close[, time]), got {type(data).__name__}"
    )


def infer_timeframe(times: TimeArray | None) -> str:
    """Pine timeframe string from the median bar spacing ("D" without times)."""
    if times is None or len(times) < 2:
        return "D"
    step = float(np.median(np.diff(times.astype("datetime64[s]").astype(np.int64))))
    return timeframe_from_step(step)


def _check_tick(low: float, high: float, mintick: float) -> None:
    """The ATM strike and the order price are the close on the tick. A tick coarser than the
    prices rounds them to 0 (an infinite quantity, a log of infinity); one so fine that
    price / tick passes 2**53 makes the rounding meaningless (and overflows near 1e307)."""
    if not mintick > 0 or not low <= high:  # no rounding, or no bars
        return
    if low / mintick + 0.5 < 1:  # floor(x) < 1, without math.floor's overflow
        raise ValueError(
            f"mintick {mintick} is too coarse for prices as low as {low}: "
            "they round to 0 (pass the symbol's tick, e.g. mintick=1e-8, or 0 for none)"
        )
    if high / mintick > 2.0**53:
        raise ValueError(
            f"mintick {mintick} is too fine for prices as high as {high}: price / tick "
            "exceeds 2**53, where rounding to the tick means nothing (pass mintick=0 for none)"
        )


def _price_range(series: Sequence[Bars]) -> tuple[float, float]:
    """(lowest close, highest high) over the series; (inf, -inf) without bars."""
    low = min((float(s.close.min()) for s in series if len(s)), default=math.inf)
    high = max((float(s.high.max()) for s in series if len(s)), default=-math.inf)
    return low, high


def _as_time(value: Any, name: str) -> np.datetime64:
    if isinstance(value, str):
        return _parse_time(value, None)
    try:
        return np.datetime64(value, "ns")
    except OverflowError:  # an epoch integer beyond int64 nanoseconds
        raise ValueError(f"{name} {value!r} is outside the time range (1678 to 2261)") from None
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a date/time, got {value!r}") from None


def _start_index(bars: Bars, start_time: Any) -> int:
    if start_time is None:
        return 0
    if bars.time is None:
        raise ValueError("start_time needs bar times")
    start = int(np.searchsorted(bars.time, _as_time(start_time, "start_time"), side="left"))
    if start >= len(bars):  # nothing could trade: a silent 0-trade result hid typos in the year
        last = str(bars.time[-1]).replace("T", " ") if len(bars) else "none"
        raise ValueError(f"start_time {start_time!r} is after the last bar ({last})")
    return start


def _until(bars: Bars, end_time: Any) -> Bars:
    """The bars up to and including end_time."""
    if end_time is None:
        return bars
    if bars.time is None:
        raise ValueError("end_time needs bar times")
    k = int(np.searchsorted(bars.time, _as_time(end_time, "end_time"), side="right"))
    if k == 0:
        raise ValueError(f"no bars at or before end_time {end_time!r}")
    vol = None if bars.volume is None else bars.volume[:k]
    return Bars(bars.open[:k], bars.high[:k], bars.low[:k], bars.close[:k], bars.time[:k], vol)


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------

_REASONS = {
    -1: "open",
    0: "stop",
    1: "limit",
    2: "reversal",
    3: "close_all",
    4: "close_all",
    5: "end_of_data",
}
_CLOSE_COMMENTS = {3: "Drawdown Protection", 4: "Vol Regime Shift"}


def _cell(v: Any) -> Any:
    """A CSV cell: times in ISO 8601 (UTC), floats with every digit (repr), the rest as is."""
    if isinstance(v, np.datetime64):
        return "" if np.isnat(v) else np.datetime_as_string(v, unit="s") + "Z"
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, (np.integer, np.bool_)):
        return v.item()
    return v


def _money(x: float | None) -> str:
    """An amount with thousands separators and cents (``1,037,941.73``)."""
    return "-" if x is None or not math.isfinite(x) else f"{x:,.2f}"


def pine_format(x: float, decimals: int) -> str:
    """Pine ``str.tostring(x, "#.##")``: at most ``decimals`` decimals, no trailing zeros."""
    if not math.isfinite(x):
        return "NaN"
    s = f"{x:.{decimals}f}"
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("-0", "") else s


@dataclass
class BacktestResult:
    """One backtest: trades, equity curve, indicators and the Strategy Tester summary.

    ``trades`` / ``open_trades`` map column names to arrays (one row per trade, closed trades in
    exit order; spec 8.1); ``equity`` and ``indicators`` map names to per-bar arrays (8.2);
    ``summary`` maps metric names to floats (8.3; ``max_drawdown`` is the intrabar
    approximation, the other two constructions are reported too; counts are floats; undefined
    ratios are NaN; ``gross_loss``, ``largest_loss`` and drawdowns are positive amounts;
    ``halt_bar`` is -1 when the drawdown halt never tripped).
    """

    params: StrategyParams
    bars: Bars
    start_index: int
    annualization: float
    trades: dict[str, np.ndarray]
    open_trades: dict[str, np.ndarray]
    equity: dict[str, np.ndarray]
    indicators: dict[str, np.ndarray]
    summary: dict[str, float] = field(default_factory=dict)

    def __repr__(self) -> str:
        """A short summary; the trade list and the per-bar arrays are in the attributes."""
        s, n = self.summary, len(self.bars)
        span = ""
        if self.bars.time is not None and n:
            first, last = (str(t)[:16].replace("T", " ") for t in self.bars.time[[0, -1]])
            span = f" {first} .. {last}"
        defaults = StrategyParams()
        changed = [
            f"{f.name}={getattr(self.params, f.name)!r}"
            for f in fields(StrategyParams)
            if getattr(self.params, f.name) != getattr(defaults, f.name)
        ]
        return (
            f"<BacktestResult: {n:,} bars{span}, trading from bar {self.start_index}, "
            f"{self.annualization:g} bars/year\n"
            f"  {self.n_trades} closed trades, {len(self.open_trades['pnl'])} open; "
            f"net profit {_money(s.get('net_profit'))} ({s.get('net_profit_pct', math.nan):+.2f}%)"
            f", max drawdown {_money(s.get('max_drawdown'))}, final equity "
            f"{_money(s.get('final_equity'))}\n"
            f"  params: {', '.join(changed) if changed else 'the defaults'}>"
        )

    @property
    def start_time(self) -> np.datetime64 | None:
        """Time of the first bar allowed to send orders (spec D1), None without times."""
        if self.bars.time is None or self.start_index >= len(self.bars):
            return None
        return np.datetime64(self.bars.time[self.start_index], "ns")

    @property
    def halt_time(self) -> np.datetime64 | None:
        """Time of the bar where the drawdown halt first tripped, None if it never did."""
        k = int(self.summary["halt_bar"])
        if k < 0 or self.bars.time is None:
            return None
        return np.datetime64(self.bars.time[k], "ns")

    @property
    def n_trades(self) -> int:
        return len(self.trades["pnl"])

    def write(self, folder: str | os.PathLike[str]) -> list[Path]:
        """Write ``trades.csv`` (closed trades, then open ones marked ``open``), ``equity.csv``
        (per bar: time, equity and the indicators) and ``metrics.json`` (the summary, the
        parameters, the first trading bar and the annualisation). No pandas needed."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        trades = out / "trades.csv"
        with trades.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["status", *self.trades])
            for status, table in (("closed", self.trades), ("open", self.open_trades)):
                for k in range(len(table["pnl"])):
                    w.writerow([status, *(_cell(table[c][k]) for c in self.trades)])
        equity = out / "equity.csv"
        columns = {k: v for k, v in {**self.equity, **self.indicators}.items() if k != "time"}
        with equity.open("w", newline="") as fh:
            w = csv.writer(fh)
            has_time = self.bars.time is not None
            w.writerow((["time"] if has_time else ["bar"]) + list(columns))
            first = self.bars.time if self.bars.time is not None else range(len(self.bars))
            for k, t in enumerate(first):
                w.writerow([_cell(t), *(_cell(v[k]) for v in columns.values())])
        metrics = out / "metrics.json"
        doc = {
            "summary": {k: (v if math.isfinite(v) else None) for k, v in self.summary.items()},
            "params": asdict(self.params),
            "start_index": self.start_index,
            "start_time": None if self.start_time is None else str(self.start_time),
            "annualization": self.annualization,
            "bars": len(self.bars),
        }
        metrics.write_text(json.dumps(doc, indent=2) + "\n")
        return [trades, equity, metrics]

    def trades_dataframe(self, *, open_trades: bool = False) -> Any:
        """The trade list as a pandas DataFrame (pandas needed)."""
        import pandas as pd

        return pd.DataFrame(self.open_trades if open_trades else self.trades)

    to_dataframe = trades_dataframe

    def equity_dataframe(self) -> Any:
        """Per-bar equity and indicators as a pandas DataFrame indexed by time (or bar)."""
        import pandas as pd

        data = {k: v for k, v in {**self.equity, **self.indicators}.items() if k != "time"}
        index = None if self.bars.time is None else pd.DatetimeIndex(self.bars.time, name="time")
        return pd.DataFrame(data, index=index)

    def summary_dataframe(self) -> Any:
        import pandas as pd

        return pd.Series(self.summary, name="value").to_frame()

    def plot(self, ax: Any = None, *, currency: str = "quote currency") -> Any:
        """Price with entry/exit markers and the equity curve; returns the Figure (see
        :func:`gammaext.plots.plot_equity`)."""
        from .plots import plot_equity

        return plot_equity(self, ax, currency=currency)


def _trade_columns(
    raw: Mapping[str, np.ndarray],
    bars: Bars,
    ind: Mapping[str, np.ndarray],
    is_open: bool,
) -> dict[str, np.ndarray]:
    n = len(raw["pnl"])
    d = raw["dir"]
    delta, gamma = ind["straddle_delta"], ind["straddle_gamma"]

    def comment(bar: int) -> str:
        return f"Δ:{pine_format(float(delta[bar]), 2)} Γ:{pine_format(float(gamma[bar]), 3)}"

    entry_comment = np.array([comment(int(b)) for b in raw["signal_bar"]], dtype=object)
    reason = raw["exit_reason"]
    exit_id = np.empty(n, dtype=object)
    exit_comment = np.empty(n, dtype=object)
    for k in range(n):
        r = int(reason[k])
        if r in (0, 1):
            exit_id[k] = "LongExit" if d[k] > 0 else "ShortExit"
            exit_comment[k] = ""
        elif r == 2:
            exit_id[k] = "GammaShort" if d[k] > 0 else "GammaLong"
            exit_comment[k] = comment(int(raw["exit_signal_bar"][k]))
        elif r in (3, 4):
            exit_id[k] = "Close position order"
            exit_comment[k] = _CLOSE_COMMENTS[r]
        elif r == 5:
            exit_id[k] = "End of data"
            exit_comment[k] = ""
        else:
            exit_id[k] = exit_comment[k] = ""
    notional = raw["entry_price"] * raw["qty"]
    out: dict[str, np.ndarray] = {
        "trade_no": np.arange(1, n + 1),
        "direction": np.where(d > 0, "long", "short"),
        "entry_id": np.where(d > 0, "GammaLong", "GammaShort"),
        "entry_comment": entry_comment,
        "signal_bar": raw["signal_bar"],
        "entry_bar": raw["entry_bar"],
        "entry_price": raw["entry_price"],
        "exit_id": exit_id,
        "exit_comment": exit_comment,
        "exit_reason": np.array([_REASONS[int(r)] for r in reason], dtype=object),
        "exit_bar": raw["exit_bar"],
        "exit_price": raw["exit_price"],
        "qty": raw["qty"],
        "stop": raw["stop"],
        "limit": raw["limit"],
        "commission": raw["entry_fee"] + (0.0 if is_open else raw["exit_fee"]),
        "pnl": raw["pnl"],
        # NaN for a zero notional (a quantity rounded to nothing), never a 0/0 warning
        "pnl_pct": np.divide(
            raw["pnl"] * 100.0, notional, out=np.full(n, math.nan), where=notional != 0
        ),
        "cum_pnl": np.cumsum(raw["pnl"]) if not is_open else raw["pnl"].copy(),
        "run_up": raw["run_up"],
        "drawdown": raw["drawdown"],
        "bars_held": (raw["exit_bar"] if not is_open else np.full(n, len(bars) - 1))
        - raw["entry_bar"],
    }
    if bars.time is None:
        return out
    # times next to their bars, in the order of the specification's trade list (8.1)
    times = {
        "entry_time": bars.time[raw["entry_bar"]],
        "exit_time": (
            bars.time[raw["exit_bar"]]
            if not is_open
            else np.full(n, np.datetime64("NaT"), "M8[ns]")
        ),
    }
    ordered: dict[str, np.ndarray] = {}
    for key, value in out.items():
        ordered[key] = value
        if key in ("entry_bar", "exit_bar"):
            name = key.replace("_bar", "_time")
            ordered[name] = times[name]
    return ordered


def backtest(
    data: Any,
    params: _PARAMS_TYPE = None,
    *,
    start_time: Any = None,
    end_time: Any = None,
    time_column: str | None = None,
    columns: Mapping[str, str] | None = None,
    **overrides: Any,
) -> BacktestResult:
    """Backtest the gamma-scalping strategy on one OHLC series.

    Parameters
    ----------
    data : Bars, CSV path, pandas DataFrame, dict of columns, or (open, high, low, close[, time])
    params : StrategyParams or mapping, optional
        Defaults are the script's and TradingView's (:class:`StrategyParams`).
    start_time : datetime-like or str, optional
        Spec D1: indicators run over every bar, orders are sent only from the first bar at or
        after this time (earlier bars are warm-up). Default: trade from the first bar.
        ``result.start_index`` / ``result.start_time`` record which was used.
    end_time : datetime-like or str, optional
        Drop the bars after this time (inclusive bound), e.g. to stop at the reference case's
        last day.
    time_column, columns : optional
        Column names for CSV/DataFrame input (see :func:`load_csv`).
    **overrides
        Any :class:`StrategyParams` field, e.g. ``exit_reissue="every_bar"``.

    Returns
    -------
    BacktestResult
    """
    kw = {k: v for k, v in (("time_column", time_column), ("columns", columns)) if v is not None}
    bars = _until(as_bars(data, **kw), end_time)
    p = _as_params(params, overrides)
    ann = p.resolve_annualization(bars.time)
    _check_tick(*_price_range([bars]), p.mintick)
    start = _start_index(bars, start_time)
    raw = _core._bt_run(bars.open, bars.high, bars.low, bars.close, start, p.to_row(ann), True)
    b = raw["bars"]
    ind_names = ("hist_vol", "atr", "straddle_delta", "straddle_gamma", "long_entry", "short_entry")
    ind = {k: np.asarray(b[k]) for k in ind_names}
    ind["long_entry"] = ind["long_entry"].astype(bool)
    ind["short_entry"] = ind["short_entry"].astype(bool)
    equity = {k: np.asarray(v) for k, v in b.items() if k not in ind_names}
    if bars.time is not None:
        equity = {"time": bars.time, **equity}
    summary = dict(zip(_SUMMARY_NAMES, (float(v) for v in raw["summary"])))
    return BacktestResult(
        params=p,
        bars=bars,
        start_index=start,
        annualization=ann,
        trades=_trade_columns(raw["trades"], bars, ind, False),
        open_trades=_trade_columns(raw["open_trades"], bars, ind, True),
        equity=equity,
        indicators=ind,
        summary=summary,
    )


@dataclass
class SweepResult:
    """Metrics of every (series, parameter set) pair: ``metrics[name]`` has shape
    ``(n_series, n_params)``; ``params[j]`` is parameter set j."""

    params: list[StrategyParams]
    n_series: int
    metrics: dict[str, FloatArray]

    def __getitem__(self, name: str) -> FloatArray:
        return self.metrics[name]

    def to_dataframe(self) -> Any:
        """Long format: one row per pair with ``series``, the varied parameters and metrics."""
        import pandas as pd

        defaults = asdict(StrategyParams())
        varied = sorted({k for p in self.params for k, v in asdict(p).items() if v != defaults[k]})
        rows = []
        for s in range(self.n_series):
            for j, p in enumerate(self.params):
                row: dict[str, Any] = {"series": s, "param_set": j}
                row.update({k: getattr(p, k) for k in varied})
                row.update({m: float(v[s, j]) for m, v in self.metrics.items()})
                rows.append(row)
        return pd.DataFrame(rows)


def sweep(
    data: Any,
    params: Sequence[_PARAMS_TYPE] | _PARAMS_TYPE = None,
    *,
    start_time: Any = None,
    end_time: Any = None,
    threads: int | None = None,
) -> SweepResult:
    """Run every parameter set on every series, threaded; returns the summary metrics only.

    ``data`` is one series (anything :func:`backtest` accepts) or a list of them; ``params`` one
    parameter set or a sequence (see :func:`param_grid`). Each result depends only on its
    (series, parameters) pair, never on ``threads``. ``start_time`` / ``end_time`` apply to
    every series as in :func:`backtest`. ``metrics[name][i, j]`` equals
    ``backtest(series[i], params[j]).summary[name]`` exactly.
    """
    if isinstance(data, list):
        series = [_until(as_bars(d), end_time) for d in data]
    else:
        series = [_until(as_bars(data), end_time)]
    if params is None or isinstance(params, (StrategyParams, Mapping)):
        plist = [_as_params(params, {})]
    else:
        plist = [_as_params(p, {}) for p in params]
    if not plist:
        raise ValueError("params is empty")
    # The annualisation of a parameter set follows the series' timeframe unless fixed; the
    # core takes one value per parameter set, so the series must agree.
    inferred = {annualization_factor(infer_timeframe(s.time)) for s in series}
    low, high = _price_range(series)
    anns = np.empty(len(plist))
    for k, p in enumerate(plist):
        if p.annualization is not None:
            anns[k] = float(p.annualization)
        elif p.timeframe is not None:
            anns[k] = annualization_factor(p.timeframe)
        elif len(inferred) > 1:
            raise ValueError("series have different timeframes; set timeframe= or annualization=")
        else:
            anns[k] = next(iter(inferred))
    matrix = _param_matrix(plist, anns)
    for tick in np.unique(matrix[:, _PARAM_NAMES.index("mintick")]):
        _check_tick(low, high, float(tick))
    starts = [_start_index(s, start_time) for s in series]
    out = _core._bt_sweep(
        [s.open for s in series],
        [s.high for s in series],
        [s.low for s in series],
        [s.close for s in series],
        starts,
        matrix,
        threads_arg(threads),
    )
    out = np.asarray(out)
    metrics = {name: out[:, :, k] for k, name in enumerate(_SUMMARY_NAMES)}
    return SweepResult(params=plist, n_series=len(series), metrics=metrics)
