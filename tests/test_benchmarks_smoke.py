"""The benchmark command's smoke run (CI size) writes a table with every row; no timings are
checked here: speed targets live in benchmarks/RESULTS.md."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.config import SMOKE
from benchmarks.run import expected_measures
from tests.isolation import REPO_ROOT, child_env


@pytest.mark.timeout(180)
def test_smoke_run_writes_a_row_for_every_measure(tmp_path: Path) -> None:
    pytest.importorskip("watchfiles", reason="install the 'bench' extra")
    output = tmp_path / "RESULTS.md"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--output", str(output)],
        cwd=REPO_ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    table = output.read_text()
    assert table == completed.stdout
    rows = [line for line in table.splitlines() if line.startswith("| ") and line[2].isdigit()]
    measures = [row.split(" | ")[1] for row in rows]
    assert measures == expected_measures(SMOKE)
    assert f"- Python: {platform.python_implementation()} {platform.python_version()}" in table
    assert f"{os.cpu_count()} CPUs" in table


@pytest.mark.timeout(120)
def test_smoke_run_plots_cost_against_photon_count(tmp_path: Path) -> None:
    pytest.importorskip("watchfiles", reason="install the 'bench' extra")
    pytest.importorskip("matplotlib", reason="install the 'bench' extra")
    output = tmp_path / "RESULTS.md"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--only", "1,3", "--output", str(output)],
        cwd=REPO_ROOT,
        env=child_env(),
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert (tmp_path / "scaling.png").read_bytes().startswith(b"\x89PNG")
    table = output.read_text()
    assert "![Cost against the photon count N, log-log](scaling.png)" in table
    growth_rows = [line for line in table.splitlines() if line.startswith("| Cold load |")]
    assert len(growth_rows) == 1
