"""How cost grows with the photon count: the growth table in ``RESULTS.md`` and the plot
written next to it (``scaling.png``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.report import Row

__all__ = ["PLOTTED", "Growth", "growth_lines", "growths", "write_plot"]

PLOTTED = ("Cold load", "Save-to-live")
"""The series drawn against N in the plot."""

LINEAR_PER_PHOTON = (0.8, 1.25)
"""Bounds of the per-photon cost at the larger N over that at the smaller N within which a
growth is called linear."""


@dataclass(frozen=True)
class Growth:
    """One series' medians at its two largest photon counts, and what they say."""

    series: str
    smaller: int
    larger: int
    luminal: tuple[float, float]
    baseline: tuple[float, float] | None
    unit: str

    @property
    def per_photon(self) -> float:
        """Luminal's cost per photon at the larger count over that at the smaller."""
        return (self.luminal[1] / self.larger) / (self.luminal[0] / self.smaller)

    @property
    def exponent(self) -> float:
        """``k`` in cost ∝ Nᵏ between the two counts (1 is linear, 0 is flat)."""
        return _exponent(self.luminal, self.smaller, self.larger)

    @property
    def baseline_exponent(self) -> float | None:
        if self.baseline is None:
            return None
        return _exponent(self.baseline, self.smaller, self.larger)


def _exponent(costs: tuple[float, float], smaller: int, larger: int) -> float:
    if costs[0] <= 0 or costs[1] <= 0:
        return math.nan
    return math.log(costs[1] / costs[0]) / math.log(larger / smaller)


def verdict(exponent: float, per_photon: float) -> str:
    """In words: linear only if the per-photon cost stays within :data:`LINEAR_PER_PHOTON`."""
    low, high = LINEAR_PER_PHOTON
    if math.isnan(exponent):
        return "not measurable (a zero median)"
    if low <= per_photon <= high:
        return "linear"
    if exponent < 0.1:
        return "flat: does not grow with N"
    if per_photon < low:
        return "sub-linear"
    return "faster than linear"


def _series(rows: Sequence[Row]) -> dict[str, dict[int, Row]]:
    series: dict[str, dict[int, Row]] = {}
    for row in rows:
        if row.scale is not None and row.luminal is not None:
            name, count = row.scale
            series.setdefault(name, {})[count] = row
    return series


def growths(rows: Sequence[Row]) -> list[Growth]:
    """Every series measured at two counts or more, compared at its two largest."""
    found = []
    for name, by_count in _series(rows).items():
        if len(by_count) < 2:
            continue
        smaller, larger = sorted(by_count)[-2:]
        low, high = by_count[smaller], by_count[larger]
        assert low.luminal is not None
        assert high.luminal is not None
        baseline = None
        if low.baseline is not None and high.baseline is not None:
            baseline = (low.baseline.median, high.baseline.median)
        found.append(
            Growth(
                name,
                smaller,
                larger,
                (low.luminal.median, high.luminal.median),
                baseline,
                low.unit,
            )
        )
    return found


def growth_lines(rows: Sequence[Row], plot: str | None) -> list[str]:
    """The Markdown section on growth; ``plot`` is the image's path relative to the table."""
    found = growths(rows)
    if not found:
        return []
    lines = ["", "## How cost grows with N", ""]
    if plot is not None:
        lines += [f"![Cost against the photon count N, log-log]({plot})", ""]
    lines += [
        "Each series is compared at its two largest photon counts: *per photon* is Luminal's "
        "median per photon at the larger count over that at the smaller one, and *k* fits "
        "cost ∝ Nᵏ through the two medians (1 is linear, 0 is flat). A series is called "
        f"linear only if its per-photon cost stays within {LINEAR_PER_PHOTON[0]:g}x to "
        f"{LINEAR_PER_PHOTON[1]:g}x.",
        "",
        "| Series | N | Luminal medians | Per photon | k | Luminal grows | Baseline k "
        "| Baseline grows |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for growth in found:
        baseline_exponent = growth.baseline_exponent
        if growth.baseline is None or baseline_exponent is None:
            baseline_cells = "- | -"
        else:
            baseline_per_photon = (growth.baseline[1] / growth.larger) / (
                growth.baseline[0] / growth.smaller
            )
            baseline_cells = (
                f"{baseline_exponent:.2f} | {verdict(baseline_exponent, baseline_per_photon)}"
            )
        lines.append(
            f"| {growth.series} | {growth.smaller} → {growth.larger} "
            f"| {_cost(growth.luminal[0], growth.unit)} → {_cost(growth.luminal[1], growth.unit)} "
            f"| {growth.per_photon:.2f}x | {growth.exponent:.2f} "
            f"| {verdict(growth.exponent, growth.per_photon)} | {baseline_cells} |"
        )
    return lines


def _cost(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.3f} %"
    return f"{value * 1000:.3g} ms"


def write_plot(rows: Sequence[Row], path: Path) -> bool:
    """Draw Luminal's and the baseline's medians against N for :data:`PLOTTED`; ``False`` when
    no such series was measured."""
    series = {name: rows for name, rows in _series(rows).items() if name in PLOTTED}
    if not series:
        return False
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot, ticker

    figure, axes = pyplot.subplots(1, len(series), figsize=(5.5 * len(series), 4.5), squeeze=False)
    for axis, (name, by_count) in zip(axes[0], series.items(), strict=True):
        counts = sorted(by_count)
        luminal = [_median(by_count[count], luminal=True) for count in counts]
        axis.plot(counts, luminal, "o-", label="Luminal")
        if all(by_count[count].baseline is not None for count in counts):
            baseline = [_median(by_count[count], luminal=False) for count in counts]
            label = by_count[counts[0]].baseline_name.replace("`", "")
            axis.plot(counts, baseline, "s--", label=label)
        anchor = counts[-2] if len(counts) > 1 else counts[0]
        linear = [luminal[counts.index(anchor)] * count / anchor for count in counts]
        axis.plot(counts, linear, ":", color="grey", label=f"∝ N through Luminal at N = {anchor}")
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xticks(counts, [str(count) for count in counts])
        axis.xaxis.set_minor_formatter(ticker.NullFormatter())
        axis.yaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.yaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
        axis.yaxis.set_minor_formatter(ticker.NullFormatter())
        axis.set_xlabel("photons (N)")
        axis.set_ylabel("median, ms")
        axis.set_title(name)
        axis.grid(True, which="both", alpha=0.3)
        axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    pyplot.close(figure)
    return True


def _median(row: Row, *, luminal: bool) -> float:
    stats = row.luminal if luminal else row.baseline
    assert stats is not None
    return stats.median * 1000
