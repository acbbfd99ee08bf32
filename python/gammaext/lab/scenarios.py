"""The lab's market scenarios: :class:`Scenario`, the built-in kinds (:data:`SCENARIOS`,
:func:`scenario`), historical closes and the path-trap paths."""

from __future__ import annotations

import dataclasses
import inspect
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import hedging as _h
from ..hedging import (
    GBM,
    Bootstrap,
    Heston,
    Merton,
    Noise,
    Oscillation,
    Position,
    SignalGBM,
    Trend,
)
from ..vol_dynamics import StochasticAtmVol


@dataclass(frozen=True)
class Scenario:
    """A named market: a path generator (or an array of paths), a time grid and options.

    paths
        A generator (:class:`~gammaext.GBM`, ...), a 2-D array of prices (paths x times; all
        rows are used, ``n_paths`` of the experiment is ignored), or a callable taking the
        experiment's :class:`~gammaext.Position` and returning a generator (e.g. a GBM whose
        realized vol is a multiple of the implied vol).
    n_steps, dt, times
        The time grid of generators (default 252 steps of 1/252 year); ``dt``/``times`` for
        arrays (default ``dt = 1/252``).
    noise
        Optional microstructure noise (:class:`~gammaext.Noise`).
    implied_vol
        If given, the implied vol of the position in this scenario (replaces ``Position.vol``).
    atm, sticky
        If given, how implied vol moves in this scenario (replace ``Position.atm`` and
        ``Position.sticky``): a :class:`~gammaext.StochasticAtmVol` moving the whole surface,
        ``"heston"``; ``"strike"`` or ``"moneyness"``.
    """

    name: str
    paths: Any
    n_steps: int = 252
    dt: float | None = None
    times: Any = None
    noise: Noise | None = None
    implied_vol: float | None = None
    description: str = ""
    atm: StochasticAtmVol | str | None = None
    sticky: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError("scenario name must be a non-empty string")
        if self.noise is not None and not isinstance(self.noise, Noise):
            raise TypeError(f"scenario {self.name!r}: noise must be a Noise")
        _h._count("n_steps", self.n_steps, maximum=_h._MAX_STEPS)
        if self.dt is not None:
            _h._finite("dt", self.dt, positive=True)
        if self.implied_vol is not None:
            _h._finite("implied_vol", self.implied_vol, positive=True)

    def check(self, position: Position) -> None:
        """Raise ValueError if this scenario cannot run with ``position`` (a grid the vol path
        does not fit, a jump intensity too high for the step...): what a run would find, found
        before it starts, without simulating a path."""
        gen = self.generator(position)
        pos = self.position(position)
        if self.is_array:
            _h.prepare(gen, position=pos, noise=self.noise, dt=self.dt, times=self.times)
        else:
            _h.prepare(
                gen, position=pos, noise=self.noise, dt=self.dt, times=self.times,
                n_steps=self.n_steps, n_paths=0,
            )

    @property
    def is_array(self) -> bool:
        return not (isinstance(self.paths, _h.PathGenerator) or callable(self.paths))

    def generator(self, position: Position) -> Any:
        """The generator (or array) for this position."""
        if isinstance(self.paths, _h.PathGenerator) or self.is_array:
            return self.paths
        return self.paths(position)

    def position(self, position: Position) -> Position:
        changes: dict[str, Any] = {}
        if self.implied_vol is not None:
            changes["vol"] = self.implied_vol
        if self.atm is not None:
            changes["atm"] = self.atm
        if self.sticky is not None:
            changes["sticky"] = self.sticky
        return dataclasses.replace(position, **changes) if changes else position


@dataclass(frozen=True)
class _RelativeGBM:
    """GBM whose vol is ``ratio`` times the implied vol (picklable, for Dask)."""

    ratio: float
    drift: float = 0.0
    spot: float = 100.0

    def __call__(self, position: Position) -> GBM:
        return GBM(spot=self.spot, vol=self.ratio * position.vol0, drift=self.drift)


