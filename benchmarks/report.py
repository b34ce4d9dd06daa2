"""Result rows, their statistics, and the Markdown table written to ``RESULTS.md``."""

from __future__ import annotations

import datetime
import math
import os
import platform
import statistics
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

__all__ = ["Row", "Stats", "machine_lines", "render"]


@dataclass(frozen=True)
class Stats:
    """Median and 95th percentile (nearest rank) of a set of samples."""

    median: float
    p95: float
    samples: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        if not samples:
            raise ValueError("no samples to summarise")
        ordered = sorted(samples)
        rank = max(1, math.ceil(0.95 * len(ordered)))
        return cls(statistics.median(ordered), ordered[rank - 1], len(ordered))

    @classmethod
    def single(cls, value: float) -> Stats:
        return cls(value, value, 1)


@dataclass
class Row:
    """One line of the table: a Luminal figure beside its baseline.

    ``met`` is ``None`` when the row has no target (it is there for context).
    """

    section: str
    measure: str
    unit: str
    luminal: Stats | None
    baseline_name: str
    baseline: Stats | None
    target: str = ""
    met: bool | None = None
    notes: list[str] = field(default_factory=list)
    scale: tuple[str, int] | None = None
    """What this row measures at which photon count, for the scaling section and plot."""

    @property
    def ratio(self) -> float | None:
        if self.luminal is None or self.baseline is None or self.baseline.median <= 0:
            return None
        return self.luminal.median / self.baseline.median


def _format(value: float, unit: str) -> str:
    if unit == "ms":
        return f"{value * 1000:.3g} ms" if value < 0.1 else f"{value * 1000:.0f} ms"
    if unit == "µs":
        return f"{value * 1e6:.3g} µs" if value < 1e-3 else _format(value, "ms")
    if unit == "%":
        return f"{value:.3f} %"
    if unit == "KiB":
        return f"{value / 1024:.1f} KiB"
    return f"{value:g}"


def _cells(stats: Stats | None, unit: str) -> tuple[str, str]:
    if stats is None:
        return "-", "-"
    return _format(stats.median, unit), _format(stats.p95, unit)


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def machine_lines() -> list[str]:
    """Where and with what the figures were taken."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return [
        f"- Machine: `{platform.platform()}`, {platform.machine()}, "
        f"{os.cpu_count()} CPUs (`os.cpu_count()`)",
        f"- Python: {platform.python_implementation()} {platform.python_version()} "
        f"(`{sys.executable}`)",
        f"- pluggy {_package_version('pluggy')}, watchdog {_package_version('watchdog')}, "
        f"watchfiles {_package_version('watchfiles')}",
        "- Load average (1, 5, 15 min) at the end of the run: "
        + (", ".join(f"{value:.2f}" for value in load) if load else "unknown"),
        f"- Taken: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
    ]


def render(
    rows: Sequence[Row],
    mode: str,
    command: str,
    method_notes: Sequence[str],
    growth: Sequence[str] = (),
) -> str:
    """The whole ``RESULTS.md``: machine, table, ``growth`` (the lines on how cost grows with
    the photon count), and how each figure was taken."""
    lines = [
        "# Luminal benchmarks",
        "",
        f"Produced by `{command}` ({mode} run).",
        "",
        *machine_lines(),
        "",
        "Ratio is Luminal's median over the baseline's median. *p95* is the 95th percentile "
        "(nearest rank) of the samples; *n* is the number of samples per side.",
        "",
        "| # | Measure | Luminal median | Luminal p95 | Baseline | Baseline median "
        "| Baseline p95 | n | Ratio | Target | Met |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        luminal_median, luminal_p95 = _cells(row.luminal, row.unit)
        baseline_median, baseline_p95 = _cells(row.baseline, row.unit)
        ratio = row.ratio
        met = {None: "", True: "yes", False: "**no**"}[row.met]
        samples = "-" if row.luminal is None else str(row.luminal.samples)
        if (
            row.baseline is not None
            and row.luminal is not None
            and row.baseline.samples != row.luminal.samples
        ):
            samples += f" / {row.baseline.samples}"
        lines.append(
            f"| {row.section} | {row.measure} | {luminal_median} | {luminal_p95} "
            f"| {row.baseline_name} | {baseline_median} | {baseline_p95} | {samples} "
            f"| {'-' if ratio is None else f'{ratio:.2f}x'} | {row.target} | {met} |"
        )
    lines += growth
    lines += ["", "## How each figure is taken", ""]
    lines += [f"- {note}" for note in method_notes]
    row_notes = [(row, note) for row in rows for note in row.notes]
    if row_notes:
        lines += ["", "## Notes on rows", ""]
        lines += [f"- {row.section} {row.measure}: {note}" for row, note in row_notes]
    return "\n".join(lines) + "\n"
