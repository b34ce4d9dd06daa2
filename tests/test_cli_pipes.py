"""``luminal list --json | head``: a reader that closes the pipe early ends the command
quietly, with the exit code of a tool killed by SIGPIPE."""

from __future__ import annotations

import subprocess
import sys

from luminal import cli
from tests.isolation import REPO_ROOT, child_env


def buffered_env() -> dict[str, str]:
    """The child's environment with stdout buffered, as it is outside this machine's shell
    (tox drops ``PYTHONUNBUFFERED``), so the early close meets the final flush."""
    env = child_env()
    env.pop("PYTHONUNBUFFERED", None)
    return env


def test_list_into_a_closed_pipe_exits_quietly() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "luminal", "list", "--json", str(REPO_ROOT / "plugins_example")],
        cwd=REPO_ROOT,
        env=buffered_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    process.stdout.close()  # as ``head`` does once it has read enough; here before any write
    _, err = process.communicate(timeout=60)
    assert process.returncode == cli.EXIT_BROKEN_PIPE
    assert err == ""


def test_list_into_head_prints_the_first_lines_and_no_error() -> None:
    command = f"{sys.executable} -m luminal list --json {REPO_ROOT / 'plugins_example'} | head -n 1"
    completed = subprocess.run(
        ["sh", "-c", command],
        cwd=REPO_ROOT,
        env=buffered_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (completed.returncode, completed.stdout, completed.stderr) == (0, "[\n", "")
