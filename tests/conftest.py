"""Shared fixtures. Tests import the installed gammaext, never the source tree."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import settings

import gammaext
from gammaext import _core

# CI (GAMMAEXT_CI=1, set by .ci/run) draws the same hypothesis examples every run, so that a
# red CI means a change, not a new random draw; elsewhere each run explores new examples
# (GAMMAEXT_FUZZ_EXAMPLES=N for longer runs). Loaded before the test modules build their
# settings, which inherit it.
settings.register_profile("ci", derandomize=True)
if os.environ.get("GAMMAEXT_CI"):
    settings.load_profile("ci")

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
