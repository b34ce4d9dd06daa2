"""Running one measurement in a fresh interpreter and reading its result back as JSON.

The parent calls :func:`run_child`; the child is ``python -m benchmarks.worker TASK ARGS``,
which imports the task's module only then, so nothing is imported before the task says so.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

__all__ = ["REPO_ROOT", "run_child"]

REPO_ROOT = Path(__file__).resolve().parent.parent

TASKS = {
    "cold_load_luminal": "benchmarks.cold_load:child_luminal",
    "cold_load_floor": "benchmarks.cold_load:child_floor",
    "cold_load_pipeline": "benchmarks.cold_load:child_pipeline",
    "import_time": "benchmarks.import_time:child",
    "lifecycle": "benchmarks.lifecycle:child",
    "reload_memory_luminal": "benchmarks.reload_memory:child_luminal",
    "reload_memory_raw": "benchmarks.reload_memory:child_raw",
    "reload_memory_raw_restart": "benchmarks.reload_memory:child_raw_restart",
    "watch_latency": "benchmarks.watch_latency:child",
    "idle_cpu": "benchmarks.idle_cpu:child",
    "entry_points": "benchmarks.entry_points:child",
    "dependents": "benchmarks.dependents:child",
    "pip_live": "benchmarks.pip_live:child",
}


class ChildError(RuntimeError):
    """A measurement's interpreter exited with an error."""


def run_child(
    task: str, arguments: dict[str, Any], *, write_bytecode: bool = False, timeout: float = 600
) -> dict[str, Any]:
    """Run ``task`` in a fresh interpreter and return the JSON object it printed last.

    ``write_bytecode`` off sets ``PYTHONDONTWRITEBYTECODE``, so that no ``__pycache__`` appears
    next to the generated photons.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), *filter(None, [env.get("PYTHONPATH")])])
    if write_bytecode:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.worker", task, json.dumps(arguments)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        raise ChildError(
            f"benchmark task {task} exited with {completed.returncode}:\n{completed.stderr}"
        )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str]) -> int:
    task, raw_arguments = argv
    module_name, _, function_name = TASKS[task].partition(":")
    function = getattr(importlib.import_module(module_name), function_name)
    result = function(json.loads(raw_arguments))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
