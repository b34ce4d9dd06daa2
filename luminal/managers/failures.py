"""What failed while watching, so that a ``touch`` retries nothing and the right change does.

A source that failed to load is remembered with the checksum that failed (not when the trust
policy refused its permissions or owner, which a ``chmod`` or ``chown`` fixes) and, when it
collided on a photon name, that name; a loaded source whose new content failed to reload is
remembered with the name it collided on, if that was why. Either is worth retrying: a collision
once its name is free, any other failure once a helper changed (it may have imported one that
was away).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from luminal.errors import LuminalError, PhotonNameConflictError, PhotonTrustError
from luminal.managers.handler import Handler

__all__ = ["Failures", "LoadFailure", "ReloadFailure"]


class LoadFailure(NamedTuple):
    """A failed load: its checksum, the photon name it collided on (if it did), and how many
    helper changes the watch had applied when it failed."""

    checksum: str | None
    conflict: str | None
    helper_changes: int


class ReloadFailure(NamedTuple):
    """A refused reload: the sources reloaded in that one step, the photon name it collided on
    (if it did), and how many helper changes the watch had applied when it failed."""

    group: frozenset[Path]
    conflict: str | None
    helper_changes: int


class Failures:
    """The failed loads and refused reloads of the watched trees, by path."""

    def __init__(self) -> None:
        self.loads: dict[Path, LoadFailure] = {}
        self.reloads: dict[Path, ReloadFailure] = {}
        self.helper_changes = 0
        """How many helper changes (a helper that changed, came or went) the watch applied."""

    def helper_changed(self) -> None:
        """A helper changed, came or went: what failed before may go through now."""
        self.helper_changes += 1

    def load_failed(self, path: Path, checksum: str | None, error: LuminalError) -> None:
        if isinstance(error, PhotonTrustError) and error.rule == "writable":
            checksum = None  # a chmod or chown fixes it, not a save: any change retries it
        self.loads[path] = LoadFailure(checksum, _conflicting_name(error), self.helper_changes)

    def reload_failed(self, paths: Iterable[Path], error: LuminalError) -> None:
        cause = error.__cause__
        conflict = _conflicting_name(cause) if isinstance(cause, LuminalError) else None
        group = frozenset(paths)
        self.reloads.update(
            dict.fromkeys(group, ReloadFailure(group, conflict, self.helper_changes))
        )

    def has_failed(self, path: Path, checksum: str | None) -> bool:
        """Whether loading ``path`` with this content failed already."""
        failure = self.loads.get(path)
        return failure is not None and failure.checksum == checksum

    def wanted_names(self) -> set[str]:
        """The photon names that failed loads or reloads collided on."""
        failures: list[LoadFailure | ReloadFailure] = [*self.loads.values(), *self.reloads.values()]
        return {failure.conflict for failure in failures if failure.conflict is not None}

    def loads_to_retry(self, taken: Collection[str]) -> list[Path]:
        """Failed loads a change may have fixed: without a collision once a helper changed
        since, with one once its name is no longer ``taken``."""
        return sorted(
            path for path, failure in self.loads.items() if self._may_pass(failure, taken)
        )

    def reloads_to_retry(self, taken: Collection[str]) -> list[set[Path]]:
        """Refused reloads a change may have fixed (as for loads: a helper that was missing or
        broken changed since, or the name collided on is free), each group that was to go
        live in one step together again (the users of a changed helper)."""
        groups: list[set[Path]] = []
        for path, failure in sorted(self.reloads.items()):
            if self._may_pass(failure, taken) and not any(path in group for group in groups):
                groups.append({path} | {other for other in failure.group if other in self.reloads})
        return groups

    def _may_pass(self, failure: LoadFailure | ReloadFailure, taken: Collection[str]) -> bool:
        if failure.conflict is None:
            return failure.helper_changes < self.helper_changes
        return failure.conflict not in taken

    def tied_by_names(
        self, refused: Sequence[set[Path]], photons: Mapping[str, Handler]
    ) -> list[set[Path]]:
        """The groups of ``refused`` reloads whose new names another of them runs now (a branch
        switch that swaps two photons' names): reloaded together, they go through."""
        group_of = {path: number for number, group in enumerate(refused) for path in group}
        tied: set[int] = set()
        for path, number in group_of.items():
            failure = self.reloads.get(path)
            name = failure.conflict if failure is not None else None
            holder = photons.get(name) if name is not None else None
            other = group_of.get(Path(holder.filepath)) if holder is not None else None
            if other is not None and other != number:
                tied |= {number, other}
        return [refused[number] for number in sorted(tied)]

    def forget_vanished(self, paths: Iterable[Path]) -> None:
        """Forget the failed loads at or below ``paths`` that are gone from disk."""
        paths = list(paths)
        for failed in list(self.loads):
            below = any(failed == path or failed.is_relative_to(path) for path in paths)
            if below and not os.path.lexists(failed):
                self.forget(failed)

    def reloaded(self, paths: Iterable[Path]) -> None:
        """These sources went live: none of them is a refused reload any more."""
        for path in paths:
            self.reloads.pop(path, None)

    def forget(self, path: Path) -> None:
        self.loads.pop(path, None)
        self.reloads.pop(path, None)


def _conflicting_name(error: LuminalError) -> str | None:
    return error.photon_name if isinstance(error, PhotonNameConflictError) else None
