"""The one benchmark command: run every measurement and write the Markdown table.

``python -m benchmarks`` is the full run and writes ``benchmarks/RESULTS.md`` and, next to it,
``scaling.png`` (cost against the photon count); ``python -m benchmarks --smoke`` is CI's small
run (small N, few samples, targets shown but not enforced) and prints the table, writing it and
the plot only where ``--output`` says.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from benchmarks.config import FULL, SMOKE, Config
from benchmarks.report import Row, render
from benchmarks.scaling import growth_lines, write_plot

__all__ = ["SECTIONS", "expected_measures", "main"]

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
PLOT = "scaling.png"
"""The plot of cost against the photon count, written next to the table."""

SECTIONS = {
    "1": "benchmarks.cold_load",
    "2": "benchmarks.lifecycle",
    "3": "benchmarks.watch_latency",
    "4": "benchmarks.idle_cpu",
    "5": "benchmarks.reload_memory",
    "6": "benchmarks.entry_points",
    "7": "benchmarks.dependents",
    "8": "benchmarks.pip_live",
}


class _Section(Protocol):
    METHOD: str
    measure: Callable[[Config, Path], list[Row]]
    expected: Callable[[Config], list[str]]


def _section(number: str) -> _Section:
    module: _Section = importlib.import_module(SECTIONS[number])
    return module


def expected_measures(config: Config, sections: Sequence[str] = tuple(SECTIONS)) -> list[str]:
    """The *Measure* cell of every row a run of ``sections`` writes."""
    return [measure for number in sections for measure in _section(number).expected(config)]


def _write_luminal_bytecode() -> None:
    """Bring Luminal's own ``__pycache__`` up to date: every child runs with
    ``PYTHONDONTWRITEBYTECODE``, so after an edit each would compile the changed modules from
    source (and the import rows would time that) instead of reading their bytecode."""
    import compileall

    import luminal

    compileall.compile_dir(Path(luminal.__file__).parent, quiet=1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--smoke", action="store_true", help="small sizes and few samples (CI); no targets"
    )
    parser.add_argument(
        "--output",
        type=Path,
        help=f"where to write the table (default: {RESULTS} for a full run, nowhere for --smoke)",
    )
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help="comma-separated benchmark numbers to run (default: all)",
    )
    arguments = parser.parse_args(argv)
    config = SMOKE if arguments.smoke else FULL
    sections = [number.strip() for number in arguments.only.split(",") if number.strip()]
    unknown = [number for number in sections if number not in SECTIONS]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {list(SECTIONS)}")
    output = arguments.output or (None if arguments.smoke else RESULTS)

    _write_luminal_bytecode()
    rows: list[Row] = []
    methods: list[str] = []
    with tempfile.TemporaryDirectory(prefix="luminal-bench-") as temporary:
        workdir = Path(temporary)
        # Luminal's default code cache (in every child) starts empty and stays out of $HOME.
        os.environ["XDG_CACHE_HOME"] = str(workdir / "xdg_cache")
        for number in sections:
            section = _section(number)
            started = time.perf_counter()
            section_dir = workdir / f"section_{number}"
            section_dir.mkdir()
            rows += section.measure(config, section_dir)
            methods.append(section.METHOD)
            print(
                f"benchmark {number} done in {time.perf_counter() - started:.1f} s",
                file=sys.stderr,
            )
    command = "python -m benchmarks" + (" --smoke" if arguments.smoke else "")
    if arguments.only != parser.get_default("only"):
        command += f" --only {arguments.only}"
    plot = None
    if output is not None and write_plot(rows, output.parent / PLOT):
        plot = PLOT
        print(f"wrote {output.parent / PLOT}", file=sys.stderr)
    table = render(rows, config.name, command, methods, growth_lines(rows, plot))
    sys.stdout.write(table)
    if output is not None:
        output.write_text(table)
        print(f"wrote {output}", file=sys.stderr)
    return 0
