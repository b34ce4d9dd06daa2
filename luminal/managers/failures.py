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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import NamedTuple

from luminal.errors import LuminalError, PhotonNameConflictError, PhotonTrustError
from luminal.managers.handler import Handler

__all__ = ["Failures", "LoadFailure"]


class LoadFailure(NamedTuple):
    """A failed load: its checksum, and the photon name it collided on (if it did)."""

    checksum: str | None
    conflict: str | None


class Failures:
    """The failed loads and refused reloads of the watched trees, by path."""

    def __init__(self) -> None:
        self.loads: dict[Path, LoadFailure] = {}
        self.reloads: dict[Path, str | None] = {}

    def load_failed(self, path: Path, checksum: str | None, error: LuminalError) -> None:
        if isinstance(error, PhotonTrustError) and error.rule == "writable":
            checksum = None  # a chmod or chown fixes it, not a save: any change retries it
        self.loads[path] = LoadFailure(checksum, _conflicting_name(error))

    def reload_failed(self, paths: Iterable[Path], error: LuminalError) -> None:
        cause = error.__cause__
        conflict = _conflicting_name(cause) if isinstance(cause, LuminalError) else None
        self.reloads.update(dict.fromkeys(paths, conflict))

    def has_failed(self, path: Path, checksum: str | None) -> bool:
        """Whether loading ``path`` with this content failed already."""
        failure = self.loads.get(path)
        return failure is not None and failure.checksum == checksum

    def wanted_names(self) -> set[str]:
        """The photon names that failed loads or reloads collided on."""
        names = [failure.conflict for failure in self.loads.values()]
        names += self.reloads.values()
        return {name for name in names if name is not None}

    def loads_to_retry(self, helpers_changed: bool, taken: Iterable[str]) -> Iterator[Path]:
        """Failed loads a change may have fixed: without a collision after a helper change, with
        one when its name is no longer ``taken``."""
        names = set(taken)
        for path, failure in sorted(self.loads.items()):
            if failure.conflict is None:
                if helpers_changed:
                    yield path
            elif failure.conflict not in names:
                yield path

    def reloads_to_retry(self, helpers_changed: bool, taken: Iterable[str]) -> list[Path]:
        """Refused reloads a change may have fixed: without a collision after a helper change
        (the helper it imports was missing or broken), with one when its name is no longer
        ``taken``."""
        names = set(taken)
        return sorted(
            path
            for path, name in self.reloads.items()
            if (helpers_changed if name is None else name not in names)
        )

    def tied_by_names(
        self, refused: Sequence[set[Path]], photons: Mapping[str, Handler]
    ) -> list[set[Path]]:
        """The groups of ``refused`` reloads whose new names another of them runs now (a branch
        switch that swaps two photons' names): reloaded together, they go through."""
        group_of = {path: number for number, group in enumerate(refused) for path in group}
        tied: set[int] = set()
        for path, number in group_of.items():
            name = self.reloads.get(path)
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

    def forget(self, path: Path) -> None:
        self.loads.pop(path, None)
        self.reloads.pop(path, None)


def _conflicting_name(error: LuminalError) -> str | None:
    return error.photon_name if isinstance(error, PhotonNameConflictError) else None
