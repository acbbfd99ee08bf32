"""Benchmark fixtures: seeded inputs built outside the timer, machine facts in extra_info."""

from __future__ import annotations

import os
import platform

import pytest

import gammaext


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


@pytest.fixture(autouse=True)
def _machine_info(request: pytest.FixtureRequest) -> None:
    if "benchmark" in request.fixturenames:
        bench = request.getfixturevalue("benchmark")
        bench.extra_info.update(
            cpu=_cpu_model(),
            cores=os.cpu_count(),
            simd=gammaext.simd_level(),
            gammaext=gammaext.__version__,
        )
