"""What one photon's hook implementations did in the calls made through ``acall``/``call``."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

__all__ = ["HookOutcome", "HookRecord", "HookStats"]


class HookOutcome(enum.Enum):
    """How one implementation of one call ended."""

    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class HookStats:
    """One hook of one photon: how often it was called, failed and timed out, and how long it
    took (seconds; an ``async`` implementation's time includes its awaiting)."""

    calls: int = 0
    errors: int = 0
    timeouts: int = 0
    total_duration: float = 0.0
    max_duration: float = 0.0

    def add(self, outcome: HookOutcome, duration: float) -> HookStats:
        """These statistics with one more call."""
        return replace(
            self,
            calls=self.calls + 1,
            errors=self.errors + (outcome is HookOutcome.ERROR),
            timeouts=self.timeouts + (outcome is HookOutcome.TIMEOUT),
            total_duration=self.total_duration + duration,
            max_duration=max(self.max_duration, duration),
        )

    def merged(self, other: HookStats) -> HookStats:
        """The statistics of both (of two versions of one photon, say)."""
        return HookStats(
            self.calls + other.calls,
            self.errors + other.errors,
            self.timeouts + other.timeouts,
            self.total_duration + other.total_duration,
            max(self.max_duration, other.max_duration),
        )


class HookRecord:
    """A handler's hook statistics and its run of consecutive failed isolated calls (what the
    loader's circuit breaker counts)."""

    def __init__(self) -> None:
        # Plain lists, updated in place: a hook call records one entry per photon.
        self._counts: dict[str, list[float]] = {}
        self.consecutive_failures = 0

    @property
    def stats(self) -> Mapping[str, HookStats]:
        """Hook name → :class:`HookStats`, a read-only snapshot."""
        return MappingProxyType(
            {
                name: HookStats(int(calls), int(errors), int(timeouts), total, longest)
                for name, (calls, errors, timeouts, total, longest) in self._counts.items()
            }
        )

    def add(self, hook_name: str, outcome: HookOutcome, duration: float) -> None:
        counts = self._counts.get(hook_name)
        if counts is None:
            counts = self._counts[hook_name] = [0, 0, 0, 0.0, 0.0]
        counts[0] += 1
        if outcome is HookOutcome.ERROR:
            counts[1] += 1
        elif outcome is HookOutcome.TIMEOUT:
            counts[2] += 1
        counts[3] += duration
        if duration > counts[4]:
            counts[4] = duration
