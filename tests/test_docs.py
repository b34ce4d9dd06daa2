"""The examples users copy first: the README's photon and host, and the example host app."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.isolation import REPO_ROOT
from tests.test_cli import subprocess_env

CODE_BLOCK = re.compile(r"^```(?:python|toml)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
FILE_HEADER = re.compile(r"#\s*(\S+\.(?:py|toml))\b")


def readme_files() -> dict[str, str]:
    """The README's Python and TOML blocks that start with a ``# path`` comment, by path."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    files: dict[str, str] = {}
    for block in CODE_BLOCK.findall(readme):
        header = FILE_HEADER.match(block.splitlines()[0])
        if header is not None:
            files[header.group(1)] = block
    return files


def write_readme_project(directory: Path) -> dict[str, str]:
    """Write the README's photon, host, tests and ``pyproject.toml`` as a new project would."""
    files = readme_files()
    for relative, source in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
    return files


def test_the_readme_photon_and_host_run(tmp_path: Path) -> None:
    files = write_readme_project(tmp_path)
    assert {"plugins/greeter.py", "host.py"} <= set(files)
    completed = subprocess.run(
        [sys.executable, "host.py"],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == ["['Hello, world!']", "['Hello, world!']"]


def test_the_example_host_runs_over_plugins_example() -> None:
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "examples" / "host_app.py"), "plugins_example"],
        cwd=REPO_ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "Hello, world! (greeting #1)" in completed.stdout
    assert "left running: {}" in completed.stdout


PYTEST_TARGET = "tests/test_greeter.py"


def test_the_readme_photon_test_passes_in_a_new_project_in_strict_mode(tmp_path: Path) -> None:
    """The README's testing configuration is complete: pytest-asyncio's default strict mode,
    no ``asyncio_mode = "auto"``, and not one warning (``-W error``)."""
    files = write_readme_project(tmp_path)
    configuration = files["pyproject.toml"]
    assert "asyncio_mode" not in configuration
    guide = (REPO_ROOT / "docs" / "guide" / "testing.rst").read_text(encoding="utf-8")
    assert all(line.strip() in guide for line in configuration.splitlines()[1:])
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "luminal.testing", "-W", "error", PYTEST_TARGET],
        cwd=tmp_path,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "1 passed" in completed.stdout
    assert re.search(r"asyncio: mode=(Mode\.)?strict", completed.stdout, re.IGNORECASE)
