"""Shared fixtures. Tests import the installed gammaext, never the source tree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import gammaext
from gammaext import _core

#: ../shared/data beside the repository (tests that use it skip when it is absent).
DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"

#: Every instruction set this machine can run; kernels are checked on each.
ISAS = sorted({_core._resolve_isa(i) for i in (0, 1, 2)})


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261121)


@pytest.fixture(params=ISAS, ids=lambda i: str(_core._isa_name(i)))
def isa(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Run the test once per available instruction set (through the public API)."""
    monkeypatch.setattr(gammaext._arrays, "ISA", request.param)
    return int(request.param)


def data_file(name: str) -> Path:
    path = DATA_DIR / name
    if not path.exists():
        pytest.skip(f"{path} not present")
    return path
