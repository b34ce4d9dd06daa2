"""The suite does not depend on the machine: a photon distribution installed where it runs
(any photon package of the user) never leaks into what its tests load or count."""

from __future__ import annotations

import os
import site
import subprocess
import sys
from pathlib import Path

from luminal.discovery import DEFAULT_GROUP
from tests.distributions import install_distribution
from tests.isolation import PHOTON_GROUP, REPO_ROOT

STRAY = {
    "stray_photon.py": """
        from luminal import IPhoton

        class Stray(IPhoton, name="stray"):
            async def finalize(self):
                pass
    """
}

AFFECTED_TESTS = [
    "tests/test_cli_lock_list.py::test_list_without_a_directory_lists_the_installed_photons",
    "tests/test_cli_run.py::test_entry_points_are_run_and_no_directory_waits_for_a_signal",
    "tests/test_entry_points.py::test_scan_finds_entry_points_without_importing_them",
    "tests/test_entry_points.py::test_suppress_errors_reports_and_returns_what_loaded",
]
"""Tests that count installed photons (each failed with a stray distribution installed)."""


def make_venv(root: Path) -> tuple[Path, Path]:
    """A venv that sees this environment's packages; its python and its own site-packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / ("Scripts" if os.name == "nt" else "bin") / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    Path(purelib, "_outer.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return python, Path(purelib)


def test_the_hidden_group_is_the_photon_group() -> None:
    assert PHOTON_GROUP == DEFAULT_GROUP


def test_a_photon_distribution_installed_in_the_environment_leaks_into_no_test(
    tmp_path: Path,
) -> None:
    python, purelib = make_venv(tmp_path / "venv")
    install_distribution(purelib, "stray-photons", {"stray": "stray_photon:Stray"}, STRAY)
    plain = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    listed = subprocess.run(
        [str(python), "-m", "luminal", "list", "--json"],
        capture_output=True,
        text=True,
        env=plain,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert '"name": "stray"' in listed.stdout, listed.stderr  # the user's photon is installed

    suite = subprocess.run(
        [str(python), "-m", "pytest", "-q", "--basetemp", str(tmp_path / "tmp"), *AFFECTED_TESTS],
        capture_output=True,
        text=True,
        env=plain,
        cwd=REPO_ROOT,
        timeout=300,
    )
    assert suite.returncode == 0, suite.stdout + suite.stderr
    assert f"{len(AFFECTED_TESTS)} passed" in suite.stdout
