"""``luminal run --stats``: the photons' hook statistics over the whole run, as a table."""

from __future__ import annotations

from luminal.hookspecs import hookimpl
from luminal.managers.handler import Handler
from luminal.managers.hookstats import HookStats

__all__ = ["HookStatsCollector", "format_stats"]


class HookStatsCollector:
    """A plugin that adds up each photon's :attr:`Handler.hook_stats` as its versions are
    replaced by reloads or unloaded, so the run's totals survive every version."""

    def __init__(self) -> None:
        self.totals: dict[tuple[str, str], HookStats] = {}

    def add(self, handler: Handler) -> None:
        for hook_name, stats in handler.hook_stats.items():
            key = (handler.name, hook_name)
            self.totals[key] = self.totals.get(key, HookStats()).merged(stats)

    @hookimpl
    def luminal_photon_reloaded(self, old: Handler) -> None:
        self.add(old)

    @hookimpl
    def luminal_photon_unloaded(self, handler: Handler) -> None:
        self.add(handler)


def format_stats(totals: dict[tuple[str, str], HookStats]) -> str:
    """One row per photon and hook, sorted, durations in milliseconds."""
    if not totals:
        return "no hook calls were made through the loader"
    header = ("PHOTON", "HOOK", "CALLS", "ERRORS", "TIMEOUTS", "TOTAL MS", "MAX MS")
    rows = [header]
    for (photon_name, hook_name), stats in sorted(totals.items()):
        rows.append(
            (
                photon_name,
                hook_name,
                str(stats.calls),
                str(stats.errors),
                str(stats.timeouts),
                f"{stats.total_duration * 1000:.3f}",
                f"{stats.max_duration * 1000:.3f}",
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    return "\n".join(
        "  ".join(
            cell.ljust(width) if column < 2 else cell.rjust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    )
