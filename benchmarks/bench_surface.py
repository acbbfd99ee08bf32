"""Surface evaluation and the joint (spot, ATM vol) generator: C++ against NumPy."""

from __future__ import annotations

import numpy as np
import pytest

from gammaext.hedging import random_draws
from gammaext.reference import surface as ref
from gammaext.surface import SVI, VolSurface
from gammaext.vol_dynamics import StochasticAtmVol

SURF = VolSurface.svi(
    [0.25, 0.5, 1.0, 2.0],
    [
        SVI(0.01, 0.1, -0.5, 0.0, 0.1),
        SVI(0.02, 0.11, -0.45, 0.02, 0.15),
        SVI(0.03, 0.12, -0.4, 0.05, 0.2),
        SVI(0.06, 0.15, -0.4, 0.05, 0.3),
    ],
)


def _svi_numpy(k: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Vectorized NumPy evaluation (the reference loops per point; this is its fast form)."""
    T = SURF.expiries
    W = np.array([SVI(*p).total_variance(k) for p in SURF.params])  # (expiries, n)
    i = np.clip(np.searchsorted(T, t, side="right") - 1, 0, T.size - 2)
    f = (t - T[i]) / (T[i + 1] - T[i])
    cols = np.arange(k.size)
    w = W[i, cols] + f * (W[i + 1, cols] - W[i, cols])
    w = np.where(t <= T[0], W[0] * t / T[0], w)
    return np.where(t >= T[-1], W[-1] * t / T[-1], w)


@pytest.mark.benchmark(group="surface")
@pytest.mark.parametrize("impl", ["numpy", "gammaext"])
def test_svi_total_variance(benchmark, impl: str) -> None:
    rng = np.random.default_rng(1)
    n = 10**6
    k = rng.uniform(-1, 1, n)
    t = rng.uniform(0.0, 3.0, n)
    fn = _svi_numpy if impl == "numpy" else SURF.total_variance
    out = benchmark(fn, k, t)
    want = ref.total_variance("svi", SURF.expiries, SURF.params, SURF.k_grid, k[:200], t[:200])
    np.testing.assert_allclose(out[:200], want, rtol=1e-13)


@pytest.mark.benchmark(group="atm_vol_paths")
@pytest.mark.parametrize("impl", ["numpy", "gammaext"])
def test_atm_vol_paths(benchmark, impl: str) -> None:
    proc = StochasticAtmVol(0.2, 0.25, 2.0, 1.0, -0.7)
    times = np.linspace(0.0, 1.0, 253)
    n = 20_000
    if impl == "numpy":  # the NumPy reference, on the engine's draws (drawn inside the timer)

        def run() -> tuple[np.ndarray, np.ndarray]:
            zp = random_draws(7, "price", n, 252)
            zv = random_draws(7, "atm_vol", n, 252)
            return ref.atm_vol_paths(
                times,
                zp,
                zv,
                spot=100.0,
                drift=0.0,
                vol=0.2,
                atm0=0.2,
                level=0.25,
                kappa=2.0,
                xi=1.0,
                rho=-0.7,
            )

        S, A = benchmark(run)
    else:
        S, A = benchmark(proc.paths, n, times, seed=7)
    assert S.shape == A.shape == (n, 253)
    assert abs(np.log(A[:, -1]).mean() - proc.log_mean(1.0)) < 0.05
