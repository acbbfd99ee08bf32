"""The ``gammaext`` command line, run as a subprocess (``python -m gammaext``)."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import data_file

import gammaext

EXAMPLE = Path(gammaext.__file__).parent / "data" / "lab_default.toml"


def run(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg", "CI": "1"}
    return subprocess.run(
        [sys.executable, "-m", "gammaext", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
        check=False,
    )


def test_help_lists_commands():
    r = run("--help")
    assert r.returncode == 0
    for cmd in ("lab", "rules", "backtest", "bench", "demo"):
        assert cmd in r.stdout
    assert "Exit codes" in r.stdout
    r = run("rules", "--help")
    assert r.returncode == 0 and "CONFIG.toml" in r.stdout and "--no-progress" in r.stdout


def test_demo_is_the_default():
    r = run()
    assert r.returncode == 0 and "straddle" in r.stdout


def test_lab_reproduces_the_conclusions_and_writes_files(tmp_path):
    has_mpl = importlib.util.find_spec("matplotlib") is not None
    r = run("lab", "--paths", "3000", "--out", str(tmp_path / "out"), "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "reproduced: oscillation > 0 > trend" in r.stdout
    assert "reproduced: move beats clock under spread" in r.stdout
    assert "NOT reproduced" not in r.stdout
    assert "null passed: fair market, no costs, bounce noise" in r.stdout
    files = {p.name: p.stat().st_size for p in (tmp_path / "out").iterdir()}
    assert files["lab_table.csv"] > 1000 and files["lab_frontier.csv"] > 1000
    if has_mpl:
        for name in ("pnl_distribution", "pnl_split", "frontier", "hedge_path"):
            assert files[f"{name}.png"] > 10_000
    header = (tmp_path / "out" / "lab_table.csv").read_text().splitlines()[0]
    assert header.startswith("scenario,rule,") and "pnl_cvar05" in header
    assert r.stderr == ""  # no progress bar when not a terminal
    # the closing time line says what it times
    assert re.search(r"^\(main comparison \d+\.\d s, total \d+\.\d s\)$", r.stdout, re.M)


def test_rules_from_example_config(tmp_path):
    r = run(
        "rules",
        str(EXAMPLE),
        "--paths",
        "300",
        "--seed",
        "3",
        "--out",
        str(tmp_path),
        "--no-plots",
        "--no-progress",
    )
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "rules_table.csv").stat().st_size > 1000
    assert (tmp_path / "sweep_table.csv").exists()
    assert "best in noisy" in r.stdout
    assert not list(tmp_path.glob("*.png"))


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (
            '[rules.a]\ntype = "move"\nthreshold = -1\n[scenarios.s]\nkind = "trend"\n',
            "rules.a.threshold",
        ),
        ('[rules.a]\ntype = "mvoe"\n[scenarios.s]\nkind = "trend"\n', "rules.a.type"),
        (
            '[rules.a]\ntype = "move"\n[scenarios.s]\nkind = "trend"\nbogus = 1\n',
            "scenarios.s.bogus",
        ),
        ('[rules.a]\ntype = "move"\n', "scenarios"),
        ("[rules.a\n", "not valid TOML"),
    ],
    ids=["value", "type", "unknown-key", "missing-table", "syntax"],
)
def test_bad_config_exit_2_names_the_key(tmp_path, text, key):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    r = run("rules", str(cfg), "--out", str(tmp_path / "o"), "--no-plots")
    assert r.returncode == 2
    assert key in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


def test_bad_toml_names_the_file_once(tmp_path):
    cfg = tmp_path / "bad2.toml"
    cfg.write_text("[rules.a\n")
    r = run("rules", str(cfg), "--out", str(tmp_path / "o"), "--no-plots")
    assert r.returncode == 2 and "not valid TOML" in r.stderr
    assert r.stderr.count("bad2.toml") == 1, r.stderr


def test_usage_errors_exit_2(tmp_path):
    assert run("rules", str(tmp_path / "missing.toml")).returncode == 2
    assert run("lab", "--paths", "0").returncode == 2
    assert run("frobnicate").returncode == 2


def test_backtest_runs_or_says_what_is_missing(tmp_path):
    path = data_file("btc_usdt_1d.csv")
    r = run("backtest", str(path), "--out", str(tmp_path), "--no-plots")
    if importlib.util.find_spec("gammaext.backtest") is None:
        assert r.returncode == 1 and "no backtest module" in r.stderr
    else:
        assert r.returncode == 0, r.stderr


def test_bench_quick():
    r = run("bench", "--paths", "200", "--steps", "20")
    assert r.returncode == 0, r.stderr
    assert "NumPy reference" in r.stdout and "harness overhead" in r.stdout


def test_ctrl_c_writes_partial_results(tmp_path):
    """SIGINT during a long run: exit 130, the table of the chunks done is written, marked
    partial."""
    if sys.platform == "win32":
        pytest.skip("SIGINT delivery differs on Windows")
    env = {**os.environ, "MPLBACKEND": "Agg", "CI": "1", "PYTHONUNBUFFERED": "1"}
    has_arrow = importlib.util.find_spec("pyarrow") is not None
    per_path = ["--per-path", str(tmp_path / "paths")] if has_arrow else []
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gammaext",
            "lab",
            "--paths",
            "5000000",
            "--out",
            str(tmp_path),
            "--no-plots",
            *per_path,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # printed just before the run starts
    assert first.startswith("gammaext lab:")
    # Interrupt once a chunk is certainly counted: its file and the next chunk's are written
    # (chunks are recorded in order, one process), whatever the speed of the instruction set
    # or the sanitizers; without pyarrow, after a pause.
    if per_path:
        deadline = time.monotonic() + 100
        while len(list((tmp_path / "paths").rglob("*.parquet"))) < 2:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
    else:
        time.sleep(10.0 if os.environ.get("GAMMAEXT_SANITIZED") else 1.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "PARTIAL" in out and "interrupted; partial results" in err
    text = (tmp_path / "lab_table.csv").read_text()
    assert ",True" in text  # the partial column (at least one chunk was done)


def test_rules_on_a_dask_scheduler_equal_local(tmp_path):
    """--scheduler tcp://...: the CLI connects to a running cluster (here a LocalCluster in
    this process, over TCP); the CSV equals a local run's exactly."""
    distributed = pytest.importorskip("dask.distributed")
    args = ["rules", str(EXAMPLE), "--paths", "400", "--seed", "5", "--no-plots"]
    local = run(*args, "--out", str(tmp_path / "local"))
    assert local.returncode == 0, local.stderr
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=False,
        protocol="tcp",
        dashboard_address=":0",
    ) as cluster:
        dist = run(*args, "--out", str(tmp_path / "dist"), "--scheduler", cluster.scheduler_address)
    assert dist.returncode == 0, dist.stderr
    for name in ("rules_table.csv", "sweep_table.csv"):
        assert (tmp_path / "dist" / name).read_text() == (tmp_path / "local" / name).read_text()


def test_rules_per_path_writes_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    pd = pytest.importorskip("pandas")
    f = tmp_path / "c.toml"
    f.write_text('[experiment]\nn_paths = 100\nchunk_size = 40\n[rules.c]\ntype = "every_k"\n'
                 '[rules.m]\ntype = "move"\n[scenarios.g]\nkind = "gbm"\nn_steps = 10\n')
    r = run("rules", str(f), "--out", str(tmp_path / "o"), "--no-plots", "--no-progress",
            "--per-path", str(tmp_path / "paths"))
    assert r.returncode == 0, r.stderr
    df = pd.read_parquet(tmp_path / "paths")
    assert len(df) == 200 and set(df["rule"]) == {"c", "m"}
    assert len(list((tmp_path / "paths" / "scenario=g").iterdir())) == 3
