"""The built-in path generators, run inside the C++ loop. Each registers itself with its path
kind (see :class:`PathGenerator`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from . import _arrays, _core
from ._arrays import FloatArray
from ._checks import _MAX_COUNT, _check_prices, _count, _enum, _finite

# --------------------------------------------------------------------------------------------
# Path generators


class PathGenerator:
    """Base class of the built-in path generators, run inside the C++ loop. A generator class
    registers itself with its path kind (``class GBM(PathGenerator, kind="gbm")``): the kind
    names the engine's enum value (checked against the core's list at import) and is how the
    fuzz tests and docs find every generator."""

    #: Path kind -> generator class.
    registry: ClassVar[dict[str, type[PathGenerator]]] = {}
    kind: ClassVar[str]
    spot: Any  # the first price (a field of every generator)

    def __init_subclass__(cls, *, kind: str, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if kind in PathGenerator.registry:
            raise TypeError(f"path kind {kind!r} is registered twice")
        cls.kind = kind
        PathGenerator.registry[kind] = cls

    def start_spot(self) -> float:
        """The price at the first time."""
        return float(self.spot)

    def _params(self, p: dict[str, float]) -> None:  # pragma: no cover - per generator
        raise NotImplementedError


@dataclass(frozen=True)
class GBM(PathGenerator, kind="gbm"):
    """Geometric Brownian motion, exact log steps: ``S_t = S_0 exp((drift - vol^2/2) t + vol W_t)``.

    ``drift`` is the expected return per year (0 by default: the real-world drift of a
    hedged book barely matters).
    """

    spot: float = 100.0
    vol: float = 0.2
    drift: float = 0.0

    def __post_init__(self) -> None:
        _finite("GBM spot", self.spot, positive=True)
        _finite("GBM vol", self.vol, nonneg=True)
        _finite("GBM drift", self.drift)

    def _params(self, p: dict[str, float]) -> None:
        p.update(
            path_kind=float(_PATH_KIND[self.kind]),
            spot=self.spot,
            path_vol=self.vol,
            drift=self.drift,
        )


@dataclass(frozen=True)
class Heston(PathGenerator, kind="heston"):
    """Heston stochastic volatility, Andersen's QE scheme (variance never negative).

    ``dS/S = drift dt + sqrt(v) dW1``, ``dv = kappa (theta - v) dt + xi sqrt(v) dW2``,
    ``corr(dW1, dW2) = rho``. Andersen, "Simple and efficient simulation of the Heston
    stochastic volatility model", J. Computational Finance 11(3) (2008): QE with psi_c = 1.5 and
    the central log-price step.
    """

    spot: float = 100.0
    v0: float = 0.04
    kappa: float = 2.0
    theta: float = 0.04
    xi: float = 0.5
    rho: float = -0.7
    drift: float = 0.0

    def __post_init__(self) -> None:
        _finite("Heston spot", self.spot, positive=True)
        _finite("Heston v0", self.v0, nonneg=True)
        _finite("Heston kappa", self.kappa, positive=True)
        _finite("Heston theta", self.theta, positive=True)
        _finite("Heston xi", self.xi, positive=True)
        if not -1.0 <= _finite("Heston rho", self.rho) <= 1.0:
            raise ValueError(f"Heston rho must be in [-1, 1], got {self.rho!r}")
        _finite("Heston drift", self.drift)

    def _params(self, p: dict[str, float]) -> None:
        p.update(
            path_kind=float(_PATH_KIND[self.kind]),
            spot=self.spot,
            drift=self.drift,
            heston_v0=self.v0,
            heston_kappa=self.kappa,
            heston_theta=self.theta,
            heston_xi=self.xi,
            heston_rho=self.rho,
        )


@dataclass(frozen=True)
class Merton(PathGenerator, kind="merton"):
    """Merton jump-diffusion: GBM plus Poisson(``intensity`` per year) jumps with
    ``ln(1 + J) ~ N(jump_mean, jump_std^2)``, compensated so that ``E[S_t] = S_0 e^{drift t}``.
    """

    spot: float = 100.0
    vol: float = 0.2
    intensity: float = 1.0
    jump_mean: float = -0.05
    jump_std: float = 0.1
    drift: float = 0.0

    def __post_init__(self) -> None:
        _finite("Merton spot", self.spot, positive=True)
        _finite("Merton vol", self.vol, nonneg=True)
        _finite("Merton intensity", self.intensity, nonneg=True)
        _finite("Merton jump_mean", self.jump_mean)
        _finite("Merton jump_std", self.jump_std, nonneg=True)
        _finite("Merton drift", self.drift)

    def _params(self, p: dict[str, float]) -> None:
        p.update(
            path_kind=float(_PATH_KIND[self.kind]),
            spot=self.spot,
            path_vol=self.vol,
            drift=self.drift,
            jump_intensity=self.intensity,
            jump_mean=self.jump_mean,
            jump_std=self.jump_std,
        )


@dataclass(frozen=True)
class Oscillation(PathGenerator, kind="oscillation"):
    """The lab's oscillating market: ``ln S_k = ln S_0 + amplitude sin(2 pi k / period) + noise``.

    ``period`` in steps; the path returns to its start whenever the number of steps is a
    multiple of the period. ``noise`` is the annualized vol of an added Brownian motion.
    With period 4 every step moves by ``amplitude`` in log: realized vol
    ``amplitude sqrt(steps per year)``.
    """

    spot: float = 100.0
    amplitude: float = 0.02
    period: float = 4.0
    noise: float = 0.0

    def __post_init__(self) -> None:
        _finite("Oscillation spot", self.spot, positive=True)
        _finite("Oscillation amplitude", self.amplitude, nonneg=True)
        _finite("Oscillation period", self.period, positive=True)
        _finite("Oscillation noise", self.noise, nonneg=True)

    def _params(self, p: dict[str, float]) -> None:
        p.update(
            path_kind=float(_PATH_KIND[self.kind]),
            spot=self.spot,
            amplitude=self.amplitude,
            period=self.period,
            scenario_noise=self.noise,
        )


@dataclass(frozen=True)
class Trend(PathGenerator, kind="trend"):
    """The lab's trending market: a smooth ``total_return`` over the horizon plus tiny noise.

    ``ln S_t = ln S_0 + ln(1 + total_return) t / T + noise W_t``.
    """

    spot: float = 100.0
    total_return: float = 0.10
    noise: float = 0.01

    def __post_init__(self) -> None:
        _finite("Trend spot", self.spot, positive=True)
        if not _finite("Trend total_return", self.total_return) > -1.0:
            raise ValueError("Trend total_return must be > -1")
        _finite("Trend noise", self.noise, nonneg=True)

    def _params(self, p: dict[str, float]) -> None:
        p.update(
            path_kind=float(_PATH_KIND[self.kind]),
            spot=self.spot,
            total_return=self.total_return,
            scenario_noise=self.noise,
        )


@dataclass(frozen=True)
class Bootstrap(PathGenerator, kind="bootstrap"):
    """Circular block bootstrap of historical log returns (Politis & Romano 1992).

    Give ``prices`` (a 1-D series, e.g. closes) or ``returns`` (log returns). Each path is
    built from blocks of ``block`` consecutive returns starting at uniformly drawn positions
    (wrapping around the end). The time grid of the simulation should match the data's
    sampling (e.g. ``dt=1/(365*24)`` for hourly crypto).
    """

    prices: Any = None
    returns: Any = None
    block: int = 24
    spot: float | None = None

    def __post_init__(self) -> None:
        if (self.prices is None) == (self.returns is None):
            raise ValueError("Bootstrap needs exactly one of prices= or returns=")
        _count("Bootstrap block", self.block, maximum=_MAX_COUNT)
        if self.spot is not None:
            _finite("Bootstrap spot", self.spot, positive=True)

    def log_returns(self) -> FloatArray:
        if self.prices is not None:
            p = _arrays.as_float("Bootstrap prices", self.prices).ravel()
            _check_prices("Bootstrap prices", p.reshape(1, -1))
            if p.size < 2:
                raise ValueError("Bootstrap prices needs at least 2 values")
            r = np.diff(np.log(p))
        else:
            r = _arrays.as_float("Bootstrap returns", self.returns).ravel()
            if r.size < 1 or not np.isfinite(r).all():
                raise ValueError("Bootstrap returns must be non-empty and finite")
        return np.ascontiguousarray(r, dtype=np.float64)

    def start_spot(self) -> float:
        if self.spot is not None:
            return float(self.spot)
        if self.prices is not None:
            return float(np.ravel(np.asarray(self.prices, dtype=np.float64))[-1])
        return 100.0

    def _params(self, p: dict[str, float]) -> None:
        p.update(
            path_kind=float(_PATH_KIND[self.kind]),
            spot=self.start_spot(),
            block_length=float(self.block),
        )


@dataclass(frozen=True)
class SignalGBM(PathGenerator, kind="signals"):
    """A GBM with the two signals of the dynamic bands, produced jointly with the prices, one of
    them informative with strength ``rho`` in [0, 1] (the other pure noise).

    At each time k the generator sets a volume-profile signal ``V_k`` in [0, 1] and an
    order-book imbalance ``I_k`` in [-1, 1], then the normal shock ``z_k`` of the step k -> k+1
    (``ln S`` moves by ``(drift - vol^2/2) dt + vol sqrt(dt) z_k``). Draws: ``w_k`` (the price
    stream), ``e_k`` normal, ``V_k`` and ``c_k`` uniform, independent.

    * ``signal="imbalance"``: ``z_k = w_k`` and ``I_k = 2 Phi(rho w_k + sqrt(1 - rho^2) e_k) - 1``:
      the imbalance predicts the sign of the next move (correlation rho of its normal score with
      the shock); ``V_k`` is noise. The prices are exactly those of :class:`GBM` with the same
      seed, whatever rho.
    * ``signal="profile"``: ``z_k = s_k |w_k|`` with ``s_k`` the sign of ``z_{k-1}`` with
      probability ``1/2 + rho (1/2 - V_k)``, else the opposite: a high-volume level (V near 1)
      makes the next move revert the last one, a thin zone (V near 0) continue it, with
      strength rho. ``I_k = 2 Phi(e_k) - 1`` is noise.

    Fair unconditionally: V is uniform and independent of the past, so in both modes the shocks
    are i.i.d. N(0, 1) and the price alone is a GBM, the options are fairly marked at ``vol``,
    and a rule that ignores the signals has mean P&L 0. Given the signal the next move is
    predictable (the price is not a martingale in the filtration that includes it): that is
    the information a signal band can use. With ``rho = 0`` the signal is independent of the
    prices (the null test).
    """

    spot: float = 100.0
    vol: float = 0.2
    signal: Literal["imbalance", "profile"] = "imbalance"
    rho: float = 0.5
    drift: float = 0.0

    def __post_init__(self) -> None:
        _finite("SignalGBM spot", self.spot, positive=True)
        _finite("SignalGBM vol", self.vol, nonneg=True)
        if self.signal not in ("imbalance", "profile"):
            raise ValueError(
                f"SignalGBM signal must be 'imbalance' or 'profile', got {self.signal!r}"
            )
        if not 0.0 <= _finite("SignalGBM rho", self.rho) <= 1.0:
            raise ValueError(f"SignalGBM rho must be in [0, 1], got {self.rho!r}")
        _finite("SignalGBM drift", self.drift)

    def _params(self, p: dict[str, float]) -> None:
        p.update(
            path_kind=float(_PATH_KIND[self.kind]),
            spot=self.spot,
            path_vol=self.vol,
            drift=self.drift,
            signal_kind=float(_SIGNAL_KIND[self.signal]),
            signal_rho=self.rho,
        )


_SIGNAL_KIND = _enum("signal kind", _core._signal_kind_names(), {"imbalance", "profile"})
_PATH_KIND = _enum("path kind", _core._path_kind_names(), {*PathGenerator.registry, "user"})