def same_variance_paths(
    n_steps: int = 252, size: float = 0.02, swing: int = 63, spot: float = 100.0
) -> dict[str, np.ndarray]:
    """Three price paths with the same realized variance: every step is a log return of
    ``+-size``, in different orders. ``oscillating`` alternates up and down; ``swinging`` goes
    ``swing`` steps up, then ``swing`` down, and so on; ``trending`` only goes up. Hedged at the
    same implied vol they still earn very different amounts: the gamma P&L of a step is
    1/2 Gamma S^2 size^2, and the dollar gamma Gamma S^2 of an at-the-money option is large
    only while the price stays near the strike (docs/lab.md, "The path trap")."""
    n = _h._count("n_steps", n_steps)
    k = np.arange(n)
    signs = {
        "oscillating": np.where(k % 2 == 0, 1.0, -1.0),
        "swinging": np.where((k // _h._count("swing", swing)) % 2 == 0, 1.0, -1.0),
        "trending": np.ones(n),
    }
    step = _h._finite("size", size, positive=True)
    return {
        name: spot * np.exp(np.concatenate([[0.0], np.cumsum(step * sg)]))
        for name, sg in signs.items()
    }


def load_closes(path: str | os.PathLike[str], column: str = "close") -> np.ndarray:
    """Closes from a CSV file with a header (e.g. ``../shared/data/btc_usdt_1h.csv``).

    A small reader (no pandas): the column is found by name, case-insensitively; values must be
    finite and > 0, every row must have the header's number of fields, and the times, if the
    file has a time column (named as :func:`gammaext.backtest.load_csv` finds it), must
    increase (the error names the file and line).
    """
    import csv

    from ..backtest import _ALIASES, _check_width, _TimeOrder

    p = Path(path)
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise ValueError(f"{p.name}: empty file") from None
        if column.lower() not in header:
            raise ValueError(f"{p.name}: no column {column!r}; columns are {header}")
        j = header.index(column.lower())
        jt = next((header.index(a) for a in _ALIASES["time"] if a in header), None)
        time_of = _TimeOrder(p.name)
        out = []
        for ln, row in enumerate(reader, start=2):
            if not row:
                continue
            _check_width(p.name, ln, row, len(header))
            if jt is not None:
                time_of(row[jt], ln)
            try:
                v = float(row[j])
            except ValueError:  # (the row has the header's width: _check_width)
                raise ValueError(f"{p.name} line {ln}: {column} is not a number") from None
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{p.name} line {ln}: {column} {v!r} must be finite and > 0")
            out.append(v)
    if len(out) < 2:
        raise ValueError(f"{p.name}: fewer than 2 prices")
    return np.asarray(out, dtype=np.float64)


def default_series() -> Path:
    """The default bar file of the ``bootstrap`` scenario: ``$GAMMAEXT_DATA/btc_usdt_1h.csv``,
    else ``shared/data/btc_usdt_1h.csv`` under the working directory or its parent."""
    name = "btc_usdt_1h.csv"
    env = os.environ.get("GAMMAEXT_DATA")
    candidates = [Path(env) / name] if env else []
    candidates += [Path("shared/data") / name, Path("../shared/data") / name]
    for c in candidates:
        if c.exists():
            return c
    return candidates[-1]


#: Built-in scenarios by kind, filled where each is defined (:func:`_kind`); :func:`scenario`
#: builds one with overrides.
SCENARIOS: dict[str, Callable[..., Scenario]] = {}


def _kind(name: str) -> Callable[[Callable[..., Scenario]], Callable[..., Scenario]]:
    """Registers a scenario maker under ``name`` (one place per scenario kind)."""

    def register(make: Callable[..., Scenario]) -> Callable[..., Scenario]:
        if name in SCENARIOS:
            raise TypeError(f"scenario kind {name!r} is registered twice")
        SCENARIOS[name] = make
        return make

    return register


def _gbm_ratio(ratio: float) -> Callable[..., Scenario]:
    def make(name: str = "", ratio: float = ratio, drift: float = 0.0, **kw: Any) -> Scenario:
        return Scenario(
            name or f"gbm_{ratio:g}x",
            _RelativeGBM(ratio, drift),
            description=f"GBM, realized vol {ratio:g} x implied",
            **kw,
        )

    return make


for _name, _ratio in (("gbm_above", 1.25), ("gbm_equal", 1.0), ("gbm_below", 0.75)):
    _kind(_name)(_gbm_ratio(_ratio))


@_kind("oscillation")
def _oscillation(
    name: str = "oscillation",
    amplitude: float = 0.02,
    period: float = 4.0,
    noise: float = 0.05,
    **kw: Any,
) -> Scenario:
    return Scenario(
        name,
        Oscillation(amplitude=amplitude, period=period, noise=noise),
        description="the lab's oscillating market (returns to its start)",
        **kw,
    )


@_kind("trend")
def _trend(
    name: str = "trend", total_return: float = 0.10, noise: float = 0.01, **kw: Any
) -> Scenario:
    return Scenario(
        name,
        Trend(total_return=total_return, noise=noise),
        description="the lab's smooth trend with tiny noise",
        **kw,
    )


_GRID_KEYS = ("n_steps", "dt", "times", "noise", "implied_vol")


@_kind("gbm")
def _gbm(name: str = "gbm", **kw: Any) -> Scenario:
    grid = {k: kw.pop(k) for k in _GRID_KEYS if k in kw}
    return Scenario(name, GBM(**kw), description="GBM", **grid)


@_kind("heston")
def _heston(name: str = "heston", **kw: Any) -> Scenario:
    grid = {k: kw.pop(k) for k in _GRID_KEYS if k in kw}
    return Scenario(name, Heston(**kw), description="Heston stochastic vol (QE)", **grid)


@_kind("jumps")
def _jumps(name: str = "jumps", **kw: Any) -> Scenario:
    grid = {k: kw.pop(k) for k in _GRID_KEYS if k in kw}
    kw.setdefault("intensity", 4.0)
    kw.setdefault("jump_mean", -0.03)
    kw.setdefault("jump_std", 0.06)
    return Scenario(name, Merton(**kw), description="Merton jump-diffusion", **grid)


@_kind("noisy")
def _noisy(
    name: str = "noisy", kind: str = "bounce", size: float = 0.0005, ratio: float = 1.0, **kw: Any
) -> Scenario:
    noise = kw.pop("noise", None) or Noise(kind, size)  # type: ignore[arg-type]
    return Scenario(
        name,
        _RelativeGBM(ratio),
        noise=noise,
        description=f"GBM at the implied vol, {kind} noise {size:g}",
        **kw,
    )


@_kind("signals")
def _signals(name: str = "signals", **kw: Any) -> Scenario:
    grid = {k: kw.pop(k) for k in _GRID_KEYS if k in kw}
    gen = SignalGBM(**kw)
    return Scenario(
        name, gen, description=f"GBM with a {gen.signal} signal of informativeness {gen.rho:g}",
        **grid,
    )


@_kind("bootstrap")
def _bootstrap(
    name: str = "bootstrap",
    file: str | os.PathLike[str] | None = None,
    prices: Any = None,
    column: str = "close",
    block: int = 24,
    periods_per_year: float = 365.0 * 24.0,
    n_steps: int = 24 * 30,
    implied_vol: float | None = None,
    **kw: Any,
) -> Scenario:
    if prices is None:
        path = Path(file) if file is not None else default_series()
        if not path.exists():
            raise FileNotFoundError(f"bootstrap scenario: price file {path} not found (file=)")
        prices = load_closes(path, column)
    prices = np.asarray(prices, dtype=np.float64)
    if implied_vol is None:  # price the options at the series' own historical vol (fair)
        implied_vol = float(np.std(np.diff(np.log(prices)), ddof=1) * math.sqrt(periods_per_year))
    return Scenario(
        name,
        Bootstrap(prices=prices, block=block),
        n_steps=n_steps,
        dt=1.0 / periods_per_year,
        implied_vol=implied_vol,
        description="block bootstrap of a real series",
        **kw,
    )


def _moving_iv(
    name: str, description: str, entry_vol: float, vol: float, kappa: float, xi: float,
    rho: float, **kw: Any,
) -> Scenario:
    """GBM at ``vol``; the options bought at ``entry_vol`` (flat), whose level then follows a
    :class:`~gammaext.StochasticAtmVol` from ``entry_vol`` towards ``vol`` (sticky moneyness)."""
    return Scenario(
        name,
        GBM(vol=vol),
        implied_vol=kw.pop("implied_vol", entry_vol),
        atm=StochasticAtmVol(entry_vol, vol, kappa, xi, rho),
        sticky=kw.pop("sticky", "moneyness"),
        description=description,
        **kw,
    )


@_kind("vol_crush")
def _vol_crush(
    name: str = "vol_crush", entry_vol: float = 0.40, vol: float = 0.20, kappa: float = 25.0,
    xi: float = 0.3, rho: float = 0.0, **kw: Any,
) -> Scenario:
    # kappa = 0 (a valid StochasticAtmVol: no pull) has no half-life
    half_life = f"{math.log(2) / kappa * 252:.0f} days" if kappa != 0 else "never"
    return _moving_iv(
        name, f"bought at {entry_vol:g}, implied vol crushes to {vol:g} (half-life "
        f"{half_life}); realized {vol:g}",
        entry_vol, vol, kappa, xi, rho, **kw,
    )


@_kind("spot_vol_correlation")
def _spot_vol_correlation(
    name: str = "spot_vol_correlation", vol: float = 0.20, kappa: float = 2.0, xi: float = 1.0,
    rho: float = -0.7, **kw: Any,
) -> Scenario:
    return _moving_iv(
        name, f"equity-like: implied vol moves against spot (rho {rho:g}, vol of vol {xi:g})",
        vol, vol, kappa, xi, rho, **kw,
    )


@_kind("vol_of_vol")
def _vol_of_vol(
    name: str = "vol_of_vol", vol: float = 0.20, kappa: float = 4.0, xi: float = 2.5,
    rho: float = 0.0, **kw: Any,
) -> Scenario:
    return _moving_iv(
        name, f"high vol of vol: log implied vol moves {xi:g} per sqrt(year)",
        vol, vol, kappa, xi, rho, **kw,
    )


@_kind("user")
def _user(name: str = "user", paths: Any = None, **kw: Any) -> Scenario:
    if paths is None:
        raise ValueError("the user scenario needs paths= (a 2-D array of prices)")
    return Scenario(name, np.asarray(paths, dtype=np.float64), description="user paths", **kw)


def scenario_keys(kind: str) -> set[str]:
    """The parameters a built-in scenario kind takes (for error messages)."""
    make = SCENARIOS[kind]
    generator = {"gbm": GBM, "heston": Heston, "jumps": Merton}.get(kind)
    keys = {f.name for f in dataclasses.fields(generator)} if generator else set()
    keys |= {
        p.name
        for p in inspect.signature(make).parameters.values()
        if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "name"
    }
    return keys | set(_GRID_KEYS) | ({"sticky"} if kind in _MOVING_IV else set())


#: The scenario kinds whose implied vol moves (issue #14).
_MOVING_IV = ("vol_crush", "spot_vol_correlation", "vol_of_vol")


def scenario(kind: str, name: str | None = None, **params: Any) -> Scenario:
    """A built-in scenario by kind (see :data:`SCENARIOS`), with parameters overridden.

    ``gbm_above`` / ``gbm_equal`` / ``gbm_below``: GBM with realized vol 1.25 / 1 / 0.75 x the
    implied vol (``ratio=``, ``drift=``); ``oscillation`` (``amplitude``, ``period``,
    ``noise``) and ``trend`` (``total_return``, ``noise``): the lab's two markets; ``heston``
    (:class:`~gammaext.Heston` arguments); ``jumps`` (:class:`~gammaext.Merton` arguments);
    ``noisy``: GBM at the implied vol with bid-ask bounce (``kind``, ``size``); ``bootstrap``:
    block bootstrap of ``file``'s closes (default ``../shared/data/btc_usdt_1h.csv``) or of
    ``prices``, hourly, 30 days, priced at the series' own vol; ``user``: ``paths=`` an array.
    ``gbm``: a plain :class:`~gammaext.GBM` (``spot``, ``vol``, ``drift``). Every scenario also
    takes ``n_steps``, ``dt``, ``times``, ``noise`` and ``implied_vol``.
    """
    try:
        make = SCENARIOS[kind]
    except KeyError:
        raise ValueError(f"unknown scenario {kind!r}; built-in: {sorted(SCENARIOS)}") from None
    if "noise" in params and isinstance(params["noise"], Mapping):
        params["noise"] = Noise(**params["noise"])
    return make(name=name or kind, **params)


def _as_scenarios(scenarios: Any) -> list[Scenario]:
    if isinstance(scenarios, (str, Scenario, _h.PathGenerator)):
        scenarios = [scenarios]
    items: list[tuple[str | None, Any]]
    if isinstance(scenarios, Mapping):
        items = list(scenarios.items())
    else:
        items = [(None, s) for s in scenarios]
    out: list[Scenario] = []
    for key, s in items:
        if isinstance(s, str):
            s = scenario(s, name=key)
        elif isinstance(s, Scenario):
            s = s if key is None else dataclasses.replace(s, name=key)
        elif isinstance(s, _h.PathGenerator):
            s = Scenario(key or type(s).__name__.lower(), s)
        elif isinstance(s, np.ndarray) or (isinstance(s, Sequence) and key is not None):
            s = Scenario(key or "user", np.asarray(s, dtype=np.float64))
        else:
            raise TypeError(
                f"scenario {key!r}: expected a name, a Scenario, a generator or an array; "
                f"got {type(s).__name__}"
            )
        out.append(s)
    if not out:
        raise ValueError("no scenarios")
    names = [s.name for s in out]
    if len(set(names)) != len(names):
        raise ValueError(f"scenario names must be distinct, got {names}")
    return out
