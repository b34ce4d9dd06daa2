"""The examples users copy first: the README's photon and host, and the example host app."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.test_cli import REPO_ROOT, subprocess_env

CODE_BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)
FILE_HEADER = re.compile(r"#\s*(\S+\.py)\s*$")


def readme_files() -> dict[str, str]:
    """The README's Python blocks that start with a ``# path.py`` comment, by path."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    files: dict[str, str] = {}
    for block in CODE_BLOCK.findall(readme):
        header = FILE_HEADER.match(block.splitlines()[0])
        if header is not None:
            files[header.group(1)] = block
    return files


def test_the_readme_photon_and_host_run(tmp_path: Path) -> None:
    files = readme_files()
    assert {"plugins/greeter.py", "host.py"} <= set(files)
    for relative, source in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
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
